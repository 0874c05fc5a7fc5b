"""The browser screen pop (examples/screenpop/) in a real headless Chromium.

The page, opened as a file, subscribes over mosquitto's WebSocket listener
with the shipped MQTT.js; FakeAsterisk rings the line and the page must
show the caller within a second; its dial box must make an Originate.
"""

from __future__ import annotations

import asyncio
import pathlib
import time
import urllib.parse

from cdp import Page, chromium
from mqtt_helpers import Mosquitto, gateway, run

from tapievent.testing import FakeAsterisk

PAGE = pathlib.Path(__file__).resolve().parent.parent / "examples" / "screenpop" / "index.html"


async def value_of(page: Page, expression: str) -> object:
    return await asyncio.to_thread(page.evaluate, expression)


async def until_page(page: Page, expression: str, timeout: float = 10) -> float:
    """Poll ``expression`` until true; the seconds it took."""
    start = time.monotonic()
    while not await value_of(page, expression):
        assert time.monotonic() - start < timeout, f"page never showed {expression}"
        await asyncio.sleep(0.02)
    return time.monotonic() - start


def text_of(element: str) -> str:
    return f"document.getElementById({element!r}).textContent"


def test_screen_pop_shows_the_caller_and_dials(tmp_path: pathlib.Path) -> None:
    async def scenario() -> None:
        with Mosquitto(tmp_path, websockets=True) as broker:
            query = urllib.parse.urlencode(
                {"ws": f"ws://127.0.0.1:{broker.ws_port}", "pbx": "office", "line": "Local/bob"}
            )
            url = f"{PAGE.as_uri()}?{query}"
            async with (
                FakeAsterisk(originate_line="Local/bob", call_duration=None) as pbx,
                gateway(pbx, broker),
            ):
                with chromium(tmp_path / "profile", url) as page:
                    await until_page(
                        page, "typeof mqtt === 'object' && document.readyState === 'complete'"
                    )
                    await value_of(page, "document.getElementById('connect').click()")
                    await until_page(page, f"{text_of('presence')} === 'idle'")
                    assert await value_of(page, "document.getElementById('pop').hidden") is True

                    await pbx.inbound_call(
                        ["Local/bob", "Local/bobbett"],
                        caller_id='"Zoë Caller" <5550300>',
                        answer_on=None,
                        ring_time=5,
                        hold=True,
                    )
                    took = await until_page(
                        page,
                        f"{text_of('caller-number')} === '5550300' && "
                        "!document.getElementById('pop').hidden",
                    )
                    assert took < 1.0, f"the screen pop took {took:.2f} s"
                    assert await value_of(page, text_of("caller-name")) == "Zoë Caller"
                    await until_page(page, f"{text_of('presence')} === 'ringing'")

                    await value_of(
                        page,
                        "document.getElementById('number').value = '+1 (555) 0100';"
                        "document.getElementById('dial').click()",
                    )
                    await until_page(page, f"{text_of('result')} === 'dialling'")
                    (originate,) = [a for a in pbx.actions if a.get("Action") == "Originate"]
                    assert originate.get("Exten") == "+15550100"

    run(scenario(), 60)
