"""The Connection object on its own, sans-IO: driven with bytes, captures first."""

from __future__ import annotations

from pathlib import Path

import pytest

from tapievent import NEED_DATA, LocalProtocolError
from tapievent.ami_codec import Action, Banner, Message, encode_message
from tapievent.connection import Connection, ConnectionEvent
from tapievent.model import (
    CallDirection,
    CallRecord,
    CallState,
    Diagnostic,
    Disposition,
    LineCallState,
    LineDevState,
    LineDevStateFlag,
    NewCall,
)
from tapievent.session import ActionResult, AuthenticationFailed, LoginSucceeded

CAPTURES = Path(__file__).parent / "data" / "asterisk-22.10.1"
SECRET = "tapisecret"
BANNER = b"Asterisk Call Manager/11.0.0\r\n"
K05 = "1795667804.1"  # the inbound call of capture 05


def capture(name: str) -> bytes:
    return (CAPTURES / f"{name}.ami").read_bytes()


def drain(conn: Connection) -> list[ConnectionEvent]:
    out: list[ConnectionEvent] = []
    while (event := conn.next_event()) is not NEED_DATA:
        assert not isinstance(event, type(NEED_DATA))
        out.append(event)
    return out


def feed(conn: Connection, data: bytes) -> list[ConnectionEvent]:
    conn.receive_data(data)
    return drain(conn)


def lines(block: bytes) -> list[bytes]:
    """The lines of one written action, Action first, the others in any order
    (the capture's client wrote ActionID last, tapievent writes it second)."""
    first, *rest = block.split(b"\r\n")
    return [first, *sorted(rest)]


def frame(*pairs: tuple[str, str]) -> bytes:
    return encode_message(Message.from_pairs(*pairs))


def logged_in(**kwargs: object) -> Connection:
    conn = Connection("tapi", SECRET, auth="plain", **kwargs)  # type: ignore[arg-type]
    conn.login(action_id="login")
    conn.data_to_send()
    events = feed(conn, BANNER + frame(("Response", "Success"), ("ActionID", "login")))
    assert [type(e) for e in events if not isinstance(e, Banner)] == [LoginSucceeded]
    return conn


def test_plain_login_from_the_capture() -> None:
    conn = Connection("tapi", SECRET, auth="plain", events=None)
    conn.login(action_id="login")
    assert lines(conn.data_to_send()) == lines(
        b"Action: Login\r\nUsername: tapi\r\nSecret: tapisecret\r\nActionID: login\r\n\r\n"
    )
    data = capture("01-login-plain")
    cut = data.index(b"Response: Success\r\nActionID: ping-1")
    events = feed(conn, data[:cut])
    assert [type(e) for e in events] == [LoginSucceeded]  # no raw frames unless asked
    assert conn.can_send and conn.in_service
    conn.send_action(Action("Ping", action_id="ping-1"))
    assert conn.data_to_send() == b"Action: Ping\r\nActionID: ping-1\r\n\r\n"
    bye = data.index(b"Response: Goodbye")
    (result,) = feed(conn, data[cut:bye])
    assert isinstance(result, ActionResult) and result.ok
    assert result.response.get("Ping") == "Pong"
    conn.logoff()
    assert conn.data_to_send().startswith(b"Action: Logoff\r\n")


@pytest.mark.parametrize("raw", [False, True], ids=["tapi-only", "raw-too"])
def test_md5_login_from_the_capture_with_and_without_raw_events(raw: bool) -> None:
    conn = Connection("tapi", SECRET, events=None, raw_events=raw)
    conn.login(challenge_action_id="chal-1", action_id="login-md5")
    assert lines(conn.data_to_send()) == lines(
        b"Action: Challenge\r\nAuthType: MD5\r\nActionID: chal-1\r\n\r\n"
    )
    data = capture("02-login-md5")
    events = feed(conn, data[: data.index(b"Response: Success\r\nActionID: ping-md5")])
    # The Login with the key follows the challenge by itself; the secret never goes out.
    login = conn.data_to_send()
    assert b"Key: edfe2a35fa4136bbcfe9295eecb68f9b\r\n" in login and SECRET.encode() not in login
    kinds = [type(e).__name__ for e in events]
    if raw:
        assert kinds == ["Banner", "LoginSucceeded", "Message", "Message"]
        assert [e.event for e in events if isinstance(e, Message)] == [
            "FullyBooted",
            "SuccessfulAuth",
        ]
        assert isinstance(events[0], Banner) and events[0].version == (11, 0, 0)
    else:
        assert kinds == ["LoginSucceeded"]
    assert conn.tracker.server_version == (11, 0, 0)  # the tracker saw the banner either way


