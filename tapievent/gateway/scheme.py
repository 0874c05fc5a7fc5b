"""The ``tapievent/v1`` topic and payload scheme (docs/mqtt.md), as pure functions.

Everything a gateway publishes and every request it reads is defined here,
so the gateway, the consumers (monitor, TSP bridge, the browser page) and
the tests agree on one spelling. No MQTT client is imported: the scheme can
be checked, and used by other programs, without a broker.

Topics (``<pbx>`` and ``<line>`` are :func:`escape_level` encoded)::

    tapievent/v1/<pbx>/status                  retained  gateway and AMI up/down
    tapievent/v1/<pbx>/calls                   retained  snapshot of live calls
    tapievent/v1/<pbx>/diagnostics             QoS 1     Diagnostic events
    tapievent/v1/<pbx>/line/<line>/events      QoS 1     every event of the line
    tapievent/v1/<pbx>/line/<line>/state       retained  presence of the line
    tapievent/v1/<pbx>/line/<line>/request/<verb>        dial, hangup, transfer, digits
"""

from __future__ import annotations

import base64
import binascii
import enum
import re
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from .._events import LineEvent
from ..model import (
    CallerId,
    CallInfo,
    CallState,
    Diagnostic,
    LineCallInfoState,
    LineCallOrigin,
    LineCallState,
    LineDevState,
    LineDevStateFlag,
    NewCall,
    OutputEvent,
)
from ..tracker import CallHandle, TrackedCall
from . import SCHEME_VERSION

__all__ = [
    "PREFIX",
    "VERBS",
    "Presence",
    "RequestError",
    "SchemeError",
    "Topics",
    "call_from_payload",
    "call_payload",
    "decode_text",
    "encode_text",
    "escape_level",
    "event_from_payload",
    "event_payload",
    "handle_from_payload",
    "handle_payload",
    "line_presence",
    "unescape_level",
]

PREFIX = f"tapievent/{SCHEME_VERSION}"
VERBS = ("dial", "hangup", "transfer", "digits")


class SchemeError(ValueError):
    """A topic level or payload that the scheme cannot read; the text says what and where."""


class RequestError(str, enum.Enum):
    """The ``error`` of a refused request's reply (a stable spelling, like diagnostic codes)."""

    BAD_REQUEST = "bad-request"  # not JSON, a missing or ill-typed field
    UNKNOWN_LINE = "unknown-line"  # the gateway does not serve this line
    UNKNOWN_CALL = "unknown-call"  # no live call with that key on this line
    UNKNOWN_VERB = "unknown-verb"  # not one of VERBS
    AMI_DOWN = "ami-down"  # the gateway has no AMI connection now
    ACTION_FAILED = "action-failed"  # Asterisk refused or did not answer the action

    def __str__(self) -> str:
        return str(self.value)


# --------------------------------------------------------------------------- topic levels

# Kept as they are: letters, digits and ``-._~``. Everything else, ``/ + # %``
# and every non-ASCII character included, is written as ``%XX`` of its UTF-8
# bytes (uppercase hex), so a level never holds a wildcard or a separator.
_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_ESCAPE = re.compile(r"%([0-9A-F]{2})")


def escape_level(name: str) -> str:
    """``name`` as one MQTT topic level: ``Local/bob`` -> ``Local%2Fbob``.

    Percent-encoding of the UTF-8 bytes (undecodable AMI bytes, kept by the
    codec as surrogate escapes, are written as the bytes they were) of every
    character outside ``A-Z a-z 0-9 - . _ ~``. It is the browser's
    ``encodeURIComponent`` with ``! ' ( ) *`` also escaped. The result is
    never empty and never holds ``/``, ``+``, ``#`` or NUL.
    """
    if not name:
        raise SchemeError("an empty name cannot be a topic level")
    out = []
    for ch in name:
        if ch in _SAFE:
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8", "surrogateescape"))
    return "".join(out)


