"""N listeners as N AMI logins versus one gateway plus N MQTT subscribers, on a real Asterisk 22.

    python benchmarks/bench_gateway.py [--prefix PREFIX] [--n 1,10,50,200] [--calls 20]

Starts a private Asterisk (``/work/shared/asterisk/run.sh``, AMI on a free
loopback port) with a small TAPI dialplan and a private mosquitto. For each
N, in one run:

* **AMI**: N asyncio clients (``tapievent.transports.aio``) log in; the
  driver originates ``--calls`` calls (each raises NEWCALL, SET CALLERID,
  OFFERING, CONNECTED, IDLE for ``line_1``).
* **MQTT**: one client runs the gateway; N aiomqtt subscribers follow
  ``line_1``'s events topic; every subscriber must see each call's CallInfo.

Printed per N and mode: Asterisk's CPU seconds per call (utime + stime of
the asterisk process from /proc/PID/stat, over the calls), mosquitto's, and
the latency p50/p99 from the driver's Originate to the measuring listener
receiving the call's CallInfo (the caller id number carries the call's
sequence number). One listener of each mode is a tapievent client that
measures; the other N-1 are as cheap as possible so that this one machine
can hold them -- AMI logins that read and discard (Asterisk still formats
and writes every event to each), ``mosquitto_sub`` processes (QoS 1) --
so the latency is the system's, not N Python parsers'. Bounded: calls per
N and a timeout per phase.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiomqtt  # noqa: E402

from tapievent import Action, CallInfo  # noqa: E402
from tapievent.gateway.broker import BrokerSettings  # noqa: E402
from tapievent.gateway.runtime import Gateway  # noqa: E402
from tapievent.gateway.scheme import Topics  # noqa: E402
from tapievent.transports.aio import AsyncClient, connect  # noqa: E402

RUN_SH = pathlib.Path("/work/shared/asterisk/run.sh")
CORPUS = pathlib.Path("/work/shared/corpus/asterisk-22.10.1")
DIALPLAN = """\
[general]
static = yes
writeprotect = yes

[bench]
exten => 100,1,UserEvent(TAPI,TAPIEVENT: LINE_NEWCALL line_1)
 same => n,UserEvent(TAPI,TAPIEVENT: SET CALLERID ${CALLERID(all)})
 same => n,UserEvent(TAPI,TAPIEVENT: LINE_CALLSTATE LINECALLSTATE_OFFERING)
 same => n,UserEvent(TAPI,TAPIEVENT: LINE_CALLSTATE LINECALLSTATE_CONNECTED)
 same => n,Hangup()
