"""The TAPIEVENT text: parse it, write it, find it in AMI, and put it in a dialplan.

This module is sans-IO and pure. It has four jobs, all about the one line a
dialplan author writes after ``TAPIEVENT:``:

* :func:`parse` / :func:`format` -- text to :class:`~tapievent.model.TapiEvent`
  and back (protocol.md section 2). ``parse(format(x)) == x`` for every
  value and ``format(parse(s)) == s`` for canonical text.
* :func:`extract` -- recognise a TAPI UserEvent in an AMI
  :class:`~tapievent.ami_codec.Message` of any Asterisk version and say where
  its call key comes from (protocol.md sections 1 and 3).
* :func:`to_dialplan` -- the ``UserEvent(...)`` call that makes a given
  Asterisk version emit exactly an event (ami-versions.md section 2).

Canonical text is ``[~uniqueid&include&...&!exclude...] COMMAND ARGS``:
single spaces, upper-case keywords and constant names, the ``~`` target
first, then the included lines, then the excluded ones, each group in the
order written; no spec at all when it would be ``[]``; modes as their
tapi.h name when the number is one constant of the state's family,
otherwise as ``0x`` plus upper-case hex digits.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Final, TypeVar

import attrs

from ._errors import ProtocolError
from .ami_codec import Message
from .model import (
    CALL_STATE_MODE_FAMILIES,
    CONSTANT_PREFIXES,
    MAX_DWORD,
    CallStateCommand,
    Command,
    Diagnostic,
    ExtractedEvent,
    HangupCommand,
    LineCallState,
    LineDisconnectMode,
    NewCallCommand,
    SetCallerIdCommand,
    TapiEvent,
    TargetSpec,
    UnknownCommand,
    line_problem,
    unique_id_problem,
)

__all__ = [
    "CALLER_CONTROLLED",
    "DIALSTATUS_MODES",
    "DialplanError",
    "TapiEventSyntaxError",
    "asterisk_version",
    "extract",
    "extract_event",
    "extract_tapievent",
    "format",
    "format_tapievent",
    "parse",
    "parse_tapievent",
    "to_dialplan",
]

_WSP: Final = " \t"
_V = TypeVar("_V")


class TapiEventSyntaxError(ProtocolError, ValueError):
    """TAPIEVENT text that does not follow the grammar of protocol.md section 2.

    ``column`` is 1-based in ``text``; ``reason`` says what is wrong and how to
    fix it, in dialplan terms. ``str(error)`` combines both.
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


