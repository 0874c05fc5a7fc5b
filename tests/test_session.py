"""The AMI session state machine: captured login flows, matching rules, secrets."""

from __future__ import annotations

import hashlib
import re
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest
from docs_examples import run_python_blocks
from hypothesis import given
from hypothesis import strategies as st

from tapievent import LocalProtocolError, ProtocolError, RemoteProtocolError, _session_table
from tapievent.ami_codec import NEED_DATA, Action, AMIDecoder, Banner, Message
from tapievent.session import (
    ActionResult,
    AMISession,
    AuthenticationFailed,
    ConnectionClosed,
    Goodbye,
    LoginSucceeded,
    PermissionDenied,
    SessionEvent,
    SessionState,
    UnmatchedResponse,
)

CAPTURES = Path(__file__).parent / "data" / "asterisk-22.10.1"

# --------------------------------------------------------------------------
# Capture files
# --------------------------------------------------------------------------

_SENT_HEADER = re.compile(r"^--- t=([\d.]+)s\s+(\d+) bytes ---$")


def sent_blocks(name: str) -> list[tuple[float, bytes]]:
    """The client's writes of a capture: ``(seconds since connect, bytes)``.

    ``*.sent.txt`` shows ``\\r\\n`` literally, one header per line; a line
    without it was sent with a bare LF. The stated byte count ends a block.
    """
    blocks: list[tuple[float, bytes]] = []
    lines = (CAPTURES / f"{name}.sent.txt").read_text(encoding="utf-8").split("\n")
    i = 0
    while i < len(lines):
        match = _SENT_HEADER.match(lines[i])
        i += 1
        if match is None:
            continue
        size = int(match.group(2))
        data = b""
        while len(data) < size:
            line = lines[i]
            i += 1
            if line.endswith("\\r\\n"):
                data += line[:-4].encode() + b"\r\n"
            else:
                data += line.encode() + b"\n"
        assert len(data) == size, (name, data)
        blocks.append((float(match.group(1)), data))
    return blocks


def received_chunks(name: str) -> list[tuple[float, bytes]]:
    """The server's bytes as the recorder's ``recv()`` calls returned them."""
    data = (CAPTURES / f"{name}.ami").read_bytes()
    rows = (CAPTURES / f"{name}.timing.tsv").read_text(encoding="utf-8").splitlines()[1:]
    chunks = []
    for row in rows:
        t, offset, length = row.split("\t")
        chunks.append((float(t), data[int(offset) : int(offset) + int(length)]))
    assert b"".join(c for _, c in chunks) == data
    return chunks


def one_byte(chunks: list[tuple[float, bytes]]) -> list[tuple[float, bytes]]:
    return [(t, chunk[i : i + 1]) for t, chunk in chunks for i in range(len(chunk))]


def parse_action(block: bytes) -> Action | None:
    """The Action a well-formed CRLF block encodes, or None for the capture's
    deliberately malformed writes (no colon, empty Action, bare LF)."""
    if not block.endswith(b"\r\n\r\n"):
        return None
    pairs = []
    for line in block[:-4].split(b"\r\n"):
        name, sep, value = line.decode().partition(": ")
        if not sep or not name or "\n" in line.decode():
            return None
        pairs.append((name, value))
    if pairs[0][0] != "Action":
        return None
    headers = tuple(p for p in pairs[1:] if p[0] != "ActionID")
    ids = [v for n, v in pairs[1:] if n == "ActionID"]
    return Action(pairs[0][1], headers, ids[0] if ids else None)


# --------------------------------------------------------------------------
# Replaying a capture through a session
# --------------------------------------------------------------------------


def drain(session: AMISession) -> list[SessionEvent]:
    out: list[SessionEvent] = []
    while True:
        event = session.next_event()
        if event is NEED_DATA:
            return out
        out.append(event)


@attrs.define
class Replay:
    events: list[SessionEvent]
    written: list[bytes]  # what the session queued, one entry per capture block
    raw: list[bytes]  # blocks the session could not or would not send


def replay(
    name: str,
    session: AMISession,
    chunks: list[tuple[float, bytes]],
    *,
    key_line: bytes | None = None,
) -> Replay:
    """Drive ``session`` through capture ``name`` in recorded time order.

    Each write of ``*.sent.txt`` is made through the session's own API at its
    recorded time: ``login()`` with the capture's ActionIDs, ``logoff()``,
    ``send_action()`` with the same ActionID; the MD5 Login is the session's
    own follow-up to the Challenge. What the session queues must be the
    capture's write, header for header. Blocks that are malformed on purpose, or
    actions the session must refuse in its state (Ping before login), are
    "raw": written behind the session's back, as a buggy client would.

    Send times are rounded to milliseconds in the capture while receive times
    are not: a send is placed before every chunk received after ``t - 0.5 ms``,
    and the session's own MD5 Login is checked once every chunk up to
    ``t + 0.5 ms`` has been fed.
    """
    blocks = sent_blocks(name)
    timeline: list[tuple[float, int, int]] = []  # (time, order, index)
    for index, (t, block) in enumerate(blocks):
        action = parse_action(block)
        auto = action is not None and action.name == "Login" and session_is_md5(session)
        timeline.append((t + 0.0005, 0, index) if auto else (t - 0.0005, 0, index))
    for index, (t, _) in enumerate(chunks):
        timeline.append((t, 1, index))
    timeline.sort()

    result = Replay([], [], [])
    for _, kind, index in timeline:
        if kind == 1:
            session.receive_data(chunks[index][1])
            result.events += drain(session)
            continue
        block = blocks[index][1]
        action = parse_action(block)
        sent = _send_block(session, action, blocks, index)
        written = session.data_to_send()
        if not sent:
            assert written == b""
            result.raw.append(block)
            continue
        if key_line is not None and b"\r\nKey: " in block:
            block = re.sub(rb"Key: [0-9a-f]{32}\r\n", key_line, block)
        # Same action, headers, order and ActionID as the real client's
        # write (the codec puts ActionID right after Action:, the recorder
        # put it last; Asterisk does not care where it is).
        assert parse_action(written) == parse_action(block), (name, index, written)
        result.written.append(written)
    session.receive_eof()
    result.events += drain(session)
    return result


