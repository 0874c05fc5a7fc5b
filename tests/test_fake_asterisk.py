"""FakeAsterisk speaks AMI the way the Asterisk 22.10.1 captures show.

Driven over real loopback sockets with tapievent's own codec and session,
and compared with the captures byte shapes (header names, messages, the
TAPIEVENT texts of the ring-group call) so the fake cannot drift from the
real server without a test failing.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import socket
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from docs_examples import run_python_blocks

from tapievent.ami_codec import (
    NEED_DATA,
    AMIDecoder,
    Banner,
    Message,
    TruncatedFrame,
    encode_action,
)
from tapievent.session import AMISession, AuthenticationFailed, LoginSucceeded
from tapievent.testing import FakeAsterisk
from tapievent.testing._pbx import PBX, Call, Emit, InboundCall, OriginateSettings, Script, Wait

CAPTURES = Path(__file__).parent / "data" / "asterisk-22.10.1"
T = TypeVar("T")
TIMEOUT = 5.0


def run(coro_fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a test coroutine with an overall deadline so no test can hang."""

    async def bounded() -> T:
        return await asyncio.wait_for(coro_fn(), 20.0)

    return asyncio.run(bounded())


def capture_frames(name: str) -> list[Banner | Message]:
    decoder = AMIDecoder()
    decoder.receive_data((CAPTURES / name).read_bytes())
    decoder.receive_eof()
    frames: list[Banner | Message] = []
    while True:
        frame = decoder.next_frame()
        if frame is NEED_DATA:
            return frames
        frames.append(frame)


def names(message: Message) -> list[str]:
    return [n for n, _ in message.headers]


