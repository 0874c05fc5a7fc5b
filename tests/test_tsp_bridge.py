"""The TSP bridge in pure Python: framing, messages, call-id mapping, the server, config."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import attrs
import pytest
from docs_examples import blocks, run_python_blocks
from hypothesis import given
from hypothesis import strategies as st
from tsp_shim import Shim, frame

from tapievent import LocalProtocolError
from tapievent.dialplan.generate import generate
from tapievent.model import (
    CallerId,
    CallInfo,
    CallState,
    Diagnostic,
    LineCallInfoState,
    LineCallOrigin,
    LineCallState,
    LineDevState,
    LineDevStateFlag,
    NewCall,
    OutputEvent,
)
from tapievent.testing import FakeAsterisk
from tapievent.tracker import CallHandle, TrackedCall
from tapievent.transports import AuthenticationError
from tapievent.tsp import (
    Bridge,
    BridgeProtocolError,
    ConfigError,
    DialSettings,
    FrameDecoder,
    FrameLimits,
    ShimSession,
    dialable,
    encode_frame,
    parse_config,
    parse_request,
)
from tapievent.tsp.config import BridgeConfig
from tapievent.tsp.mapper import clean_text
from tapievent.tsp.protocol import (
    LINEERR_CALLUNAVAIL,
    LINEERR_INVALADDRESS,
    LINEERR_INVALCALLHANDLE,
    LINEERR_OPERATIONFAILED,
    BlindTransfer,
    CloseCall,
    Drop,
    GenerateDigits,
    Hello,
    MakeCall,
)
from tapievent.tsp.service import connect_with_retry

# ---------------------------------------------------------------------- framing

flat_values = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00")),
    st.integers(min_value=0, max_value=0xFFFFFFFF),
    st.booleans(),
    st.none(),
)
flat_messages = st.dictionaries(
    st.text(min_size=1, max_size=10).filter(lambda k: k not in ("v", "type")),
    flat_values,
    max_size=6,
).map(lambda fields: {"v": 1, "type": "call_state", **fields})


def drain(decoder: FrameDecoder) -> list[dict[str, object]]:
    out = []
    while (message := decoder.next_message()) is not None:
        out.append(message)
    return out


@given(st.lists(flat_messages, max_size=5), st.data())
def test_frames_round_trip_however_the_stream_is_cut(
    messages: list[dict[str, object]], data: st.DataObject
) -> None:
    stream = b"".join(encode_frame(m) for m in messages)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    decoder = FrameDecoder()
    got: list[dict[str, object]] = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        decoder.receive_data(stream[start:end])
        got += drain(decoder)
    assert got == messages
    assert decoder.buffered == 0


@given(st.binary(max_size=300), st.integers(1, 64))
def test_arbitrary_bytes_raise_only_the_protocol_error(data: bytes, chunk: int) -> None:
    decoder = FrameDecoder(FrameLimits(max_frame=128))
    try:
        for i in range(0, len(data), chunk):
            decoder.receive_data(data[i : i + chunk])
            drain(decoder)
            assert decoder.buffered < 4 + 128
    except BridgeProtocolError as exc:
        assert exc.offset is not None


def test_oversize_length_is_rejected_from_the_header_alone() -> None:
    decoder = FrameDecoder(FrameLimits(max_frame=1000))
    decoder.receive_data(frame({"v": 1, "type": "drop", "id": 1, "call": 1}))
    assert decoder.next_message() is not None
    decoder.receive_data(struct.pack("<I", 1001))
    with pytest.raises(BridgeProtocolError, match=r"1001 bytes exceeds max_frame=1000.*offset 48"):
        decoder.next_message()
    with pytest.raises(BridgeProtocolError):  # a length-prefixed stream cannot resynchronise
        decoder.receive_data(b"{}")


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"", "empty frame"),
        (b"\xff\xfe", "not UTF-8 JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b"{", "not UTF-8 JSON"),
    ],
)
def test_bad_frames_say_what_is_wrong(body: bytes, error: str) -> None:
    decoder = FrameDecoder()
    decoder.receive_data(struct.pack("<I", len(body)) + body)
    with pytest.raises(BridgeProtocolError, match=error):
        decoder.next_message()


@pytest.mark.parametrize(
    "message",
    [
        {"v": 1, "type": "x", "nested": {"a": 1}},
        {"v": 1, "type": "x", "f": 1.5},
        {"v": 1, "type": "x", "s": "a\x00b"},
        {"v": 1, "type": "x", "s": "\udcff"},
        {"v": 1, "type": "x", "n": 1 << 32},
        {"v": 1, "type": "x", "s": "x" * 70000},
        {"v": 2, "type": "x"},
    ],
)
def test_encode_refuses_what_the_shim_cannot_read(message: dict[str, object]) -> None:
    with pytest.raises(LocalProtocolError):
        encode_frame(message)


# ---------------------------------------------------------------------- requests


def test_requests_parse_to_typed_values() -> None:
    assert parse_request(
        {"v": 1, "type": "hello", "shim": "0.1.0", "tspi_version": 0x20002, "lines": ["a", "b"]}
    ) == Hello(lines=("a", "b"), shim="0.1.0", tspi_version=0x20002)
    assert parse_request(
        {"v": 1, "type": "make_call", "id": 3, "line": "a", "destination": "100"}
    ) == MakeCall(3, "a", "100")
    assert parse_request({"v": 1, "type": "drop", "id": 4, "call": 9}) == Drop(4, 9)
    assert parse_request(
        {"v": 1, "type": "blind_transfer", "id": 5, "call": 9, "destination": "200"}
    ) == BlindTransfer(5, 9, "200")
    assert parse_request(
        {"v": 1, "type": "generate_digits", "id": 6, "call": 9, "digits": "12#"}
    ) == GenerateDigits(6, 9, "12#")
    assert parse_request({"v": 1, "type": "close_call", "call": 9}) == CloseCall(9)


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ({"v": 2, "type": "drop"}, "protocol version 2"),
        ({"v": True, "type": "drop"}, "protocol version True"),
        ({"v": 1, "type": "fly"}, "unknown message type 'fly'"),
        ({"v": 1, "type": "drop", "id": 1}, "drop: call must be"),
        ({"v": 1, "type": "drop", "id": True, "call": 1}, "drop: id must be"),
        ({"v": 1, "type": "drop", "id": -1, "call": 1}, "drop: id must be"),
        ({"v": 1, "type": "make_call", "id": 1, "line": "", "destination": "1"}, "line must"),
        ({"v": 1, "type": "make_call", "id": 1, "line": "a", "destination": "1" * 300}, "at most"),
        ({"v": 1, "type": "hello", "shim": "x", "tspi_version": 1, "lines": "a"}, "list"),
        ({"v": 1, "type": "hello", "shim": "x", "tspi_version": 1, "lines": [1]}, "lines must"),
    ],
)
def test_bad_requests_name_the_field(message: dict[str, object], error: str) -> None:
    with pytest.raises(BridgeProtocolError, match=error):
        parse_request(message)


@given(st.dictionaries(st.text(max_size=8), flat_values, max_size=6))
def test_parse_request_raises_only_its_error(message: dict[str, object]) -> None:
    with contextlib.suppress(BridgeProtocolError):
        parse_request({"v": 1, **message})


# ---------------------------------------------------------------------- mapper


def no_action(key: str) -> str | None:
    return None


ALICE = CallerId(name="Alice", number="5550100")


def test_inbound_call_becomes_new_call_then_states_without_repeats() -> None:
    session = ShimSession(["bob"])
    (new,) = session.on_event(NewCall("bob", "k1", LineCallOrigin.UNKNOWN, ALICE), no_action)
    assert new == {
        "v": 1,
        "type": "new_call",
        "call": 1,
        "line": "bob",
        "state": 0x2,
        "mode": 0x1,
        "media_mode": 0x4,
        "origin": 0x80,  # LINECALLORIGIN_INBOUND: never UNKNOWN for an offered call
        "caller_number": "5550100",
        "caller_name": "Alice",
    }
    # The dialplan's own OFFERING right after NEWCALL is not reported twice.
    assert session.on_event(CallState("bob", "k1", LineCallState.OFFERING), no_action) == []
    info = session.on_event(CallInfo("bob", "k1", LineCallInfoState.CALLERID, ALICE), no_action)
    assert info[0]["info_state"] == 0x8000 and info[0]["caller_name"] == "Alice"
    (connected,) = session.on_event(CallState("bob", "k1", LineCallState.CONNECTED), no_action)
    assert (connected["call"], connected["state"]) == (1, 0x100)
    (idle,) = session.on_event(CallState("bob", "k1", LineCallState.IDLE), no_action)
    assert idle["state"] == 0x1
    assert session.call(1) is None and session.call_count == 0
    assert session.on_event(CallState("bob", "k1", LineCallState.CONNECTED), no_action) == []


def test_events_for_lines_the_shim_does_not_expose_are_not_sent() -> None:
    session = ShimSession(["bob"])
    assert session.on_event(NewCall("alice", "k1"), no_action) == []
    assert session.on_event(CallState("alice", "k1", LineCallState.CONNECTED), no_action) == []
    assert session.on_event(LineDevState("alice", LineDevStateFlag.OUTOFSERVICE), no_action) == []
    assert session.on_event(Diagnostic("untracked-call", "x"), no_action) == []
    (down,) = session.on_event(LineDevState(None, LineDevStateFlag.OUTOFSERVICE), no_action)
    assert down == {"v": 1, "type": "line_state", "line": None, "state": 0x80}


def test_outbound_states_are_held_until_the_reply_then_released() -> None:
    session = ShimSession(["bob"])
    owner = {"k9": "act-1"}
    early = CallState("bob", "k9", LineCallState.DIALING)
    assert session.on_event(early, owner.get) == []  # the Originate is still in flight
    handle = CallHandle(action_id="act-1", line="bob", origination_id="k9", channel_id="k9")
    call_id, held = session.bind_outbound("bob", handle, "k9", owner.get)
    assert [(m["call"], m["state"]) for m in held] == [(call_id, 0x10)]
    (connected,) = session.on_event(CallState("bob", "k9", LineCallState.CONNECTED), owner.get)
    assert connected["call"] == call_id
    assert session.call(call_id) is not None and session.call(call_id).ref == handle  # type: ignore[union-attr]


def test_outbound_call_found_by_action_id_when_its_key_was_learned_late() -> None:
    session = ShimSession(["bob"])
    handle = CallHandle(action_id="act-2", line="bob", origination_id="var-7")
    call_id, held = session.bind_outbound("bob", handle, None, no_action)
    assert held == []
    owner = {"1795.5": "act-2"}
    (state,) = session.on_event(CallState("bob", "1795.5", LineCallState.PROCEEDING), owner.get)
    assert state["call"] == call_id
    session.forget(call_id)
    assert session.on_event(CallState("bob", "1795.5", LineCallState.IDLE), owner.get) == []


def test_mapping_and_held_events_are_bounded() -> None:
    session = ShimSession(["bob"], max_calls=3, max_held=2)
    for n in range(5):
        session.on_event(NewCall("bob", f"k{n}"), no_action)
    assert session.call_count == 3 and session.call(1) is None and session.call(5) is not None
    for n in range(10):
        session.on_event(CallState("bob", f"o{n}", LineCallState.DIALING), lambda k: "a" + k)
    assert len(session._held) == 2


def test_announce_reports_live_calls_in_their_state() -> None:
    session = ShimSession(["bob", "bobbett"])
    calls = [
        TrackedCall(
            "k1",
            ("bob", "bobbett", "other"),
            (LineCallState.CONNECTED, LineCallState.IDLE, None),
            ALICE,
            LineCallOrigin.INBOUND,
            None,
        ),
        TrackedCall("k2", ("bobbett",), (None,), None, LineCallOrigin.UNKNOWN, None),
    ]
    out = session.announce(calls)
    assert [(m["line"], m["state"], m["mode"]) for m in out] == [
        ("bob", 0x100, 0),
        ("bobbett", 0x2, 0x1),
    ]


def test_caller_names_in_latin1_and_with_nul_reach_the_shim_as_text() -> None:
    latin1 = b"Zo\xeb".decode("utf-8", "surrogateescape")
    assert clean_text(latin1) == "Zoë"
    assert clean_text("Zoë") == "Zoë"
    assert clean_text("a\x00b") == "ab"
    session = ShimSession(["bob"])
    (new,) = session.on_event(NewCall("bob", "k", caller_id=CallerId(latin1, "1")), no_action)
    assert encode_frame(new)  # would raise on a lone surrogate


@pytest.mark.parametrize(
    ("address", "digits"),
    [("+1 (555) 012-3456", "+15550123456"), ("T0123|sub", "0123"), ("*72#", "*72#"), ("abc", "")],
)
def test_dialable_keeps_what_asterisk_can_dial(address: str, digits: str) -> None:
    assert dialable(address) == digits


# ---------------------------------------------------------------------- server


class FakePort:
    """An AmiPort with an event queue and a log of what the bridge asked for."""

    def __init__(self) -> None:
        self.in_service = True
        self.queue: asyncio.Queue[OutputEvent | None] = asyncio.Queue()
        self.log: list[tuple[object, ...]] = []
        self.fail = False
        self.owner: dict[str, str] = {}
        self.live: tuple[TrackedCall, ...] = ()

    async def events(self) -> AsyncIterator[OutputEvent]:
        while (event := await self.queue.get()) is not None:
            yield event

    def live_calls(self) -> tuple[TrackedCall, ...]:
        return self.live

    def action_id_of(self, call_key: str) -> str | None:
        return self.owner.get(call_key)

    def call_key_of(self, handle: CallHandle) -> str | None:
        return handle.channel_id

    async def make_call(self, line: str, destination: str, dial: DialSettings) -> CallHandle:
        self.log.append(("make_call", line, destination, dial.channel_for(line)))
        if self.fail:
            raise LocalProtocolError("refused")
        self.owner["out-1"] = "A1"
        # States of the call arrive while the Originate is still being answered.
        await self.queue.put(CallState(line, "out-1", LineCallState.DIALING))
        await asyncio.sleep(0.01)
        return CallHandle(action_id="A1", line=line, origination_id="out-1", channel_id="out-1")

    async def hangup(self, call: str | CallHandle) -> None:
        self.log.append(("hangup", call))
        if self.fail:
            raise OSError("gone")

    async def redirect(self, call: str | CallHandle, *, context: str, exten: str) -> None:
        self.log.append(("redirect", call, context, exten))

    async def send_digit(self, call: str | CallHandle, digit: str) -> None:
        self.log.append(("digit", call, digit))


async def start(port: FakePort) -> tuple[Bridge, asyncio.Task[None], Shim]:
    bridge = Bridge(
        port, dial=DialSettings(channel="PJSIP/{line}", transfer_context="xfer"), port=0
    )
    await bridge.start()
    pump = asyncio.ensure_future(bridge.run())
    shim = Shim(*await asyncio.open_connection("127.0.0.1", bridge.port))
    await shim.send(type="hello", shim="test", tspi_version=0x20002, lines=["bob"])
    assert await shim.recv() == {"v": 1, "type": "welcome", "in_service": True}
    return bridge, pump, shim


async def stop(bridge: Bridge, pump: asyncio.Task[None], shim: Shim, port: FakePort) -> None:
    await port.queue.put(None)
    await pump
    shim.writer.close()
    await bridge.close()


def test_bridge_serves_requests_and_events() -> None:
    async def scenario() -> None:
        port = FakePort()
        bridge, pump, shim = await start(port)
        await shim.send(type="make_call", id=7, line="bob", destination="+1 (555) 0100")
        assert await shim.recv() == {"v": 1, "type": "reply", "id": 7, "result": 0, "call": 1}
        held = await shim.recv()
        assert (held["type"], held["call"], held["state"]) == ("call_state", 1, 0x10)
        assert port.log == [("make_call", "bob", "+15550100", "PJSIP/bob")]

        await port.queue.put(NewCall("bob", "in-1", caller_id=ALICE))
        new = await shim.recv()
        assert (new["type"], new["call"], new["caller_number"]) == ("new_call", 2, "5550100")
        await shim.send(type="generate_digits", id=8, call=2, digits="9#")
        assert await shim.recv() == {"v": 1, "type": "reply", "id": 8, "result": 0}
        await shim.send(type="blind_transfer", id=9, call=2, destination="2-0-0")
        assert (await shim.recv())["result"] == 0
        await shim.send(type="blind_transfer", id=10, call=2, destination="nowhere")
        assert (await shim.recv())["result"] == LINEERR_INVALADDRESS
        await shim.send(type="drop", id=11, call=1)
        assert (await shim.recv())["result"] == 0
        await shim.send(type="drop", id=12, call=99)
        assert (await shim.recv())["result"] == LINEERR_INVALCALLHANDLE
        assert port.log[1:] == [
            ("digit", "in-1", "9"),
            ("digit", "in-1", "#"),
            ("redirect", "in-1", "xfer", "200"),
            ("hangup", CallHandle("A1", "bob", "out-1", "out-1")),
        ]
        await shim.send(type="close_call", call=2)
        await shim.send(type="drop", id=13, call=2)
        assert (await shim.recv())["result"] == LINEERR_INVALCALLHANDLE

        port.fail = True
        await port.queue.put(NewCall("bob", "in-2"))
        assert (await shim.recv())["type"] == "new_call"
        await shim.send(type="drop", id=14, call=3)
        assert (await shim.recv())["result"] == LINEERR_OPERATIONFAILED
        await shim.send(type="make_call", id=15, line="bob", destination="100")
        assert (await shim.recv())["result"] == LINEERR_CALLUNAVAIL
        port.in_service = False
        await shim.send(type="make_call", id=16, line="bob", destination="100")
        assert (await shim.recv())["result"] == LINEERR_CALLUNAVAIL
        await port.queue.put(LineDevState(None, LineDevStateFlag.OUTOFSERVICE))
        assert (await shim.recv())["state"] == 0x80
        await stop(bridge, pump, shim, port)

    asyncio.run(scenario())


def test_bridge_reports_bad_messages_and_drops_broken_framing() -> None:
    async def scenario() -> None:
        port = FakePort()
        bridge, pump, shim = await start(port)
        await shim.send(type="drop", id="seven", call=1)
        error = await shim.recv()
        assert error["type"] == "error" and "drop: id" in str(error["message"])
        shim.writer.write(struct.pack("<I", 10_000_000))
        await shim.writer.drain()
        assert await asyncio.wait_for(shim.reader.read(), 5) == b""  # closed by the bridge
        await stop(bridge, pump, shim, port)

    asyncio.run(scenario())


def test_a_new_shim_hears_about_calls_already_ringing() -> None:
    async def scenario() -> None:
        port = FakePort()
        port.live = (TrackedCall("k1", ("bob",), (None,), ALICE, LineCallOrigin.UNKNOWN, None),)
        bridge, pump, shim = await start(port)
        announced = await shim.recv()
        assert (announced["type"], announced["state"], announced["caller_name"]) == (
            "new_call",
            0x2,
            "Alice",
        )
        await stop(bridge, pump, shim, port)

    asyncio.run(scenario())


# ---------------------------------------------------------------------- config and CLI

GOOD = """
[ami]
host = pbx.example
username = tapi
auth = plain

