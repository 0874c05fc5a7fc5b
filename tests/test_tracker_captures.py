"""Real Asterisk 22.10.1 captures replayed through AMIDecoder + CallTracker.

Each capture is fed in the recv() chunks it was recorded with
(``*.timing.tsv``), and the whole output sequence is written out: the unique
ids are the real ones of the capture. ``tests/data/asterisk-22.10.1/README.md``
describes the scenarios; note that in scenarios 1-6 the connected hook names
``sip/bob``, which is never a tracked line, so CONNECTED reaches nobody and
the hook's HANGUP (answered elsewhere) ends ``line_1``'s view of the call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from events_support import tapi

from tapievent import LocalProtocolError
from tapievent._diagnostics import DiagnosticCode
from tapievent.ami_codec import NEED_DATA, Action, AMIDecoder, Banner, Message
from tapievent.model import (
    CallerId,
    CallInfo,
    CallState,
    Diagnostic,
    LineCallInfoState,
    LineCallOrigin,
    LineCallState,
    LineDisconnectMode,
    NewCall,
    OutputEvent,
)
from tapievent.tracker import ORIGINATE_VARIABLE, CallHandle, CallTracker, TrackedCall

CAPTURES = Path(__file__).parent / "data" / "asterisk-22.10.1"

IDLE = LineCallState.IDLE
DISCONNECTED = LineCallState.DISCONNECTED
PICKUP = LineDisconnectMode.PICKUP
CALLERID = LineCallInfoState.CALLERID


def chunks(name: str) -> Iterator[bytes]:
    """The capture's bytes in the recv() chunks Asterisk actually produced."""
    data = (CAPTURES / f"{name}.ami").read_bytes()
    rows = (CAPTURES / f"{name}.timing.tsv").read_text().splitlines()[1:]
    end = 0
    for row in rows:
        _, offset, length = row.split("\t")
        end = int(offset) + int(length)
        yield data[int(offset) : end]
    assert end == len(data)


def frames(name: str) -> Iterator[Banner | Message]:
    decoder = AMIDecoder()
    for chunk in chunks(name):
        decoder.receive_data(chunk)
        while (frame := decoder.next_frame()) is not NEED_DATA:
            yield frame
    decoder.receive_eof()
    assert decoder.next_frame() is NEED_DATA


def replay(
    name: str,
    tracker: CallTracker,
    *,
    after_banner: Callable[[CallTracker], None] | None = None,
    keep: Callable[[Message], bool] | None = None,
) -> list[OutputEvent]:
    """Feed a capture to ``tracker``; ``after_banner`` makes the calls the client made."""
    out: list[OutputEvent] = []
    for frame in frames(name):
        if keep is not None and isinstance(frame, Message) and not keep(frame):
            continue
        out += tapi(tracker.handle(frame))
        if isinstance(frame, Banner) and after_banner is not None:
            after_banner(tracker)
    return tapi(out)


def sent_originates(name: str) -> dict[str, dict[str, str]]:
    """The Originate actions of ``NAME.sent.txt``, by ActionID, as header dicts."""
    text = (CAPTURES / f"{name}.sent.txt").read_text()
    # One header per line, CRLF written as a literal "\\r\\n"; "---" and "#"
    # lines are the recorder's notes.
    kept = [line for line in text.splitlines() if not line.startswith(("---", "#"))]
    actions: dict[str, dict[str, str]] = {}
    for block in "".join(kept).split("\\r\\n\\r\\n"):
        headers: dict[str, str] = {}
        for line in block.split("\\r\\n"):
            if ": " in line:
                name_, value = line.split(": ", 1)
                headers[name_.split(" ")[-1]] = value
        if headers.get("Action") == "Originate":
            actions[headers["ActionID"]] = headers
    return actions