def unescape_level(level: str) -> str:
    """The inverse of :func:`escape_level`; a level it would not write is refused.

    Only the canonical spelling is accepted (uppercase hex, no escape of a
    safe character, nothing else outside the safe set), so one name has one
    topic and an ACL written for it cannot be bypassed by another spelling.
    """
    raw = bytearray()
    pos = 0
    while pos < len(level):
        ch = level[pos]
        if ch in _SAFE:
            raw.append(ord(ch))
            pos += 1
            continue
        match = _ESCAPE.match(level, pos)
        if match is None:
            raise SchemeError(f"topic level {level!r}: {ch!r} at {pos} is not allowed here")
        value = int(match.group(1), 16)
        if chr(value) in _SAFE:
            raise SchemeError(
                f"topic level {level!r}: %{match.group(1)} at {pos} must be written as "
                f"{chr(value)!r}"
            )
        raw.append(value)
        pos = match.end()
    if not raw:
        raise SchemeError("an empty topic level names nothing")
    name = bytes(raw).decode("utf-8", "surrogateescape")
    if escape_level(name) != level:
        raise SchemeError(f"topic level {level!r} is not in canonical form")
    return name


@attrs.frozen(slots=True)
class Topics:
    """The topics of one PBX (``pbx`` is the gateway's name for its Asterisk)."""

    pbx: str

    @property
    def base(self) -> str:
        return f"{PREFIX}/{escape_level(self.pbx)}"

    @property
    def status(self) -> str:
        return f"{self.base}/status"

    @property
    def calls(self) -> str:
        return f"{self.base}/calls"

    @property
    def diagnostics(self) -> str:
        return f"{self.base}/diagnostics"

    def line(self, line: str) -> str:
        return f"{self.base}/line/{escape_level(line)}"

    def events(self, line: str) -> str:
        return f"{self.line(line)}/events"

    def state(self, line: str) -> str:
        return f"{self.line(line)}/state"

    def request(self, line: str, verb: str) -> str:
        return f"{self.line(line)}/request/{verb}"

    @property
    def all_requests(self) -> str:
        """The filter a gateway subscribes to (any line: unknown lines get an error)."""
        return f"{self.base}/line/+/request/+"

    @property
    def all_states(self) -> str:
        return f"{self.base}/line/+/state"

    @property
    def all_events(self) -> str:
        return f"{self.base}/line/+/events"

    @property
    def replies(self) -> str:
        """Where response topics must lie (``<replies>/<account>/...``; the ACL restricts it)."""
        return f"{self.base}/reply"

    def parse_line_topic(self, topic: str) -> tuple[str, str]:
        """``(line, rest)`` of a topic under ``<base>/line/``: ``rest`` is ``state``,
        ``events`` or ``request/<verb>``. Raises :class:`SchemeError` otherwise."""
        head = f"{self.base}/line/"
        if not topic.startswith(head):
            raise SchemeError(f"topic {topic!r} is not under {head!r}")
        level, sep, rest = topic[len(head) :].partition("/")
        verb = rest.removeprefix("request/")
        if not sep or (rest not in ("state", "events") and (verb == rest or "/" in verb)):
            raise SchemeError(f"topic {topic!r} names no line topic")
        return unescape_level(level), rest


# --------------------------------------------------------------------------- text in JSON


def encode_text(text: str) -> str | dict[str, str]:
    """A str for JSON: itself when it is valid Unicode, else ``{"text", "bytes"}``.

    The codec keeps bytes that are not UTF-8 (a Latin-1 caller name) as
    surrogate escapes, which JSON cannot carry as text. Such a value becomes
    ``{"text": <with U+FFFD for each bad byte>, "bytes": <base64 of the exact
    bytes>}``: a screen shows ``text``, a program recovers the value from
    ``bytes`` (:func:`decode_text`).
    """
    raw = text.encode("utf-8", "surrogateescape")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return {
            "text": raw.decode("utf-8", "replace"),
            "bytes": base64.b64encode(raw).decode("ascii"),
        }
    return text


