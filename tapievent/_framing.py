"""The AMI decoder: bytes in, :class:`Banner` and :class:`Message` frames out.

Theory of operation. The decoder is in one of the :class:`Mode` states:

* ``START``: nothing decided. If the stream starts with
  ``Asterisk Call Manager`` its first line is the banner (no blank line
  follows it); otherwise the decoder joined mid-stream and decodes messages
  from the first byte.
* ``FRAMES``: between or inside frames. A frame ends at its first blank
  line (``"\\n\\r\\n"`` or ``"\\n\\n"``); blank-line runs between frames make
  no frames. A frame whose first line is exactly ``Response: Follows`` is a
  legacy Command reply (Asterisk 1.2-13): it ends at the line that ends
  with ``--END COMMAND--``. After a banner of AMI 3 or later (Asterisk 14+,
  which answer Command with ``Output:`` headers) that line is an ordinary
  header. A CRLF blank line before the marker means the marker is missing:
  the reply is skipped up to it (``MissingEndMarker``), so one bad
  reply never hides the frames after it.
* ``DISCARD_BLANK`` / ``DISCARD_FOLLOWS``: a frame grew past
  ``max_frame_bytes``; its bytes are dropped as they arrive until its end.
* ``CLOSED``: the end of the stream was received and everything returned.

The transitions are in :meth:`AMIDecoder.next_frame`'s dispatch table.

Ordinary CRLF frames that arrived together are cut in one go by
:func:`~tapievent._headers.split_batch` and handed out one per call; the
frame-by-frame path takes any frame the batch declines. Work is linear in
the bytes received however they are chunked (see ``_receivebuffer``).
"""

from __future__ import annotations

import collections
import enum
from collections.abc import Callable
from typing import Final

from ._errors import LocalProtocolError
from ._headers import message_from_text, split_batch, split_line
from ._limits import (
    DEFAULT_MAX_FRAME_BYTES,
    DEFAULT_MAX_HEADERS,
    DEFAULT_MAX_LINE_BYTES,
    FrameTooLarge,
    LimitExceeded,
    LineTooLong,
    MissingEndMarker,
    TooManyHeaders,
    TruncatedFrame,
)
from ._message import BANNER_PREFIX, Banner, Frame, Message
from ._receivebuffer import CRLF_BLANK, MARKER, ReceiveBuffer

__all__ = ["NEED_DATA", "AMIDecoder", "Mode", "Sentinel"]


class Sentinel(enum.Enum):
    # An enum member is the idiomatic typed singleton: ``x is NEED_DATA``
    # narrows for mypy, and it pickles and reprs sensibly.
    NEED_DATA = "NEED_DATA"

    def __repr__(self) -> str:
        return self.value


NEED_DATA: Final = Sentinel.NEED_DATA
"""Returned by ``next_frame()``/``next_event()`` when more bytes are needed."""


class Mode(enum.Enum):
    """Where the decoder is in the stream (see the module docstring)."""

    START = "start"
    FRAMES = "frames"
    DISCARD_BLANK = "discard up to a blank line"
    DISCARD_FOLLOWS = "discard up to the marker line"
    CLOSED = "closed"


class _Kind(enum.Enum):
    """What the frame at the current position is, once its first line tells."""

    ORDINARY = "ordinary"
    FOLLOWS = "follows"


_BANNER_PREFIX: Final = BANNER_PREFIX.encode("ascii")
_FOLLOWS_LINE: Final = b"response: follows\r\n"
_MARKER_TEXT: Final = MARKER.decode("ascii")
# Most bytes one batch is cut from: bounds the frames decoded ahead of the
# caller when a large block arrives at once.
_BATCH_BYTES: Final = 32 * 1024
# The first AMI version that never sends ``Response: Follows`` (Asterisk 14).
_NO_FOLLOWS_FROM: Final = (3,)


