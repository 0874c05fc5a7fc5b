"""The asyncio transport against FakeAsterisk over real loopback sockets.

Every await is bounded (``asyncio.wait_for``), so a regression fails fast
instead of hanging the suite.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import ssl
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from docs_examples import run_python_blocks
from transport_support import (
    INBOUND,
    LINES,
    SECRET,
    client_options,
    is_devstate,
    is_state,
    kinds,
    tls_contexts,
)

from tapievent.ami_codec import Action
from tapievent.model import CallState, Diagnostic, LineCallState, NewCall, OutputEvent
from tapievent.testing import FakeAsterisk
from tapievent.transports import (
    ActionFailedError,
    ActionTimeoutError,
    AuthenticationError,
    ConnectionLostError,
    ReconnectPolicy,
    TransportError,
    blocking,
)
from tapievent.transports._common import EventBuffer
from tapievent.transports.aio import AsyncClient, connect

T = TypeVar("T")


def run(coro_fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro_fn(), 20.0)

    return asyncio.run(bounded())


def client_for(fake: FakeAsterisk, **kwargs: Any) -> Any:
    return connect(fake.host, fake.port, **client_options(**kwargs))


async def take_until(
    client: AsyncClient, predicate: Callable[[OutputEvent], bool], timeout: float = 5.0
) -> list[OutputEvent]:
    """Events up to and including the first that matches ``predicate``."""
    seen: list[OutputEvent] = []

    async def collect() -> None:
        async for event in client.events():
            seen.append(event)
            if predicate(event):
                return
        raise AssertionError(f"events() ended before the expected event: {kinds(seen)}")

    await asyncio.wait_for(collect(), timeout)
    return seen


def test_plain_login_ping_and_no_secret_in_repr_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    async def scenario() -> None:
        async with FakeAsterisk() as fake:
            async with client_for(fake, auth="plain") as client:
                assert client.connected
                result = await client.send_action(Action("Ping"))
                assert result.ok and result.response.get("Ping") == "Pong"
                assert SECRET not in repr(client) and SECRET not in repr(client._connection)
            assert fake.actions[0].get("Secret") == SECRET  # it was really used
            assert not client.connected

    run(scenario)
    assert caplog.records, "the transport logs its connection life"
    assert all(SECRET not in r.getMessage() for r in caplog.records)


def test_md5_login_never_sends_the_secret() -> None:
    async def scenario() -> None:
        async with FakeAsterisk() as fake, client_for(fake) as client:
            assert client.connected
            assert [a.get("Action") for a in fake.actions[:2]] == ["Challenge", "Login"]
            assert all(a.get("Secret") is None for a in fake.actions)
            assert fake.actions[1].get("Key")

    run(scenario)


def test_bad_secret_raises_authentication_error_once() -> None:
    async def scenario() -> None:
        async with FakeAsterisk(auth_failure_delay=0.05) as fake:
            with pytest.raises(AuthenticationError) as info:
                await asyncio.wait_for(client_for(fake, secret="wrong-secret"), 5)
            assert "tapi" in str(info.value) and "Authentication failed" in str(info.value)
            assert "wrong-secret" not in str(info.value)
            await asyncio.sleep(0.1)
            assert fake.connections == 1  # no retry storm

    run(scenario)


def test_connection_refused_is_an_oserror() -> None:
    async def scenario() -> None:
        fake = FakeAsterisk()
        await fake.start()
        await fake.stop()
        with pytest.raises(ConnectionRefusedError):
            await asyncio.wait_for(client_for(fake), 5)

    run(scenario)


def test_inbound_call_full_event_sequence() -> None:
    async def scenario() -> None:
        async with FakeAsterisk() as fake, client_for(fake, lines=LINES) as client:
            call = await fake.inbound_call(list(LINES), answer_on="Local/bob")
            seen = await take_until(client, is_state("Local/bob", LineCallState.IDLE))
            assert kinds(seen) == INBOUND
            assert {ev.call_key for ev in seen if isinstance(ev, CallState)} == {call.unique_id}
            assert client.tracker.call_count == 0

    run(scenario)


def test_events_carry_the_time_their_bytes_were_read_and_the_source() -> None:
    """The runtime, not the core, reads the clock: each event's time is when its bytes came."""

    async def scenario() -> None:
        async with FakeAsterisk() as fake, client_for(fake, lines=LINES, source="pbx-a") as client:
            before = time.time()
            await fake.inbound_call(list(LINES), answer_on="Local/bob")
            seen = await take_until(client, is_state("Local/bob", LineCallState.IDLE))
            after = time.time()
            assert seen
            assert all(ev.time is not None and before <= ev.time <= after for ev in seen)
            assert {ev.source for ev in seen} == {"pbx-a"}

    run(scenario)


