"""The blocking (threaded) transport against a FakeAsterisk running in a thread.

The same scenarios as the asyncio transport, over real loopback sockets;
every wait has a timeout so nothing can hang.
"""

from __future__ import annotations

import logging
import ssl
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
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
from tapievent.testing import FakeAsterisk, ThreadedFakeAsterisk
from tapievent.transports import (
    ActionFailedError,
    ActionTimeoutError,
    AuthenticationError,
    ConnectionLostError,
)
from tapievent.transports.blocking import Client, connect


@pytest.fixture
def server() -> Iterator[ThreadedFakeAsterisk]:
    with FakeAsterisk.start_in_thread() as handle:
        yield handle


def client_for(server: ThreadedFakeAsterisk, **kwargs: Any) -> Client:
    return connect(server.host, server.port, **client_options(**kwargs))


def take_until(
    client: Client, predicate: Callable[[OutputEvent], bool], timeout: float = 5.0
) -> list[OutputEvent]:
    seen: list[OutputEvent] = []
    while True:
        event = client.get_event(timeout)
        if event is None:
            raise AssertionError(f"no matching event within {timeout}s: {kinds(seen)}")
        seen.append(event)
        if predicate(event):
            return seen


def test_plain_login_ping_and_no_secret_in_repr_or_logs(
    server: ThreadedFakeAsterisk, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with client_for(server, auth="plain") as client:
        assert client.connected
        result = client.send_action(Action("Ping"))
        assert result.ok and result.response.get("Ping") == "Pong"
        assert SECRET not in repr(client)
    assert not client.connected
    assert server.fake.actions[0].get("Secret") == SECRET
    assert caplog.records
    assert all(SECRET not in r.getMessage() for r in caplog.records)


def test_md5_login_never_sends_the_secret(server: ThreadedFakeAsterisk) -> None:
    with client_for(server) as client:
        assert client.connected
    actions = server.fake.actions
    assert [a.get("Action") for a in actions[:2]] == ["Challenge", "Login"]
    assert all(a.get("Secret") is None for a in actions)
    assert actions[1].get("AuthType") == "MD5" and actions[1].get("Key")


def test_bad_secret_raises_authentication_error_once(server: ThreadedFakeAsterisk) -> None:
    with pytest.raises(AuthenticationError) as info:
        client_for(server, secret="wrong-secret")
    assert "tapi" in str(info.value) and "Authentication failed" in str(info.value)
    assert "wrong-secret" not in str(info.value)
    time.sleep(0.1)  # a client that retried on its own would have reconnected by now
    assert server.fake.connections == 1  # no retry storm


def test_connection_refused_is_an_oserror() -> None:
    handle = FakeAsterisk.start_in_thread()
    port = handle.port
    handle.stop()
    with pytest.raises(ConnectionRefusedError):
        connect("127.0.0.1", port, username="tapi", secret=SECRET)


def test_inbound_call_full_event_sequence(server: ThreadedFakeAsterisk) -> None:
    with client_for(server, lines=LINES) as client:
        call = server.call(server.fake.inbound_call, list(LINES), answer_on="Local/bob")
        seen = take_until(client, is_state("Local/bob", LineCallState.IDLE))
        assert kinds(seen) == INBOUND
        assert {ev.call_key for ev in seen if isinstance(ev, CallState)} == {call.unique_id}
        with client.lock:
            assert client.tracker.call_count == 0


def test_events_carry_the_time_their_bytes_were_read_and_the_source(
    server: ThreadedFakeAsterisk,
) -> None:
    with client_for(server, lines=LINES, source="pbx-b") as client:
        before = time.time()
        server.call(server.fake.inbound_call, list(LINES), answer_on="Local/bob")
        seen = take_until(client, is_state("Local/bob", LineCallState.IDLE))
        after = time.time()
        assert seen
        assert all(ev.time is not None and before <= ev.time <= after for ev in seen)
        assert {ev.source for ev in seen} == {"pbx-b"}


@pytest.mark.parametrize("response_first", [False, True], ids=["newcall-first", "response-first"])
@pytest.mark.parametrize("ami_version", ["11.0.0", "1.3"], ids=["channelid", "varset"])
def test_make_call_newcall_is_filtered_but_states_arrive(
    ami_version: str, response_first: bool
) -> None:
    """Asterisk 22 (ChannelId) and 11 (VarSet of our variable), with the
    dialplan's NEWCALL before and after the OriginateResponse."""
    with (
        FakeAsterisk.start_in_thread(
            ami_version=ami_version, originate_response_first=response_first
        ) as server,
        client_for(server, lines=["line_1"]) as client,
    ):
        handle = client.make_call(
            "line_1", "95551234", context="outbound", channel="Local/bob@phones-originate"
        )
        seen = take_until(client, is_state("line_1", LineCallState.IDLE))
        assert kinds(seen) == ["CallState line_1 CONNECTED", "CallState line_1 IDLE"]
        keys = {ev.call_key for ev in seen if isinstance(ev, CallState)}
        originate = next(a for a in server.fake.actions if a.get("Action") == "Originate")
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
        with client.lock:
            assert client.tracker.call_count == 0 and client.tracker.pending_count == 0


def test_refused_originate_raises_and_ends_the_handle() -> None:
    with (
        FakeAsterisk.start_in_thread(missing_extensions=["95550404"]) as server,
        client_for(server, lines=["line_1"]) as client,
    ):
        with pytest.raises(ActionFailedError, match="Extension does not exist"):
            client.make_call("line_1", "95550404", context="outbound", channel="Local/bob@phones")
        seen = take_until(client, is_state("line_1", LineCallState.IDLE))
        assert kinds(seen) == [
            "Diagnostic originate-refused",
            "CallState line_1 DISCONNECTED/0x800*",  # * = synthesized by tapievent
            "CallState line_1 IDLE*",
        ]
        with client.lock:
            assert client.tracker.pending_count == 0 and client.tracker.call_count == 0


def test_redirect_and_send_digits_name_the_calls_channel() -> None:
    with (
        FakeAsterisk.start_in_thread(call_duration=None) as server,
        client_for(server, lines=["line_1"]) as client,
    ):
        handle = client.make_call(
            "line_1", "95551234", context="outbound", channel="Local/bob@phones-originate"
        )
        take_until(client, is_state("line_1", LineCallState.CONNECTED))
        with client.lock:
            (call,) = client.tracker.snapshot()
        moved = client.redirect(handle, context="phones", exten="200")
        assert moved.ok and moved.response.get("Message") == "Redirect successful"
        digits = client.send_digits(handle, "12#")
        assert digits.ok and digits.response.get("Message") == "DTMF successfully queued"
        sent = [a for a in server.fake.actions if a.get("Action") in ("Redirect", "PlayDTMF")]
        assert [(a.get("Action"), a.get("Channel")) for a in sent] == [
            ("Redirect", call.channel),
            ("PlayDTMF", call.channel),
            ("PlayDTMF", call.channel),
            ("PlayDTMF", call.channel),
        ]
        assert call.channel == "Local/bob@phones-originate-00000000;1"
        assert (sent[0].get("Context"), sent[0].get("Exten")) == ("phones", "200")
        assert [a.get("Digit") for a in sent[1:]] == ["1", "2", "#"]
        assert client.hangup(handle).response.get("Message") == "Channel Hungup"
        take_until(client, is_state("line_1", LineCallState.IDLE))


def test_busy_destination_ends_the_handle_with_busy(server: ThreadedFakeAsterisk) -> None:
    with client_for(server, lines=["line_1"]) as client:
        client.make_call("line_1", "busy", context="outbound", channel="Local/bob@phones-originate")
        seen = take_until(client, is_state("line_1", LineCallState.IDLE))
        assert kinds(seen) == ["CallState line_1 DISCONNECTED/0x20*", "CallState line_1 IDLE*"]
        with client.lock:
            assert client.tracker.pending_count == 0 and client.tracker.call_count == 0


def test_garbage_from_the_server_is_survived(server: ThreadedFakeAsterisk) -> None:
    with client_for(server, lines=LINES) as client:
        server.call(server.fake.send_garbage)
        assert client.send_action(Action("Ping")).ok
        server.call(server.fake.inbound_call, list(LINES), answer_on="Local/bob")
        seen = take_until(client, is_state("Local/bob", LineCallState.IDLE))
        assert kinds(seen) == INBOUND
        assert client.connected and server.fake.connections == 1


def test_reset_connection_reconnects_and_keeps_the_live_call(
    server: ThreadedFakeAsterisk,
) -> None:
    with client_for(server, lines=LINES) as client:
        call = server.call(server.fake.inbound_call, list(LINES), answer_on="Local/bob", hold=True)
        take_until(client, is_state("Local/bobbett", LineCallState.IDLE))
        server.call(server.fake.drop_connections)
        seen = take_until(client, is_devstate("INSERVICE"))
        seen += take_until(client, is_devstate("INSERVICE"))
        assert kinds(seen) == [
            "Diagnostic connection-lost",
            "LineDevState Local/bob OUTOFSERVICE",
            "LineDevState Local/bobbett OUTOFSERVICE",
            "LineDevState Local/bob INSERVICE",
            "LineDevState Local/bobbett INSERVICE",
        ]
        with client.lock:
            assert client.tracker.call_count == 1
        assert server.fake.logins == 2
        server.call(server.fake.hangup_call, call)
        seen = take_until(client, is_state("Local/bob", LineCallState.IDLE))
        assert kinds(seen) == ["CallState Local/bob IDLE"]
        with client.lock:
            assert client.tracker.call_count == 0


def test_calls_from_several_threads_at_once(server: ThreadedFakeAsterisk) -> None:
    with client_for(server) as client:
        results: list[bool] = []
        lock = threading.Lock()

        def pinger() -> None:
            for _ in range(10):
                ok = client.send_action(Action("Ping")).ok
                with lock:
                    results.append(ok)

        threads = [threading.Thread(target=pinger) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert results == [True] * 40


def test_hangup_of_an_inbound_call_by_its_call_key(server: ThreadedFakeAsterisk) -> None:
    # A CTI application hangs up a call it did not make: it only knows the
    # call key from NewCall, and the tracker knows the channel to hang up.
    with client_for(server, lines=LINES) as client:
        call = server.call(server.fake.inbound_call, list(LINES), answer_on="Local/bob", hold=True)
        seen = take_until(client, is_state("Local/bob", LineCallState.CONNECTED))
        key = next(ev.call_key for ev in seen if isinstance(ev, NewCall))
        assert key == call.unique_id
        result = client.hangup(key)
        assert result.ok
        take_until(client, is_state("Local/bob", LineCallState.IDLE))
        hangup = [a for a in server.fake.actions if a.get("Action") == "Hangup"]
        assert len(hangup) == 1 and (hangup[0].get("Channel") or "").endswith(";2")
        with client.lock:
            assert client.tracker.call_count == 0


def test_server_killed_mid_frame_and_restarted_reconnects_and_reconciles(
    server: ThreadedFakeAsterisk,
) -> None:
    with client_for(server, lines=LINES) as client:
        server.call(server.fake.inbound_call, list(LINES), answer_on="Local/bob", hold=True)
        take_until(client, is_state("Local/bobbett", LineCallState.IDLE))
        server.call(server.fake.restart, mid_frame=True)
        seen = take_until(client, is_devstate("INSERVICE"))
        seen += take_until(client, is_devstate("INSERVICE"))
        assert kinds(seen) == [
            "Diagnostic protocol-error",
            "Diagnostic connection-lost",
            "LineDevState Local/bob OUTOFSERVICE",
            "LineDevState Local/bobbett OUTOFSERVICE",
            "Diagnostic stale-call",
            "CallState Local/bob IDLE*",
            "LineDevState Local/bob INSERVICE",
            "LineDevState Local/bobbett INSERVICE",
        ]
        with client.lock:
            assert client.tracker.call_count == 0
        assert server.fake.logins == 2
        assert client.send_action(Action("Ping")).ok


def test_tls_with_a_generated_certificate(tmp_path: Path) -> None:
    server_ctx, client_ctx = tls_contexts(tmp_path)
    with FakeAsterisk.start_in_thread(ssl=server_ctx) as server:
        with client_for(server, ssl=client_ctx, lines=LINES) as client:
            assert client.send_action(Action("Ping")).ok
            server.call(server.fake.inbound_call, list(LINES))
            seen = take_until(client, is_state("Local/bob", LineCallState.IDLE))
            assert kinds(seen) == INBOUND
        with pytest.raises(ssl.SSLCertVerificationError):
            client_for(server, ssl=ssl.create_default_context())


def test_stalled_server_is_detected_by_keepalive_then_service_returns(
    server: ThreadedFakeAsterisk,
) -> None:
    with client_for(
        server, keepalive_interval=0.2, keepalive_timeout=0.2, connect_timeout=0.3
    ) as client:
        server.stall()
        seen = take_until(client, is_devstate("OUTOFSERVICE"), timeout=3)
        lost = seen[0]
        assert isinstance(lost, Diagnostic) and lost.code == "connection-lost"
        assert "keepalive" in lost.message
        server.stall(False)
        take_until(client, is_devstate("INSERVICE"), timeout=5)
        assert client.connected


def test_action_timeout_on_a_stalled_server(server: ThreadedFakeAsterisk) -> None:
    with client_for(server) as client:
        server.stall()
        with pytest.raises(ActionTimeoutError):
            client.send_action(Action("Ping"), timeout=0.2)
        server.stall(False)
        assert client.send_action(Action("Ping")).ok


def test_slow_consumer_queue_is_bounded_and_drops_oldest(server: ThreadedFakeAsterisk) -> None:
    with client_for(server, lines=LINES, queue_size=4) as client:
        server.call(server.fake.inbound_call, list(LINES))
        assert client.send_action(Action("Ping")).ok  # every event has been read by now
        seen = take_until(client, is_state("Local/bob", LineCallState.IDLE))
        overflow = seen[0]
        assert isinstance(overflow, Diagnostic) and overflow.code == "queue-overflow"
        assert "8 oldest event(s) dropped" in overflow.message
        assert kinds(seen[1:]) == INBOUND[-2:]  # and bobbett's record; bob's follows
        assert client.dropped_events == 8


def test_without_reconnect_a_lost_connection_ends_the_events(
    server: ThreadedFakeAsterisk,
) -> None:
    client = client_for(server, reconnect=False)
    server.call(server.fake.kill, mid_frame=False)
    seen: list[OutputEvent] = []
    with pytest.raises(ConnectionLostError):
        for event in client.events():
            seen.append(event)
    assert kinds(seen) == ["Diagnostic connection-lost", "LineDevState None OUTOFSERVICE"]
    client.close()


def test_refused_credentials_on_reconnect_stop_the_client(server: ThreadedFakeAsterisk) -> None:
    client = client_for(server, auth="plain")
    server.fake._secret = "rotated"
    server.call(server.fake.restart, mid_frame=False)
    seen: list[OutputEvent] = []
    with pytest.raises(AuthenticationError):
        for event in client.events():
            seen.append(event)
    assert kinds(seen)[-1] == "Diagnostic authentication-failed"
    assert server.fake.connections == 2
    client.close()


_FLOODER = textwrap.dedent(
    """
    import re, socket, time
    listener = socket.create_server(("127.0.0.1", 0))
    print(listener.getsockname()[1], flush=True)
    listener.settimeout(10)
    conn, _ = listener.accept()
    login = b""
    while b"\\r\\n\\r\\n" not in login:
        login += conn.recv(65536)
    action_id = re.search(rb"ActionID: ([^\\r]+)", login).group(1)
    conn.sendall(
        b"Asterisk Call Manager/11.0.0\\r\\n"
        b"Response: Success\\r\\nActionID: %s\\r\\nMessage: Authentication accepted\\r\\n\\r\\n"
        % action_id
    )
    newcall = (
        b"Event: UserEvent\\r\\nUserEvent: TAPI\\r\\nUniqueid: 1.1\\r\\n"
        b"TAPIEVENT: LINE_NEWCALL Local/bob\\r\\n\\r\\n"
    )
    noise = b"Event: Newexten\\r\\nChannel: Local/x\\r\\nApplication: Wait\\r\\n\\r\\n"
    block = newcall + noise * 16000
    sent, deadline = 0, time.monotonic() + 3.0
    try:
        while sent < 48 * 2**20 and time.monotonic() < deadline:
            conn.sendall(block)
            sent += len(block)
    except OSError:
        pass
    print(sent, flush=True)
    """
)


def test_a_flooding_peer_cannot_grow_memory_or_delay_close() -> None:
    """Issue 15 #10: the I/O thread read until the socket would block, so a
    flooding peer grew memory by hundreds of MiB, starved events and
    keepalive, and close() took up to 72 s. Bounded in time (3 s) and bytes
    (48 MiB); memory is measured with tracemalloc, not with a clock."""
    import tracemalloc

    flooder = subprocess.Popen(
        [sys.executable, "-c", _FLOODER],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert flooder.stdout is not None
        port = int(flooder.stdout.readline())
        tracemalloc.start()
        try:
            client = connect(
                "127.0.0.1",
                port,
                username="tapi",
                secret="x",
                auth="plain",
                reconnect=False,
                queue_size=50,
                keepalive_interval=0.2,
                keepalive_timeout=30.0,
            )
            first = client.get_event(timeout=10)
            assert first is not None  # events are delivered during the flood
            time.sleep(1.0)
            _, peak = tracemalloc.get_traced_memory()
            client.close(timeout=1.0)
            io_thread = client._thread
        finally:
            tracemalloc.stop()
        assert io_thread is not None and not io_thread.is_alive()
        # Measured: 0.8 MiB (bounded reads); the old unbounded reads kept
        # everything the peer could write before the socket ran dry.
        assert peak < 12 * 2**20, f"peak {peak / 2**20:.0f} MiB while flooded"
    finally:
        flooder.kill()
        flooder.wait(10)
        assert flooder.stdout is not None
        flooder.stdout.close()