class AMIDecoder:
    """Incremental AMI decoder: bytes in with :meth:`receive_data`, frames out.

    Call :meth:`next_frame` until it returns :data:`NEED_DATA`, then feed
    more bytes. Each frame is a :class:`Banner` (once, first) or a
    :class:`Message`. Chunk boundaries never matter: any split of the same
    stream gives the same frames and the same errors.

    Limits (keyword-only, each ``>= 1``): ``max_frame_bytes`` (the frame's
    bytes up to and including its last line ending), ``max_headers`` (header
    lines per frame; a legacy ``Follows`` body does not count) and
    ``max_line_bytes`` (per line, line ending excluded). A frame over a
    limit makes ``next_frame`` raise a :class:`LimitExceeded` subclass once;
    the decoder has then skipped that frame and the next call continues
    with the next one. Memory is bounded by ``max_frame_bytes`` plus the
    bytes handed to ``receive_data`` and not yet pulled out as frames.

    End of stream: after :meth:`receive_eof`, ``next_frame`` returns the
    remaining complete frames, then raises :class:`TruncatedFrame` once if a
    frame was left unfinished, then returns :data:`NEED_DATA` forever with
    :attr:`closed` true, so a ``while`` loop on ``NEED_DATA`` always ends.
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
        # A batch region no longer than this holds no frame or line over a limit.
        self._window: Final = min(_BATCH_BYTES, max_frame_bytes, max_line_bytes)
        self._buffer = ReceiveBuffer()
        self._mode = Mode.START
        self._pos = 0  # index in the buffer where the current frame starts
        self._scan = 0  # where the banner or marker search resumes
        self._kind: _Kind | None = None
        self._eof = False
        self._follows = True  # whether Response: Follows replies can occur
        # Frames of the last batch not yet returned; ``_ready_at`` is the
        # buffer index where the first of them starts.
        self._ready: collections.deque[Message] = collections.deque()
        self._ready_at = 0
        self._ready_count = 0  # len(_ready) when _ready_at was last moved
        # Stream offset before which no batch is tried again (a batch
        # declined there): no byte is examined by two batches.
        self._no_batch_before = 0
        self._dispatch: dict[Mode, Callable[[], Frame | Sentinel]] = {
            Mode.START: self._next_banner,
            Mode.FRAMES: self._next_message,
            Mode.DISCARD_BLANK: self._next_after_discard,
            Mode.DISCARD_FOLLOWS: self._next_after_discard,
            Mode.CLOSED: self._closed,
        }

    # -- public API ---------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once the end of the stream was received and every frame was returned."""
        return self._mode is Mode.CLOSED

    @property
    def eof_received(self) -> bool:
        """True once :meth:`receive_eof` was called."""
        return self._eof

    @property
    def offset(self) -> int:
        """Stream offset of the first byte not yet returned as part of a frame."""
        buffer = self._buffer
        if not self._ready:
            return buffer.base + self._pos
        # Batched frames are joined by exactly "\r\n\r\n": each frame
        # returned since the batch was cut ends at the next "\n\r\n".
        data = buffer.data
        at = self._ready_at
        for _ in range(self._ready_count - len(self._ready)):
            at = data.find(CRLF_BLANK, at) + 3
        self._ready_at = at
        self._ready_count = len(self._ready)
        return buffer.base + at

    @property
    def buffered(self) -> int:
        """How many received bytes the decoder holds now (for memory checks)."""
        return len(self._buffer)

    def receive_data(self, data: bytes) -> None:
        """Add bytes received from the peer. ``b""`` is ignored (use receive_eof)."""
        if self._eof:
            raise LocalProtocolError("receive_data() called after receive_eof()")
        if not data:
            return
        self._buffer.append(data)
        if self._mode is Mode.DISCARD_BLANK or self._mode is Mode.DISCARD_FOLLOWS:
            # Skip an oversized frame as its bytes arrive instead of
            # buffering them until the next call to next_frame().
            self._discard()

    def receive_eof(self) -> None:
        """Record that the peer closed the stream; idempotent."""
        self._eof = True

    def next_frame(self) -> Frame | Sentinel:
        """The next complete frame, or :data:`NEED_DATA`.

        Raises a :class:`LimitExceeded` subclass for a frame over a limit,
        ``MissingEndMarker`` for a legacy reply without its marker (both
        skipped; call again) and :class:`TruncatedFrame` for a frame cut by
        the end of the stream.
        """
        ready = self._ready
        if ready:
            return ready.popleft()
        return self._dispatch[self._mode]()

    # -- modes ----------------------------------------------------------------

    def _closed(self) -> Sentinel:
        return NEED_DATA

    def _need_data(self) -> Sentinel:
        buffer = self._buffer
        pos = self._pos
        if pos:
            buffer.drop(pos)
            self._scan = max(0, self._scan - pos)
            self._pos = 0
        if not self._eof:
            return NEED_DATA
        mode = self._mode
        self._mode = Mode.CLOSED
        offset, length = buffer.base, len(buffer)
        unfinished = bytes(buffer.data).strip(b"\r\n")
        buffer.clear()
        self._scan = 0
        if mode in (Mode.START, Mode.FRAMES) and unfinished:
            raise TruncatedFrame(offset=offset, length=length)
        return NEED_DATA

    def _next_banner(self) -> Frame | Sentinel:
        data = self._buffer.data
        n = len(data)
        if not n:
            return self._need_data()
        head = bytes(data[: len(_BANNER_PREFIX)])
        if not _BANNER_PREFIX.startswith(head) and not head.startswith(_BANNER_PREFIX):
            self._mode = Mode.FRAMES
            return self._next_message()
        if len(head) < len(_BANNER_PREFIX):
            return self._need_data()  # still undecided
        lf = data.find(b"\n", self._scan)
        # The banner is a frame and a line: both limits bound it, so that
        # memory stays within max_frame_bytes even when max_line_bytes is
        # set higher.
        limit = min(self.max_line_bytes, self.max_frame_bytes)
        if lf < 0:
            if n <= limit + 1:
                self._scan = n
                return self._need_data()
            lf = n  # too long for a banner: let the frame rules report it
        end = lf - 1 if lf and lf < n and data[lf - 1] == 13 else lf
        self._mode = Mode.FRAMES
        self._scan = 0
        if end > limit:
            return self._next_message()
        banner = Banner.from_line(data[:end].decode("utf-8", "surrogateescape"))
        if banner.version >= _NO_FOLLOWS_FROM:
            self._follows = False
        self._pos = lf + 1
        return banner

    def _next_after_discard(self) -> Frame | Sentinel:
        if not self._discard():
            return self._need_data()
        return self._next_message()

    def _discard(self) -> bool:
        """Drop bytes of an oversized frame; True once its end was found."""
        buffer = self._buffer
        pos = self._pos
        if self._mode is Mode.DISCARD_BLANK:
            found = buffer.first_blank(pos)
            end = -1 if found is None else found[1]
            keep = 2
        else:
            end = self._follows_end(pos)[0]
            keep = len(MARKER) + 1
        if end >= 0:
            self._pos = end
            self._scan = 0
            self._mode = Mode.FRAMES
            self._kind = None
            return True
        # Keep only what a boundary split across reads could start with.
        cut = len(buffer) - keep
        if cut > pos:
            buffer.drop(cut)
            self._scan = max(0, self._scan - cut)
            self._pos = 0
        return False

    def _follows_end(self, pos: int) -> tuple[int, bool]:
        """Where the Follows reply at ``pos`` ends, and whether its marker ended it.

        The end is just past the line ending with the marker, or just past a
        CRLF blank line that comes before it (the marker is missing); -1
        while neither has arrived.
        """
        buffer = self._buffer
        end, self._scan = buffer.marker_end(max(self._scan, pos))
        blank = buffer.crlf_blank(pos)
        if blank >= 0 and (end < 0 or blank < end - 1):
            return blank + 3, False
        return end, True

    def _start_discard(self, mode: Mode, error: LimitExceeded) -> LimitExceeded:
        self._mode = mode
        self._kind = None
        self._discard()
        return error

    def _decide_kind(self, pos: int) -> _Kind | None:
        # A legacy Command reply is recognised by its first line, exactly
        # "Response: Follows" as every 1.2-13 server writes it.
        data = self._buffer.data
        c = data[pos]
        if not self._follows or (c != 82 and c != 114):  # "R" / "r"
            return _Kind.ORDINARY
        head = bytes(data[pos : pos + len(_FOLLOWS_LINE)]).lower()
        if head.startswith(b"response: follows\n") or head == _FOLLOWS_LINE:
            return _Kind.FOLLOWS
        if len(head) < len(_FOLLOWS_LINE) and _FOLLOWS_LINE.startswith(head):
            return None  # undecided
        return _Kind.ORDINARY

    def _next_message(self) -> Frame | Sentinel:
        buffer = self._buffer
        kind = self._kind
        if kind is None:
            # Skip blank lines between frames (no empty frames): runs of
            # them occur on 1.4.0 UserEvents and TestEvent on 16.
            pos = self._pos = buffer.skip_blank_lines(self._pos)
            n = len(buffer)
            if pos >= n or (pos + 1 == n and buffer.data[pos] == 13):
                return self._need_data()
            kind = self._decide_kind(pos)
            if kind is None:
                return self._need_data()
            self._kind = kind
        if kind is _Kind.FOLLOWS:
            return self._next_follows()
        pos = self._pos
        found = buffer.first_blank(pos)
        if found is None:
            if len(buffer) - pos >= self.max_frame_bytes + 2:
                raise self._start_discard(Mode.DISCARD_BLANK, self._too_large(pos))
            return self._need_data()
        end, after = found
        if after == end + 3 and buffer.base + pos >= self._no_batch_before:
            batch = self._batch(pos, end)
            if batch is not None:
                return batch
        self._pos = after
        self._kind = None
        return self._build(pos, end)

    # -- building frames --------------------------------------------------------

    def _batch(self, pos: int, end: int) -> Message | None:
        """The frame at ``pos`` and, queued in ``_ready``, the complete frames after it.

        ``end`` is the LF of the ``"\\n\\r\\n"`` that ends the first frame.
        Returns ``None`` when :func:`split_batch` declines the region or a
        frame in it has too many headers or is a Follows reply; the
        frame-by-frame path then takes the region.
        """
        buffer = self._buffer
        data = buffer.data
        last = buffer.last_crlf_blank(pos, min(len(data), pos + self._window))
        if last < end:
            return None
        self._no_batch_before = buffer.base + last + 3
        if data[last - 1] != 13:
            return None
        messages = split_batch(data[pos : last - 1].decode("utf-8", "surrogateescape"))
        # A line split_batch takes is >= 4 bytes with its CRLF: an upper bound.
        if messages is None or not self._batch_fits(messages, (last + 1 - pos) // 4):
            return None
        self._pos = last + 3
        self._kind = None
        first = messages[0]
        if len(messages) > 1:
            self._ready.extend(messages[1:])
            self._ready_at = end + 3
            self._ready_count = len(messages) - 1
        return first

    def _batch_fits(self, messages: list[Message], lines: int) -> bool:
        # The window bounds frame and line sizes; header counts (only when the
        # batch's ``lines`` could exceed the limit) and Follows replies per frame.
        limit = self.max_headers
        if lines > limit and any(len(message.headers) > limit for message in messages):
            return False
        return not self._follows or not any(
            message.headers[0][0].lower() == "response"
            and message.headers[0][1].lower() == "follows"
            for message in messages
        )

    def _too_large(self, pos: int) -> FrameTooLarge:
        return FrameTooLarge(
            f"frame larger than max_frame_bytes={self.max_frame_bytes}",
            limit=self.max_frame_bytes,
            offset=self._buffer.base + pos,
        )

    def _check_limits(self, pos: int, end: int, headers: int) -> None:
        """Raise for a frame ``data[pos:end]`` of ``headers`` lines that breaks a limit."""
        if end - pos > self.max_frame_bytes:
            raise self._too_large(pos)
        data = self._buffer.data
        base = self._buffer.base
        if end - pos > self.max_line_bytes:
            limit = self.max_line_bytes
            start = pos
            while start < end:
                lf = data.find(b"\n", start, end)
                stop = end if lf < 0 else lf
                length = (
                    stop - start - (1 if lf >= 0 and stop > start and data[stop - 1] == 13 else 0)
                )
                if length > limit:
                    raise LineTooLong(
                        f"line longer than max_line_bytes={limit}", limit=limit, offset=base + start
                    )
                start = stop + 1
        if headers > self.max_headers:
            at = pos
            for _ in range(self.max_headers):  # point at the first line past the limit
                at = data.find(b"\n", at) + 1
            raise TooManyHeaders(
                f"more than max_headers={self.max_headers} header lines in one frame",
                limit=self.max_headers,
                offset=base + at,
            )

    def _build(self, pos: int, end: int) -> Message:
        # The frame is data[pos:end] plus the LF at ``end``.
        data = self._buffer.data
        lines = data.count(b"\n", pos, end) + 1
        self._check_limits(pos, end + 1, lines)
        if end > pos and data[end - 1] == 13:
            end -= 1
        return message_from_text(data[pos:end].decode("utf-8", "surrogateescape"))

    def _next_follows(self) -> Frame | Sentinel:
        buffer = self._buffer
        pos = self._pos
        end, marked = self._follows_end(pos)
        if end < 0:
            if len(buffer) - pos > self.max_frame_bytes:
                raise self._start_discard(Mode.DISCARD_FOLLOWS, self._too_large(pos))
            return self._need_data()
        self._pos = end
        self._scan = 0
        self._kind = None
        if not marked:
            # The frame is too large by the same rule that reports it
            # while it is still arriving, whatever the chunking.
            if end - 1 - pos > self.max_frame_bytes:
                raise self._too_large(pos)
            raise MissingEndMarker(offset=buffer.base + pos, length=end - pos)
        return self._build_follows(pos, end)

    def _build_follows(self, pos: int, end: int) -> Message:
        data = self._buffer.data
        if end - pos > self.max_frame_bytes:
            raise self._too_large(pos)  # before decoding it
        text = data[pos:end].decode("utf-8", "surrogateescape")
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
        self._check_limits(pos, end, len(lines))
        body = text[start:]
        body = body[:-2] if body[-2:] == "\r\n" else body[:-1]
        return Message(tuple(map(split_line, lines)), body[: -len(MARKER)])