exten => h,1,UserEvent(TAPI,TAPIEVENT: LINE_CALLSTATE LINECALLSTATE_IDLE)
"""
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14 and 15)


class Servers:
    """A private Asterisk and mosquitto, stopped by :meth:`stop`."""

    def __init__(self, prefix: pathlib.Path) -> None:
        self.prefix = prefix
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="tapi-bench-", dir="/tmp"))
        etc = self.dir / "etc"
        etc.mkdir()
        for name in ("asterisk.conf", "modules.conf", "manager.conf"):
            shutil.copy(CORPUS / name, etc / name)
        self.ami_port = free_port()
        manager = (
            (etc / "manager.conf").read_text().replace("port = 5038", f"port = {self.ami_port}")
        )
        (etc / "manager.conf").write_text(manager)
        (etc / "extensions.conf").write_text(DIALPLAN)
        subprocess.run(["bash", str(RUN_SH), "start", str(prefix), str(self.dir)], check=True,
                       capture_output=True, timeout=120)  # fmt: skip
        self.asterisk_pid = int((self.dir / "run" / "asterisk.pid").read_text())
        self.mqtt_port = free_port()
        conf = self.dir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.mqtt_port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "set_tcp_nodelay true\n" + ("user root\n" if os.geteuid() == 0 else "")
        )
        self.mosquitto = subprocess.Popen(
            [shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(conf)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(0.3)

    def stop(self) -> None:
        self.mosquitto.terminate()
        self.mosquitto.wait(10)
        subprocess.run(["bash", str(RUN_SH), "stop", str(self.prefix), str(self.dir)],
                       capture_output=True, timeout=60)  # fmt: skip
        shutil.rmtree(self.dir, ignore_errors=True)


async def ami_client(servers: Servers, **options: Any) -> AsyncClient:
    return await connect("127.0.0.1", servers.ami_port, username="tapi", secret="tapisecret",
                         lines=["line_1"], queue_size=100000, **options)  # fmt: skip


async def drive(servers: Servers, calls: int, rate: float, sent: dict[int, float]) -> None:
    """Originate ``calls`` calls at ``rate`` per second; caller id number = sequence."""
    async with await ami_client(servers, events="off") as driver:
        for seq in range(calls):
            sent[seq] = time.monotonic()
            action = Action("Originate", (
                ("Channel", "Local/100@bench"), ("Application", "Wait"), ("Data", "0"),
                ("CallerID", f'"bench" <{1000 + seq}>'), ("Async", "true"),
            ))  # fmt: skip
            await driver.send_action(action)
            await asyncio.sleep(1 / rate)


def seq_of(number: str | None) -> int | None:
    return None if number is None else int(number) - 1000


async def ami_listener(
    client: AsyncClient, calls: int, got: list[float], sent: dict[int, float]
) -> None:
    seen = 0
    async for event in client.events():
        if isinstance(event, CallInfo) and event.caller_id is not None:
            seq = seq_of(event.caller_id.number)
            if seq is not None and seq in sent:
                got.append(time.monotonic() - sent[seq])
                seen += 1
                if seen == calls:
                    return


async def mqtt_listener(
    client: aiomqtt.Client, calls: int, got: list[float], sent: dict[int, float]
) -> None:
    seen = 0
    async for message in client.messages:
        payload = json.loads(message.payload) if isinstance(message.payload, bytes) else {}
        if payload.get("event") == "CallInfo":
            seq = seq_of((payload.get("caller_id") or {}).get("number"))
            if seq is not None and seq in sent:
                got.append(time.monotonic() - sent[seq])
                seen += 1
                if seen == calls:
                    return


async def measure(
    servers: Servers, listeners: list[Any], body: Any, args: argparse.Namespace
) -> dict[str, float]:
    sent: dict[int, float] = {}
    got: list[float] = []
    cpu0, mq0 = cpu_seconds(servers.asterisk_pid), cpu_seconds(servers.mosquitto.pid)
    tasks = [asyncio.ensure_future(body(lst, args.calls, got, sent)) for lst in listeners]
    await drive(servers, args.calls, args.rate, sent)
    _, pending = await asyncio.wait(tasks, timeout=args.timeout)
    for task in pending:
        task.cancel()
    cpu1, mq1 = cpu_seconds(servers.asterisk_pid), cpu_seconds(servers.mosquitto.pid)
    got.sort()
    expected = args.calls * len(listeners)  # the measuring listeners' CallInfos
    return {
        "asterisk": (cpu1 - cpu0) / args.calls,
        "mosquitto": (mq1 - mq0) / args.calls,
        "p50": statistics.median(got) if got else float("nan"),
        "p99": got[min(len(got) - 1, int(len(got) * 0.99))] if got else float("nan"),
        "lost": expected - len(got),
    }


_READERS: set[asyncio.Future[None]] = set()


async def raw_ami_listener(servers: Servers) -> asyncio.StreamWriter:
    """One more AMI login that reads and discards: Asterisk still writes it every event."""
    reader, writer = await asyncio.open_connection("127.0.0.1", servers.ami_port)
    writer.write(
        b"Action: Login\r\nUsername: tapi\r\nSecret: tapisecret\r\nEvents: call,user\r\n\r\n"
    )
    await writer.drain()

    async def discard() -> None:
        while await reader.read(65536):
            pass

    _READERS.add(asyncio.ensure_future(discard()))
    return writer


async def ami_mode(servers: Servers, n: int, args: argparse.Namespace) -> dict[str, float]:
    measuring = await ami_client(servers)
    others = [await raw_ami_listener(servers) for _ in range(n - 1)]
    try:
        return await measure(servers, [measuring], ami_listener, args)
    finally:
        for writer in others:
            writer.close()
        await measuring.close()


def mosquitto_subs(servers: Servers, topic: str, count: int) -> list[subprocess.Popen[bytes]]:
    """``count`` more subscribers, each its own mosquitto_sub process (QoS 1)."""
    return [
        subprocess.Popen(
            [
                "mosquitto_sub",
                "-V",
                "5",
                "-q",
                "1",
                "-p",
                str(servers.mqtt_port),
                "-h",
                "127.0.0.1",
                "-t",
                topic,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]


async def mqtt_mode(servers: Servers, n: int, args: argparse.Namespace) -> dict[str, float]:
    topics = Topics("bench")
    client = await ami_client(servers)
    gateway = Gateway(
        client, BrokerSettings("127.0.0.1", servers.mqtt_port), pbx="bench", lines=["line_1"]
    )
    task = asyncio.ensure_future(gateway.run())
    others = mosquitto_subs(servers, topics.events("line_1"), n - 1)
    options = BrokerSettings("127.0.0.1", servers.mqtt_port).client_options()
    try:
        async with aiomqtt.Client(**options) as measuring:
            await measuring.subscribe(topics.events("line_1"), qos=1)
            while not gateway.broker_connected:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.2 + n * 0.005)  # the mosquitto_sub processes subscribed
            return await measure(servers, [measuring], mqtt_listener, args)
    finally:
        for process in others:
            process.terminate()
        for process in others:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:  # a loaded machine: do not wait for ever
                process.kill()
                process.wait(10)
        gateway.close()
        await asyncio.wait_for(task, 10)
        await client.close()


async def main(args: argparse.Namespace) -> None:
    servers = Servers(pathlib.Path(args.prefix))
    try:
        print(
            f"Asterisk 22 pid {servers.asterisk_pid}, {args.calls} calls per run at {args.rate}/s, "
            f"5 TAPI UserEvents per call; CPU = seconds per call; latency = Originate -> CallInfo"
        )
        print(
            f"{'N':>4} | {'AMI: ast CPU/call':>17} {'p50 ms':>7} {'p99 ms':>7} {'lost':>4} | "
            f"{'MQTT: ast CPU/call':>18} {'mosq CPU/call':>13} {'p50 ms':>7} {'p99 ms':>7} "
            f"{'lost':>4}"
        )
        for n in args.n:
            ami = await ami_mode(servers, n, args)
            mqtt = await mqtt_mode(servers, n, args)
            print(
                f"{n:>4} | {ami['asterisk']:>17.5f} {ami['p50'] * 1000:>7.1f} "
                f"{ami['p99'] * 1000:>7.1f} {ami['lost']:>4} | "
                f"{mqtt['asterisk']:>18.5f} {mqtt['mosquitto']:>13.5f} "
                f"{mqtt['p50'] * 1000:>7.1f} {mqtt['p99'] * 1000:>7.1f} {mqtt['lost']:>4}",
                flush=True,
            )
    finally:
        servers.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prefix", default="/root/.cache/tapievent/asterisk-22.10.1")
    parser.add_argument(
        "--n", type=lambda s: [int(x) for x in s.split(",")], default=[1, 10, 50, 200]
    )
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--rate", type=float, default=10.0, help="calls per second")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per phase at most")
    asyncio.run(main(parser.parse_args()))
