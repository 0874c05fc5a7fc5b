"""Actions and server messages to bytes, and Asterisk's C escapes undone.

Everything that writes AMI lives here, so the one promise that matters
most can be checked in one place: no CR, LF or NUL inside an action ever
reaches the wire, whatever the caller passes (a ``str`` subclass that
lies about its bytes, headers that are not pairs, a surrogate that would
encode to a control byte). Text is read and encoded through ``str``
itself, never through methods a subclass can override.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Final

from ._errors import LocalProtocolError
from ._message import BANNER_PREFIX, Action, Banner, Message, fold
from ._receivebuffer import MARKER

__all__ = [
    "ESCAPED_HEADERS",
    "LEGACY_MAX_HEADER_LINES",
    "LEGACY_MAX_LINE_BYTES",
    "c_unescape",
    "encode_action",
    "encode_banner",
    "encode_message",
    "unescape_message",
]

LEGACY_MAX_LINE_BYTES: Final = 255
"""Longest request line, CRLF included, that Asterisk 1.2 and 1.4.0 read.

Their ``get_input`` reads into a 256-byte buffer, at most 255 bytes at a
time, and dumps a buffer that fills without a CRLF (1.2.40 manager.c)."""
LEGACY_MAX_HEADER_LINES: Final = 79
"""Most lines per action Asterisk 1.2/1.4.0 keep (``AST_MAX_MANHEADERS`` 80
minus one), the ``Action:`` and ``ActionID:`` lines included."""

_FORBIDDEN = re.compile(r"[\r\n\x00]")


def _exact(what: str, text: object) -> str:
    """``text`` as an exact ``str``: a subclass may override ``encode``,
    ``__contains__`` or ``strip`` to hide a line break from the checks."""
    if not isinstance(text, str):
        raise LocalProtocolError(f"{what} must be a str, not {type(text).__name__}")
    return text if type(text) is str else str.__str__(text)


def _encode(what: str, text: str) -> bytes:
    try:
        return str.encode(text, "utf-8", "surrogateescape")
    except UnicodeEncodeError as exc:
        raise LocalProtocolError(f"{what} cannot be encoded: {exc.reason}") from None


def _check_text(what: str, text: object) -> bytes:
    text = _exact(what, text)
    bad = _FORBIDDEN.search(text)
    if bad is not None:
        raise LocalProtocolError(
            f"{what} contains {bad.group()!r} at index {bad.start()}: CR, LF and NUL"
            " could end the line and inject headers or a second action"
        )
    return _encode(what, text)


def _check_name(what: str, name: object) -> tuple[str, bytes]:
    raw = _check_text(what, name)
    name = _exact(what, name)
    if not name:
        raise LocalProtocolError(f"{what} is empty")
    if ":" in name:
        raise LocalProtocolError(f"{what} {name!r} contains a colon")
    if name.strip(" \t") != name:
        raise LocalProtocolError(f"{what} {name!r} has leading or trailing blanks")
    return name, raw


def _pairs(
    headers: Iterable[tuple[str, str]] | Mapping[str, str], *, where: str = "headers"
) -> list[tuple[object, object]]:
    """Every header as a ``(name, value)`` 2-tuple, or a LocalProtocolError naming the bad one."""
    if isinstance(headers, Mapping):
        if where != "headers":
            raise LocalProtocolError(f"{where} must be (name, value) pairs, not a mapping")
        return [(name, value) for name, value in headers.items()]
    if isinstance(headers, (str, bytes)):
        raise LocalProtocolError(f"{where} must be pairs or a mapping, not a string")
    try:
        items: list[tuple[object, object]] = list(headers)
    except TypeError:
        raise LocalProtocolError(
            f"{where} must be (name, value) pairs, not {type(headers).__name__}"
        ) from None
    for index, item in enumerate(items):
        if not isinstance(item, tuple) or len(item) != 2:
            raise LocalProtocolError(f"{where} item {index} {item!r} is not a (name, value) pair")
    return items


def encode_action(
    action: str | Action,
    headers: Iterable[tuple[str, str]] | Mapping[str, str] = (),
    action_id: str | None = None,
    *,
    legacy_limits: bool = False,
) -> bytes:
    """Serialise an AMI action: ``Action:``, ``ActionID:`` (if any), headers, blank line.

    Lines end in CRLF (Asterisk 1.2/1.4 accept nothing else) and every header
    is written ``Name: value`` with exactly one space, the only form 1.2-1.6
    parse. Headers may repeat (one ``Variable:`` per variable on Originate).
    With an :class:`Action`, its headers come first, then ``headers``;
    ``action_id`` overrides the action's own.

    Raises :class:`LocalProtocolError` naming the header when a name or value
    holds CR, LF or NUL, a name is empty, has a colon or leading/trailing
    blanks, an ``Action`` header is given in ``headers``, or ``ActionID`` is
    given both ways. Nothing that could start a second action reaches the
    wire. ``legacy_limits=True`` also enforces what Asterisk 1.2/1.4.0 read
    intact: lines of at most ``LEGACY_MAX_LINE_BYTES`` (255) bytes (CRLF
    included) and at most ``LEGACY_MAX_HEADER_LINES`` (79) lines.
    """
    if isinstance(action, Action):
        name: object = action.name
        pairs = _pairs(action.headers, where="Action.headers") + _pairs(headers)
        if action_id is None:
            action_id = action.action_id
    else:
        name = action
        pairs = _pairs(headers)
    raw_name = _check_text("Action name", name)
    if not raw_name:
        raise LocalProtocolError("Action name is empty")
    lines = [b"Action: " + raw_name]
    if action_id is not None:
        lines.append(b"ActionID: " + _check_text("ActionID", action_id))
    for index, (hname_object, hvalue) in enumerate(pairs):
        hname, raw = _check_name(f"header {index} name", hname_object)
        folded = str.lower(hname)
        if folded == "action":
            raise LocalProtocolError(
                f"header {index} is a second 'Action' header; pass the action name instead"
            )
        if folded == "actionid" and action_id is not None:
            raise LocalProtocolError(f"header {index}: ActionID given twice")
        lines.append(raw + b": " + _check_text(f"header {hname!r} value", hvalue))
    if legacy_limits:
        if len(lines) > LEGACY_MAX_HEADER_LINES:
            raise LocalProtocolError(
                f"{len(lines)} lines exceed the {LEGACY_MAX_HEADER_LINES} lines"
                " Asterisk 1.2/1.4.0 keep"
            )
        for line in lines:
            if len(line) + 2 > LEGACY_MAX_LINE_BYTES:
                label = line.split(b":", 1)[0].decode("utf-8", "replace")
                raise LocalProtocolError(
                    f"line {label!r} is {len(line) + 2} bytes with CRLF; Asterisk 1.2/1.4.0"
                    f" read at most {LEGACY_MAX_LINE_BYTES}"
                )
    lines.append(b"")
    lines.append(b"")
    return b"\r\n".join(lines)


def encode_banner(banner: Banner | tuple[int, ...]) -> bytes:
    """The banner line as a server sends it: ``text`` + CRLF (no blank line)."""
    if not isinstance(banner, Banner):
        banner = Banner.from_version(banner)
    return _check_text("banner text", banner.text) + b"\r\n"


_FOLLOWS_LINE: Final = ("response", "follows")
_BANNER_START: Final = BANNER_PREFIX.encode("ascii")


def encode_message(message: Message) -> bytes:
    """Serialise a message as Asterisk writes it (server side, fake servers).

    Each header becomes ``Name: value`` + CRLF; a header with an empty name
    is written as its bare value (a colon-less line), or as ``: value`` when
    the value has a colon or is empty, so decoding gives the same header
    back. A message with ``output`` is written as a legacy Command reply:
    headers, the body verbatim, ``--END COMMAND--``, CRLF, blank line.
    Decoding the result gives an equal message, and a frame that arrived in
    canonical form (CRLF, one space after the colon, names without blanks)
    is reproduced byte for byte, non-UTF-8 bytes included (they travel as
    surrogate escapes).

    Raises :class:`LocalProtocolError` for what the decoder could not read
    back: CR/LF in a name or value (NUL is allowed: Asterisk never sends it
    but the decoder keeps it), a colon or edge blanks in a name, a message
    without headers, a first line starting ``Asterisk Call Manager`` (at
    the start of a stream it reads as the banner), and an ``output`` on a
    message that is not ``Response: Follows``, or one with a colon-less
    header, a blank CRLF line or a line ending with the marker (each would
    end the reply or its headers elsewhere).
    """
    headers = message.headers
    if not headers:
        raise LocalProtocolError("a message needs at least one header")
    parts = [_header_line(index, name, value) for index, (name, value) in enumerate(headers)]
    if parts[0].startswith(_BANNER_START):
        raise LocalProtocolError(
            f"the first line starts with {BANNER_PREFIX!r}: at the start of a stream it is"
            " read as the banner"
        )
    follows = (str.lower(headers[0][0]), str.lower(headers[0][1])) == _FOLLOWS_LINE
    output = message.output
    if output is None:
        if follows:
            raise LocalProtocolError(
                "a 'Response: Follows' message needs output (the legacy Command body)"
            )
        parts.append(b"\r\n")
        return b"".join(parts)
    if not follows:
        raise LocalProtocolError("a message with output must start with 'Response: Follows'")
    _check_follows(parts, _encode("output", _exact("output", output)))
    parts.append(_encode("output", _exact("output", output)) + MARKER + b"\r\n\r\n")
    return b"".join(parts)


def _header_line(index: int, name: str, value: str) -> bytes:
    raw_value = _check_line_text(f"header {index} value", value)
    if name:
        name = _exact(f"header {index} name", name)
        raw_name = _check_line_text(f"header {index} name", name)
        if ":" in name or name.strip(" \t") != name:
            raise LocalProtocolError(
                f"header {index} name {name!r} has a colon or leading/trailing blanks"
            )
        return raw_name + b": " + raw_value + b"\r\n"
    if b":" in raw_value or not raw_value:
        return b": " + raw_value + b"\r\n"
    return raw_value + b"\r\n"


def _check_follows(parts: list[bytes], raw_output: bytes) -> None:
    """Refuse a legacy reply the decoder would cut elsewhere than its marker."""
    for index, part in enumerate(parts[1:], 1):
        if b":" not in part:
            raise LocalProtocolError(
                f"header {index} of a 'Response: Follows' reply has no name: its bare line"
                " would be read as the start of the output"
            )
        if part[:-2].endswith(MARKER):
            raise LocalProtocolError("a header ends with '--END COMMAND--'")
    for line in raw_output.split(b"\n")[:-1]:
        if line.rstrip(b"\r").endswith(MARKER):
            raise LocalProtocolError("output has a line ending with '--END COMMAND--'")
    first_line, nl, _ = raw_output.partition(b"\n")
    if nl and first_line.endswith(b"\r") and b":" in first_line:
        raise LocalProtocolError(
            "output starts with a CRLF line holding a colon: it would be read as a header"
        )
    if b"\n\r\n" in b"\n" + raw_output:
        raise LocalProtocolError(
            "output holds a blank CRLF line: it would end the reply before its marker"
        )


def _check_line_text(what: str, text: object) -> bytes:
    text = _exact(what, text)
    if "\r" in text or "\n" in text:
        raise LocalProtocolError(f"{what} contains CR or LF")
    return _encode(what, text)


# ---------------------------------------------------------------------------
# C escapes (Asterisk >= 13.5)

_C_ESCAPES: Final = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "?": "?",
}
_C_ESCAPE_RE = re.compile(r"\\([abfnrtv\\'\"?])")

ESCAPED_HEADERS: Final = ("CallerIDName", "ConnectedLineName", "ChanVariable")
"""Headers whose values Asterisk 13.5+ C-escapes (also with a prefix such as
``Dest`` in DialBegin, and ``ChanVariable(<channel>)`` on 1.8-11)."""


def c_unescape(text: str) -> str:
    """Undo ``ast_escape_c``: ``\\a \\b \\f \\n \\r \\t \\v \\\\ \\' \\" \\?``.

    Any other backslash sequence, and a trailing backslash, is kept as is,
    so text that was never escaped passes through unchanged unless it holds
    one of those eleven pairs.
    """
    if "\\" not in text:
        return text
    return _C_ESCAPE_RE.sub(lambda m: _C_ESCAPES[m.group(1)], text)


def _is_escaped_header(name: str) -> bool:
    key = fold(name)
    return key.endswith(("calleridname", "connectedlinename")) or "chanvariable" in key


def unescape_message(message: Message) -> Message:
    """A copy of ``message`` with the C-escaped headers unescaped.

    Touches ``CallerIDName``, ``ConnectedLineName`` (also prefixed, e.g.
    ``DestCallerIDName``) and ``ChanVariable`` headers. ``OriginateResponse``
    is returned unchanged: Asterisk does not escape its ``CallerIDName``.
    Only meaningful for Asterisk 13.5+ (banner 2.8.0 and later).
    """
    if message.get("Event") == "OriginateResponse":
        return message
    headers = tuple(
        (n, c_unescape(v)) if _is_escaped_header(n) else (n, v) for n, v in message.headers
    )
    if headers == message.headers:
        return message
    return Message(headers, message.output)