# --------------------------------------------------------------------------- modes

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
unavailable". ``format()`` writes the LINEDISCONNECTMODE_ name, so these
words are never canonical.
"""

# Every mode constant name of every family, to tell "a mode of another state"
# from "no mode at all".
_MODE_NAMES: Final[dict[str, tuple[LineCallState, int]]] = {
    CONSTANT_PREFIXES[family] + name: (state, int(member.value))
    for state, family in CALL_STATE_MODE_FAMILIES.items()
    for name, member in family.__members__.items()
}
_MODE_TEXT: Final[dict[tuple[LineCallState, int], str]] = {
    key: name for name, key in _MODE_NAMES.items()
}
_STATES: Final[dict[str, LineCallState]] = dict(LineCallState.__members__)
_STATE_NAMES: Final[dict[LineCallState, str]] = {v: k for k, v in _STATES.items()}
_CONTROL_CHAR: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_NUMBER: Final = re.compile(r"(?:0[xX]([0-9A-Fa-f]+)|([0-9]+))\Z")


def _state_name(state: LineCallState) -> str:
    return "LINECALLSTATE_" + _STATE_NAMES[state]


# --------------------------------------------------------------------------- parse


def _words(text: str, start: int, end: int) -> list[tuple[int, str]]:
    """``(index, word)`` for each SP/HTAB-separated word of ``text[start:end]``."""
    out = []
    i = start
    while i < end:
        while i < end and text[i] in _WSP:
            i += 1
        if i >= end:
            break
        j = i
        while j < end and text[j] not in _WSP:
            j += 1
        out.append((i, text[i:j]))
        i = j
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text

    def fail(self, reason: str, index: int) -> TapiEventSyntaxError:
        return TapiEventSyntaxError(reason, text=self.text, column=index + 1)

    def parse(self) -> TapiEvent:
        text = self.text
        control = _CONTROL_CHAR.search(text)
        if control is not None:
            raise self.fail(
                f"control character U+{ord(control.group()):04X} in TAPIEVENT text: "
                "only printable characters, spaces and tabs are allowed",
                control.start(),
            )
        end = len(text.rstrip(_WSP))
        i = len(text) - len(text.lstrip(_WSP))
        spec = TargetSpec()
        had_spec = i < end and text[i] == "["
        if had_spec:
            spec, i = self.spec(i, end)
            while i < end and text[i] in _WSP:
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
        unique_id: str | None = None
        include: list[str] = []
        exclude: list[str] = []
        pos = start + 1
        if pos == close:
            return TargetSpec(), close + 1
        for index, target in enumerate(text[pos:close].split("&")):
            if not target:
                amp = pos if index == 0 else pos - 1
                raise self.fail("empty target in spec: remove the extra '&'", amp)
            blank = next((k for k, ch in enumerate(target) if ch in _WSP), None)
            if blank is not None:
                raise self.fail(
                    "blank inside the spec: write the targets without spaces, "
                    "e.g. [~${UNIQUEID}&sip/bob]",
                    pos + blank,
                )
            if target[0] == "~":
                if unique_id is not None:
                    raise self.fail("a second '~': a spec names at most one call", pos)
                problem = unique_id_problem(target[1:])
                if problem is not None:
                    raise self.fail(f"after '~': {problem[1]}", pos + 1 + problem[0])
                unique_id = target[1:]
            elif target[0] == "!":
                problem = line_problem(target[1:])
                if problem is not None:
                    raise self.fail(f"after '!': {problem[1]}", pos + 1 + problem[0])
                if target[1:] in include:
                    raise self.fail(
                        f"line {target[1:]!r} is both included and excluded: keep one", pos
                    )
                exclude.append(target[1:])
            else:
                problem = line_problem(target)
                if problem is not None:
                    raise self.fail(problem[1], pos + problem[0])
                if target in exclude:
                    raise self.fail(f"line {target!r} is both included and excluded: keep one", pos)
                include.append(target)
            pos += len(target) + 1
        return TargetSpec(unique_id, tuple(include), tuple(exclude)), close + 1

    def command(self, start: int, end: int) -> Command:
        words = _words(self.text, start, end)
        keyword = words[0][1].upper()
        if keyword == "LINE_NEWCALL":
            return self.newcall(words, end)
        if keyword == "LINE_CALLSTATE":
            return self.callstate(words, end)
        if keyword == "SET" and len(words) > 1 and words[1][1].upper() == "CALLERID":
            if len(words) == 2:
                return SetCallerIdCommand("")
            return SetCallerIdCommand(self.text[words[2][0] : end])
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
            hint = f"LINECALLSTATE_{upper}" if upper in _STATES or upper == "HANGUP" else None
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
        state = _STATES.get(name)
        if state is None:
            raise self.fail(
                f"unknown state {word!r}: the TAPI states are "
                + ", ".join(_STATES)
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
        known = _MODE_NAMES.get(upper)
        if known is not None:
            if known[0] is state:
                return known[1]
            expected = (
                f"use {CONSTANT_PREFIXES[family]}* or a number"
                if family is not None
                else f"{_state_name(state)} takes no mode constant, only a number"
            )
            raise self.fail(f"{word} is not a mode of {_state_name(state)}: {expected}", index)
        if state is LineCallState.DISCONNECTED and upper in DIALSTATUS_MODES:
            return int(DIALSTATUS_MODES[upper])
        if family is None:
            raise self.fail(f"{_state_name(state)} takes no mode constant, only a number", index)
        extra = " or a ${DIALSTATUS} word" if state is LineCallState.DISCONNECTED else ""
        raise self.fail(
            f"unknown mode {word!r} for {_state_name(state)}: "
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
# tests/test_grammar.py checks they agree on values for generated texts.

# A unique id: printable ASCII except blank, '&', '[' and ']' (a subset of
# what model._token_problem accepts). A line also may not start with '~' or
# '!' (model.line_problem).
_FAST_ID: Final = r"[\x21-\x25\x27-\x5a\x5c\x5e-\x7e]+"
_FAST_LINE: Final = r"[\x22-\x25\x27-\x5a\x5c\x5e-\x7d][\x21-\x25\x27-\x5a\x5c\x5e-\x7e]*"
# SET CALLERID text: no control character, no blank at either end.
_FAST_REST: Final = r"[^\x00-\x20\x7f](?:[^\x00-\x08\x0a-\x1f\x7f]*[^\x00-\x20\x7f])?"
_FAST: Final = re.compile(
    rf"(?:\[((?:~{_FAST_ID}|!?{_FAST_LINE})(?:&!?{_FAST_LINE})*)\] )?"
    rf"(?:(LINE_NEWCALL {_FAST_LINE}|LINE_CALLSTATE LINECALLSTATE_[A-Z]+(?: [0-9A-Za-z_]+)?)"
    rf"|SET CALLERID(?: ({_FAST_REST}))?)\Z"
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
        return _checked_event(_NO_SPEC, command)
    unique_id: str | None = None
    parts = targets.split("&")
    if parts[0][0] == "~":
        unique_id = parts.pop(0)[1:]
    include = tuple(t for t in parts if t[0] != "!")
    exclude = tuple(t[1:] for t in parts if t[0] == "!")
    if include and exclude and not frozenset(include).isdisjoint(exclude):
        return None  # an error: _Parser says which line and where
    spec = _new_spec(TargetSpec)
    _set(spec, "unique_id", unique_id)
    _set(spec, "include", include)
    _set(spec, "exclude", exclude)
    return _checked_event(spec, command)


# TargetSpec and TapiEvent validate every field in __init__, character by
# character, which costs more than the rest of the fast path together. What
# _FAST matched already satisfies every one of those checks (its token
# classes are subsets of what model._token_problem and line_problem accept,
# and disjointness is tested above), so the values are built the way attrs
# would store them, without running the checks a second time.
# tests/test_grammar.py runs attrs.validate on every fast-path result.
_set = object.__setattr__
_new_spec = TargetSpec.__new__
_new_event = TapiEvent.__new__


def _checked_event(spec: TargetSpec, command: Command) -> TapiEvent:
    event = _new_event(TapiEvent)
    _set(event, "spec", spec)
    _set(event, "command", command)
    return event


def parse(text: str) -> TapiEvent:
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
        raise TypeError(f"parse() takes a str, not {type(text).__name__}")
    return _Parser(text).parse()


# --------------------------------------------------------------------------- format


def format_mode(state: LineCallState, mode: int) -> str:
    """The canonical text of a mode: its tapi.h name if it is one constant of
    ``state``'s family, else ``0x`` and upper-case hex."""
    return _MODE_TEXT.get((state, int(mode)), f"0x{int(mode):X}")


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
        text = "LINE_CALLSTATE " + _state_name(command.state)
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


