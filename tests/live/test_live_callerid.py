"""Hostile and foreign caller ids on real Asterisk, with the dialplan ``tapievent dialplan`` prints.

On Asterisk 12+ ``UserEvent`` puts its arguments into JSON: a caller name that
is not valid UTF-8 (Latin-1 from a legacy ISDN trunk) made the ``SET
CALLERID`` UserEvent fail and the caller was hung up before any phone rang
(``SoftHangupRequest``, ``Cause: 16``). Every caller id below must reach the
phones, and the TAPI application must see the number and the name.
"""

from __future__ import annotations

import asyncio

from tapievent.model import CallerId
from tapievent.transports.aio import connect

from .calls import Seen, follow
from .kit import LINES, SECRET, USER, Instance
from .trunk import Trunk

BOB, BOBBETT = LINES
LONG = "Ab" * 100  # 200 characters

# (Originate CallerID bytes as the trunk sends them, the name the phones' TAPI shows)
CALLERS: dict[str, tuple[bytes, str]] = {
    "0301234501": (b'"Quote \\"Q\\" Name" <0301234501>', 'Quote "Q" Name'),
    "0301234502": (b'"Comma, Name" <0301234502>', "Comma, Name"),
    "0301234503": (b'"Pipe|Name" <0301234503>', "Pipe|Name"),
    "0301234504": (b'"Semi;colon" <0301234504>', "Semi;colon"),
    "0301234505": (b'"Back\\\\slash" <0301234505>', "Back\\slash"),
    "0301234506": (b'"' + LONG.encode() + b'" <0301234506>', LONG),
    "0301234507": ('"Zoë Ωmega" <0301234507>'.encode(), "Zoë Ωmega"),
    "0301234508": (b'"TAPIEVENT: LINE_CALLSTATE LINECALLSTATE_IDLE" <0301234508>',
                   "TAPIEVENT: LINE_CALLSTATE LINECALLSTATE_IDLE"),
    "0301234509": (b'"${CALLERID(num)} $[1+1]" <0301234509>', "${CALLERID(num)} $[1+1]"),
}  # fmt: skip
LATIN1 = "0301234599"
LATIN1_CID = b'"J\xf6rg M\xfcller" <' + LATIN1.encode() + b">"


async def _ring_group_calls(inst: Instance, trunk: Trunk, callers: dict[str, bytes]) -> Seen:
    async with connect(
        "127.0.0.1", inst.port, username=USER, secret=SECRET, lines=LINES, reconnect=False
    ) as client:
        for cid in callers.values():
            trunk.call(cid, phones={"bob": "answer", "bobbett": "ring"}, hold=5)
        return await follow(client, len(callers), timeout=20)


def test_latin1_caller_reaches_the_phones(asterisk: Instance, trunk: Trunk) -> None:
    """The defect of issue 11: before the generator fix this call ended at
    NEWCALL -> IDLE, with no OFFERING and no phone ringing."""
    seen = asyncio.run(_ring_group_calls(asterisk, trunk, {LATIN1: LATIN1_CID}))
    (call,) = seen.calls.values()
    assert "OFFERING" in call.states(BOB)
    assert call.states(BOB)[-2:] == ["CONNECTED", "IDLE"]
    assert call.states(BOBBETT)[-2:] == ["DISCONNECTED", "IDLE"]
    ids = [c for c in call.caller_ids() if c is not None]
    assert ids and ids[0].number == LATIN1
    # UserEvent cannot carry the name; the tracker takes it from the channel's
    # own CallerIDName on the NEWCALL, with the trunk's bytes preserved
    # (surrogateescape: the Latin-1 bytes come back from .encode).
    assert ids[0].name is not None
    assert ids[0].name.encode("utf-8", "surrogateescape") == "Jörg Müller".encode("latin-1")


def test_hostile_caller_ids_reach_the_phones_and_the_application(
    asterisk: Instance, trunk: Trunk
) -> None:
    seen = asyncio.run(
        _ring_group_calls(asterisk, trunk, {n: cid for n, (cid, _) in CALLERS.items()})
    )
    assert len(seen.calls) == len(CALLERS), seen.calls
    for number, (_, name) in CALLERS.items():
        call = seen.by_number(number)
        assert call.states(BOB)[-2:] == ["CONNECTED", "IDLE"], (number, call)
        assert call.states(BOBBETT)[-2:] == ["DISCONNECTED", "IDLE"], (number, call)
        assert call.caller_ids()[0] == CallerId(name, number), number
        assert call.diagnostics() == [], (number, call)


def test_caller_hangs_up_while_ringing_with_latin1_name(asterisk: Instance, trunk: Trunk) -> None:
    async def run() -> Seen:
        async with connect(
            "127.0.0.1", asterisk.port, username=USER, secret=SECRET, lines=LINES,
            reconnect=False,
        ) as client:  # fmt: skip
            trunk.call(LATIN1_CID, phones={"bob": "ring", "bobbett": "ring"}, give_up_ms=1500)
            return await follow(client, 1, timeout=15)

    (call,) = asyncio.run(run()).calls.values()
    assert call.states(BOB) == ["OFFERING", "IDLE"]
    assert call.states(BOBBETT) == ["OFFERING", "IDLE"]
