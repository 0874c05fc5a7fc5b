"""The values of the TAPIEVENT text: what one ``TAPIEVENT:`` line means.

A :class:`TapiEvent` is an optional :class:`TargetSpec` (which call, which of
its lines) and one command. Every value here is frozen and validated when it
is built: what the grammar cannot write is refused with
:class:`~tapievent._lexical.TapiEventValueError`, using the rules of
``_lexical``, so ``parse(format(x)) == x`` for every value that exists.
:class:`ExtractedEvent` is such an event found in an AMI message, with its
call key.
"""

from __future__ import annotations

import attrs

from ._callerid import CallerId
from ._events import Diagnostic
from ._lexical import (
    COMMAND_KEYWORDS,
    TapiEventValueError,
    edge_blank_problem,
    line_problem,
    split_words,
    unique_id_problem,
)
from ._tapi import MAX_DWORD, LineCallState
from .ami_codec import Message

__all__ = [
    "CallStateCommand",
    "Command",
    "ExtractedEvent",
    "HangupCommand",
    "NewCallCommand",
    "SetCallerIdCommand",
    "TapiEvent",
    "TargetSpec",
    "UnknownCommand",
]


def _raise(problem: tuple[int, str] | str | None) -> None:
    if problem is not None:
        raise TapiEventValueError(problem if isinstance(problem, str) else problem[1])


def _check_unique_id(_inst: object, _attr: object, value: str | None) -> None:
    if value is not None:
        if not isinstance(value, str):
            raise TypeError(f"unique_id must be a str or None, not {type(value).__name__}")
        _raise(unique_id_problem(value))


def _check_lines(
    _inst: object, attr: attrs.Attribute[tuple[str, ...]], value: tuple[str, ...]
) -> None:
    if not isinstance(value, tuple):
        raise TypeError(f"{attr.name} must be a tuple of line names, not {type(value).__name__}")
    for line in value:
        if not isinstance(line, str):
            raise TypeError(f"{attr.name} holds a {type(line).__name__}, not a line name")
        _raise(line_problem(line))


def _check_disjoint(inst: TargetSpec, _attr: object, value: tuple[str, ...]) -> None:
    both = set(inst.include).intersection(value)
    if both:
        raise TapiEventValueError(f"line {sorted(both)[0]!r} is both included and excluded")


@attrs.frozen(slots=True)
class TargetSpec:
    """The bracket spec ``[~uniqueid&line&!line]``: which call, which of its lines.

    Values the grammar cannot write are refused (ValueError): empty or
    blank-containing names, ``&``/``[``/``]`` in a name, a line starting with
    ``~``/``!``, or a line both included and excluded.
    """

    unique_id: str | None = attrs.field(default=None, validator=_check_unique_id)
    include: tuple[str, ...] = attrs.field(default=(), validator=_check_lines)
    exclude: tuple[str, ...] = attrs.field(default=(), validator=[_check_lines, _check_disjoint])

    @property
    def is_empty(self) -> bool:
        """True for ``[]`` or no spec at all: no unique id and no line targets."""
        return self.unique_id is None and not self.include and not self.exclude

    @classmethod
    def _trusted(
        cls, unique_id: str | None, include: tuple[str, ...], exclude: tuple[str, ...]
    ) -> TargetSpec:
        """The spec of fields the caller has already checked, without checking them again.

        For the parser's fast path only: the validators above look at every
        character, which costs more than the rest of parsing a canonical text,
        and the fast path's patterns (``_lexical.FAST_*``) have already
        enforced the same rules, disjointness included. Any other caller
        builds values the normal way. tests/test_grammar_parse.py runs
        ``attrs.validate`` on every fast-path result.
        """
        spec = cls.__new__(cls)
        object.__setattr__(spec, "unique_id", unique_id)
        object.__setattr__(spec, "include", include)
        object.__setattr__(spec, "exclude", exclude)
        return spec


def _check_line(_inst: object, _attr: object, value: str) -> None:
    if not isinstance(value, str):
        raise TypeError(f"line must be a str, not {type(value).__name__}")
    _raise(line_problem(value))


@attrs.frozen(slots=True)
class NewCallCommand:
    """``LINE_NEWCALL <line>``: line ``line`` starts tracking the call."""

    line: str = attrs.field(validator=_check_line)


_STATE_VALUES = frozenset(m.value for m in LineCallState.__members__.values())


def _check_state(_inst: object, _attr: object, value: LineCallState) -> None:
    if not isinstance(value, LineCallState) or value.value not in _STATE_VALUES:
        raise TapiEventValueError(
            f"state must be one of the 16 LineCallState members, not {value!r}"
        )


