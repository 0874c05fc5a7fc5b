"""Building the call records: one :class:`CallRecord` per line a call was on.

Theory of operation
===================

The builder watches the tracker's output, already in wire order, and keeps
a small sheet per call key (the lines offered, who answered first, when,
the caller id) and per line (when it started, its direction, what the
dialplan said about the ending). It needs nothing else because the tracker
never leaks a call: every line that got a ``NewCall`` later gets exactly
one IDLE (the dialplan's, or one synthesized by the Hangup safety net, the
reconcile after a reconnect or an eviction), and the record goes out right
after that IDLE. So there is exactly one record per ``NewCall``, and the
sheets live exactly as long as the tracker's calls.

A call the application made (``make_call``) gets no ``NewCall``: the
tracker tells the builder when the dialplan's NEWCALL attached it
(:meth:`RecordBuilder.attached`), and a line that gets a call state with no
sheet open (a refused or failed Originate) is opened then, as an
application call.

How a call ended on a line (:func:`disposition`), first match wins:

* the line went CONNECTED: ``answered``;
* DISCONNECTED with LINEDISCONNECTMODE_PICKUP (``LINECALLSTATE_HANGUP``),
  or another line answered first: ``answered-elsewhere``;
* LINECALLSTATE_BUSY, or the disconnect mode BUSY: ``busy``;
* mode NOANSWER: ``no-answer``; mode CONGESTION: ``congestion``;
* another disconnect mode that says the call could not be made
  (UNAVAIL, UNREACHABLE, BADADDRESS, REJECT, ...): ``failed``;
* no mode, but the AMI ``Hangup`` that ended the call has a cause that
  says so (17 busy, 18/19 no answer, 34/42 congestion, 1/3/21/27/38
  failed);
* otherwise nobody answered and nothing says why: the caller gave up,
  ``abandoned`` (mode NORMAL, CANCELLED, UNKNOWN or none).

No clock: the times are the events' own ``time``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from ._callerid import CallerId
from ._diagnostics import DiagnosticCode
from ._events import CallInfo, CallState, Diagnostic, LineEvent, NewCall, OutputEvent, stamped
from ._records import CallDirection, CallRecord, Disposition
from ._tapi import LineCallInfoState, LineCallOrigin, LineCallState, LineDisconnectMode
from .ami_codec import Message

__all__ = ["RecordBuilder", "disposition", "frame_time"]

_M = LineDisconnectMode
_MODE_DISPOSITION: Final[Mapping[int, Disposition]] = {
    _M.PICKUP: Disposition.ANSWERED_ELSEWHERE,
    _M.BUSY: Disposition.BUSY,
    _M.NOANSWER: Disposition.NO_ANSWER,
    _M.CONGESTION: Disposition.CONGESTION,
    _M.REJECT: Disposition.FAILED,
    _M.BADADDRESS: Disposition.FAILED,
    _M.UNREACHABLE: Disposition.FAILED,
    _M.INCOMPATIBLE: Disposition.FAILED,
    _M.UNAVAIL: Disposition.FAILED,
    _M.NODIALTONE: Disposition.FAILED,
    _M.NUMBERCHANGED: Disposition.FAILED,
    _M.OUTOFORDER: Disposition.FAILED,
    _M.TEMPFAILURE: Disposition.FAILED,
    _M.QOSUNAVAIL: Disposition.FAILED,
    _M.BLOCKED: Disposition.FAILED,
    _M.DONOTDISTURB: Disposition.FAILED,
}
"""LINEDISCONNECTMODE -> disposition; NORMAL, UNKNOWN, CANCELLED, FORWARDED are the caller's."""

_CAUSE_DISPOSITION: Final[Mapping[int, Disposition]] = {
    17: Disposition.BUSY,  # user busy
    18: Disposition.NO_ANSWER,  # no user responding
    19: Disposition.NO_ANSWER,  # no answer
    34: Disposition.CONGESTION,  # no circuit available
    42: Disposition.CONGESTION,  # switching equipment congestion
    1: Disposition.FAILED,  # unallocated number
    3: Disposition.FAILED,  # no route to destination
    21: Disposition.FAILED,  # call rejected
    27: Disposition.FAILED,  # destination out of order
    38: Disposition.FAILED,  # network out of order
}
"""Q.850 cause of the AMI ``Hangup`` that ended a call -> disposition (when no mode said)."""

