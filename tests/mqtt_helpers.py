"""A real mosquitto for the MQTT tests: started on free loopback ports with a temp config.

Debian's mosquitto 2.0.11 (the service is not running; each test starts its
own instance and stops it). ``Mosquitto.restart()`` keeps the ports, so
clients reconnect to the same address; persistence is off, so a restart
loses every retained message, exactly the fault a gateway must repair.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pathlib
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, Protocol

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tapievent.gateway.broker import BrokerSettings
from tapievent.gateway.runtime import DialSettings, Gateway
from tapievent.gateway.scheme import Topics
from tapievent.transports import ReconnectPolicy
from tapievent.transports.aio import connect

__all__ = [
    "CONNECT",
    "LINES",
    "RESUME",
    "RUN_AS",
    "SUBSCRIBE",
    "TOPICS",
    "Collector",
    "CuttingRelay",
    "Mosquitto",
    "free_port",
    "gateway",
    "make_cert",
    "request",
    "run",
    "subscriber",
    "until",
]

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


# Started as root, mosquitto drops to the "mosquitto" user, which cannot read
# the test's private temp folder; as any other user this line changes nothing.
RUN_AS = ["user root"] if os.geteuid() == 0 else []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_cert(folder: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    """A throw-away self-signed certificate for 127.0.0.1 (cert, key)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key), "-out", str(cert),
            "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


