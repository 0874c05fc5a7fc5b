"""The originate lifecycle of CallTracker.make_call: its state table, withdraw, local refusals.

The transition table lives in tapievent/_originates.py; the property test
drives random interleavings of everything that moves an originate and checks
that every state change it observes is one step of that table, and that a
record in a terminal state is in no index.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from events_support import tapi
from hypothesis import given
from hypothesis import strategies as st

from tapievent import LocalProtocolError
from tapievent import _originates as originates_module
from tapievent._originates import Originate, OriginateState
from tapievent.ami_codec import Action, Banner, Message
from tapievent.model import (
    CallState,
    ExtractedEvent,
    LineCallState,
    LineDisconnectMode,
    NewCallCommand,
    TapiEvent,
    TargetSpec,
)
from tapievent.session import ActionResult
from tapievent.tracker import ORIGINATE_VARIABLE, CallHandle, CallTracker

DISCONNECTED = LineCallState.DISCONNECTED
UNAVAIL = LineDisconnectMode.UNAVAIL
AST22 = Banner((11, 0, 0), "Asterisk Call Manager/11.0.0")
AST18 = Banner((1, 1), "Asterisk Call Manager/1.1")


def ami(*pairs: tuple[str, str]) -> Message:
    return Message.from_pairs(*pairs)


def newcall(line: str, key: str) -> ExtractedEvent:
    frame = ami(("Event", "UserEvent"), ("Uniqueid", key), ("UserEvent", "TAPI"))
    return ExtractedEvent(TapiEvent(TargetSpec(), NewCallCommand(line)), key, "header", frame)


def response(action_id: str, result: str, uid: str, reason: str = "4") -> Message:
    return ami(
        ("Event", "OriginateResponse"),
        ("ActionID", action_id),
        ("Response", result),
        ("Channel", "PJSIP/201"),
        ("Reason", reason),
        ("Uniqueid", uid),
    )


def refusal(action_id: str) -> ActionResult:
    reply = ami(("Response", "Error"), ("ActionID", action_id), ("Message", "No such extension"))
    return ActionResult(Action("Originate", (), action_id), action_id, reply)


# --------------------------------------------------------------------------- issue 15 #6


@pytest.mark.parametrize(
    "bad",
    [
        {"caller_id": '"Mallory" <1>\r\nAction: Hangup'},
        {"caller_id": "x\ny"},
        {"destination": "100\0"},
        {"context": "c\r"},
        {"channel": "PJSIP/201\n"},
        {"variables": {"ACCOUNT": "4\r\n2"}},
        {"variables": {"A B\n": "1"}},
    ],
)
def test_a_make_call_refused_locally_registers_nothing(bad: dict[str, object]) -> None:
    # max_calls=2: two refused calls used to leave pending_count == 2, and the
    # next valid call was refused ("2 originates are already waiting").
    t = CallTracker({"line_1"}, max_calls=2)
    t.handle(AST22)
    args: dict[str, object] = {"destination": "100", "context": "c", "channel": "PJSIP/201"}
    args.update(bad)
    for _ in range(2):
        with pytest.raises(LocalProtocolError, match="make_call"):
            t.make_call("line_1", **args)  # type: ignore[arg-type]
        assert t.pending_count == 0
    assert t._originates.by_candidate == {} and t._originates.by_origination == {}
    handle, action = t.make_call("line_1", "100", context="c", channel="PJSIP/201")
    assert t.pending_count == 1 and action.action_id == handle.action_id


def test_withdraw_frees_an_originate_that_was_never_sent() -> None:
    t = CallTracker(max_calls=2)
    t.handle(AST22)
    first, _ = t.make_call("l", "1", context="c", channel="P/1", channel_id="pinned")
    second, _ = t.make_call("l", "1", context="c", channel="P/1")
    with pytest.raises(LocalProtocolError, match="already waiting"):
        t.make_call("l", "1", context="c", channel="P/1")
    t.withdraw(first)
    t.withdraw(second)
    assert t.pending_count == 0
    assert t.originate_state(first) is None
    assert t._originates.by_candidate == {}
    # Its ids are free again, and nothing about it is ours any more.
    again, _ = t.make_call("l", "1", context="c", channel="P/1", channel_id="pinned")
    assert tapi(t.handle(response(first.action_id, "Failure", "<unknown>"))) == []
    assert t.handle_tapi(newcall("l", second.origination_id)) != []  # an ordinary new call
    assert t.originate_state(again) is OriginateState.KEYED
    with pytest.raises(LocalProtocolError, match="not a pending originate"):
        t.withdraw(first)


def test_withdraw_refuses_an_originate_asterisk_answered() -> None:
    t = CallTracker()
    t.handle(AST22)
    handle, _ = t.make_call("l", "1", context="c", channel="P/1")
    t.handle(response(handle.action_id, "Success", handle.origination_id))
    with pytest.raises(LocalProtocolError, match="already answered"):
        t.withdraw(handle)
    assert t.originate_state(handle) is OriginateState.ANSWERED


def test_variable_path_withdraw_and_refusal_through_the_action_result() -> None:
    t = CallTracker()
    t.handle(AST18)
    handle, action = t.make_call("l", "1", context="c", channel="P/1")
    assert action.get("Variable") == f"{ORIGINATE_VARIABLE}={handle.origination_id}"
    assert t.originate_state(handle) is OriginateState.SENT
    t.withdraw(handle)
    assert t._originates.by_origination == {}
    handle, _ = t.make_call("l", "1", context="c", channel="P/1")
    out = tapi(t.handle_action_result(refusal(handle.action_id)))
    assert out[1:] == [
        CallState("l", handle.origination_id, DISCONNECTED, UNAVAIL, synthesized=True),
        CallState("l", handle.origination_id, LineCallState.IDLE, synthesized=True),
    ]
    assert t.pending_count == 0


# --------------------------------------------------------------------------- the table


def test_the_table_is_closed_and_terminal_states_have_no_way_out() -> None:
    table = originates_module._TRANSITIONS
    for (state, _), target in table.items():
        assert state not in originates_module.TERMINAL
        assert isinstance(target, OriginateState)
    reachable = {OriginateState.SENT}
    while True:
        more = {t for (s, _), t in table.items() if s in reachable} - reachable
        if not more:
            break
        reachable |= more
    assert reachable == set(OriginateState)


_UIDS = ("u1", "u2", "<unknown>")

_Op = tuple[str, int, str, bool]
_op: st.SearchStrategy[_Op] = st.tuples(
    st.sampled_from(
        (
            "make_call",
            "withdraw",
            "var_set",
            "newcall_key",
            "newcall_uid",
            "success",
            "failure",
            "refused",
            "hangup_key",
            "hangup_uid",
            "idle",
            "reconcile",
            "new_channel",
        )
    ),
    st.integers(0, 3),
    st.sampled_from(_UIDS),
    st.booleans(),
)


def _withdraw(t: CallTracker, h: CallHandle, uid: str, flag: bool) -> None:
    try:
        t.withdraw(h)
    except LocalProtocolError:
        assert t.originate_state(h) not in (OriginateState.SENT, OriginateState.KEYED)


def _var_set(t: CallTracker, h: CallHandle, uid: str, flag: bool) -> None:
    t.handle(
        ami(
            ("Event", "VarSet"),
            ("Channel", f"Local/x-{uid};1"),
            ("Variable", ORIGINATE_VARIABLE),
            ("Value", h.origination_id),
            ("Uniqueid", uid),
        )
    )


def _idle(t: CallTracker, h: CallHandle, uid: str, flag: bool) -> None:
    body = f"[{'a' if flag else 'b'}] LINE_CALLSTATE LINECALLSTATE_IDLE"
    t.handle(
        ami(
            ("Event", "UserEvent"),
            ("Uniqueid", h.origination_id),
            ("UserEvent", "TAPI"),
            ("TAPIEVENT", body),
        )
    )


_OPS: dict[str, Callable[[CallTracker, CallHandle, str, bool], object]] = {
    "withdraw": _withdraw,
    "var_set": _var_set,
    "idle": _idle,
    "newcall_key": lambda t, h, uid, flag: t.handle_tapi(
        newcall("a" if flag else "b", h.origination_id)
    ),
    "newcall_uid": lambda t, h, uid, flag: t.handle_tapi(newcall("a" if flag else "b", uid)),
    "success": lambda t, h, uid, flag: t.handle(
        response(h.action_id, "Success", h.origination_id if flag else uid)
    ),
    "failure": lambda t, h, uid, flag: t.handle(
        response(h.action_id, "Failure", h.origination_id if flag else uid)
    ),
    "refused": lambda t, h, uid, flag: t.handle_action_result(refusal(h.action_id)),
    "hangup_key": lambda t, h, uid, flag: t.handle(
        ami(("Event", "Hangup"), ("Uniqueid", h.origination_id))
    ),
    "hangup_uid": lambda t, h, uid, flag: t.handle(ami(("Event", "Hangup"), ("Uniqueid", uid))),
    "reconcile": lambda t, h, uid, flag: t.reconcile([uid] if flag else []),
    "new_channel": lambda t, h, uid, flag: t.handle(
        ami(("Event", "Newchannel"), ("Channel", "P/1-01"), ("Uniqueid", h.origination_id))
    ),
}


def _apply(t: CallTracker, handles: list[CallHandle], op: _Op) -> None:
    kind, index, uid, flag = op
    if kind == "make_call":
        if t.pending_count < 3:
            handles.append(t.make_call("a", "1", context="c", channel="P/1")[0])
    elif handles:
        _OPS[kind](t, handles[index % len(handles)], uid, flag)


@given(st.booleans(), st.lists(_op, max_size=40))
def test_every_observed_originate_state_change_is_a_step_of_the_table(
    channel_id: bool, ops: list[_Op]
) -> None:
    steps = {(s, target) for (s, _), target in originates_module._TRANSITIONS.items()}
    t = CallTracker(max_calls=3)
    t.handle(AST22 if channel_id else AST18)
    handles: list[CallHandle] = []
    records: dict[str, Originate] = {}
    for op in ops:
        before = {a: r.state for a, r in records.items()}
        _apply(t, handles, op)
        for action_id, record in t._originates.by_action.items():
            records.setdefault(action_id, record)
            assert (
                record.state is OriginateState.SENT
                or action_id in before
                or ((OriginateState.SENT, record.state) in steps)
            )
        for action_id, record in records.items():
            old = before.get(action_id, record.state)
            assert record.state is old or (old, record.state) in steps, (op, old, record.state)
            live = t._originates.by_action.get(action_id) is record
            assert live == (record.state not in originates_module.TERMINAL)
            if not live or record.state is OriginateState.ATTACHED:
                assert record not in t._originates.by_candidate.values()
                assert record not in t._originates.by_origination.values()
        assert t.pending_count == len(t._originates.by_action) <= 3
    for h in handles:
        t.handle(ami(("Event", "Hangup"), ("Uniqueid", h.origination_id)))
    t.reconcile([])
    assert t.pending_count == 0 and t.call_count == 0
    assert t._originates.by_candidate == {} and t._originates.settled == {}
