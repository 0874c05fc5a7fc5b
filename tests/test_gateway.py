"""The MQTT gateway against a real mosquitto and FakeAsterisk: events, presence, requests."""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
from typing import Any

from mqtt_helpers import (
    LINES,
    RESUME,
    TOPICS,
    Collector,
    Mosquitto,
    gateway,
    request,
    run,
    subscriber,
    until,
)
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tapievent.gateway.runtime import Gateway
from tapievent.testing import FakeAsterisk


def test_inbound_call_events_and_presence(tmp_path: pathlib.Path) -> None:
    async def scenario() -> None:
        with Mosquitto(tmp_path) as broker:
            async with FakeAsterisk() as pbx, gateway(pbx, broker) as gw:
                async with subscriber(broker, f"{TOPICS.base}/#") as seen:
                    bob = TOPICS.state("Local/bob")
                    await seen.wait_state("Local/bob", "idle")
                    await pbx.inbound_call(
                        LINES, caller_id='"Carol" <5550300>', answer_on="Local/bob"
                    )
                    await seen.wait_state("Local/bob", "connected")
                    await seen.wait(lambda: seen.on(bob)[-1]["state"] == "idle")
                    events = seen.on(TOPICS.events("Local/bob"))
                    kinds = [e["event"] for e in events]
                    assert kinds[0] == "NewCall"
                    assert [e["state"] for e in events if e["event"] == "CallState"] == [
                        "OFFERING",
                        "CONNECTED",
                        "IDLE",
                    ]
                    info = next(e for e in events if e["event"] == "CallInfo")
                    assert info["caller_id"] == {"name": "Carol", "number": "5550300"}
                    assert all(e["source"]["pbx"] == "office" for e in events)
                    seqs = [e["seq"] for e in events]
                    assert seqs == sorted(seqs)
                    states = [p["state"] for p in seen.on(bob)]
                    assert "ringing" in states
                    # The first ringing comes with the NEWCALL, before the caller id.
                    ringing = [p for p in seen.on(bob) if p["state"] == "ringing"][-1]
                    assert ringing["calls"][0]["caller_id"]["number"] == "5550300"
                    assert seen.on(TOPICS.calls)[-1]["calls"] == []
                    assert gw.outbox.dropped == 0
                # A late subscriber finds the presence retained.
                async with subscriber(broker, TOPICS.all_states, TOPICS.status) as late:
                    await late.wait(lambda: {t for t, _, _ in late.messages} >= {bob})
                    assert late.on(bob)[-1]["state"] == "idle"
                    await late.wait(lambda: bool(late.on(TOPICS.status)))
                    assert late.on(TOPICS.status)[-1]["status"] == "online"
            # Gateway stopped cleanly: every line out of service, status offline.
            async with subscriber(broker, TOPICS.all_states, TOPICS.status) as after:
                await after.wait_state("Local/bobbett", "out-of-service")
                await after.wait(lambda: bool(after.on(TOPICS.status)))
                assert after.on(TOPICS.status)[-1]["status"] == "offline"

    run(scenario())


def test_dial_once_even_when_delivered_twice(tmp_path: pathlib.Path) -> None:
    async def scenario() -> None:
        with Mosquitto(tmp_path) as broker:
            async with (
                FakeAsterisk(originate_line="Local/bob", call_duration=None) as pbx,
                gateway(pbx, broker) as gw,
                subscriber(broker, f"{TOPICS.replies}/#") as desk,
            ):
                await desk.wait(lambda: gw.broker_connected)
                for _ in range(2):  # a QoS 1 redelivery: same correlation data
                    await request(
                        desk.client, "Local/bob", "dial", {"destination": "5551234"}, b"r-1"
                    )
                await desk.wait(lambda: len(desk.messages) == 2)
                first, second = (m for _, m, _ in desk.messages)
                assert first == second and first is not None
                assert first["ok"] is True and first["request"] == "dial"
                assert first["handle"]["line"] == "Local/bob"
                replies = [m for _, _, m in desk.messages]
                assert all(m.properties.CorrelationData == b"r-1" for m in replies)  # type: ignore[union-attr]
                originates = [a for a in pbx.actions if a.get("Action") == "Originate"]
                assert len(originates) == 1
                assert originates[0].get("Channel") == "PJSIP/Local/bob"
                assert originates[0].get("Context") == "outbound"
                assert gw.service.duplicates == 1
                # Hang the dialled call up through its action id.
                await request(
                    desk.client,
                    "Local/bob",
                    "hangup",
                    {"action_id": first["handle"]["action_id"]},
                    b"r-2",
                )
                await desk.wait(lambda: len(desk.messages) == 3)
                assert desk.messages[2][1] == {
                    "request": "hangup",
                    "line": "Local/bob",
                    "id": "r-2",
                    "ok": True,
                }
                assert any(a.get("Action") == "Hangup" for a in pbx.actions)

    run(scenario())


