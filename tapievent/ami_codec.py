"""AMI framing: bytes from Asterisk in, frames out; actions in, bytes out.

This module is sans-IO. It never touches a socket or a clock, so every
runtime (asyncio, threads, a fuzzer) drives it the same way.

The frame values (:class:`Banner`, :class:`Message`, :class:`Action`) are
defined here because everything above the codec (session, grammar, tracker)
consumes them.

Reading: feed bytes to :class:`AMIDecoder` with ``receive_data`` and pull
frames with ``next_frame`` until it returns :data:`NEED_DATA`. Writing:
:func:`encode_action` turns an action into bytes that can never carry a
second, injected action; :func:`encode_message` and :func:`encode_banner`
are the server side (fake servers, capture tools). ``docs/ami.md`` describes
every framing rule and error with examples.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Final, NamedTuple

import attrs

from ._errors import LocalProtocolError, ProtocolError, RemoteProtocolError

__all__ = [
    "DEFAULT_MAX_FRAME_BYTES",
    "DEFAULT_MAX_HEADERS",
    "DEFAULT_MAX_LINE_BYTES",
    "ESCAPED_HEADERS",
    "LEGACY_MAX_HEADER_LINES",
    "LEGACY_MAX_LINE_BYTES",
    "NEED_DATA",
    "AMIDecoder",
    "Action",
    "Banner",
    "Frame",
    "FrameTooLarge",
    "LimitExceeded",
    "LineTooLong",
    "LocalProtocolError",
    "Message",
    "ProtocolError",
    "RemoteProtocolError",
    "TooManyHeaders",
    "TruncatedFrame",
    "c_unescape",
    "encode_action",
    "encode_banner",
    "encode_message",
    "unescape_message",
]


class _Sentinel(enum.Enum):
    # An enum member is the idiomatic typed singleton: ``x is NEED_DATA``
    # narrows for mypy, and it pickles and reprs sensibly.
    NEED_DATA = "NEED_DATA"

    def __repr__(self) -> str:
        return self.value


NEED_DATA: Final = _Sentinel.NEED_DATA
"""Returned by ``next_frame()``/``next_event()`` when more bytes are needed."""


@attrs.frozen(slots=True)
class Banner:
    """The ``Asterisk Call Manager/x.y[.z]`` line every AMI connection opens with.

    ``version`` is the AMI protocol version, not the Asterisk release: 1.0
    means Asterisk 1.2/1.4, 2.x Asterisk 12/13, 11.0.0 Asterisk 22 (see
    ``docs/ami.md``). It is what the tracker uses to decide whether
    ``ChannelId`` can be used on Originate.

    ``text`` is the whole line as received, without its line ending, e.g.
    ``"Asterisk Call Manager/11.0.0"``. ``version`` is ``()`` when the line
    carries no number after the ``/``.
    """

    version: tuple[int, ...]
    text: str

    @classmethod
    def from_version(cls, version: tuple[int, ...]) -> Banner:
        """The banner an Asterisk speaking AMI ``version`` sends (for fake servers)."""
        return cls(version, _BANNER_PREFIX_TEXT + "/" + ".".join(map(str, version)))

    def to_bytes(self) -> bytes:
        """The banner line as it goes on the wire (``text`` plus CRLF)."""
        return encode_banner(self)


_ASCII_LOWER: Final = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


class _Needles(NamedTuple):
    """What ``Message.get`` searches for one query name (see ``_needles``)."""

    exact: bytes  # name + b":" when a frame starting with it answers, else b""
    first: re.Pattern[bytes] | None  # matches a first line with this name
    search: re.Pattern[bytes] | None  # finds a later line with this name
    joined: str  # "\n" + folded name + "\n" in Message._names, "" if unmatchable


# get(name) -> its needles, for the few dozen names a program asks for;
# bounded so that arbitrary names cannot grow it without limit.
_NEEDLES: dict[str, _Needles] = {}
_NEEDLES_MAX: Final = 512


def _fold(name: str) -> str:
    # AMI header names are case-insensitive in every version (manager.c
    # uses strcasecmp, which folds ASCII only); the spelling varies in the
    # wild (UniqueID/Uniqueid). Blanks around a name are not part of it.
    name = name.strip(" \t")
    return name.lower() if name.isascii() else name.translate(_ASCII_LOWER)


def _needles(name: str) -> _Needles:
    key = _fold(name)
    try:
        exact = name.encode("utf-8", "surrogateescape")
        folded = key.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        exact = folded = b""
    # A frame whose first line starts with ``name:`` has it as its first
    # header, unless the name holds a colon (the name ends at the first
    # one) or a line break.
    exact = b"" if not exact or b":" in exact or b"\n" in exact else exact + b":"
    # A header line of this name: blanks, the name, blanks, ":" (the name
    # ends at the first colon, blanks around it do not count). A bytes
    # pattern ignores the case of ASCII letters only, as _fold does. Not
    # for the empty name, which colon-less lines have too.
    first = search = None
    if folded and b":" not in folded and b"\n" not in folded:
        line = b"[ \t]*" + re.escape(folded) + b"[ \t]*:"
        first = re.compile(line, re.IGNORECASE)
        search = re.compile(b"\n" + line, re.IGNORECASE)
    needles = _Needles(exact, first, search, "" if "\n" in key else "\n" + key + "\n")
    if len(_NEEDLES) >= _NEEDLES_MAX:
        _NEEDLES.clear()
    _NEEDLES[name] = needles
    return needles


@attrs.frozen(slots=True, eq=True)
class Message:
    """One AMI message: an event, a response, or an orphan block of lines.

    Headers are kept as an ordered sequence of ``(name, value)`` pairs,
    because AMI legitimately repeats names (``Output``, ``ChanVariable``,
    ``Variable``, duplicated UserEvent body keys) and their order matters.
    Lookups compare names case-insensitively. A line without a colon is kept
    as a header with an empty name, so nothing the server sent is lost.

    ``output`` holds the raw body of a legacy ``Response: Follows`` reply
    (Asterisk 1.2-13 ``Action: Command``) without the ``--END COMMAND--``
    marker; it is ``None`` for every other message.
    """

    headers: tuple[tuple[str, str], ...]
    output: str | None = None
    # For lookups on messages built from pairs, built on the first lookup
    # the first header cannot answer: every name, ASCII-folded, between
    # "\n"s ("\nevent\nprivilege\n...\n"), so one find() locates the first
    # header of a name and counting the "\n" before it gives its index; or
    # a dict (folded name -> first value) when a name holds a line break or
    # blanks at its edges. Decoded messages search their bytes instead.
    _names: str | dict[str, str] | None = attrs.field(
        default=None, init=False, eq=False, repr=False, hash=False
    )
    # Decoded messages start as their frame's bytes up to the LF that ends
    # its last line (excluded; a CR before it is not): splitting
    # every line into (name, value) pairs costs more than finding the
    # frame, and most consumers read a handful of headers of most messages.
    # ``headers`` is built from it on first access (see __getattr__); ``get``
    # answers from it directly, with the same answer.
    _raw: bytes | None = attrs.field(default=None, init=False, eq=False, repr=False, hash=False)

    def __getattr__(self, name: str) -> tuple[tuple[str, str], ...] | None:
        # Only reached when a slot is unset, which only decoded messages
        # have: ``headers`` until first read, parsed then; ``output`` and
        # ``_names``, None for them (two slot writes less per frame).
        raw = object.__getattribute__(self, "_raw")
        if raw is not None:
            if name == "headers":
                text = raw.decode("utf-8", "surrogateescape")
                if text[-1:] == "\r":
                    text = text[:-1]
                headers = _parse_headers(text)
                _setattr(self, "headers", headers)
                return headers
            if name == "output" or name == "_names":
                return None
        raise AttributeError(name)

    @classmethod
    def from_pairs(cls, *pairs: tuple[str, str], output: str | None = None) -> Message:
        """Build a message from ``(name, value)`` pairs, mainly for tests and fake servers."""
        return cls(tuple(pairs), output)

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of header ``name`` (case-insensitive), else ``default``."""
        needles = _NEEDLES.get(name)
        if needles is None:
            needles = _needles(name)
        raw = self._raw
        if raw is None:
            return self._get_parsed(name, needles.joined, default)
        exact = needles.exact
        if exact and raw.startswith(exact):
            # The first line is ``name:``: Asterisk writes Event:/Response:
            # first and callers spell them the same way, so the commonest
            # lookup needs neither folding nor searching.
            i = len(exact)
        else:
            first, search = needles.first, needles.search
            if first is None or search is None:
                return self._get_parsed(name, needles.joined, default)
            found = first.match(raw) or search.search(raw)
            if found is None:
                return default
            i = found.end()
        # The value: after the colon and one space, up to the end of the
        # line, which loses one CR before its LF.
        end = raw.find(b"\n", i - 1)
        if end < 0:
            end = len(raw)
        if end > i and raw[end - 1] == 13:
            end -= 1
        if i < end and raw[i] == 32:
            i += 1
        return raw[i:end].decode("utf-8", "surrogateescape")

    def _get_parsed(self, name: str, needle: str, default: str | None) -> str | None:
        # The lookup on the (name, value) pairs.
        headers = self.headers
        if headers:
            first = headers[0]
            if first[0] == name:
                return first[1]
        names = self._names
        if names is None:
            names = self._fold_names()
        if isinstance(names, dict):
            return names.get(_fold(name), default)
        at = names.find(needle) if needle else -1
        if at < 0:
            return default
        return headers[names.count("\n", 0, at)][1]

    def _fold_names(self) -> str | dict[str, str]:
        headers = self.headers
        joined = "\n" + "\n".join([n for n, _ in headers]) + "\n"
        names: str | dict[str, str]
        if (
            joined.count("\n") == len(headers) + 1
            and " \n" not in joined
            and "\n " not in joined
            and "\t\n" not in joined
            and "\n\t" not in joined
        ):
            names = joined.lower() if joined.isascii() else joined.translate(_ASCII_LOWER)
        else:
            # Also taken by a message without headers ("\n\n" would match
            # the empty name).
            names = {}
            for n, v in headers:
                names.setdefault(_fold(n), v)
        if self._raw is None:
            _setattr(self, "_names", names)
        return names

    def get_all(self, name: str) -> tuple[str, ...]:
        """Every value of header ``name`` in wire order."""
        key = _fold(name)
        return tuple(v for n, v in self.headers if _fold(n) == key)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        return self.get(name) is not None

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.headers)

    def __len__(self) -> int:
        return len(self.headers)

    @property
    def is_event(self) -> bool:
        """True when the message has ``Event:``, even with ``Response:`` too.

        ``OriginateResponse`` carries ``Response:`` and ``ActionID:`` but is an
        event (ami-versions.md 3.4): classifying by ``Event:`` first keeps it
        from completing a pending action.
        """
        raw = self._raw
        if raw is not None and raw.startswith(b"Event:"):
            return True  # as Asterisk writes every event
        return self.get("Event") is not None

    @property
    def is_response(self) -> bool:
        """True for a reply to an action: ``Response:`` without ``Event:``."""
        return self.get("Event") is None and self.get("Response") is not None

    @property
    def event(self) -> str | None:
        """The value of ``Event:``, or ``None``."""
        return self.get("Event")

    @property
    def response(self) -> str | None:
        """The value of ``Response:``, or ``None``."""
        return self.get("Response")

    @property
    def action_id(self) -> str | None:
        """The value of ``ActionID:``, or ``None``."""
        return self.get("ActionID")

    @property
    def output_lines(self) -> tuple[str, ...]:
        """Command output on every version: the legacy body split into lines
        (1.2-13) or the ``Output:`` headers (14+)."""
        if self.output is not None:
            return tuple(self.output.splitlines())
        return self.get_all("Output")

    def unescaped(self, name: str, default: str | None = None) -> str | None:
        """The first value of ``name`` with Asterisk's C escapes undone.

        Asterisk 13.5+ escapes ``CallerIDName``, ``ConnectedLineName`` and
        ``ChanVariable`` values (``O\\'Brien``); see :func:`c_unescape`. Use
        this only for those headers and only on servers that escape them.
        """
        value = self.get(name)
        return default if value is None else c_unescape(value)

    def to_bytes(self) -> bytes:
        """The message as a server writes it (see :func:`encode_message`)."""
        return encode_message(self)


