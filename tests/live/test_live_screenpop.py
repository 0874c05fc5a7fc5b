"""The browser screen pop (examples/screenpop/) against the real Asterisk of the live suite.

The same page as tests/test_mqtt_screenpop.py, in a real headless Chromium, over mosquitto's
WebSocket listener, fed by a gateway logged in to real Asterisk 22 or 18: a call placed through
the generated ring group must show its caller on the page within a second.
"""

from __future__ import annotations

import asyncio
import pathlib
import urllib.parse

from cdp import chromium
from mqtt_helpers import Mosquitto, gateway, run
from test_mqtt_screenpop import PAGE, text_of, until_page, value_of

from .kit import LINES, Instance
from .trunk import Trunk

BOB = LINES[0]


def test_screen_pop_shows_a_real_asterisk_caller(
    asterisk: Instance, trunk: Trunk, tmp_path: pathlib.Path
) -> None:
    async def scenario() -> None:
        with Mosquitto(tmp_path, websockets=True) as broker:
            query = urllib.parse.urlencode(
                {"ws": f"ws://127.0.0.1:{broker.ws_port}", "pbx": "office", "line": BOB}
            )
            async with gateway(asterisk, broker, list(LINES)):
                with chromium(tmp_path / "profile", f"{PAGE.as_uri()}?{query}") as page:
                    await until_page(
                        page, "typeof mqtt === 'object' && document.readyState === 'complete'"
                    )
                    await value_of(page, "document.getElementById('connect').click()")
                    await until_page(page, f"{text_of('presence')} === 'idle'")
                    assert await value_of(page, "document.getElementById('pop').hidden") is True
                    await asyncio.to_thread(
                        trunk.call,
                        '"Zo\u00eb Caller" <5550300>',
                        phones={"bob": "ring", "bobbett": "ring"},
                        give_up_ms=4000,
                    )
                    took = await until_page(
                        page,
                        f"{text_of('caller-number')} === '5550300' && "
                        "!document.getElementById('pop').hidden",
                    )
                    assert took < 1.0, f"the screen pop took {took:.2f} s"
                    assert await value_of(page, text_of("caller-name")) == "Zo\u00eb Caller"
                    await until_page(page, f"{text_of('presence')} === 'idle'", timeout=20)

    run(scenario(), 60)
    assert asterisk.wait_no_channels() == []
