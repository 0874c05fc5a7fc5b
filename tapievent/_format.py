"""Values to TAPIEVENT text: the canonical form (protocol.md section 2).

Canonical text is ``[~uniqueid&include&...&!exclude...] COMMAND ARGS``:
single spaces, upper-case keywords and constant names, the ``~`` target
first, then the included lines, then the excluded ones, each group in the
order written; no spec at all when it would be ``[]``; modes as their
tapi.h name when the number is one constant of the state's family,
otherwise as ``0x`` plus upper-case hex digits.
``parse_tapievent(format_tapievent(x)) == x`` for every value, and
``format_tapievent(parse_tapievent(s)) == s`` for canonical text.
"""

from __future__ import annotations

from ._lexical import MODE_TEXT, state_name
from ._tapi import LineCallState
from ._values import (
    CallStateCommand,
    Command,
    HangupCommand,
    NewCallCommand,
    SetCallerIdCommand,
    TapiEvent,
    TargetSpec,
    UnknownCommand,
)

__all__ = ["format_command", "format_mode", "format_spec", "format_tapievent"]


def format_mode(state: LineCallState, mode: int) -> str:
    """The canonical text of a mode: its tapi.h name if it is one constant of
    ``state``'s family, else ``0x`` and upper-case hex."""
    return MODE_TEXT.get((state, int(mode)), f"0x{int(mode):X}")


def format_spec(spec: TargetSpec) -> str:
    """``[~id&line&!line]`` in canonical order, or ``""`` for the empty spec."""
    targets = []
    if spec.unique_id is not None:
        targets.append("~" + spec.unique_id)
    targets.extend(spec.include)
    targets.extend("!" + line for line in spec.exclude)
    return "[" + "&".join(targets) + "]" if targets else ""


def format_command(command: Command) -> str:
    """The canonical text of one command."""
    if isinstance(command, NewCallCommand):
        return "LINE_NEWCALL " + command.line
    if isinstance(command, CallStateCommand):
        text = "LINE_CALLSTATE " + state_name(command.state)
        if command.mode is not None:
            text += " " + format_mode(command.state, command.mode)
        return text
    if isinstance(command, HangupCommand):
        return "LINE_CALLSTATE LINECALLSTATE_HANGUP"
    if isinstance(command, SetCallerIdCommand):
        return "SET CALLERID " + command.text if command.text else "SET CALLERID"
    if isinstance(command, UnknownCommand):
        return command.text
    raise TypeError(f"not a TAPIEVENT command: {command!r}")


def format_tapievent(event: TapiEvent) -> str:
    """The canonical TAPIEVENT text of ``event`` (the inverse of ``parse_tapievent``)."""
    spec = format_spec(event.spec)
    command = format_command(event.command)
    return f"{spec} {command}" if spec else command