def decode_text(value: object, where: str = "value") -> str:
    """The inverse of :func:`encode_text`."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("bytes"), str):
        try:
            raw = base64.b64decode(value["bytes"], validate=True)
        except binascii.Error as exc:
            raise SchemeError(f"{where}: bad base64 in 'bytes': {exc}") from None
        return raw.decode("utf-8", "surrogateescape")
    raise SchemeError(f"{where}: expected a string or {{'text', 'bytes'}}, got {value!r}")


def _optional_text(value: str | None) -> str | dict[str, str] | None:
    return None if value is None else encode_text(value)


def _caller_id(caller_id: CallerId | None) -> dict[str, Any] | None:
    if caller_id is None:
        return None
    return {"name": _optional_text(caller_id.name), "number": _optional_text(caller_id.number)}


def _read_caller_id(value: object, where: str) -> CallerId | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise SchemeError(f"{where}: expected an object, got {value!r}")
    name, number = value.get("name"), value.get("number")
    try:
        return CallerId(
            None if name is None else decode_text(name, f"{where}.name"),
            None if number is None else decode_text(number, f"{where}.number"),
        )
    except ValueError as exc:
        raise SchemeError(f"{where}: {exc}") from None


# --------------------------------------------------------------------------- events


def _flag(value: enum.IntFlag) -> str | int:
    """A flag by name when it is one named member, else its number (OR-ed flags)."""
    name = value.name
    return name if name is not None and "|" not in name else int(value)


def _read_flag(cls: type[enum.IntFlag], value: object, where: str) -> Any:
    try:
        if isinstance(value, str):
            return cls[value]
        if isinstance(value, int) and not isinstance(value, bool):
            return cls(value)
    except (KeyError, ValueError):
        pass
    raise SchemeError(f"{where}: {value!r} is not a {cls.__name__}")


def event_payload(event: LineEvent) -> dict[str, Any]:
    """The JSON object of one event (without the envelope the gateway adds).

    Call records are not part of the scheme (the runtime does not publish them).
    """
    out: dict[str, Any] = {"event": type(event).__name__}
    if isinstance(event, Diagnostic):
        out.update(code=str(event.code), message=encode_text(event.message))
        out["call_key"] = _optional_text(event.call_key)
        return out
    out["line"] = _optional_text(event.line)
    if isinstance(event, LineDevState):
        out["state"] = _flag(event.state)
        return out
    out["call_key"] = encode_text(event.call_key)
    if isinstance(event, NewCall):
        out.update(origin=_flag(event.origin), caller_id=_caller_id(event.caller_id))
    elif isinstance(event, CallState):
        out.update(state=_flag(event.state), mode=event.mode, synthesized=event.synthesized)
    else:
        out.update(info_state=_flag(event.info_state), caller_id=_caller_id(event.caller_id))
    return out


def _field(payload: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = payload.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise SchemeError(f"event field {name!r}: expected {kind}, got {value!r}")
    return value


def _text_field(payload: Mapping[str, Any], name: str, *, optional: bool = False) -> Any:
    value = payload.get(name)
    if value is None and optional:
        return None
    return decode_text(value, f"event field {name!r}")


def event_from_payload(payload: Mapping[str, Any]) -> OutputEvent:
    """The inverse of :func:`event_payload` (extra envelope fields are ignored)."""
    kind = payload.get("event")
    if kind == "Diagnostic":
        return Diagnostic(
            _field(payload, "code", str),
            _text_field(payload, "message"),
            _text_field(payload, "call_key", optional=True),
        )
    if kind == "LineDevState":
        state = _read_flag(LineDevStateFlag, payload.get("state"), "LineDevState.state")
        return LineDevState(_text_field(payload, "line", optional=True), state)
    if kind not in ("NewCall", "CallState", "CallInfo"):
        raise SchemeError(f"event: unknown kind {kind!r}")
    line, key = _text_field(payload, "line"), _text_field(payload, "call_key")
    if kind == "NewCall":
        origin = _read_flag(LineCallOrigin, payload.get("origin"), "NewCall.origin")
        return NewCall(line, key, origin, _read_caller_id(payload.get("caller_id"), "caller_id"))
    if kind == "CallState":
        state = _read_flag(LineCallState, payload.get("state"), "CallState.state")
        synthesized = _field(payload, "synthesized", bool)
        return CallState(line, key, state, _field(payload, "mode", int), synthesized)
    info = _read_flag(LineCallInfoState, payload.get("info_state"), "CallInfo.info_state")
    return CallInfo(line, key, info, _read_caller_id(payload.get("caller_id"), "caller_id"))


# --------------------------------------------------------------------------- calls and handles


def call_payload(call: TrackedCall) -> dict[str, Any]:
    """One live call of the ``calls`` snapshot."""
    return {
        "call_key": encode_text(call.call_key),
        "lines": [encode_text(line) for line in call.lines],
        "states": [None if s is None else _flag(s) for s in call.states],
        "caller_id": _caller_id(call.caller_id),
        "origin": _flag(call.origin),
        "channel": _optional_text(call.channel),
        "action_id": _optional_text(call.action_id),
    }


def call_from_payload(payload: Mapping[str, Any]) -> TrackedCall:
    """The inverse of :func:`call_payload`."""
    lines = _field(payload, "lines", list)
    states = _field(payload, "states", list)
    if len(lines) != len(states):
        raise SchemeError("call: 'lines' and 'states' differ in length")
    return TrackedCall(
        call_key=_text_field(payload, "call_key"),
        lines=tuple(decode_text(line, "call.lines") for line in lines),
        states=tuple(
            None if s is None else _read_flag(LineCallState, s, "call.states") for s in states
        ),
        caller_id=_read_caller_id(payload.get("caller_id"), "call.caller_id"),
        origin=_read_flag(LineCallOrigin, payload.get("origin"), "call.origin"),
        channel=_text_field(payload, "channel", optional=True),
        action_id=_text_field(payload, "action_id", optional=True),
    )


def handle_payload(handle: CallHandle) -> dict[str, Any]:
    """A dial reply's ``handle``: what hangs up or transfers the call it made."""
    return {name: _optional_text(getattr(handle, name)) for name in _HANDLE_FIELDS}