[bridge]
lines = PJSIP/bob, PJSIP/alice
port = 5071

[dial]
context = from-internal
channel = {line}
transfer_context = transfers

[link]
insecure_no_link_token = yes
"""


def test_config_reads_every_section_and_hides_the_secret() -> None:
    config = parse_config(GOOD, environ={"TAPIEVENT_SECRET": "s3cret"})
    assert (config.ami_host, config.ami_port, config.auth) == ("pbx.example", 5038, "plain")
    assert config.lines == ("PJSIP/bob", "PJSIP/alice")
    assert (config.listen_host, config.listen_port) == ("127.0.0.1", 5071)
    assert config.dial.transfer_context == "transfers"
    assert config.secret == "s3cret" and "s3cret" not in repr(config)
    assert config.link_token is None  # the explicit opt-out of [link]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (GOOD, r"no \[ami\] secret and \$TAPIEVENT_SECRET is not set"),
        (GOOD.replace("auth = plain", "auth = none\nsecret = x"), "auth must be md5 or plain"),
        (GOOD + "[bridge]\n", "(?i)line 18.*section 'bridge' already exists"),
        (
            GOOD.replace("port = 5071", "listen = 0.0.0.0\nsecret=x").replace(
                "[ami]", "[ami]\nsecret = x"
            ),
            "not a loopback address",
        ),
        (GOOD.replace("port = 5071", "port = lots").replace("[ami]", "[ami]\nsecret=x"), "number"),
        (
            GOOD.replace("lines = PJSIP/bob, PJSIP/alice", "lines = ,").replace(
                "[ami]", "[ami]\nsecret=x"
            ),
            "lines",
        ),
    ],
)
def test_config_errors_name_section_and_key(text: str, error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        parse_config(text, environ={})


def test_cli_reports_a_bad_config_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tapievent.cli import main

    path = tmp_path / "bridge.ini"
    path.write_text("[ami]\nusername = tapi\nsecret = x\n", encoding="utf-8")
    assert main(["tsp-bridge", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == f"tapievent tsp-bridge: {path}: [bridge] lines is required\n"
    assert main(["tsp-bridge", "--config", str(tmp_path / "missing.ini")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_docs_examples_run(tmp_path: Path) -> None:
    assert run_python_blocks("tsp.md", tmp_path) >= 1


def test_docs_ini_example_is_a_valid_config() -> None:
    ((_, text),) = blocks("tsp.md", "ini")
    token = "9e" * 32  # the installer's LinkToken, as the registry would hold it
    config = parse_config(
        text, source="docs/tsp.md", environ={"TAPIEVENT_SECRET": "x"}, registry_token=lambda: token
    )
    assert config.link_token == token
    assert (config.ami_host, config.auth, config.lines) == (
        "192.0.2.10",
        "md5",
        ("PJSIP/bob", "PJSIP/alice"),
    )
    assert config.dial.channel_for("PJSIP/bob") == "PJSIP/bob"
    # The context is the one `tapievent dialplan` prints for click-to-dial.
    assert config.dial.context == "tapi-outbound"
    assert "\n[tapi-outbound]\n" in generate("22", list(config.lines))


def _bridge_config(port: int, secret: str = "tapisecret") -> BridgeConfig:
    return BridgeConfig(
        ami_host="127.0.0.1",
        ami_port=port,
        username="tapi",
        secret=secret,
        auth="md5",
        lines=("Local/bob",),
        listen_host="127.0.0.1",
        listen_port=0,
        dial=DialSettings(),
    )


def test_the_service_waits_for_its_pbx_and_never_retries_a_bad_secret() -> None:
    """service.connect_with_retry carries out the Supervisor's steps (retry_first)."""

    async def scenario() -> None:
        probe = FakeAsterisk()
        await probe.start()
        port = probe.port
        await probe.stop()  # nothing listens on the port yet
        config = _bridge_config(port)
        waiting = asyncio.ensure_future(connect_with_retry(config, max_delay=0.05))
        await asyncio.sleep(0.3)
        assert not waiting.done()  # still retrying, not failed
        async with FakeAsterisk(port=port) as pbx:
            client = await asyncio.wait_for(waiting, 5)
            assert client.connected
            await client.close()
            wrong = _bridge_config(port, secret="not-it")
            with pytest.raises(AuthenticationError):
                await asyncio.wait_for(connect_with_retry(wrong, max_delay=0.05), 5)
            assert pbx.connections == 2  # the refused login was not retried

    asyncio.run(asyncio.wait_for(scenario(), 20))


