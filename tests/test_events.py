"""The tracker's output events (tapievent._events): small frozen values compared by meaning."""

from __future__ import annotations

import attrs
import pytest

from tapievent._callerid import CallerId
from tapievent._diagnostics import DiagnosticCode
from tapievent._events import CallInfo, CallState, Diagnostic, LineDevState, NewCall
from tapievent._tapi import LineCallInfoState, LineCallOrigin, LineCallState, LineDevStateFlag
from tapievent.ami_codec import Message


def test_events_are_frozen_values() -> None:
    new = NewCall("sip/bob", "1.1", LineCallOrigin.INBOUND, CallerId("Alice", "100"))
    assert new == NewCall("sip/bob", "1.1", LineCallOrigin.INBOUND, CallerId("Alice", "100"))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        new.line = "other"  # type: ignore[misc]
    assert CallState("sip/bob", "1.1", LineCallState.IDLE).mode == 0
    assert not CallState("sip/bob", "1.1", LineCallState.IDLE).synthesized
    info = CallInfo("sip/bob", "1.1", LineCallInfoState.CALLERID)
    assert info.caller_id is None
    assert LineDevState(None, LineDevStateFlag.INSERVICE).line is None


def test_a_diagnostic_compares_by_meaning_not_by_its_frame() -> None:
    one = Message.from_pairs(("Event", "UserEvent"), ("Uniqueid", "1.1"))
    other = Message.from_pairs(("Event", "UserEvent"), ("Uniqueid", "1.2"))
    code = DiagnosticCode.EMPTY_BODY
    assert Diagnostic(code, "m", "1.1", one) == Diagnostic(code, "m", "1.1", other)
    assert Diagnostic(code, "m", "1.1") != Diagnostic(code, "m", "1.2")
    # The codes are str members: either spelling compares equal.
    assert Diagnostic(code, "m").code == "empty-body"
