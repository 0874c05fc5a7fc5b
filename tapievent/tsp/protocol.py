"""The bridge protocol between ``tapievent.tsp`` (the native TSP) and the Python bridge.

Sans-IO, like the rest of the core. A *frame* is a little-endian uint32
length followed by that many bytes of UTF-8 JSON; the JSON is one object with
``"v"`` (the protocol version, :data:`PROTOCOL_VERSION`) and ``"type"``.
Messages the bridge sends are *flat* (string, integer, boolean and null
values only) so the C side can parse them with a small bounded reader; the
shim's ``hello`` carries one list (its line names). The full table of
messages is in ``docs/tsp.md``.

Why length-prefixed JSON rather than lines: caller names may contain any
character, and a length prefix lets both sides reject an oversized frame
before buffering it, so memory stays bounded by :class:`FrameLimits`.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping

import attrs

from .._errors import LocalProtocolError, RemoteProtocolError
from ..model import LineError

__all__ = [
    "LINEERR_CALLUNAVAIL",
    "LINEERR_INVALADDRESS",
    "LINEERR_INVALCALLHANDLE",
    "LINEERR_INVALCALLSTATE",
    "LINEERR_INVALLINEHANDLE",
    "LINEERR_OPERATIONFAILED",
    "LINEERR_OPERATIONUNAVAIL",
    "PROTOCOL_VERSION",
    "BlindTransfer",
    "BridgeProtocolError",
    "CloseCall",
    "Drop",
    "FrameDecoder",
    "FrameLimits",
    "GenerateDigits",
    "Hello",
    "MakeCall",
    "Request",
    "encode_frame",
    "message",
    "parse_request",
    "reply",
]

PROTOCOL_VERSION = 1

# The LINEERR_* results a reply carries, under the names the bridge uses: the
# numbers live once, in tapievent.model.LineError (unsigned 32-bit, as tapi.h).
LINEERR_CALLUNAVAIL = LineError.CALLUNAVAIL
LINEERR_INVALADDRESS = LineError.INVALADDRESS
LINEERR_INVALCALLHANDLE = LineError.INVALCALLHANDLE
LINEERR_INVALCALLSTATE = LineError.INVALCALLSTATE
LINEERR_INVALLINEHANDLE = LineError.INVALLINEHANDLE
LINEERR_OPERATIONFAILED = LineError.OPERATIONFAILED
LINEERR_OPERATIONUNAVAIL = LineError.OPERATIONUNAVAIL

_HEADER = struct.Struct("<I")
_UINT32_MAX = 0xFFFFFFFF


class BridgeProtocolError(RemoteProtocolError):
    """The peer broke the bridge protocol: a bad frame or an invalid message.

    ``offset`` is the stream offset of the frame that broke it (None for a
    message checked outside a stream). A length-prefixed stream cannot be
    resynchronised, so the connection must be closed after a framing error.
    """

    def __init__(self, message: str, *, offset: int | None = None) -> None:
        super().__init__(message if offset is None else f"{message} (frame at offset {offset})")
        self.offset = offset


@attrs.frozen(slots=True)
class FrameLimits:
    """Bounds on what a peer can make us buffer and parse.

    ``max_frame`` caps one frame's JSON bytes (the shim uses the same 64 KiB);
    ``max_string`` caps each string value; ``max_lines`` caps a hello's list.
    """

    max_frame: int = 65536
    max_string: int = 256
    max_lines: int = 32


class FrameDecoder:
    """Incremental frame reader: ``receive_data`` bytes, then ``next_message()``.

    Returns one decoded JSON object per call, or None when more bytes are
    needed. A length over the limit is rejected from the header alone, before
    its body arrives, so once ``next_message`` has returned None at most
    ``4 + limits.max_frame - 1`` bytes stay buffered, however the input is chunked.
    """

    def __init__(self, limits: FrameLimits | None = None) -> None:
        self.limits = limits or FrameLimits()
        self._buffer = bytearray()
        self._offset = 0  # stream offset of the first byte in _buffer
        self._broken: BridgeProtocolError | None = None

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as a message."""
        return len(self._buffer)

    def receive_data(self, data: bytes) -> None:
        """Add bytes from the stream; call ``next_message`` until None before adding more."""
        if self._broken is not None:
            raise self._broken
        self._buffer += data

    def next_message(self) -> dict[str, object] | None:
        """The next complete message, or None when it has not fully arrived."""
        if self._broken is not None:
            raise self._broken
        length = self._check_header()
        if length is None or len(self._buffer) < 4 + length:
            return None
        body = bytes(self._buffer[4 : 4 + length])
        offset = self._offset
        del self._buffer[: 4 + length]
        self._offset += 4 + length
        try:
            value = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            self._fail("frame is not UTF-8 JSON", offset)
        if not isinstance(value, dict):
            self._fail("frame is not a JSON object", offset)
        result: dict[str, object] = value
        return result

    def _check_header(self) -> int | None:
        if len(self._buffer) < 4:
            return None
        (length,) = _HEADER.unpack_from(self._buffer)
        if length == 0:
            self._fail("empty frame", self._offset)
        if length > self.limits.max_frame:
            self._fail(
                f"frame of {length} bytes exceeds max_frame={self.limits.max_frame}", self._offset
            )
        return int(length)

    def _fail(self, message: str, offset: int) -> None:
        self._broken = BridgeProtocolError(message, offset=offset)
        self._buffer.clear()
        raise self._broken


