"""What the call tracker emits: the TAPI line events, and diagnostics.

One frozen value per TAPI message a line service provider sends
(LINE_NEWCALL, LINE_CALLSTATE, LINE_CALLINFO, LINE_LINEDEVSTATE), keyed by
line name and call key, with the tapi.h numbers of ``_tapi``; plus
:class:`Diagnostic`, the findings that are never exceptions. An adapter
(the TSP bridge, a CTI program) turns these into its own calls.
"""

from __future__ import annotations

import attrs

from ._callerid import CallerId
from ._tapi import LineCallInfoState, LineCallOrigin, LineCallState, LineDevStateFlag
from .ami_codec import Message

__all__ = ["CallInfo", "CallState", "Diagnostic", "LineDevState", "NewCall", "OutputEvent"]


@attrs.frozen(slots=True)
class NewCall:
    """A call appeared on ``line`` (TAPI LINE_NEWCALL, then OFFERING by the adapter)."""

    line: str
    call_key: str
    origin: LineCallOrigin = LineCallOrigin.UNKNOWN
    caller_id: CallerId | None = None


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


@attrs.frozen(slots=True)
class CallInfo:
    """Information about the call on ``line`` changed (TAPI LINE_CALLINFO)."""

    line: str
    call_key: str
    info_state: LineCallInfoState
    caller_id: CallerId | None = None


@attrs.frozen(slots=True)
class LineDevState:
    """A line device changed (TAPI LINE_LINEDEVSTATE); ``line`` None means every line."""

    line: str | None
    state: LineDevStateFlag


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


OutputEvent = NewCall | CallState | CallInfo | LineDevState | Diagnostic
"""Every value the tracker reports: the TAPI events and the diagnostics."""
