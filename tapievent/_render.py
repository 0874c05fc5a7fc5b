"""Turn tracker output events into text lines or JSON objects for the command line.

Shared by ``tapievent demo``, ``replay``, ``monitor`` and ``call`` so the
same event always reads the same way, whatever produced it.
"""

from __future__ import annotations

import contextlib
import enum
import json
from collections.abc import Callable
from typing import Any

import attrs

from .ami_codec import Message
from .model import (
    CallerId,
    CallInfo,
    CallState,
    Diagnostic,
    LineCallState,
    LineDevState,
    LineDisconnectMode,
    NewCall,
    OutputEvent,
)

__all__ = ["caller_id_text", "event_json", "event_text", "renderer"]

_LINE_WIDTH = 16


def caller_id_text(caller_id: CallerId | None) -> str:
    """``"Name" <number>`` as Asterisk writes ``${CALLERID(all)}``; ``-`` when unknown."""
    if caller_id is None or (caller_id.name is None and caller_id.number is None):
        return "-"
    if caller_id.name and caller_id.number:
        return f'"{caller_id.name}" <{caller_id.number}>'
    if caller_id.number:
        return f"<{caller_id.number}>"
    return f'"{caller_id.name}"'


def _flag_name(value: enum.Enum) -> str:
    return value.name if value.name else str(int(value.value))


def _state_text(event: CallState) -> str:
    text = _flag_name(event.state)
    if event.mode:
        if event.state is LineCallState.DISCONNECTED:
            try:
                mode = _flag_name(LineDisconnectMode(event.mode))
            except ValueError:
                mode = str(event.mode)
            if event.mode == LineDisconnectMode.PICKUP:
                mode += ", answered elsewhere"
        else:
            mode = f"mode {event.mode:#x}"
        text += f" ({mode})"
    if event.synthesized:
        text += " [synthesized by tapievent]"
    return text


def event_text(event: OutputEvent) -> str:
    """One human-readable line: line, kind, details, call."""
    if isinstance(event, NewCall):
        line, kind = event.line, "NEWCALL"
        detail = "new call"
        if event.caller_id is not None:
            detail += f" from {caller_id_text(event.caller_id)}"
    elif isinstance(event, CallInfo):
        line, kind = event.line, "CALLINFO"
        detail = f"caller id {caller_id_text(event.caller_id)}"
    elif isinstance(event, CallState):
        line, kind = event.line, "CALLSTATE"
        detail = _state_text(event)
    elif isinstance(event, LineDevState):
        return (
            f"{event.line or '(all lines)':<{_LINE_WIDTH}} LINEDEVSTATE {_flag_name(event.state)}"
        )
    else:
        text = f"{'diagnostic':<{_LINE_WIDTH}} {event.code}: {event.message}"
        if event.call_key:
            text += f"  (call {event.call_key})"
        return text
    return f"{line:<{_LINE_WIDTH}} {kind:<10} {detail}  (call {event.call_key})"


def _jsonable(value: Any) -> Any:
    if isinstance(value, str):
        return str(value)  # a str enum (DiagnosticCode) is its stable spelling
    if isinstance(value, enum.Enum):
        return _flag_name(value)
    if isinstance(value, CallerId):
        return {"name": value.name, "number": value.number}
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    return value


def event_dict(event: OutputEvent) -> dict[str, Any]:
    """The event's fields as JSON-ready values (enums by name, no AMI frame)."""
    out: dict[str, Any] = {"event": type(event).__name__}
    for field in attrs.fields(type(event)):
        value = getattr(event, field.name)
        if isinstance(value, Message):
            continue
        if field.name == "mode":
            # The raw LINE_CALLSTATE dwParam2, as TAPI would receive it.
            out["mode"] = int(value)
            continue
        out[field.name] = _jsonable(value)
    if isinstance(event, CallState) and event.state is LineCallState.DISCONNECTED and event.mode:
        with contextlib.suppress(ValueError):
            out["mode_name"] = _flag_name(LineDisconnectMode(event.mode))
    if isinstance(event, Diagnostic) and event.frame is not None:
        out["frame_event"] = event.frame.event
    return out


def event_json(event: OutputEvent) -> str:
    """One JSON object on one line (JSON Lines)."""
    return json.dumps(event_dict(event), ensure_ascii=False, sort_keys=False)


def renderer(fmt: str) -> Callable[[OutputEvent], str]:
    """The renderer a ``--format`` value names: ``"json"`` or (anything else) ``"text"``."""
    return event_json if fmt == "json" else event_text