@pytest.mark.parametrize("response_first", [False, True], ids=["newcall-first", "response-first"])
@pytest.mark.parametrize("ami_version", ["11.0.0", "1.3"], ids=["channelid", "varset"])
def test_make_call_newcall_is_filtered_but_states_arrive(
    ami_version: str, response_first: bool
) -> None:
    """Asterisk 22 (ChannelId) and 11 (VarSet of our variable), with the
    dialplan's NEWCALL before and after the OriginateResponse."""

    async def scenario() -> None:
        async with (
            FakeAsterisk(
                originate_line="line_1",
                ami_version=ami_version,
                originate_response_first=response_first,
            ) as fake,
            client_for(fake, lines=["line_1"]) as client,
        ):
            handle = await client.make_call(
                "line_1",
                "95551234",
                context="outbound",
                channel="Local/bob@phones-originate",
                caller_id='"Bob" <201>',
            )
            seen = await take_until(client, is_state("line_1", LineCallState.IDLE))
            assert kinds(seen) == ["CallState line_1 CONNECTED", "CallState line_1 IDLE"]
            keys = {ev.call_key for ev in seen if isinstance(ev, CallState)}
            originate = next(a for a in fake.actions if a.get("Action") == "Originate")
            assert originate.get("Async") == "true"
            assert originate.action_id == handle.action_id
            if ami_version == "11.0.0":
                assert originate.get("ChannelId") == handle.channel_id
                assert keys == {handle.channel_id}
            else:
                assert handle.channel_id is None and originate.get("ChannelId") is None
                assert originate.get("Variable") == f"TAPIEVENT_ORIGINATE={handle.origination_id}"
                (key,) = keys
                assert key != handle.origination_id  # the server's own unique id
            assert client.tracker.call_count == 0 and client.tracker.pending_count == 0

    run(scenario)


def test_refused_originate_raises_and_ends_the_handle() -> None:
    # Asterisk 11+ refuses an Originate to a missing extension at once; the
    # application learns it from the exception AND from the call's own
    # states, and the tracker keeps nothing pending.
    async def scenario() -> None:
        async with (
            FakeAsterisk(missing_extensions=["95550404"]) as fake,
            client_for(fake, lines=["line_1"]) as client,
        ):
            with pytest.raises(ActionFailedError, match="Extension does not exist"):
                await client.make_call(
                    "line_1", "95550404", context="outbound", channel="Local/bob@phones"
                )
            seen = await take_until(client, is_state("line_1", LineCallState.IDLE))
            assert kinds(seen) == [
                "Diagnostic originate-refused",
                "CallState line_1 DISCONNECTED/0x800*",  # * = synthesized by tapievent
                "CallState line_1 IDLE*",
            ]
            assert client.tracker.pending_count == 0 and client.tracker.call_count == 0

    run(scenario)


def test_hangup_of_an_inbound_call_by_its_call_key() -> None:
    # A CTI application hangs up a call it did not make, by its call key.
    async def scenario() -> None:
        async with FakeAsterisk() as fake, client_for(fake, lines=LINES) as client:
            call = await fake.inbound_call(list(LINES), answer_on="Local/bob", hold=True)
            seen = await take_until(client, is_state("Local/bob", LineCallState.CONNECTED))
            key = next(ev.call_key for ev in seen if isinstance(ev, NewCall))
            assert key == call.unique_id
            assert (await client.hangup(key)).ok
            await take_until(client, is_state("Local/bob", LineCallState.IDLE))
            hangup = [a for a in fake.actions if a.get("Action") == "Hangup"]
            assert len(hangup) == 1 and (hangup[0].get("Channel") or "").endswith(";2")
            assert client.tracker.call_count == 0

    run(scenario)