def assert_matches_sent(action: Action, sent: dict[str, str], extra: set[str]) -> None:
    """Every header the recorded client sent is in ``action`` with the same value
    (``Async: yes`` and ``true`` are the same to Asterisk); ``extra`` is what the
    tracker adds on top."""
    mine = dict(action.headers)
    assert action.action_id == sent["ActionID"]
    for name, value in sent.items():
        if name in ("Action", "ActionID"):
            continue
        if name == "Async":
            assert mine["Async"] == "true"
        else:
            assert mine[name] == value, name
    assert set(mine) - set(sent) == extra


def diag(code: str, key: str | None) -> Diagnostic:
    return Diagnostic(code, "", key)


def normalise(events: list[OutputEvent]) -> list[OutputEvent]:
    """Diagnostics compared by code and call key (their text is for people)."""
    return [Diagnostic(e.code, "", e.call_key) if isinstance(e, Diagnostic) else e for e in events]


# --------------------------------------------------------------------------- 05 inbound


K05 = "1795667804.1"


@pytest.mark.parametrize("lines", [{"line_1"}, None])
def test_05_inbound_ring_group_with_asttapi_hook(lines: set[str] | None) -> None:
    tracker = CallTracker(lines)
    out = replay("05-scenario1-inbound", tracker)
    expected: list[OutputEvent] = [
        NewCall("line_1", K05),
        CallInfo("line_1", K05, CALLERID, CallerId("Alice Caller", "5550100")),
        # [~K&sip/bob] CONNECTED: sip/bob is not on the call, nothing to deliver.
        # [~K&!sip/bob] HANGUP: line_1 was answered elsewhere.
        CallState("line_1", K05, DISCONNECTED, PICKUP),
        CallState("line_1", K05, IDLE),
    ]
    if lines is None:
        # The h extension's IDLE comes after line_1 already left the call. A
        # tracker serving every line says so; a workstation keeps quiet.
        expected.append(diag(DiagnosticCode.UNTRACKED_CALL, K05))
    assert normalise(out) == expected
    assert tracker.snapshot() == () and tracker.call_count == 0


def test_05_call_state_while_ringing() -> None:
    tracker = CallTracker({"line_1"})
    for frame in frames("05-scenario1-inbound"):
        tracker.handle(frame)
        if isinstance(frame, Message) and (frame.get("TAPIEVENT") or "").startswith("SET CALLERID"):
            break
    assert tracker.snapshot() == (
        TrackedCall(
            K05,
            ("line_1",),
            (None,),
            CallerId("Alice Caller", "5550100"),
            LineCallOrigin.UNKNOWN,
            "Local/100@inbound-00000000;2",
        ),
    )
    assert tracker.hangup(K05) == Action("Hangup", (("Channel", "Local/100@inbound-00000000;2"),))


def test_05_callonly_user_sees_no_tapi_events_and_tracks_nothing() -> None:
    """read=call: no UserEvents, only Hangups and another session's OriginateResponse."""
    tracker = CallTracker()
    seen = list(frames("05-scenario1-inbound.callonly"))
    assert not any(isinstance(f, Message) and f.get("Event") == "UserEvent" for f in seen)
    assert sum(isinstance(f, Message) and f.get("Event") == "Hangup" for f in seen) == 6
    out = replay("05-scenario1-inbound.callonly", tracker)
    assert out == []
    assert tracker.snapshot() == () and tracker.pending_count == 0


# --------------------------------------------------------------------------- 06 outbound


def test_06a_outbound_response_before_newcall() -> None:
    """The recorded client sent neither ChannelId nor our variable: here the
    OriginateResponse (Uniqueid 1795667810.6) came before the NEWCALL, which is
    the one order in which OriginateResponse alone identifies the call."""
    name = "06a-scenario2-outbound"
    tracker = CallTracker({"line_1"})
    handles: list[CallHandle] = []

    def call(t: CallTracker) -> None:
        handle, action = t.make_call(
            "line_1",
            "95551234",
            context="outbound",
            channel="Local/bob@phones-originate",
            caller_id='"Bob" <201>',
            action_id="out-1",
            use_channel_id=False,
        )
        assert_matches_sent(action, sent_originates(name)["out-1"], {"Variable"})
        assert action.get("Variable") == f"{ORIGINATE_VARIABLE}={handle.origination_id}"
        handles.append(handle)

    key = "1795667810.6"
    keys_seen: list[str | None] = []
    out: list[OutputEvent] = []
    for frame in frames(name):
        out += tapi(tracker.handle(frame))
        if isinstance(frame, Banner):
            call(tracker)
        keys_seen.append(tracker.call_key_of(handles[0]))
    # No NewCall: the application knows this call from make_call.
    assert out == [
        CallState("line_1", key, DISCONNECTED, PICKUP),
        CallState("line_1", key, IDLE),
    ]
    assert key in keys_seen and keys_seen[-1] is None
    assert tracker.snapshot() == () and tracker.pending_count == 0


