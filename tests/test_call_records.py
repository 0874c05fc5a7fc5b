"""Call records: one per NewCall, with the times, direction and disposition a user relies on.

The dispositions come from the LINECALLSTATE/LINEDISCONNECTMODE sequence
the dialplan sends (and the Hangup cause when the safety net ends a call);
the times from what the runtime passed in, the frame's ``Timestamp:``
winning. The property test drives a small tracker with generated streams
(ring groups, hook HANGUPs, Hangups without IDLE, reconciles after a
reconnect, evictions at ``max_calls``, make_call) and checks that every
NewCall gets exactly one record, right after the IDLE that ends it.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from docs_examples import run_python_blocks
from events_support import records, tapi
from hypothesis import given, settings
from hypothesis import strategies as st

from tapievent import NEED_DATA, AMIDecoder, Connection, LocalProtocolError
from tapievent._call_records import frame_time
from tapievent.ami_codec import Banner, Message, encode_message
from tapievent.cli.replay import read_timing, replay
from tapievent.model import (
    CallDirection,
    CallerId,
    CallRecord,
    CallState,
    Diagnostic,
    Disposition,
    LineCallState,
    NewCall,
    OutputEvent,
)
from tapievent.tracker import CallTracker

CAPTURES = Path(__file__).parent / "data" / "asterisk-22.10.1"
BANNER = Banner((11, 0, 0), "Asterisk Call Manager/11.0.0")
KEY = "1733137450.1"


def user_event(body: str, key: str = KEY, **extra: str) -> Message:
    pairs = [("Event", "UserEvent"), ("Uniqueid", key), ("UserEvent", "TAPI")]
    pairs += [(k, v) for k, v in extra.items()]
    return Message.from_pairs(*pairs, ("TAPIEVENT", body))


def hangup(key: str = KEY, cause: str = "16") -> Message:
    return Message.from_pairs(("Event", "Hangup"), ("Uniqueid", key), ("Cause", cause))


def run(tracker: CallTracker, steps: list[tuple[float, Message]]) -> list[OutputEvent]:
    out: list[OutputEvent] = []
    for when, message in steps:
        out += tracker.handle(message, time=when)
    return out


def one_line(*bodies: str, hangup_cause: str | None = None) -> CallRecord:
    """The record of a call on line ``a`` whose dialplan sends ``bodies`` (1 s apart)."""
    tracker = CallTracker()
    tracker.handle(BANNER)
    steps = [(100.0 + i, user_event(body)) for i, body in enumerate(("LINE_NEWCALL a", *bodies))]
    if hangup_cause is not None:
        steps.append((100.0 + len(steps), hangup(cause=hangup_cause)))
    (record,) = records(run(tracker, steps))
    return record


# --------------------------------------------------------------------------- dispositions

S = "LINE_CALLSTATE LINECALLSTATE_"

DISPOSITIONS = [
    ((f"{S}OFFERING", f"{S}CONNECTED", f"{S}IDLE"), None, Disposition.ANSWERED),
    ((f"{S}OFFERING", f"{S}HANGUP", f"{S}IDLE"), None, Disposition.ANSWERED_ELSEWHERE),
    ((f"{S}OFFERING", f"{S}BUSY", f"{S}IDLE"), None, Disposition.BUSY),
    ((f"{S}DISCONNECTED BUSY", f"{S}IDLE"), None, Disposition.BUSY),
    ((f"{S}DISCONNECTED NOANSWER", f"{S}IDLE"), None, Disposition.NO_ANSWER),
    ((f"{S}DISCONNECTED CONGESTION", f"{S}IDLE"), None, Disposition.CONGESTION),
    ((f"{S}DISCONNECTED CHANUNAVAIL", f"{S}IDLE"), None, Disposition.FAILED),
    ((f"{S}DISCONNECTED LINEDISCONNECTMODE_BADADDRESS", f"{S}IDLE"), None, Disposition.FAILED),
    ((f"{S}DISCONNECTED CANCEL", f"{S}IDLE"), None, Disposition.ABANDONED),
    ((f"{S}OFFERING", f"{S}DISCONNECTED LINEDISCONNECTMODE_NORMAL", f"{S}IDLE"), None,
     Disposition.ABANDONED),
    ((f"{S}OFFERING", f"{S}IDLE"), None, Disposition.ABANDONED),
    # No IDLE: the Hangup safety net ends the call, its cause says how.
    ((f"{S}OFFERING",), "17", Disposition.BUSY),
    ((f"{S}OFFERING",), "19", Disposition.NO_ANSWER),
    ((f"{S}OFFERING",), "34", Disposition.CONGESTION),
    ((f"{S}OFFERING",), "1", Disposition.FAILED),
    ((f"{S}OFFERING",), "16", Disposition.ABANDONED),
    ((f"{S}OFFERING", f"{S}CONNECTED"), "16", Disposition.ANSWERED),
]  # fmt: skip


@pytest.mark.parametrize(("bodies", "cause", "expected"), DISPOSITIONS)
def test_the_dialplan_sequence_gives_the_disposition(
    bodies: tuple[str, ...], cause: str | None, expected: Disposition
) -> None:
    record = one_line(*bodies, hangup_cause=cause)
    assert record.disposition is expected
    assert record.synthesized is (cause is not None)
    assert record.cause == (None if cause is None else int(cause))


def test_a_line_that_dials_out_is_outbound() -> None:
    record = one_line(f"{S}DIALTONE", f"{S}PROCEEDING", f"{S}CONNECTED", f"{S}IDLE")
    assert record.direction is CallDirection.OUTBOUND
    assert one_line(f"{S}OFFERING", f"{S}IDLE").direction is CallDirection.INBOUND


def test_answered_call_times_and_durations() -> None:
    cid = 'SET CALLERID "Alice" <5550100>'
    record = one_line(f"{S}OFFERING", f"{S}CONNECTED", cid, f"{S}IDLE")
    # NEWCALL at 100, CONNECTED at 102, IDLE at 104.
    assert (record.start, record.answer, record.end) == (100.0, 102.0, 104.0)
    assert record.ring_seconds == 2.0 and record.talk_seconds == 2.0
    assert record.answered_by == "a" and record.lines == ("a",)
    assert record.caller_id == CallerId("Alice", "5550100")
    assert record.time == record.end


def test_without_times_the_record_has_none_and_no_durations() -> None:
    tracker = CallTracker()
    out: list[OutputEvent] = []
    for body in ("LINE_NEWCALL a", f"{S}CONNECTED", f"{S}IDLE"):
        out += tracker.handle(user_event(body))
    (record,) = records(out)
    assert record.start is None and record.end is None
    assert record.ring_seconds is None and record.talk_seconds is None
    assert record.disposition is Disposition.ANSWERED


def test_the_server_timestamp_wins_over_the_receive_time() -> None:
    tracker = CallTracker(source="pbx-1")
    steps = [
        (500.0, user_event("LINE_NEWCALL a", Timestamp="1733137450.250000")),
        (501.0, user_event(f"{S}IDLE", Timestamp="not a number")),
    ]
    newcall, idle, record = run(tracker, steps)
    assert newcall.time == 1733137450.25 and idle.time == 501.0
    assert isinstance(record, CallRecord) and record.start == 1733137450.25
    assert {e.source for e in (newcall, idle, record)} == {"pbx-1"}


def test_time_and_source_are_left_out_of_equality() -> None:
    stamped = CallState("a", KEY, LineCallState.IDLE, time=5.0, source="x")
    assert stamped == CallState("a", KEY, LineCallState.IDLE)
    assert (stamped.time, stamped.source) == (5.0, "x")
    assert hash(stamped) == hash(CallState("a", KEY, LineCallState.IDLE))
    with pytest.raises(TypeError):  # keyword-only: positional construction keeps its meaning
        CallState("a", KEY, LineCallState.IDLE, 0, False, 5.0)  # type: ignore[call-arg]


def test_ring_group_records_say_who_answered() -> None:
    data = (CAPTURES / "12-scenario7-ringgroup.ami").read_bytes()
    timing = read_timing((CAPTURES / "12-scenario7-ringgroup.timing.tsv").read_text(), len(data))
    bobbett, bob = records(replay(data, timing=timing, start=1_800_000_000.0))
    both = ("Local/bob", "Local/bobbett")
    assert (bob.line, bob.lines, bob.answered_by) == ("Local/bob", both, "Local/bob")
    assert bob.disposition is Disposition.ANSWERED and bob.direction is CallDirection.INBOUND
    assert bobbett.disposition is Disposition.ANSWERED_ELSEWHERE
    assert bob.caller_id == CallerId("Alice Caller", "5550100")
    # The capture's dialplan: bob rings for Wait(1), answers, talks Wait(2). Answer()
    # itself waits up to 500 ms for media first (Local channels have none), so
    # the talk lasts 2.5 s from the CONNECTED (recorded at 2.006 s) to the IDLE (4.510 s).
    assert bob.ring_seconds == pytest.approx(1.0, abs=0.05)
    assert bob.talk_seconds == pytest.approx(2.5, abs=0.05)
    assert bobbett.ring_seconds == pytest.approx(1.0, abs=0.05) and bobbett.talk_seconds == 0
    assert bob.start == pytest.approx(1_800_000_001.004, abs=1e-3)


def test_busy_no_answer_and_congestion_capture() -> None:
    data = (CAPTURES / "09-scenario5-busy-noanswer.ami").read_bytes()
    timing = read_timing(
        (CAPTURES / "09-scenario5-busy-noanswer.timing.tsv").read_text(), len(data)
    )
    out = list(replay(data, ["line_1"], timing=timing))
    inbound = [r for r in records(out) if r.direction is not CallDirection.APPLICATION]
    assert [r.disposition for r in inbound] == [
        Disposition.BUSY,
        Disposition.NO_ANSWER,  # Dial(...,3): three seconds of ringing
        Disposition.CONGESTION,
        Disposition.BUSY,
    ]
    assert inbound[1].ring_seconds == pytest.approx(3.0, abs=0.1)
    # Without the timing file the same records come, with no times.
    untimed = records(replay(data, ["line_1"]))
    assert [r.disposition for r in untimed] == [r.disposition for r in records(out)]
    assert all(r.start is None for r in untimed)


def test_a_call_without_h_extension_is_ended_by_its_hangup() -> None:
    data = (CAPTURES / "07-scenario3-no-h-extension.ami").read_bytes()
    out = list(replay(data))
    (record,) = records(out)
    assert record.line == "line_1"
    assert tapi(out)[-1] == CallState("line_1", record.call_key, LineCallState.IDLE)


# --------------------------------------------------------------------------- the connection


def test_connection_stamps_the_receive_time_and_its_source() -> None:
    conn = Connection("tapi", "secret", auth="plain", source="office")
    conn.login(action_id="login")
    conn.data_to_send()
    conn.receive_data(b"Asterisk Call Manager/11.0.0\r\n", time=10.0)
    conn.receive_data(b"Response: Success\r\nActionID: login\r\n\r\n", time=10.5)
    while conn.next_event() is not NEED_DATA:
        pass
    wire = b"".join(
        b"Event: UserEvent\r\nUniqueid: 1.1\r\nUserEvent: TAPI\r\nTAPIEVENT: " + body + b"\r\n\r\n"
        for body in (b"LINE_NEWCALL a", b"LINE_CALLSTATE LINECALLSTATE_CONNECTED")
    )
    conn.receive_data(wire, time=20.0)
    events = []
    while (event := conn.next_event()) is not NEED_DATA:  # drained after every read
        events.append(event)
    conn.receive_data(
        b"Event: UserEvent\r\nUniqueid: 1.1\r\nUserEvent: TAPI\r\n"
        b"TAPIEVENT: LINE_CALLSTATE LINECALLSTATE_IDLE\r\n\r\n",
        time=23.0,
    )
    while (event := conn.next_event()) is not NEED_DATA:
        events.append(event)
    *_, idle, record = events
    assert isinstance(idle, CallState) and idle.time == 23.0 and idle.source == "office"
    assert isinstance(record, CallRecord) and record.source == "office"
    assert (record.start, record.answer, record.end) == (20.0, 20.0, 23.0)
    conn.connection_lost("reset", time=30.0)
    lost = conn.next_event()
    assert isinstance(lost, Diagnostic) and (lost.time, lost.source) == (30.0, "office")


# --------------------------------------------------------------------------- one per NewCall

LINES = ("a", "b", "c")
KEYS = ("k1", "k2", "k3", "k4")

_body = st.one_of(
    st.sampled_from(LINES).map(lambda line: f"LINE_NEWCALL {line}"),
    st.sampled_from(
        ["OFFERING", "CONNECTED", "BUSY", "DISCONNECTED NOANSWER", "HANGUP", "IDLE", "DIALTONE"]
    ).map(lambda s: f"LINE_CALLSTATE LINECALLSTATE_{s}"),
    st.tuples(st.sampled_from(["", "!"]), st.sampled_from(LINES)).map(
        lambda p: f"[{p[0]}{p[1]}] LINE_CALLSTATE LINECALLSTATE_IDLE"
    ),
    st.just("SET CALLERID 5550100 Alice"),
)

_step = st.one_of(
    st.tuples(st.just("tapi"), st.sampled_from(KEYS), _body),
    st.tuples(st.just("hangup"), st.sampled_from(KEYS), st.sampled_from(["16", "17", "19"])),
    st.tuples(st.just("reconcile"), st.frozensets(st.sampled_from(KEYS)), st.just("")),
    st.tuples(st.just("make_call"), st.sampled_from(LINES), st.sampled_from(["fail", "keep"])),
)


def _apply(tracker: CallTracker, step: tuple[object, ...], when: float) -> list[OutputEvent]:
    kind = step[0]
    if kind == "tapi":
        _, key, body = step
        return tracker.handle(user_event(str(body), str(key)), time=when)
    if kind == "hangup":
        _, key, cause = step
        return tracker.handle(hangup(str(key), str(cause)), time=when)
    if kind == "reconcile":
        live = step[1]
        assert isinstance(live, frozenset)
        return tracker.reconcile(live, time=when)
    _, line, fate = step
    try:
        handle, _action = tracker.make_call(str(line), "100", context="c", channel="Local/x@p")
    except LocalProtocolError:
        return []  # max_calls originates already wait: refused, nothing registered
    if fate == "keep":
        # The dialplan's NEWCALL on the originated channel attaches the call.
        newcall = user_event(f"LINE_NEWCALL {line}", handle.channel_id or "")
        return tracker.handle(newcall, time=when)
    failure = Message.from_pairs(
        ("Event", "OriginateResponse"),
        ("ActionID", handle.action_id),
        ("Response", "Failure"),
        ("Reason", "5"),
        ("Uniqueid", "<unknown>"),
    )
    return tracker.handle(failure, time=when)


def check_one_record_per_newcall(out: list[OutputEvent]) -> None:
    """Every NewCall has exactly one record, right after the IDLE that ends its line;
    every other record is an application call's; times and durations are consistent."""
    open_lines: Counter[tuple[str, str]] = Counter()
    for i, event in enumerate(out):
        if isinstance(event, NewCall):
            assert open_lines[(event.call_key, event.line)] == 0
            open_lines[(event.call_key, event.line)] += 1
        elif isinstance(event, CallRecord):
            before = out[i - 1]
            assert isinstance(before, CallState) and before.state is LineCallState.IDLE
            assert (before.call_key, before.line) == (event.call_key, event.line)
            pair = (event.call_key, event.line)
            if event.direction is CallDirection.APPLICATION:
                assert open_lines[pair] == 0
            else:
                assert open_lines[pair] == 1, "a record for a line no NewCall opened"
                open_lines[pair] -= 1
            assert event.start is not None and event.end is not None
            assert event.start <= event.end
            ring, talk = event.ring_seconds, event.talk_seconds
            assert ring is not None and talk is not None
            assert 0 <= ring + talk <= event.end - event.start + 1e-9
        elif isinstance(event, CallState) and event.state is LineCallState.IDLE:
            following = out[i + 1] if i + 1 < len(out) else None
            assert isinstance(following, CallRecord), "an IDLE without its record"
    assert +open_lines == Counter(), "a NewCall without its record"
    newcalls = sum(isinstance(e, NewCall) for e in out)
    inbound = [r for r in records(out) if r.direction is not CallDirection.APPLICATION]
    assert len(inbound) == newcalls


