"""What the call tracker emits: the TAPI line events, and diagnostics.

One frozen value per TAPI message a line service provider sends
(LINE_NEWCALL, LINE_CALLSTATE, LINE_CALLINFO, LINE_LINEDEVSTATE), keyed by
line name and call key, with the tapi.h numbers of ``_tapi``; plus
:class:`Diagnostic`, the findings that are never exceptions. An adapter
(the TSP bridge, a CTI program) turns these into its own calls.

Every event also carries ``time`` (POSIX seconds, UTC: when the bytes that
caused it arrived, or the server's ``Timestamp:``; None when the runtime
passed no time) and ``source`` (the name of the PBX, ``""`` when unnamed).
Both are keyword-only and left out of equality: two events that say the
same thing about the same call are equal wherever and whenever they were
seen, so a test compares events by meaning (``CallState("bob", "1.1",
IDLE)`` equals the one the tracker stamped). :func:`stamped` gives them.
"""

from __future__ import annotations

from typing import TypeVar

import attrs

from ._callerid import CallerId
from ._records import CallRecord
from ._tapi import LineCallInfoState, LineCallOrigin, LineCallState, LineDevStateFlag
from .ami_codec import Message

__all__ = [
    "CallInfo",
    "CallState",
    "Diagnostic",
    "LineDevState",
    "NewCall",
    "OutputEvent",
]


@attrs.frozen(slots=True)
class NewCall:
    """A call appeared on ``line`` (TAPI LINE_NEWCALL, then OFFERING by the adapter)."""

    line: str
    call_key: str
    origin: LineCallOrigin = LineCallOrigin.UNKNOWN
    caller_id: CallerId | None = None
    time: float | None = attrs.field(default=None, eq=False, kw_only=True)
    source: str = attrs.field(default="", eq=False, kw_only=True)


@attrs.frozen(slots=True)
class CallState:
    """The call on ``line`` changed state (TAPI LINE_CALLSTATE).

    ``synthesized`` is True when tapievent made the event up to avoid a leak
    (Hangup safety net, reconcile, eviction) rather than the dialplan sending it.
    """

    line: str
    call_key: str
    state: LineCallState
    mode: int = 0
    synthesized: bool = False
    time: float | None = attrs.field(default=None, eq=False, kw_only=True)
    source: str = attrs.field(default="", eq=False, kw_only=True)


@attrs.frozen(slots=True)
class CallInfo:
    """Information about the call on ``line`` changed (TAPI LINE_CALLINFO)."""

    line: str
    call_key: str
    info_state: LineCallInfoState
    caller_id: CallerId | None = None
    time: float | None = attrs.field(default=None, eq=False, kw_only=True)
    source: str = attrs.field(default="", eq=False, kw_only=True)


@attrs.frozen(slots=True)
class LineDevState:
    """A line device changed (TAPI LINE_LINEDEVSTATE); ``line`` None means every line."""

    line: str | None
    state: LineDevStateFlag
    time: float | None = attrs.field(default=None, eq=False, kw_only=True)
    source: str = attrs.field(default="", eq=False, kw_only=True)


@attrs.frozen(slots=True)
class Diagnostic:
    """Something a dialplan author or operator should know; never an exception.

    ``code`` is a stable string (``untracked-call``, ``missing-idle``, ...)
    that tools can match on; tapievent itself passes
    :class:`~tapievent._diagnostics.DiagnosticCode` members, which are
    ``str``. ``frame`` is the AMI message it came from; it is left out of
    equality so tests can compare diagnostics by meaning.
    """

    code: str
    message: str
    call_key: str | None = None
    frame: Message | None = attrs.field(default=None, eq=False)
    time: float | None = attrs.field(default=None, eq=False, kw_only=True)
    source: str = attrs.field(default="", eq=False, kw_only=True)


LineEvent = NewCall | CallState | CallInfo | LineDevState | Diagnostic
"""The TAPI events and the diagnostics: every output event but the call record."""

OutputEvent = NewCall | CallState | CallInfo | LineDevState | Diagnostic | CallRecord
"""Every value the tracker reports: the TAPI events, the diagnostics and the call records."""

_E = TypeVar("_E", NewCall, CallState, CallInfo, LineDevState, Diagnostic)


def stamped(event: _E, time: float | None, source: str) -> _E:
    """``event`` with its ``time`` and ``source`` set (itself when they already are)."""
    if event.time == time and event.source == source:
        return event
    return attrs.evolve(event, time=time, source=source)
