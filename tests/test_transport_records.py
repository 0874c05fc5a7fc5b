"""Both transports stamp what they read: receive time, source, and the call records.

The asyncio and the blocking client take ``time.time()`` right after each
read and hand it to the Connection with the bytes, so every event of a
call the FakeAsterisk plays carries a time inside the test's window and
the ``source`` given to ``connect()``, and each line's ``CallRecord``
follows its IDLE.
"""

from __future__ import annotations

import asyncio
import time

from transport_support import LINES, client_options

from tapievent.model import CallRecord, CallState, Disposition, LineCallState, OutputEvent
from tapievent.testing import FakeAsterisk
from tapievent.transports import blocking
from tapievent.transports.aio import connect

BOB, BOBBETT = LINES


def check(events: list[OutputEvent], began: float, ended: float) -> None:
    assert all(e.time is not None and began <= e.time <= ended for e in events), events
    assert {e.source for e in events} == {"fake-pbx"}
    records = {e.line: e for e in events if isinstance(e, CallRecord)}
    assert set(records) == {BOB, BOBBETT}
    assert records[BOB].disposition is Disposition.ANSWERED
    assert records[BOBBETT].disposition is Disposition.ANSWERED_ELSEWHERE
    for i, event in enumerate(events):
        if isinstance(event, CallRecord):
            before = events[i - 1]
            assert isinstance(before, CallState) and before.state is LineCallState.IDLE
            assert before.line == event.line and before.time == event.end


def test_asyncio_client_stamps_time_source_and_records() -> None:
    async def scenario() -> tuple[list[OutputEvent], float, float]:
        async with FakeAsterisk() as fake:
            options = client_options(lines=LINES, source="fake-pbx")
            async with connect(fake.host, fake.port, **options) as client:
                began = time.time()
                await fake.inbound_call(list(LINES), answer_on=BOB)
                events: list[OutputEvent] = []
                stream = client.events().__aiter__()
                while sum(isinstance(e, CallRecord) for e in events) < 2:
                    events.append(await asyncio.wait_for(stream.__anext__(), 5))
                return events, began, time.time()

    check(*asyncio.run(asyncio.wait_for(scenario(), 20)))


def test_blocking_client_stamps_time_source_and_records() -> None:
    with FakeAsterisk.start_in_thread() as server:
        options = client_options(lines=LINES, source="fake-pbx")
        with blocking.connect(server.host, server.port, **options) as client:
            began = time.time()
            server.call(server.fake.inbound_call, list(LINES), answer_on=BOB)
            events: list[OutputEvent] = []
            while sum(isinstance(e, CallRecord) for e in events) < 2:
                event = client.get_event(5)
                assert event is not None, events
                events.append(event)
            check(events, began, time.time())
