"""The command line against real Asterisk, run as a user runs it: monitor, call, tsp-bridge."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tapievent.tsp import FrameDecoder, encode_frame

from .kit import LINES, SECRET, USER, Instance, free_port
from .trunk import Trunk

BOB, BOBBETT = LINES
ENV = {**os.environ, "TAPIEVENT_SECRET": SECRET, "PYTHONIOENCODING": "utf-8"}
IDLE, OFFERING, CONNECTED = 0x1, 0x2, 0x100


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "tapievent", *args]


def _wait_for_login(asterisk: Instance, count: int, timeout: float = 15) -> None:
    """Until ``count`` AMI sessions of USER are logged in (the CLI is ready)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sessions = [s for s in asterisk.cli("manager show connected").splitlines() if USER in s]
        if len(sessions) >= count:
            return
        time.sleep(0.2)
    raise AssertionError("the command did not log in")


def test_monitor_prints_the_ring_group_call(asterisk: Instance, trunk: Trunk) -> None:
    base = len([s for s in asterisk.cli("manager show connected").splitlines() if USER in s])
    argv = _cli("monitor", "--host", "127.0.0.1", "--port", str(asterisk.port), "--user", USER,
                "--format", "json")  # fmt: skip
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV) as proc:
        try:
            _wait_for_login(asterisk, base + 1)
            trunk.call('"Zoë Monitor" <1101>', phones={"bob": "answer", "bobbett": "ring"})
            time.sleep(4)
        finally:
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=15)
    events = [json.loads(line) for line in out.decode("utf-8").splitlines()]
    text = json.dumps(events, ensure_ascii=False)
    assert "Zoë Monitor" in text and "1101" in text, text
    states = [(e.get("line"), e.get("state")) for e in events if "state" in e]
    assert (BOB, "CONNECTED") in states and (BOB, "IDLE") in states, states
    # Every event carries its receive time and the source, the host by default.
    assert all(e["time"].endswith("+00:00") and e["source"] == "127.0.0.1" for e in events)
    records = {e["line"]: e for e in events if e["event"] == "CallRecord"}
    assert records[BOB]["disposition"] == "answered", records
    assert records[BOB]["caller_id"]["number"] == "1101"
    assert b"Traceback" not in err


def test_call_command_dials_and_ends_idle(asterisk: Instance) -> None:
    where = ["--host", "127.0.0.1", "--port", str(asterisk.port), "--user", USER]
    argv = _cli("call", *where, "--line", BOB, "--context", "tapi-outbound", "--channel", BOB)
    argv.append("5551234")
    done = subprocess.run(argv, capture_output=True, env=ENV, timeout=60)
    out = done.stdout.decode("utf-8")
    assert done.returncode == 0, done.stderr
    assert "CONNECTED" in out and "IDLE" in out, out