def session_is_md5(session: AMISession) -> bool:
    return "auth='md5'" in repr(session)


def _send_block(
    session: AMISession, action: Action | None, blocks: list[tuple[float, bytes]], index: int
) -> bool:
    if action is None:
        return False
    if action.name == "Challenge":
        following = parse_action(blocks[index + 1][1])
        assert following is not None and following.name == "Login"
        session.login(challenge_action_id=action.action_id, action_id=following.action_id)
    elif action.name == "Login":
        if not session_is_md5(session):
            session.login(action_id=action.action_id)
        # md5: the session wrote the Login itself when the challenge arrived.
    elif action.name == "Logoff":
        session.logoff(action_id=action.action_id)
    elif session.state is SessionState.AUTHENTICATED:
        session.send_action(action)
    else:
        with pytest.raises(LocalProtocolError, match="not allowed in state"):
            session.send_action(action)
        return False
    return True


def _describe_result(event: ActionResult) -> str:
    text = f"Result {event.action_id} {'ok' if event.ok else 'error'}"
    if event.is_list:
        text += f" items={len(event.events)} listed={event.listed_count}"
    return text


_DESCRIBE: dict[type, Callable[[Any], str]] = {
    Banner: lambda e: f"Banner {'.'.join(map(str, e.version))}",
    Message: lambda e: f"Event {e.event}",
    LoginSucceeded: lambda e: f"LoginSucceeded {e.message.action_id}",
    AuthenticationFailed: lambda e: f"AuthenticationFailed {e.reason}",
    PermissionDenied: lambda e: f"PermissionDenied {e.response.action_id}",
    ActionResult: _describe_result,
    UnmatchedResponse: lambda e: f"Unmatched {e.response.action_id or '-'}",
    Goodbye: lambda e: f"Goodbye {e.response.action_id}",
    ConnectionClosed: lambda e: f"Closed expected={e.expected} unanswered={list(e.unanswered)}",
}


def describe(event: SessionEvent) -> str:
    """A one-line summary so an expected sequence reads like the capture."""
    return _DESCRIBE[type(event)](event)


CHUNKINGS: dict[str, Callable[[list[tuple[float, bytes]]], list[tuple[float, bytes]]]] = {
    "recorded": lambda chunks: chunks,
    "1-byte": one_byte,
}


def plain(secret: str = "tapisecret", user: str = "tapi") -> AMISession:
    # events=None: the captures' Login had no Events header.
    return AMISession(user, secret, auth="plain", events=None)


def md5(secret: str = "tapisecret") -> AMISession:
    return AMISession("tapi", secret, auth="md5", events=None)


# --------------------------------------------------------------------------
# Login flows driven by the captured server replies
# --------------------------------------------------------------------------


@pytest.mark.parametrize("chunking", CHUNKINGS)
def test_plain_login_ping_logoff(chunking: str) -> None:
    session = plain()
    run = replay("01-login-plain", session, CHUNKINGS[chunking](received_chunks("01-login-plain")))
    assert [describe(e) for e in run.events] == [
        "Banner 11.0.0",
        "LoginSucceeded login",
        "Event FullyBooted",
        "Event SuccessfulAuth",
        "Result ping-1 ok",
        "Goodbye logoff-1",
        "Closed expected=True unanswered=[]",
    ]
    assert len(run.written) == 3 and run.raw == []
    assert session.state is SessionState.CLOSED
    assert session.banner == Banner((11, 0, 0), "Asterisk Call Manager/11.0.0")
    result = run.events[4]
    assert isinstance(result, ActionResult)
    assert result.action == Action("Ping", (), "ping-1")
    assert result.response.get("Ping") == "Pong"


@pytest.mark.parametrize("chunking", CHUNKINGS)
def test_md5_login_computes_the_captured_key(chunking: str) -> None:
    # The capture's challenge and the known secret give the key the real
    # client sent; the session must compute exactly that key by itself.
    data = (CAPTURES / "02-login-md5.ami").read_bytes()
    challenge = re.search(rb"Challenge: (\d+)\r\n", data)
    assert challenge is not None
    key = hashlib.md5(challenge.group(1) + b"tapisecret").hexdigest()
    sent_txt = (CAPTURES / "02-login-md5.sent.txt").read_text(encoding="utf-8")
    assert f"Key: {key}\\r\\n" in sent_txt

    session = md5()
    run = replay("02-login-md5", session, CHUNKINGS[chunking](received_chunks("02-login-md5")))
    assert f"Key: {key}\r\n".encode() in run.written[1]  # also compared whole in replay()
    assert [describe(e) for e in run.events] == [
        "Banner 11.0.0",
        "LoginSucceeded login-md5",
        "Event FullyBooted",
        "Event SuccessfulAuth",
        "Result ping-md5 ok",
        "Goodbye logoff",
        "Closed expected=True unanswered=[]",
    ]
    assert len(run.written) == 4 and run.raw == []


@pytest.mark.parametrize("chunking", CHUNKINGS)
def test_wrong_secret_after_permission_denied(chunking: str) -> None:
    session = plain(secret="wrongsecret")
    run = replay(
        "03a-login-failed-secret",
        session,
        CHUNKINGS[chunking](received_chunks("03a-login-failed-secret")),
    )
    # The Ping before login is refused by the session and written raw; the
    # server's "Permission denied" for it is a typed outcome, not a crash.
    assert [parse_action(b) for b in run.raw] == [Action("Ping", (), "ping-before-login")]
    assert [describe(e) for e in run.events] == [
        "Banner 11.0.0",
        "PermissionDenied ping-before-login",
        "AuthenticationFailed Authentication failed",
        "Closed expected=True unanswered=[]",
    ]
    denied = run.events[1]
    assert isinstance(denied, PermissionDenied) and denied.reason == "Permission denied"
    assert session.state is SessionState.FAILED