def test_a_refused_login_is_an_event_and_its_error_names_no_secret() -> None:
    conn = Connection("tapi", "wrong-secret", auth="plain")
    conn.login(action_id="login")
    refused = frame(
        ("Response", "Error"), ("ActionID", "login"), ("Message", "Authentication failed")
    )
    (event,) = feed(conn, BANNER + refused)
    assert isinstance(event, AuthenticationFailed)
    error = conn.refusal(event)
    assert "'tapi'" in str(error) and "Authentication failed" in str(error)
    assert "wrong-secret" not in str(error)
    assert not conn.can_send


def test_make_call_through_to_the_tracker_from_the_capture() -> None:
    data = capture("06b-scenario2-outbound-channelid")
    conn = Connection("tapi", SECRET, auth="plain", lines=["line_1"])
    conn.login(action_id="login")
    cut = data.index(b"\r\n\r\n", data.index(b"ActionID: login")) + 4
    assert [type(e) for e in feed(conn, data[:cut])] == [LoginSucceeded]
    conn.data_to_send()
    handle = conn.make_call(
        "line_1",
        "95551234",
        context="outbound",
        channel="Local/bob@phones-originate",
        caller_id='"Bob" <201>',
        action_id="out-2",
        channel_id="tapi-out-0001",
        other_channel_id="tapi-out-0001-2",
    )
    wire = conn.data_to_send()
    assert wire.startswith(b"Action: Originate\r\n") and b"ActionID: out-2\r\n" in wire
    assert b"ChannelId: tapi-out-0001\r\n" in wire
    assert conn.tracker.pending_count == 1
    rest = data[cut : data.index(b"Response: Success\r\nActionID: out-3")]
    events = feed(conn, rest)
    results = [e for e in events if isinstance(e, ActionResult)]
    assert [r.action_id for r in results] == ["out-2"] and results[0].ok
    states = [e for e in events if isinstance(e, CallState)]
    assert [(s.call_key, s.state) for s in states] == [
        ("tapi-out-0001", LineCallState.DISCONNECTED),
        ("tapi-out-0001", LineCallState.IDLE),
    ]
    assert conn.tracker.call_key_of(handle) is None  # ended and freed
    assert conn.tracker.pending_count == 0 and conn.tracker.call_count == 0


def test_a_refused_originate_ends_its_handle_through_the_one_door() -> None:
    conn = logged_in(lines=["line_1"])
    handle = conn.make_call("line_1", "95550404", context="outbound", channel="Local/bob@phones")
    refused = frame(
        ("Response", "Error"),
        ("ActionID", handle.action_id),
        ("Message", "Extension does not exist."),
    )
    events = feed(conn, refused)
    assert [type(e).__name__ for e in events] == [
        "Diagnostic",
        "CallState",
        "CallState",
        "CallRecord",
        "ActionResult",
    ]
    diagnostic, disconnected, idle, record, result = events
    assert isinstance(diagnostic, Diagnostic) and diagnostic.code == "originate-refused"
    assert isinstance(disconnected, CallState) and disconnected.synthesized
    assert isinstance(idle, CallState) and idle.state is LineCallState.IDLE
    assert isinstance(record, CallRecord) and record.disposition is Disposition.FAILED
    assert record.direction is CallDirection.APPLICATION and record.line == "line_1"
    assert isinstance(result, ActionResult) and not result.ok
    assert conn.tracker.pending_count == 0