def format(event: TapiEvent) -> str:
    """The canonical TAPIEVENT text of ``event`` (the inverse of :func:`parse`)."""
    spec = format_spec(event.spec)
    command = format_command(event.command)
    return f"{spec} {command}" if spec else command


# --------------------------------------------------------------------------- extract

_TAPIEVENT_WORD: Final = re.compile(r"[ \t]*TAPIEVENT(?=[ \t]|\Z)", re.IGNORECASE)
_TAPIEVENT_COLON: Final = re.compile(r"[ \t]*TAPIEVENT[ \t]*:", re.IGNORECASE)


@attrs.frozen(slots=True)
class _Body:
    text: str
    index: int  # header position, -1 for the legacy UserEvent value
    missing_colon: bool


def _bodies(message: Message, legacy: str | None) -> list[_Body]:
    """Every TAPIEVENT body of ``message`` in wire order."""
    out = []
    if legacy is not None:
        colon = _TAPIEVENT_COLON.match(legacy)
        if colon is not None:
            out.append(_Body(legacy[colon.end() :], -1, False))
        else:
            word = _TAPIEVENT_WORD.match(legacy)
            if word is not None:
                out.append(_Body(legacy[word.end() :], -1, True))
    for index, (name, value) in enumerate(message.headers):
        folded = name.strip(_WSP)
        if folded and folded[:9].upper() != "TAPIEVENT":
            continue  # the common case: a snapshot or other body header
        if folded.upper() == "TAPIEVENT":
            out.append(_Body(value, index, False))
        elif folded == "":
            # A line without a colon (kept by 1.4-11): "TAPIEVENT [..] ...".
            word = _TAPIEVENT_WORD.match(value)
            if word is not None:
                out.append(_Body(value[word.end() :], index, True))
        else:
            # The colon came later in the line ("TAPIEVENT SET CALLERID a:b"):
            # the decoder cut the line there; put it back together.
            word = _TAPIEVENT_WORD.match(folded)
            if word is not None:
                out.append(_Body(folded[word.end() :] + ":" + value, index, True))
    return out


