"""A Python stand-in for the native TSP shim, for the tests that drive the bridge over loopback.

Frames are written by hand (little-endian length + JSON, docs/tsp.md) rather than with the
bridge's own encoder, so a test of the bridge does not check the bridge against itself.
"""

from __future__ import annotations

import asyncio
import json
import struct

from tapievent.tsp.protocol import FrameDecoder


def frame(obj: object) -> bytes:
    """One bridge-protocol frame: a 4-byte little-endian length, then the JSON body."""
    body = json.dumps(obj).encode()
    return struct.pack("<I", len(body)) + body


class Shim:
    """The shim's side of one bridge connection on a real loopback socket."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.decoder = FrameDecoder()

    async def send(self, **fields: object) -> None:
        self.writer.write(frame({"v": 1, **fields}))
        await self.writer.drain()

    async def recv(self) -> dict[str, object]:
        while (message := self.decoder.next_message()) is None:
            data = await asyncio.wait_for(self.reader.read(4096), 5)
            assert data, "bridge closed the connection"
            self.decoder.receive_data(data)
        return message
