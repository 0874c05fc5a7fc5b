"""The broker connection lost while the gateway connects or subscribes: it resumes at once.

aiomqtt's ``subscribe`` waits for its SUBACK until the client's timeout
(10 s) even when the connection is gone. The gateway awaited its
subscriptions before it read the connection, so a broker that stopped while
it subscribed left it publishing nothing until then. The broker-down tests
of ``test_gateway.py`` stop the broker as soon as the gateway is connected
and start it again a fraction of a second later: about one run in fifteen the
stop came between the gateway's SUBSCRIBE and its SUBACK, and the publishing
resumed 10 s after the SUBSCRIBE, 5 to 10 s after the restart. These tests put
the loss exactly there, on a real mosquitto, and want publishing back within
``RESUME``.
"""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
import time
from collections.abc import Callable
from functools import partial

import pytest
from mqtt_helpers import (
    CONNECT,
    LINES,
    RESUME,
    SUBSCRIBE,
    TOPICS,
    CuttingRelay,
    Mosquitto,
    gateway,
    run,
    subscriber,
    until,
)

from tapievent.gateway.runtime import Gateway
from tapievent.testing import FakeAsterisk


def test_connection_lost_while_subscribing(tmp_path: pathlib.Path) -> None:
    async def scenario() -> None:
        with Mosquitto(tmp_path) as broker:
            relay = CuttingRelay(broker.port, cut_on=SUBSCRIBE)
            async with (
                relay.running(),
                FakeAsterisk() as pbx,
                subscriber(broker, TOPICS.all_states, TOPICS.status) as seen,
                gateway(pbx, relay) as gw,
            ):
                await asyncio.wait_for(until(lambda: relay.cut_at is not None), 5)
                # Nothing of the first connection got through (its SUBSCRIBE was the
                # first packet after the CONNECT); all that is seen is the second's.
                await seen.wait(
                    lambda: (
                        all(seen.last_state(line) == "idle" for line in LINES)
                        and bool(seen.on(TOPICS.status))
                    ),
                    timeout=RESUME,
                )
                assert gw.broker_connections == 2
                assert seen.on(TOPICS.status)[-1]["status"] == "online"

    run(scenario())


def test_connection_lost_before_the_connack(tmp_path: pathlib.Path) -> None:
    """A broker that accepts the TCP connection and closes it: the next attempt comes at once."""

    async def scenario() -> None:
        with Mosquitto(tmp_path) as broker:
            relay = CuttingRelay(broker.port, cut_on=CONNECT)
            async with (
                relay.running(),
                FakeAsterisk() as pbx,
                subscriber(broker, TOPICS.status) as seen,
                gateway(pbx, relay) as gw,
            ):
                await asyncio.wait_for(until(lambda: relay.cut_at is not None), 5)
                await seen.wait(lambda: bool(seen.on(TOPICS.status)), timeout=RESUME)
                assert gw.broker_connections == 1
                assert seen.on(TOPICS.status)[-1]["status"] == "online"

    run(scenario())


def test_persistent_broker_restarted_while_subscribing(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Ten restarts of a persistent mosquitto, each the moment the gateway's connection is up.

    Each lands in the subscribe window: mosquitto's log (``log_type all``)
    showed, of the gateway's eleven connections, the first with no SUBSCRIBE
    received, the next nine with one of the two, and only the last with both.
    """

    async def scenario() -> None:
        with Mosquitto(tmp_path, persistence=True) as broker:
            async with FakeAsterisk() as pbx, gateway(pbx, broker) as gw:
                await asyncio.wait_for(until_now(lambda: gw.broker_connected), 5)
                for cycle in range(10):
                    # Everything is handed to the client; the SUBACKs are still to come.
                    back = gw.broker_connections + 1
                    broker.restart()
                    started = time.monotonic()
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(until_now(partial(_resumed, gw, back)), RESUME)
                    resumed = time.monotonic() - started
                    assert resumed < RESUME, f"restart {cycle}: nothing published for {resumed} s"
                await asyncio.sleep(0.1)  # the last PUBACKed message is stored
                async with subscriber(broker, TOPICS.all_states, TOPICS.status) as seen:
                    for line in LINES:
                        await seen.wait_last_state(line, "idle")
                    await seen.wait(lambda: bool(seen.on(TOPICS.status)))
                    assert seen.on(TOPICS.status)[-1]["status"] == "online"

    run(scenario(), timeout=60)
    # No traceback in the gateway's log for a broker restart (asyncio's "exception
    # in callback" or "never retrieved"): a restart is an expected fault.
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []


def _resumed(gw: Gateway, connections: int) -> bool:
    """The gateway is on its ``connections``-th connection and has handed everything over."""
    return gw.broker_connections >= connections and gw.outbox.idle


async def until_now(check: Callable[[], bool]) -> None:
    """Like ``until``, but looks again at every turn of the event loop, not every 10 ms."""
    while not check():
        await asyncio.sleep(0)