CALL_06B_1 = "tapi-out-0001"
CALL_06B_2 = "tapi-out-0002"


def test_06b_outbound_with_channel_id_and_a_reused_id() -> None:
    name = "06b-scenario2-outbound-channelid"
    sent = sent_originates(name)
    tracker = CallTracker({"line_1"})
    handles: dict[str, CallHandle] = {}
    snapshots: list[tuple[TrackedCall, ...]] = []

    def calls(t: CallTracker) -> None:
        h2, a2 = t.make_call(
            "line_1",
            "95551234",
            context="outbound",
            channel="Local/bob@phones-originate",
            caller_id='"Bob" <201>',
            action_id="out-2",
            channel_id=CALL_06B_1,
            other_channel_id="tapi-out-0001-2",
        )
        assert_matches_sent(a2, sent["out-2"], set())
        # out-3 sent no OtherChannelId; Asterisk then names the Local ;2 half
        # "<ChannelId>;2" (seen in the capture), which we send explicitly.
        h3, a3 = t.make_call(
            "line_1",
            "95551234",
            context="outbound",
            channel="Local/bob@phones-originate",
            action_id="out-3",
            channel_id=CALL_06B_2,
            other_channel_id="tapi-out-0002;2",
        )
        assert_matches_sent(a3, sent["out-3"], {"OtherChannelId"})
        # The re-used ChannelId of out-4-dup is refused before it reaches
        # Asterisk (which refused it too, in the capture).
        with pytest.raises(LocalProtocolError, match="Asterisk would refuse"):
            t.make_call(
                "line_1",
                "95551234",
                context="outbound",
                channel="Local/bob@phones-originate",
                action_id="out-4-dup",
                channel_id=CALL_06B_2,
            )
        assert t.call_key_of(h2) == CALL_06B_1 and t.call_key_of(h3) == CALL_06B_2
        handles.update({"out-2": h2, "out-3": h3})

    out: list[OutputEvent] = []
    for frame in frames(name):
        out += tapi(tracker.handle(frame))
        if isinstance(frame, Banner):
            calls(tracker)
        elif frame.get("UserEvent") == "TAPI" and "NEWCALL" in (frame.get("TAPIEVENT") or ""):
            snapshots.append(tracker.snapshot())
    # Both NEWCALLs attached silently; the failure of out-4-dup, which names
    # tapi-out-0002 in its Uniqueid, is another ActionID: the live call lives on.
    assert out == [
        CallState("line_1", CALL_06B_1, DISCONNECTED, PICKUP),
        CallState("line_1", CALL_06B_1, IDLE),
        CallState("line_1", CALL_06B_2, DISCONNECTED, PICKUP),
        CallState("line_1", CALL_06B_2, IDLE),
    ]
    assert snapshots == [
        (
            TrackedCall(
                CALL_06B_1,
                ("line_1",),
                (None,),
                None,
                LineCallOrigin.OUTBOUND,
                "Local/bob@phones-originate-00000005;1",
                "out-2",
            ),
        ),
        (
            TrackedCall(
                CALL_06B_2,
                ("line_1",),
                (None,),
                None,
                LineCallOrigin.OUTBOUND,
                "Local/bob@phones-originate-00000007;1",
                "out-3",
            ),
        ),
    ]
    assert tracker.snapshot() == () and tracker.pending_count == 0


