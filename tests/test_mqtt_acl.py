"""Who may do what: the shipped mosquitto config and ACL (examples/mosquitto/) on a real broker.

The gateway runs as the real command (``tapievent gateway`` in a
subprocess) over TLS with a password; desktops bob and alice log in with
their own accounts. Under the example ACL bob reads only his line and
dials only from it.
"""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import shutil
import signal
import ssl
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import aiomqtt
import pytest
from mqtt_helpers import RUN_AS, Mosquitto, free_port, make_cert
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tapievent.gateway.broker import BrokerSettings
from tapievent.gateway.consumer import MqttPort
from tapievent.gateway.scheme import Topics
from tapievent.testing import FakeAsterisk

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples" / "mosquitto"
TOPICS = Topics("office")
USERS = {"gateway": "gw-secret", "bob": "bob-secret", "alice": "alice-secret"}


def example_broker(folder: pathlib.Path) -> Mosquitto:
    """The shipped mosquitto.conf with its paths and ports moved into ``folder``."""
    broker = Mosquitto(folder)
    passwd = folder / "passwd"
    passwd.touch(mode=0o600)
    for user, password in USERS.items():
        subprocess.run(
            ["mosquitto_passwd", "-b", str(passwd), user, password], check=True, capture_output=True
        )
    shutil.copy(EXAMPLES / "acl.conf", folder / "acl.conf")
    cert, _ = make_cert(folder)
    broker.cafile = cert
    broker.port, broker.ws_port = free_port(), free_port()
    text = (EXAMPLES / "mosquitto.conf").read_text(encoding="utf-8")
    text = text.replace("/etc/mosquitto/tapievent/", f"{folder}/")
    text = text.replace("listener 8883", f"listener {broker.port} 127.0.0.1")
    text = text.replace("listener 9001", f"listener {broker.ws_port} 127.0.0.1")
    extra = ["persistence false", "log_dest stderr", *RUN_AS]
    broker.config.write_text(text + "\n".join(extra) + "\n", encoding="utf-8")
    return broker


@pytest.fixture
def office(tmp_path: pathlib.Path) -> Iterator[tuple[Mosquitto, Any]]:
    with (
        example_broker(tmp_path) as broker,
        FakeAsterisk.start_in_thread(originate_line="Local/bob") as pbx,
    ):
        yield broker, pbx