_setattr = object.__setattr__
_new_message = Message.__new__


def _make_message(headers: tuple[tuple[str, str], ...], output: str | None = None) -> Message:
    # The decoder builds hundreds of thousands of messages per second; going
    # through attrs' generated __init__ (frozen: one guarded setattr per
    # field) costs more than building the message. The values are exactly
    # what __init__ would store.
    message = _new_message(Message)
    _setattr(message, "headers", headers)
    _setattr(message, "output", output)
    _setattr(message, "_names", None)
    _setattr(message, "_raw", None)
    return message


def _make_lazy_message(raw: bytes) -> Message:
    # ``headers`` stays unset until first read; ``output`` and ``_names``
    # read as None (Message.__getattr__).
    message = _new_message(Message)
    _setattr(message, "_raw", raw)
    return message


Frame = Banner | Message
"""What the decoder yields: the banner once, then messages."""


@attrs.frozen(slots=True)
class Action:
    """An AMI action to send: a name, ordered headers, and an optional ActionID.

    Values are validated when the action is encoded (see ``encode_action``),
    so building one never fails but it can never reach the wire unsafely.
    """

    name: str
    headers: tuple[tuple[str, str], ...] = ()
    action_id: str | None = None

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of header ``name`` (case-insensitive), else ``default``."""
        key = _fold(name)
        for n, v in self.headers:
            if _fold(n) == key:
                return v
        return default

    def to_bytes(self, *, legacy_limits: bool = False) -> bytes:
        """The action as it goes on the wire (see :func:`encode_action`)."""
        return encode_action(self, legacy_limits=legacy_limits)


# ---------------------------------------------------------------------------
# Errors


class LimitExceeded(RemoteProtocolError):
    """A frame from the peer broke one of the decoder's configured limits.

    ``limit_name`` is the keyword of :class:`AMIDecoder` that was exceeded,
    ``limit`` its value and ``offset`` the stream offset (bytes since the
    start of the stream, counting from 0) where the offending frame or line
    starts. The decoder has already skipped the frame when this is raised:
    call ``next_frame()`` again to continue with the next one.
    """

    limit_name: str = ""

    def __init__(self, message: str, *, limit: int, offset: int) -> None:
        super().__init__(f"offset {offset}: {message}")
        self.limit = limit
        self.offset = offset


class FrameTooLarge(LimitExceeded):
    """A frame is longer than ``max_frame_bytes`` (its terminating blank line not counted)."""

    limit_name = "max_frame_bytes"


class TooManyHeaders(LimitExceeded):
    """A frame has more than ``max_headers`` header lines."""

    limit_name = "max_headers"


class LineTooLong(LimitExceeded):
    """A line is longer than ``max_line_bytes`` (its line ending not counted)."""

    limit_name = "max_line_bytes"


class TruncatedFrame(RemoteProtocolError):
    """The stream ended in the middle of a frame (no terminating blank line).

    ``offset`` is where the unfinished frame starts, ``length`` how many of
    its bytes arrived. Raised once by ``next_frame()`` after
    ``receive_eof()``; the decoder is closed afterwards.
    """

    def __init__(self, *, offset: int, length: int) -> None:
        super().__init__(
            f"offset {offset}: stream ended inside a frame ({length} bytes without the blank"
            " line that ends a frame)"
        )
        self.offset = offset
        self.length = length


# ---------------------------------------------------------------------------
# Decoder

DEFAULT_MAX_FRAME_BYTES: Final = 256 * 1024
"""Largest frame accepted by default: a ``CoreShowChannels`` item or a busy
``Command`` output fits many times over, a runaway peer does not."""
DEFAULT_MAX_HEADERS: Final = 1024
"""Most header lines per frame by default (14+ ``Output:`` lines count)."""
DEFAULT_MAX_LINE_BYTES: Final = 64 * 1024
"""Longest line by default, its line ending not counted."""

_BANNER_PREFIX_TEXT: Final = "Asterisk Call Manager"
_BANNER_PREFIX: Final = _BANNER_PREFIX_TEXT.encode("ascii")
_FOLLOWS_LINE: Final = b"response: follows\r\n"
_MARKER: Final = b"--END COMMAND--"
_MARKER_TEXT: Final = _MARKER.decode("ascii")
_MARKER_LEN: Final = len(_MARKER)
# Most bytes one batch of frames is cut from (see AMIDecoder): bounds the
# frames decoded ahead of the caller when a large block arrives at once.
_BATCH_BYTES: Final = 32 * 1024

# Decoder modes.
_START: Final = 0  # nothing decided yet: a banner may come
_FRAMES: Final = 1  # between or inside frames
_DISCARD_BLANK: Final = 2  # skipping an oversized frame up to its blank line
_DISCARD_MARKER: Final = 3  # skipping an oversized Follows body up to its marker line
_CLOSED: Final = 4

# Kind of the frame being assembled.
_UNDECIDED: Final = 0
_NORMAL: Final = 1
_FOLLOWS: Final = 2


def _split_line(line: str) -> tuple[str, str]:
    # The general rule: name up to the first colon, blanks around it
    # stripped; exactly one space after the colon removed, the rest
    # verbatim; no colon -> empty name, line kept.
    name, sep, value = line.partition(":")
    if not sep:
        return ("", line)
    if value[:1] == " ":
        value = value[1:]
    return (name.strip(" \t"), value)


def _parse_lines(text: str) -> tuple[tuple[str, str], ...]:
    """The headers of a frame's text without its last line ending, line by line.

    Lines end in "\n", most in "\r\n"; each loses one "\r" before its
    "\n" (a stray CR elsewhere is kept). The general rule of
    :func:`_split_line`, inlined: this is the path of every frame that
    :func:`_fast_headers` declines.
    """
    lines = text.split("\r\n")
    if text.count("\n") != len(lines) - 1:  # bare LF endings
        lines = [line[:-1] if line[-1:] == "\r" else line for line in (text + "\r").split("\n")]
    pairs: list[tuple[str, str]] = []
    append = pairs.append
    for line in lines:
        name, sep, value = line.partition(":")
        if sep:
            append((name.strip(" \t"), value[1:] if value[:1] == " " else value))
        else:
            append(("", line))
    return tuple(pairs)


def _parse_headers(text: str) -> tuple[tuple[str, str], ...]:
    """The headers of a frame's text without its last line ending."""
    return _fast_headers(text) or _parse_lines(text)


