"""TAPIEVENT text to values: the parser (protocol.md section 1).

:func:`parse_tapievent` reads the text after ``TAPIEVENT:``. Almost every
text a dialplan sends has a canonical shape, which a regular expression
recognises and a small cache answers (the fast path); anything else goes
to :class:`_Parser`, which alone decides that a text is wrong and says
where. Both read with the rules of ``_lexical``.

Work is linear in the text: each target of a spec is looked at once, and
the "both included and excluded" check uses sets (issue 15 #9).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final, TypeVar

from ._errors import RemoteProtocolError
from ._lexical import (
    CONTROL_CHAR,
    FAST_ID,
    FAST_LINE,
    FAST_REST,
    MODE_NAMES,
    STATES,
    WSP,
    line_problem,
    state_name,
    unique_id_problem,
    words,
)
from ._tapi import (
    CALL_STATE_MODE_FAMILIES,
    CONSTANT_PREFIXES,
    MAX_DWORD,
    LineCallState,
    LineDisconnectMode,
)
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

__all__ = ["DIALSTATUS_MODES", "TapiEventSyntaxError", "parse_tapievent"]

_V = TypeVar("_V")


class TapiEventSyntaxError(RemoteProtocolError, ValueError):
    """TAPIEVENT text that does not follow the grammar of protocol.md section 2.

    ``column`` is 1-based in ``text``; ``reason`` says what is wrong and how to
    fix it, in dialplan terms. ``str(error)`` combines both.

    A :class:`~tapievent._errors.RemoteProtocolError`: TAPIEVENT text is what
    the dialplan -- the program the peer, Asterisk, runs -- puts on the wire,
    so text that breaks the grammar is the remote side breaking the protocol,
    even when a local tool (the linter, :func:`to_dialplan`) reads it before
    Asterisk ever does. The extractor turns it into a ``syntax-error``
    diagnostic rather than letting it escape. A ``ValueError`` too, for
    callers that treat it as bad input.
    """

    def __init__(self, reason: str, *, text: str, column: int) -> None:
        self.reason = reason
        self.text = text
        self.column = column
        super().__init__(f"{reason} (column {column})")

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only __init__: teach pickle (and copy) how to rebuild it.
        return (_rebuild_syntax_error, (self.reason, self.text, self.column))


def _rebuild_syntax_error(reason: str, text: str, column: int) -> TapiEventSyntaxError:
    return TapiEventSyntaxError(reason, text=text, column=column)


DIALSTATUS_MODES: Final[Mapping[str, LineDisconnectMode]] = {
    "ANSWER": LineDisconnectMode.NORMAL,
    "BUSY": LineDisconnectMode.BUSY,
    "NOANSWER": LineDisconnectMode.NOANSWER,
    "CONGESTION": LineDisconnectMode.CONGESTION,
    "CHANUNAVAIL": LineDisconnectMode.UNREACHABLE,
    "CANCEL": LineDisconnectMode.CANCELLED,
    "DONTCALL": LineDisconnectMode.REJECT,
    "TORTURE": LineDisconnectMode.REJECT,
    "INVALIDARGS": LineDisconnectMode.BADADDRESS,
}
"""Asterisk ``${DIALSTATUS}`` words accepted as LINECALLSTATE_DISCONNECTED modes.