def test_hangup_of_a_made_call() -> None:
    async def scenario() -> None:
        async with (
            FakeAsterisk(call_duration=None) as fake,
            client_for(fake, lines=["line_1"]) as client,
        ):
            handle = await client.make_call(
                "line_1", "95551234", context="outbound", channel="Local/bob@phones-originate"
            )
            await take_until(client, is_state("line_1", LineCallState.CONNECTED))
            result = await client.hangup(handle)
            assert result.response.get("Message") == "Channel Hungup"
            await take_until(client, is_state("line_1", LineCallState.IDLE))
            assert fake.calls == {}

    run(scenario)


def test_redirect_and_send_digits_name_the_calls_channel() -> None:
    async def scenario() -> None:
        async with (
            FakeAsterisk(call_duration=None) as fake,
            client_for(fake, lines=["line_1"]) as client,
        ):
            handle = await client.make_call(
                "line_1", "95551234", context="outbound", channel="Local/bob@phones-originate"
            )
            await take_until(client, is_state("line_1", LineCallState.CONNECTED))
            (call,) = fake.calls.values()
            channel = call.channels[0].name
            moved = await client.redirect(handle, context="phones", exten="200")
            assert moved.ok and moved.response.get("Message") == "Redirect successful"
            digits = await client.send_digits(handle, "12#")
            assert digits.ok and digits.response.get("Message") == "DTMF successfully queued"
            sent = [a for a in fake.actions if a.get("Action") in ("Redirect", "PlayDTMF")]
            assert [(a.get("Action"), a.get("Channel")) for a in sent] == [
                ("Redirect", channel),
                ("PlayDTMF", channel),
                ("PlayDTMF", channel),
                ("PlayDTMF", channel),
            ]
            assert (sent[0].get("Context"), sent[0].get("Exten")) == ("phones", "200")
            assert [a.get("Digit") for a in sent[1:]] == ["1", "2", "#"]
            await client.hangup(handle)
            await take_until(client, is_state("line_1", LineCallState.IDLE))

    run(scenario)


def test_busy_destination_ends_the_handle_with_busy() -> None:
    async def scenario() -> None:
        async with FakeAsterisk() as fake, client_for(fake, lines=["line_1"]) as client:
            await client.make_call(
                "line_1", "busy", context="outbound", channel="Local/bob@phones-originate"
            )
            seen = await take_until(client, is_state("line_1", LineCallState.IDLE))
            assert kinds(seen) == ["CallState line_1 DISCONNECTED/0x20*", "CallState line_1 IDLE*"]
            assert client.tracker.pending_count == 0 and client.tracker.call_count == 0

    run(scenario)


def test_garbage_from_the_server_is_survived() -> None:
    async def scenario() -> None:
        async with FakeAsterisk() as fake, client_for(fake, lines=LINES) as client:
            await fake.send_garbage()
            assert (await client.send_action(Action("Ping"))).ok
            await fake.inbound_call(list(LINES), answer_on="Local/bob")
            seen = await take_until(client, is_state("Local/bob", LineCallState.IDLE))
            assert kinds(seen) == INBOUND
            assert client.connected and fake.connections == 1

    run(scenario)


def test_reset_connection_reconnects_and_keeps_the_live_call() -> None:
    """A network reset (Asterisk still up): reconcile finds the call alive,
    so it is neither ended nor forgotten, and its later events arrive."""

    async def scenario() -> None:
        async with FakeAsterisk() as fake, client_for(fake, lines=LINES) as client:
            call = await fake.inbound_call(list(LINES), answer_on="Local/bob", hold=True)
            await take_until(client, is_state("Local/bobbett", LineCallState.IDLE))
            await fake.drop_connections()
            seen = await take_until(client, is_devstate("INSERVICE"))
            seen += await take_until(client, is_devstate("INSERVICE"))
            assert kinds(seen) == [
                "Diagnostic connection-lost",
                "LineDevState Local/bob OUTOFSERVICE",
                "LineDevState Local/bobbett OUTOFSERVICE",
                "LineDevState Local/bob INSERVICE",
                "LineDevState Local/bobbett INSERVICE",
            ]
            assert client.tracker.call_count == 1 and fake.logins == 2
            await fake.hangup_call(call)
            seen = await take_until(client, is_state("Local/bob", LineCallState.IDLE))
            assert kinds(seen) == ["CallState Local/bob IDLE"]
            assert client.tracker.call_count == 0

    run(scenario)