def test_06b_reused_channel_id_seen_by_the_client_that_sent_it() -> None:
    """A second client (its own tracker) sent out-4-dup with tapi-out-0002: its
    handle ends with DISCONNECTED then IDLE, and the live call of that id is, for
    this client, somebody else's call on line_1."""
    tracker = CallTracker({"line_1"})

    def call(t: CallTracker) -> None:
        _, action = t.make_call(
            "line_1",
            "95551234",
            context="outbound",
            channel="Local/bob@phones-originate",
            action_id="out-4-dup",
            channel_id=CALL_06B_2,
            other_channel_id="tapi-out-0002;2",
        )
        sent = sent_originates("06b-scenario2-outbound-channelid")["out-4-dup"]
        assert_matches_sent(action, sent, {"OtherChannelId"})

    out = replay("06b-scenario2-outbound-channelid", tracker, after_banner=call)
    assert out == [
        NewCall("line_1", CALL_06B_1),
        # No SET CALLERID in this dialplan: the caller id of the NEWCALL's
        # channel snapshot reaches the line before the first CALLSTATE.
        CallInfo("line_1", CALL_06B_1, CALLERID, CallerId("Bob", "201")),
        CallState("line_1", CALL_06B_1, DISCONNECTED, PICKUP),
        CallState("line_1", CALL_06B_1, IDLE),
        # OriginateResponse Failure, Reason 0, Uniqueid tapi-out-0002:
        CallState("line_1", CALL_06B_2, DISCONNECTED, LineDisconnectMode.UNAVAIL, True),
        CallState("line_1", CALL_06B_2, IDLE, synthesized=True),
        NewCall("line_1", CALL_06B_2),
        CallState("line_1", CALL_06B_2, DISCONNECTED, PICKUP),
        CallState("line_1", CALL_06B_2, IDLE),
    ]
    assert tracker.snapshot() == () and tracker.pending_count == 0


# --------------------------------------------------------------------------- 07 no h extension


K07 = "1795667830.20"


def test_07_no_h_extension_the_hook_ends_line_1() -> None:
    tracker = CallTracker({"line_1"})
    out = replay("07-scenario3-no-h-extension", tracker)
    # No IDLE UserEvent exists in this capture, but the connected hook's
    # HANGUP (!sip/bob) already detached line_1, so the Hangup finds nothing.
    assert out == [
        NewCall("line_1", K07),
        CallInfo("line_1", K07, CALLERID, CallerId("Carol", "5550300")),
        CallState("line_1", K07, DISCONNECTED, PICKUP),
        CallState("line_1", K07, IDLE),
    ]
    assert tracker.snapshot() == ()


@pytest.mark.parametrize("lines", [{"line_1"}, None])
def test_07_without_hook_and_h_the_hangup_safety_net_ends_the_call(
    lines: set[str] | None,
) -> None:
    """The same call with the connected hook's UserEvents removed: nothing in
    the dialplan ends line_1, the inbound channel's Hangup does."""
    tracker = CallTracker(lines)
    out = replay(
        "07-scenario3-no-h-extension",
        tracker,
        keep=lambda m: not (m.get("Event") == "UserEvent" and m.get("Context") == "tapi"),
    )
    assert normalise(out) == [
        NewCall("line_1", K07),
        CallInfo("line_1", K07, CALLERID, CallerId("Carol", "5550300")),
        diag(DiagnosticCode.MISSING_IDLE, K07),
        CallState("line_1", K07, IDLE, synthesized=True),
    ]
    (missing,) = [e for e in out if isinstance(e, Diagnostic)]
    assert missing.frame is not None and missing.frame.get("Event") == "Hangup"
    assert missing.frame.get("Uniqueid") == K07
    assert tracker.snapshot() == () and tracker.call_count == 0


# --------------------------------------------------------------------------- 09 failures