def test_config_reads_tls_and_refuses_a_missing_cafile(tmp_path: Path) -> None:
    cafile = tmp_path / "ca.pem"
    cafile.write_text("x", encoding="utf-8")
    tls = GOOD.replace("auth = plain", f"auth = plain\ntls = yes\ncafile = {cafile}")
    config = parse_config(tls, environ={"TAPIEVENT_SECRET": "s"})
    assert (config.tls, config.cafile) == (True, str(cafile))
    assert parse_config(GOOD, environ={"TAPIEVENT_SECRET": "s"}).tls is False
    with pytest.raises(ConfigError, match=r"\[ami\] cafile .* is not a readable file"):
        parse_config(
            tls.replace(str(cafile), str(tmp_path / "nope.pem")), environ={"TAPIEVENT_SECRET": "s"}
        )
    with pytest.raises(ConfigError, match=r"\[ami\] tls must be yes or no"):
        parse_config(tls.replace("tls = yes", "tls = maybe"), environ={"TAPIEVENT_SECRET": "s"})


def test_the_service_speaks_tls_when_configured(tmp_path: Path) -> None:
    """TLS from the configuration (the Configure dialog's checkbox, [ami] tls) reaches AMI,
    with the server's certificate verified against the configured CA file."""
    from transport_support import tls_contexts

    server_ctx, _client_ctx = tls_contexts(tmp_path)

    async def scenario() -> None:
        async with FakeAsterisk(ssl=server_ctx) as pbx:
            config = attrs.evolve(
                _bridge_config(pbx.port), tls=True, cafile=str(tmp_path / "cert.pem")
            )
            client = await asyncio.wait_for(connect_with_retry(config, max_delay=0.05), 10)
            assert client.connected
            await client.close()
            assert pbx.connections == 1

    asyncio.run(asyncio.wait_for(scenario(), 20))