def test_make_call_that_cannot_be_sent_registers_nothing() -> None:
    """Issue 15 #6: a refused make_call must not hold a pending originate."""
    conn = Connection("tapi", SECRET, lines=["line_1"], max_calls=1)
    with pytest.raises(LocalProtocolError, match="no session"):
        conn.make_call("line_1", "1", context="c", channel="Local/a")
    conn = logged_in(lines=["line_1"], max_calls=1)
    for _ in range(2):
        with pytest.raises(LocalProtocolError):
            conn.make_call("line_1", "1", context="c", channel="Local/a", caller_id="x\r\ny")
    assert conn.tracker.pending_count == 0
    conn.make_call("line_1", "1", context="c", channel="Local/a")  # the limit is free
    assert conn.tracker.pending_count == 1


def test_make_call_the_session_refuses_is_withdrawn_from_the_tracker() -> None:
    """Issue 15 #6, the runtime half: the tracker registered the Originate, the
    session then refused to queue it (its pinned ActionID is already pending),
    so nothing was sent and nothing may wait for an answer."""
    conn = logged_in(lines=["line_1"], max_calls=1)
    conn.send_action(Action("Ping", action_id="pinned-1"))
    with pytest.raises(LocalProtocolError, match="already pending"):
        conn.make_call("line_1", "1", context="c", channel="Local/a", action_id="pinned-1")
    assert conn.tracker.pending_count == 0
    conn.make_call("line_1", "1", context="c", channel="Local/a")  # max_calls=1 is free
    assert conn.tracker.pending_count == 1


def _live_call(conn: Connection) -> None:
    """Feed the start of capture 05's inbound call to line_1 (still ringing)."""
    data = capture("05-scenario1-inbound")
    start = data.index(b"\r\n\r\n", data.index(b"Authentication accepted")) + 4
    cut = data.index(b"SET CALLERID")
    cut = data.index(b"\r\n\r\n", cut) + 4
    feed(conn, data[start:cut])
    assert conn.tracker.call_count == 1


def _list(action_id: str, *uniqueids: str) -> bytes:
    out = frame(
        ("Response", "Success"),
        ("ActionID", action_id),
        ("EventList", "start"),
        ("Message", "Channels will follow"),
    )
    for uid in uniqueids:
        out += frame(("Event", "CoreShowChannel"), ("ActionID", action_id), ("Uniqueid", uid))
    return out + frame(
        ("Event", "CoreShowChannelsComplete"),
        ("ActionID", action_id),
        ("EventList", "Complete"),
        ("ListItems", str(len(uniqueids))),
    )


def _reconnect(conn: Connection) -> list[ConnectionEvent]:
    conn.connection_lost("reset by peer")
    lost = drain(conn)
    conn.login(action_id="login-2")
    feed(conn, BANNER + frame(("Response", "Success"), ("ActionID", "login-2")))
    assert conn.can_send and not conn.in_service  # not until the resync settled
    return lost


def _devstates(events: list[ConnectionEvent]) -> list[tuple[str | None, LineDevStateFlag]]:
    return [(e.line, e.state) for e in events if isinstance(e, LineDevState)]


@pytest.mark.parametrize("alive", [True, False], ids=["call-alive", "call-ended"])
def test_resync_after_a_reconnect_reconciles_then_inservice(alive: bool) -> None:
    conn = logged_in(lines=["line_1"])
    _live_call(conn)
    lost = _reconnect(conn)
    assert isinstance(lost[0], Diagnostic) and lost[0].code == "connection-lost"
    assert "reset by peer" in lost[0].message
    assert _devstates(lost) == [("line_1", LineDevStateFlag.OUTOFSERVICE)]
    action_id = conn.resync()
    assert b"Action: CoreShowChannels\r\n" in conn.data_to_send() and conn.resyncing
    events = feed(conn, _list(action_id, *([K05] if alive else [])))
    codes = [e.code for e in events if isinstance(e, Diagnostic)]
    assert codes == ([] if alive else ["stale-call"])
    assert _devstates(events) == [("line_1", LineDevStateFlag.INSERVICE)]
    assert isinstance(events[-1], ActionResult) and events[-1].action_id == action_id
    assert conn.tracker.call_count == (1 if alive else 0) and conn.in_service


