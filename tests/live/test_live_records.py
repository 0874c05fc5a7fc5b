"""Call records on real Asterisk 22 and 18: ring and talk times as the dialplan waits them.

The phone ``bob`` rings for ``Wait(RING)``, answers and talks for
``Wait(TALK)`` (tests/live/kit.py); ``bobbett`` rings until bob answers.
The records of each call must say so within 0.5 s, from the receive times
the transport stamps (``time.time()`` when the bytes arrived).

The phones answer with ``Answer(,i)``: a plain ``Answer()`` on a ringing
channel waits up to 500 ms for the first media frame before the dialplan
goes on (main/channel.c, ``__ast_answer``), and Local channels carry none,
which would add those 0.5 s to every talk time.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from tapievent.model import CallDirection, CallRecord, Disposition, OutputEvent
from tapievent.transports.aio import connect

from .kit import LINES, SECRET, USER, Instance
from .trunk import Trunk

BOB, BOBBETT = LINES
TOLERANCE = 0.5

# caller number -> (bob's Wait before Answer, bob's Wait after it)
CALLS = {"0701": (2.0, 3.0), "0702": (1.0, 1.5), "0703": (3.0, 1.0)}


async def _records(inst: Instance, trunk: Trunk) -> tuple[list[CallRecord], float, float]:
    async with connect(
        "127.0.0.1", inst.port, username=USER, secret=SECRET, lines=LINES, reconnect=False,
        source="live-pbx",
    ) as client:  # fmt: skip
        began = time.time()
        for number, (ring, talk) in CALLS.items():
            trunk.call(
                f'"Timed {number}" <{number}>', phones={"bob": "answer", "bobbett": "ring"},
                variables={"__RING": str(ring), "__TALK": str(talk)},
            )  # fmt: skip
        found: list[CallRecord] = []
        events = client.events().__aiter__()
        deadline = time.monotonic() + 25
        while len(found) < 2 * len(CALLS) and time.monotonic() < deadline:
            event: OutputEvent = await asyncio.wait_for(events.__anext__(), 25)
            if isinstance(event, CallRecord):
                found.append(event)
        return found, began, time.time()


def test_records_time_the_ring_and_the_talk(asterisk: Instance, trunk: Trunk) -> None:
    found, began, ended = asyncio.run(_records(asterisk, trunk))
    assert len(found) == 2 * len(CALLS), found
    for number, (ring, talk) in CALLS.items():
        mine = [r for r in found if r.caller_id is not None and r.caller_id.number == number]
        by_line = {r.line: r for r in mine}
        assert set(by_line) == {BOB, BOBBETT}, mine
        bob, bobbett = by_line[BOB], by_line[BOBBETT]
        assert (bob.disposition, bobbett.disposition) == (
            Disposition.ANSWERED,
            Disposition.ANSWERED_ELSEWHERE,
        )
        assert bob.direction is CallDirection.INBOUND and bob.lines == (BOB, BOBBETT)
        assert bob.answered_by == BOB and not bob.synthesized and bob.source == "live-pbx"
        assert bob.ring_seconds == pytest.approx(ring, abs=TOLERANCE), (number, bob)
        assert bob.talk_seconds == pytest.approx(talk, abs=TOLERANCE), (number, bob)
        assert bobbett.ring_seconds == pytest.approx(ring, abs=TOLERANCE), (number, bobbett)
        assert bobbett.talk_seconds == 0.0
        assert bob.start is not None and bob.end is not None
        assert began <= bob.start <= bob.end <= ended


async def _recorded_call(inst: Instance, trunk: Trunk, port: int) -> list[CallRecord]:
    async with connect(
        "127.0.0.1", port, username=USER, secret=SECRET, lines=LINES, reconnect=False
    ) as client:
        trunk.call('"Stamped" <0799>', phones={"bob": "answer", "bobbett": "ring"})
        found: list[CallRecord] = []
        events = client.events().__aiter__()
        while len(found) < 2:
            event = await asyncio.wait_for(events.__anext__(), 20)
            if isinstance(event, CallRecord):
                found.append(event)
        return found


def test_the_servers_timestamp_wins(asterisk: Instance, trunk: Trunk) -> None:
    """With ``timestampevents = yes`` every event carries Asterisk's own
    ``Timestamp:``; the record's start is exactly the one of the NEWCALL's
    UserEvent, as the bytes recorded on the way show."""
    from tapievent import NEED_DATA, AMIDecoder, Message
    from tapievent.recording import RecordingProxy

    conf = asterisk.etc / "manager.conf"
    plain = conf.read_text()
    conf.write_text(plain.replace("[general]\n", "[general]\ntimestampevents = yes\n", 1))
    try:
        asterisk.cli("manager reload")
        with RecordingProxy(asterisk.port) as proxy:
            found = asyncio.run(_recorded_call(asterisk, trunk, proxy.port))
            received = bytes(proxy.recordings[0].received)
    finally:
        conf.write_text(plain)
        asterisk.cli("manager reload")
    decoder = AMIDecoder()
    decoder.receive_data(received)
    stamps = []
    while (frame := decoder.next_frame()) is not NEED_DATA:
        if isinstance(frame, Message) and (frame.get("TAPIEVENT") or "").endswith(
            f"LINE_NEWCALL {BOB}"
        ):
            stamps.append(frame.get("Timestamp"))
    (stamp,) = stamps
    assert stamp is not None
    bob = next(r for r in found if r.line == BOB)
    assert bob.start == float(stamp)