def encode_frame(message: Mapping[str, object], limits: FrameLimits | None = None) -> bytes:
    """One frame for ``message``: a flat object (plus lists of strings) with ``v`` and ``type``.

    Raises ``LocalProtocolError`` for a value the shim cannot read (nested
    objects, floats, integers outside 32 bits, NUL or lone surrogates in a
    string) or a frame over ``max_frame``: a bridge bug must not reach the wire.
    """
    limits = limits or FrameLimits()
    if message.get("v") != PROTOCOL_VERSION or not isinstance(message.get("type"), str):
        raise LocalProtocolError("a bridge message needs v=1 and a string type")
    for key, value in message.items():
        if isinstance(value, list):
            for item in value:
                _check_string(key, item)
        elif isinstance(value, str):
            _check_string(key, value)
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, int):
            if not -0x80000000 <= value <= _UINT32_MAX:
                raise LocalProtocolError(f"{key}={value} does not fit 32 bits")
        else:
            raise LocalProtocolError(f"{key} has a value of type {type(value).__name__}")
    body = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if len(body) > limits.max_frame:
        raise LocalProtocolError(f"message of {len(body)} bytes exceeds max_frame")
    return _HEADER.pack(len(body)) + body


def _check_string(key: str, value: object) -> None:
    if not isinstance(value, str):
        raise LocalProtocolError(f"{key} holds a non-string list item")
    if "\x00" in value:
        raise LocalProtocolError(f"{key} contains NUL")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise LocalProtocolError(f"{key} is not valid Unicode (lone surrogate)") from None


# --------------------------------------------------------------------------- requests


@attrs.frozen(slots=True)
class Hello:
    """The shim's first message: its version and the line names it exposes to TAPI."""

    lines: tuple[str, ...]
    shim: str
    tspi_version: int
    token: str | None = attrs.field(default=None, repr=False)  # the per-install link secret


@attrs.frozen(slots=True)
class MakeCall:
    """TSPI_lineMakeCall: dial ``destination`` for ``line``; reply carries the new call id."""

    id: int
    line: str
    destination: str


@attrs.frozen(slots=True)
class Drop:
    """TSPI_lineDrop: hang the call up."""

    id: int
    call: int


@attrs.frozen(slots=True)
class BlindTransfer:
    """TSPI_lineBlindTransfer: redirect the call to ``destination``."""

    id: int
    call: int
    destination: str


