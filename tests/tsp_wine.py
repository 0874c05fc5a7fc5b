"""The Wine test kit for the native TSP: build, Wine prefix, the stack, the harness.

Builds ``windows/`` with mingw-w64, starts FakeAsterisk, the asyncio AMI client
and the :class:`~tapievent.tsp.Bridge` in a background thread, and runs
``tsp_harness.exe`` (our TAPISRV stand-in) under Wine. The harness prints every
LINEEVENT and ASYNC_COMPLETION as JSON and flags TSPI rule violations; tests
use the numbers of tapi.h, written out here so they do not trust the code
under test. Under CI (``CI`` set) a missing tool fails the suite; elsewhere it
skips, naming the Debian package to install. :class:`RawBridge` plays the
bridge by hand for tests that need to hold or shape its answers.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import shutil
import socket
import struct
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tapievent.testing import FakeAsterisk
from tapievent.transports.aio import AsyncClient, connect
from tapievent.tsp import Bridge, ClientPort, DialSettings

ROOT = Path(__file__).resolve().parent.parent
TSP = ROOT / "windows"

# tapi.h / tspi.h numbers, written out so the test does not trust the code under test.
LINE_CALLINFO = 1
LINE_CALLSTATE = 2
LINE_GENERATE = 7
LINE_LINEDEVSTATE = 8
LINE_NEWCALL = 500
LINECALLSTATE_IDLE = 0x1
LINECALLSTATE_OFFERING = 0x2
LINECALLSTATE_CONNECTED = 0x100
LINECALLSTATE_DISCONNECTED = 0x4000
LINEDISCONNECTMODE_PICKUP = 0x8
LINECALLINFOSTATE_CALLERID = 0x8000
LINEDEVSTATE_INSERVICE = 0x40
LINEDEVSTATE_OUTOFSERVICE = 0x80
LINEGENERATETERM_DONE = 0x1
LINEMEDIAMODE_INTERACTIVEVOICE = 0x4
LINEERR_INCOMPATIBLEAPIVERSION = 0x8000000C
LINEERR_STRUCTURETOOSMALL = 0x8000004D
LINECALLORIGIN_OUTBOUND = 0x1
LINEDEVSTATUSFLAGS_CONNECTED = 0x1
LINEDEVSTATUSFLAGS_INSERVICE = 0x4
TSPI_2_2 = 0x00020002
HARNESS_LINE_BASE = 100  # the dwLineDeviceIDBase tsp_harness.exe gives TSPI_providerInit

TOOLS = {
    "x86_64-w64-mingw32-gcc": "gcc-mingw-w64-x86-64 (or mingw-w64)",
    "x86_64-w64-mingw32-objdump": "binutils-mingw-w64-x86-64 (comes with the compiler)",
    "make": "make",
    "wine": "wine and wine64",
}
TIMEOUT = 20.0


def _require_tools() -> None:
    missing = [
        f"{tool} (Debian package {pkg})" for tool, pkg in TOOLS.items() if not shutil.which(tool)
    ]
    if missing:
        text = "the TSP tests need " + ", ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(text + " -- CI must install them (.ci/run does)")
        pytest.skip(text)


def make_build() -> Path:
    """``make`` the DLL and the harness (incremental), once per test run."""
    _require_tools()
    done = subprocess.run(["make", "-C", str(TSP)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return TSP / "build"


def make_wine_env() -> dict[str, str]:
    """A Wine prefix reused across runs (creating one takes a few seconds)."""
    _require_tools()
    prefix = Path(
        os.environ.get("TAPIEVENT_WINEPREFIX", Path.home() / ".cache" / "tapievent-wineprefix")
    )
    prefix.parent.mkdir(parents=True, exist_ok=True)
    env = dict(
        os.environ, WINEPREFIX=str(prefix), WINEDEBUG="-all", WINEDLLOVERRIDES="mscoree,mshtml="
    )
    env.pop("DISPLAY", None)
    return env


def dll_under_test(build: Path) -> Path:
    """The DLL the harness loads: the fresh build, or TAPIEVENT_TSP_DLL.

    The override exists to show a new test failing against an older build
    (the harness stays the current one).
    """
    return Path(os.environ.get("TAPIEVENT_TSP_DLL") or build / "tapievent.tsp")


def windows_path(path: Path) -> str:
    return "Z:" + str(path).replace("/", "\\")


class Stack:
    """FakeAsterisk + asyncio client + Bridge on one event loop in a daemon thread."""

    def __init__(self, lines: tuple[str, ...], **fake_options: Any) -> None:
        self.lines = lines
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.fake = FakeAsterisk(**fake_options)
        self.client: AsyncClient | None = None
        self.bridge: Bridge | None = None
        self.bridge_port = 0
        self.pump: asyncio.Future[None] | None = None
        self.call(self._start())

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(TIMEOUT)

    async def _start(self) -> None:
        await self.fake.start()
        self.client = await connect(
            "127.0.0.1",
            self.fake.port,
            username="tapi",
            secret="tapisecret",
            lines=self.lines,
        )
        await self._start_bridge()

    async def _start_bridge(self) -> None:
        assert self.client is not None
        self.bridge = Bridge(
            ClientPort(self.client),
            dial=DialSettings(context="outbound", transfer_context="transfers"),
            port=self.bridge_port,
        )
        await self.bridge.start()
        self.bridge_port = self.bridge.port
        self.pump = asyncio.ensure_future(self.bridge.run())

    async def _stop_bridge(self) -> None:
        assert self.bridge is not None and self.pump is not None
        self.pump.cancel()
        await self.bridge.close()

    def stop_bridge(self) -> None:
        self.call(self._stop_bridge())

    def start_bridge(self) -> None:
        self.call(self._start_bridge())

    def actions(self, name: str) -> list[Any]:
        return [
            a for a in list(self.fake.actions) if (a.get("Action") or "").lower() == name.lower()
        ]

    def close(self) -> None:
        async def stop() -> None:
            if self.pump is not None:
                self.pump.cancel()
            if self.bridge is not None:
                await self.bridge.close()
            if self.client is not None:
                await self.client.close()
            await self.fake.stop()

        self.call(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(TIMEOUT)
        self.loop.close()


class Harness:
    """tsp_harness.exe under Wine: commands in on stdin, JSON lines out."""

    def __init__(self, build: Path, env: dict[str, str], registry: list[str]) -> None:
        """Start the harness; ``registry`` are its --reg-* options (none: keep the registry)."""
        self.events: list[dict[str, Any]] = []
        self._lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.proc = subprocess.Popen(
            [
                "wine",
                str(build / "tsp_harness.exe"),
                *registry,
                windows_path(dll_under_test(build)),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            text=True,
            encoding="utf-8",
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        first = self._next(60.0)  # the first run may (re)create the Wine prefix
        assert first == {"ev": "loaded"}, first

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(json.loads(line))
        self._lines.put(None)

    def _next(self, timeout: float) -> dict[str, Any]:
        item = self._lines.get(timeout=timeout)
        assert item is not None, "the harness exited"
        return item

    def cmd(self, text: str) -> dict[str, Any]:
        """Send one command; collect events until its answer arrives."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        while True:
            item = self._next(TIMEOUT)
            if "cmd" in item:
                assert item["cmd"] == text.split()[0], item
                return item
            self.events.append(item)

    def wait(self, predicate: Callable[[dict[str, Any]], bool], start: int = 0) -> dict[str, Any]:
        """The first event from index ``start`` on (seen or arriving) that matches ``predicate``."""
        for event in self.events[start:]:
            if predicate(event):
                return event
        while True:
            item = self._next(TIMEOUT)
            assert "cmd" not in item, item
            self.events.append(item)
            if predicate(item):
                return item

    def line_events(self, call: int | None = None) -> list[tuple[int, int]]:
        return [
            (e["msg"], e["p1"])
            for e in self.events
            if e["ev"] == "LINEEVENT" and (call is None or e["call"] == call)
        ]

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                self.cmd("shutdown")
                self.cmd("quit")
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait(TIMEOUT)
            self._reader.join(TIMEOUT)
            assert self.proc.stdin is not None and self.proc.stdout is not None
            self.proc.stdin.close()
            self.proc.stdout.close()
        violations = [e for e in self.events if e["ev"] == "violation"]
        assert violations == []