@pytest.mark.parametrize("chunking", CHUNKINGS)
def test_unknown_user(chunking: str) -> None:
    session = plain(secret="x", user="nosuchuser")
    name = "03b-login-failed-nouser"
    run = replay(name, session, CHUNKINGS[chunking](received_chunks(name)))
    assert [describe(e) for e in run.events] == [
        "Banner 11.0.0",
        "AuthenticationFailed Authentication failed",
        "Closed expected=True unanswered=[]",
    ]
    assert session.state is SessionState.FAILED
    with pytest.raises(LocalProtocolError, match="FAILED"):
        session.login()


@pytest.mark.parametrize("chunking", CHUNKINGS)
def test_wrong_md5_key(chunking: str) -> None:
    # The capture sent an all-zero key on purpose; no secret yields it, so
    # the session's Login must equal the capture's except for its real key.
    name = "03c-login-failed-md5key"
    data = (CAPTURES / f"{name}.ami").read_bytes()
    challenge = re.search(rb"Challenge: (\d+)\r\n", data)
    assert challenge is not None
    key = hashlib.md5(challenge.group(1) + b"not-the-secret").hexdigest()
    session = md5(secret="not-the-secret")
    run = replay(
        name,
        session,
        CHUNKINGS[chunking](received_chunks(name)),
        key_line=f"Key: {key}\r\n".encode(),
    )
    assert [describe(e) for e in run.events] == [
        "Banner 11.0.0",
        "AuthenticationFailed Authentication failed",
        "Closed expected=True unanswered=[]",
    ]
    failed = run.events[1]
    assert isinstance(failed, AuthenticationFailed)
    assert failed.response is not None and failed.response.action_id == "login-badkey"


MISC_EXPECTED = [
    "Banner 11.0.0",
    "LoginSucceeded login",
    "Event FullyBooted",
    "Event SuccessfulAuth",
    "Result ping-1 ok",
    "Result cmd-1 ok",
    "Result cmd-2 ok",
    "Result csc-1 ok items=0 listed=0",
    "Result ev-off ok",
    "Result ev-calluser ok",
    "Result ev-bogus ok",
    "Result ev-on ok",
    "Result ue-1 ok",
    # The UserEvent *action*'s event carries ue-1 but is an event.
    "Event UserEvent",
    "Result unk-1 error",
    "Event RequestBadFormat",
    "Result orig-missing error",
    # Answers to the raw, malformed writes: nothing of ours is waiting.
    "Unmatched malformed-1",
    "Event RequestBadFormat",
    "Unmatched malformed-2",
    "Event RequestBadFormat",
    "Unmatched lf-only",
    "Unmatched -",
    "Unmatched -",
    "Event RequestBadFormat",
    "Event RequestBadFormat",
    "Result ping-2 ok",
    "Result lc-1 ok",
    "Goodbye logoff-1",
    "Closed expected=True unanswered=[]",
]


def check_misc(run: Replay) -> None:
    assert [describe(e) for e in run.events] == MISC_EXPECTED
    results = {e.action_id: e for e in run.events if isinstance(e, ActionResult)}
    assert results["cmd-1"].action == Action(
        "Command", (("Command", "core show version"),), "cmd-1"
    )
    assert results["cmd-1"].response.output_lines[0].startswith("Asterisk 22.10.1 built by")
    assert results["cmd-2"].response.output_lines[1:] == (
        "0 active channels",
        "0 active calls",
        "0 calls processed",
    )
    listing = results["csc-1"]
    assert listing.complete is not None and listing.complete.event == "CoreShowChannelsComplete"
    assert [results[i].response.get("Events") for i in ("ev-off", "ev-calluser", "ev-on")] == [
        "Off",
        "On",
        "On",
    ]
    assert (results["unk-1"].response.get("Message") or "").startswith("Invalid/unknown command")
    user_event = run.events[MISC_EXPECTED.index("Event UserEvent")]
    assert isinstance(user_event, Message) and user_event.action_id == "ue-1"
    assert [b.split(b"\r\n")[0] for b in run.raw] == [
        b"this line has no colon",
        b"Action:",
        b"Action: Ping\nActionID: lf-only\n\n",
        b"",
    ]


@pytest.mark.parametrize("chunking", CHUNKINGS)
def test_misc_actions(chunking: str) -> None:
    session = plain()
    check_misc(
        replay("04-misc-actions", session, CHUNKINGS[chunking](received_chunks("04-misc-actions")))
    )


@given(st.data())
def test_misc_actions_any_chunking(data: st.DataObject) -> None:
    # Every recorded chunk split again at random points: same events.
    chunks = []
    for t, chunk in received_chunks("04-misc-actions"):
        cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(chunk) - 1)), max_size=4)))
        for a, b in zip([0, *cuts], [*cuts, len(chunk)], strict=True):
            if a < b:
                chunks.append((t, chunk[a:b]))
    check_misc(replay("04-misc-actions", plain(), chunks))


# --------------------------------------------------------------------------
# Synthetic server replies (other Asterisk versions)
# --------------------------------------------------------------------------


def state_of(session: AMISession) -> SessionState:
    # A call, so mypy does not keep an earlier narrowing of the property.
    return session.state


def msg(*pairs: tuple[str, str]) -> Message:
    return Message.from_pairs(*pairs)


def ok(action_id: str | None, *extra: tuple[str, str]) -> Message:
    pairs = [("Response", "Success")]
    if action_id is not None:
        pairs.append(("ActionID", action_id))
    return msg(*pairs, *extra)


def logged_in(version: tuple[int, ...] = (1, 1), **kwargs: object) -> AMISession:
    """A session past login, driven with frames built by hand."""
    session = AMISession("tapi", "tapisecret", auth="plain", **kwargs)  # type: ignore[arg-type]
    session.handle_frame(Banner(version, "Asterisk Call Manager/" + ".".join(map(str, version))))
    session.login(action_id="login")
    session.handle_frame(ok("login", ("Message", "Authentication accepted")))
    events = drain(session)
    assert isinstance(events[-1], LoginSucceeded)
    session.data_to_send()
    return session


def feed(session: AMISession, *frames: Banner | Message) -> list[SessionEvent]:
    for frame in frames:
        session.handle_frame(frame)
    return drain(session)