def test_refused_requests(tmp_path: pathlib.Path) -> None:
    async def scenario() -> None:
        with Mosquitto(tmp_path) as broker:
            async with (
                FakeAsterisk() as pbx,
                gateway(pbx, broker) as gw,
                subscriber(broker, f"{TOPICS.replies}/#") as desk,
            ):
                await desk.wait(lambda: gw.broker_connected)
                call = await pbx.inbound_call(
                    ["Local/bobbett"], answer_on="Local/bobbett", hold=True
                )
                await asyncio.sleep(0.2)  # the gateway has seen the call
                await request(desk.client, "Local/alice", "dial", {"destination": "1"}, b"a")
                # A call of another line cannot be hung up from this one.
                await request(desk.client, "Local/bob", "hangup", {"call": call.unique_id}, b"b")
                await request(desk.client, "Local/bob", "dial", {"destination": "x"}, b"c")
                await desk.wait(lambda: len(desk.messages) == 3)
                by_id: dict[str, dict[str, Any]] = {
                    raw.properties.CorrelationData.decode(): m  # type: ignore[union-attr]
                    for _, m, raw in desk.messages
                    if m is not None
                }
                assert by_id["a"]["error"] == "unknown-line"
                assert "'Local/alice' is not served" in by_id["a"]["message"]
                assert by_id["b"]["error"] == "unknown-call"
                assert by_id["c"]["error"] == "bad-request"
                assert not any(a.get("Action") in ("Hangup", "Originate") for a in pbx.actions)
                assert pbx.calls

    run(scenario())


def test_ami_lost_puts_every_line_out_of_service(tmp_path: pathlib.Path) -> None:
    async def scenario() -> None:
        with Mosquitto(tmp_path) as broker:
            async with (
                FakeAsterisk() as pbx,
                gateway(pbx, broker),
                subscriber(broker, TOPICS.all_states, TOPICS.status) as seen,
            ):
                for line in LINES:
                    await seen.wait_state(line, "idle")
                await pbx.kill()
                for line in LINES:
                    await seen.wait_state(line, "out-of-service")
                await seen.wait(lambda: seen.on(TOPICS.status)[-1]["ami"] == "down")
                count = len(seen.messages)
                await pbx.start()
                for line in LINES:
                    await seen.wait_last_state(line, "idle")
                assert seen.on(TOPICS.status)[-1]["ami"] == "up"
                assert len(seen.messages) > count

    run(scenario())


def test_broker_restart_republishes_retained(tmp_path: pathlib.Path) -> None:
    async def scenario() -> None:
        with Mosquitto(tmp_path) as broker:
            async with FakeAsterisk() as pbx, gateway(pbx, broker) as gw:
                await asyncio.wait_for(until(lambda: gw.outbox.idle and gw.broker_connected), 5)
                broker.restart()  # no persistence: every retained message is gone
                await asyncio.wait_for(
                    until(lambda: gw.broker_connections == 2 and gw.outbox.idle), 5
                )
                await asyncio.sleep(0.1)  # the last PUBACKed message is stored
                async with subscriber(broker, TOPICS.all_states, TOPICS.status) as seen:
                    for line in LINES:
                        await seen.wait_last_state(line, "idle")
                    await seen.wait(lambda: bool(seen.on(TOPICS.status)))
                    assert all(m.retain for _, _, m in seen.messages)

    run(scenario())


