"""Captures the live suite recorded from real Asterisk 18.26.4 and 22.10.1, replayed offline.

Recorded with tapievent/recording.py (``python -m live.record_captures`` from
tests/): the ring group printed by ``tapievent dialplan`` with Local-channel
phones. Each capture is fed in its recorded recv() chunks to AMIDecoder and
CallTracker, and what the TAPI application would see is checked per call.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tapievent.ami_codec import NEED_DATA, AMIDecoder, Banner, Message
from tapievent.model import CallerId, CallInfo, CallState, Diagnostic, NewCall, OutputEvent
from tapievent.tracker import CallTracker

DATA = Path(__file__).parent / "data"
LINES = ("Local/bob@phones", "Local/bobbett@phones")
BOB, BOBBETT = LINES
OFFER_IDLE = ["OFFERING", "IDLE"]


def _folder(version: str) -> Path:
    # The 22 corpus folder is pinned by the codec tests; new 22 captures live next to it.
    return DATA / (f"asterisk-{version}" if version != "22.10.1" else "asterisk-22.10.1-live")


def chunks(version: str, name: str) -> Iterator[bytes]:
    folder = _folder(version)
    data = (folder / f"{name}.ami").read_bytes()
    rows = (folder / f"{name}.timing.tsv").read_text().splitlines()
    assert rows[0] == "t_s\toffset\tlength"
    end = 0
    for row in rows[1:]:
        _, offset, length = row.split("\t")
        assert int(offset) == end  # the chunks tile the bytes
        end = int(offset) + int(length)
        yield data[int(offset) : end]
    assert end == len(data)


def sent_originates(version: str, name: str) -> list[dict[str, str]]:
    text = (_folder(version) / f"{name}.sent.txt").read_text()
    out = []
    for line in text.splitlines():
        _, _, message = line.partition(" ")
        headers = dict(h.split(": ", 1) for h in message.split("\\r\\n") if ": " in h)
        if headers.get("Action") == "Originate":
            out.append(headers)
    return out


def replay(version: str, name: str, tracker: CallTracker) -> dict[str, list[OutputEvent]]:
    """Outputs by call key; make_call is repeated from NAME.sent.txt after the banner."""
    decoder = AMIDecoder()
    calls: dict[str, list[OutputEvent]] = {}
    for chunk in chunks(version, name):
        decoder.receive_data(chunk)
        while (frame := decoder.next_frame()) is not NEED_DATA:
            assert isinstance(frame, Banner | Message)
            for event in tracker.handle(frame):
                key = getattr(event, "call_key", None)
                assert key is not None, event  # nothing went wrong outside a call
                calls.setdefault(key, []).append(event)
            if isinstance(frame, Banner):
                for sent in sent_originates(version, name):
                    tracker.make_call(
                        next(line for line in LINES if line == sent["Channel"]),
                        sent["Exten"],
                        context=sent["Context"],
                        channel=sent["Channel"],
                        action_id=sent["ActionID"],
                        channel_id=sent["ChannelId"],
                        other_channel_id=sent["OtherChannelId"],
                    )
    assert tracker.call_count == 0 and tracker.pending_count == 0
    return calls


def states(events: list[OutputEvent], line: str) -> list[str]:
    return [str(e.state.name) for e in events if isinstance(e, CallState) and e.line == line]


def caller(events: list[OutputEvent]) -> CallerId | None:
    infos = [e.caller_id for e in events if isinstance(e, CallInfo)]
    return infos[0] if infos else None


def by_number(calls: dict[str, list[OutputEvent]]) -> dict[str, list[OutputEvent]]:
    out = {}
    for events in calls.values():
        cid = caller(events)
        assert cid is not None and cid.number is not None
        out[cid.number] = events
    return out


RINGGROUP = {
    "0401": (["OFFERING", "CONNECTED", "IDLE"], ["OFFERING", "DISCONNECTED", "IDLE"]),
    "0402": (["OFFERING", "DISCONNECTED", "IDLE"], ["OFFERING", "CONNECTED", "IDLE"]),
    "0403": (OFFER_IDLE, OFFER_IDLE),  # no answer
    "0404": (OFFER_IDLE, OFFER_IDLE),  # busy
    "0405": (OFFER_IDLE, OFFER_IDLE),  # congestion
    "0406": (OFFER_IDLE, OFFER_IDLE),  # the caller gives up while ringing
}


def test_18_ring_group_scenarios() -> None:
    calls = by_number(replay("18.26.4", "live-ringgroup", CallTracker(LINES)))
    assert set(calls) == set(RINGGROUP)
    for number, (bob, bobbett) in RINGGROUP.items():
        events = calls[number]
        assert [e.line for e in events if isinstance(e, NewCall)] == [BOB, BOBBETT]
        assert states(events, BOB) == bob, number
        assert states(events, BOBBETT) == bobbett, number
        assert caller(events) == CallerId(f"Caller {number}", number)
        assert not [e for e in events if isinstance(e, Diagnostic)]


LONG = "Ab" * 100
CALLERIDS = {
    "0301234501": 'Quote "Q" Name',
    "0301234502": "Comma, Name",
    "0301234503": "Pipe|Name",
    "0301234504": "Semi;colon",
    "0301234505": "Back\\slash",
    "0301234506": LONG,
    "0301234507": "Zoë Ωmega",
    "0301234508": "TAPIEVENT: LINE_CALLSTATE LINECALLSTATE_IDLE",
    "0301234509": "${CALLERID(num)} $[1+1]",
    # Latin-1 'J\xf6rg M\xfcller': UserEvent cannot carry it, the fallback sends its ASCII.
    "0301234599": "Jrg Mller",
}


@pytest.mark.parametrize("version", ["18.26.4", "22.10.1"])
def test_hostile_and_foreign_caller_ids(version: str) -> None:
    calls = by_number(replay(version, "live-callerids", CallTracker(LINES)))
    assert set(calls) == set(CALLERIDS)
    for number, name in CALLERIDS.items():
        events = calls[number]
        assert caller(events) == CallerId(name, number), number
        assert states(events, BOB) == ["OFFERING", "CONNECTED", "IDLE"], number
        assert states(events, BOBBETT) == ["OFFERING", "DISCONNECTED", "IDLE"], number


def test_18_latin1_name_bytes_are_on_the_channel_headers() -> None:
    # What a tracker reading the channel's own headers would have: the bytes.
    data = (DATA / "asterisk-18.26.4" / "live-callerids.ami").read_bytes()
    assert b"CallerIDName: J\xf6rg M\xfcller\r\n" in data


def test_18_click_to_dial_channel_id_path() -> None:
    calls = replay("18.26.4", "live-click-to-dial", CallTracker(LINES))
    by_line = {
        e.line: events for events in calls.values() for e in events[:1] if isinstance(e, CallState)
    }
    assert len(calls) == 2 and set(by_line) == set(LINES)
    assert not [e for events in calls.values() for e in events if isinstance(e, NewCall)]
    assert states(by_line[BOB], BOB) == ["CONNECTED", "IDLE"]  # 5551234 answers
    assert states(by_line[BOBBETT], BOBBETT) == ["IDLE"]  # 5550486 is busy
