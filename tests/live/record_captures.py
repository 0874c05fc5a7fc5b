"""Record new AMI captures from real Asterisk for the non-live replay tests.

Usage (from tests/): ``python -m live.record_captures [--version 18.26.4]``.
Writes ``tests/data/asterisk-18.26.4/live-*.{ami,timing.tsv,sent.txt}``
(22: ``asterisk-22.10.1-live/``) with :class:`RecordingProxy` (tapievent/recording.py)
between the client and the server: the ring group scenarios (six calls
side by side), the hostile and foreign caller ids, and click-to-dial on the
ChannelId path.
tests/test_live_captures.py replays them.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from tapievent.recording import RecordingProxy
from tapievent.transports.aio import AsyncClient, connect

from .calls import follow
from .kit import LINES, SECRET, USER, Instance, build
from .test_live_callerid import CALLERS, LATIN1_CID
from .test_live_scenarios import INBOUND
from .trunk import Trunk

DATA = Path(__file__).resolve().parents[1] / "data"

Scenario = Callable[[AsyncClient, Trunk], Awaitable[None]]


async def ringgroup(client: AsyncClient, trunk: Trunk) -> None:
    for number, (phones, give_up, _, _) in INBOUND.items():
        trunk.call(f'"Caller {number}" <{number}>', phones=phones, give_up_ms=give_up)
    await follow(client, len(INBOUND), timeout=25)


async def callerids(client: AsyncClient, trunk: Trunk) -> None:
    for cid, _ in CALLERS.values():
        trunk.call(cid, phones={"bob": "answer", "bobbett": "ring"}, hold=5)
    trunk.call(LATIN1_CID, phones={"bob": "answer", "bobbett": "ring"}, hold=5)
    await follow(client, len(CALLERS) + 1, timeout=25)


async def click_to_dial(client: AsyncClient, trunk: Trunk) -> None:
    await client.make_call(LINES[0], "5551234", context="tapi-outbound", channel=LINES[0])
    await client.make_call(LINES[1], "5550486", context="tapi-outbound", channel=LINES[1])
    await follow(client, 2, timeout=15)


SCENARIOS: dict[str, Scenario] = {
    "live-ringgroup": ringgroup,
    "live-callerids": callerids,
    "live-click-to-dial": click_to_dial,
}


def record(inst: Instance, name: str, scenario: Scenario) -> None:
    trunk = Trunk(inst.port)

    async def run(port: int) -> None:
        async with connect(
            "127.0.0.1", port, username=USER, secret=SECRET, lines=LINES, reconnect=False,
            keepalive_interval=None,
        ) as client:  # fmt: skip
            await scenario(client, trunk)

    try:
        with RecordingProxy(inst.port) as proxy:
            asyncio.run(run(proxy.port))
        (recording,) = proxy.recordings
        # The 22 corpus folder is pinned by the codec tests: new 22 captures go next to it.
        folder = "asterisk-22.10.1-live" if inst.major == 22 else f"asterisk-{inst.version}"
        recording.save(DATA / folder, name)
    finally:
        trunk.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", default="18.26.4", choices=["22.10.1", "18.26.4"])
    parser.add_argument("names", nargs="*", default=list(SCENARIOS))
    args = parser.parse_args(argv)
    inst = Instance(args.version, build(args.version))
    inst.start()
    try:
        for name in args.names:
            record(inst, name, SCENARIOS[name])
            print(f"recorded {name} on {args.version}")
    finally:
        inst.stop()
        inst.remove()
    return 0


if __name__ == "__main__":
    sys.exit(main())
