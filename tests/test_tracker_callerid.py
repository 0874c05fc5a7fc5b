"""Issue 11 item 3, the tracker's part: the channel's own caller id, and failed UserEvents.

Frames are written as Asterisk 22 writes them (the channel snapshot fields of
the captures in tests/data/asterisk-22.10.1) and go through the real decoder,
so a Latin-1 caller name arrives exactly as it would from the wire.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from events_support import tapi

from tapievent import NEED_DATA, AMIDecoder
from tapievent._diagnostics import DiagnosticCode
from tapievent.ami_codec import Banner, Message
from tapievent.model import (
    CallerId,
    CallInfo,
    CallState,
    Diagnostic,
    LineCallInfoState,
    LineCallState,
    NewCall,
    OutputEvent,
)
from tapievent.tracker import CallTracker

CALLERID = LineCallInfoState.CALLERID
IDLE = LineCallState.IDLE
OFFERING = LineCallState.OFFERING
KEY = "1795667804.1"
CHANNEL = "Local/100@inbound-00000000;2"
JOERG = "J\xf6rg M\xfcller".encode("latin-1")  # as a legacy ISDN trunk sends it
BANNER_22 = b"Asterisk Call Manager/11.0.0\r\n"
BANNER_11 = b"Asterisk Call Manager/1.3\r\n"
CAPTURES = Path(__file__).parent / "data" / "asterisk-22.10.1"


def snapshot(priority: int, name: bytes, number: bytes, exten: str = "100") -> bytes:
    return (
        b"Channel: " + CHANNEL.encode() + b"\r\nChannelState: 4\r\nChannelStateDesc: Ring\r\n"
        b"CallerIDNum: " + number + b"\r\nCallerIDName: " + name + b"\r\n"
        b"ConnectedLineNum: <unknown>\r\nConnectedLineName: <unknown>\r\n"
        b"Language: en\r\nAccountCode: \r\nContext: inbound\r\n"
        b"Exten: " + exten.encode() + b"\r\nPriority: " + str(priority).encode() + b"\r\n"
        b"Uniqueid: " + KEY.encode() + b"\r\nLinkedid: " + KEY.encode() + b"\r\n"
    )


def newexten(priority: int, app: bytes, data: bytes, *, name: bytes, exten: str = "100") -> bytes:
    return (
        b"Event: Newexten\r\nPrivilege: dialplan,all\r\n"
        + snapshot(priority, name, b"5550100", exten)
        + b"Extension: "
        + exten.encode()
        + b"\r\nApplication: "
        + app
        + b"\r\nAppData: "
        + data
        + b"\r\n\r\n"
    )


def user_event(priority: int, body: bytes, *, name: bytes, exten: str = "100") -> bytes:
    """A TAPI UserEvent and the Newexten Asterisk 12+ writes before it."""
    return newexten(priority, b"UserEvent", b"TAPI,TAPIEVENT: " + body, name=name, exten=exten) + (
        b"Event: UserEvent\r\nPrivilege: user,all\r\n"
        + snapshot(priority, name, b"5550100", exten)
        + b"UserEvent: TAPI\r\nTAPIEVENT: "
        + body
        + b"\r\n\r\n"
    )


def hangup(event: bytes, name: bytes) -> bytes:
    return (
        b"Event: " + event + b"\r\nPrivilege: call,all\r\n"
        b"" + snapshot(3, name, b"5550100") + b"Cause: 16\r\n"
        b"" + (b"Cause-txt: Normal Clearing\r\n" if event == b"Hangup" else b"") + b"\r\n"
    )


def feed(tracker: CallTracker, data: bytes) -> list[OutputEvent]:
    decoder = AMIDecoder()
    decoder.receive_data(data)
    out: list[OutputEvent] = []
    while (frame := decoder.next_frame()) is not NEED_DATA:
        assert isinstance(frame, (Banner, Message))
        out += tapi(tracker.handle(frame))
    return out


def normalise(events: list[OutputEvent]) -> list[OutputEvent]:
    return [Diagnostic(e.code, "", e.call_key) if isinstance(e, Diagnostic) else e for e in events]


# --------------------------------------------------------------------------- (a) caller id


def test_no_set_callerid_the_snapshot_caller_id_reaches_every_line_first() -> None:
    stream = (
        BANNER_22
        + user_event(2, b"LINE_NEWCALL line_1", name=b"Alice Caller")
        + user_event(3, b"LINE_NEWCALL line_2", name=b"Alice Caller")
        + user_event(4, b"[line_1] LINE_CALLSTATE LINECALLSTATE_OFFERING", name=b"Alice Caller")
        + user_event(5, b"LINE_CALLSTATE LINECALLSTATE_IDLE", name=b"Alice Caller")
    )
    alice = CallerId("Alice Caller", "5550100")
    assert feed(CallTracker(), stream) == [
        NewCall("line_1", KEY),
        NewCall("line_2", KEY),
        # The first command after the NEWCALLs is not SET CALLERID: none is
        # coming, so every line gets the channel's own caller id, then OFFERING.
        CallInfo("line_1", KEY, CALLERID, alice),
        CallInfo("line_2", KEY, CALLERID, alice),
        CallState("line_1", KEY, OFFERING),
        CallState("line_1", KEY, IDLE),
        CallState("line_2", KEY, IDLE),
    ]


def test_set_callerid_replaces_the_snapshot_and_nothing_else_is_given() -> None:
    stream = (
        BANNER_22
        + user_event(2, b"LINE_NEWCALL line_1", name=b"Alice Caller")
        + user_event(3, b'SET CALLERID "Dialplan Name" <100>', name=b"Alice Caller")
        + user_event(4, b"LINE_CALLSTATE LINECALLSTATE_OFFERING", name=b"Alice Caller")
    )
    tracker = CallTracker()
    assert feed(tracker, stream) == [
        NewCall("line_1", KEY),
        CallInfo("line_1", KEY, CALLERID, CallerId("Dialplan Name", "100")),
        CallState("line_1", KEY, OFFERING),
    ]
    assert tracker.snapshot()[0].caller_id == CallerId("Dialplan Name", "100")


def test_a_later_set_callerid_overrides_the_snapshot_given_before() -> None:
    stream = (
        BANNER_22
        + user_event(2, b"LINE_NEWCALL line_1", name=b"Alice Caller")
        + user_event(3, b"LINE_CALLSTATE LINECALLSTATE_OFFERING", name=b"Alice Caller")
        + user_event(4, b"SET CALLERID Bob <200>", name=b"Alice Caller")
    )
    assert feed(CallTracker(), stream) == [
        NewCall("line_1", KEY),
        CallInfo("line_1", KEY, CALLERID, CallerId("Alice Caller", "5550100")),
        CallState("line_1", KEY, OFFERING),
        CallInfo("line_1", KEY, CALLERID, CallerId("Bob", "200")),
    ]


def test_latin1_name_bytes_are_preserved() -> None:
    stream = (
        BANNER_22
        + user_event(2, b"LINE_NEWCALL line_1", name=JOERG)
        + user_event(4, b"LINE_CALLSTATE LINECALLSTATE_OFFERING", name=JOERG)
    )
    out = feed(CallTracker(), stream)
    info = out[1]
    assert isinstance(info, CallInfo) and info.caller_id is not None
    assert info.caller_id.number == "5550100"
    assert info.caller_id.name is not None
    assert info.caller_id.name.encode("utf-8", "surrogateescape") == JOERG


@pytest.mark.parametrize("name", [b"<unknown>", b""])
def test_unknown_snapshot_caller_id_gives_nothing(name: bytes) -> None:
    stream = BANNER_22 + (
        user_event(2, b"LINE_NEWCALL line_1", name=name).replace(
            b"CallerIDNum: 5550100", b"CallerIDNum: <unknown>"
        )
        + user_event(3, b"LINE_CALLSTATE LINECALLSTATE_OFFERING", name=name)
    )
    assert feed(CallTracker(), stream) == [
        NewCall("line_1", KEY),
        CallState("line_1", KEY, OFFERING),
    ]


def test_the_applications_own_call_gets_no_snapshot_caller_id() -> None:
    tracker = CallTracker()
    feed(tracker, BANNER_22)
    handle, _ = tracker.make_call(
        "line_1", "100", context="inbound", channel="Local/bob@phones", channel_id=KEY
    )
    out = feed(
        tracker,
        user_event(2, b"LINE_NEWCALL line_1", name=b"Bob")
        + user_event(3, b"LINE_CALLSTATE LINECALLSTATE_CONNECTED", name=b"Bob"),
    )
    assert out == [CallState("line_1", KEY, LineCallState.CONNECTED)]
    assert tracker.call_key_of(handle) == KEY


# --------------------------------------------------------------------------- (b) failed UserEvents


def failing_call(*, h_extension: bool) -> bytes:
    """Asterisk 22 with a Latin-1 caller name: SET CALLERID's UserEvent fails
    (ast_json_string_create returns NULL), so no UserEvent follows its Newexten;
    the PBX loop soft-hangs-up the channel (Cause 16) and runs the h extension."""
    setcid = b'SET CALLERID "' + JOERG + b'" <5550100>'
    out = (
        BANNER_22
        + user_event(2, b"LINE_NEWCALL line_1", name=JOERG)
        + newexten(3, b"UserEvent", b"TAPI,TAPIEVENT: " + setcid, name=JOERG)
        + hangup(b"SoftHangupRequest", JOERG)
    )
    if h_extension:
        out += user_event(1, b"LINE_CALLSTATE LINECALLSTATE_IDLE", name=JOERG, exten="h")
    return out + hangup(b"Hangup", JOERG)


def test_a_call_that_dies_at_a_failed_user_event_says_why() -> None:
    tracker = CallTracker()
    out = feed(tracker, failing_call(h_extension=True))
    joerg = CallerId("J\udcf6rg M\udcfcller", "5550100")
    assert normalise(out) == [
        NewCall("line_1", KEY),
        # Told at the h extension's Newexten: the SET CALLERID never arrived.
        Diagnostic(DiagnosticCode.USEREVENT_FAILED, "", KEY),
        # The h extension's IDLE is the first command after the NEWCALL.
        CallInfo("line_1", KEY, CALLERID, joerg),
        CallState("line_1", KEY, IDLE),
    ]
    diag = out[1]
    assert isinstance(diag, Diagnostic) and diag.frame is not None
    assert "inbound,100,3" in diag.message and "not valid UTF-8" in diag.message
    assert diag.frame.get("Application") == "UserEvent"
    assert tracker.call_count == 0


def test_without_h_extension_the_hangup_tells_it_before_the_safety_net() -> None:
    out = feed(CallTracker(), failing_call(h_extension=False))
    assert normalise(out) == [
        NewCall("line_1", KEY),
        Diagnostic(DiagnosticCode.USEREVENT_FAILED, "", KEY),
        Diagnostic(DiagnosticCode.MISSING_IDLE, "", KEY),
        CallState("line_1", KEY, IDLE, synthesized=True),
    ]


def test_a_user_event_in_try_exec_or_that_worked_gives_no_diagnostic() -> None:
    setcid = b'TAPI,TAPIEVENT: SET CALLERID "' + JOERG + b'" <5550100>'
    stream = (
        BANNER_22
        + user_event(2, b"LINE_NEWCALL line_1", name=JOERG)
        # TryExec runs the failing UserEvent at the same priority: no Newexten
        # of its own (same context/exten/priority), and the call goes on.
        + newexten(3, b"TryExec", b"UserEvent(" + setcid + b")", name=JOERG)
        + user_event(4, b"LINE_CALLSTATE LINECALLSTATE_OFFERING", name=JOERG)
        + newexten(5, b"Dial", b"Local/bob@phones,20", name=JOERG)
        + user_event(1, b"LINE_CALLSTATE LINECALLSTATE_IDLE", name=JOERG, exten="h")
        + hangup(b"Hangup", JOERG)
    )
    out = feed(CallTracker(), stream)
    assert [type(e) for e in out] == [NewCall, CallInfo, CallState, CallState]


def test_before_asterisk_12_user_events_never_fail_and_are_not_watched() -> None:
    # 1.4-1.8 UserEvents carry no Uniqueid: watching would mistake every one.
    stream = BANNER_11 + failing_call(h_extension=True)[len(BANNER_22) :]
    out = feed(CallTracker(), stream)
    assert not any(isinstance(e, Diagnostic) for e in out)


@pytest.mark.parametrize("path", sorted(CAPTURES.glob("*.ami")), ids=lambda p: p.stem)
def test_no_real_capture_gives_a_false_user_event_failure(path: Path) -> None:
    out = feed(CallTracker(), path.read_bytes())
    assert DiagnosticCode.USEREVENT_FAILED not in [e.code for e in out if isinstance(e, Diagnostic)]


def test_real_asterisk_22_latin1_caller_name() -> None:
    """Recorded from a real 22.10.1 (tests/data/tracker/README.md): one call dies at
    the failed SET CALLERID, one survives it inside TryExec; both show the name."""
    data = (CAPTURES.parent / "tracker" / "asterisk-22.10.1-latin1-userevent.ami").read_bytes()
    died, survived = "1796169552.2", "1796169552.3"
    joerg = CallerId("J\udcf6rg M\udcfcller", "5550100")
    assert normalise(feed(CallTracker(), data)) == [
        NewCall("line_1", died),
        Diagnostic(DiagnosticCode.USEREVENT_FAILED, "", died),
        CallInfo("line_1", died, CALLERID, joerg),
        CallState("line_1", died, IDLE),
        NewCall("line_1", survived),
        CallInfo("line_1", survived, CALLERID, joerg),
        CallState("line_1", survived, OFFERING),
        CallState("line_1", survived, IDLE),
    ]
    assert joerg.name is not None
    assert joerg.name.encode("utf-8", "surrogateescape") == "Jörg Müller".encode("latin-1")


@pytest.mark.parametrize(
    ("name", "number", "expected"),
    [
        (b"Eve\0", b"55\x00501", CallerId("Eve", "55501")),
        (b"\0", b"<5550100>", None),
        (b"<unknown>", b"5<5", None),
    ],
)
def test_hostile_snapshot_values_never_raise(
    name: bytes, number: bytes, expected: CallerId | None
) -> None:
    stream = BANNER_22 + (
        user_event(2, b"LINE_NEWCALL line_1", name=name).replace(
            b"CallerIDNum: 5550100", b"CallerIDNum: " + number
        )
        + user_event(3, b"LINE_CALLSTATE LINECALLSTATE_OFFERING", name=b"x")
    )
    out = feed(CallTracker(), stream)
    infos = [e.caller_id for e in out if isinstance(e, CallInfo)]
    assert infos == ([] if expected is None else [expected])
    assert out[-1] == CallState("line_1", KEY, OFFERING)