def _fast_headers(text: str) -> tuple[tuple[str, str], ...] | None:
    """The headers of the usual frame, or ``None`` when the text is not one.

    The usual frame (CRLF endings, every line ``Name: value`` with a name
    free of blanks and colons and a value without ": ") is split with two
    C-level string operations instead of a Python loop over its lines: each
    CRLF becomes ": \n: " and the result is split on ": ", which gives
    name, value, "\n", name, value, ... Every "\n" piece comes from a
    CRLF, so when the pieces are exactly that pattern (checked below) each
    line held exactly one ": " and the pairs are the ones the general rule
    (:func:`_split_line`) gives. ``None`` for anything else (then use
    :func:`_parse_lines`), in particular for text with a bare LF, an empty
    line or no line at all.
    """
    marked = text.replace("\r\n", ": \n: ")
    breaks = (len(marked) - len(text)) // 3
    pieces = marked.split(": ")
    if (
        len(pieces) == 3 * breaks + 2
        and text.count("\n") == breaks  # no bare LF
        and pieces[2::3].count("\n") == breaks
    ):
        names = pieces[0::3]
        joined = "".join(names)
        if ":" not in joined and " " not in joined and "\t" not in joined:
            return tuple(zip(names, pieces[1::3], strict=False))  # same lengths
    return None


