"""Following calls through the public API: the events of each call, by call key."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import attrs

from tapievent.model import (
    CallerId,
    CallInfo,
    CallState,
    Diagnostic,
    LineCallState,
    NewCall,
    OutputEvent,
)
from tapievent.transports.aio import AsyncClient


@attrs.define
class Timeline:
    """What the TAPI application saw of one call."""

    key: str
    events: list[OutputEvent] = attrs.field(factory=list)

    @property
    def lines(self) -> set[str | None]:
        return {e.line for e in self.events if isinstance(e, NewCall | CallState | CallInfo)}

    def states(self, line: str) -> list[str]:
        return [
            str(e.state.name) for e in self.events if isinstance(e, CallState) and e.line == line
        ]

    def caller_ids(self) -> list[CallerId | None]:
        out = [e.caller_id for e in self.events if isinstance(e, CallInfo)]
        return out + [e.caller_id for e in self.events if isinstance(e, NewCall) and e.caller_id]

    def diagnostics(self) -> list[str]:
        return [e.code for e in self.events if isinstance(e, Diagnostic)]

    @property
    def idle(self) -> bool:
        """Every line that saw the call has had its IDLE."""
        lines = {e.line for e in self.events if isinstance(e, NewCall | CallState)}
        return bool(lines) and all("IDLE" in self.states(line) for line in lines)


@attrs.define
class Seen:
    calls: dict[str, Timeline] = attrs.field(factory=dict)
    other: list[OutputEvent] = attrs.field(factory=list)

    def add(self, event: OutputEvent) -> None:
        key = getattr(event, "call_key", None)
        if key is None:
            self.other.append(event)
        else:
            self.calls.setdefault(key, Timeline(key)).events.append(event)

    def by_number(self, number: str) -> Timeline:
        for timeline in self.calls.values():
            if any(c is not None and c.number == number for c in timeline.caller_ids()):
                return timeline
        raise AssertionError(f"no call from {number!r} in {list(self.calls.values())}")

    def finished(self, count: int) -> bool:
        done = [t for t in self.calls.values() if t.idle]
        return len(done) >= count and all(t.idle for t in self.calls.values())


async def _next(events: AsyncIterator[OutputEvent], timeout: float) -> OutputEvent | None:
    try:
        return await asyncio.wait_for(events.__anext__(), timeout)
    except asyncio.TimeoutError:
        return None


async def follow(
    client: AsyncClient, count: int, *, timeout: float = 20.0, seen: Seen | None = None
) -> Seen:
    """Collect events until ``count`` calls have ended on every line (or timeout)."""
    seen = seen if seen is not None else Seen()
    events = client.events().__aiter__()
    deadline = time.monotonic() + timeout
    while not seen.finished(count):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        event = await _next(events, left)
        if event is None:
            break
        seen.add(event)
    return seen


IDLE = LineCallState.IDLE
