"""Text helpers of the TAPI checks: positions, static parsing, Dial options, spec lines."""

from __future__ import annotations

from collections.abc import Iterable

from .. import grammar
from ..model import TapiEvent

__all__ = [
    "dial_options",
    "error_index",
    "first_nonblank",
    "parse_static",
    "source_text",
    "spec_lines",
    "token_at",
]


def error_index(error: grammar.TapiEventSyntaxError) -> int:
    """0-based index of a grammar error (its ``column`` is 1-based)."""
    return max(error.column - 1, 0)


def token_at(text: str, index: int) -> tuple[int, int]:
    """The blank-delimited word of ``text`` around ``index``."""
    start = index
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    end = index
    while end < len(text) and not text[end].isspace():
        end += 1
    return start, end


def parse_static(text: str) -> tuple[TapiEvent | None, grammar.TapiEventSyntaxError | None]:
    """Parse TAPIEVENT text as written in a dialplan, variables unexpanded.

    A word holding a ``${...}`` (``LINECALLSTATE_DISCONNECTED ${DIALSTATUS}``)
    may well be valid once Asterisk has expanded it, so an error inside
    such a word is no finding: the word is replaced by a neutral ``0`` and
    parsing is retried, to still check the rest. Returns the event (None
    when it cannot be known) and the error to report (None when there is
    nothing certain to report).
    """
    for _ in range(8):
        try:
            return grammar.parse_tapievent(text), None
        except grammar.TapiEventSyntaxError as error:
            start, end = token_at(text, min(error_index(error), max(len(text) - 1, 0)))
            word = text[start:end]
            if "$" not in word or word.startswith("["):
                return None, error
            text = text[:start] + "0" + text[end:]
    return None, None


def first_nonblank(text: str, after_spec: bool = False) -> int:
    index = len(text) - len(text.lstrip())
    if after_spec and text[index : index + 1] == "[":
        close = text.find("]", index)
        if close >= 0:
            index = close + 1
            index += len(text[index:]) - len(text[index:].lstrip())
    return min(index, max(len(text) - 1, 0))


def source_text(text: str, offset: int) -> str:
    """The reference starting at ``text[offset]``, for a suggestion."""
    if text.startswith("${", offset):
        depth = 0
        for i in range(offset + 1, len(text)):
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
                if depth == 0:
                    return text[offset : i + 1]
        return text[offset:]
    # A bare NAME(...) read by a function such as STRREPLACE.
    close = text.find(")", offset)
    return "${" + text[offset : close + 1 if close >= 0 else len(text)] + "}"


def _past_group(text: str, i: int, opening: str, closing: str) -> int:
    """Index just after the group opened at ``text[i]``, nesting counted."""
    depth = 0
    for j in range(i, len(text)):
        if text[j] in opening:
            depth += 1
        elif text[j] in closing:
            depth -= 1
            if depth == 0:
                return j + 1
    return len(text) + 1


def dial_options(options: str) -> Iterable[tuple[int, str]]:
    """Option letters of a Dial options string, skipping each ``(argument)``."""
    i = 0
    while i < len(options):
        ch = options[i]
        if ch == "$" and options[i + 1 : i + 2] in ("{", "["):
            i = _past_group(options, i + 1, "{[", "}]")
            continue
        if ch.isalpha():
            yield i, ch
        if options[i + 1 : i + 2] == "(":
            i = _past_group(options, i + 1, "(", ")")
            continue
        i += 1


def spec_lines(text: str) -> Iterable[tuple[int, str]]:
    """``(index, line)`` for each included or excluded line of a leading ``[spec]``."""
    start = len(text) - len(text.lstrip())
    if text[start : start + 1] != "[":
        return
    close = text.find("]", start)
    if close < 0:
        return
    index = start + 1
    for target in text[start + 1 : close].split("&"):
        name = target.strip()
        lead = len(target) - len(target.lstrip())
        if name.startswith("!"):
            yield index + lead + 1, name[1:]
        elif name and not name.startswith("~"):
            yield index + lead, name
        index += len(target) + 1