def gateway_command(broker: Mosquitto, pbx: Any, password: str) -> subprocess.Popen[str]:
    env = dict(os.environ, TAPIEVENT_SECRET="tapisecret", TAPIEVENT_MQTT_PASSWORD=password)
    return subprocess.Popen(
        [
            sys.executable, "-m", "tapievent", "gateway", "--host", "127.0.0.1",
            "--port", str(pbx.port), "--user", "tapi",
            "--mqtt", f"mqtts://gateway@127.0.0.1:{broker.port}",
            "--mqtt-cafile", str(broker.cafile), "--pbx", "office",
            "--line", "Local/bob", "--line", "Local/alice",
            "--context", "outbound", "--channel", "Local/{line}@phones",
        ],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def desk(broker: Mosquitto, user: str, password: str | None = None) -> aiomqtt.Client:
    return aiomqtt.Client(
        "127.0.0.1",
        broker.port,
        username=user,
        password=USERS.get(user) if password is None else password,
        tls_context=ssl.create_default_context(cafile=str(broker.cafile)),
        protocol=aiomqtt.ProtocolVersion.V5,
    )


async def collect(client: aiomqtt.Client, into: list[tuple[str, dict[str, Any]]]) -> None:
    async for message in client.messages:
        raw = message.payload if isinstance(message.payload, bytes) else b""
        if raw:
            into.append((str(message.topic), json.loads(raw)))


async def until(check: Any, timeout: float = 8) -> None:
    async def loop() -> None:
        while not check():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(loop(), timeout)


async def dial(client: aiomqtt.Client, account: str, line: str, correlation: bytes) -> None:
    properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    properties.ResponseTopic = f"{TOPICS.replies}/{account}/1"
    properties.CorrelationData = correlation
    body = json.dumps({"destination": "5551234"})
    await client.publish(TOPICS.request(line, "dial"), body, qos=1, properties=properties)


def originates(pbx: Any) -> list[str]:
    return [a.get("Channel") for a in pbx.fake.actions if a.get("Action") == "Originate"]


def test_a_desktop_reads_and_dials_only_its_own_line(office: tuple[Mosquitto, Any]) -> None:
    broker, pbx = office
    gateway = gateway_command(broker, pbx, USERS["gateway"])

    async def scenario() -> None:
        bob_saw: list[tuple[str, dict[str, Any]]] = []
        alice_saw: list[tuple[str, dict[str, Any]]] = []
        async with desk(broker, "bob") as bob, desk(broker, "alice") as alice:
            await bob.subscribe(f"{TOPICS.base}/#", qos=1)  # asks for all, gets his own
            await alice.subscribe(f"{TOPICS.base}/#", qos=1)
            tasks = [
                asyncio.ensure_future(collect(c, s))
                for c, s in ((bob, bob_saw), (alice, alice_saw))
            ]
            bob_state = TOPICS.state("Local/bob")
            await until(lambda: any(t == bob_state for t, _ in bob_saw))
            await asyncio.to_thread(pbx.call, pbx.fake.inbound_call, ["Local/bob", "Local/alice"])
            alice_events = TOPICS.events("Local/alice")
            await until(
                lambda: any(p.get("state") == "IDLE" for t, p in alice_saw if t == alice_events)
            )
            await until(lambda: any(p.get("state") == "IDLE" for t, p in bob_saw if "events" in t))
            assert {t for t, _ in bob_saw} <= {TOPICS.status, bob_state, TOPICS.events("Local/bob")}
            assert not any("alice" in t for t, _ in bob_saw)
            # bob may not dial from alice's line: the broker drops the request.
            await dial(bob, "bob", "Local/alice", b"b-1")
            await dial(bob, "bob", "Local/bob", b"b-2")
            await until(lambda: any(t.startswith(f"{TOPICS.replies}/bob/") for t, _ in bob_saw))
            (reply,) = [p for t, p in bob_saw if t.startswith(TOPICS.replies)]
            assert reply["ok"] is True and reply["line"] == "Local/bob"
            # alice's reply is for alice only.
            await dial(alice, "alice", "Local/alice", b"a-1")
            await until(lambda: any(t.startswith(f"{TOPICS.replies}/alice/") for t, _ in alice_saw))
            await asyncio.sleep(0.2)
            assert not any("alice" in t for t, _ in bob_saw)
            assert originates(pbx) == ["Local/Local/bob@phones", "Local/Local/alice@phones"]
            # The TSP bridge's port works with bob's account alone.
            settings = BrokerSettings(
                "127.0.0.1",
                broker.port,
                "bob",
                USERS["bob"],
                ssl.create_default_context(cafile=str(broker.cafile)),
            )
            async with MqttPort(settings, pbx="office", lines=["Local/bob"]) as port:
                await until(lambda: port.in_service)
                handle = await port.make_call("Local/bob", "100")
                assert handle.line == "Local/bob"
            assert len(originates(pbx)) == 3
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    try:
        asyncio.run(asyncio.wait_for(scenario(), 30))
    finally:
        gateway.send_signal(signal.SIGINT)
        _, err = gateway.communicate(timeout=10)
    assert gateway.returncode == 0, err
    assert "Traceback" not in err


def test_logins_are_checked(office: tuple[Mosquitto, Any]) -> None:
    broker, _ = office

    async def refused(user: str, password: str) -> None:
        with pytest.raises(aiomqtt.MqttError):
            async with desk(broker, user, password):
                pass

    asyncio.run(refused("bob", "not-bobs"))
    asyncio.run(refused("nobody", ""))


def test_gateway_with_a_refused_password_says_so(office: tuple[Mosquitto, Any]) -> None:
    broker, pbx = office
    gateway = gateway_command(broker, pbx, "wrong")
    _, err = gateway.communicate(timeout=20)
    assert gateway.returncode == 1
    assert "refused the login of 'gateway'" in err and "TAPIEVENT_MQTT_PASSWORD" in err
    assert "Traceback" not in err and "wrong" not in err


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("mqtt://gateway:pw@127.0.0.1", "put the password in $TAPIEVENT_MQTT_PASSWORD"),
        ("http://127.0.0.1", "must be mqtt:// or mqtts://"),
        ("mqtt://127.0.0.1:99999", "port is not a number"),
    ],
)
def test_gateway_usage_errors(url: str, said: str) -> None:
    result = subprocess.run(
        [
            sys.executable, "-m", "tapievent", "gateway", "--host", "127.0.0.1", "--user", "t",
            "--mqtt", url, "--pbx", "office", "--line", "Local/bob",
        ],
        env=dict(os.environ, TAPIEVENT_SECRET="x"),
        capture_output=True,
        text=True,
        timeout=30,
    )  # fmt: skip
    assert result.returncode == 2
    assert said in result.stderr and "Traceback" not in result.stderr
