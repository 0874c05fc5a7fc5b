"""The lexical rules of the TAPIEVENT text, in one place (protocol.md section 1).

What a line name, a unique id and a word may contain, which characters are
blanks and which are control characters, and the keywords, state names and
mode names of the grammar. The value types (``_values``) refuse what these
rules reject, and the parser (``_parse``) reads text with the same rules,
so ``parse(format(x)) == x`` holds for every value that can be built: there
is no second copy of a rule to drift.

The ``FAST_*`` patterns are the ASCII subsets of the same rules that the
parser's regular-expression fast path uses; tests/test_lexical.py checks
each is a subset of the general rule it shortens.
"""

from __future__ import annotations

import re
from typing import Final

from ._errors import LocalProtocolError
from ._tapi import CALL_STATE_MODE_FAMILIES, CONSTANT_PREFIXES, LineCallState

__all__ = [
    "COMMAND_KEYWORDS",
    "CONTROL_CHAR",
    "FAST_ID",
    "FAST_LINE",
    "FAST_REST",
    "MODE_NAMES",
    "MODE_TEXT",
    "STATES",
    "WSP",
    "TapiEventValueError",
    "control_problem",
    "edge_blank_problem",
    "line_problem",
    "split_words",
    "state_name",
    "unique_id_problem",
    "words",
]

WSP: Final = " \t"
"""The blanks that separate TAPIEVENT words (ABNF WSP: space and tab)."""

_CONTROL: Final = frozenset(chr(c) for c in range(32) if c != 9) | {"\x7f"}
CONTROL_CHAR: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
"""A control character: C0 but tab, and DEL (``_CONTROL`` as a pattern)."""

_SPEC_SPECIAL: Final = frozenset("&[]")

COMMAND_KEYWORDS: Final = frozenset({"LINE_NEWCALL", "LINE_CALLSTATE"})
"""First words that make a command one of the known ones (with ``SET CALLERID``)."""


class TapiEventValueError(LocalProtocolError, ValueError):
    """A value the TAPIEVENT text (or a caller id) cannot carry, refused when it is built.

    A :class:`~tapievent._errors.LocalProtocolError`: the program building
    the value asked for something the protocol cannot write (a line name with
    a blank, a caller id with a line break), so it is the caller's to fix,
    just as an AMI header with a CR is. A ``ValueError`` too, as attrs
    validators conventionally raise.
    """


# ----------------------------------------------------------------- character rules


def split_words(text: str) -> list[str]:
    """``text`` split at runs of spaces and tabs (not at other Unicode blanks)."""
    return [w for w in text.replace("\t", " ").split(" ") if w]


def words(text: str, start: int, end: int) -> list[tuple[int, str]]:
    """``(index, word)`` for each SP/HTAB-separated word of ``text[start:end]``."""
    out = []
    i = start
    while i < end:
        while i < end and text[i] in WSP:
            i += 1
        if i >= end:
            break
        j = i
        while j < end and text[j] not in WSP:
            j += 1
        out.append((i, text[i:j]))
        i = j
    return out


def control_problem(text: str) -> int | None:
    """Index of the first control character (CR, LF, NUL, ...; not tab) in ``text``."""
    found = CONTROL_CHAR.search(text)
    return None if found is None else found.start()


def _token_problem(text: str, what: str) -> tuple[int, str] | None:
    if not text:
        return (0, f"empty {what}")
    for i, ch in enumerate(text):
        if ch in _CONTROL:
            return (i, f"control character U+{ord(ch):04X} in {what}")
        if ch.isspace():
            return (i, f"blank in {what} {text!r}: {what}s cannot contain blanks")
        if ch in _SPEC_SPECIAL:
            return (i, f"{ch!r} in {what} {text!r}: {what}s cannot contain '&', '[' or ']'")
    return None


def line_problem(line: str) -> tuple[int, str] | None:
    """Why ``line`` is not a valid TAPIEVENT line name, with the index, or ``None``.

    A line is one word of printable characters other than ``&``, ``[`` and
    ``]``, not starting with ``~`` or ``!`` (those mark a unique id or an
    excluded line inside a spec).
    """
    problem = _token_problem(line, "line name")
    if problem is None and line[0] in "~!":
        return (
            0,
            f"line name {line!r} starts with {line[0]!r}, which marks a "
            + ("unique id" if line[0] == "~" else "excluded line"),
        )
    return problem


def unique_id_problem(unique_id: str) -> tuple[int, str] | None:
    """Why ``unique_id`` cannot follow ``~`` in a spec, with the index, or ``None``."""
    return _token_problem(unique_id, "unique id")


def edge_blank_problem(text: str, what: str) -> str | None:
    """Why ``text`` cannot be the verbatim tail of a command, or ``None``.

    The parser strips blanks at both ends of the text and refuses control
    characters, so a value holding either could not be read back.
    """
    if text[:1] in (" ", "\t") or text[-1:] in (" ", "\t"):
        return f"{what} starts or ends with a blank, which TAPIEVENT text cannot keep"
    i = control_problem(text)
    if i is not None:
        return f"{what} contains control character U+{ord(text[i]):04X} at index {i}"
    return None


# ----------------------------------------------------------------- fast-path subsets

FAST_ID: Final = r"[\x21-\x25\x27-\x5a\x5c\x5e-\x7e]+"
"""A unique id in printable ASCII: no blank, ``&``, ``[`` or ``]``."""
FAST_LINE: Final = r"[\x22-\x25\x27-\x5a\x5c\x5e-\x7d][\x21-\x25\x27-\x5a\x5c\x5e-\x7e]*"
"""A line name in printable ASCII: as FAST_ID, and not starting with ``~`` or ``!``."""
FAST_REST: Final = r"[^\x00-\x20\x7f](?:[^\x00-\x08\x0a-\x1f\x7f]*[^\x00-\x20\x7f])?"
"""``SET CALLERID`` text: no control character, no blank at either end."""

# ----------------------------------------------------------------- vocabulary

STATES: Final[dict[str, LineCallState]] = dict(LineCallState.__members__)
"""``LINECALLSTATE_<name>`` -> state, by the name after the prefix."""
_STATE_NAMES: Final[dict[LineCallState, str]] = {v: k for k, v in STATES.items()}

MODE_NAMES: Final[dict[str, tuple[LineCallState, int]]] = {
    CONSTANT_PREFIXES[family] + name: (state, int(member.value))
    for state, family in CALL_STATE_MODE_FAMILIES.items()
    for name, member in family.__members__.items()
}
"""Every mode constant name of every family -> (its state, its number).

Kept whole so the parser can tell "a mode of another state" from "no mode".
"""
MODE_TEXT: Final[dict[tuple[LineCallState, int], str]] = {
    key: name for name, key in MODE_NAMES.items()
}
"""(state, number) -> the canonical name of that mode."""


def state_name(state: LineCallState) -> str:
    """The tapi.h name of ``state``, e.g. ``LINECALLSTATE_CONNECTED``."""
    return "LINECALLSTATE_" + _STATE_NAMES[state]