def is_state(call: int, state: int) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e.get("msg") == LINE_CALLSTATE and e["call"] == call and e["p1"] == state


def running_factory(
    build: Path, wine_env: dict[str, str]
) -> Iterator[Callable[..., tuple[Stack, Harness]]]:
    """The body of a ``running`` fixture: start(lines, registry=(), **fake_options)."""
    made: list[tuple[Stack, Harness | None]] = []

    def start(
        lines: tuple[str, ...] = ("Local/bob",),
        registry: tuple[str, ...] = (),
        **fake_options: Any,
    ) -> tuple[Stack, Harness]:
        stack = Stack(lines, **fake_options)
        made.append((stack, None))
        options = [
            *("--reg-dword", f"BridgePort={stack.bridge_port}"),
            *("--reg-multi", "Lines=" + ",".join(lines)),
            *("--reg-dword", "ReconnectMs=100"),
            *("--reg-dword", "RequestTimeoutMs=10000"),
            *registry,
        ]
        harness = Harness(build, wine_env, options)
        made[-1] = (stack, harness)
        init = harness.cmd("init")
        # TAPISRV offers 1.3-3.1 and gets 2.2, for the provider and every line;
        # one line device per line name, no phones.
        assert (init["result"], init["uiidentify"]) == (0, 0)
        assert (init["tspi_version"], init["line_version"]) == (TSPI_2_2, TSPI_2_2)
        assert (init["lines"], init["phones"]) == (len(lines), 0)
        for index in range(len(lines)):
            opened = harness.cmd(f"open {index}")
            assert (opened["result"], opened["status_messages"], opened["media_detection"]) == (
                0,
                0,
                0,
            )
            assert harness.cmd(f"waitservice {index} 1 10000")["result"] == 0
        return stack, harness

    yield start
    for stack, harness in made:
        try:
            if harness is not None:
                harness.close()
        finally:
            stack.close()