def test_login_carries_events_mask_and_generated_ids() -> None:
    session = AMISession("tapi", "s3cret", auth="plain", events="call,user")
    session.login()
    assert parse_action(session.data_to_send()) == Action(
        "Login",
        (("Username", "tapi"), ("Secret", "s3cret"), ("Events", "call,user")),
        "tapievent-1",
    )
    md5_session = AMISession("tapi", "s3cret", action_id_prefix="app7-")
    md5_session.login()
    assert parse_action(md5_session.data_to_send()) == Action(
        "Challenge", (("AuthType", "MD5"),), "app7-1"
    )
    assert md5_session.state is SessionState.CHALLENGE_SENT
    md5_session.handle_frame(ok("app7-1", ("Challenge", "123456789")))
    key = hashlib.md5(b"123456789s3cret").hexdigest()
    assert parse_action(md5_session.data_to_send()) == Action(
        "Login",
        (("AuthType", "MD5"), ("Username", "tapi"), ("Key", key), ("Events", "on")),
        "app7-2",
    )
    assert state_of(md5_session) is SessionState.LOGIN_SENT


def test_generated_action_ids_count_up_and_skip_taken_ones() -> None:
    session = logged_in()
    first = session.send_action(Action("Ping"))
    taken = session.send_action(Action("Ping", action_id="tapievent-2"))
    third = session.send_action(Action("Ping"))
    assert (first, taken, third) == ("tapievent-1", "tapievent-2", "tapievent-3")
    assert session.pending == ("tapievent-1", "tapievent-2", "tapievent-3")


def test_fifo_fallback_for_ping_without_action_id() -> None:
    # Asterisk 1.6.0/1.6.1 answer Ping with "Response: Success"/"Ping: Pong"
    # and no ActionID: the oldest awaited action gets it.
    session = logged_in()
    first = session.send_action(Action("Ping"))
    second = session.send_action(Action("Ping"))
    events = feed(session, ok(None, ("Ping", "Pong")))
    assert [(e.action_id, e.ok) for e in events if isinstance(e, ActionResult)] == [(first, True)]
    events = feed(session, ok(None, ("Ping", "Pong")))
    assert [e.action_id for e in events if isinstance(e, ActionResult)] == [second]
    assert session.pending == ()
    assert feed(session, ok(None, ("Ping", "Pong"))) == [
        UnmatchedResponse(ok(None, ("Ping", "Pong")))
    ]


def test_fifo_fallback_skips_answered_lists_and_takes_oldest_unanswered() -> None:
    # 1.6.0-1.8.4 Events answers without ActionID. An event list whose ack
    # already came is not "awaiting a response" and must not take it.
    session = logged_in()
    listing = session.send_action(Action("CoreShowChannels"))
    events_action = session.send_action(Action("Events", (("EventMask", "off"),)))
    ping = session.send_action(Action("Ping"))
    assert feed(session, ok(listing, ("EventList", "start"))) == []
    # The Ping's response (with its ID) overtakes nothing: order is by ID.
    assert [describe(e) for e in feed(session, ok(None, ("Events", "Off")))] == [
        f"Result {events_action} ok"
    ]
    assert [describe(e) for e in feed(session, ok(ping, ("Ping", "Pong")))] == [f"Result {ping} ok"]
    done = feed(session, msg(("Event", "CoreShowChannelsComplete"), ("ActionID", listing)))
    assert [describe(e) for e in done] == [f"Result {listing} ok items=0 listed=None"]


@pytest.mark.parametrize(
    ("response", "expected_ok"),
    [("Pong", True), ("Events On", True), ("Events Off", True), ("Error", False)],
)
def test_asterisk_1_2_and_1_4_response_values(response: str, expected_ok: bool) -> None:
    # 1.2/1.4: Ping answers "Response: Pong", Events "Response: Events On|Off".
    session = logged_in(version=(1, 0))
    action_id = session.send_action(Action("Events", (("EventMask", "on"),)))
    (result,) = feed(session, msg(("Response", response), ("ActionID", action_id)))
    assert isinstance(result, ActionResult)
    assert result.ok is expected_ok and not result.is_list


def status_item(action_id: str, channel: str) -> Message:
    return msg(("Event", "Status"), ("Channel", channel), ("ActionID", action_id))


def test_list_completed_by_status_complete_with_items() -> None:
    # 1.6-11: StatusComplete ends the list with "Items: N" and no EventList.
    session = logged_in()
    action_id = session.send_action(Action("Status"))
    ack = ok(action_id, ("EventList", "start"), ("Message", "Channel status will follow"))
    items = [status_item(action_id, "SIP/a-1"), status_item(action_id, "SIP/b-2")]
    complete = msg(("Event", "StatusComplete"), ("ActionID", action_id), ("Items", "2"))
    noise = msg(("Event", "Newchannel"), ("Channel", "SIP/c-3"))
    events = feed(session, ack, items[0], noise, items[1], complete)
    assert events[0] == noise
    result = events[1]
    assert isinstance(result, ActionResult)
    assert result.events == tuple(items) and result.complete == complete
    assert result.listed_count == 2 and result.ok and len(events) == 2


def test_list_with_the_1_6_0_eventlist_spelling() -> None:
    session = logged_in()
    action_id = session.send_action(Action("CoreShowChannels"))
    ack = ok(action_id, ("Eventlist", "start"), ("Message", "Channels will follow"))
    item = msg(("Event", "CoreShowChannel"), ("ActionID", action_id), ("Channel", "SIP/a-1"))
    complete = msg(
        ("Event", "CoreShowChannelsComplete"),
        ("Eventlist", "Complete"),
        ("ListItems", "1"),
        ("ActionID", action_id),
    )
    (result,) = feed(session, ack, item, complete)
    assert isinstance(result, ActionResult)
    assert result.events == (item,) and result.listed_count == 1


def test_list_1_4_will_follow_without_eventlist() -> None:
    session = logged_in(version=(1, 0))
    action_id = session.send_action(Action("Status"))
    ack = ok(action_id, ("Message", "Channel status will follow"))
    item = status_item(action_id, "Zap/1-1")
    complete = msg(("Event", "StatusComplete"), ("ActionID", action_id))
    assert feed(session, ack, item) == []
    assert session.pending == (action_id,)
    (result,) = feed(session, complete)
    assert isinstance(result, ActionResult)
    assert result.is_list and result.events == (item,) and result.listed_count is None


