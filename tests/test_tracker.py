"""CallTracker: protocol.md sections 3-5, driven with values and synthetic AMI messages.

The core is exercised with ExtractedEvent values built directly from
tapievent.model, so every rule of the tracker table is checked on its own;
the capture replays are in test_tracker_captures.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from docs_examples import run_python_blocks
from events_support import tapi
from hypothesis import given
from hypothesis import strategies as st

from tapievent import LocalProtocolError
from tapievent._diagnostics import DiagnosticCode
from tapievent.ami_codec import Action, Banner, Message
from tapievent.model import (
    CallerId,
    CallInfo,
    CallState,
    CallStateCommand,
    Command,
    Diagnostic,
    ExtractedEvent,
    HangupCommand,
    LineCallInfoState,
    LineCallOrigin,
    LineCallState,
    LineDisconnectMode,
    NewCall,
    NewCallCommand,
    OutputEvent,
    SetCallerIdCommand,
    TapiEvent,
    TargetSpec,
    UnknownCommand,
)
from tapievent.tracker import ORIGINATE_VARIABLE, CallHandle, CallTracker, TrackedCall

IDLE = LineCallState.IDLE
OFFERING = LineCallState.OFFERING
CONNECTED = LineCallState.CONNECTED
DISCONNECTED = LineCallState.DISCONNECTED

AST22 = Banner((11, 0, 0), "Asterisk Call Manager/11.0.0")
AST11 = Banner((1, 3), "Asterisk Call Manager/1.3")
AST14 = Banner((1, 0), "Asterisk Call Manager/1.0")


def frame(key: str | None = None, channel: str | None = None) -> Message:
    pairs = [("Event", "UserEvent")]
    if channel is not None:
        pairs.append(("Channel", channel))
    if key is not None:
        pairs.append(("Uniqueid", key))
    pairs.append(("UserEvent", "TAPI"))
    return Message.from_pairs(*pairs)


def ev(
    command: Command,
    key: str | None,
    *,
    include: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
    spec_key: bool = False,
    channel: str | None = None,
) -> ExtractedEvent:
    """An extracted event as the grammar hands it over (key from header or spec)."""
    spec = TargetSpec(key if spec_key else None, include, exclude)
    return ExtractedEvent(
        TapiEvent(spec, command),
        key,
        None if key is None else ("spec" if spec_key else "header"),
        frame(None if spec_key else key, channel),
    )


def newcall(line: str, key: str | None, **kw: object) -> ExtractedEvent:
    return ev(NewCallCommand(line), key, **kw)  # type: ignore[arg-type]


def state(
    st_: LineCallState, key: str | None, mode: int | None = None, **kw: object
) -> ExtractedEvent:
    return ev(CallStateCommand(st_, mode), key, **kw)  # type: ignore[arg-type]


def hangup_cmd(key: str, **kw: object) -> ExtractedEvent:
    return ev(HangupCommand(), key, **kw)  # type: ignore[arg-type]


def ami(*pairs: tuple[str, str]) -> Message:
    return Message.from_pairs(*pairs)


def ami_hangup(uid: str) -> Message:
    return ami(("Event", "Hangup"), ("Channel", f"PJSIP/x-{uid}"), ("Uniqueid", uid))


def codes(events: list[OutputEvent]) -> list[str]:
    found = [e.code for e in events if isinstance(e, Diagnostic)]
    # Every code the tracker makes is a member of the one enum, never a bare
    # string (the grammar's own pass through as the grammar made them).
    assert all(isinstance(c, DiagnosticCode) for c in found if c not in _GRAMMAR_CODES), found
    return found


_GRAMMAR_CODES = frozenset(
    {
        DiagnosticCode.LEGACY_SYNTAX,
        DiagnosticCode.MISSING_COLON,
        DiagnosticCode.DUPLICATE_TAPIEVENT,
        DiagnosticCode.EMPTY_BODY,
        DiagnosticCode.SYNTAX_ERROR,
    }
)


# --------------------------------------------------------------------------- section 4 table


def test_inbound_call_lifecycle_on_one_line() -> None:
    t = CallTracker({"line_1"})
    k = "1700000000.1"
    assert tapi(t.handle_tapi(newcall("line_1", k, channel="PJSIP/in-1"))) == [
        NewCall("line_1", k, LineCallOrigin.UNKNOWN, None)
    ]
    cid = CallerId("Alice Caller", "5550100")
    assert tapi(t.handle_tapi(ev(SetCallerIdCommand('"Alice Caller" <5550100>'), k))) == [
        CallInfo("line_1", k, LineCallInfoState.CALLERID, cid)
    ]
    assert tapi(t.handle_tapi(state(OFFERING, k))) == [CallState("line_1", k, OFFERING)]
    assert t.snapshot() == (
        TrackedCall(k, ("line_1",), (OFFERING,), cid, LineCallOrigin.UNKNOWN, "PJSIP/in-1"),
    )
    assert tapi(t.handle_tapi(state(CONNECTED, k))) == [CallState("line_1", k, CONNECTED)]
    assert t.snapshot()[0].state_of("line_1") is CONNECTED
    assert tapi(t.handle_tapi(state(IDLE, k))) == [CallState("line_1", k, IDLE)]
    assert t.snapshot() == ()
    assert t.call_count == 0


def test_newcall_is_idempotent_and_reports_the_duplicate() -> None:
    t = CallTracker()
    t.handle_tapi(newcall("a", "k1"))
    again = tapi(t.handle_tapi(newcall("a", "k1")))
    assert codes(again) == [DiagnosticCode.DUPLICATE_NEWCALL]
    assert again[0] == Diagnostic(DiagnosticCode.DUPLICATE_NEWCALL, again[0].message, "k1")  # type: ignore[union-attr]
    assert t.snapshot()[0].lines == ("a",)


def test_newcall_ignores_line_targets_of_the_spec() -> None:
    t = CallTracker()
    out = tapi(t.handle_tapi(newcall("a", "k1", include=("b",), exclude=("a",), spec_key=True)))
    assert out == [NewCall("a", "k1")]


def test_caller_id_known_before_a_second_newcall_is_passed_along() -> None:
    t = CallTracker()
    t.handle_tapi(newcall("a", "k"))
    t.handle_tapi(ev(SetCallerIdCommand("5550100"), "k"))
    assert tapi(t.handle_tapi(newcall("b", "k"))) == [
        NewCall("b", "k", LineCallOrigin.UNKNOWN, CallerId(None, "5550100"))
    ]


def test_unserved_lines_are_ignored_silently() -> None:
    t = CallTracker({"line_1"})
    assert tapi(t.handle_tapi(newcall("line_2", "k"))) == []
    assert t.call_count == 0
    # A workstation sees other workstations' calls go by: no noise about them.
    assert tapi(t.handle_tapi(state(OFFERING, "k"))) == []
    assert tapi(t.handle_tapi(ev(SetCallerIdCommand("1"), "k"))) == []
    assert tapi(t.handle_tapi(state(OFFERING, None))) == []
    # ... unless the spec names a line it serves.
    assert codes(t.handle_tapi(state(OFFERING, "k", include=("line_1",)))) == [
        DiagnosticCode.UNTRACKED_CALL
    ]


def test_untracked_call_is_a_diagnostic_and_nothing_else() -> None:
    t = CallTracker()
    out = tapi(t.handle_tapi(state(CONNECTED, "nope")))
    assert codes(out) == [DiagnosticCode.UNTRACKED_CALL] and len(out) == 1
    assert out[0].call_key == "nope"  # type: ignore[union-attr]
    assert codes(t.handle_tapi(hangup_cmd("nope"))) == [DiagnosticCode.UNTRACKED_CALL]
    assert codes(t.handle_tapi(ev(SetCallerIdCommand("x"), "nope"))) == [
        DiagnosticCode.UNTRACKED_CALL
    ]
    assert t.call_count == 0


def test_no_call_key_on_asterisk_1_4_to_1_8() -> None:
    t = CallTracker()
    for event in (
        newcall("a", None),
        state(OFFERING, None),
        ev(HangupCommand(), None),
        ev(SetCallerIdCommand("x"), None),
    ):
        out = tapi(t.handle_tapi(event))
        assert codes(out) == [DiagnosticCode.NO_CALL_KEY]
        assert "[~${UNIQUEID}]" in out[0].message  # type: ignore[union-attr]
    assert t.call_count == 0


def test_delivery_set_included_and_excluded_lines() -> None:
    t = CallTracker()
    for line in ("a", "b", "c"):
        t.handle_tapi(newcall(line, "k"))
    assert tapi(t.handle_tapi(state(OFFERING, "k"))) == [
        CallState(x, "k", OFFERING) for x in ("a", "b", "c")
    ]
    assert tapi(t.handle_tapi(state(CONNECTED, "k", include=("c", "a", "zz"), spec_key=True))) == [
        CallState("a", "k", CONNECTED),
        CallState("c", "k", CONNECTED),
    ]
    assert tapi(t.handle_tapi(state(DISCONNECTED, "k", 0x20, exclude=("a",), spec_key=True))) == [
        CallState("b", "k", DISCONNECTED, 0x20),
        CallState("c", "k", DISCONNECTED, 0x20),
    ]
    assert t.snapshot()[0].states == (CONNECTED, DISCONNECTED, DISCONNECTED)
    # Included and excluded together: included minus excluded.
    assert t.handle_tapi(
        state(OFFERING, "k", include=("a", "b"), exclude=("c",), spec_key=True)
    ) == [CallState("a", "k", OFFERING), CallState("b", "k", OFFERING)]
    # A spec naming no line of the call delivers nothing, silently.
    assert tapi(t.handle_tapi(state(CONNECTED, "k", include=("sip/bob",), spec_key=True))) == []


def test_idle_detaches_only_the_delivered_lines() -> None:
    t = CallTracker()
    t.handle_tapi(newcall("a", "k"))
    t.handle_tapi(newcall("b", "k"))
    assert tapi(t.handle_tapi(state(IDLE, "k", include=("b",), spec_key=True))) == [
        CallState("b", "k", IDLE)
    ]
    assert t.snapshot()[0].lines == ("a",)
    assert tapi(t.handle_tapi(state(IDLE, "k"))) == [CallState("a", "k", IDLE)]
    assert t.call_count == 0
    # After IDLE the call is forgotten: a later event is an untracked call.
    assert codes(t.handle_tapi(state(IDLE, "k"))) == [DiagnosticCode.UNTRACKED_CALL]


def test_asttapi_hangup_is_disconnected_pickup_then_idle() -> None:
    t = CallTracker()
    t.handle_tapi(newcall("bob", "k"))
    t.handle_tapi(newcall("bobbett", "k"))
    t.handle_tapi(newcall("carol", "k"))
    assert tapi(t.handle_tapi(hangup_cmd("k", exclude=("bob",), spec_key=True))) == [
        CallState("bobbett", "k", DISCONNECTED, LineDisconnectMode.PICKUP),
        CallState("bobbett", "k", IDLE),
        CallState("carol", "k", DISCONNECTED, LineDisconnectMode.PICKUP),
        CallState("carol", "k", IDLE),
    ]
    assert t.snapshot()[0].lines == ("bob",)


def test_seed_ring_group_timeline() -> None:
    """The seed dialplan: 100 rings sip/bob and sip/bobbett, bob answers."""
    t = CallTracker()
    k = "1700000000.42"
    out: list[OutputEvent] = []
    out += tapi(t.handle_tapi(newcall("sip/bob", k)))
    out += tapi(t.handle_tapi(newcall("sip/bobbett", k)))
    out += tapi(t.handle_tapi(ev(SetCallerIdCommand('"Alice" <5550100>'), k)))
    out += tapi(t.handle_tapi(state(CONNECTED, k, include=("sip/bob",), spec_key=True)))
    out += tapi(t.handle_tapi(hangup_cmd(k, exclude=("sip/bob",), spec_key=True)))
    out += tapi(t.handle_tapi(state(IDLE, k)))
    alice = CallerId("Alice", "5550100")
    assert out == [
        NewCall("sip/bob", k),
        NewCall("sip/bobbett", k),
        CallInfo("sip/bob", k, LineCallInfoState.CALLERID, alice),
        CallInfo("sip/bobbett", k, LineCallInfoState.CALLERID, alice),
        CallState("sip/bob", k, CONNECTED),
        CallState("sip/bobbett", k, DISCONNECTED, LineDisconnectMode.PICKUP),
        CallState("sip/bobbett", k, IDLE),
        CallState("sip/bob", k, IDLE),
    ]
    assert t.call_count == 0


def test_set_callerid_stores_even_when_no_line_receives_it() -> None:
    t = CallTracker()
    t.handle_tapi(newcall("a", "k"))
    assert tapi(t.handle_tapi(ev(SetCallerIdCommand("Bob <201>"), "k", include=("z",)))) == []
    assert t.snapshot()[0].caller_id == CallerId("Bob", "201")


def test_unknown_command_reported_once_per_word() -> None:
    t = CallTracker()
    t.handle_tapi(newcall("a", "k"))
    first = tapi(t.handle_tapi(ev(UnknownCommand("LINE_CALLINFO foo"), "k")))
    assert codes(first) == [DiagnosticCode.UNKNOWN_COMMAND]
    assert "LINE_CALLINFO" in first[0].message  # type: ignore[union-attr]
    assert tapi(t.handle_tapi(ev(UnknownCommand("line_callinfo bar"), "k"))) == []
    assert codes(t.handle_tapi(ev(UnknownCommand("LINE_MONITORDIGITS 1"), "k"))) == [
        DiagnosticCode.UNKNOWN_COMMAND
    ]
    # No state change.
    assert t.snapshot()[0] == TrackedCall("k", ("a",), (None,), None, LineCallOrigin.UNKNOWN, None)


def test_unknown_word_memory_is_bounded() -> None:
    t = CallTracker()
    reported = sum(len(t.handle_tapi(ev(UnknownCommand(f"W{i}"), "k"))) for i in range(1000))
    assert reported == 1000
    assert len(t._commands.unknown_words) <= 256


def test_extractor_diagnostics_come_first() -> None:
    t = CallTracker()
    legacy = Diagnostic(DiagnosticCode.LEGACY_SYNTAX, "pipe separator")
    event = ExtractedEvent(
        TapiEvent(TargetSpec(), NewCallCommand("a")), "k", "header", frame("k"), (legacy,)
    )
    assert tapi(t.handle_tapi(event)) == [legacy, NewCall("a", "k")]


def test_too_many_lines_on_one_call() -> None:
    t = CallTracker(max_lines_per_call=2)
    t.handle_tapi(newcall("a", "k"))
    t.handle_tapi(newcall("b", "k"))
    assert codes(t.handle_tapi(newcall("c", "k"))) == [DiagnosticCode.TOO_MANY_LINES]
    assert t.snapshot()[0].lines == ("a", "b")


# --------------------------------------------------------------------------- no leak


def test_hangup_safety_net_synthesizes_idle() -> None:
    t = CallTracker()
    t.handle_tapi(newcall("a", "k"))
    t.handle_tapi(newcall("b", "k"))
    t.handle_tapi(state(IDLE, "k", include=("a",)))
    message = ami_hangup("k")
    out = tapi(t.handle(message))
    assert codes(out) == [DiagnosticCode.MISSING_IDLE]
    assert out[0].frame is message  # type: ignore[union-attr]
    assert out[1:] == [CallState("b", "k", IDLE, synthesized=True)]
    assert t.call_count == 0


def test_hangup_of_a_finished_or_unknown_call_is_quiet() -> None:
    t = CallTracker()
    t.handle_tapi(newcall("a", "k"))
    t.handle_tapi(state(IDLE, "k"))
    assert tapi(t.handle(ami_hangup("k"))) == []
    assert tapi(t.handle(ami_hangup("other"))) == []
    assert tapi(t.handle(ami(("Event", "Hangup")))) == []


def test_hangup_header_spelling_is_case_insensitive() -> None:
    t = CallTracker()
    t.handle_tapi(newcall("a", "k"))
    out = tapi(t.handle(ami(("event", "hangup"), ("UniqueID", "k"))))
    assert out[1:] == [CallState("a", "k", IDLE, synthesized=True)]


def test_event_names_dispatch_in_any_spelling_and_the_memo_stays_bounded() -> None:
    # handle() memoises how each Event spelling dispatches; flooding it with
    # names (a server can send any) never grows it past its bound, and the
    # spellings that matter keep working after it has been reset.
    from tapievent import tracker as tracker_module

    t = CallTracker()
    other = CallTracker()
    for n in range(tracker_module._DISPATCH_MAX * 2 + 3):
        assert tapi(t.handle(ami(("Event", f"Custom{n}"), ("Uniqueid", "k")))) == []
        assert len(t._dispatch) <= tracker_module._DISPATCH_MAX
    # The memo is the tracker's own: another tracker learnt nothing.
    assert "Custom1" not in other._dispatch
    for spelling in ("Hangup", "hangup", " HANGUP\t"):
        t.handle_tapi(newcall("a", "k"))
        out = tapi(t.handle(ami(("Event", spelling), ("Uniqueid", "k"))))
        assert out[1:] == [CallState("a", "k", IDLE, synthesized=True)], spelling
    for spelling in ("UserEvent", "userevent", "USEREVENT"):
        message = ami(
            ("Event", spelling),
            ("Uniqueid", "k2"),
            ("UserEvent", "TAPI"),
            ("TAPIEVENT", "LINE_NEWCALL b"),
        )
        assert tapi(t.handle(message)) == [NewCall("b", "k2", LineCallOrigin.UNKNOWN, None)], (
            spelling
        )
        t.handle_tapi(state(IDLE, "k2"))


def test_reconcile_ends_calls_that_are_not_live() -> None:
    t = CallTracker()
    for key in ("k1", "k2", "k3"):
        t.handle_tapi(newcall("a", key))
    out = tapi(t.reconcile(["k2", "unrelated"]))
    assert codes(out) == [DiagnosticCode.STALE_CALL, DiagnosticCode.STALE_CALL]
    assert [e for e in out if isinstance(e, CallState)] == [
        CallState("a", "k1", IDLE, synthesized=True),
        CallState("a", "k3", IDLE, synthesized=True),
    ]
    assert [c.call_key for c in t.snapshot()] == ["k2"]
    assert tapi(t.reconcile(["k2"])) == []


def test_max_calls_evicts_the_oldest() -> None:
    t = CallTracker(max_calls=2)
    t.handle_tapi(newcall("a", "k1"))
    t.handle_tapi(newcall("b", "k1"))
    t.handle_tapi(newcall("a", "k2"))
    out = tapi(t.handle_tapi(newcall("a", "k3")))
    assert codes(out) == [DiagnosticCode.CALL_EVICTED]
    assert out[1:] == [
        CallState("a", "k1", IDLE, synthesized=True),
        CallState("b", "k1", IDLE, synthesized=True),
        NewCall("a", "k3"),
    ]
    assert [c.call_key for c in t.snapshot()] == ["k2", "k3"]


def test_constructor_validates_its_bounds() -> None:
    with pytest.raises(ValueError, match="max_calls"):
        CallTracker(max_calls=0)
    with pytest.raises(ValueError, match="max_lines_per_call"):
        CallTracker(max_lines_per_call=0)
    for prefix in ("", "a b", "x" * 101, "a&b", "a\r\n"):
        with pytest.raises(ValueError, match="id_prefix"):
            CallTracker(id_prefix=prefix)


# --------------------------------------------------------------------------- plain AMI input


def test_banner_and_unrelated_messages() -> None:
    t = CallTracker()
    assert t.server_version is None
    assert not t.uses_channel_id()
    assert tapi(t.handle(AST22)) == []
    assert t.server_version == (11, 0, 0)
    assert t.uses_channel_id()
    assert tapi(t.handle(ami(("Response", "Success"), ("ActionID", "x")))) == []
    assert tapi(t.handle(ami(("Event", "Newexten"), ("Uniqueid", "k")))) == []
    assert tapi(t.handle(ami(("Output", "no event at all")))) == []
    assert tapi(t.handle(Message(()))) == []


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ((1, 0), False),  # 1.2 / 1.4
        ((1, 1), False),  # 1.6 / 1.8
        ((1, 3), False),  # 11
        ((2, 0, 0), False),  # 12.0: ChannelId only from 12.2, not decidable
        ((2, 4, 0), False),
        ((2, 5, 0), True),  # 13.0
        ((2, 10, 6), True),
        ((5, 0, 0), True),  # 16
        ((11, 0, 0), True),  # 22
    ],
)
def test_channel_id_decided_from_the_banner(version: tuple[int, ...], expected: bool) -> None:
    t = CallTracker()
    t.handle(Banner(version, "Asterisk Call Manager/" + ".".join(map(str, version))))
    assert t.uses_channel_id() is expected
    _, action = t.make_call("l", "100", context="c", channel="PJSIP/1")
    assert ("ChannelId" in dict(action.headers)) is expected
    assert ("Variable" in dict(action.headers)) is not expected


def test_channel_learned_from_later_events_when_userevents_name_none() -> None:
    t = CallTracker()
    t.handle(AST11)
    t.handle_tapi(newcall("a", "k"))  # 10/11: Uniqueid but no Channel
    assert t.snapshot()[0].channel is None
    with pytest.raises(LocalProtocolError, match="not known yet"):
        t.hangup("k")
    t.handle(ami(("Event", "Newstate"), ("Channel", "SIP/100-0001"), ("Uniqueid", "k")))
    assert t.snapshot()[0].channel == "SIP/100-0001"
    assert t.hangup("k") == Action("Hangup", (("Channel", "SIP/100-0001"),))
    t.handle(ami(("Event", "Rename"), ("Uniqueid", "k"), ("Newname", "SIP/100-0001<ZOMBIE>")))
    assert t.snapshot()[0].channel == "SIP/100-0001<ZOMBIE>"


def test_unknown_channel_falls_back_to_unique_id_on_asterisk_12_plus() -> None:
    t = CallTracker()
    t.handle(AST22)
    t.handle_tapi(newcall("a", "k"))  # e.g. an AMI-action UserEvent: no Channel
    assert t.hangup("k") == Action("Hangup", (("Channel", "k"),))


# --------------------------------------------------------------------------- actions on calls


def test_hangup_redirect_and_digits_name_the_channel() -> None:
    t = CallTracker()
    t.handle_tapi(newcall("a", "k", channel="PJSIP/201-00000001"))
    ch = ("Channel", "PJSIP/201-00000001")
    assert t.hangup("k") == Action("Hangup", (ch,))
    assert t.redirect("k", context="internal", exten="300") == Action(
        "Redirect", (ch, ("Context", "internal"), ("Exten", "300"), ("Priority", "1"))
    )
    assert t.send_digits("k", "#") == Action("PlayDTMF", (ch, ("Digit", "#")))
    assert t.digit_actions("k", "12*") == tuple(
        Action("PlayDTMF", (ch, ("Digit", d))) for d in "12*"
    )
    for bad in ("", "12", "x", "\r"):
        with pytest.raises(LocalProtocolError, match="PlayDTMF"):
            t.send_digits("k", bad)
    with pytest.raises(LocalProtocolError, match="no digits"):
        t.digit_actions("k", "")
    with pytest.raises(LocalProtocolError, match="not tracked"):
        t.hangup("other")


# --------------------------------------------------------------------------- make_call, ChannelId


def originate_response(action_id: str, response: str, uid: str, reason: str = "4") -> Message:
    return ami(
        ("Event", "OriginateResponse"),
        ("Privilege", "call,all"),
        ("ActionID", action_id),
        ("Response", response),
        ("Channel", "Local/bob@phones-originate-00000003;1"),
        ("Context", "outbound"),
        ("Exten", "95551234"),
        ("Reason", reason),
        ("Uniqueid", uid),
    )


def test_make_call_builds_an_async_originate_with_channel_ids() -> None:
    t = CallTracker({"line_1"}, id_prefix="ws7")
    t.handle(AST22)
    handle, action = t.make_call(
        "line_1",
        "95551234",
        context="outbound",
        channel="Local/bob@phones-originate",
        caller_id='"Bob" <201>',
        timeout_ms=30000,
        variables={"ACCOUNT": "42"},
    )
    assert handle == CallHandle("ws7-originate-1", "line_1", "ws7-1", "ws7-1", "ws7-1-2")
    assert action == Action(
        "Originate",
        (
            ("Channel", "Local/bob@phones-originate"),
            ("Context", "outbound"),
            ("Exten", "95551234"),
            ("Priority", "1"),
            ("CallerID", '"Bob" <201>'),
            ("Timeout", "30000"),
            ("ChannelId", "ws7-1"),
            ("OtherChannelId", "ws7-1-2"),
            ("Variable", "ACCOUNT=42"),
            ("Async", "true"),
        ),
        "ws7-originate-1",
    )
    # Known up front on this path.
    assert t.call_key_of(handle) == "ws7-1"
    assert t.pending_count == 1
    second, _ = t.make_call("line_1", "1", context="c", channel="PJSIP/1")
    assert second.action_id == "ws7-originate-2" and second.channel_id == "ws7-2"


@pytest.mark.parametrize("newcall_first", [True, False])
def test_originated_call_newcall_is_attached_silently(newcall_first: bool) -> None:
    t = CallTracker({"line_1"})
    t.handle(AST22)
    handle, _ = t.make_call("line_1", "95551234", context="outbound", channel="Local/bob@x")
    key = handle.origination_id
    t.handle(
        ami(
            ("Event", "Newchannel"),
            ("Channel", "Local/bob@x-00000001;1"),
            ("Uniqueid", key),
        )
    )
    success = originate_response(handle.action_id, "Success", key)
    out: list[OutputEvent] = []
    if not newcall_first:
        out += tapi(t.handle(success))
    out += t.handle_tapi(newcall("line_1", key))
    if newcall_first:
        out += tapi(t.handle(success))
    assert out == []  # no NewCall: the application knows this call from make_call
    assert t.pending_count == 0
    assert t.snapshot() == (
        TrackedCall(
            key,
            ("line_1",),
            (None,),
            None,
            LineCallOrigin.OUTBOUND,
            "Local/bob@x-00000001;1",
            handle.action_id,
        ),
    )
    assert t.call_key_of(handle) == key
    assert t.action_id_of(key) == handle.action_id
    assert tapi(t.handle_tapi(state(CONNECTED, key))) == [CallState("line_1", key, CONNECTED)]
    assert tapi(t.handle_tapi(state(IDLE, key))) == [CallState("line_1", key, IDLE)]
    assert t.call_count == 0 and t.call_key_of(handle) is None


def test_originated_call_channel_known_for_hangup_before_newcall() -> None:
    t = CallTracker()
    t.handle(AST22)
    handle, _ = t.make_call("l", "1", context="c", channel="PJSIP/201")
    t.handle(ami(("Event", "Newchannel"), ("Channel", "PJSIP/201-0001"), ("Uniqueid", "x")))
    assert t.hangup(handle) == Action("Hangup", (("Channel", handle.origination_id),))
    t.handle(
        ami(
            ("Event", "Newchannel"),
            ("Channel", "PJSIP/201-0002"),
            ("Uniqueid", handle.origination_id),
        )
    )
    assert t.hangup(handle) == Action("Hangup", (("Channel", "PJSIP/201-0002"),))
    t.handle_tapi(newcall("l", handle.origination_id))
    assert t.snapshot()[0].channel == "PJSIP/201-0002"


def test_other_lines_still_get_newcall_for_an_originated_call() -> None:
    t = CallTracker()
    t.handle(AST22)
    handle, _ = t.make_call("line_1", "1", context="c", channel="PJSIP/1")
    key = handle.origination_id
    assert tapi(t.handle_tapi(newcall("line_2", key))) == [NewCall("line_2", key)]
    assert tapi(t.handle_tapi(newcall("line_1", key))) == []
    assert t.handle_tapi(newcall("line_1", key))[0].code == DiagnosticCode.DUPLICATE_NEWCALL  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("reason", "mode"),
    [
        ("5", LineDisconnectMode.BUSY),
        ("3", LineDisconnectMode.NOANSWER),
        ("8", LineDisconnectMode.CONGESTION),
        ("0", LineDisconnectMode.UNAVAIL),
        ("1", LineDisconnectMode.REJECT),
        ("99", LineDisconnectMode.UNKNOWN),
    ],
)
def test_originate_failure_ends_the_handle(reason: str, mode: LineDisconnectMode) -> None:
    t = CallTracker()
    t.handle(AST22)
    handle, _ = t.make_call("line_1", "1", context="c", channel="PJSIP/1")
    key = handle.origination_id
    assert tapi(t.handle(originate_response(handle.action_id, "Failure", "<unknown>", reason))) == [
        CallState("line_1", key, DISCONNECTED, mode, synthesized=True),
        CallState("line_1", key, IDLE, synthesized=True),
    ]
    assert t.pending_count == 0 and t.call_count == 0
    assert t.call_key_of(handle) is None
    # Its id is free again, and a repeated response is not ours any more.
    assert tapi(t.handle(originate_response(handle.action_id, "Failure", "<unknown>"))) == []


def test_originate_response_of_other_sessions_is_ignored() -> None:
    t = CallTracker()
    t.handle(AST22)
    handle, _ = t.make_call("line_1", "1", context="c", channel="PJSIP/1")
    t.handle_tapi(newcall("line_1", "live"))
    # Broadcast: another session's ActionID, even naming our call key.
    assert tapi(t.handle(originate_response("someone-else", "Failure", "live", "0"))) == []
    # Our ActionID, but another ChannelId in Uniqueid: another client reusing ids.
    assert tapi(t.handle(originate_response(handle.action_id, "Failure", "live", "0"))) == []
    assert t.pending_count == 1
    assert [c.call_key for c in t.snapshot()] == ["live"]


def test_failure_after_newcall_attached_never_kills_the_live_call() -> None:
    t = CallTracker()
    t.handle(AST22)
    handle, _ = t.make_call("line_1", "1", context="c", channel="PJSIP/1")
    key = handle.origination_id
    t.handle_tapi(newcall("line_1", key))
    assert tapi(t.handle(originate_response(handle.action_id, "Failure", key, "0"))) == []
    assert t.pending_count == 0
    assert t.snapshot()[0].lines == ("line_1",)


def test_make_call_refusals() -> None:
    t = CallTracker({"line_1"}, max_calls=2)
    t.handle(AST22)
    with pytest.raises(LocalProtocolError, match="not served"):
        t.make_call("line_9", "1", context="c", channel="PJSIP/1")
    with pytest.raises(LocalProtocolError, match="reserved"):
        t.make_call("line_1", "1", context="c", channel="P/1", variables={ORIGINATE_VARIABLE: "x"})
    with pytest.raises(LocalProtocolError, match="variable name"):
        t.make_call("line_1", "1", context="c", channel="P/1", variables={"A=B": "x"})
    with pytest.raises(LocalProtocolError, match="timeout_ms"):
        t.make_call("line_1", "1", context="c", channel="P/1", timeout_ms=0)
    with pytest.raises(LocalProtocolError, match="needs use_channel_id"):
        t.make_call("line_1", "1", context="c", channel="P/1", channel_id="x", use_channel_id=False)
    t.make_call("line_1", "1", context="c", channel="P/1", action_id="a1", channel_id="dup")
    with pytest.raises(LocalProtocolError, match="already pending"):
        t.make_call("line_1", "1", context="c", channel="P/1", action_id="a1")
    with pytest.raises(LocalProtocolError, match="Asterisk would refuse"):
        t.make_call("line_1", "1", context="c", channel="P/1", channel_id="dup")
    t.handle_tapi(newcall("line_1", "tracked"))
    with pytest.raises(LocalProtocolError, match="Asterisk would refuse"):
        t.make_call("line_1", "1", context="c", channel="P/1", channel_id="tracked")
    t.make_call("line_1", "1", context="c", channel="P/1")
    with pytest.raises(LocalProtocolError, match="already waiting"):
        t.make_call("line_1", "1", context="c", channel="P/1")
    assert t.pending_count == 2


def test_newcall_before_anything_identifies_the_call_is_reported_then_attached() -> None:
    """Without ChannelId and without VarSet, OriginateResponse is too late (section 5)."""
    t = CallTracker()
    t.handle(AST22)
    handle, _ = t.make_call("line_1", "1", context="c", channel="P/1", use_channel_id=False)
    assert tapi(t.handle_tapi(newcall("line_1", "1795667861.49"))) == [
        NewCall("line_1", "1795667861.49")
    ]
    out = tapi(t.handle(originate_response(handle.action_id, "Success", "1795667861.49")))
    assert codes(out) == [DiagnosticCode.ORIGINATE_NOT_FILTERED]
    assert t.call_key_of(handle) == "1795667861.49"
    assert t.pending_count == 0


def test_answered_originate_without_newcall_is_not_leaked() -> None:
    t = CallTracker()
    t.handle(AST22)
    handle, _ = t.make_call("line_1", "1", context="c", channel="P/1")
    key = handle.origination_id
    # Hangup before the response: wait for the response's reason.
    assert tapi(t.handle(ami_hangup(key))) == []
    assert t.pending_count == 1
    t.handle(originate_response(handle.action_id, "Success", key))
    out = tapi(t.handle(ami_hangup(key)))
    assert codes(out) == [DiagnosticCode.MISSING_NEWCALL]
    assert out[1:] == [CallState("line_1", key, IDLE, synthesized=True)]
    assert t.pending_count == 0


def test_reconcile_ends_pending_originates_without_a_live_channel() -> None:
    t = CallTracker()
    t.handle(AST22)
    alive, _ = t.make_call("l", "1", context="c", channel="P/1")
    gone, _ = t.make_call("l", "1", context="c", channel="P/1")
    out = tapi(t.reconcile([alive.origination_id]))
    assert codes(out) == [DiagnosticCode.STALE_CALL]
    assert out[1:] == [CallState("l", gone.origination_id, IDLE, synthesized=True)]
    assert t.pending_count == 1


# --------------------------------------------------------------------------- make_call, VarSet


def var_set(uid: str, value: str, channel: str) -> Message:
    return ami(
        ("Event", "VarSet"),
        ("Privilege", "dialplan,all"),
        ("Channel", channel),
        ("Variable", ORIGINATE_VARIABLE),
        ("Value", value),
        ("Uniqueid", uid),
    )


@pytest.mark.parametrize("banner", [AST14, AST11, None])
@pytest.mark.parametrize("newcall_first", [True, False])
def test_variable_path_with_a_local_channel(banner: Banner | None, newcall_first: bool) -> None:
    t = CallTracker({"line_1"})
    if banner is not None:
        t.handle(banner)
    handle, action = t.make_call("line_1", "95551234", context="outbound", channel="Local/bob@p")
    assert handle.channel_id is None
    assert ("Variable", f"{ORIGINATE_VARIABLE}={handle.origination_id}") in action.headers
    assert "ChannelId" not in dict(action.headers)
    assert t.call_key_of(handle) is None
    # Both halves of the Local channel report the variable: two candidates.
    assert tapi(t.handle(var_set("1.6", handle.origination_id, "Local/bob@p-0003;1"))) == []
    assert tapi(t.handle(var_set("1.7", handle.origination_id, "Local/bob@p-0003;2"))) == []
    # Other values and variables do not count.
    assert tapi(t.handle(var_set("9.9", "someone-else", "X/1"))) == []
    assert t.call_key_of(handle) is None
    assert t.hangup(handle) == Action("Hangup", (("Channel", "Local/bob@p-0003;1"),))
    success = originate_response(handle.action_id, "Success", "1.6")
    out: list[OutputEvent] = []
    if not newcall_first:
        out += tapi(t.handle(success))
    out += t.handle_tapi(newcall("line_1", "1.6", channel="Local/bob@p-0003;1"))
    if newcall_first:
        out += tapi(t.handle(success))
    assert out == []
    assert t.call_key_of(handle) == "1.6"
    assert t.pending_count == 0
    # The other half's id was forgotten: it is an ordinary id again.
    assert t._originates.by_candidate == {} and t._originates.by_origination == {}
    assert tapi(t.handle(ami_hangup("1.7"))) == []
    out = tapi(t.handle(ami_hangup("1.6")))
    assert codes(out) == [DiagnosticCode.MISSING_IDLE]
    assert t.call_count == 0


def test_variable_path_second_half_can_be_the_key() -> None:
    t = CallTracker()
    handle, _ = t.make_call("line_1", "1", context="c", channel="Local/x@p")
    t.handle(var_set("1.6", handle.origination_id, "Local/x@p-1;1"))
    t.handle(var_set("1.7", handle.origination_id, "Local/x@p-1;2"))
    assert tapi(t.handle_tapi(newcall("line_1", "1.7"))) == []
    assert t.call_key_of(handle) == "1.7"


def test_variable_path_failure_uses_the_origination_id() -> None:
    t = CallTracker()
    t.handle(AST14)
    handle, _ = t.make_call("line_1", "1", context="c", channel="Zap/1")
    out = tapi(t.handle(originate_response(handle.action_id, "Failure", "<null>", "5")))
    assert out == [
        CallState("line_1", handle.origination_id, DISCONNECTED, LineDisconnectMode.BUSY, True),
        CallState("line_1", handle.origination_id, IDLE, synthesized=True),
    ]
    assert t._originates.by_origination == {}


def test_asterisk_1_2_originate_events() -> None:
    t = CallTracker()
    t.handle(AST14)
    handle, _ = t.make_call("l", "1", context="c", channel="Zap/1")
    failure = ami(
        ("Event", "OriginateFailure"),
        ("ActionID", handle.action_id),
        ("Channel", "Zap/1"),
        ("Reason", "3"),
        ("Uniqueid", "<null>"),
    )
    assert t.handle(failure)[0] == CallState(
        "l", handle.origination_id, DISCONNECTED, LineDisconnectMode.NOANSWER, True
    )
    handle, _ = t.make_call("l", "1", context="c", channel="Zap/1")
    success = ami(
        ("Event", "OriginateSuccess"),
        ("ActionID", handle.action_id),
        ("Uniqueid", "1130000000.5"),
    )
    assert tapi(t.handle(success)) == []
    assert tapi(t.handle_tapi(newcall("l", "1130000000.5"))) == []
    assert t.call_key_of(handle) == "1130000000.5"


# --------------------------------------------------------------------------- property


_LINES = ("a", "b", "c", "d")
_KEYS = ("k1", "k2", "k3")

_Step = tuple[str, str, str, LineCallState, tuple[str, ...], tuple[str, ...], str]
_lines_subset = st.lists(st.sampled_from(_LINES), max_size=2, unique=True).map(tuple)
_step: st.SearchStrategy[_Step] = st.tuples(
    st.sampled_from(("newcall", "state", "hangup_cmd", "callerid", "Hangup")),
    st.sampled_from(_KEYS),
    st.sampled_from(_LINES),
    st.sampled_from(list(LineCallState)),
    _lines_subset,
    _lines_subset,
    st.text(alphabet='ab <>09"', max_size=12).map(str.strip),
)


def _apply_step(t: CallTracker, step: _Step, exclude: tuple[str, ...]) -> list[OutputEvent]:
    kind, key, line, st_, include, _, text = step
    if kind == "newcall":
        return t.handle_tapi(newcall(line, key))
    if kind == "state":
        return t.handle_tapi(state(st_, key, include=include, exclude=exclude, spec_key=True))
    if kind == "hangup_cmd":
        return t.handle_tapi(hangup_cmd(key, include=include, exclude=exclude, spec_key=True))
    if kind == "callerid":
        return t.handle_tapi(ev(SetCallerIdCommand(text), key))
    return t.handle(ami_hangup(key))


@given(
    served=st.one_of(st.none(), st.sets(st.sampled_from(_LINES))),
    steps=st.lists(_step, max_size=40),
    max_calls=st.integers(1, 4),
)
def test_random_interleavings_never_leak_nor_misdeliver(
    served: set[str] | None, steps: list[_Step], max_calls: int
) -> None:
    t = CallTracker(served, max_calls=max_calls)
    for step in steps:
        kind, include, excl = step[0], step[4], step[5]
        exclude: tuple[str, ...] = ()
        if kind in ("state", "hangup_cmd"):
            exclude = tuple(x for x in excl if x not in include)
        out = _apply_step(t, step, exclude)
        for event in out:
            if isinstance(event, (NewCall, CallState, CallInfo)):
                assert served is None or event.line in served
                if not (isinstance(event, CallState) and event.synthesized):
                    assert event.line not in exclude
                    if kind in ("state", "hangup_cmd") and include:
                        assert event.line in include
        assert t.call_count <= max_calls
        for call in t.snapshot():
            assert len(call.lines) == len(set(call.lines)) == len(call.states) >= 1
    for key in _KEYS:
        t.handle(ami_hangup(key))
    assert t.snapshot() == ()
    assert t.call_count == 0
    assert t._calls.channel_unknown == 0


@given(st.lists(st.sampled_from((*_KEYS, "x", "y")), max_size=30), st.booleans())
def test_originates_never_leak_once_their_calls_end(keys: list[str], fail: bool) -> None:
    t = CallTracker(max_calls=3)
    t.handle(AST22)
    handles: list[CallHandle] = []
    for i, key in enumerate(keys):
        if i % 3 == 0 and t.pending_count < 3:
            handles.append(t.make_call("a", "1", context="c", channel="P/1")[0])
        elif handles and i % 3 == 1:
            t.handle_tapi(newcall("a", handles[-1].origination_id))
        else:
            t.handle_tapi(newcall("a", key))
    for h in handles:
        t.handle(
            originate_response(h.action_id, "Failure" if fail else "Success", "<unknown>", "0")
        )
        t.handle(ami_hangup(h.origination_id))
    for key in (*_KEYS, "x", "y"):
        t.handle(ami_hangup(key))
    assert t.call_count == 0 and t.pending_count == 0
    assert t._originates.by_candidate == {} and t._originates.by_origination == {}
    assert t._originates.settled == {}


# --------------------------------------------------------------------------- docs


def test_docs_examples_run(tmp_path: Path) -> None:
    assert run_python_blocks("tracker.md", tmp_path) >= 8


# --------------------------------------------------------------------------- older wire shapes


def test_asterisk_1_2_user_event_shape() -> None:
    t = CallTracker({"line_1"})
    t.handle(AST14)
    k = "1130000000.42"
    newcall_12 = ami(
        ("Event", "UserEventTAPI"),
        ("Privilege", "user,all"),
        ("Channel", "SIP/100-0a1b"),
        ("Uniqueid", k),
        ("TAPIEVENT", "LINE_NEWCALL line_1"),
    )
    assert tapi(t.handle(newcall_12)) == [NewCall("line_1", k)]
    assert t.snapshot()[0].channel == "SIP/100-0a1b"
    # The connected hook runs on the callee: its own Uniqueid, the caller's in ~.
    hook = ami(
        ("Event", "UserEventTAPI"),
        ("Privilege", "user,all"),
        ("Channel", "SIP/bob-0c0d"),
        ("Uniqueid", "1130000000.43"),
        ("TAPIEVENT", f"[~{k}&line_1] LINE_CALLSTATE LINECALLSTATE_CONNECTED"),
    )
    assert tapi(t.handle(hook)) == [CallState("line_1", k, CONNECTED)]
    assert t.snapshot()[0].channel == "SIP/100-0a1b"
    assert t.hangup(k) == Action("Hangup", (("Channel", "SIP/100-0a1b"),))
    hangup_12 = ami(
        ("Event", "Hangup"),
        ("Channel", "SIP/100-0a1b"),
        ("Uniqueid", k),
        ("Cause", "16"),
        ("Cause-txt", "Normal Clearing"),
    )
    out = tapi(t.handle(hangup_12))
    assert codes(out) == [DiagnosticCode.MISSING_IDLE]
    assert out[1:] == [CallState("line_1", k, IDLE, synthesized=True)]


def user_event_14(body: str, *, name: str = "TAPI") -> Message:
    """Asterisk 1.4-1.8: no Channel, no Uniqueid on a UserEvent."""
    return ami(
        ("Event", "UserEvent"),
        ("Privilege", "user,all"),
        ("UserEvent", name),
        ("TAPIEVENT", body),
    )


def test_asterisk_1_4_to_1_8_need_the_tilde() -> None:
    t = CallTracker()
    t.handle(Banner((1, 1), "Asterisk Call Manager/1.1"))
    out = tapi(t.handle(user_event_14("LINE_NEWCALL line_1")))
    assert codes(out) == [DiagnosticCode.NO_CALL_KEY]
    assert t.call_count == 0
    k = "1200000000.7"
    assert tapi(t.handle(user_event_14(f"[~{k}] LINE_NEWCALL line_1"))) == [NewCall("line_1", k)]
    assert codes(t.handle(user_event_14("LINE_CALLSTATE LINECALLSTATE_OFFERING"))) == [
        DiagnosticCode.NO_CALL_KEY
    ]
    assert tapi(t.handle(user_event_14(f"[~{k}] LINE_CALLSTATE LINECALLSTATE_OFFERING"))) == [
        CallState("line_1", k, OFFERING)
    ]
    # The channel comes from the call's own later events (1.6-11 Newstate).
    assert t.snapshot()[0].channel is None
    t.handle(
        ami(
            ("Event", "Newstate"),
            ("Privilege", "call,all"),
            ("Channel", "SIP/100-00000007"),
            ("ChannelState", "6"),
            ("ChannelStateDesc", "Up"),
            ("Uniqueid", k),
        )
    )
    assert t.hangup(k) == Action("Hangup", (("Channel", "SIP/100-00000007"),))
    assert tapi(t.handle(user_event_14(f"[~{k}] LINE_CALLSTATE LINECALLSTATE_IDLE"))) == [
        CallState("line_1", k, IDLE)
    ]
    assert t.call_count == 0


def test_legacy_pipe_syntax_on_1_6_plus() -> None:
    t = CallTracker()
    message = ami(
        ("Event", "UserEvent"),
        ("Privilege", "user,all"),
        ("UserEvent", "TAPI|TAPIEVENT: [~1200000000.8] LINE_NEWCALL line_1"),
    )
    out = tapi(t.handle(message))
    assert codes(out) == [DiagnosticCode.LEGACY_SYNTAX]
    assert out[1:] == [NewCall("line_1", "1200000000.8")]


def test_asterisk_10_11_uniqueid_without_channel() -> None:
    t = CallTracker({"line_1"})
    t.handle(AST11)
    k = "1300000000.3"

    def ue(body: str) -> Message:
        return ami(
            ("Event", "UserEvent"),
            ("Privilege", "user,all"),
            ("UserEvent", "TAPI"),
            ("Uniqueid", k),
            ("TAPIEVENT", body),
        )

    assert tapi(t.handle(ue("LINE_NEWCALL line_1"))) == [NewCall("line_1", k)]
    assert tapi(t.handle(ue("SET CALLERID Dave <5550400>"))) == [
        CallInfo("line_1", k, LineCallInfoState.CALLERID, CallerId("Dave", "5550400"))
    ]
    with pytest.raises(LocalProtocolError, match="not known yet"):
        t.hangup(k)
    # 1.6-11 Dial (SubEvent Begin) spells the id UniqueID.
    t.handle(
        ami(
            ("Event", "Dial"),
            ("SubEvent", "Begin"),
            ("Channel", "SIP/trunk-0000002a"),
            ("Destination", "SIP/bob-0000002b"),
            ("UniqueID", k),
            ("DestUniqueID", "1300000000.4"),
        )
    )
    assert t.redirect(k, context="c", exten="e").get("Channel") == "SIP/trunk-0000002a"
    assert tapi(t.handle(ue("LINE_CALLSTATE LINECALLSTATE_IDLE"))) == [CallState("line_1", k, IDLE)]


def test_syntax_errors_and_empty_bodies_pass_through_as_diagnostics() -> None:
    t = CallTracker()
    t.handle(AST22)
    out = tapi(t.handle(user_event_14("LINE_CALLSTATE LINECALLSTATE_NOSUCH")))
    assert codes(out) == [DiagnosticCode.SYNTAX_ERROR]
    out = tapi(t.handle(ami(("Event", "UserEvent"), ("UserEvent", "TAPI"), ("Uniqueid", "k"))))
    assert codes(out) == [DiagnosticCode.EMPTY_BODY]
    assert tapi(t.handle(ami(("Event", "UserEvent"), ("UserEvent", "Other"), ("X", "y")))) == []
    assert t.call_count == 0


@pytest.mark.parametrize("newcall_first", [True, False])
def test_make_call_on_asterisk_1_8_uses_the_variable(newcall_first: bool) -> None:
    t = CallTracker({"line_1"})
    t.handle(Banner((1, 1), "Asterisk Call Manager/1.1"))
    handle, action = t.make_call(
        "line_1", "95551234", context="outbound", channel="Local/bob@phones-originate"
    )
    oid = handle.origination_id
    assert action.get("Variable") == f"{ORIGINATE_VARIABLE}={oid}"
    assert action.get("ChannelId") is None
    frames_ = [
        ami(
            ("Event", "Newchannel"),
            ("Channel", "Local/bob@phones-originate-a1b2;1"),
            ("Uniqueid", "1300000000.10"),
        ),
        var_set("1300000000.10", oid, "Local/bob@phones-originate-a1b2;1"),
        var_set("1300000000.11", oid, "Local/bob@phones-originate-a1b2;2"),
    ]
    newcall_18 = user_event_14("[~1300000000.10] LINE_NEWCALL line_1")
    response = ami(
        ("Event", "OriginateResponse"),
        ("Privilege", "call,all"),
        ("ActionID", handle.action_id),
        ("Response", "Success"),
        ("Channel", "Local/bob@phones-originate-a1b2;1"),
        ("Context", "outbound"),
        ("Exten", "95551234"),
        ("Reason", "4"),
        ("Uniqueid", "1300000000.10"),
    )
    frames_ += [newcall_18, response] if newcall_first else [response, newcall_18]
    out: list[OutputEvent] = []
    for message in frames_:
        out += tapi(t.handle(message))
    assert out == []
    assert t.call_key_of(handle) == "1300000000.10"
    assert t.snapshot()[0].channel == "Local/bob@phones-originate-a1b2;1"
    assert t.hangup(handle) == Action("Hangup", (("Channel", "Local/bob@phones-originate-a1b2;1"),))
    out = tapi(t.handle(user_event_14("[~1300000000.10] LINE_CALLSTATE LINECALLSTATE_CONNECTED")))
    assert out == [CallState("line_1", "1300000000.10", CONNECTED)]