def _header_key(message: Message, userevent_index: int, body_index: int) -> str | None:
    """The ``Uniqueid`` Asterisk itself put on the event, if any.

    Only a header in the position Asterisk writes it counts -- before the
    ``UserEvent:`` header (12+ snapshot), right after it (10/11), or before
    the body line (1.2) -- so a ``Uniqueid:`` forged through the body by a
    caller id (section 6) is not taken for the call key.
    """
    headers = message.headers
    limit = userevent_index if userevent_index >= 0 else body_index
    candidates = [i for i, (n, _) in enumerate(headers) if n.strip(_WSP).lower() == "uniqueid"]
    chosen = next((i for i in candidates if i < limit), None)
    if chosen is None and userevent_index >= 0 and userevent_index + 1 in candidates:
        chosen = userevent_index + 1
    if chosen is None:
        return None
    return headers[chosen][1].strip(_WSP) or None


def extract(message: Message) -> ExtractedEvent | Diagnostic | None:
    """Recognise a TAPI event in an AMI message of any Asterisk version.

    Returns ``None`` when ``message`` is not a TAPI UserEvent, an
    :class:`~tapievent.model.ExtractedEvent` when it carries a valid
    TAPIEVENT (with non-fatal diagnostics ``legacy-syntax``,
    ``missing-colon``, ``duplicate-tapievent``), or a
    :class:`~tapievent.model.Diagnostic` ``empty-body`` / ``syntax-error``
    when it is a TAPI event that cannot be used. Never raises.
    """
    event = message.get("Event")
    if event is None:
        return None
    return extract_event(message, event)