class Mosquitto:
    """One broker process. ``port`` is plain MQTT; optional TLS and websockets ports."""

    def __init__(
        self,
        folder: pathlib.Path,
        *,
        users: dict[str, str] | None = None,
        acl: str | None = None,
        tls: bool = False,
        websockets: bool = False,
        persistence: bool = False,
    ) -> None:
        self.folder = folder
        self.port = free_port()
        self.tls_port = free_port() if tls else None
        self.ws_port = free_port() if websockets else None
        self.cafile: pathlib.Path | None = None
        lines = ["per_listener_settings false", "log_dest stderr", "set_tcp_nodelay true", *RUN_AS]
        if persistence:  # sessions and retained messages survive a restart
            lines += ["persistence true", f"persistence_location {folder}/"]
        else:
            lines.append("persistence false")
        lines.append(f"allow_anonymous {'false' if users else 'true'}")
        if users:
            passwd = folder / "passwd"
            passwd.touch(mode=0o600)
            for user, password in users.items():
                subprocess.run(
                    ["mosquitto_passwd", "-b", str(passwd), user, password],
                    check=True,
                    capture_output=True,
                )
            lines.append(f"password_file {passwd}")
        if acl is not None:
            acl_file = folder / "acl"
            acl_file.write_text(acl, encoding="utf-8")
            lines.append(f"acl_file {acl_file}")
        lines.append(f"listener {self.port} 127.0.0.1")
        if tls:
            cert, key = make_cert(folder)
            self.cafile = cert
            lines += [f"listener {self.tls_port} 127.0.0.1", f"certfile {cert}", f"keyfile {key}"]
        if websockets:
            lines += [f"listener {self.ws_port} 127.0.0.1", "protocol websockets"]
        self.config = folder / "mosquitto.conf"
        self.config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        for path in folder.iterdir():
            os.chmod(path, 0o644 if path.name != "passwd" else 0o600)
        self.process: subprocess.Popen[bytes] | None = None
        self.log = folder / "mosquitto.log"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [MOSQUITTO, "-c", str(self.config)], stdout=log, stderr=log
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.log.read_text()[-2000:]}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                return
            time.sleep(0.02)
        raise RuntimeError("mosquitto did not listen within 10 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> Mosquitto:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def mosquitto(folder: pathlib.Path, **options: object) -> Iterator[Mosquitto]:
    broker = Mosquitto(folder, **options)  # type: ignore[arg-type]
    with broker:
        yield broker


CONNECT, SUBSCRIBE = 1, 8  # MQTT control packet types (for CuttingRelay)


async def _read_packet(reader: asyncio.StreamReader) -> bytes:
    """One MQTT control packet: a type byte, the remaining length (base 128), the rest."""
    head = await reader.readexactly(1)
    length, shift, size = 0, 0, b""
    while True:
        byte = await reader.readexactly(1)
        size += byte
        length |= (byte[0] & 0x7F) << shift
        shift += 7
        if not byte[0] & 0x80:
            return head + size + await reader.readexactly(length)


class CuttingRelay:
    """A loopback TCP relay to a broker that drops one connection on one MQTT packet type.

    The first packet of type ``cut_on`` a client sends is not forwarded: both
    sides are closed instead, as if the broker had stopped just then.
    """

    def __init__(self, broker_port: int, cut_on: int) -> None:
        self.broker_port = broker_port
        self.cut_on = cut_on
        self.port = 0
        self.cut_at: float | None = None  # time.monotonic() of the cut

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[CuttingRelay]:
        server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = int(server.sockets[0].getsockname()[1])
        async with server:
            yield self

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.broker_port)
        down = asyncio.ensure_future(self._pipe(up_reader, writer))
        try:
            with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
                await self._up(reader, up_writer)
        finally:
            down.cancel()
            await asyncio.gather(down, return_exceptions=True)
            for side in (writer, up_writer):
                side.close()

    async def _up(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            packet = await _read_packet(reader)
            if self.cut_at is None and packet[0] >> 4 == self.cut_on:
                self.cut_at = time.monotonic()
                return
            writer.write(packet)
            await writer.drain()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while chunk := await reader.read(65536):
                writer.write(chunk)
                await writer.drain()
        writer.close()


# --------------------------------------------------------------------------- gateway kit

LINES = ["Local/bob", "Local/bobbett"]
TOPICS = Topics("office")

# Seconds from a broker back (or a lost broker connection) to the gateway's
# re-publication; measured at under 0.2 s (docs/mqtt.md), allowed ten times that.
RESUME = 2.0


def run(coro: Coroutine[Any, Any, None], timeout: float = 20) -> None:
    asyncio.run(asyncio.wait_for(coro, timeout))


class Collector:
    """A subscriber that keeps every message it got, for assertions."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self.client = client
        self.messages: list[tuple[str, dict[str, Any] | None, aiomqtt.Message]] = []
        self._changed = asyncio.Event()

    async def pump(self) -> None:
        async for message in self.client.messages:
            raw = message.payload if isinstance(message.payload, bytes) else b""
            self.messages.append((str(message.topic), json.loads(raw) if raw else None, message))
            self._changed.set()

    def on(self, topic: str) -> list[dict[str, Any]]:
        return [p for t, p, _ in self.messages if t == topic and p is not None]

    async def wait(self, check: Callable[[], bool], timeout: float = 5) -> None:
        async def loop() -> None:
            while not check():  # woken by a message, or every 20 ms for other conditions
                self._changed.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 0.02)

        await asyncio.wait_for(loop(), timeout)

    def last_state(self, line: str) -> str | None:
        states = self.on(TOPICS.state(line))
        return str(states[-1]["state"]) if states else None

    async def wait_last_state(self, line: str, state: str, timeout: float = 5) -> None:
        await self.wait(lambda: self.last_state(line) == state, timeout)

    async def wait_state(self, line: str, state: str, timeout: float = 5) -> None:
        await self.wait(lambda: any(p["state"] == state for p in self.on(TOPICS.state(line))))


@contextlib.asynccontextmanager
async def subscriber(broker: Mosquitto, *filters: str, **options: Any) -> AsyncIterator[Collector]:
    async with aiomqtt.Client(
        "127.0.0.1", broker.port, protocol=aiomqtt.ProtocolVersion.V5, **options
    ) as client:
        for topic in filters:
            await client.subscribe(topic, qos=1)
        collector = Collector(client)
        task = asyncio.ensure_future(collector.pump())
        try:
            yield collector
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


class AmiServer(Protocol):
    """What the gateway kit needs of a PBX: its AMI port on 127.0.0.1 (a FakeAsterisk, or a
    real Asterisk of the live suite)."""

    @property
    def port(self) -> int: ...


class BrokerServer(Protocol):
    """What the gateway kit needs of a broker: its MQTT port on 127.0.0.1 (a Mosquitto, or a
    relay in front of one)."""

    @property
    def port(self) -> int: ...


@contextlib.asynccontextmanager
async def gateway(
    pbx: AmiServer, broker: BrokerServer, lines: list[str] = LINES, **options: Any
) -> AsyncIterator[Gateway]:
    async with connect(
        "127.0.0.1",
        pbx.port,
        username="tapi",
        secret="tapisecret",
        lines=lines,
        reconnect=ReconnectPolicy(initial_delay=0.05, max_delay=0.2),
    ) as client:
        gw = Gateway(
            client,
            BrokerSettings("127.0.0.1", broker.port),
            pbx="office",
            lines=lines,
            dial=DialSettings(context="outbound", channel="PJSIP/{line}"),
            retry_delay=0.05,
            max_retry_delay=0.2,
            **options,
        )
        task = asyncio.ensure_future(gw.run())
        try:
            yield gw
        finally:
            gw.close()
            await asyncio.wait_for(task, 10)


async def request(
    client: aiomqtt.Client, line: str, verb: str, body: dict[str, Any], correlation: bytes
) -> None:
    properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    properties.ResponseTopic = f"{TOPICS.replies}/desk/1"
    properties.CorrelationData = correlation
    await client.publish(TOPICS.request(line, verb), json.dumps(body), qos=1, properties=properties)


async def until(check: Callable[[], bool]) -> None:
    while not check():
        await asyncio.sleep(0.01)
