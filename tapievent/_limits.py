"""What the decoder refuses from the peer: its limits, and the errors that name them.

Every error here is a :class:`RemoteProtocolError` (the peer broke the
protocol) carrying the stream offset where the offending frame or line
starts. The decoder has already skipped the bad frame when one is raised,
so the caller reports it and asks for the next frame.
"""

from __future__ import annotations

from typing import Final

from ._errors import RemoteProtocolError

__all__ = [
    "DEFAULT_MAX_FRAME_BYTES",
    "DEFAULT_MAX_HEADERS",
    "DEFAULT_MAX_LINE_BYTES",
    "FrameTooLarge",
    "LimitExceeded",
    "LineTooLong",
    "MissingEndMarker",
    "TooManyHeaders",
    "TruncatedFrame",
]

DEFAULT_MAX_FRAME_BYTES: Final = 256 * 1024
"""Largest frame accepted by default: a ``CoreShowChannels`` item or a busy
``Command`` output fits many times over, a runaway peer does not."""
DEFAULT_MAX_HEADERS: Final = 1024
"""Most header lines per frame by default (14+ ``Output:`` lines count)."""
DEFAULT_MAX_LINE_BYTES: Final = 64 * 1024
"""Longest line by default, its line ending not counted."""


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


class MissingEndMarker(RemoteProtocolError):
    """A ``Response: Follows`` reply reached a CRLF blank line before ``--END COMMAND--``.

    Asterisk 1.2-13 write the CLI output of a legacy Command reply with bare
    LF line ends and always close it with the marker line, so a blank CRLF
    line inside one means the marker is missing (a broken or hostile peer).
    The reply is skipped up to that blank line, ``offset`` is where it
    starts and ``length`` how many bytes were skipped; the frames after it
    decode normally.
    """

    def __init__(self, *, offset: int, length: int) -> None:
        super().__init__(
            f"offset {offset}: 'Response: Follows' reply without '--END COMMAND--'"
            f" ({length} bytes up to a blank line skipped)"
        )
        self.offset = offset
        self.length = length