@attrs.frozen(slots=True)
class GenerateDigits:
    """TSPI_lineGenerateDigits: play DTMF ``digits``; the reply ends it (LINE_GENERATE)."""

    id: int
    call: int
    digits: str


@attrs.frozen(slots=True)
class CloseCall:
    """TSPI_lineCloseCall (or a refused LINE_NEWCALL): forget the call id. No reply."""

    call: int


Request = Hello | MakeCall | Drop | BlindTransfer | GenerateDigits | CloseCall


def parse_request(message: Mapping[str, object], limits: FrameLimits | None = None) -> Request:
    """Validate a decoded shim message and return it as a typed value.

    Raises :class:`BridgeProtocolError` naming the message type and the field
    that is missing or wrong, or an unknown ``type`` / protocol version.
    """
    limits = limits or FrameLimits()
    version = message.get("v")
    if version != PROTOCOL_VERSION or isinstance(version, bool):
        raise BridgeProtocolError(f"protocol version {version!r} is not supported (this is v1)")
    kind = message.get("type")
    if kind == "hello":
        lines = message.get("lines")
        if not isinstance(lines, list) or len(lines) > limits.max_lines:
            raise BridgeProtocolError(f"hello: lines must be a list of at most {limits.max_lines}")
        names = tuple(_string(message, "hello", "lines", limits, value=v) for v in lines)
        return Hello(
            lines=names,
            shim=_string(message, "hello", "shim", limits),
            tspi_version=_uint(message, "hello", "tspi_version"),
            token=_string(message, "hello", "token", limits) if "token" in message else None,
        )
    if kind == "make_call":
        return MakeCall(
            id=_uint(message, kind, "id"),
            line=_string(message, kind, "line", limits),
            destination=_string(message, kind, "destination", limits),
        )
    if kind == "drop":
        return Drop(id=_uint(message, kind, "id"), call=_uint(message, kind, "call"))
    if kind == "blind_transfer":
        return BlindTransfer(
            id=_uint(message, kind, "id"),
            call=_uint(message, kind, "call"),
            destination=_string(message, kind, "destination", limits),
        )
    if kind == "generate_digits":
        return GenerateDigits(
            id=_uint(message, kind, "id"),
            call=_uint(message, kind, "call"),
            digits=_string(message, kind, "digits", limits),
        )
    if kind == "close_call":
        return CloseCall(call=_uint(message, kind, "call"))
    raise BridgeProtocolError(f"unknown message type {kind!r}")


def _uint(message: Mapping[str, object], kind: str, field: str) -> int:
    value = message.get(field)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _UINT32_MAX:
        raise BridgeProtocolError(f"{kind}: {field} must be an unsigned 32-bit integer")
    return value


def _string(
    message: Mapping[str, object],
    kind: str,
    field: str,
    limits: FrameLimits,
    *,
    value: object = None,
) -> str:
    if value is None:
        value = message.get(field)
    if not isinstance(value, str) or not value or len(value) > limits.max_string:
        raise BridgeProtocolError(
            f"{kind}: {field} must be a non-empty string of at most {limits.max_string} characters"
        )
    if "\x00" in value:
        raise BridgeProtocolError(f"{kind}: {field} contains NUL")
    return value


def reply(request_id: int, result: int, *, call: int | None = None) -> dict[str, object]:
    """The answer to a request: ``result`` 0 or a LINEERR_* value (and ``call`` for make_call)."""
    message: dict[str, object] = {"v": PROTOCOL_VERSION, "type": "reply", "id": request_id}
    message["result"] = result
    if call is not None:
        message["call"] = call
    return message


def message(kind: str, **fields: object) -> dict[str, object]:
    """A bridge message of type ``kind`` (fields in the order given)."""
    out: dict[str, object] = {"v": PROTOCOL_VERSION, "type": kind}
    out.update(fields)
    return out