Real dialplans write ``LINE_CALLSTATE LINECALLSTATE_DISCONNECTED
${DIALSTATUS}``. ``CHANUNAVAIL`` (peer unreachable or unregistered) maps to
UNREACHABLE rather than UNAVAIL, because TAPI's UNAVAIL means "the reason is
unavailable". ``format()`` writes the ``LINEDISCONNECTMODE_*`` name, so these
words are never canonical.
"""

# Every mode constant name of every family, to tell "a mode of another state"

_NUMBER: Final = re.compile(r"(?:0[xX]([0-9A-Fa-f]+)|([0-9]+))\Z")

# --------------------------------------------------------------------------- general parser


class _Targets:
    """The targets of one spec so far, in the order written.

    The lists keep the order (and any repetition) for the value; the sets
    answer "is this line already on the other side?" in O(1), so a spec of
    n targets costs O(n) rather than a scan of every earlier target per
    target (issue 15 #9).
    """

    def __init__(self) -> None:
        self.unique_id: str | None = None
        self.include: list[str] = []
        self.exclude: list[str] = []
        self.included: set[str] = set()
        self.excluded: set[str] = set()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text

    def fail(self, reason: str, index: int) -> TapiEventSyntaxError:
        return TapiEventSyntaxError(reason, text=self.text, column=index + 1)

    def parse(self) -> TapiEvent:
        text = self.text
        control = CONTROL_CHAR.search(text)
        if control is not None:
            raise self.fail(
                f"control character U+{ord(control.group()):04X} in TAPIEVENT text: "
                "only printable characters, spaces and tabs are allowed",
                control.start(),
            )
        end = len(text.rstrip(WSP))
        i = len(text) - len(text.lstrip(WSP))
        spec = TargetSpec()
        had_spec = i < end and text[i] == "["
        if had_spec:
            spec, i = self.spec(i, end)
            while i < end and text[i] in WSP:
                i += 1
            if i < end and text[i] == "[":
                raise self.fail("a second spec: put every target in one [...]", i)
        if i >= end:
            what = "after the spec" if had_spec else "in the text"
            raise self.fail(
                f"no command {what}: write LINE_NEWCALL, LINE_CALLSTATE or SET CALLERID", i
            )
        return TapiEvent(spec, self.command(i, end))

    def spec(self, start: int, end: int) -> tuple[TargetSpec, int]:
        text = self.text
        close = text.find("]", start + 1, end)
        nested = text.find("[", start + 1, end if close < 0 else close)
        if nested >= 0:
            raise self.fail("'[' inside a spec: a spec is one [...] group", nested)
        if close < 0:
            raise self.fail("unclosed '[': add ']' after the last target of the spec", start)
        pos = start + 1
        if pos == close:
            return TargetSpec(), close + 1
        targets = _Targets()
        for index, target in enumerate(text[pos:close].split("&")):
            if not target:
                amp = pos if index == 0 else pos - 1
                raise self.fail("empty target in spec: remove the extra '&'", amp)
            blank = next((k for k, ch in enumerate(target) if ch in WSP), None)
            if blank is not None:
                raise self.fail(
                    "blank inside the spec: write the targets without spaces, "
                    "e.g. [~${UNIQUEID}&sip/bob]",
                    pos + blank,
                )
            self.target(targets, target, pos)
            pos += len(target) + 1
        spec = TargetSpec(targets.unique_id, tuple(targets.include), tuple(targets.exclude))
        return spec, close + 1

    def target(self, targets: _Targets, target: str, pos: int) -> None:
        """Add one ``~id``, ``!line`` or ``line`` target, found at ``pos``, to ``targets``."""
        if target[0] == "~":
            if targets.unique_id is not None:
                raise self.fail("a second '~': a spec names at most one call", pos)
            problem = unique_id_problem(target[1:])
            if problem is not None:
                raise self.fail(f"after '~': {problem[1]}", pos + 1 + problem[0])
            targets.unique_id = target[1:]
            return
        excluded = target[0] == "!"
        line = target[1:] if excluded else target
        problem = line_problem(line)
        if problem is not None:
            where = pos + excluded + problem[0]
            raise self.fail(f"after '!': {problem[1]}" if excluded else problem[1], where)
        if line in (targets.included if excluded else targets.excluded):
            raise self.fail(f"line {line!r} is both included and excluded: keep one", pos)
        (targets.exclude if excluded else targets.include).append(line)
        (targets.excluded if excluded else targets.included).add(line)

    def command(self, start: int, end: int) -> Command:
        found = words(self.text, start, end)
        keyword = found[0][1].upper()
        if keyword == "LINE_NEWCALL":
            return self.newcall(found, end)
        if keyword == "LINE_CALLSTATE":
            return self.callstate(found, end)
        if keyword == "SET" and len(found) > 1 and found[1][1].upper() == "CALLERID":
            if len(found) == 2:
                return SetCallerIdCommand("")
            return SetCallerIdCommand(self.text[found[2][0] : end])
        return UnknownCommand(self.text[start:end])

    def newcall(self, words: list[tuple[int, str]], end: int) -> NewCallCommand:
        if len(words) < 2:
            raise self.fail("LINE_NEWCALL needs a line name, e.g. LINE_NEWCALL line_1", end)
        index, line = words[1]
        problem = line_problem(line)
        if problem is not None:
            raise self.fail(problem[1], index + problem[0])
        if len(words) > 2:
            raise self.fail(
                f"unexpected text after the line name {line!r}: a line name is one word",
                words[2][0],
            )
        return NewCallCommand(line)

    def callstate(self, words: list[tuple[int, str]], end: int) -> Command:
        if len(words) < 2:
            raise self.fail(
                "LINE_CALLSTATE needs a state, e.g. LINE_CALLSTATE LINECALLSTATE_CONNECTED", end
            )
        index, word = words[1]
        upper = word.upper()
        if not upper.startswith("LINECALLSTATE_"):
            hint = f"LINECALLSTATE_{upper}" if upper in STATES or upper == "HANGUP" else None
            raise self.fail(
                f"unknown state {word!r}: write "
                + (hint if hint else "a LINECALLSTATE_ name such as LINECALLSTATE_CONNECTED"),
                index,
            )
        name = upper[len("LINECALLSTATE_") :]
        if len(words) > 3:
            raise self.fail("unexpected text after the mode: at most one mode", words[3][0])
        if name == "HANGUP":
            if len(words) > 2:
                raise self.fail("LINECALLSTATE_HANGUP takes no mode", words[2][0])
            return HangupCommand()
        state = STATES.get(name)
        if state is None:
            raise self.fail(
                f"unknown state {word!r}: the TAPI states are "
                + ", ".join(STATES)
                + " (and AstTapi's HANGUP)",
                index,
            )
        if len(words) == 2:
            return CallStateCommand(state)
        return CallStateCommand(state, self.mode(state, *words[2]))

    def mode(self, state: LineCallState, index: int, word: str) -> int:
        number = _NUMBER.match(word)
        if number is not None:
            digits = number.group(1) or number.group(2)
            value = int(digits, 16 if number.group(1) else 10) if len(digits) <= 12 else -1
            if not 0 <= value <= MAX_DWORD:
                raise self.fail(f"mode {word} does not fit 32 bits (at most 0xFFFFFFFF)", index)
            return value
        upper = word.upper()
        family = CALL_STATE_MODE_FAMILIES.get(state)
        known = MODE_NAMES.get(upper)
        if known is not None:
            if known[0] is state:
                return known[1]
            expected = (
                f"use {CONSTANT_PREFIXES[family]}* or a number"
                if family is not None
                else f"{state_name(state)} takes no mode constant, only a number"
            )
            raise self.fail(f"{word} is not a mode of {state_name(state)}: {expected}", index)
        if state is LineCallState.DISCONNECTED and upper in DIALSTATUS_MODES:
            return int(DIALSTATUS_MODES[upper])
        if family is None:
            raise self.fail(f"{state_name(state)} takes no mode constant, only a number", index)
        extra = " or a ${DIALSTATUS} word" if state is LineCallState.DISCONNECTED else ""
        raise self.fail(
            f"unknown mode {word!r} for {state_name(state)}: "
            f"use a {CONSTANT_PREFIXES[family]} name{extra} or a number",
            index,
        )


# --------------------------------------------------------------------------- fast path
#
# Almost every TAPIEVENT a dialplan sends has one of three canonical shapes:
# ``[~id&line&!line] LINE_CALLSTATE LINECALLSTATE_X [mode]``, ``LINE_NEWCALL
# line`` and ``SET CALLERID text``, with single spaces and plain ASCII names.
# One regular expression recognises those; the command part then comes from
# a small cache (the same few dozen commands repeat all day) and the spec is
# split with str.split. Anything else -- a tab, two spaces, lower-case
# keywords, a non-ASCII line name, ``[]``, a line both included and excluded,
# an unknown state -- goes to _Parser, which alone raises errors. The fast
# path never decides a text is wrong, so the two cannot disagree on errors;
# tests/test_grammar_parse.py checks they agree on values for generated
# texts. The token patterns are _lexical's ASCII subsets of the general
# rules, so a text the pattern takes is one _Parser would take too; the
# values are then built with the _trusted constructors, which skip the
# character-by-character validators (they cost more than the rest of the
# fast path together). tests/test_grammar_parse.py runs attrs.validate on
# every fast-path result.

_FAST: Final = re.compile(
    rf"(?:\[((?:~{FAST_ID}|!?{FAST_LINE})(?:&!?{FAST_LINE})*)\] )?"
    rf"(?:(LINE_NEWCALL {FAST_LINE}|LINE_CALLSTATE LINECALLSTATE_[A-Z]+(?: [0-9A-Za-z_]+)?)"
    rf"|SET CALLERID(?: ({FAST_REST}))?)\Z"
)
_CACHE_MAX: Final = 1024  # entries per cache; cleared when full
_CACHE_TEXT_MAX: Final = 256  # longer texts are never cached
_EVENTS: dict[str, TapiEvent] = {}  # whole text without a call id -> value
_FAST_COMMANDS: dict[str, Command] = {}  # command text -> value
_NO_SPEC: Final = TargetSpec()
_NO_CALLER_ID: Final = SetCallerIdCommand("")


def _remember(cache: dict[str, _V], key: str, value: _V) -> None:
    if len(key) <= _CACHE_TEXT_MAX:
        if len(cache) >= _CACHE_MAX:
            cache.clear()
        cache[key] = value


def _fast_parse(text: str) -> TapiEvent | None:
    """``parse(text)`` for the canonical shapes, or None to let _Parser decide."""
    match = _FAST.match(text)
    if match is None:
        return None
    targets, command_text, caller_id = match.groups()
    command: Command | None
    if command_text is not None:
        command = _FAST_COMMANDS.get(command_text)
        if command is None:
            try:
                command = _Parser(command_text).command(0, len(command_text))
            except TapiEventSyntaxError:
                return None  # e.g. LINECALLSTATE_FOO: _Parser reports it with its column
            _remember(_FAST_COMMANDS, command_text, command)
    elif caller_id is None:
        command = _NO_CALLER_ID
    else:
        command = SetCallerIdCommand(caller_id)
    if targets is None:
        return TapiEvent._trusted(_NO_SPEC, command)
    unique_id: str | None = None
    parts = targets.split("&")
    if parts[0][0] == "~":
        unique_id = parts.pop(0)[1:]
    include = tuple(t for t in parts if t[0] != "!")
    exclude = tuple(t[1:] for t in parts if t[0] == "!")
    if include and exclude and not frozenset(include).isdisjoint(exclude):
        return None  # an error: _Parser says which line and where
    return TapiEvent._trusted(TargetSpec._trusted(unique_id, include, exclude), command)


def parse_tapievent(text: str) -> TapiEvent:
    """Parse the text after ``TAPIEVENT:`` (protocol.md section 2).

    Keywords, state and mode names match case-insensitively; line names and
    unique ids are kept exactly. Raises :class:`TapiEventSyntaxError` (and
    nothing else) with the 1-based column of the problem.
    """
    if type(text) is str:
        event = _EVENTS.get(text)
        if event is not None:
            return event
        event = _fast_parse(text)
        if event is None:
            event = _Parser(text).parse()
        if event.spec.unique_id is None:
            # Texts naming a call id are new with every call: not worth keeping.
            _remember(_EVENTS, text, event)
        return event
    if not isinstance(text, str):
        raise TypeError(f"parse_tapievent() takes a str, not {type(text).__name__}")
    return _Parser(text).parse()
