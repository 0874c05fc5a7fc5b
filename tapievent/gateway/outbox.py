"""What the gateway still has to publish: a bounded FIFO of events, a set of stale states.

Pure (no I/O, no clock). The policy, stated once here and in docs/mqtt.md:

* Events wait in a FIFO of at most ``size`` messages. An event leaves it
  only once the broker acknowledged it (QoS 1 PUBACK), so a broker that
  goes away mid-publish costs nothing: the event is published again on the
  next connection (at least once). When the FIFO is full -- the broker has
  been unreachable for that many events -- the **oldest** event is dropped
  and counted; :meth:`Outbox.take_dropped` hands the count to the gateway,
  which publishes it as a ``gateway-buffer-overflow`` diagnostic once the
  broker is back.
* A line's retained ``state`` is queued right after the event that changed
  it (``retain_key`` set), so states and events reach the broker in one
  order. Dropping one costs nothing: its key is marked stale, and on every
  (re)connection every retained topic is published again from the
  gateway's board (:meth:`Outbox.restart`).
* The other retained topics (the calls snapshot, the status) are never
  queued: only *that* they are stale is remembered, and their payload is
  computed when they are published, so they are always the newest truth.
"""

from __future__ import annotations

from collections import deque

import attrs

__all__ = ["Outbox", "Publication"]


@attrs.frozen(slots=True)
class Publication:
    """One event message; ``seq`` identifies it while it waits for its acknowledgement."""

    seq: int
    topic: str
    payload: bytes
    retain_key: str | None = None  # set for a retained state: its stale-set key


class Outbox:
    """Pending events (bounded, oldest dropped) and stale retained topics (a set)."""

    def __init__(self, size: int = 10000) -> None:
        if size < 1:
            raise ValueError("the outbox holds at least one event")
        self.size = size
        self._events: deque[Publication] = deque()
        self._stale: dict[str, None] = {}  # an ordered set of retained-topic keys
        self._seq = 0
        self.dropped = 0  # over the gateway's life
        self._unreported = 0

    def __len__(self) -> int:
        return len(self._events)

    def add_event(self, topic: str, payload: bytes, retain_key: str | None = None) -> None:
        """Queue one message; a full FIFO drops its oldest first (counted if an event)."""
        if len(self._events) >= self.size:
            lost = self._events.popleft()
            if lost.retain_key is None:
                self.dropped += 1
                self._unreported += 1
            else:
                self.mark_stale(lost.retain_key)
        self._seq += 1
        self._events.append(Publication(self._seq, topic, payload, retain_key))

    def restart(self, keys: list[str]) -> None:
        """A new broker connection: queued states are superseded by a full re-publish."""
        self._events = deque(p for p in self._events if p.retain_key is None)
        for key in keys:
            self.mark_stale(key)

    def peek_event(self) -> Publication | None:
        return self._events[0] if self._events else None

    def next_after(self, seq: int) -> Publication | None:
        """The oldest queued message newer than ``seq`` (the next one to send).

        The publisher keeps a window of messages in flight; those still
        waiting for their PUBACK are at the front, so this scans at most the
        window.
        """
        for publication in self._events:
            if publication.seq > seq:
                return publication
        return None

    def acknowledge(self, publication: Publication) -> None:
        """``publication`` reached the broker: forget it (unless overflow already did)."""
        if self._events and self._events[0].seq == publication.seq:
            self._events.popleft()

    def mark_stale(self, key: str) -> None:
        self._stale[key] = None

    def take_stale(self) -> str | None:
        """The oldest stale retained key, removed from the set (None when none)."""
        if not self._stale:
            return None
        key = next(iter(self._stale))
        del self._stale[key]
        return key

    @property
    def idle(self) -> bool:
        return not self._events and not self._stale

    def take_dropped(self) -> int:
        """Events dropped since the last call (to be reported once)."""
        count, self._unreported = self._unreported, 0
        return count