def test_nothing_is_printed_when_the_application_configures_no_logging() -> None:
    """A lost connection is logged as a WARNING; without a handler of the
    application's, Python would print it to stderr ("last resort")."""
    program = textwrap.dedent(
        """
        import asyncio
        from tapievent.testing import FakeAsterisk
        from tapievent.transports import ReconnectPolicy, blocking
        from tapievent.transports.aio import connect

        async def main():
            async with FakeAsterisk() as pbx:
                policy = ReconnectPolicy(initial_delay=0.01)
                async with connect(
                    "127.0.0.1", pbx.port, username="tapi", secret="tapisecret", reconnect=policy
                ) as client:
                    await pbx.drop_connections()
                    async for event in client.events():
                        if type(event).__name__ == "LineDevState":
                            if event.state.name == "INSERVICE":
                                break

        asyncio.run(asyncio.wait_for(main(), 10))
        with FakeAsterisk.start_in_thread() as pbx:
            client = blocking.connect(
                "127.0.0.1", pbx.port, username="tapi", secret="tapisecret", reconnect=False
            )
            pbx.call(pbx.fake.drop_connections)
            try:
                for event in client.events():
                    pass
            except Exception as exc:
                print(type(exc).__name__)
            client.close()
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "ConnectionLostError\n"
    assert done.stderr == ""


def test_server_killed_mid_frame_and_restarted_reconnects_and_reconciles() -> None:
    async def scenario() -> None:
        async with FakeAsterisk() as fake, client_for(fake, lines=LINES) as client:
            await fake.inbound_call(list(LINES), answer_on="Local/bob", hold=True)
            await take_until(client, is_state("Local/bobbett", LineCallState.IDLE))
            assert client.tracker.call_count == 1  # bob is still talking
            await fake.restart(mid_frame=True)
            seen = await take_until(client, is_devstate("INSERVICE"))
            seen += await take_until(client, is_devstate("INSERVICE"))
            assert kinds(seen) == [
                "Diagnostic protocol-error",  # the half frame the dying server sent
                "Diagnostic connection-lost",
                "LineDevState Local/bob OUTOFSERVICE",
                "LineDevState Local/bobbett OUTOFSERVICE",
                "Diagnostic stale-call",
                "CallState Local/bob IDLE*",
                "LineDevState Local/bob INSERVICE",
                "LineDevState Local/bobbett INSERVICE",
            ]
            assert client.tracker.call_count == 0  # nothing leaked
            assert fake.logins == 2
            assert any(a.get("Action") == "CoreShowChannels" for a in fake.actions)
            assert client.connected
            result = await client.send_action(Action("Ping"))
            assert result.ok

    run(scenario)


def test_tls_with_a_generated_certificate(tmp_path: Path) -> None:
    server_ctx, client_ctx = tls_contexts(tmp_path)

    async def scenario() -> None:
        async with FakeAsterisk(ssl=server_ctx) as fake:
            async with client_for(fake, ssl=client_ctx, lines=LINES) as client:
                assert (await client.send_action(Action("Ping"))).ok
                await fake.inbound_call(list(LINES))
                seen = await take_until(client, is_state("Local/bob", LineCallState.IDLE))
                assert kinds(seen) == INBOUND
            with pytest.raises(ssl.SSLCertVerificationError):
                untrusted = ssl.create_default_context()
                await asyncio.wait_for(client_for(fake, ssl=untrusted), 5)

    run(scenario)


def test_stalled_server_is_detected_by_keepalive_then_service_returns() -> None:
    async def scenario() -> None:
        async with (
            FakeAsterisk() as fake,
            client_for(
                fake, keepalive_interval=0.2, keepalive_timeout=0.2, connect_timeout=0.3
            ) as client,
        ):
            await asyncio.sleep(0.3)  # at least one Ping answered
            fake.stall()
            seen = await take_until(client, is_devstate("OUTOFSERVICE"), timeout=3)
            lost = seen[0]
            assert isinstance(lost, Diagnostic) and lost.code == "connection-lost"
            assert "keepalive" in lost.message
            fake.stall(False)
            await take_until(client, is_devstate("INSERVICE"), timeout=5)
            assert client.connected

    run(scenario)


def test_action_timeout_on_a_stalled_server() -> None:
    async def scenario() -> None:
        async with FakeAsterisk() as fake, client_for(fake) as client:
            fake.stall()
            with pytest.raises(ActionTimeoutError):
                await client.send_action(Action("Ping"), timeout=0.2)
            fake.stall(False)
            assert (await client.send_action(Action("Ping"))).ok

    run(scenario)


def test_slow_consumer_queue_is_bounded_and_drops_oldest() -> None:
    async def scenario() -> None:
        async with FakeAsterisk() as fake, client_for(fake, lines=LINES, queue_size=4) as client:
            await fake.inbound_call(
                list(LINES)
            )  # twelve events (ten and two records), nobody reading
            await asyncio.sleep(0.2)
            assert len(client._buffer) == 4
            seen = await take_until(client, is_state("Local/bob", LineCallState.IDLE))
            overflow = seen[0]
            assert isinstance(overflow, Diagnostic) and overflow.code == "queue-overflow"
            assert "8 oldest event(s) dropped" in overflow.message
            assert kinds(seen[1:]) == INBOUND[-2:]  # and bobbett's record; bob's follows
            assert client.dropped_events == 8

    run(scenario)


def test_without_reconnect_a_lost_connection_ends_the_events() -> None:
    async def scenario() -> None:
        async with FakeAsterisk() as fake:
            client = await asyncio.wait_for(client_for(fake, reconnect=False), 5)
            await fake.kill(mid_frame=False)
            seen: list[OutputEvent] = []
            with pytest.raises(ConnectionLostError):
                async for event in client.events():
                    seen.append(event)
            assert kinds(seen) == ["Diagnostic connection-lost", "LineDevState None OUTOFSERVICE"]
            await client.close()

    run(scenario)


def test_refused_credentials_on_reconnect_stop_the_client() -> None:
    async def scenario() -> None:
        async with FakeAsterisk() as fake:
            client = await asyncio.wait_for(client_for(fake, auth="plain"), 5)
            fake._secret = "rotated"  # the password changed while we were away
            await fake.restart(mid_frame=False)
            seen: list[OutputEvent] = []
            with pytest.raises(AuthenticationError):
                async for event in client.events():
                    seen.append(event)
            assert kinds(seen)[-1] == "Diagnostic authentication-failed"
            assert fake.connections == 2  # one refused attempt, no storm
            await client.close()

    run(scenario)


def test_reconnect_policy_is_exponential_capped_and_jittered() -> None:
    policy = ReconnectPolicy(initial_delay=0.5, max_delay=4.0, multiplier=2.0, jitter=0.5)
    assert [policy.delay(n, lambda: 0.0) for n in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert [policy.delay(n, lambda: 1.0) for n in range(3)] == [0.25, 0.5, 1.0]
    assert policy.delay(10_000, lambda: 0.0) == 4.0
    assert ReconnectPolicy(max_attempts=2).gives_up(2)
    assert not ReconnectPolicy().gives_up(10**6)
    with pytest.raises(ValueError):
        ReconnectPolicy(jitter=1.5)


def test_event_buffer_keeps_the_newest_and_reports_drops() -> None:
    buffer = EventBuffer(2)
    events = [Diagnostic("x", str(n)) for n in range(5)]
    for ev in events:
        buffer.put(ev)
    first = buffer.get()
    assert isinstance(first, Diagnostic) and first.code == "queue-overflow"
    assert [buffer.get(), buffer.get(), buffer.get()] == [events[3], events[4], None]
    assert buffer.dropped == 3


def test_library_docs_examples_run(tmp_path: Path) -> None:
    assert run_python_blocks("library.md", tmp_path) == 8


def _documented_connect_signature() -> str:
    """The ``connect(...)`` signature written in docs/library.md, blanks squeezed."""
    text = (Path(__file__).parent.parent / "docs" / "library.md").read_text(encoding="utf-8")
    start = text.index("`connect(host")
    return " ".join(text[start + 1 : text.index("`", start + 1)].split())


def _signature_as_documented(function: Callable[..., object]) -> str:
    parts: list[str] = []
    for param in inspect.signature(function).parameters.values():
        if param.kind is inspect.Parameter.KEYWORD_ONLY and "*" not in parts:
            parts.append("*")
        if param.default is inspect.Parameter.empty:
            parts.append(param.name)
        elif param.default is random.random:
            parts.append(f"{param.name}=random.random")
        elif isinstance(param.default, str):
            parts.append(f'{param.name}="{param.default}"')
        else:
            parts.append(f"{param.name}={param.default!r}")
    return f"connect({', '.join(parts)})"


@pytest.mark.parametrize("function", [connect, blocking.connect], ids=["aio", "blocking"])
def test_library_docs_state_the_whole_connect_signature(function: Callable[..., object]) -> None:
    """Both transports take what docs/library.md says, with the defaults it says."""
    assert _documented_connect_signature() == _signature_as_documented(function)


def test_transport_errors_are_their_own_family() -> None:
    """``except ProtocolError`` must not swallow an outage (issue 10 item 6)."""
    from tapievent import ProtocolError

    for error in (ActionFailedError, ActionTimeoutError, AuthenticationError, ConnectionLostError):
        assert issubclass(error, TransportError) and not issubclass(error, ProtocolError)
    assert not issubclass(TransportError, ProtocolError)
    assert issubclass(ActionTimeoutError, TimeoutError)
    # The base of the protocol family is only caught, never raised itself.
    package = Path(__file__).resolve().parent.parent / "tapievent"
    raising = [
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if "raise ProtocolError(" in path.read_text(encoding="utf-8")
    ]
    assert raising == []


class _NoReportingClass(FakeAsterisk):
    """A manager user without the system/reporting write class: CoreShowChannels refused."""

    async def _action_coreshowchannels(self, conn: Any, action: Any) -> None:
        self._reply(conn, action, ("Response", "Error"), ("Message", "Permission denied"))


def test_a_refused_resync_keeps_the_live_call_and_says_so() -> None:
    """Issue 15 #5: a refused CoreShowChannels used to end every live call
    (synthesized IDLE, stale-call), as if no channel were alive."""

    async def scenario() -> None:
        async with _NoReportingClass() as fake, client_for(fake, lines=LINES) as client:
            call = await fake.inbound_call(list(LINES), answer_on="Local/bob", hold=True)
            await take_until(client, is_state("Local/bobbett", LineCallState.IDLE))
            await fake.drop_connections()
            seen = await take_until(client, is_devstate("INSERVICE"))
            seen += await take_until(client, is_devstate("INSERVICE"))
            assert kinds(seen) == [
                "Diagnostic connection-lost",
                "LineDevState Local/bob OUTOFSERVICE",
                "LineDevState Local/bobbett OUTOFSERVICE",
                "Diagnostic resync-failed",
                "LineDevState Local/bob INSERVICE",
                "LineDevState Local/bobbett INSERVICE",
            ]
            assert client.tracker.call_count == 1 and client.connected
            await fake.hangup_call(call)
            seen = await take_until(client, is_state("Local/bob", LineCallState.IDLE))
            assert kinds(seen) == ["CallState Local/bob IDLE"]

    run(scenario)


_SHUTDOWN_WHILE_RECONNECTING = textwrap.dedent(
    """
        import asyncio
        import socket
        import threading

        from tapievent.testing import FakeAsterisk
        from tapievent.transports import ReconnectPolicy
        from tapievent.transports.aio import connect


        def hang_up_on_everyone(listener):
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                conn.close()


        async def main(port_holder):
            with FakeAsterisk.start_in_thread() as pbx:
                clients = [
                    await connect(
                        "127.0.0.1",
                        pbx.port,
                        username="tapi",
                        secret="tapisecret",
                        reconnect=ReconnectPolicy(initial_delay=0.0, max_delay=0.0, jitter=0.0),
                        connect_timeout=1.0,
                        keepalive_interval=None,
                    )
                    for _ in range(8)
                ]
                port = pbx.port
            # The PBX is gone; a peer that accepts and hangs up at once takes its port,
            # so every client keeps failing its login and retrying.
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", port))
            listener.listen(64)
            port_holder.append(listener)
            threading.Thread(target=hang_up_on_everyone, args=(listener,), daemon=True).start()
            for _ in range(60):
                await asyncio.sleep(0.005)
            assert not any(c.connected for c in clients)
            # main ends here without close(): asyncio.run cancels the reconnecting clients


        for _ in range(8):
            listeners = []
            asyncio.run(main(listeners))
            for listener in listeners:
                listener.close()
        print("returned")
    """
)


def test_asyncio_run_returns_when_main_leaves_a_reconnecting_client() -> None:
    """Issue 15 #12: on Python 3.11 ``wait_for`` could turn the shutdown's
    cancellation into the login's ConnectionLostError, which the reconnect
    loop caught and retried, so ``asyncio.run()`` never returned. The old
    client hung in 2 of 3 runs of this program (8 clients, 8 event loops)."""
    done = subprocess.run(
        [sys.executable, "-c", _SHUTDOWN_WHILE_RECONNECTING],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "returned\n"