def _parse_version(text: str) -> tuple[int, ...]:
    _, slash, tail = text.rpartition("/")
    if not slash:
        return ()
    parts: list[int] = []
    for piece in tail.strip().split("."):
        digits = ""
        for ch in piece:
            if not ("0" <= ch <= "9"):
                break
            digits += ch
        if not digits:
            break
        parts.append(int(digits))
        if len(digits) != len(piece):
            break
    return tuple(parts)


class AMIDecoder:
    """Incremental AMI decoder: bytes in with :meth:`receive_data`, frames out.

    Call :meth:`next_frame` until it returns :data:`NEED_DATA`, then feed
    more bytes. Each frame is a :class:`Banner` (once, first) or a
    :class:`Message`. Chunk boundaries never matter: any split of the same
    stream gives the same frames and the same errors.

    Stream start: if the first line starts with ``Asterisk Call Manager`` it
    is the banner (no blank line follows it). Otherwise the decoder assumes
    it joined mid-stream (a capture cut anywhere, a proxy) and decodes
    messages from the first byte, yielding no :class:`Banner`.

    Limits (keyword-only, each ``>= 1``): ``max_frame_bytes`` (the frame's
    bytes up to and including its last line ending), ``max_headers`` (header
    lines per frame; a legacy ``Follows`` body does not count) and
    ``max_line_bytes`` (per line, line ending excluded). A frame over a
    limit makes ``next_frame`` raise a :class:`LimitExceeded` subclass once;
    the decoder has then skipped that frame (up to its blank line, or for a
    ``Response: Follows`` body up to its ``--END COMMAND--`` line) and the
    next call continues with the next frame. Memory is bounded by
    ``max_frame_bytes`` plus the bytes handed to ``receive_data`` and not
    yet pulled out as frames; an oversized frame is dropped as it arrives.

    End of stream: after :meth:`receive_eof`, ``next_frame`` returns the
    remaining complete frames, then raises :class:`TruncatedFrame` once if a
    frame was left unfinished, then returns :data:`NEED_DATA` forever with
    :attr:`closed` true, so a ``while`` loop on ``NEED_DATA`` always ends.

    Work is O(bytes received) however the data is chunked: every search
    resumes where the previous one stopped.

    Frames are cut in batches: once one frame is complete, the complete
    frames received after it (up to ``_BATCH_BYTES``) are cut with one
    ``split`` in the same call and handed out one per ``next_frame`` call.
    A frame the batch cannot vouch for (a bare-LF blank line, a blank-line
    run, a ``Follows`` body, a possible limit breach) ends the batch, and
    the frame-by-frame path takes it from there. A message keeps its
    frame's bytes; its ``(name, value)`` pairs are split on first use.
    """

    def __init__(
        self,
        *,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        max_headers: int = DEFAULT_MAX_HEADERS,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    ) -> None:
        for label, value in (
            ("max_frame_bytes", max_frame_bytes),
            ("max_headers", max_headers),
            ("max_line_bytes", max_line_bytes),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{label} must be an int >= 1, not {value!r}")
        self.max_frame_bytes: Final = max_frame_bytes
        self.max_headers: Final = max_headers
        self.max_line_bytes: Final = max_line_bytes
        self._buf = bytearray()
        self._base = 0  # stream offset of _buf[0]
        self._pos = 0  # index in _buf of the current frame start
        self._scan = 0  # index in _buf where the next search resumes
        self._mode = _START
        self._kind = _UNDECIDED
        self._eof = False
        # Bytes handed to find()/count() while searching for frame and line
        # ends. Tests use it to prove the 1-byte-read path is linear.
        self._examined = 0
        # Decoded frames not yet returned, last one first (pop() is O(1)).
        # Each came from its raw bytes followed by "\n\r\n".
        self._ready: list[Message] = []
        # Stream offset up to which the last batch searched: no batch starts
        # before it, so no byte is searched twice by batches.
        self._batched = 0

    # -- public API ---------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once the end of the stream was received and every frame was returned."""
        return self._mode == _CLOSED

    @property
    def eof_received(self) -> bool:
        """True once :meth:`receive_eof` was called."""
        return self._eof

    @property
    def offset(self) -> int:
        """Stream offset of the first byte not yet returned as part of a frame."""
        pending = sum(len(message._raw or b"") + 3 for message in self._ready)
        return self._base + self._pos - pending

    @property
    def buffered(self) -> int:
        """How many received bytes the decoder holds now (for memory checks)."""
        return len(self._buf)

    def receive_data(self, data: bytes) -> None:
        """Add bytes received from the peer. ``b""`` is ignored (use receive_eof)."""
        if self._eof:
            raise LocalProtocolError("receive_data() called after receive_eof()")
        if not data:
            return
        self._buf += data
        if self._mode >= _DISCARD_BLANK:
            # Skip an oversized frame as its bytes arrive instead of
            # buffering them until the next call to next_frame().
            self._discard()

    def receive_eof(self) -> None:
        """Record that the peer closed the stream; idempotent."""
        self._eof = True

    def next_frame(self) -> Frame | _Sentinel:
        """The next complete frame, or :data:`NEED_DATA`.

        Raises a :class:`LimitExceeded` subclass for a frame over a limit
        (skipped; call again) and :class:`TruncatedFrame` for a frame cut by
        the end of the stream.
        """
        ready = self._ready
        if ready:
            return ready.pop()
        mode = self._mode
        if mode == _FRAMES:
            return self._next_message()
        if mode == _CLOSED:
            return NEED_DATA
        if mode == _START:
            banner = self._next_banner()
            if banner is not None:
                return banner
            if self._mode == _START:
                return self._need_data()
        elif not self._discard():
            return self._need_data()
        return self._next_message()

    # -- internals ----------------------------------------------------------

    def _need_data(self) -> _Sentinel:
        buf = self._buf
        pos = self._pos
        if pos:
            # bytearray deletes from the front without moving the tail.
            del buf[:pos]
            self._base += pos
            self._scan -= pos
            self._pos = 0
        if not self._eof:
            return NEED_DATA
        mode = self._mode
        self._mode = _CLOSED
        if mode in (_START, _FRAMES) and buf.strip(b"\r\n"):
            length = len(buf)
            offset = self._base
            self._base += length
            buf.clear()
            self._pos = self._scan = 0
            raise TruncatedFrame(offset=offset, length=length)
        self._base += len(buf)
        buf.clear()
        self._pos = self._scan = 0
        return NEED_DATA

    def _next_banner(self) -> Banner | None:
        buf = self._buf
        n = len(buf)
        if not n:
            return None
        head = bytes(buf[: len(_BANNER_PREFIX)])
        if not _BANNER_PREFIX.startswith(head) and not head.startswith(_BANNER_PREFIX):
            self._mode = _FRAMES
            return None
        if len(head) < len(_BANNER_PREFIX):
            return None  # still undecided
        lf = buf.find(b"\n", self._scan)
        self._examined += n - self._scan
        # The banner is a frame and a line: both limits bound it, so that
        # memory stays within max_frame_bytes even when max_line_bytes is
        # set higher.
        limit = min(self.max_line_bytes, self.max_frame_bytes)
        if lf < 0:
            if n > limit + 1:
                # Too long for a banner: let the frame rules report it.
                self._mode = _FRAMES
            else:
                self._scan = n
            return None
        end = lf - 1 if lf and buf[lf - 1] == 13 else lf
        if end > limit:
            self._mode = _FRAMES
            self._scan = 0
            return None
        text = buf[:end].decode("utf-8", "surrogateescape")
        self._mode = _FRAMES
        self._pos = self._scan = lf + 1
        return Banner(_parse_version(text), text)

    def _discard(self) -> bool:
        """Drop bytes of an oversized frame; True once its end was found."""
        buf = self._buf
        n = len(buf)
        scan = self._scan
        if self._mode == _DISCARD_BLANK:
            end = self._find_blank(buf, scan, n)
            keep = 2
        else:
            end = self._find_marker_end(buf, scan, n)
            keep = _MARKER_LEN + 1
        if end >= 0:
            self._pos = self._scan = end
            self._mode = _FRAMES
            self._kind = _UNDECIDED
            return True
        # Keep only what a boundary split across reads could start with.
        cut = max(self._pos, n - keep, 0)
        if cut > 0:
            del buf[:cut]
            self._base += cut
        self._pos = 0
        self._scan = max(0, self._scan - cut) if self._scan > cut else 0
        return False

    def _find_blank(self, buf: bytearray, scan: int, n: int) -> int:
        """Index just past the first blank line after ``scan``, or -1.

        Updates ``_scan`` on a miss. A blank line is a "\\n" followed by
        "\\r\\n" or "\\n" (the "\\n" ends the previous line).
        """
        i = buf.find(b"\n\r\n", scan)
        if i >= 0:
            j = buf.find(b"\n\n", scan, i + 1)
            self._examined += i + 3 - scan
            return i + 3 if j < 0 else j + 2
        j = buf.find(b"\n\n", scan)
        self._examined += 2 * (n - scan)
        if j >= 0:
            return j + 2
        self._scan = max(scan, n - 2)
        return -1

    def _find_marker_end(self, buf: bytearray, scan: int, n: int) -> int:
        """Index just past the first line ending with ``--END COMMAND--``, or -1."""
        start = scan
        while True:
            k = buf.find(_MARKER, scan)
            if k < 0:
                self._examined += n - start
                self._scan = max(scan, n - (_MARKER_LEN - 1))
                return -1
            e = k + _MARKER_LEN
            if e < n:
                c = buf[e]
                if c == 10:
                    self._examined += e + 1 - start
                    return e + 1
                if c == 13:
                    if e + 1 < n:
                        if buf[e + 1] == 10:
                            self._examined += e + 2 - start
                            return e + 2
                    else:
                        self._examined += n - start
                        self._scan = k
                        return -1
                scan = k + 1
                continue
            self._examined += n - start
            self._scan = k
            return -1

    def _start_discard(self, mode: int, error: LimitExceeded) -> LimitExceeded:
        self._mode = mode
        self._kind = _UNDECIDED
        self._discard()
        return error

    def _next_message(self) -> Message | _Sentinel:
        buf = self._buf
        n = len(buf)
        pos = self._pos
        kind = self._kind
        if kind == _UNDECIDED:
            # Skip blank lines between frames (no empty frames): runs of
            # them occur on 1.4.0 UserEvents and TestEvent on 16.
            while pos < n:
                c = buf[pos]
                if c == 10:
                    pos += 1
                elif c == 13 and pos + 1 < n and buf[pos + 1] == 10:
                    pos += 2
                else:
                    break
            self._pos = pos
            if self._scan < pos:
                self._scan = pos
            if pos >= n or (pos + 1 == n and buf[pos] == 13):
                return self._need_data()
            # A legacy Command reply is recognised by its first line,
            # exactly "Response: Follows" as every 1.2-13 server writes it.
            c = buf[pos]
            if c == 82 or c == 114:  # "R" / "r"
                head = bytes(buf[pos : pos + len(_FOLLOWS_LINE)]).lower()
                if head.startswith(b"response: follows\n") or head == _FOLLOWS_LINE:
                    kind = _FOLLOWS
                elif len(head) < len(_FOLLOWS_LINE) and _FOLLOWS_LINE.startswith(head):
                    return self._need_data()
                else:
                    kind = _NORMAL
            else:
                kind = _NORMAL
            self._kind = kind
        scan = self._scan
        if kind == _NORMAL:
            # Fast path: the usual frame ends in CRLF CRLF.
            i = buf.find(b"\n\r\n", scan)
            if i >= 0:
                j = buf.find(b"\n\n", scan, i + 1)
                self._examined += i + 3 - scan
                if j < 0:
                    if self._base + i + 3 >= self._batched:
                        message = self._batch(buf, pos, i, n)
                        if message is not None:
                            return message
                    end, nxt = i + 1, i + 3
                else:
                    end, nxt = j + 1, j + 2
            else:
                j = buf.find(b"\n\n", scan)
                self._examined += 2 * (n - scan)
                if j < 0:
                    self._scan = max(scan, n - 2)
                    if n - pos >= self.max_frame_bytes + 2:
                        raise self._start_discard(
                            _DISCARD_BLANK, self._frame_too_large(self._base + pos)
                        )
                    return self._need_data()
                end, nxt = j + 1, j + 2
            self._pos = self._scan = nxt
            self._kind = _UNDECIDED
            return self._build(buf, pos, end)
        # Follows: the frame ends with the line that ends with the marker.
        end = self._find_marker_end(buf, scan, n)
        if end < 0:
            if n - pos > self.max_frame_bytes:
                raise self._start_discard(_DISCARD_MARKER, self._frame_too_large(self._base + pos))
            return self._need_data()
        self._pos = self._scan = end
        self._kind = _UNDECIDED
        return self._build_follows(buf, pos, end)

    def _frame_too_large(self, offset: int) -> FrameTooLarge:
        return FrameTooLarge(
            f"frame larger than max_frame_bytes={self.max_frame_bytes}",
            limit=self.max_frame_bytes,
            offset=offset,
        )

    def _check_lines(self, buf: bytearray, pos: int, end: int) -> None:
        # Only called when a line could be too long: the frame is longer
        # than the line limit. Reports the first offending line.
        limit = self.max_line_bytes
        start = pos
        while start < end:
            lf = buf.find(b"\n", start, end)
            stop = end if lf < 0 else lf
            length = stop - start
            if stop > start and buf[stop - 1] == 13 and lf >= 0:
                length -= 1
            if length > limit:
                raise LineTooLong(
                    f"line longer than max_line_bytes={limit}",
                    limit=limit,
                    offset=self._base + start,
                )
            start = stop + 1
        self._examined += end - pos

    def _check_headers(self, buf: bytearray, pos: int, count: int) -> None:
        if count > self.max_headers:
            # Point at the first line past the limit.
            at = pos
            for _ in range(self.max_headers):
                at = buf.find(b"\n", at) + 1
            raise TooManyHeaders(
                f"more than max_headers={self.max_headers} header lines in one frame",
                limit=self.max_headers,
                offset=self._base + at,
            )

    def _build(self, buf: bytearray, pos: int, end: int) -> Message:
        length = end - pos
        self._examined += 3 * length
        if length > self.max_frame_bytes:
            raise self._frame_too_large(self._base + pos)
        if length > self.max_line_bytes:
            self._check_lines(buf, pos, end)
        lfs = buf.count(b"\n", pos, end)
        if lfs > self.max_headers:
            self._check_headers(buf, pos, lfs)
        return _make_lazy_message(bytes(buf[pos : end - 1]))

    def _batch(self, buf: bytearray, pos: int, k: int, n: int) -> Message | None:
        """The frame at ``pos``, keeping the complete frames after it in ``_ready``.

        ``buf[k:k + 3]`` is the "\n\r\n" that ends the frame at ``pos``, as
        the caller found it. One ``split`` cuts the frames that follow (up
        to ``_BATCH_BYTES``) when it provably cuts them where the general
        rules would; frames are checked against the limits one by one, and
        the first that might break one ends the batch. Returns ``None``
        when the first frame itself might: the caller's path reports it.
        """
        max_size = min(self.max_frame_bytes - 1, self.max_line_bytes)
        max_headers = self.max_headers
        # A frame of ``size`` bytes before its last LF, with no empty line
        # (no "\n\n" or "\n\r\n" in it), has at most (size + 2) // 2 lines:
        # count them only when that could exceed the limit.
        if k - pos > max_size or (
            k - pos >= 2 * max_headers - 1 and buf.count(b"\n", pos, k) >= max_headers
        ):
            return None
        first = _make_lazy_message(bytes(buf[pos:k]))
        start = k + 3
        stop = min(n, start + _BATCH_BYTES)
        last = buf.rfind(b"\n\r\n", start, stop)
        self._batched = self._base + stop
        self._examined += stop - k
        self._pos = self._scan = start
        self._kind = _UNDECIDED
        if last < 0:
            return first
        self._examined += 2 * (last - start)  # split() and the "\n\n" search
        region = bytes(memoryview(buf)[start:last])
        # The general rules end a frame at the first "\n\r\n" or "\n\n",
        # then skip blank lines: split() cuts where they would when there
        # is no "\n\n" (checked here, and at the ends of each piece), no
        # frame starts with a blank line (a piece starting with CR or LF)
        # and none ends with one (a piece ending with "\n\r": the blank
        # line ended the frame before this separator).
        if b"\n\n" in region:
            return first
        ready: list[Message] = []
        append = ready.append
        many_lines = 2 * max_headers - 1
        pieces = region.split(b"\n\r\n")
        for piece in pieces:
            size = len(piece)
            if (
                not size
                or size > max_size
                or (size >= many_lines and piece.count(b"\n") >= max_headers)
            ):
                break  # a blank-line run, or a frame that may break a limit
            c = piece[0]
            e = piece[-1]
            if c == 10 or c == 13 or e == 10 or (e == 13 and size > 1 and piece[-2] == 10):
                break  # starts with a blank line or ends after one
            if (c == 82 or c == 114) and piece[:17].lower() == b"response: follows":
                break  # a legacy Command reply: its body has its own end
            message = _new_message(Message)
            _setattr(message, "_raw", piece)
            append(message)
        else:
            self._pos = self._scan = last + 3
        if ready:
            if len(ready) < len(pieces):
                self._pos = self._scan = start + sum(len(p) + 3 for p in pieces[: len(ready)])
            ready.reverse()
            self._ready = ready
        return first

    def _build_follows(self, buf: bytearray, pos: int, end: int) -> Message:
        length = end - pos
        self._examined += 2 * length
        if length > self.max_frame_bytes:
            raise self._frame_too_large(self._base + pos)
        if length > self.max_line_bytes:
            self._check_lines(buf, pos, end)
        text = buf[pos:end].decode("utf-8", "surrogateescape")
        # Header lines: the first, then CRLF-terminated lines with a colon
        # (Privilege, ActionID). The CLI output starts at the first line
        # that is not one: it uses bare LF, and may itself be empty.
        lines: list[str] = []
        start = 0
        while True:
            lf = text.index("\n", start)
            line = text[start:lf]
            if lines and not (
                line[-1:] == "\r" and ":" in line and not line[:-1].endswith(_MARKER_TEXT)
            ):
                break
            lines.append(line[:-1] if line[-1:] == "\r" else line)
            start = lf + 1
        if len(lines) > self.max_headers:
            self._check_headers(buf, pos, len(lines))
        body = text[start:]
        body = body[:-2] if body[-2:] == "\r\n" else body[:-1]
        output = body[:-_MARKER_LEN]
        return _make_message(tuple(_split_line(line) for line in lines), output)


# ---------------------------------------------------------------------------
# Encoders

LEGACY_MAX_LINE_BYTES: Final = 255
"""Longest request line, CRLF included, that Asterisk 1.2 and 1.4.0 read.

Their ``get_input`` reads into a 256-byte buffer, at most 255 bytes at a
time, and dumps a buffer that fills without a CRLF (1.2.40 manager.c)."""
LEGACY_MAX_HEADER_LINES: Final = 79
"""Most lines per action Asterisk 1.2/1.4.0 keep (``AST_MAX_MANHEADERS`` 80
minus one), the ``Action:`` and ``ActionID:`` lines included."""

_FORBIDDEN = re.compile(r"[\r\n\x00]")


def _check_text(what: str, text: str) -> bytes:
    if not isinstance(text, str):
        raise LocalProtocolError(f"{what} must be a str, not {type(text).__name__}")
    bad = _FORBIDDEN.search(text)
    if bad is not None:
        raise LocalProtocolError(
            f"{what} contains {bad.group()!r} at index {bad.start()}: CR, LF and NUL"
            " could end the line and inject headers or a second action"
        )
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as exc:
        raise LocalProtocolError(f"{what} cannot be encoded: {exc.reason}") from None


def _check_name(what: str, name: str) -> bytes:
    raw = _check_text(what, name)
    if not name:
        raise LocalProtocolError(f"{what} is empty")
    if ":" in name:
        raise LocalProtocolError(f"{what} {name!r} contains a colon")
    if name.strip(" \t") != name:
        raise LocalProtocolError(f"{what} {name!r} has leading or trailing blanks")
    return raw


def _pairs(headers: Iterable[tuple[str, str]] | Mapping[str, str]) -> list[tuple[str, str]]:
    if isinstance(headers, Mapping):
        return list(headers.items())
    if isinstance(headers, (str, bytes)):
        raise LocalProtocolError("headers must be pairs or a mapping, not a string")
    out: list[tuple[str, str]] = []
    for item in headers:
        if not isinstance(item, tuple) or len(item) != 2:
            raise LocalProtocolError(f"header {item!r} is not a (name, value) pair")
        out.append(item)
    return out


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
    intact: lines of at most :data:`LEGACY_MAX_LINE_BYTES` bytes (CRLF
    included) and at most :data:`LEGACY_MAX_HEADER_LINES` lines.
    """
    if isinstance(action, Action):
        name = action.name
        pairs = list(action.headers) + _pairs(headers)
        if action_id is None:
            action_id = action.action_id
    else:
        name = action
        pairs = _pairs(headers)
    raw_name = _check_text("Action name", name)
    if not name:
        raise LocalProtocolError("Action name is empty")
    lines = [b"Action: " + raw_name]
    if action_id is not None:
        lines.append(b"ActionID: " + _check_text("ActionID", action_id))
    for index, pair in enumerate(pairs):
        hname, hvalue = pair
        raw = _check_name(f"header {index} name", hname)
        folded = hname.lower()
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

    Raises :class:`LocalProtocolError` for CR/LF in a name or value (NUL is
    allowed: Asterisk never sends it but the decoder keeps it), a colon or
    edge blanks in a name, a message without headers, and an ``output`` the
    decoder could not read back (first header not ``Response: Follows``, or
    a line of it ending with the marker).
    """
    if not message.headers:
        raise LocalProtocolError("a message needs at least one header")
    parts: list[bytes] = []
    for index, (name, value) in enumerate(message.headers):
        raw_value = _check_line_text(f"header {index} value", value)
        if name:
            raw_name = _check_line_text(f"header {index} name", name)
            if ":" in name or name.strip(" \t") != name:
                raise LocalProtocolError(
                    f"header {index} name {name!r} has a colon or leading/trailing blanks"
                )
            parts.append(raw_name + b": " + raw_value + b"\r\n")
        elif ":" in value or not value:
            parts.append(b": " + raw_value + b"\r\n")
        else:
            parts.append(raw_value + b"\r\n")
    output = message.output
    if output is None:
        first = message.headers[0]
        if first[0].lower() == "response" and first[1].lower() == "follows":
            raise LocalProtocolError(
                "a 'Response: Follows' message needs output (the legacy Command body)"
            )
        parts.append(b"\r\n")
        return b"".join(parts)
    first = message.headers[0]
    if not (first[0].lower() == "response" and first[1].lower() == "follows"):
        raise LocalProtocolError("a message with output must start with 'Response: Follows'")
    try:
        raw_output = output.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as exc:
        raise LocalProtocolError(f"output cannot be encoded: {exc.reason}") from None
    for line in raw_output.split(b"\n")[:-1]:
        if line.rstrip(b"\r").endswith(_MARKER):
            raise LocalProtocolError("output has a line ending with '--END COMMAND--'")
    first_line, nl, _ = raw_output.partition(b"\n")
    if nl and first_line.endswith(b"\r") and b":" in first_line:
        raise LocalProtocolError(
            "output starts with a CRLF line holding a colon: it would be read as a header"
        )
    for part in parts[1:]:
        if part.endswith(b"\r\n") and part[:-2].endswith(_MARKER):
            raise LocalProtocolError("a header ends with '--END COMMAND--'")
    parts.append(raw_output + _MARKER + b"\r\n\r\n")
    return b"".join(parts)


def _check_line_text(what: str, text: str) -> bytes:
    if "\r" in text or "\n" in text:
        raise LocalProtocolError(f"{what} contains CR or LF")
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as exc:
        raise LocalProtocolError(f"{what} cannot be encoded: {exc.reason}") from None


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
    key = _fold(name)
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
    return _make_message(headers, message.output)
