"""Tracker events -> bridge messages for one shim connection (sans-IO).

The TSP shim knows calls by small integer ids; the tracker knows them by
``(line, Asterisk unique id)``. :class:`ShimSession` keeps that mapping for
one connection and turns each output event into the messages of
``docs/tsp.md``. It has no clock and no I/O, so every rule below is tested
without a socket:

- ``NewCall`` on a line the shim exposes gets a fresh id and a ``new_call``
  (the shim answers with LINE_NEWCALL and then LINE_CALLSTATE OFFERING).
- ``CallState`` / ``CallInfo`` go to the call's id; IDLE forgets it. A state
  equal to the one last sent (the dialplan's own OFFERING right after
  NEWCALL) is not repeated, as TAPI applications expect.
- A call made with ``lineMakeCall`` gets its id from :meth:`bind_outbound`
  once the Originate is accepted. The tracker never reports such a call as a
  ``NewCall``; its states are recognised by the ``make_call`` ActionID. States
  that arrive while the Originate is still in flight are held (bounded) and
  released right after the reply, because TAPI forbids events for a call
  before its ASYNC_COMPLETION.
- ``LineDevState`` becomes ``line_state``; diagnostics are not sent (the
  bridge logs them).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable

import attrs

from ..model import (
    CallerId,
    CallInfo,
    CallState,
    LineCallInfoState,
    LineCallOrigin,
    LineCallState,
    LineDevState,
    LineMediaMode,
    LineOfferingMode,
    NewCall,
    OutputEvent,
)
from ..tracker import CallHandle, TrackedCall
from .protocol import message

__all__ = ["ShimCall", "ShimSession", "offered_origin"]

_VOICE = int(LineMediaMode.INTERACTIVEVOICE)
_OFFERING_ACTIVE = int(LineOfferingMode.ACTIVE)
_KEPT_ORIGINS = (LineCallOrigin.INTERNAL, LineCallOrigin.EXTERNAL, LineCallOrigin.INBOUND)


def offered_origin(origin: LineCallOrigin) -> int:
    """The LINECALLORIGIN a call offered to a line reports (LINECALLINFO dwOrigin).

    Screen-pop tools filter on INBOUND / INTERNAL / EXTERNAL, so UNKNOWN is
    never sent for a ``NewCall``: the tracker announces a call on a line only
    when something rings it, which makes it inbound there. A call this
    application originated (OUTBOUND) that rings another served line came from
    a station of this PBX, so it is INTERNAL on that line. Whether any other
    inbound call is internal or external the dialplan does not say, hence
    INBOUND, which TAPI defines as exactly that.
    """
    if origin in _KEPT_ORIGINS:
        return int(origin)
    if origin == LineCallOrigin.OUTBOUND:
        return int(LineCallOrigin.INTERNAL)
    return int(LineCallOrigin.INBOUND)


ActionIdOf = Callable[[str], "str | None"]


@attrs.define(slots=True)
class ShimCall:
    """One call as the shim knows it: its id, line, and how to address it in AMI.

    ``ref`` is what the tracker's ``hangup``/``redirect``/``send_digits``
    take: the unique id of an inbound call, the handle of an outbound one.
    """

    id: int
    line: str
    ref: str | CallHandle
    keys: set[str] = attrs.field(factory=set)
    state: tuple[int, int] | None = None


def clean_text(text: str | None) -> str | None:
    """Make caller-controlled text safe for the shim's JSON reader.

    The codec decodes AMI as UTF-8 with ``surrogateescape``; a Latin-1 caller
    name therefore holds lone surrogates, which are not Unicode. Re-read such
    bytes as Latin-1 (what old phones send), and drop NULs, which would cut a
    C string short.
    """
    if text is None:
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "surrogateescape")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
    return text.replace("\x00", "")


def _caller_fields(prefix: str, caller: CallerId | None) -> dict[str, object]:
    if caller is None:
        return {}
    return {
        f"{prefix}_number": clean_text(caller.number),
        f"{prefix}_name": clean_text(caller.name),
    }


class ShimSession:
    """The call-id mapping and event translation for one shim connection.

    ``lines`` are the line names the shim announced in its hello (events for
    other lines are not sent). ``max_calls`` bounds the mapping (the oldest
    call is forgotten past it); ``max_held`` bounds the states held for
    Originates still in flight.
    """

    def __init__(
        self, lines: Iterable[str] = (), *, max_calls: int = 1024, max_held: int = 64
    ) -> None:
        self.lines = frozenset(lines)
        self.max_calls = max_calls
        self.max_held = max_held
        self._next_id = 1
        self._calls: OrderedDict[int, ShimCall] = OrderedDict()
        self._by_key: dict[tuple[str, str], int] = {}
        self._by_action: dict[str, int] = {}
        self._held: OrderedDict[str, list[CallState | CallInfo]] = OrderedDict()

    # ------------------------------------------------------------------ lookups

    def call(self, call_id: int) -> ShimCall | None:
        """The call with this id, or None when unknown or already IDLE."""
        return self._calls.get(call_id)

    @property
    def call_count(self) -> int:
        """Calls the shim currently knows (bounded by ``max_calls``)."""
        return len(self._calls)

    # ------------------------------------------------------------------ events

    def on_event(self, event: OutputEvent, action_id_of: ActionIdOf) -> list[dict[str, object]]:
        """The messages for one tracker event. ``action_id_of`` is ``tracker.action_id_of``."""
        if isinstance(event, LineDevState):
            if event.line is not None and event.line not in self.lines:
                return []
            return [message("line_state", line=event.line, state=int(event.state))]
        if isinstance(event, NewCall):
            origin = offered_origin(event.origin)
            return self._new_call(event.line, event.call_key, event.caller_id, origin)
        if isinstance(event, (CallState, CallInfo)):
            if event.line not in self.lines:
                return []
            call_id = self._find(event.line, event.call_key, action_id_of)
            if call_id is None:
                action = action_id_of(event.call_key)
                if action is not None:
                    self._hold(action, event)
                return []
            return self._call_event(call_id, event)
        return []

    def announce(self, calls: Iterable[TrackedCall]) -> list[dict[str, object]]:
        """``new_call`` for every live call on our lines (a shim that just connected).

        The state sent is the call's current state on that line (OFFERING
        when the dialplan has not sent one yet). Calls this bridge originated
        are announced too: the new connection has no lineMakeCall for them.
        """
        out: list[dict[str, object]] = []
        for tracked in calls:
            for line, state in zip(tracked.lines, tracked.states, strict=True):
                if state == LineCallState.IDLE:
                    continue
                # A call this bridge originated keeps OUTBOUND (its own line is
                # announced too); anything else is offered, as for a NewCall.
                origin = tracked.origin
                kept = int(origin) if origin == LineCallOrigin.OUTBOUND else offered_origin(origin)
                out += self._new_call(line, tracked.call_key, tracked.caller_id, kept, state)
        return out

    def bind_outbound(
        self, line: str, handle: CallHandle, call_key: str | None, action_id_of: ActionIdOf
    ) -> tuple[int, list[dict[str, object]]]:
        """Give a new id to the call ``lineMakeCall`` started; return it and the held messages.

        Send the reply carrying the id first, then the returned messages.
        """
        call_id = self._allocate(line, handle)
        self._by_action[handle.action_id] = call_id
        for key in (handle.origination_id, handle.channel_id, call_key):
            if key is not None:
                self._map_key(call_id, line, key)
        out: list[dict[str, object]] = []
        for event in self._held.pop(handle.action_id, []):
            found = self._find(event.line, event.call_key, action_id_of)
            if found == call_id:
                out += self._call_event(call_id, event)
        return call_id, out

    def forget(self, call_id: int) -> None:
        """Drop a call id (the shim closed the call or refused its LINE_NEWCALL)."""
        call = self._calls.pop(call_id, None)
        if call is None:
            return
        for key in call.keys:
            self._by_key.pop((call.line, key), None)
        if isinstance(call.ref, CallHandle):
            self._by_action.pop(call.ref.action_id, None)

    # ------------------------------------------------------------------ internals

    def _new_call(
        self,
        line: str,
        key: str,
        caller: CallerId | None,
        origin: int,
        state: LineCallState | None = None,
    ) -> list[dict[str, object]]:
        if line not in self.lines or (line, key) in self._by_key:
            return []
        call_id = self._allocate(line, key)
        self._map_key(call_id, line, key)
        if state is None or state == LineCallState.OFFERING:
            state_value, mode = int(LineCallState.OFFERING), _OFFERING_ACTIVE
        else:
            state_value, mode = int(state), 0
        self._calls[call_id].state = (state_value, mode)
        return [
            message(
                "new_call",
                call=call_id,
                line=line,
                state=state_value,
                mode=mode,
                media_mode=_VOICE,
                origin=origin,
                **_caller_fields("caller", caller),
            )
        ]

    def _call_event(self, call_id: int, event: CallState | CallInfo) -> list[dict[str, object]]:
        if isinstance(event, CallState):
            call = self._calls[call_id]
            last = call.state
            if last is not None and last[0] == event.state and event.mode in (0, last[1]):
                return []  # the dialplan repeated the state the shim already reported
            call.state = (int(event.state), int(event.mode))
            out = [
                message(
                    "call_state",
                    call=call_id,
                    state=int(event.state),
                    mode=int(event.mode),
                    media_mode=_VOICE,
                )
            ]
            if event.state == LineCallState.IDLE:
                self.forget(call_id)
            return out
        prefix = "connected" if event.info_state & LineCallInfoState.CONNECTEDID else "caller"
        return [
            message(
                "call_info",
                call=call_id,
                info_state=int(event.info_state),
                **_caller_fields(prefix, event.caller_id),
            )
        ]

    def _find(self, line: str, key: str, action_id_of: ActionIdOf) -> int | None:
        call_id = self._by_key.get((line, key))
        if call_id is not None:
            return call_id
        action = action_id_of(key)
        call_id = self._by_action.get(action) if action is not None else None
        if call_id is not None and self._calls[call_id].line == line:
            self._map_key(call_id, line, key)
            return call_id
        return None

    def _allocate(self, line: str, ref: str | CallHandle) -> int:
        while len(self._calls) >= self.max_calls:
            self.forget(next(iter(self._calls)))
        call_id = self._next_id
        self._next_id = self._next_id % 0x7FFFFFFF + 1
        self._calls[call_id] = ShimCall(id=call_id, line=line, ref=ref)
        return call_id

    def _map_key(self, call_id: int, line: str, key: str) -> None:
        self._calls[call_id].keys.add(key)
        self._by_key[(line, key)] = call_id

    def _hold(self, action: str, event: CallState | CallInfo) -> None:
        held = self._held.setdefault(action, [])
        self._held.move_to_end(action)
        if len(held) < self.max_held:
            held.append(event)
        while len(self._held) > self.max_held:
            self._held.popitem(last=False)