def test_list_items_over_the_limit_are_counted_not_kept() -> None:
    session = logged_in(max_list_events=2)
    action_id = session.send_action(Action("Status"))
    items = [status_item(action_id, f"SIP/{n}") for n in range(5)]
    complete = msg(("Event", "StatusComplete"), ("ActionID", action_id), ("Items", "5"))
    (result,) = feed(session, ok(action_id, ("EventList", "start")), *items, complete)
    assert isinstance(result, ActionResult)
    assert result.events == tuple(items[:2]) and result.items_dropped == 3


def originate_response(action_id: str) -> Message:
    return msg(
        ("Event", "OriginateResponse"),
        ("Privilege", "call,all"),
        ("ActionID", action_id),
        ("Response", "Success"),
        ("Channel", "Local/100@inbound-00000000;1"),
        ("Reason", "4"),
    )


def test_originate_response_never_completes_the_originate() -> None:
    session = logged_in()
    action_id = session.send_action(
        Action("Originate", (("Channel", "Local/1@x"), ("Async", "yes")))
    )
    early = originate_response(action_id)
    # Even arriving before the action's own response, it is only an event.
    assert feed(session, early) == [early]
    assert session.pending == (action_id,)
    queued = ok(action_id, ("Message", "Originate successfully queued"))
    (result,) = feed(session, queued)
    assert isinstance(result, ActionResult) and result.response == queued
    late = originate_response(action_id)
    assert feed(session, late) == [late]


def test_originate_response_is_not_a_list_item() -> None:
    # Asterisk broadcasts OriginateResponse with its ActionID to every
    # session: a foreign one must not slip into our open list.
    session = logged_in()
    action_id = session.send_action(Action("CoreShowChannels"))
    foreign = originate_response(action_id)
    complete = msg(("Event", "CoreShowChannelsComplete"), ("ActionID", action_id))
    events = feed(session, ok(action_id, ("EventList", "start")), foreign, complete)
    assert events[0] == foreign
    assert isinstance(events[1], ActionResult) and events[1].events == ()


def test_events_between_action_and_response_stay_in_order() -> None:
    session = logged_in()
    action_id = session.send_action(Action("Ping"))
    hangup = msg(("Event", "Hangup"), ("Uniqueid", "1.1"))
    user_event = msg(("Event", "UserEvent"), ("UserEvent", "TAPI"), ("TAPIEVENT", "LINE_NEWCALL l"))
    events = feed(session, hangup, user_event, ok(action_id, ("Ping", "Pong")))
    assert [describe(e) for e in events] == [
        "Event Hangup",
        "Event UserEvent",
        f"Result {action_id} ok",
    ]
    assert events[:2] == [hangup, user_event]


def test_eof_mid_login_closes_unexpectedly() -> None:
    session = AMISession("tapi", "tapisecret", auth="plain")
    session.login()
    session.receive_data(b"Asterisk Call Manager/11.0.0\r\n")
    assert drain(session) == [Banner((11, 0, 0), "Asterisk Call Manager/11.0.0")]
    session.receive_eof()
    assert drain(session) == [ConnectionClosed(expected=False)]
    assert session.state is SessionState.CLOSED
    with pytest.raises(LocalProtocolError, match=r"login.* not allowed in state CLOSED"):
        session.login()


def test_eof_reports_the_actions_that_never_got_an_answer() -> None:
    session = logged_in()
    session.send_action(Action("Ping", action_id="p1"))
    session.send_action(Action("Status", action_id="s1"))
    session.send_action(Action("Ping", action_id="p2"))
    feed(session, ok("p1"), ok("s1", ("EventList", "start")))
    session.receive_eof()
    assert drain(session) == [ConnectionClosed(expected=False, unanswered=("s1", "p2"))]
    assert session.pending == ()


def test_login_before_the_banner_is_allowed() -> None:
    session = AMISession("tapi", "tapisecret", auth="plain", events=None)
    session.login(action_id="login")
    assert session.state is SessionState.LOGIN_SENT
    session.receive_data((CAPTURES / "01-login-plain.ami").read_bytes()[:300])
    assert [describe(e) for e in drain(session)] == [
        "Banner 11.0.0",
        "LoginSucceeded login",
        "Event FullyBooted",
    ]
    assert state_of(session) is SessionState.AUTHENTICATED


def test_challenge_refused() -> None:
    session = AMISession("tapi", "tapisecret")
    session.handle_frame(Banner((1, 0), "Asterisk Call Manager/1.0"))
    session.login()
    refused = msg(
        ("Response", "Error"), ("ActionID", "tapievent-1"), ("Message", "Must specify AuthType")
    )
    assert feed(session, refused)[1:] == [AuthenticationFailed("Must specify AuthType", refused)]
    assert session.state is SessionState.FAILED and session.data_to_send().count(b"Login") == 0


def test_challenge_without_challenge_header_fails_cleanly() -> None:
    session = AMISession("tapi", "tapisecret")
    session.login()
    session.handle_frame(Banner((1, 1), "Asterisk Call Manager/1.1"))
    (failed,) = feed(session, ok("tapievent-1"))[1:]
    assert isinstance(failed, AuthenticationFailed)
    assert "no challenge" in failed.reason and session.state is SessionState.FAILED


def test_authentication_required_before_login_on_1_2() -> None:
    session = AMISession("tapi", "tapisecret", auth="plain")
    session.handle_frame(Banner((1, 0), "Asterisk Call Manager/1.0"))
    denied = msg(("Response", "Error"), ("ActionID", "x"), ("Message", "Authentication Required"))
    assert feed(session, denied)[1:] == [PermissionDenied(denied)]
    assert session.state is SessionState.UNAUTHENTICATED