def _fast_extract(message: Message) -> ExtractedEvent | Diagnostic | bool | None:
    """The Asterisk 10+ shape in one pass of C-level operations, or False.

    Applies when every header name is plain ASCII without blanks, exactly one
    name starts with ``TAPIEVENT`` (ignoring case) and it is ``TAPIEVENT``
    itself, and ``UserEvent:`` is ``TAPI`` (not the legacy pipe). Then
    _bodies finds that one body, with no diagnostic, and the rules of
    _header_key reduce to index arithmetic on the folded names; anything else
    (False) goes through the general code below.
    """
    headers = message.headers
    if not headers:
        return False
    # "\nname\nname\n...\n": a name is found with one find() and its index
    # is the number of "\n" before it.
    joined = "\n" + "\n".join([name for name, _ in headers]) + "\n"
    if not joined.isascii():
        return False
    folded = joined.lower()
    if (
        " " in folded
        or "\t" in folded
        or "\n\n" in folded  # a colon-less line (empty name)
        or folded.count("\n") != len(headers) + 1  # a line break inside a name
        or folded.count("\ntapievent") != 1
    ):
        return False
    body_at = folded.find("\ntapievent\n")
    userevent_at = folded.find("\nuserevent\n")
    if body_at < 0 or userevent_at < 0:
        return False
    userevent_index = folded.count("\n", 0, userevent_at)
    name = headers[userevent_index][1]
    if name != "TAPI" and name.strip(_WSP).lower() != "tapi":
        return False
    header_key = None
    uniqueid_at = folded.find("\nuniqueid\n")
    if uniqueid_at > userevent_at:
        # Only right after UserEvent: (10/11) counts once past it.
        uniqueid_at = (
            userevent_at + 10 if folded.startswith("uniqueid\n", userevent_at + 11) else -1
        )
    if uniqueid_at >= 0:
        header_key = headers[folded.count("\n", 0, uniqueid_at)][1].strip(_WSP) or None
    text = headers[folded.count("\n", 0, body_at)][1]
    if not text.strip(_WSP):
        return Diagnostic("empty-body", _EMPTY_BODY, header_key, message)
    try:
        parsed = parse(text)
    except TapiEventSyntaxError as error:
        return Diagnostic("syntax-error", f"TAPIEVENT {error}", header_key, message)
    unique_id = parsed.spec.unique_id
    if unique_id is not None:
        return ExtractedEvent(parsed, unique_id, "spec", message)
    if header_key is not None:
        return ExtractedEvent(parsed, header_key, "header", message)
    return ExtractedEvent(parsed, None, None, message)


_EMPTY_BODY: Final = (
    "a TAPI UserEvent without a TAPIEVENT body: write UserEvent(TAPI,TAPIEVENT: <command>)"
)


def extract_event(message: Message, event: str) -> ExtractedEvent | Diagnostic | None:
    """:func:`extract` for a caller that already read ``event = message.get("Event")``.

    The tracker reads ``Event`` of every message to dispatch it; passing it
    on saves a second lookup per UserEvent.
    """
    if event == "UserEvent":
        result = _fast_extract(message)
        if result is not False:
            return result  # type: ignore[return-value]
    return _general_extract(message, event)


def _general_extract(message: Message, event: str) -> ExtractedEvent | Diagnostic | None:
    # Every shape of every version, header by header (the reference that
    # _fast_extract must agree with).
    event_name = event.strip(_WSP).lower()
    legacy: str | None = None
    userevent_index = -1
    if event_name == "usereventtapi":  # Asterisk 1.2
        pass
    elif event_name == "userevent":
        userevent_index, name = next(
            (
                (i, v)
                for i, (n, v) in enumerate(message.headers)
                if n.strip(_WSP).lower() == "userevent"
            ),
            (-1, ""),
        )
        name = name.strip(_WSP)
        if name.lower() == "tapi":
            pass
        elif name[:5].lower() == "tapi|":
            legacy = name[5:]
        else:
            return None
    else:
        return None

    bodies = _bodies(message, legacy)
    first_index = bodies[0].index if bodies else len(message.headers)
    header_key = _header_key(message, userevent_index, first_index)
    diagnostics: list[Diagnostic] = []
    if legacy is not None:
        diagnostics.append(
            Diagnostic(
                "legacy-syntax",
                "UserEvent(TAPI|...) uses the pipe separator of Asterisk 1.2/1.4; "
                "from 1.6 on write UserEvent(TAPI,TAPIEVENT: ...)",
                header_key,
                message,
            )
        )
    if not bodies or not bodies[0].text.strip(_WSP):
        return Diagnostic("empty-body", _EMPTY_BODY, header_key, message)
    body = bodies[0]
    if body.missing_colon:
        diagnostics.append(
            Diagnostic(
                "missing-colon",
                "no colon after TAPIEVENT: write 'TAPIEVENT: ...'; Asterisk 12 and later "
                "silently drop a UserEvent argument without a colon",
                header_key,
                message,
            )
        )
    if len(bodies) > 1:
        diagnostics.append(
            Diagnostic(
                "duplicate-tapievent",
                f"{len(bodies) - 1} more TAPIEVENT bod{'y' if len(bodies) == 2 else 'ies'} "
                "after the first were ignored; extra ones come from unquoted text such as a "
                "caller id: wrap caller-controlled values in ${QUOTE(...)}",
                header_key,
                message,
            )
        )
    try:
        parsed = parse(body.text)
    except TapiEventSyntaxError as error:
        return Diagnostic("syntax-error", f"TAPIEVENT {error}", header_key, message)
    if parsed.spec.unique_id is not None:
        key: str | None = parsed.spec.unique_id
        source: str | None = "spec"
    elif header_key is not None:
        key, source = header_key, "header"
    else:
        key, source = None, None
    if key != header_key:
        # The findings concern this event's call: give them its key (on
        # 1.4-1.8 the spec's ~uniqueid is the only key there is).
        diagnostics = [attrs.evolve(d, call_key=key) for d in diagnostics]
    return ExtractedEvent(parsed, key, source, message, tuple(diagnostics))


