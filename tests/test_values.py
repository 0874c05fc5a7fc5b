"""The TAPIEVENT values (tapievent._values): they refuse what the grammar cannot write."""

from __future__ import annotations

import attrs
import pytest

from tapievent._callerid import CallerId
from tapievent._errors import LocalProtocolError
from tapievent._lexical import TapiEventValueError
from tapievent._tapi import LineCallState, LineDisconnectMode
from tapievent._values import (
    CallStateCommand,
    HangupCommand,
    NewCallCommand,
    SetCallerIdCommand,
    TapiEvent,
    TargetSpec,
    UnknownCommand,
)


@pytest.mark.parametrize(
    "build",
    [
        lambda: TargetSpec(include=("",)),
        lambda: TargetSpec(include=("a b",)),
        lambda: TargetSpec(include=("a&b",)),
        lambda: TargetSpec(exclude=("x]",)),
        lambda: TargetSpec(include=("~a",)),
        lambda: TargetSpec(include=("!a",)),
        lambda: TargetSpec(unique_id=""),
        lambda: TargetSpec(unique_id="1.2\n"),
        lambda: TargetSpec(include=("a",), exclude=("a",)),
        lambda: NewCallCommand("line 1"),
        lambda: NewCallCommand(""),
        lambda: CallStateCommand(LineCallState.IDLE | LineCallState.BUSY),
        lambda: CallStateCommand(LineCallState.DISCONNECTED, -1),
        lambda: CallStateCommand(LineCallState.DISCONNECTED, 2**32),
        lambda: SetCallerIdCommand(" Bob"),
        lambda: SetCallerIdCommand("Bob\r\nEvent: x"),
        lambda: UnknownCommand(""),
        lambda: UnknownCommand("LINE_NEWCALL x"),
        lambda: UnknownCommand("set  callerid x"),
        lambda: UnknownCommand("[x] FOO"),
        lambda: UnknownCommand("FOO "),
    ],
)
def test_values_the_grammar_cannot_write_are_refused(build: object) -> None:
    assert callable(build)
    with pytest.raises(TapiEventValueError) as caught:
        build()
    # The program that built it broke the protocol: a local error, and a
    # ValueError as attrs validators conventionally raise.
    assert isinstance(caught.value, LocalProtocolError)
    assert isinstance(caught.value, ValueError)


def test_type_errors_name_the_field() -> None:
    with pytest.raises(TypeError, match="include"):
        TargetSpec(include=["a"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="mode"):
        CallStateCommand(LineCallState.IDLE, True)
    with pytest.raises(TypeError):
        TapiEvent(TargetSpec(), "LINE_NEWCALL a")  # type: ignore[arg-type]


def test_valid_values_build() -> None:
    spec = TargetSpec("1795667804.1", ("sip/bob",), ("Local/bobbett",))
    assert not spec.is_empty and TargetSpec().is_empty
    assert UnknownCommand("SET  FOO  bar").word == "SET"
    assert SetCallerIdCommand('"Alice" <100>').caller_id() == CallerId("Alice", "100")
    assert CallStateCommand(LineCallState.DISCONNECTED, LineDisconnectMode.BUSY).mode == 0x20
    assert attrs.evolve(spec, unique_id=None).unique_id is None
    assert HangupCommand() == HangupCommand()
