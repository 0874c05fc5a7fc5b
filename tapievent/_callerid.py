"""A caller id as Asterisk reads and writes it: ``"Name" <number>``.

Its own module because both the TAPIEVENT values (``SET CALLERID`` text
read as a caller id) and the tracker's output events (the caller id of a
new call) hold one. The reading rules follow Asterisk's
``ast_callerid_parse()`` in main/callerid.c.
"""

from __future__ import annotations

import attrs

from ._lexical import TapiEventValueError

__all__ = ["CallerId"]


def _empty_to_none(value: str | None) -> str | None:
    # Asterisk has no distinction between an empty and an absent name or
    # number (``"" <>`` is "no caller id"), so neither do we.
    return value or None


def _no_line_breaks(
    _inst: object, attribute: attrs.Attribute[str | None], value: str | None
) -> None:
    if value is not None and any(c in value for c in "\r\n\0"):
        raise TapiEventValueError(f"{attribute.name} must not contain CR, LF or NUL: {value!r}")


def _valid_number(_inst: object, attribute: attrs.Attribute[str | None], value: str | None) -> None:
    _no_line_breaks(_inst, attribute, value)
    if value is not None and ("<" in value or ">" in value):
        raise TapiEventValueError(f"a caller id number cannot contain '<' or '>': {value!r}")


# ast_isphonenumber(): what Asterisk accepts as a bare number after
# ast_shrink_phone_number() has removed the punctuation people type.
_PHONE_CHARS = frozenset("0123456789*#+")


def _shrink_phone_number(text: str) -> str:
    """Asterisk's ast_shrink_phone_number(): drop ``( )`` and blanks, ``-`` outside
    ``[...]``, and every ``.`` but a trailing one (main/callerid.c)."""
    out = []
    bracketed = 0
    for i, ch in enumerate(text):
        if ch == "[":
            bracketed += 1
            out.append(ch)
        elif ch == "]":
            bracketed -= 1
            out.append(ch)
        elif ch == "-":
            if bracketed:
                out.append(ch)
        elif ch == ".":
            if i == len(text) - 1:
                out.append(ch)
        elif ch not in "( )":
            out.append(ch)
    return "".join(out)


def _is_phone_number(text: str) -> bool:
    return bool(text) and all(c in _PHONE_CHARS for c in text)


def _unquote_name(text: str) -> str:
    """The name part of a caller id: inside the first ``"..."`` if any (with
    ``\\"`` and ``\\\\`` escapes, as ``${QUOTE()}`` writes them), else stripped."""
    start = text.find('"')
    if start < 0:
        return text.strip(" \t")
    out = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if ch == '"':
            return "".join(out)
        out.append(ch)
        i += 1
    # No closing quote: Asterisk keeps what follows the opening one.
    return "".join(out).strip(" \t")


@attrs.frozen(slots=True)
class CallerId:
    """A caller id as Asterisk renders ``${CALLERID(all)}``: ``"Name" <number>``.

    Empty strings mean "absent" and are stored as ``None``. :meth:`parse`
    follows Asterisk's ``ast_callerid_parse()``; ``str()`` writes text that
    :meth:`parse` reads back as the same value.
    """

    name: str | None = attrs.field(
        default=None, converter=_empty_to_none, validator=_no_line_breaks
    )
    number: str | None = attrs.field(
        default=None, converter=_empty_to_none, validator=_valid_number
    )

    @classmethod
    def parse(cls, text: str) -> CallerId:
        """Read a caller id the way Asterisk's ``ast_callerid_parse()`` does.

        * ``"Name" <num>`` and ``Name <num>``: the number is between the last
          ``<`` and the last ``>`` after it, kept verbatim; the name is inside the
          first pair of double quotes (backslash escapes honoured), else the
          text before ``<`` without surrounding blanks.
        * no ``<...>``: if the text is a phone number once Asterisk's
          punctuation (``( ) - .`` and spaces) is removed -- only digits, ``*``,
          ``#``, ``+`` remain -- it is the number (in that shrunk form);
          otherwise it is a name (quoted or bare).
        * empty text: no name and no number.

        Never raises: any text is some caller id. CR, LF and NUL (which no AMI
        value can carry) are dropped.
        """
        text = text.replace("\r", "").replace("\n", "").replace("\0", "")
        lt = text.rfind("<")
        gt = text.rfind(">") if lt >= 0 else -1
        if lt >= 0 and gt > lt:
            number = text[lt + 1 : gt]
            return cls(_unquote_name(text[:lt]), number.replace("<", "").replace(">", ""))
        shrunk = _shrink_phone_number(text)
        if _is_phone_number(shrunk):
            return cls(None, shrunk)
        return cls(_unquote_name(text), None)

    def format(self) -> str:
        """The canonical text: ``"Name" <num>``, ``<num>`` or ``num``, ``"Name"``, or ``""``."""
        parts = []
        if self.name is not None:
            escaped = self.name.replace("\\", "\\\\").replace('"', '\\"')
            parts.append(f'"{escaped}"')
        if self.number is not None:
            if self.name is None and _is_phone_number(self.number):
                parts.append(self.number)
            else:
                parts.append(f"<{self.number}>")
        elif self.name is not None and "<" in self.name:
            # '<' inside the quotes would be taken for the start of a number.
            parts.append("<>")
        return " ".join(parts)

    def __str__(self) -> str:
        return self.format()
