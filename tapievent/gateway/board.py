"""The live calls as the published event stream tells them (pure, bounded).

The gateway's retained topics (each line's ``state``, the ``calls``
snapshot) are computed from this board, which is updated by the very
events the gateway publishes, in their order -- not from the client's
tracker, which is already ahead of the events still queued. So a retained
state never disagrees with the events published before it: a subscriber
that sees ``CallState CONNECTED`` on ``events`` also sees ``connected`` on
``state``, in that order.
"""

from __future__ import annotations

from collections import OrderedDict

from ..model import (
    CallerId,
    CallInfo,
    CallState,
    LineCallOrigin,
    LineCallState,
    LineDevState,
    LineDevStateFlag,
    NewCall,
    OutputEvent,
)
from ..tracker import TrackedCall
from .scheme import Presence, line_presence

__all__ = ["Board"]


class _Call:
    __slots__ = ("action_id", "caller_id", "lines", "origin")

    def __init__(self) -> None:
        self.lines: dict[str, LineCallState | None] = {}
        self.caller_id: CallerId | None = None
        self.origin = LineCallOrigin.UNKNOWN
        self.action_id: str | None = None


class Board:
    """Calls by key, in arrival order; at most ``max_calls`` (the oldest forgotten)."""

    def __init__(self, max_calls: int = 10000) -> None:
        self.max_calls = max_calls
        self.in_service = True
        self._calls: OrderedDict[str, _Call] = OrderedDict()

    def __len__(self) -> int:
        return len(self._calls)

    def apply(self, event: OutputEvent, action_id: str | None = None) -> None:
        """Update the board with one published event."""
        if isinstance(event, LineDevState):
            self.in_service = event.state != LineDevStateFlag.OUTOFSERVICE
            return
        if not isinstance(event, (NewCall, CallState, CallInfo)):
            return
        call = self._calls.get(event.call_key)
        if call is None:
            if isinstance(event, CallState) and event.state is LineCallState.IDLE:
                return
            call = self._calls[event.call_key] = _Call()
            while len(self._calls) > self.max_calls:
                self._calls.popitem(last=False)
        if action_id is not None:
            call.action_id = action_id
        if isinstance(event, NewCall):
            call.lines.setdefault(event.line, None)
            call.origin = event.origin
            call.caller_id = event.caller_id or call.caller_id
        elif isinstance(event, CallInfo):
            call.lines.setdefault(event.line, None)
            call.caller_id = event.caller_id or call.caller_id
        elif event.state is LineCallState.IDLE:
            call.lines.pop(event.line, None)
            if not call.lines:
                del self._calls[event.call_key]
        else:
            call.lines[event.line] = event.state

    def calls(self) -> tuple[TrackedCall, ...]:
        """The live calls, oldest first (``channel`` is not part of the stream: None)."""
        return tuple(
            TrackedCall(
                key,
                tuple(c.lines),
                tuple(c.lines.values()),
                c.caller_id,
                c.origin,
                None,
                c.action_id,
            )
            for key, c in self._calls.items()
        )

    def presence(self, line: str, *, online: bool = True) -> Presence:
        return line_presence(line, self.calls(), in_service=self.in_service and online)