def test_09_busy_no_answer_congestion_and_failed_originates() -> None:
    name = "09-scenario5-busy-noanswer"
    sent = sent_originates(name)
    tracker = CallTracker({"line_1"})
    handles: dict[str, CallHandle] = {}

    def calls(t: CallTracker) -> None:
        # busy-out as recorded (no ChannelId, no variable on the wire).
        handle, action = t.make_call(
            "line_1",
            "95550000",
            context="outbound",
            channel="Local/bob@phones-originate",
            action_id="busy-out",
            use_channel_id=False,
        )
        assert_matches_sent(action, sent["busy-out"], {"Variable"})
        handles["busy-out"] = handle
        # The recorded orig-* Originates ran Application=Wait; the tracker only
        # cares about their ActionIDs, so we make calls with those ActionIDs.
        for action_id in ("orig-busy", "orig-noanswer", "orig-nosuch", "orig-sync-busy"):
            handles[action_id], _ = t.make_call(
                "line_1",
                "100",
                context="phones",
                channel=sent[action_id]["Channel"],
                action_id=action_id,
                use_channel_id=False,
            )

    out = replay(name, tracker, after_banner=calls)
    busy_in, noans_in, cong_in, busy_out = (
        "1795667852.38",
        "1795667854.42",
        "1795667859.46",
        "1795667861.49",
    )
    dave = CallerId("Dave", "5550400")
    orig = {a: h.origination_id for a, h in handles.items()}
    assert orig == {
        "busy-out": "tapievent-1",
        "orig-busy": "tapievent-2",
        "orig-noanswer": "tapievent-3",
        "orig-nosuch": "tapievent-4",
        "orig-sync-busy": "tapievent-5",
    }
    assert normalise(out) == [
        # inbound to a busy phone: the dialplan's BUSY, then IDLE from h.
        NewCall("line_1", busy_in),
        CallInfo("line_1", busy_in, CALLERID, dave),
        CallState("line_1", busy_in, LineCallState.BUSY),
        CallState("line_1", busy_in, IDLE),
        # no answer: DISCONNECTED ${DIALSTATUS} = NOANSWER.
        NewCall("line_1", noans_in),
        CallInfo("line_1", noans_in, CALLERID, dave),
        CallState("line_1", noans_in, DISCONNECTED, LineDisconnectMode.NOANSWER),
        CallState("line_1", noans_in, IDLE),
        # congestion: this context sets no caller id, so the channel's own
        # (CallerIDNum/CallerIDName of the NEWCALL's snapshot) is given.
        NewCall("line_1", cong_in),
        CallInfo("line_1", cong_in, CALLERID, dave),
        CallState("line_1", cong_in, DISCONNECTED, LineDisconnectMode.CONGESTION),
        CallState("line_1", cong_in, IDLE),
        # busy-out: here the NEWCALL came before the OriginateResponse and the
        # recorded Originate carried nothing that identifies it in advance, so
        # it was reported as new, and the response says so (protocol.md 5).
        NewCall("line_1", busy_out),
        diag(DiagnosticCode.ORIGINATE_NOT_FILTERED, busy_out),
        CallState("line_1", busy_out, LineCallState.BUSY),
        CallState("line_1", busy_out, IDLE),
        # OriginateResponse Failure, Reason 5 (busy), 3 (no answer), 0 (no such).
        CallState("line_1", orig["orig-busy"], DISCONNECTED, LineDisconnectMode.BUSY, True),
        CallState("line_1", orig["orig-busy"], IDLE, synthesized=True),
        CallState("line_1", orig["orig-noanswer"], DISCONNECTED, LineDisconnectMode.NOANSWER, True),
        CallState("line_1", orig["orig-noanswer"], IDLE, synthesized=True),
        CallState("line_1", orig["orig-nosuch"], DISCONNECTED, LineDisconnectMode.UNAVAIL, True),
        CallState("line_1", orig["orig-nosuch"], IDLE, synthesized=True),
        # The synchronous Originate is refused with Response: Error.
        diag(DiagnosticCode.ORIGINATE_REFUSED, orig["orig-sync-busy"]),
        CallState("line_1", orig["orig-sync-busy"], DISCONNECTED, LineDisconnectMode.UNAVAIL, True),
        CallState("line_1", orig["orig-sync-busy"], IDLE, synthesized=True),
    ]
    assert tracker.call_key_of(handles["busy-out"]) is None  # over
    assert tracker.snapshot() == () and tracker.pending_count == 0