# --------------------------------------------------------------------------- to_dialplan


class DialplanError(ProtocolError, ValueError):
    """An event or Asterisk version :func:`to_dialplan` cannot render."""


_LINES: Final = {(1, 2), (1, 4), (1, 6), (1, 8)}
_FIRST_MODERN: Final = 10
_LAST_KNOWN: Final = 23


def asterisk_version(version: str | tuple[int, ...]) -> tuple[int, ...]:
    """Normalise an Asterisk release (``"1.4"``, ``"1.6.2"``, ``"11"``, ``"22.10.1"``,
    ``(13, 38, 3)``) to a tuple, checking it names a real release line.

    Lines: 1.2, 1.4, 1.6, 1.8, then 10 to 23; a later major is accepted and
    treated like 23 (the UserEvent rendering has not changed since 12).
    """
    if isinstance(version, str):
        text = version.strip()
        if not re.fullmatch(r"[0-9]+(?:\.[0-9]+)*", text):
            raise DialplanError(f"not an Asterisk version: {version!r} (e.g. '1.4', '22.10.1')")
        numbers = tuple(int(p) for p in text.split("."))
    elif isinstance(version, tuple) and version and all(type(p) is int for p in version):
        numbers = version
    else:
        raise DialplanError(f"not an Asterisk version: {version!r}")
    if numbers[0] == 1:
        if len(numbers) < 2 or (numbers[0], numbers[1]) not in _LINES:
            raise DialplanError(f"Asterisk {version!r}: the 1.x lines are 1.2, 1.4, 1.6 and 1.8")
    elif numbers[0] < _FIRST_MODERN:
        raise DialplanError(f"there is no Asterisk {version!r}: after 1.8 came 10")
    return numbers


def _line(version: tuple[int, ...]) -> tuple[int, int]:
    return (1, version[1]) if version[0] == 1 else (min(version[0], _LAST_KNOWN), 0)


CALLER_CONTROLLED: Final = frozenset(
    {
        "CALLERID",
        "CALLERIDNUM",
        "CALLERIDNAME",
        "CONNECTEDLINE",
        "REDIRECTING",
        "SIP_HEADER",
        "PJSIP_HEADER",
        "SIPCALLID",
    }
)
"""Dialplan variables and functions whose value a caller (or the far end) chooses.

:func:`to_dialplan` wraps any ``${...}`` reference that mentions one of them
in ``${QUOTE(...)}`` (protocol.md section 6)."""

_REF_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def reference_end(text: str, i: int) -> int | None:
    """End (exclusive) of the ``${...}`` or ``$[...]`` that starts at ``text[i]``,
    or ``None`` when it is never closed.

    Braces (or brackets) nest, counted the way Asterisk's
    ``pbx_substitute_variables`` counts them; the dialplan linter reads
    references with the same rule, so both agree on where a variable ends.
    """
    opening = text[i + 1]
    closing = "}" if opening == "{" else "]"
    depth = 0
    for j in range(i + 1, len(text)):
        if text[j] == opening:
            depth += 1
        elif text[j] == closing:
            depth -= 1
            if depth == 0:
                return j + 1
    return None