@settings(max_examples=300, deadline=None)
@given(st.lists(_step, max_size=40), st.integers(min_value=1, max_value=3))
def test_exactly_one_record_per_newcall(steps: list[tuple[object, ...]], max_calls: int) -> None:
    tracker = CallTracker(max_calls=max_calls)
    tracker.handle(BANNER)
    out: list[OutputEvent] = []
    for n, step in enumerate(steps):
        out += _apply(tracker, step, float(n))
    # The end of the connection: a reconcile with nothing live ends everything.
    out += tracker.reconcile((), time=float(len(steps)))
    assert tracker.call_count == 0 and tracker.pending_count == 0
    check_one_record_per_newcall(out)


class _Wire:
    """A Connection fed bytes as Asterisk sends them, reconnected on demand."""

    def __init__(self, max_calls: int) -> None:
        self.conn = Connection("tapi", "secret", auth="plain", max_calls=max_calls)
        self.logins = 0
        self.out: list[OutputEvent] = []
        self.log_in(0.0)

    def feed(self, data: bytes, when: float) -> None:
        self.conn.receive_data(data, time=when)
        while (event := self.conn.next_event()) is not NEED_DATA:
            if isinstance(event, OutputEvent):
                self.out.append(event)

    def log_in(self, when: float) -> None:
        self.logins += 1
        action_id = f"login-{self.logins}"
        self.conn.login(action_id=action_id)
        self.conn.data_to_send()
        ok = encode_message(Message.from_pairs(("Response", "Success"), ("ActionID", action_id)))
        self.feed(b"Asterisk Call Manager/11.0.0\r\n" + ok, when)

    def reconnect(self, live: frozenset[str], when: float) -> None:
        """The connection drops; after the next login, CoreShowChannels lists ``live``."""
        self.conn.connection_lost("reset by peer", time=when)
        while (event := self.conn.next_event()) is not NEED_DATA:
            if isinstance(event, OutputEvent):
                self.out.append(event)
        self.log_in(when)
        action_id = self.conn.resync()
        self.conn.data_to_send()
        frames = [Message.from_pairs(("Response", "Success"), ("ActionID", action_id),
                                     ("EventList", "start"))]  # fmt: skip
        frames += [
            Message.from_pairs(("Event", "CoreShowChannel"), ("ActionID", action_id),
                               ("Uniqueid", uid))
            for uid in sorted(live)
        ]  # fmt: skip
        frames.append(
            Message.from_pairs(("Event", "CoreShowChannelsComplete"), ("ActionID", action_id),
                               ("EventList", "Complete"), ("ListItems", str(len(live))))
        )  # fmt: skip
        self.feed(b"".join(encode_message(f) for f in frames), when)
        assert self.conn.in_service