class RawBridge:
    """A bridge played by the test over a plain socket: frames in and out by hand."""

    def __init__(self, rcvbuf: int | None = None) -> None:
        self.server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:  # inherited by the accepted socket: a stalled reader
            self.server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(4)
        self.port: int = self.server.getsockname()[1]
        self.conn: socket.socket | None = None
        self._buffer = b""

    def registry(self, lines: str = "bob", *more: str) -> list[str]:
        return [
            *("--reg-dword", f"BridgePort={self.port}"),
            *("--reg-multi", f"Lines={lines}"),
            *("--reg-dword", "ReconnectMs=100"),
            *more,
        ]

    def accept(self, in_service: bool = True) -> dict[str, Any]:
        """Take the shim's connection, read its hello, answer welcome."""
        self.server.settimeout(TIMEOUT)
        self.conn, _ = self.server.accept()
        self.conn.settimeout(TIMEOUT)
        hello = self.receive()
        self.send({"v": 1, "type": "welcome", "in_service": in_service})
        return hello

    def send(self, message: dict[str, Any]) -> None:
        assert self.conn is not None
        body = json.dumps(message).encode()
        self.conn.sendall(struct.pack("<I", len(body)) + body)

    def receive(self) -> dict[str, Any]:
        """The next frame from the shim."""
        assert self.conn is not None
        while True:
            if len(self._buffer) >= 4:
                (size,) = struct.unpack("<I", self._buffer[:4])
                if len(self._buffer) >= 4 + size:
                    frame = self._buffer[4 : 4 + size]
                    self._buffer = self._buffer[4 + size :]
                    message: dict[str, Any] = json.loads(frame)
                    return message
            chunk = self.conn.recv(65536)
            assert chunk, "the shim closed the connection"
            self._buffer += chunk

    def receive_type(self, kind: str) -> dict[str, Any]:
        """The next frame of this type (others, e.g. close_call, are skipped)."""
        while True:
            message = self.receive()
            if message["type"] == kind:
                return message

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.server.close()