class RawClient:
    """A minimal AMI client on a socket: encode actions, decode frames."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.decoder = AMIDecoder()
        self.eof = False

    @classmethod
    async def open(cls, fake: FakeAsterisk) -> RawClient:
        reader, writer = await asyncio.open_connection(fake.host, fake.port)
        return cls(reader, writer)

    def send(self, action: str, *headers: tuple[str, str], action_id: str | None = None) -> None:
        self.writer.write(encode_action(action, headers, action_id=action_id))

    async def frame(self, timeout: float = TIMEOUT) -> Banner | Message | None:
        """The next frame, or None at end of stream."""
        while True:
            frame = self.decoder.next_frame()
            if frame is not NEED_DATA:
                return frame
            if self.eof:
                return None
            data = await asyncio.wait_for(self.reader.read(65536), timeout)
            if data:
                self.decoder.receive_data(data)
            else:
                self.eof = True
                self.decoder.receive_eof()

    async def message(self, timeout: float = TIMEOUT) -> Message:
        frame = await self.frame(timeout)
        assert isinstance(frame, Message), frame
        return frame

    async def until(self, predicate: Callable[[Message], bool]) -> list[Message]:
        """Messages up to and including the first matching ``predicate``."""
        seen: list[Message] = []
        while True:
            msg = await self.message()
            seen.append(msg)
            if predicate(msg):
                return seen

    async def login(self) -> None:
        assert isinstance(await self.frame(), Banner)
        self.send("Login", ("Username", "tapi"), ("Secret", "tapisecret"), action_id="login")
        reply = await self.message()
        assert reply.get("Message") == "Authentication accepted"
        booted = await self.message()
        assert booted.event == "FullyBooted"

    def close(self) -> None:
        self.writer.close()


def is_event(name: str) -> Callable[[Message], bool]:
    return lambda m: m.event == name


def tapi_texts(messages: list[Message]) -> list[str]:
    return [m.get("TAPIEVENT") or "" for m in messages if m.event == "UserEvent"]


def test_plain_login_ping_logoff_have_the_capture_shapes() -> None:
    real = [f for f in capture_frames("01-login-plain.ami")]
    real_banner, real_login, real_booted, _auth, real_ping, real_bye = real
    assert isinstance(real_banner, Banner)
    assert isinstance(real_login, Message) and isinstance(real_ping, Message)
    assert isinstance(real_booted, Message) and isinstance(real_bye, Message)

    async def scenario() -> None:
        async with FakeAsterisk() as fake:
            client = await RawClient.open(fake)
            banner = await client.frame()
            assert banner == real_banner
            client.send("Login", ("Username", "tapi"), ("Secret", "tapisecret"), action_id="login")
            login = await client.message()
            assert login == real_login
            booted = await client.message()
            assert names(booted) == names(real_booted)
            client.send("Ping", action_id="ping-1")
            pong = await client.message()
            assert names(pong) == names(real_ping)
            assert re.fullmatch(r"\d+\.\d{6}", pong.get("Timestamp") or "")
            client.send("Logoff", action_id="logoff-1")
            assert await client.message() == real_bye
            assert await client.frame() is None  # the server closed
            assert fake.logins == 1
            client.close()

    run(scenario)


def test_md5_login_through_the_session() -> None:
    async def scenario() -> None:
        async with FakeAsterisk() as fake:
            client = await RawClient.open(fake)
            session = AMISession("tapi", "tapisecret", auth="md5")
            session.login()
            client.writer.write(session.data_to_send())
            results: list[object] = []
            while not any(isinstance(r, (LoginSucceeded, AuthenticationFailed)) for r in results):
                data = await asyncio.wait_for(client.reader.read(65536), TIMEOUT)
                session.receive_data(data)
                while (ev := session.next_event()) is not NEED_DATA:
                    results.append(ev)
                client.writer.write(session.data_to_send())
            assert any(isinstance(r, LoginSucceeded) for r in results)
            challenge = fake.actions[0]
            login = fake.actions[1]
            assert challenge.get("Action") == "Challenge" and challenge.get("AuthType") == "MD5"
            assert login.get("Secret") is None  # MD5: the secret never crossed the wire
            client.close()

    run(scenario)


@pytest.mark.parametrize(
    ("headers", "capture"),
    [
        ((("Username", "tapi"), ("Secret", "wrongsecret")), "03a-login-failed-secret.ami"),
        ((("Username", "nobody"), ("Secret", "tapisecret")), "03b-login-failed-nouser.ami"),
        (
            (("AuthType", "MD5"), ("Username", "tapi"), ("Key", "0" * 32)),
            "03c-login-failed-md5key.ami",
        ),
    ],
)
def test_refused_login_is_answered_late_then_closed(
    headers: tuple[tuple[str, str], ...], capture: str
) -> None:
    real_failure = capture_frames(capture)[-1]
    assert isinstance(real_failure, Message)

    async def scenario() -> None:
        async with FakeAsterisk(auth_failure_delay=0.2) as fake:
            client = await RawClient.open(fake)
            await client.frame()
            if headers[0] == ("AuthType", "MD5"):
                client.send("Challenge", ("AuthType", "MD5"), action_id="chal")
                assert (await client.message()).get("Challenge")
            loop = asyncio.get_running_loop()
            sent = loop.time()
            client.send("Login", *headers, action_id=real_failure.action_id)
            reply = await client.message()
            assert loop.time() - sent >= 0.2
            assert reply == real_failure
            assert await client.frame() is None
            assert fake.logins == 0
            client.close()

    run(scenario)


def test_actions_before_login_and_unknown_actions_are_refused_like_asterisk() -> None:
    denied = capture_frames("03a-login-failed-secret.ami")[1]
    unknown = next(
        f
        for f in capture_frames("04-misc-actions.ami")
        if isinstance(f, Message) and f.action_id == "unk-1"
    )

    async def scenario() -> None:
        async with FakeAsterisk() as fake:
            client = await RawClient.open(fake)
            await client.frame()
            client.send("Ping", action_id="ping-before-login")
            assert await client.message() == denied
            client.send("Login", ("Username", "tapi"), ("Secret", "tapisecret"), action_id="l")
            await client.until(is_event("FullyBooted"))
            client.send("FooBarUnknown", action_id="unk-1")
            assert await client.message() == unknown
            client.close()

    run(scenario)


def test_coreshowchannels_is_an_event_list_naming_live_channels() -> None:
    real = [
        f
        for f in capture_frames("04-misc-actions.ami")
        if isinstance(f, Message) and f.action_id == "csc-1"
    ]

    async def scenario() -> None:
        async with FakeAsterisk() as fake:
            client = await RawClient.open(fake)
            await client.login()
            client.send("CoreShowChannels", action_id="csc-1")
            empty = await client.until(is_event("CoreShowChannelsComplete"))
            assert empty == real
            call = await fake.inbound_call(hold=True)
            await client.until(lambda m: "CONNECTED" in (m.get("TAPIEVENT") or ""))
            client.send("CoreShowChannels", action_id="csc-2")
            listing = await client.until(is_event("CoreShowChannelsComplete"))
            items = [m for m in listing if m.event == "CoreShowChannel"]
            assert call.unique_id in {m.get("Uniqueid") for m in items}
            assert listing[-1].get("ListItems") == str(len(items))
            await fake.hangup_call(call)
            client.close()

    run(scenario)


def test_inbound_call_raises_the_ring_group_captures_tapi_events() -> None:
    real = [f for f in capture_frames("12-scenario7-ringgroup.ami") if isinstance(f, Message)]
    real_key = "1795669868.17"
    real_events = [t.replace(real_key, "KEY") for t in tapi_texts(real)]
    real_user_event = next(m for m in real if m.event == "UserEvent")

    async def scenario() -> None:
        async with FakeAsterisk() as fake:
            client = await RawClient.open(fake)
            await client.login()
            call = await fake.inbound_call(["Local/bob", "Local/bobbett"], answer_on="Local/bob")
            seen = await client.until(
                lambda m: m.event == "Hangup" and m.get("Uniqueid") == call.unique_id
            )
            fake_events = [t.replace(call.unique_id, "KEY") for t in tapi_texts(seen)]
            assert fake_events == real_events
            first = next(m for m in seen if m.event == "UserEvent")
            assert names(first) == names(real_user_event)
            assert fake.calls == {}
            client.close()

    run(scenario)


def test_originate_with_channel_id_runs_the_outbound_script() -> None:
    async def scenario() -> None:
        async with FakeAsterisk(originate_line="line_1") as fake:
            client = await RawClient.open(fake)
            await client.login()
            client.send(
                "Originate",
                ("Channel", "Local/bob@phones-originate"),
                ("Context", "outbound"),
                ("Exten", "95551234"),
                ("Priority", "1"),
                ("ChannelId", "tapi-out-0001"),
                ("OtherChannelId", "tapi-out-0001-2"),
                ("Variable", "TAPI_CALL=7"),
                ("Async", "true"),
                action_id="out-2",
            )
            queued = await client.message()
            assert queued.get("Message") == "Originate successfully queued"
            seen = await client.until(
                lambda m: m.event == "Hangup" and m.get("Uniqueid") == "tapi-out-0001-2"
            )
            new = [m.get("Uniqueid") for m in seen if m.event == "Newchannel"]
            assert new[:2] == ["tapi-out-0001", "tapi-out-0001-2"]
            varsets = [(m.get("Uniqueid"), m.get("Value")) for m in seen if m.event == "VarSet"]
            assert varsets == [("tapi-out-0001", "7"), ("tapi-out-0001-2", "7")]
            assert tapi_texts(seen) == [
                "LINE_NEWCALL line_1",
                "[~tapi-out-0001&line_1] LINE_CALLSTATE LINECALLSTATE_CONNECTED",
                "LINE_CALLSTATE LINECALLSTATE_IDLE",
            ]
            response = next(m for m in seen if m.event == "OriginateResponse")
            assert response.action_id == "out-2" and response.get("Response") == "Success"
            assert response.get("Uniqueid") == "tapi-out-0001"
            client.close()

    run(scenario)


def test_reused_channel_id_fails_like_capture_06b_and_old_servers_ignore_it() -> None:
    async def scenario() -> None:
        async with FakeAsterisk(call_duration=None) as fake:
            client = await RawClient.open(fake)
            await client.login()
            originate = (
                ("Channel", "Local/bob@phones-originate"),
                ("Context", "outbound"),
                ("Exten", "95551234"),
                ("ChannelId", "tapi-out-0002"),
            )
            client.send("Originate", *originate, action_id="out-3")
            await client.until(lambda m: "CONNECTED" in (m.get("TAPIEVENT") or ""))
            client.send("Originate", *originate, action_id="out-4-dup")
            seen = await client.until(is_event("OriginateResponse"))
            failure = seen[-1]
            assert failure.action_id == "out-4-dup"
            assert failure.get("Response") == "Failure"
            assert failure.get("Uniqueid") == "tapi-out-0002"
            client.send("Hangup", ("Channel", "tapi-out-0002"), action_id="h")
            assert (await client.message()).get("Message") == "Channel Hungup"
            await client.until(lambda m: "IDLE" in (m.get("TAPIEVENT") or ""))
            client.close()

        async with FakeAsterisk(ami_version="1.1") as old:
            client = await RawClient.open(old)
            banner = await client.frame()
            assert banner == Banner((1, 1), "Asterisk Call Manager/1.1")
            client.send("Login", ("Username", "tapi"), ("Secret", "tapisecret"))
            await client.until(is_event("FullyBooted"))
            client.send("Originate", *originate, action_id="old")
            seen = await client.until(is_event("Newchannel"))
            assert seen[-1].get("Uniqueid") != "tapi-out-0002"
            client.close()

    run(scenario)


def test_hangup_of_an_unknown_channel_and_event_masks() -> None:
    async def scenario() -> None:
        async with FakeAsterisk() as fake:
            client = await RawClient.open(fake)
            await client.frame()
            client.send(
                "Login",
                ("Username", "tapi"),
                ("Secret", "tapisecret"),
                ("Events", "call"),
                action_id="l",
            )
            await client.message()
            client.send("Hangup", ("Channel", "SIP/nobody-1"), action_id="h")
            assert (await client.message()).get("Message") == "No such channel"
            await fake.inbound_call(["Local/bob"])
            client.send("Events", ("EventMask", "off"), action_id="off")
            seen = await client.until(lambda m: m.action_id == "off")
            assert seen[-1].get("Events") == "Off"
            # "call" class only: no FullyBooted (system), no UserEvent (user).
            assert {m.event for m in seen[:-1]} == {"Newchannel", "Newstate", "Hangup"}
            client.close()

    run(scenario)


def test_kill_mid_frame_then_restart_on_the_same_port() -> None:
    async def scenario() -> None:
        fake = FakeAsterisk()
        await fake.start()
        port = fake.port
        client = await RawClient.open(fake)
        await client.login()
        await fake.kill(mid_frame=True)
        with pytest.raises(TruncatedFrame):
            while await client.frame() is not None:
                pass
        client.close()
        with pytest.raises(OSError):
            await asyncio.open_connection(fake.host, port)
        await fake.start()
        assert fake.port == port
        again = await RawClient.open(fake)
        await again.login()
        assert fake.connections == 2
        again.close()
        await fake.stop()

    run(scenario)


def test_stall_stops_answering_and_garbage_is_sent_raw() -> None:
    async def scenario() -> None:
        async with FakeAsterisk() as fake:
            client = await RawClient.open(fake)
            await client.login()
            fake.stall()
            client.send("Ping", action_id="p1")
            with pytest.raises(asyncio.TimeoutError):
                await client.frame(timeout=0.2)
            fake.stall(False)
            client.send("Ping", action_id="p2")
            assert (await client.message()).action_id == "p2"
            await fake.send_garbage(b"Garbage without colon\r\n\r\n")
            junk = await client.message()
            assert junk.headers == (("", "Garbage without colon"),)
            client.close()

    run(scenario)


def test_threaded_fake_serves_blocking_sockets() -> None:
    with FakeAsterisk.start_in_thread() as handle:
        with socket.create_connection((handle.host, handle.port), timeout=TIMEOUT) as sock:
            sock.sendall(encode_action("Login", [("Username", "tapi"), ("Secret", "tapisecret")]))
            data = b""
            while b"FullyBooted" not in data:
                data += sock.recv(65536)
            call = handle.call(handle.fake.inbound_call, ["Local/bob"], answer_on=None)
            while f"Uniqueid: {call.unique_id}\r\nLinkedid".encode() not in data or (
                b"LINECALLSTATE_IDLE" not in data
            ):
                data += sock.recv(65536)
            assert b"TAPIEVENT: LINE_NEWCALL Local/bob\r\n" in data
            assert b"LINECALLSTATE_CONNECTED" not in data  # nobody answered
        assert handle.fake.logins == 1


def test_md5_key_is_lower_case_hex_of_challenge_and_secret() -> None:
    async def scenario() -> None:
        async with FakeAsterisk(secret="s3cret") as fake:
            client = await RawClient.open(fake)
            await client.frame()
            client.send("Challenge", ("AuthType", "MD5"), action_id="c")
            challenge = (await client.message()).get("Challenge") or ""
            assert re.fullmatch(r"\d{9}", challenge)
            key = hashlib.md5((challenge + "s3cret").encode()).hexdigest()
            client.send(
                "Login", ("AuthType", "MD5"), ("Username", "tapi"), ("Key", key), action_id="l"
            )
            assert (await client.message()).get("Message") == "Authentication accepted"
            client.close()

    run(scenario)


class _CustomPing(FakeAsterisk):
    """A subclass with its own Ping answer, as a user would write one."""

    async def _action_ping(self, conn: Any, action: Message) -> None:
        self._reply(conn, action, ("Response", "Success"), ("Ping", "Custom"))


def test_start_in_thread_runs_the_subclass_it_is_called_on() -> None:
    # Issue 15 #16: start_in_thread() built a plain FakeAsterisk, so a
    # subclass's handler was silently unused in threaded tests.
    with _CustomPing.start_in_thread(username="u") as handle:
        assert type(handle.fake) is _CustomPing
        assert handle.fake.username == "u"
        with socket.create_connection((handle.host, handle.port), timeout=TIMEOUT) as sock:
            sock.sendall(encode_action("Login", [("Username", "u"), ("Secret", "tapisecret")]))
            sock.sendall(encode_action("Ping", [], action_id="p"))
            data = b""
            while b"ActionID: p\r\n" not in data or not data.endswith(b"\r\n\r\n"):
                data += sock.recv(65536)
        assert b"Ping: Custom\r\n" in data and b"Pong" not in data


def drive(script: Script, hang_up_at: int | None = None) -> list[Message]:
    """Run a model script by hand, no loop and no socket: the Emit steps' messages.

    ``hang_up_at``: the index of the Wait step during which the call is hung up.
    """
    out: list[Message] = []
    waits = 0
    hung_up = False
    step = next(script)
    while True:
        if isinstance(step, Emit):
            out.append(step.message)
        elif isinstance(step, Wait):
            hung_up = hung_up or waits == hang_up_at
            waits += 1
        try:
            step = script.send(hung_up)
        except StopIteration:
            return out


def test_the_pbx_model_is_sans_io_and_shapes_the_ring_group_call() -> None:
    pbx: PBX[Call] = PBX((11, 0, 0))
    call = Call(unique_id="")
    how = InboundCall(("Local/bob", "Local/bobbett"), '"Alice Caller" <5550100>',
                      "Local/bob", 1.0, 1.0, False)  # fmt: skip
    script = pbx.inbound_script(call, how)
    first = next(script)
    assert isinstance(first, Emit) and first.message.event == "Newchannel"
    assert pbx.calls == {call.unique_id: call}  # live while the script runs
    messages = [first.message, *drive(script)]
    key = call.unique_id
    assert tapi_texts(messages) == [
        "LINE_NEWCALL Local/bob",
        "LINE_NEWCALL Local/bobbett",
        'SET CALLERID "Alice Caller" <5550100>',
        "LINE_CALLSTATE LINECALLSTATE_OFFERING",
        f"[~{key}&Local/bob] LINE_CALLSTATE LINECALLSTATE_CONNECTED",
        f"[~{key}&!Local/bob] LINE_CALLSTATE LINECALLSTATE_HANGUP",
        "LINE_CALLSTATE LINECALLSTATE_IDLE",
    ]
    assert pbx.calls == {} and call.channels == []  # every channel hung up


def test_the_pbx_model_takes_the_hangup_branch_the_driver_reports() -> None:
    pbx: PBX[Call] = PBX((11, 0, 0))
    how = InboundCall(("Local/bob",), "5550100", "Local/bob", 1.0, 1.0, False)
    messages = drive(pbx.inbound_script(Call(unique_id=""), how), hang_up_at=0)
    assert tapi_texts(messages)[-2:] == [
        "LINE_CALLSTATE LINECALLSTATE_OFFERING",
        "LINE_CALLSTATE LINECALLSTATE_IDLE",
    ]
    settings = OriginateSettings("line_1", False, 0.0, 0.0, frozenset({"busy"}))
    busy = Message.from_pairs(("Action", "Originate"), ("Channel", "Local/201@phones"),
                              ("Exten", "busy"), ("Context", "outbound"))  # fmt: skip
    messages = drive(pbx.originate_script(Call(unique_id=""), busy, settings))
    assert [m.event for m in messages][-3:] == ["Hangup", "Hangup", "OriginateResponse"]
    assert (messages[-1].get("Response"), messages[-1].get("Reason")) == ("Failure", "5")
    assert tapi_texts(messages) == [] and pbx.calls == {}


def test_testing_docs_examples_run(tmp_path: Path) -> None:
    assert run_python_blocks("testing.md", tmp_path) == 6
