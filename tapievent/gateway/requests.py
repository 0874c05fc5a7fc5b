"""Requests over the broker (dial, hangup, transfer, digits): parsing and de-duplication.

Pure: :func:`parse_request` turns a request's topic verb and JSON payload
into a :class:`Request` or a :class:`RequestRefused`;
:class:`RecentRequests` remembers the last request ids so that a QoS 1
redelivery (the same correlation data arrives twice) is answered with the
first answer instead of dialling again.
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from typing import Any, Generic, TypeVar

import attrs

from .scheme import VERBS, RequestError, decode_text, encode_text

__all__ = [
    "MAX_PAYLOAD",
    "RecentRequests",
    "Request",
    "RequestRefused",
    "parse_request",
    "reply_payload",
]

MAX_PAYLOAD = 4096  # bytes: a request is a handful of short fields
_DIGITS = re.compile(r"[0-9*#A-D]{1,64}")
_NUMBER = re.compile(r"[0-9*#+]{1,64}")
_MAX_ID = 128


@attrs.frozen(slots=True)
class Request:
    """One request for ``line``. ``call`` is a call key, ``action_id`` names a call
    this gateway dialled (from the dial reply); hangup/transfer/digits take one."""

    verb: str
    line: str
    request_id: str | None
    destination: str | None = None
    digits: str | None = None
    call: str | None = None
    action_id: str | None = None


@attrs.frozen(slots=True)
class RequestRefused(Exception):
    """A request that cannot be carried out; the reply says ``error`` and ``message``."""

    error: RequestError
    message: str

    def __str__(self) -> str:
        return f"{self.error}: {self.message}"


def _text(payload: dict[str, Any], name: str) -> str | None:
    value = payload.get(name)
    if value is None:
        return None
    try:
        text = decode_text(value, name)
    except ValueError as exc:
        raise RequestRefused(RequestError.BAD_REQUEST, str(exc)) from None
    if not text or len(text) > _MAX_ID or any(c in text for c in "\r\n\0"):
        raise RequestRefused(
            RequestError.BAD_REQUEST, f"{name!r} must be 1 to {_MAX_ID} characters, no CR/LF/NUL"
        )
    return text


def _matching(payload: dict[str, Any], name: str, pattern: re.Pattern[str]) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or pattern.fullmatch(value) is None:
        raise RequestRefused(
            RequestError.BAD_REQUEST, f"{name!r} must match {pattern.pattern}, got {value!r}"
        )
    return value


def parse_request(verb: str, line: str, body: bytes, correlation: bytes | None = None) -> Request:
    """The request a message on ``.../line/<line>/request/<verb>`` makes.

    ``correlation`` (MQTT 5 correlation data) is the request id when given;
    otherwise the payload's ``"id"``. Raises :class:`RequestRefused`.
    """
    if verb not in VERBS:
        raise RequestRefused(RequestError.UNKNOWN_VERB, f"{verb!r} is not one of {VERBS}")
    if len(body) > MAX_PAYLOAD:
        raise RequestRefused(RequestError.BAD_REQUEST, f"payload over {MAX_PAYLOAD} bytes")
    try:
        payload = json.loads(body.decode("utf-8")) if body else {}
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestRefused(RequestError.BAD_REQUEST, f"payload is not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise RequestRefused(RequestError.BAD_REQUEST, "payload must be a JSON object")
    request_id = (
        correlation.decode("utf-8", "surrogateescape") if correlation else _text(payload, "id")
    )
    if verb == "dial":
        number = _matching(payload, "destination", _NUMBER)
        return Request(verb, line, request_id, destination=number)
    call, action_id = _text(payload, "call"), _text(payload, "action_id")
    if (call is None) == (action_id is None):
        raise RequestRefused(
            RequestError.BAD_REQUEST, f"{verb} needs exactly one of 'call' and 'action_id'"
        )
    destination = digits = None
    if verb == "transfer":
        destination = _matching(payload, "destination", _NUMBER)
    elif verb == "digits":
        digits = _matching(payload, "digits", _DIGITS)
    return Request(verb, line, request_id, destination, digits, call, action_id)


def reply_payload(request: Request | None, result: dict[str, Any] | RequestRefused) -> bytes:
    """The JSON reply: ``{"ok": true, ...}`` or ``{"ok": false, "error", "message"}``."""
    out: dict[str, Any] = {}
    if request is not None:
        out.update(request=request.verb, line=encode_text(request.line))
        if request.request_id is not None:
            out["id"] = encode_text(request.request_id)
    if isinstance(result, RequestRefused):
        out.update(ok=False, error=str(result.error), message=encode_text(result.message))
    else:
        out.update(ok=True, **result)
    return json.dumps(out, ensure_ascii=False).encode("utf-8")


T = TypeVar("T")


class RecentRequests(Generic[T]):
    """The answers to the last ``size`` request ids, oldest forgotten first.

    Bounded, so no stream of requests grows the gateway's memory; a
    redelivery older than ``size`` requests (QoS 1 redelivers within one
    session, seconds at most) would be carried out again.
    """

    def __init__(self, size: int = 1024) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self.size = size
        self._entries: OrderedDict[tuple[str, str, str], T] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: tuple[str, str, str]) -> T | None:
        return self._entries.get(key)

    def put(self, key: tuple[str, str, str], value: T) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
