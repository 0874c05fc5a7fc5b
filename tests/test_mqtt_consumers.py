"""Consumers of the broker: the Windows TSP bridge and ``tapievent monitor --mqtt``.

The bridge runs unchanged on :class:`~tapievent.gateway.consumer.MqttPort`
(its ``AmiPort``), so a desktop's TSP needs broker credentials only.
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import signal
import subprocess
import sys

import tsp_shim
from mqtt_helpers import RESUME, SUBSCRIBE, CuttingRelay, Mosquitto, gateway, run, until

from tapievent.gateway.broker import BrokerSettings
from tapievent.gateway.consumer import GatewayRequestError, MqttPort
from tapievent.testing import FakeAsterisk
from tapievent.tsp.bridge import AmiPort, Bridge


class Shim(tsp_shim.Shim):
    """The shared stand-in for the native shim, waiting for one kind of message."""

    async def until(self, kind: str, **fields: object) -> dict[str, object]:
        while True:
            message = await self.recv()
            if message["type"] == kind and all(message.get(k) == v for k, v in fields.items()):
                return message


def test_tsp_bridge_with_the_broker_as_its_source(tmp_path: pathlib.Path) -> None:
    async def scenario() -> None:
        with Mosquitto(tmp_path) as broker:
            async with (
                FakeAsterisk(originate_line="Local/bob", call_duration=None) as pbx,
                gateway(pbx, broker),
                MqttPort(
                    BrokerSettings("127.0.0.1", broker.port), pbx="office", lines=["Local/bob"]
                ) as port,
            ):
                source: AmiPort = port  # the bridge's protocol, statically checked
                await until(lambda: port.in_service)
                bridge = Bridge(source, port=0)
                await bridge.start()
                pump = asyncio.ensure_future(bridge.run())
                shim = Shim(*await asyncio.open_connection("127.0.0.1", bridge.port))
                await shim.send(type="hello", shim="t", tspi_version=0x20002, lines=["Local/bob"])
                assert await shim.recv() == {"v": 1, "type": "welcome", "in_service": True}
                await pbx.inbound_call(
                    ["Local/bob"], caller_id='"Carol" <5550300>', answer_on="Local/bob", hold=True
                )
                new = await shim.until("new_call")
                await shim.until("call_state", call=new["call"], state=0x100)  # CONNECTED
                # A shim that connects now hears of the call from the retained state.
                late = Shim(*await asyncio.open_connection("127.0.0.1", bridge.port))
                await late.send(type="hello", shim="t", tspi_version=0x20002, lines=["Local/bob"])
                await late.until("welcome")
                announced = await late.until("new_call")
                assert announced["caller_number"] == "5550300"
                late.writer.close()
                await shim.send(type="drop", id=1, call=new["call"])
                assert await shim.until("reply", id=1) == {
                    "v": 1, "type": "reply", "id": 1, "result": 0
                }  # fmt: skip
                assert [a.get("Action") for a in pbx.actions].count("Hangup") == 1
                await shim.send(type="make_call", id=2, line="Local/bob", destination="555 0100")
                made = await shim.until("reply", id=2)
                assert made["result"] == 0
                (originate,) = [a for a in pbx.actions if a.get("Action") == "Originate"]
                assert originate.get("Exten") == "5550100"
                await shim.send(type="drop", id=3, call=made["call"])
                assert (await shim.until("reply", id=3))["result"] == 0
                # The gateway going away is the line going out of service.
                await pbx.kill()
                assert (await shim.until("line_state"))["state"] == 0x80  # OUTOFSERVICE
                await pbx.start()
                assert (await shim.until("line_state"))["state"] == 0x40  # INSERVICE
                shim.writer.close()
                await port.close()
                await pump
                await bridge.close()

    run(scenario())


def test_consumer_connection_lost_while_subscribing(tmp_path: pathlib.Path) -> None:
    """A desk whose first broker connection is lost mid-subscribe is in service at once.

    aiomqtt's subscribe would wait 10 s for its SUBACK (longer than start()'s
    own 10 s): the consumer reads the connection while it subscribes.
    """

    async def scenario() -> None:
        with Mosquitto(tmp_path) as broker:
            relay = CuttingRelay(broker.port, cut_on=SUBSCRIBE)
            async with relay.running(), FakeAsterisk() as pbx, gateway(pbx, broker) as gw:
                await until(lambda: gw.broker_connected and gw.outbox.idle)
                port = MqttPort(
                    BrokerSettings("127.0.0.1", relay.port),
                    pbx="office",
                    lines=["Local/bob"],
                    retry_delay=0.05,
                )
                try:
                    await port.start(timeout=RESUME)
                    assert relay.cut_at is not None
                    await asyncio.wait_for(until(lambda: port.in_service), RESUME)
                finally:
                    await port.close()

    run(scenario())


def test_requests_for_a_line_not_served_fail_clearly(tmp_path: pathlib.Path) -> None:
    async def scenario() -> None:
        with Mosquitto(tmp_path) as broker:
            async with (
                FakeAsterisk() as pbx,
                gateway(pbx, broker),
                MqttPort(
                    BrokerSettings("127.0.0.1", broker.port), pbx="office", lines=None
                ) as port,
            ):
                try:
                    await port.make_call("Local/nobody", "100")
                except GatewayRequestError as exc:
                    assert exc.error == "unknown-line"
                    assert "'Local/nobody' is not served" in str(exc)
                else:
                    raise AssertionError("the request should have been refused")

    run(scenario())


def test_monitor_mqtt_prints_the_events_of_the_broker(tmp_path: pathlib.Path) -> None:
    async def scenario() -> None:
        with Mosquitto(tmp_path) as broker:
            async with FakeAsterisk() as pbx, gateway(pbx, broker):
                monitor = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "tapievent", "monitor", "--format", "json",
                    "--mqtt", f"mqtt://127.0.0.1:{broker.port}/office", "--line", "Local/bob",
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    env=dict(os.environ),
                )  # fmt: skip
                assert monitor.stderr is not None and monitor.stdout is not None
                said = await asyncio.wait_for(monitor.stderr.readline(), 10)
                assert b"subscribed to" in said
                await pbx.inbound_call(["Local/bob", "Local/bobbett"], answer_on="Local/bob")
                lines: list[bytes] = []
                while b'"IDLE"' not in (lines or [b""])[-1]:
                    lines.append(await asyncio.wait_for(monitor.stdout.readline(), 10))
                monitor.send_signal(signal.SIGINT)
                _, err = await asyncio.wait_for(monitor.communicate(), 10)
                assert monitor.returncode == 0, err
                assert b"Traceback" not in err
                text = b"".join(lines).decode()
                assert '"event": "NewCall"' in text and "Local/bobbett" not in text

    run(scenario(), 30)


def test_monitor_options_errors_are_said(tmp_path: pathlib.Path) -> None:
    def monitor(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tapievent", "monitor", *argv],
            capture_output=True,
            text=True,
            timeout=30,
        )

    no_pbx = monitor("--mqtt", "mqtt://127.0.0.1:1883")
    assert no_pbx.returncode == 2 and "must end with the gateway's PBX name" in no_pbx.stderr
    neither = monitor()
    assert neither.returncode == 2 and "--host, --user (or --mqtt)" in neither.stderr
    for result in (no_pbx, neither):
        assert "Traceback" not in result.stderr