def _references(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each ``${...}`` / ``$[...]`` in ``text``."""
    out = []
    i = 0
    while i < len(text) - 1:
        if text[i] == "$" and text[i + 1] in "{[":
            end = reference_end(text, i)
            if end is None:
                closing = "}" if text[i + 1] == "{" else "]"
                raise DialplanError(
                    f"unterminated {text[i : i + 2]} at index {i} in {text!r}: "
                    f"add the closing {closing!r}"
                )
            out.append((i, end))
            i = end
        else:
            i += 1
    return out


def _is_untrusted(reference: str, untrusted: frozenset[str]) -> bool:
    inner = reference[2:-1]
    head = _REF_NAME.match(inner)
    if head is not None and head.group(0).upper() == "QUOTE":
        return False  # already quoted by the author
    names = {m.group(0).upper() for m in _REF_NAME.finditer(inner)}
    return bool(names & untrusted)


def _escape(text: str, characters: str) -> str:
    return "".join("\\" + ch if ch in characters else ch for ch in text)


def to_dialplan(
    event: TapiEvent | str,
    asterisk: str | tuple[int, ...],
    *,
    quote_untrusted: bool = True,
    untrusted: Iterable[str] = (),
) -> str:
    """The ``UserEvent(...)`` application call that makes Asterisk ``asterisk`` emit ``event``.

    The result goes after ``exten => ext,prio,`` in ``extensions.conf``.
    ``event`` is a value or TAPIEVENT text (parsed, so it is checked); its
    ``${...}`` references stay dialplan variables. Literal text is escaped so
    that, after Asterisk has read the file and split the arguments, exactly
    one body argument ``TAPIEVENT: <text>`` remains:

    * 1.2/1.4 use ``|``; from 1.6 ``,`` (ami-versions.md 2.3).
    * ``;`` is written ``\\;`` (a comment otherwise); on 1.2/1.4 the file
      loader also eats ``\\``, ``'`` and ``,`` so those are escaped for it;
      from 1.4 the run-time splitter eats ``\\``, ``"`` and the separator,
      so those are escaped for it too (1.2's UserEvent does not split).
    * References mentioning a caller-controlled name (:data:`CALLER_CONTROLLED`
      plus ``untrusted``) are wrapped in ``${QUOTE(...)}`` from 1.4 on, so a
      caller id holding ``,``, ``|``, ``"`` or ``TAPIEVENT:`` stays inside the
      body. 1.2 needs no quoting: its UserEvent keeps the body whole.

    Raises :class:`DialplanError` for an unknown version or an unterminated
    ``${``, :class:`TapiEventSyntaxError` for text that does not parse.
    """
    value = parse(event) if isinstance(event, str) else event
    version = asterisk_version(asterisk)
    line = _line(version)
    text = format(value)
    names = CALLER_CONTROLLED | {name.upper() for name in untrusted}
    if line == (1, 2):
        separator, runtime_special, loader_special = "|", "", "\\',"
    elif line == (1, 4):
        separator, runtime_special, loader_special = "|", '\\"|', "\\',"
    else:
        separator, runtime_special, loader_special = ",", '\\",', ""
    pieces = []
    cursor = 0
    for start, end in _references(text):
        pieces.append(_literal(text[cursor:start], runtime_special, loader_special))
        reference = text[start:end]
        if quote_untrusted and line != (1, 2) and _is_untrusted(reference, names):
            reference = "${QUOTE(" + reference + ")}"
        pieces.append(reference.replace(";", "\\;"))
        cursor = end
    pieces.append(_literal(text[cursor:], runtime_special, loader_special))
    return f"UserEvent(TAPI{separator}TAPIEVENT: {''.join(pieces)})"


def _literal(text: str, runtime_special: str, loader_special: str) -> str:
    # Innermost first: what the run-time splitter must see, then what the
    # 1.2/1.4 file loader must see, then the config reader's ';' comments.
    return _escape(_escape(_escape(text, runtime_special), loader_special), ";")


# Unambiguous names for the package namespace, where ``format`` and ``parse``
# would say too little (``tapievent.parse_tapievent``).
parse_tapievent = parse
format_tapievent = format
extract_tapievent = extract