_OUTBOUND_STATES: Final = frozenset(
    {
        LineCallState.DIALTONE,
        LineCallState.DIALING,
        LineCallState.PROCEEDING,
        LineCallState.RINGBACK,
    }
)
"""The states TAPI gives a call the line placed: seen first, the call is outbound."""

_CAUSE_CODES: Final = frozenset({DiagnosticCode.MISSING_IDLE, DiagnosticCode.MISSING_NEWCALL})
"""The diagnostics whose frame is the AMI ``Hangup`` that ended the call."""


def _stamp(event: LineEvent, time: float | None, source: str) -> LineEvent:
    # stamped() keeps the type; the union is one of its constraints at a time.
    if isinstance(event, CallState):
        return stamped(event, time, source)
    if isinstance(event, NewCall):
        return stamped(event, time, source)
    if isinstance(event, CallInfo):
        return stamped(event, time, source)
    if isinstance(event, Diagnostic):
        return stamped(event, time, source)
    return stamped(event, time, source)


def frame_time(frame: Message, default: float | None) -> float | None:
    """The server's ``Timestamp:`` of ``frame`` (``timestampevents=yes``), else ``default``.

    A value that is not a finite positive number of seconds is ignored: the
    receive time is a better answer than a wrong one.
    """
    text = frame.get("Timestamp")
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        return default
    return value if 0.0 < value < 1e11 else default


class _Line:
    """One line of a call, from its NewCall (or first event) to its IDLE."""

    __slots__ = ("connected", "decided", "direction", "mode", "start", "state_busy", "synthesized")

    def __init__(self, start: float | None, direction: CallDirection) -> None:
        self.start = start
        self.direction = direction
        self.decided = direction is not CallDirection.INBOUND  # outbound states can still say
        self.connected = False
        self.state_busy = False
        self.mode = 0
        self.synthesized = False


class _Sheet:
    """One call: the lines it was offered to, who answered first and when."""

    __slots__ = ("answer", "answered_by", "caller_id", "cause", "lines", "offered")

    def __init__(self) -> None:
        self.offered: tuple[str, ...] = ()
        self.lines: dict[str, _Line] = {}
        self.answer: float | None = None
        self.answered_by: str | None = None
        self.caller_id: CallerId | None = None
        self.cause: int | None = None


def disposition(
    line: str, sheet_answered_by: str | None, state: _Line, cause: int | None
) -> Disposition:
    """How the call ended on ``line`` (see the module's theory of operation)."""
    if state.connected:
        return Disposition.ANSWERED
    by_mode = _MODE_DISPOSITION.get(state.mode) if state.mode else None
    if by_mode is Disposition.ANSWERED_ELSEWHERE or (
        sheet_answered_by is not None and sheet_answered_by != line
    ):
        return Disposition.ANSWERED_ELSEWHERE
    if state.state_busy:
        return Disposition.BUSY
    if by_mode is not None:
        return by_mode
    if cause is not None and cause in _CAUSE_DISPOSITION:
        return _CAUSE_DISPOSITION[cause]
    return Disposition.ABANDONED