def test_a_refused_resync_keeps_the_calls_and_says_so() -> None:
    """Issue 15 #5: a user without the reporting class gets Permission denied."""
    conn = logged_in(lines=["line_1"])
    _live_call(conn)
    _reconnect(conn)
    action_id = conn.resync()
    denied = frame(("Response", "Error"), ("ActionID", action_id), ("Message", "Permission denied"))
    events = feed(conn, denied)
    (diagnostic,) = [e for e in events if isinstance(e, Diagnostic)]
    assert diagnostic.code == "resync-failed" and "Permission denied" in diagnostic.message
    assert not any(isinstance(e, CallState) for e in events)
    assert _devstates(events) == [("line_1", LineDevStateFlag.INSERVICE)]
    assert conn.tracker.call_count == 1 and conn.in_service


def test_a_lost_connection_before_service_returned_says_nothing_more() -> None:
    conn = logged_in()
    _reconnect(conn)
    conn.connection_lost("again")
    assert drain(conn) == [] and conn.session is None


def test_refused_credentials_after_an_earlier_login_are_diagnosed() -> None:
    conn = logged_in()
    conn.connection_lost("reset")
    drain(conn)
    conn.login(action_id="login-2")
    refused = frame(
        ("Response", "Error"), ("ActionID", "login-2"), ("Message", "Authentication failed")
    )
    events = feed(conn, BANNER + refused)
    assert [type(e).__name__ for e in events] == ["Diagnostic", "AuthenticationFailed"]
    assert isinstance(events[0], Diagnostic) and events[0].code == "authentication-failed"


def test_a_bad_frame_costs_only_that_frame() -> None:
    conn = logged_in(raw_events=True)
    events = feed(conn, b"Event: A\r\n" + b"x" * 70_000 + b"\r\n\r\nEvent: B\r\n\r\n")
    assert isinstance(events[0], Diagnostic) and events[0].code == "protocol-error"
    assert [e.event for e in events if isinstance(e, Message)] == ["B"]


def test_hangup_redirect_and_digits_queue_their_actions() -> None:
    conn = logged_in(lines=["line_1"])
    _live_call(conn)
    conn.data_to_send()
    conn.hangup(K05)
    conn.redirect(K05, context="phones", exten="200")
    ids = conn.send_digits(K05, "1#")
    wire = conn.data_to_send()
    assert wire.count(b"Action: ") == 4 and len(ids) == 2
    assert b"Action: Hangup\r\n" in wire and b"Action: Redirect\r\n" in wire
    assert wire.count(b"Action: PlayDTMF\r\n") == 2
    with pytest.raises(LocalProtocolError):
        conn.send_digits(K05, "1x")  # every digit is checked before any is queued
    assert conn.data_to_send() == b""


def test_a_call_that_ended_during_the_outage_gets_its_record_at_the_resync() -> None:
    """Issue 13: one record per NewCall across a reconnect. The call rang when
    the connection was lost and is gone when CoreShowChannels answers: its
    record is synthesized, ends when the answer arrived and names the source."""
    conn = logged_in(lines=["line_1"], source="office")
    data = capture("05-scenario1-inbound")
    start = data.index(b"\r\n\r\n", data.index(b"Authentication accepted")) + 4
    cut = data.index(b"\r\n\r\n", data.index(b"SET CALLERID")) + 4
    conn.receive_data(data[start:cut], time=1000.0)
    (newcall,) = [e for e in drain(conn) if isinstance(e, NewCall)]
    assert (newcall.time, newcall.source) == (1000.0, "office")
    conn.connection_lost("reset by peer", time=1002.0)
    drain(conn)
    conn.login(action_id="login-2")
    feed(conn, BANNER + frame(("Response", "Success"), ("ActionID", "login-2")))
    action_id = conn.resync()
    conn.receive_data(_list(action_id), time=1010.0)
    events = drain(conn)
    (record,) = [e for e in events if isinstance(e, CallRecord)]
    assert record.line == "line_1" and record.synthesized and record.source == "office"
    assert (record.start, record.end) == (1000.0, 1010.0)
    assert record.disposition is Disposition.ABANDONED  # nobody answered before it vanished
    assert conn.tracker.call_count == 0
