"""The ring group and click-to-dial on real Asterisk 22 and 18, through the public API.

The dialplan is what ``tapievent dialplan`` prints for the ring group
``Local/bob@phones`` + ``Local/bobbett@phones``; the phones answer, ring,
are busy or congested as each call tells them (tests/live/kit.py).
Independent calls run side by side on one connection, told apart by their
caller's number.
"""

from __future__ import annotations

import asyncio

import pytest

from tapievent import LocalProtocolError
from tapievent.model import CallState, LineCallState, NewCall
from tapievent.transports.aio import AsyncClient, _Connector, connect

from .calls import Seen, follow
from .kit import LINES, SECRET, TRUNK, USER, Instance
from .trunk import Trunk

BOB, BOBBETT = LINES
OUT = "tapi-outbound"
assert TRUNK == "Local/${EXTEN}@far"

# number -> (what the phones do, how long the caller waits for an answer in ms,
#            bob's states, bobbett's states)
INBOUND: dict[str, tuple[dict[str, str], int, list[str], list[str]]] = {
    "0401": ({"bob": "answer", "bobbett": "ring"}, 20000,
             ["OFFERING", "CONNECTED", "IDLE"], ["OFFERING", "DISCONNECTED", "IDLE"]),
    "0402": ({"bob": "ring", "bobbett": "answer"}, 20000,
             ["OFFERING", "DISCONNECTED", "IDLE"], ["OFFERING", "CONNECTED", "IDLE"]),
    "0403": ({"bob": "noanswer", "bobbett": "noanswer"}, 20000,
             ["OFFERING", "IDLE"], ["OFFERING", "IDLE"]),
    "0404": ({"bob": "busy", "bobbett": "busy"}, 20000,
             ["OFFERING", "IDLE"], ["OFFERING", "IDLE"]),
    "0405": ({"bob": "congest", "bobbett": "congest"}, 20000,
             ["OFFERING", "IDLE"], ["OFFERING", "IDLE"]),
    "0406": ({"bob": "ring", "bobbett": "ring"}, 1500,
             ["OFFERING", "IDLE"], ["OFFERING", "IDLE"]),
}  # fmt: skip


def client_for(inst: Instance) -> _Connector:
    return connect(
        "127.0.0.1", inst.port, username=USER, secret=SECRET, lines=LINES, reconnect=False
    )


def test_inbound_ring_group_scenarios(asterisk: Instance, trunk: Trunk) -> None:
    async def run() -> tuple[Seen, int]:
        async with connect(
            "127.0.0.1", asterisk.port, username=USER, secret=SECRET, lines=LINES,
            reconnect=False,
        ) as client:  # fmt: skip
            for number, (phones, give_up, _, _) in INBOUND.items():
                trunk.call(f'"Caller {number}" <{number}>', phones=phones, give_up_ms=give_up)
            seen = await follow(client, len(INBOUND), timeout=25)
            return seen, client.tracker.call_count

    seen, left = asyncio.run(run())
    for number, (_, _, bob, bobbett) in INBOUND.items():
        call = seen.by_number(number)
        assert call.states(BOB) == bob, (number, call)
        assert call.states(BOBBETT) == bobbett, (number, call)
        new = [e for e in call.events if isinstance(e, NewCall)]
        assert [e.line for e in new] == [BOB, BOBBETT]
        assert call.diagnostics() == [], (number, call)
    assert len(seen.calls) == len(INBOUND)
    assert left == 0
    assert asterisk.wait_no_channels() == []


async def _dial(client: AsyncClient, number: str) -> Seen:
    handle = await client.make_call(BOB, number, context=OUT, channel=BOB)
    key = client.tracker.call_key_of(handle)  # known at once on the ChannelId path only
    assert (key is not None) == client.tracker.uses_channel_id()
    seen = await follow(client, 1, timeout=15)
    assert len(seen.calls) == 1 and key in (None, *seen.calls)
    assert client.tracker.call_count == 0 and client.tracker.pending_count == 0
    return seen


@pytest.mark.parametrize(
    ("number", "states"),
    [
        ("5551234", ["CONNECTED", "IDLE"]),  # the far end answers
        ("5550486", ["IDLE"]),  # busy
        ("5559", ["IDLE"]),  # no such number at the far end
    ],
)
def test_click_to_dial_channel_id_path(asterisk: Instance, number: str, states: list[str]) -> None:
    async def run() -> Seen:
        async with client_for(asterisk) as client:
            assert client.tracker.uses_channel_id()
            return await _dial(client, number)

    (call,) = asyncio.run(run()).calls.values()
    assert call.states(BOB) == states
    # make_call's own NEWCALL is not reported as a new call
    assert not [e for e in call.events if isinstance(e, NewCall)]
    assert call.diagnostics() == []


def test_click_to_dial_forced_varset_path(asterisk: Instance) -> None:
    """A banner from before ChannelId (AMI 2.4.0, Asterisk 12) makes the client
    tag the Originate with a Variable and match the VarSet."""
    from tapievent.recording import RecordingProxy

    async def run(port: int) -> Seen:
        async with connect(
            "127.0.0.1", port, username=USER, secret=SECRET, lines=LINES, reconnect=False
        ) as client:
            assert not client.tracker.uses_channel_id()
            return await _dial(client, "5551234")

    with RecordingProxy(asterisk.port, banner=b"Asterisk Call Manager/2.4.0") as proxy:
        (call,) = asyncio.run(run(proxy.port)).calls.values()
        sent = proxy.recordings[0].sent_text()
    assert call.states(BOB) == ["CONNECTED", "IDLE"]
    assert "TAPIEVENT_ORIGINATE" in sent and "ChannelId" not in sent


def test_hangup_redirect_and_digits_on_live_calls(asterisk: Instance, trunk: Trunk) -> None:
    async def run() -> tuple[Seen, list[str]]:
        async with client_for(asterisk) as client:
            for number in ("0501", "0502", "0503"):
                # bob answers and talks long enough for the action
                trunk.call(
                    f"<{number}>", phones={"bob": "answer", "bobbett": "ring"},
                    variables={"__TALK": "8"},
                )  # fmt: skip
            seen = Seen()
            connected: dict[str, str] = {}
            events = client.events().__aiter__()
            while len(connected) < 3:
                event = await asyncio.wait_for(events.__anext__(), 15)
                seen.add(event)
                if isinstance(event, CallState) and event.state is LineCallState.CONNECTED:
                    caller = seen.calls[event.call_key].caller_ids()[0]
                    assert caller is not None and caller.number is not None
                    connected[caller.number] = event.call_key
            done = []
            if (await client.hangup(connected["0501"])).ok:
                done.append("hangup")
            if (await client.redirect(connected["0502"], context="parking", exten="700")).ok:
                done.append("redirect")
            if (await client.send_digits(connected["0503"], "12#")).ok:
                done.append("digits")
            with pytest.raises(LocalProtocolError, match="not tracked"):  # it is over
                await client.hangup(connected["0501"])
            await follow(client, 3, timeout=20, seen=seen)
            return seen, done

    seen, done = asyncio.run(run())
    assert done == ["hangup", "redirect", "digits"]
    for number in ("0501", "0502", "0503"):
        call = seen.by_number(number)
        assert call.states(BOB)[-2:] == ["CONNECTED", "IDLE"], (number, call)
    assert asterisk.wait_no_channels() == []