# --------------------------------------------------------------------------- 12 ring group


K12 = "1795669868.17"
BOB, BOBBETT = "Local/bob", "Local/bobbett"
ALICE = CallerId("Alice Caller", "5550100")


@pytest.mark.parametrize("lines", [{BOB, BOBBETT}, None])
def test_12_ring_group(lines: set[str] | None) -> None:
    tracker = CallTracker(lines)
    out = replay("12-scenario7-ringgroup", tracker)
    assert out == [
        NewCall(BOB, K12),
        NewCall(BOBBETT, K12),
        CallInfo(BOB, K12, CALLERID, ALICE),
        CallInfo(BOBBETT, K12, CALLERID, ALICE),
        CallState(BOB, K12, LineCallState.OFFERING),
        CallState(BOBBETT, K12, LineCallState.OFFERING),
        CallState(BOB, K12, LineCallState.CONNECTED),
        CallState(BOBBETT, K12, DISCONNECTED, PICKUP),
        CallState(BOBBETT, K12, IDLE),
        CallState(BOB, K12, IDLE),
    ]
    assert tracker.snapshot() == ()


def test_12_ring_group_seen_from_each_workstation() -> None:
    bob = CallTracker({BOB})
    assert replay("12-scenario7-ringgroup", bob) == [
        NewCall(BOB, K12),
        CallInfo(BOB, K12, CALLERID, ALICE),
        CallState(BOB, K12, LineCallState.OFFERING),
        CallState(BOB, K12, LineCallState.CONNECTED),
        CallState(BOB, K12, IDLE),
    ]
    bobbett = CallTracker({BOBBETT})
    assert replay("12-scenario7-ringgroup", bobbett) == [
        NewCall(BOBBETT, K12),
        CallInfo(BOBBETT, K12, CALLERID, ALICE),
        CallState(BOBBETT, K12, LineCallState.OFFERING),
        CallState(BOBBETT, K12, DISCONNECTED, PICKUP),
        CallState(BOBBETT, K12, IDLE),
    ]
    assert bob.snapshot() == bobbett.snapshot() == ()


def test_12_ring_group_mid_call_snapshot_and_reconcile() -> None:
    tracker = CallTracker()
    for frame in frames("12-scenario7-ringgroup"):
        tracker.handle(frame)
        if isinstance(frame, Message) and "CONNECTED" in (frame.get("TAPIEVENT") or ""):
            break
    assert tracker.snapshot() == (
        TrackedCall(
            K12,
            (BOB, BOBBETT),
            (LineCallState.CONNECTED, LineCallState.OFFERING),
            ALICE,
            LineCallOrigin.UNKNOWN,
            "Local/300@inbound-rg-00000008;2",
        ),
    )
    # A reconnect now, with the call still up: nothing changes.
    assert tapi(tracker.reconcile([K12, "1795669868.16", "1795669868.18"])) == []
    # ... and once it is gone, both lines get their synthesized IDLE.
    out = tapi(tracker.reconcile([]))
    assert normalise(out) == [
        diag(DiagnosticCode.STALE_CALL, K12),
        CallState(BOB, K12, IDLE, synthesized=True),
        CallState(BOBBETT, K12, IDLE, synthesized=True),
    ]
    assert tracker.call_count == 0


# --------------------------------------------------------------------------- every capture


@pytest.mark.parametrize(
    "name",
    sorted(p.stem for p in CAPTURES.glob("*.ami")),
)
def test_every_capture_leaves_nothing_tracked(name: str) -> None:
    for lines in ({"line_1"}, None):
        tracker = CallTracker(lines)
        replay(name, tracker)
        assert tracker.snapshot() == () and tracker.pending_count == 0
        assert tracker.server_version == (11, 0, 0)