def _apply_wire(wire: _Wire, step: tuple[object, ...], when: float) -> None:
    kind = step[0]
    if kind == "tapi":
        _, key, body = step
        wire.feed(encode_message(user_event(str(body), str(key))), when)
    elif kind == "hangup":
        _, key, cause = step
        wire.feed(encode_message(hangup(str(key), str(cause))), when)
    elif kind == "reconcile":
        live = step[1]
        assert isinstance(live, frozenset)
        wire.reconnect(live, when)
    else:
        _, line, fate = step
        try:
            handle = wire.conn.make_call(str(line), "100", context="c", channel="Local/x@p")
        except LocalProtocolError:
            return  # max_calls originates already wait: refused, nothing registered
        wire.conn.data_to_send()
        if fate == "keep":
            newcall = user_event(f"LINE_NEWCALL {line}", handle.channel_id or "")
            wire.feed(encode_message(newcall), when)
        else:
            failure = Message.from_pairs(
                ("Event", "OriginateResponse"), ("ActionID", handle.action_id),
                ("Response", "Failure"), ("Reason", "5"), ("Uniqueid", "<unknown>"),
            )  # fmt: skip
            wire.feed(encode_message(failure), when)


@settings(max_examples=150, deadline=None)
@given(st.lists(_step, max_size=30), st.integers(min_value=1, max_value=3))
def test_exactly_one_record_per_newcall_through_reconnects(
    steps: list[tuple[object, ...]], max_calls: int
) -> None:
    """The same through Connection: bytes in, a real reconnect and resync
    (CoreShowChannels) where the generated stream reconciles."""
    wire = _Wire(max_calls)
    for n, step in enumerate(steps, start=1):
        _apply_wire(wire, step, float(n))
    wire.reconnect(frozenset(), float(len(steps) + 1))
    assert wire.conn.tracker.call_count == 0 and wire.conn.tracker.pending_count == 0
    check_one_record_per_newcall(wire.out)