class _Shim:
    """The TSP side of the bridge protocol, over a blocking socket."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.decoder = FrameDecoder()

    def send(self, **fields: object) -> None:
        self.sock.sendall(encode_frame({"v": 1, **fields}))

    def recv(self) -> dict[str, object]:
        while (message := self.decoder.next_message()) is None:
            data = self.sock.recv(65536)
            assert data, "the bridge closed the connection"
            self.decoder.receive_data(data)
        return message


LINK_TOKEN = "4c1d" * 16


def _start_bridge(asterisk: Instance, tmp: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    token_file = tmp / "link-token"
    token_file.write_text(LINK_TOKEN + "\n")
    token_file.chmod(0o600)  # the bridge reads a token file only its owner can read
    config = tmp / "bridge.ini"
    config.write_text(
        f"[ami]\nhost = 127.0.0.1\nport = {asterisk.port}\nusername = {USER}\n"
        "secret_env = TAPIEVENT_SECRET\n\n"
        f"[bridge]\nlines = {', '.join(LINES)}\nlisten = 127.0.0.1\nport = {port}\n\n"
        "[dial]\ncontext = tapi-outbound\nchannel = {line}\ntransfer_context = parking\n\n"
        f"[link]\ntoken_file = {token_file}\n"
    )
    proc = subprocess.Popen(_cli("tsp-bridge", "--config", str(config)), env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"the bridge did not listen: {proc.communicate()[1]!r}")


def test_tsp_bridge_against_real_asterisk(asterisk: Instance, trunk: Trunk, tmp_path: Path) -> None:
    proc, port = _start_bridge(asterisk, tmp_path)
    try:
        shim = _Shim(port)
        shim.send(
            type="hello",
            shim="live-test",
            tspi_version=0x20002,
            lines=list(LINES),
            token=LINK_TOKEN,
        )
        assert shim.recv() == {"v": 1, "type": "welcome", "in_service": True}
        trunk.call('"Bridge Caller" <1201>', phones={"bob": "answer", "bobbett": "ring"})
        calls: dict[object, list[dict[str, object]]] = {}
        ended: set[object] = set()
        while len(ended) < 2:
            message = shim.recv()
            if "call" in message:
                calls.setdefault(message["call"], []).append(message)
            if message.get("type") == "call_state" and message.get("state") == IDLE:
                ended.add(message["call"])
        new = [m for ms in calls.values() for m in ms if m["type"] == "new_call"]
        assert sorted(str(m["line"]) for m in new) == sorted(LINES)
        numbers = {m.get("caller_number") for ms in calls.values() for m in ms}
        names = {m.get("caller_name") for ms in calls.values() for m in ms}
        assert "1201" in numbers and "Bridge Caller" in names, calls
        bob_call = next(m["call"] for m in new if m["line"] == BOB)
        bob_states = [m["state"] for m in calls[bob_call] if m["type"] == "call_state"]
        assert CONNECTED in bob_states and bob_states[-1] == IDLE
        # lineMakeCall through the bridge: Asterisk accepts the Originate
        shim.send(type="make_call", id=1, line=BOB, destination="5551234")
        while (reply := shim.recv())["type"] != "reply":
            pass
        assert reply["id"] == 1 and reply["result"] == 0, reply
        shim.sock.close()
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
    assert b"Traceback" not in err
    assert asterisk.wait_no_channels() == []


def test_monitor_records_inside_tls_and_replay_plays_it_back(
    asterisk: Instance, trunk: Trunk, tmp_path: Path
) -> None:
    """What tcpdump cannot do: the bytes of an AMI-over-TLS session, replayed to the same events."""
    capture = tmp_path / "tls.ami"
    base = len([s for s in asterisk.cli("manager show connected").splitlines() if USER in s])
    argv = _cli("monitor", "--host", "127.0.0.1", "--port", str(asterisk.tls_port), "--user", USER,
                "--tls", "--cafile", str(asterisk.cert), "--format", "json",
                "--record", str(capture))  # fmt: skip
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV) as proc:
        try:
            _wait_for_login(asterisk, base + 1)
            trunk.call('"Recorded Caller" <1301>', phones={"bob": "answer", "bobbett": "ring"})
            time.sleep(4)
        finally:
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    live = [json.loads(line) for line in out.decode("utf-8").splitlines()]
    assert any(e.get("state") == "IDLE" and e.get("line") == BOB for e in live), live
    data = capture.read_bytes()
    assert data.startswith(b"Asterisk Call Manager/") and SECRET.encode() not in data
    replayed = subprocess.run(_cli("replay", str(capture), "--format", "json"),
                              capture_output=True, env=ENV, timeout=60, check=True)  # fmt: skip
    again = [json.loads(line) for line in replayed.stdout.decode("utf-8").splitlines()]
    # The replay's clock is the timing file's (from 0), the live one the wall clock's.
    clock = ("time", "source", "start", "answer", "end", "ring_seconds", "talk_seconds")
    unclocked = [{k: v for k, v in e.items() if k not in clock} for e in live]
    assert [{k: v for k, v in e.items() if k not in clock} for e in again] == unclocked
    assert (tmp_path / "tls.timing.tsv").read_text().startswith("t_s\toffset\tlength\n")