def test_id_less_permission_denied_is_not_taken_as_the_login_answer() -> None:
    # 1.4: a raw pre-login request without ActionID is answered
    # "Authentication Required" without one; FIFO must not give it to Login.
    session = AMISession("tapi", "tapisecret", auth="plain")
    session.handle_frame(Banner((1, 0), "Asterisk Call Manager/1.0"))
    session.login()
    denied = msg(("Response", "Error"), ("Message", "Authentication Required"))
    accepted = ok(None, ("Message", "Authentication accepted"))
    assert feed(session, denied, accepted)[1:] == [
        PermissionDenied(denied),
        LoginSucceeded(accepted),
    ]


def test_permission_denied_after_login_is_an_ordinary_error_result() -> None:
    session = logged_in()
    action_id = session.send_action(Action("Originate", (("Channel", "Local/1@x"),)))
    denied = msg(("Response", "Error"), ("ActionID", action_id), ("Message", "Permission denied"))
    (result,) = feed(session, denied)
    assert isinstance(result, ActionResult) and not result.ok


def test_logoff_before_login_on_1_4_says_see_ya() -> None:
    session = AMISession("tapi", "tapisecret", auth="plain")
    session.handle_frame(Banner((1, 0), "Asterisk Call Manager/1.0"))
    session.logoff(action_id="bye")
    see_ya = ok("bye", ("Message", "See ya"))
    assert feed(session, see_ya)[1:] == [Goodbye(see_ya)]
    assert session.state is SessionState.CLOSED


def test_results_of_actions_sent_before_logoff_still_arrive() -> None:
    session = logged_in()
    action_id = session.send_action(Action("Ping"))
    session.logoff()
    assert session.state is SessionState.LOGGING_OFF
    with pytest.raises(
        LocalProtocolError, match=r"send_action\(\) is not allowed in state LOGGING_OFF"
    ):
        session.send_action(Action("Ping"))
    events = feed(
        session,
        ok(action_id, ("Ping", "Pong")),
        msg(("Response", "Goodbye"), ("ActionID", "tapievent-2")),
    )
    assert [describe(e) for e in events] == [f"Result {action_id} ok", "Goodbye tapievent-2"]
    with pytest.raises(RemoteProtocolError, match="in state CLOSED"):
        session.handle_frame(msg(("Event", "Newchannel")))
    session.receive_eof()
    assert drain(session) == [ConnectionClosed(expected=True)]


def test_invalid_transitions_name_state_and_input() -> None:
    session = AMISession("tapi", "tapisecret")
    with pytest.raises(
        LocalProtocolError, match=r"send_action\(\) is not allowed in state AWAIT_BANNER"
    ):
        session.send_action(Action("Ping"))
    with pytest.raises(
        LocalProtocolError, match=r"logoff\(\) is not allowed in state AWAIT_BANNER"
    ):
        session.logoff()
    with pytest.raises(
        RemoteProtocolError, match="received an event is not allowed in state AWAIT_BANNER"
    ):
        session.handle_frame(msg(("Event", "FullyBooted")))
    # The refused frame changed nothing: the session goes on normally.
    assert feed(session, Banner((11, 0, 0), "Asterisk Call Manager/11.0.0"))[0] == Banner(
        (11, 0, 0), "Asterisk Call Manager/11.0.0"
    )
    with pytest.raises(RemoteProtocolError, match="second banner"):
        session.handle_frame(Banner((11, 0, 0), "Asterisk Call Manager/11.0.0"))
    session.login()
    with pytest.raises(LocalProtocolError, match="not allowed in state CHALLENGE_SENT"):
        session.login()
    assert session.state is SessionState.CHALLENGE_SENT


def test_send_action_refusals_leave_no_trace() -> None:
    session = logged_in()
    session.send_action(Action("Ping", action_id="p"))
    session.data_to_send()
    refusals = [
        (Action("Login", (("Username", "x"),)), "login"),
        (Action("logoff"), "logoff"),
        (Action("Ping", (("ActionID", "y"),)), "action_id"),
        (Action("Ping", action_id="p"), "already pending"),
        (Action("Ping", action_id=""), "empty"),
        (Action("Setvar", (("Value", "a\r\nAction: Hangup"),)), "Value"),
    ]
    for action, words in refusals:
        with pytest.raises(LocalProtocolError, match=words):
            session.send_action(action)
    assert session.data_to_send() == b"" and session.pending == ("p",)
    assert session.state is SessionState.AUTHENTICATED


def test_cancelled_action_turns_its_late_response_into_unmatched() -> None:
    session = logged_in()
    lost = session.send_action(Action("Events", (("EventMask", ""),)))  # 1.2: never answered
    ping = session.send_action(Action("Ping"))
    assert session.cancel(lost) and not session.cancel(lost)
    # Without the cancel, FIFO would hand the Ping's answer to the lost action.
    (result,) = feed(session, ok(None, ("Ping", "Pong")))
    assert isinstance(result, ActionResult) and result.action_id == ping
    late = ok(lost)
    assert feed(session, late) == [UnmatchedResponse(late)]


def test_unmatched_response_after_login() -> None:
    session = logged_in()
    stray = msg(("Response", "Error"), ("ActionID", "nobody"), ("Message", "Permission denied"))
    assert feed(session, stray) == [UnmatchedResponse(stray)]


# --------------------------------------------------------------------------
# Secrets
# --------------------------------------------------------------------------

SECRET = "Sup3r-S3cret-Value"


def _texts(exc: BaseException) -> Iterator[str]:
    yield str(exc)
    yield repr(exc)
    yield "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    if exc.__context__ is not None:
        yield from _texts(exc.__context__)


