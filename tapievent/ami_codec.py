"""AMI framing: bytes from Asterisk in, frames out; actions in, bytes out.

This module is sans-IO. It never touches a socket or a clock, so every
runtime (asyncio, threads, a fuzzer) drives it the same way. It is the
public face of four private modules, one job each:

* ``_receivebuffer``: the bytes received, and where frames end (linear in
  the bytes received, however they are chunked);
* ``_framing``: :class:`AMIDecoder`, the banner, ordinary frames, legacy
  ``Response: Follows`` bodies, limits and resynchronisation;
* ``_message`` (with ``_headers``, which splits header lines): the values
  :class:`Banner`, :class:`Message` and :class:`Action`;
* ``_encoding``: :func:`encode_action` (bytes that can never carry a
  second, injected action), :func:`encode_message` and
  :func:`encode_banner` (the server side: fake servers, capture tools),
  and the C escapes of Asterisk 13.5+.

Reading: feed bytes to :class:`AMIDecoder` with ``receive_data`` and pull
frames with ``next_frame`` until it returns :data:`NEED_DATA`.
``docs/ami.md`` describes every framing rule and error with examples.
"""

from __future__ import annotations

from ._encoding import (
    ESCAPED_HEADERS,
    LEGACY_MAX_HEADER_LINES,
    LEGACY_MAX_LINE_BYTES,
    c_unescape,
    encode_action,
    encode_banner,
    encode_message,
    unescape_message,
)
from ._errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from ._framing import NEED_DATA, AMIDecoder
from ._framing import Sentinel as _Sentinel
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
from ._message import Action, Banner, Frame, Message

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
    "MissingEndMarker",
    "ProtocolError",
    "RemoteProtocolError",
    "TooManyHeaders",
    "TruncatedFrame",
    "_Sentinel",
    "c_unescape",
    "encode_action",
    "encode_banner",
    "encode_message",
    "unescape_message",
]