_HANDLE_FIELDS = ("action_id", "line", "origination_id", "channel_id", "other_channel_id")


def handle_from_payload(payload: Mapping[str, Any]) -> CallHandle:
    """The inverse of :func:`handle_payload`."""
    values = {
        name: _text_field(payload, name, optional=name.endswith("channel_id"))
        for name in _HANDLE_FIELDS
    }
    return CallHandle(**values)


# --------------------------------------------------------------------------- presence


class Presence(str, enum.Enum):
    """The retained ``state`` of a line (what a presence lamp shows)."""

    IDLE = "idle"
    RINGING = "ringing"  # a call is offered to the line
    DIALING = "dialing"  # the line dials out and nobody answered yet
    CONNECTED = "connected"  # a call is up (held and conferenced calls count)
    OUT_OF_SERVICE = "out-of-service"  # the gateway has no AMI connection (or stopped)

    def __str__(self) -> str:
        return str(self.value)


_RINGING = LineCallState.OFFERING | LineCallState.ACCEPTED
_DIALING = (
    LineCallState.DIALTONE
    | LineCallState.DIALING
    | LineCallState.RINGBACK
    | LineCallState.PROCEEDING
    | LineCallState.BUSY
    | LineCallState.SPECIALINFO
)
_ENDED = LineCallState.IDLE | LineCallState.DISCONNECTED
# The most telling state wins when a line has several calls.
_RANK = {Presence.IDLE: 0, Presence.DIALING: 1, Presence.RINGING: 2, Presence.CONNECTED: 3}


def _presence_of(state: LineCallState | None, originated: bool) -> Presence:
    if state is None:
        # No CALLSTATE yet: a NEWCALL on its own is an offered call, unless
        # the gateway's own make_call placed it (then the line is dialing).
        return Presence.DIALING if originated else Presence.RINGING
    if state & _ENDED:
        return Presence.IDLE
    if state & _RINGING:
        return Presence.RINGING
    if state & _DIALING:
        return Presence.DIALING
    return Presence.CONNECTED


def line_presence(line: str, calls: Iterable[TrackedCall], *, in_service: bool) -> Presence:
    """The presence of ``line`` given the live calls (a pure function of the tracker)."""
    if not in_service:
        return Presence.OUT_OF_SERVICE
    best = Presence.IDLE
    for call in calls:
        for name, state in zip(call.lines, call.states, strict=True):
            if name == line:
                here = _presence_of(state, call.action_id is not None)
                if _RANK[here] > _RANK[best]:
                    best = here
    return best