def test_secret_never_in_repr_exception_or_event() -> None:
    captured: list[BaseException] = []

    def attempt(call: Callable[[], object]) -> None:
        try:
            call()
        except ProtocolError as exc:
            captured.append(exc)

    session = AMISession("tapi", SECRET, auth="md5")
    reprs = [repr(session), str(session)]
    attempt(lambda: session.send_action(Action("Ping")))
    session.login()
    session.handle_frame(Banner((11, 0, 0), "Asterisk Call Manager/11.0.0"))
    session.handle_frame(ok("tapievent-1", ("Challenge", "885909314")))
    wire = session.data_to_send()
    key = hashlib.md5(b"885909314" + SECRET.encode()).hexdigest()
    assert key.encode() in wire  # the key does reach the wire: the checks below can fail
    reprs += [repr(session), repr(drain(session))]
    attempt(lambda: session.login())
    attempt(lambda: session.handle_frame(Banner((1, 0), "again")))
    session.handle_frame(ok("tapievent-2", ("Message", "Authentication accepted")))
    reprs += [repr(session), repr(drain(session))]
    attempt(lambda: session.send_action(Action("Login", (("Secret", "x"),))))
    attempt(lambda: session.login())
    # Bad credentials are refused without being quoted.
    attempt(lambda: AMISession("tapi", SECRET + "\r\nAction: Originate"))
    attempt(lambda: AMISession("tapi\n", SECRET))
    attempt(lambda: AMISession("tapi", SECRET, auth="plain", events="on\r\n").login())
    plain_session = AMISession("tapi", SECRET, auth="plain")
    plain_session.login()
    assert SECRET.encode() in plain_session.data_to_send()
    reprs += [repr(plain_session)]
    plain_session.handle_frame(Banner((1, 1), "Asterisk Call Manager/1.1"))
    failed = msg(
        ("Response", "Error"), ("ActionID", "tapievent-1"), ("Message", "Authentication failed")
    )
    reprs += [repr(feed(plain_session, failed))]

    assert len(captured) == 8
    texts = reprs + [text for exc in captured for text in _texts(exc)]
    for text in texts:
        assert SECRET not in text and key not in text


# --------------------------------------------------------------------------
# Property tests
# --------------------------------------------------------------------------


def _noise(draw: st.DrawFn, kind: int, action_ids: list[str]) -> list[Message]:
    """Nothing (0), an unrelated event, an OriginateResponse or a stray response."""
    if kind == 1:
        return [msg(("Event", "Newchannel"), ("Uniqueid", "1.1"))]
    if kind == 2:
        return [originate_response(draw(st.sampled_from(action_ids)))]
    if kind == 3:
        return [ok("never-sent")]
    return []


def _answer_frame(action_id: str, token: int, items: int) -> Message:
    """Token 0 is the response, 99 the list's completion, others its items."""
    if token == 0:
        if items >= 0:
            return ok(action_id, ("EventList", "start"))
        return ok(action_id, ("Ping", "Pong"))
    if token == 99:
        return msg(("Event", "XComplete"), ("ActionID", action_id), ("ListItems", str(items)))
    return msg(("Event", "XItem"), ("ActionID", action_id), ("N", str(token)))


@st.composite
def interleavings(draw: st.DrawFn) -> tuple[list[tuple[str, int]], list[Message]]:
    """Actions, then every frame answering them in a random legal order,
    with unsolicited events and stray responses mixed in."""
    count = draw(st.integers(1, 6))
    actions = [(f"a{i}", draw(st.integers(-1, 3))) for i in range(count)]
    tokens: list[tuple[str, int]] = []
    for action_id, items in actions:
        tokens.append((action_id, 0))
        if items >= 0:
            tokens += [(action_id, n) for n in range(1, items + 1)] + [(action_id, 99)]
    shuffled = draw(st.permutations(tokens))
    # Put each action's own tokens back in protocol order (ack, items,
    # complete) in the slots the shuffle gave them: a random legal interleaving.
    slots: dict[str, list[int]] = {}
    for position, (action_id, _) in enumerate(shuffled):
        slots.setdefault(action_id, []).append(position)
    ordered: list[tuple[str, int]] = list(shuffled)
    for action_id, positions in slots.items():
        mine = sorted(t for t in tokens if t[0] == action_id)
        for position, mine_token in zip(positions, mine, strict=True):
            ordered[position] = mine_token
    frames: list[Message] = []
    for action_id, token in ordered:
        frames += _noise(draw, draw(st.integers(0, 3)), [a for a, _ in actions])
        frames.append(_answer_frame(action_id, token, dict(actions)[action_id]))
    return actions, frames


@given(interleavings())
def test_every_action_completes_exactly_once_in_any_order(
    plan: tuple[list[tuple[str, int]], list[Message]],
) -> None:
    actions, frames = plan
    session = logged_in()
    for action_id, items in actions:
        session.send_action(Action("X" if items >= 0 else "Ping", action_id=action_id))
    events = feed(session, *frames)
    results = [e for e in events if isinstance(e, ActionResult)]
    assert sorted(r.action_id for r in results) == sorted(a for a, _ in actions)
    for result in results:
        items = dict(actions)[result.action_id]
        assert [e.get("N") for e in result.events] == [str(n) for n in range(1, items + 1)]
        assert result.listed_count == (items if items >= 0 else None)
    unsolicited = [e for e in events if isinstance(e, Message)]
    assert all(e.event in ("Newchannel", "OriginateResponse") for e in unsolicited)
    assert len(unsolicited) == sum(
        1 for f in frames if f.event in ("Newchannel", "OriginateResponse")
    )
    strays = [e for e in events if isinstance(e, UnmatchedResponse)]
    assert len(strays) == sum(1 for f in frames if f.action_id == "never-sent")
    assert session.pending == ()


@given(st.lists(st.sampled_from(["Ping", "Events", "Command"]), min_size=1, max_size=8))
def test_id_less_responses_complete_actions_in_send_order(names: list[str]) -> None:
    session = logged_in()
    sent = [session.send_action(Action(name)) for name in names]
    events = feed(session, *[ok(None) for _ in names])
    assert [e.action_id for e in events if isinstance(e, ActionResult)] == sent