def _persistent(broker: Mosquitto) -> contextlib.AbstractAsyncContextManager[Collector]:
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = 600
    return subscriber(
        broker,
        f"{TOPICS.base}/#",
        identifier="desk-bob",
        clean_start=False,
        properties=properties,
    )


async def _call_while_broker_down(
    folder: pathlib.Path, buffer_size: int
) -> tuple[Gateway, list[dict[str, Any]]]:
    """A whole call happens while the broker is stopped; returns what a desk got after."""
    with Mosquitto(folder, persistence=True) as broker:
        async with FakeAsterisk() as pbx, gateway(pbx, broker, buffer_size=buffer_size) as gw:
            async with _persistent(broker):  # the desk's session: kept by the broker
                await asyncio.wait_for(until(lambda: gw.broker_connected), 5)
            broker.stop()
            await pbx.inbound_call(LINES, answer_on="Local/bob")
            await asyncio.wait_for(until(lambda: len(gw.outbox) > 0 and not gw.board), 5)
            broker.start()
            async with _persistent(broker) as desk:
                await desk.wait_last_state("Local/bob", "idle", timeout=RESUME)
                await desk.wait(
                    lambda: (
                        any(p.get("state") == "IDLE" for p in desk.on(TOPICS.events(LINES[1])))
                        or gw.outbox.dropped > 0
                    ),
                    timeout=RESUME,
                )
                if gw.outbox.dropped:
                    await desk.wait(lambda: bool(desk.on(TOPICS.diagnostics)), RESUME)
                await asyncio.wait_for(until(lambda: gw.outbox.idle), RESUME)
                await asyncio.sleep(0.1)
                return gw, [p for t, p, _ in desk.messages if p is not None and "event" in p]


def test_broker_down_nothing_lost_within_the_buffer(tmp_path: pathlib.Path) -> None:
    async def scenario() -> None:
        gw, events = await _call_while_broker_down(tmp_path, buffer_size=1000)
        assert gw.outbox.dropped == 0
        bob = [e["state"] for e in events if e["event"] == "CallState" and e["line"] == LINES[0]]
        assert bob == ["OFFERING", "CONNECTED", "IDLE"]
        kinds = [e["event"] for e in events if e["line"] == LINES[1]]
        assert kinds == ["NewCall", "CallInfo", "CallState", "CallState", "CallState"]

    run(scenario())


def test_broker_down_overflow_is_counted_and_said(tmp_path: pathlib.Path) -> None:
    async def scenario() -> None:
        gw, events = await _call_while_broker_down(tmp_path, buffer_size=4)
        assert gw.outbox.dropped > 0
        (said,) = [e for e in events if e["event"] == "Diagnostic"]
        assert said["code"] == "gateway-buffer-overflow"
        assert said["dropped"] == gw.outbox.dropped
        assert f"{gw.outbox.dropped} events dropped" in said["message"]
        calls = [e for e in events if e["event"] != "Diagnostic"]
        assert len(calls) < 10 and calls[-1]["state"] == "IDLE"  # the newest were kept

    run(scenario())


def test_gateway_restart_reconciles_retained_state(tmp_path: pathlib.Path) -> None:
    async def scenario() -> None:
        with Mosquitto(tmp_path) as broker:
            async with FakeAsterisk() as pbx:
                async with gateway(pbx, broker, [*LINES, "Local/gone"]) as first:
                    await asyncio.wait_for(until(lambda: first.outbox.idle), 5)
                async with gateway(pbx, broker) as second:
                    await asyncio.wait_for(until(lambda: second.broker_connected), 5)
                    # The broker hands the old retained states over on subscribe;
                    # the one of the line no longer served is cleared, not left stale.
                    await asyncio.sleep(0.3)
                    await asyncio.wait_for(until(lambda: second.outbox.idle), 5)
                    await asyncio.sleep(0.1)
                    async with subscriber(broker, TOPICS.all_states) as fresh:
                        for line in LINES:
                            await fresh.wait_last_state(line, "idle")
                        await asyncio.sleep(0.1)
                        assert {t for t, _, _ in fresh.messages} == {
                            TOPICS.state(line) for line in LINES
                        }

    run(scenario())