def _check_mode(_inst: object, _attr: object, value: int | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"mode must be an int or None, not {type(value).__name__}")
    if not 0 <= value <= MAX_DWORD:
        raise TapiEventValueError(f"mode {value} does not fit a DWORD (0..0xFFFFFFFF)")


@attrs.frozen(slots=True)
class CallStateCommand:
    """``LINE_CALLSTATE LINECALLSTATE_<state> [mode]`` for one of the 16 TAPI states.

    ``mode`` is the numeric LINE_CALLSTATE dwParam2 (e.g. a ``LINEDISCONNECTMODE_*``
    value), or ``None`` when the dialplan gave none.
    """

    state: LineCallState = attrs.field(validator=_check_state)
    mode: int | None = attrs.field(default=None, validator=_check_mode)


@attrs.frozen(slots=True)
class HangupCommand:
    """``LINE_CALLSTATE LINECALLSTATE_HANGUP``: AstTapi's "answered elsewhere".

    Not a TAPI state; the tracker turns it into DISCONNECTED/PICKUP then IDLE.
    """


def _check_callerid_text(_inst: object, _attr: object, value: str) -> None:
    if not isinstance(value, str):
        raise TypeError(f"text must be a str, not {type(value).__name__}")
    if value:
        _raise(edge_blank_problem(value, "SET CALLERID text"))


@attrs.frozen(slots=True)
class SetCallerIdCommand:
    """``SET CALLERID <text>``; ``text`` is kept verbatim (inner blanks too).

    ``text`` may be empty (``SET CALLERID`` alone); it cannot start or end
    with a blank (the grammar strips those) nor hold control characters.
    Use :meth:`caller_id` for its meaning.
    """

    text: str = attrs.field(validator=_check_callerid_text)

    def caller_id(self) -> CallerId:
        """``text`` read as an Asterisk caller id (see :meth:`CallerId.parse`)."""
        return CallerId.parse(self.text)


def _check_unknown_text(_inst: object, _attr: object, value: str) -> None:
    if not isinstance(value, str):
        raise TypeError(f"text must be a str, not {type(value).__name__}")
    if not value:
        raise TapiEventValueError("an unknown command cannot be empty")
    _raise(edge_blank_problem(value, "command"))
    if value.startswith("["):
        raise TapiEventValueError(
            "an unknown command cannot start with '[' (it would read as a spec)"
        )
    words = split_words(value)
    first = words[0].upper()
    if first in COMMAND_KEYWORDS or (
        first == "SET" and len(words) > 1 and words[1].upper() == "CALLERID"
    ):
        raise TapiEventValueError(f"{value!r} is a known command, not an unknown one")


@attrs.frozen(slots=True)
class UnknownCommand:
    """Any other command, kept verbatim so it can be reported and re-formatted."""

    text: str = attrs.field(validator=_check_unknown_text)

    @property
    def word(self) -> str:
        """The command word (first word, upper-cased), for "reported once" bookkeeping."""
        return split_words(self.text)[0].upper()


Command = NewCallCommand | CallStateCommand | HangupCommand | SetCallerIdCommand | UnknownCommand
"""The command of a TAPIEVENT text, one class per AstTapi command word."""

_COMMAND_TYPES = (
    NewCallCommand,
    CallStateCommand,
    HangupCommand,
    SetCallerIdCommand,
    UnknownCommand,
)


@attrs.frozen(slots=True)
class TapiEvent:
    """One parsed TAPIEVENT text: the optional spec and the command."""

    spec: TargetSpec = attrs.field(validator=attrs.validators.instance_of(TargetSpec))
    command: Command = attrs.field(validator=attrs.validators.instance_of(_COMMAND_TYPES))

    @classmethod
    def _trusted(cls, spec: TargetSpec, command: Command) -> TapiEvent:
        """The event of a spec and command the parser built itself (see TargetSpec._trusted)."""
        event = cls.__new__(cls)
        object.__setattr__(event, "spec", spec)
        object.__setattr__(event, "command", command)
        return event


@attrs.frozen(slots=True)
class ExtractedEvent:
    """A TAPI event recognised in an AMI message, ready for the tracker.

    ``call_key`` comes from the spec's ``~uniqueid`` when present
    (``key_source == "spec"``), else from the message's ``Uniqueid`` header
    (``"header"``); it is ``None`` on Asterisk 1.4-1.8 without ``~``.
    ``diagnostics`` are the non-fatal findings (legacy syntax, duplicate
    TAPIEVENT headers, missing colon, misplaced headers) made while extracting it.
    """

    event: TapiEvent
    call_key: str | None
    key_source: str | None
    frame: Message = attrs.field(eq=False)
    diagnostics: tuple[Diagnostic, ...] = ()