class RecordBuilder:
    """The sheets of one tracker's calls; turns its output into records (one per line)."""

    __slots__ = ("sheets",)

    def __init__(self) -> None:
        self.sheets: dict[str, _Sheet] = {}

    def finish(
        self,
        events: list[OutputEvent],
        frame: Message | None,
        time: float | None,
        source: str,
        attached: tuple[str, str] | None,
    ) -> list[OutputEvent]:
        """What the tracker returns for one input: ``events`` stamped, with the records.

        ``time`` is the receive time, ``frame``'s ``Timestamp:`` wins over it;
        ``attached`` is the (call key, line) of a ``make_call`` call the
        input's NEWCALL attached, if any.
        """
        if frame is not None:
            time = frame_time(frame, time)
        if attached is not None:
            # make_call's own call: no NewCall goes out, but its record starts now.
            self.attached(*attached, time)
        if not events:
            return events
        return self.observe(events, time, source)

    def attached(self, key: str, line: str, time: float | None) -> None:
        """The dialplan's NEWCALL on ``line`` attached the call ``make_call`` made."""
        self._open(key, line, time, CallDirection.APPLICATION)

    def observe(
        self, events: Iterable[OutputEvent], time: float | None, source: str
    ) -> list[OutputEvent]:
        """``events`` stamped with ``time`` and ``source``, each call's record after its end."""
        out: list[OutputEvent] = []
        stamp = time is not None or source != ""
        for event in events:
            if stamp and not isinstance(event, CallRecord):
                event = _stamp(event, time, source)
            out.append(event)
            if isinstance(event, CallState):
                record = self._call_state(event)
                if record is not None:
                    out.append(record)
            elif isinstance(event, NewCall):
                self._new_call(event)
            elif isinstance(event, CallInfo):
                self._call_info(event)
            elif isinstance(event, Diagnostic):
                self._diagnostic(event)
        return out

    # ------------------------------------------------------------------ per event

    def _open(self, key: str, line: str, time: float | None, direction: CallDirection) -> _Line:
        sheet = self.sheets.get(key)
        if sheet is None:
            sheet = self.sheets[key] = _Sheet()
        state = _Line(time, direction)
        sheet.lines[line] = state
        if line not in sheet.offered:
            sheet.offered += (line,)
        return state

    def _new_call(self, event: NewCall) -> None:
        direction = (
            CallDirection.OUTBOUND
            if event.origin == LineCallOrigin.OUTBOUND
            else CallDirection.INBOUND
        )
        self._open(event.call_key, event.line, event.time, direction)
        if event.caller_id is not None:
            self.sheets[event.call_key].caller_id = event.caller_id

    def _call_info(self, event: CallInfo) -> None:
        sheet = self.sheets.get(event.call_key)
        if sheet is not None and event.info_state & LineCallInfoState.CALLERID:
            sheet.caller_id = event.caller_id

    def _diagnostic(self, event: Diagnostic) -> None:
        if event.call_key is None or event.frame is None or event.code not in _CAUSE_CODES:
            return
        text = event.frame.get("Cause")
        if text is None or not text.strip().isdigit():
            return
        sheet = self.sheets.get(event.call_key)
        if sheet is None:
            # An originate that never got its NEWCALL: its line opens on the IDLE.
            sheet = self.sheets[event.call_key] = _Sheet()
        sheet.cause = int(text.strip())

    def _call_state(self, event: CallState) -> CallRecord | None:
        key, line = event.call_key, event.line
        sheet = self.sheets.get(key)
        state = None if sheet is None else sheet.lines.get(line)
        if state is None:
            # No NewCall on this line: the application's own call (make_call).
            state = self._open(key, line, event.time, CallDirection.APPLICATION)
            sheet = self.sheets[key]
        assert sheet is not None
        if event.synthesized:
            state.synthesized = True
        value = event.state
        if not state.decided:
            state.decided = True
            if value in _OUTBOUND_STATES:
                state.direction = CallDirection.OUTBOUND
        if value is LineCallState.CONNECTED:
            state.connected = True
            if sheet.answered_by is None:
                sheet.answered_by, sheet.answer = line, event.time
        elif value is LineCallState.BUSY:
            state.state_busy = True
        elif value is LineCallState.DISCONNECTED:
            state.mode = event.mode
        elif value is LineCallState.IDLE:
            return self._close(key, line, sheet, state, event)
        return None

    def _close(
        self, key: str, line: str, sheet: _Sheet, state: _Line, event: CallState
    ) -> CallRecord:
        del sheet.lines[line]
        if not sheet.lines:
            del self.sheets[key]
        return CallRecord(
            line,
            key,
            sheet.offered,
            sheet.answered_by,
            state.direction,
            disposition(line, sheet.answered_by, state, sheet.cause),
            sheet.caller_id,
            state.start,
            sheet.answer,
            event.time,
            state.synthesized,
            event.source,
            sheet.cause,
        )
