"""The loopback link's authentication: a shim without the per-install token is refused.

On a shared RDS/Citrix machine any user can connect to 127.0.0.1:5070; only a
hello carrying ``LinkToken`` (readable by the service accounts and
administrators alone) gets a session.
"""

from __future__ import annotations

import asyncio

import pytest
from test_tsp_bridge import FakePort
from tsp_shim import Shim

from tapievent.tsp import Bridge
from tapievent.tsp.protocol import Hello, parse_request
from tapievent.tsp.registry import TspSettings, bridge_config

TOKEN = "5f1c" * 16


async def _hello(bridge: Bridge, **extra: object) -> tuple[dict[str, object], bytes]:
    shim = Shim(*await asyncio.open_connection("127.0.0.1", bridge.port))
    await shim.send(type="hello", shim="test", tspi_version=0x20002, lines=["bob"], **extra)
    first = await shim.recv()
    await shim.send(type="make_call", id=1, line="bob", destination="100")
    rest = await asyncio.wait_for(shim.reader.read(), 5) if first["type"] == "error" else b""
    shim.writer.close()
    return first, rest


@pytest.mark.parametrize("extra", [{}, {"token": "guess"}, {"token": TOKEN[:-1]}])
def test_a_hello_without_the_token_is_refused_and_the_link_closed(
    extra: dict[str, object],
) -> None:
    async def scenario() -> None:
        port = FakePort()
        bridge = Bridge(port, port=0, link_token=TOKEN)
        await bridge.start()
        first, rest = await _hello(bridge, **extra)
        assert first == {
            "v": 1,
            "type": "error",
            "message": "hello refused: wrong or missing link token",
        }
        assert rest == b""  # closed: the make_call after it was never served
        assert port.log == []
        await bridge.close()

    asyncio.run(scenario())


def test_the_right_token_gets_a_session() -> None:
    async def scenario() -> None:
        port = FakePort()
        bridge = Bridge(port, port=0, link_token=TOKEN)
        await bridge.start()
        first, _ = await _hello(bridge, token=TOKEN)
        assert first == {"v": 1, "type": "welcome", "in_service": True}
        await bridge.close()

    asyncio.run(scenario())


def test_the_token_comes_from_the_key_and_stays_out_of_reprs() -> None:
    config = bridge_config(TspSettings(username="tapi", link_token=TOKEN), "secret")
    assert config.link_token == TOKEN
    assert TOKEN not in repr(config)
    assert TOKEN not in repr(TspSettings(link_token=TOKEN))
    hello = parse_request(
        {"v": 1, "type": "hello", "shim": "x", "tspi_version": 1, "lines": [], "token": TOKEN}
    )
    assert isinstance(hello, Hello) and hello.token == TOKEN and TOKEN not in repr(hello)