def test_decoder_fed_by_the_timing_rows_gives_the_same_frames() -> None:
    """A timing file describes the capture's bytes exactly (or replay refuses it)."""
    data = (CAPTURES / "05-scenario1-inbound.ami").read_bytes()
    rows = read_timing((CAPTURES / "05-scenario1-inbound.timing.tsv").read_text(), len(data))
    decoder = AMIDecoder()
    for _t, offset, length in rows:
        decoder.receive_data(data[offset : offset + length])
    whole = AMIDecoder()
    whole.receive_data(data)
    frames = []
    while (frame := decoder.next_frame()) is not NEED_DATA:
        frames.append(frame)
    again = []
    while (frame := whole.next_frame()) is not NEED_DATA:
        again.append(frame)
    assert frames == again


def test_docs_examples_run(tmp_path: Path) -> None:
    assert run_python_blocks("records.md", tmp_path) == 2


@given(st.text(max_size=40), st.one_of(st.none(), st.floats(0, 2e9)))
def test_a_timestamp_header_is_a_time_or_ignored(text: str, default: float | None) -> None:
    frame = Message.from_pairs(("Event", "UserEvent"), ("Timestamp", text.replace("\0", "")))
    value = frame_time(frame, default)
    assert value == default or (value is not None and 0 < value < 1e11)


@given(st.floats(1e-6, 1e10, allow_nan=False))
def test_a_timestamp_reads_back_as_asterisk_writes_it(seconds: float) -> None:
    frame = Message.from_pairs(("Event", "UserEvent"), ("Timestamp", f"{seconds:.6f}"))
    assert frame_time(frame, None) == float(f"{seconds:.6f}")