_header_names = st.sampled_from(
    [
        "Event",
        "Response",
        "ActionID",
        "EventList",
        "Message",
        "ListItems",
        "Items",
        "Challenge",
        "X",
    ]
)
_header_values = st.sampled_from(
    [
        "Success",
        "Error",
        "start",
        "Complete",
        "OriginateResponse",
        "StatusComplete",
        "a0",
        "a1",
        "tapievent-1",
        "tapievent-2",
        "Goodbye",
        "will follow",
        "Permission denied",
        "1",
        "",
    ]
)
_frames = st.one_of(
    st.builds(
        lambda pairs: Message(tuple(pairs)),
        st.lists(st.tuples(_header_names, _header_values), max_size=5),
    ),
    st.just(Banner((11, 0, 0), "Asterisk Call Manager/11.0.0")),
)
_operations = st.one_of(
    st.tuples(st.just("frame"), _frames),
    st.tuples(st.just("login"), st.none()),
    st.tuples(st.just("logoff"), st.none()),
    st.tuples(st.just("send"), st.sampled_from(["Ping", "Status", "Originate"])),
    st.tuples(st.just("cancel"), st.sampled_from(["a0", "tapievent-3"])),
    st.tuples(st.just("eof"), st.none()),
)


@given(st.sampled_from(["md5", "plain"]), st.lists(_operations, max_size=30))
def test_arbitrary_sequences_raise_only_documented_errors(
    auth: str, operations: Sequence[tuple[str, object]]
) -> None:
    session = AMISession("tapi", SECRET, auth=auth)  # type: ignore[arg-type]
    completed: list[str] = []
    # Every state change is one step of the single transition table.
    steps = {(state, target) for (state, _), target in _session_table.TRANSITIONS.items()}
    for op, arg in operations:
        start = session.state
        if op == "frame":
            assert isinstance(arg, (Banner, Message))
            try:
                session.handle_frame(arg)
            except RemoteProtocolError as exc:
                assert session.state.name in str(exc) or "banner" in str(exc)
        elif op == "eof":
            session.receive_eof()
        elif op == "cancel":
            assert isinstance(arg, str)
            session.cancel(arg)
        else:
            before = session.state
            try:
                if op == "login":
                    session.login()
                elif op == "logoff":
                    session.logoff()
                else:
                    assert isinstance(arg, str)
                    session.send_action(Action(arg))
            except LocalProtocolError as exc:
                assert before.name in str(exc) and session.state is before
        for event in drain(session):
            assert SECRET not in repr(event)
            if isinstance(event, ActionResult):
                completed.append(event.action_id)
        assert session.state is start or (start, session.state) in steps, (op, start)
    assert len(completed) == len(set(completed))
    assert SECRET not in repr(session)


_wire_pieces = st.sampled_from(
    [
        b"Asterisk Call Manager/11.0.0\r\n",
        b"Response: Success\r\n",
        b"Response: Error\r\n",
        b"Response: Follows\r\n",
        b"--END COMMAND--\r\n",
        b"ActionID: tapievent-1\r\n",
        b"ActionID: tapievent-2\r\n",
        b"Event: Hangup\r\n",
        b"Event: XComplete\r\n",
        b"EventList: start\r\n",
        b"Challenge: 42\r\n",
        b"Message: Permission denied\r\n",
        b"no colon\r\n",
        b"x" * 300 + b"\r\n",
        b"\r\n",
        b"\n",
    ]
)


def drain_tolerant(session: AMISession) -> tuple[list[SessionEvent], int]:
    events: list[SessionEvent] = []
    errors = 0
    while True:
        try:
            event = session.next_event()
        except RemoteProtocolError:
            errors += 1
            continue
        if event is NEED_DATA:
            return events, errors
        events.append(event)


@given(
    st.sampled_from(["md5", "plain"]),
    st.lists(_wire_pieces | st.binary(max_size=12), max_size=40),
    st.integers(1, 64),
)
def test_arbitrary_bytes_raise_only_remote_errors_and_always_end_closed(
    auth: str, pieces: list[bytes], read_size: int
) -> None:
    # Whatever arrives, next_event() raises nothing but RemoteProtocolError
    # (decoder limits, frames not allowed in the state), keeps going after
    # each, and the stream always ends with exactly one ConnectionClosed.
    session = AMISession(
        "tapi",
        SECRET,
        auth=auth,  # type: ignore[arg-type]
        decoder=AMIDecoder(max_line_bytes=200),
    )
    session.login()
    stream = b"".join(pieces)
    events: list[SessionEvent] = []
    for start in range(0, len(stream), read_size):
        session.receive_data(stream[start : start + read_size])
        events += drain_tolerant(session)[0]
    session.receive_eof()
    events += drain_tolerant(session)[0]
    closes = [e for e in events if isinstance(e, ConnectionClosed)]
    assert len(closes) == 1 and events[-1] is closes[0]
    assert session.state in (SessionState.CLOSED, SessionState.FAILED)
    assert all(SECRET not in repr(e) for e in events)


# --------------------------------------------------------------------------
# Documentation
# --------------------------------------------------------------------------


def test_docs_examples_run(tmp_path: Path) -> None:
    assert run_python_blocks("session.md", tmp_path) >= 3


@pytest.mark.parametrize("auth", ["md5", "plain"])
@pytest.mark.parametrize("bad", ["\ud800", "\udfff", "\udc00"])
def test_unencodable_secret_is_refused_up_front_without_carrying_it(auth: str, bad: str) -> None:
    """Issue 15 #4: a lone surrogate that UTF-8 (with surrogateescape) cannot
    write used to pass, and with MD5 failed only when the challenge came, as a
    raw UnicodeEncodeError whose ``.object`` was the whole secret."""
    secret = "hunter2" + bad
    with pytest.raises(LocalProtocolError, match="secret cannot be encoded") as info:
        AMISession("tapi", secret, auth="md5" if auth == "md5" else "plain")
    exc = info.value
    assert exc.__context__ is None and exc.__cause__ is None
    assert all("hunter2" not in text for text in _texts(exc))
    assert all("hunter2" not in repr(arg) for arg in exc.args)


def test_surrogate_escaped_bytes_in_a_secret_still_log_in() -> None:
    # A secret read from a non-UTF-8 environment holds U+DC80-U+DCFF escapes;
    # those are bytes, written back as they were.
    session = AMISession("tapi", "caf\udce9", auth="md5")
    session.login()
    session.handle_frame(Banner((11, 0, 0), "Asterisk Call Manager/11.0.0"))
    session.handle_frame(ok("tapievent-1", ("Challenge", "885909314")))
    key = hashlib.md5(b"885909314" + b"caf\xe9").hexdigest()
    assert key.encode() in session.data_to_send()
