"""TAPIEVENT values to dialplan: the ``UserEvent(...)`` line each Asterisk version needs.

:func:`to_dialplan` writes the application call that makes a given Asterisk
version emit exactly one event (ami-versions.md section 2): the separator
of the version, every literal character escaped for its file loader and
argument splitter, and caller-controlled references wrapped in
``${QUOTE(...)}``. :func:`asterisk_version` normalises a release name;
:func:`reference_end` is the rule for where a ``${...}`` ends, shared with
the dialplan linter so both agree.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from .._errors import LocalProtocolError
from .._format import format_tapievent
from .._parse import parse_tapievent
from .._values import TapiEvent

__all__ = [
    "CALLER_CONTROLLED",
    "DialplanError",
    "asterisk_version",
    "reference_end",
    "to_dialplan",
]


class DialplanError(LocalProtocolError, ValueError):
    """An event or Asterisk version :func:`to_dialplan` cannot render.

    A :class:`~tapievent._errors.LocalProtocolError`: the program (or the
    person at the ``tapievent dialplan`` command) asked for a dialplan line
    that no Asterisk version can carry, and it is theirs to fix.
    """


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
    value = parse_tapievent(event) if isinstance(event, str) else event
    version = asterisk_version(asterisk)
    line = _line(version)
    text = format_tapievent(value)
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
