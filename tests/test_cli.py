"""The installed ``tapievent`` command, run as a subprocess like a user would."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

import pytest
from transport_support import tls_contexts

from tapievent.testing import FakeAsterisk, ThreadedFakeAsterisk

CAPTURES = Path(__file__).parent / "data" / "asterisk-22.10.1"
TIMEOUT = 20.0


def command() -> list[str]:
    """The console script installed next to this interpreter, else ``python -m tapievent``."""
    script = Path(sys.executable).with_name("tapievent")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "tapievent"]


def env(secret: str | None = "tapisecret") -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if k != "TAPIEVENT_SECRET"}
    if secret is not None:
        out["TAPIEVENT_SECRET"] = secret
    return out


def tapievent(
    *args: str, secret: str | None = "tapisecret", cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*command(), *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=env(secret),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


def one_clean_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.fixture
def server() -> Iterator[ThreadedFakeAsterisk]:
    with FakeAsterisk.start_in_thread() as handle:
        yield handle


def connection(server: ThreadedFakeAsterisk) -> list[str]:
    return ["--host", server.host, "--port", str(server.port), "--user", "tapi"]


class Lines:
    """Read a live process's stream line by line with timeouts (no hang)."""

    def __init__(self, stream: IO[str]) -> None:
        self._queue: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def until(self, pattern: str, timeout: float = TIMEOUT) -> list[str]:
        deadline = time.monotonic() + timeout
        start = len(self.seen)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no line matching {pattern!r}: {self.seen}")
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"stream ended before {pattern!r}: {self.seen}")
            self.seen.append(line)
            if re.search(pattern, line):
                return self.seen[start:]


@contextlib.contextmanager
def running(*args: str) -> Iterator[tuple[subprocess.Popen[str], Lines, Lines]]:
    """A live ``tapievent`` process with line readers; killed if the test fails."""
    with subprocess.Popen(
        [*command(), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env(),
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        try:
            yield process, Lines(process.stdout), Lines(process.stderr)
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(TIMEOUT)


def in_order(lines: Sequence[str], patterns: Sequence[str]) -> None:
    """Every pattern matches a line, in this order."""
    index = 0
    for pattern in patterns:
        while index < len(lines) and not re.search(pattern, lines[index]):
            index += 1
        assert index < len(lines), f"{pattern!r} missing (in order) from:\n" + "\n".join(lines)
        index += 1


STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}Z "
"""The time column of a live event (UTC, to the millisecond)."""


def test_demo_prints_the_ring_group_timeline(tmp_path: Path) -> None:
    done = tapievent("demo", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    in_order(
        lines,
        [
            r"^Local/bob +NEWCALL +new call +\(call 1795669868\.17\)$",
            r"^Local/bobbett +NEWCALL +new call",
            r'^Local/bob +CALLINFO +caller id "Alice Caller" <5550100>',
            r'^Local/bobbett +CALLINFO +caller id "Alice Caller" <5550100>',
            r"^Local/bob +CALLSTATE +OFFERING",
            r"^Local/bobbett +CALLSTATE +OFFERING",
            r"^Local/bob +CALLSTATE +CONNECTED",
            r"^Local/bobbett +CALLSTATE +DISCONNECTED \(PICKUP, answered elsewhere\)",
            r"^Local/bobbett +CALLSTATE +IDLE",
            r"^Local/bobbett +RECORD +answered-elsewhere, inbound \(answered by Local/bob\)",
            r"^Local/bob +CALLSTATE +IDLE",
            r'^Local/bob +RECORD +answered, inbound, from "Alice Caller" <5550100>',
            r"-> 10 TAPI events and 2 call records; calls still tracked: 0\.$",
        ],
    )
    assert not any(line.startswith("diagnostic") for line in lines)


def test_demo_json_is_one_object_per_event() -> None:
    done = tapievent("demo", "--format", "json")
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(e["event"], e["line"]) for e in events[:2]] == [
        ("NewCall", "Local/bob"),
        ("NewCall", "Local/bobbett"),
    ]
    assert events[2]["caller_id"] == {"name": "Alice Caller", "number": "5550100"}
    tapi = [e for e in events if e["event"] != "CallRecord"]
    assert [e.get("state") for e in tapi[-4:]] == ["CONNECTED", "DISCONNECTED", "IDLE", "IDLE"]
    bobbett, bob = (e for e in events if e["event"] == "CallRecord")
    assert (bob["line"], bob["disposition"], bob["answered_by"]) == (
        "Local/bob",
        "answered",
        "Local/bob",
    )
    assert bobbett["disposition"] == "answered-elsewhere"
    assert bob["start"] is None and bob["ring_seconds"] is None  # the demo has no timings


def test_replay_json_of_another_capture_with_a_line_filter() -> None:
    capture = CAPTURES / "05-scenario1-inbound.ami"
    done = tapievent("replay", str(capture), "--line", "line_1", "--format", "json")
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    # Its .timing.tsv gives every event a time: ISO 8601, UTC, from --start (0 here).
    assert events[0]["time"] == "1970-01-01T00:00:00.503737+00:00"
    assert all(e["time"].endswith("+00:00") for e in events)
    *events, record = ({k: v for k, v in e.items() if k != "time"} for e in events)
    assert record["event"] == "CallRecord" and record["disposition"] == "answered-elsewhere"
    assert events == [
        {
            "event": "NewCall",
            "line": "line_1",
            "call_key": "1795667804.1",
            "origin": "UNKNOWN",
            "caller_id": None,
        },
        {
            "event": "CallInfo",
            "line": "line_1",
            "call_key": "1795667804.1",
            "info_state": "CALLERID",
            "caller_id": {"name": "Alice Caller", "number": "5550100"},
        },
        {
            "event": "CallState",
            "line": "line_1",
            "call_key": "1795667804.1",
            "state": "DISCONNECTED",
            "mode": 8,
            "synthesized": False,
            "mode_name": "PICKUP",
        },
        {
            "event": "CallState",
            "line": "line_1",
            "call_key": "1795667804.1",
            "state": "IDLE",
            "mode": 0,
            "synthesized": False,
        },
    ]


def test_replay_of_an_unreadable_file_is_one_clear_line(tmp_path: Path) -> None:
    done = tapievent("replay", str(tmp_path / "missing.ami"))
    assert done.returncode == 2
    line = one_clean_error_line(done.stderr)
    assert line.startswith("tapievent replay: error: cannot read ")
    assert "No such file" in line


def test_monitor_prints_live_events_and_exits_cleanly_on_sigint(
    server: ThreadedFakeAsterisk,
) -> None:
    with running("monitor", *connection(server), "--line", "Local/bob") as (process, out, err):
        err.until(r"^connected to 127\.0\.0\.1:\d+ as tapi")
        server.call(server.fake.inbound_call, ["Local/bob", "Local/bobbett"])
        seen = out.until(r"Local/bob +CALLSTATE +IDLE")
        in_order(
            seen,
            [
                r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}Z \[127\.0\.0\.1\] Local/bob +NEWCALL",
                r'Local/bob +CALLINFO +caller id "Alice Caller" <5550100>',
                r"Local/bob +CALLSTATE +OFFERING",
                r"Local/bob +CALLSTATE +CONNECTED",
            ],
        )
        assert not any("bobbett" in line for line in seen)  # --line filters
        process.send_signal(signal.SIGINT)
        assert process.wait(TIMEOUT) == 0
        assert "Traceback" not in "\n".join(err.seen)
        assert any(a.get("Action") == "Logoff" for a in server.fake.actions)


def test_monitor_shows_diagnostics(server: ThreadedFakeAsterisk) -> None:
    with running("monitor", *connection(server), "--format", "json") as (process, out, err):
        err.until("^connected")
        server.call(server.fake.restart, mid_frame=True)
        seen = out.until(r'"state": "INSERVICE"')
        kinds = [json.loads(line) for line in seen]
        codes = [k.get("code") for k in kinds if k["event"] == "Diagnostic"]
        assert "connection-lost" in codes
        assert [k["state"] for k in kinds if k["event"] == "LineDevState"] == [
            "OUTOFSERVICE",
            "INSERVICE",
        ]
        process.send_signal(signal.SIGINT)
        assert process.wait(TIMEOUT) == 0


def test_call_originates_and_follows_the_call_until_idle(server: ThreadedFakeAsterisk) -> None:
    done = tapievent(
        "call",
        *connection(server),
        "--line",
        "line_1",
        "95551234",
        "--context",
        "outbound",
        "--channel",
        "Local/bob@phones-originate",
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stdout.splitlines()
    in_order(lines, [rf"^{STAMP}line_1 +CALLSTATE +CONNECTED", rf"^{STAMP}line_1 +CALLSTATE +IDLE"])
    assert not any("NEWCALL" in line for line in lines)  # our own call is not "new"
    originate = next(a for a in server.fake.actions if a.get("Action") == "Originate")
    assert originate.get("Exten") == "95551234"
    assert originate.get("Channel") == "Local/bob@phones-originate"


def test_bad_login_is_one_clear_line(server: ThreadedFakeAsterisk) -> None:
    done = tapievent("monitor", *connection(server), secret="wrong")
    assert done.returncode == 1
    line = one_clean_error_line(done.stderr)
    assert "Authentication failed" in line and "manager.conf" in line
    assert "wrong" not in line.replace("wrong secret", "")


def test_connection_refused_is_one_clear_line() -> None:
    handle = FakeAsterisk.start_in_thread()
    port = handle.port
    handle.stop()
    done = tapievent("call", "--host", "127.0.0.1", "--port", str(port), "--user", "tapi",
                     "--line", "l", "1", "--context", "c", "--channel", "Local/x")  # fmt: skip
    assert done.returncode == 1
    line = one_clean_error_line(done.stderr)
    assert line.startswith(f"tapievent call: error: cannot connect to 127.0.0.1:{port}")
    assert "connection refused" in line


def test_tls_failure_is_one_clear_line(server: ThreadedFakeAsterisk) -> None:
    done = tapievent("monitor", *connection(server), "--tls")
    assert done.returncode == 1
    line = one_clean_error_line(done.stderr)
    assert "TLS" in line and f"127.0.0.1:{server.port}" in line


def test_the_secret_is_not_an_option() -> None:
    done = tapievent("monitor", "--host", "h", "--user", "u", "--secret", "s")
    assert done.returncode == 2
    assert "unrecognized arguments: --secret" in done.stderr


def test_secret_is_prompted_for_and_read_from_a_pipe_without_a_terminal(
    server: ThreadedFakeAsterisk,
) -> None:
    """No TAPIEVENT_SECRET: the prompt reads it (here from stdin, as no
    terminal is attached to the new session), and it is never echoed back."""
    done = subprocess.run(
        [
            *command(),
            "call",
            *connection(server),
            "--line",
            "line_1",
            "95551234",
            "--context",
            "outbound",
            "--channel",
            "Local/bob@phones-originate",
        ],
        input="tapisecret\n",
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=env(None),
        start_new_session=True,
    )
    assert done.returncode == 0, done.stderr
    assert "AMI secret for tapi@127.0.0.1 (TAPIEVENT_SECRET not set): " in done.stderr
    assert "Traceback" not in done.stderr and "GetPassWarning" not in done.stderr
    assert "tapisecret" not in done.stdout + done.stderr
    in_order(done.stdout.splitlines(), [rf"^{STAMP}line_1 +CALLSTATE +IDLE"])
    login = next(a for a in server.fake.actions if a.get("Action") == "Login")
    assert login.get("Key") and login.get("Secret") is None


def test_no_secret_at_all_is_one_clear_error(server: ThreadedFakeAsterisk) -> None:
    done = subprocess.run(
        [*command(), "monitor", *connection(server)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=env(None),
        start_new_session=True,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1] == (
        "tapievent monitor: error: no secret: set TAPIEVENT_SECRET or type the secret at the prompt"
    )
    assert server.fake.connections == 0


def test_replay_text_is_the_readable_timeline() -> None:
    capture = CAPTURES / "07-scenario3-no-h-extension.ami"
    done = tapievent("replay", str(capture), "--line", "line_1", "--no-timing")
    assert done.returncode == 0, done.stderr
    assert [" ".join(line.split()) for line in done.stdout.splitlines()] == [
        "line_1 NEWCALL new call (call 1795667830.20)",
        'line_1 CALLINFO caller id "Carol" <5550300> (call 1795667830.20)',
        "line_1 CALLSTATE DISCONNECTED (PICKUP, answered elsewhere) (call 1795667830.20)",
        "line_1 CALLSTATE IDLE (call 1795667830.20)",
        'line_1 RECORD answered-elsewhere, inbound, from "Carol" <5550300> (call 1795667830.20)',
    ]


def test_replay_times_come_from_the_timing_file_and_start() -> None:
    capture = CAPTURES / "07-scenario3-no-h-extension.ami"
    start = "2026-11-26T10:00:00+00:00"
    done = tapievent("replay", str(capture), "--line", "line_1", "--start", start, "--name", "lab")
    assert done.returncode == 0, done.stderr
    rows = [" ".join(line.split()) for line in done.stdout.splitlines()]
    assert rows[0] == "2026-11-26 10:00:00.503Z [lab] line_1 NEWCALL new call (call 1795667830.20)"
    assert rows[-1].startswith("2026-11-26 10:00:01.505Z [lab] line_1 RECORD answered-elsewhere")
    assert ", rang 1.0 s," in rows[-1]


def test_replay_refuses_a_timing_file_that_does_not_fit(tmp_path: Path) -> None:
    capture = CAPTURES / "07-scenario3-no-h-extension.ami"
    bad = tmp_path / "bad.tsv"
    bad.write_text("t_s\toffset\tlength\n0.1\t0\t10\n")
    done = tapievent("replay", str(capture), "--timing", str(bad))
    assert done.returncode == 2
    assert done.stderr.startswith("tapievent replay: error: timing file ")
    assert "the rows cover 10 bytes" in done.stderr and "Traceback" not in done.stderr
    assert tapievent("replay", str(capture), "--start", "10:00").returncode == 2


def test_python_dash_m_runs_the_same_command() -> None:
    module = subprocess.run(
        [sys.executable, "-m", "tapievent", "demo"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
    assert module.returncode == 0, module.stderr
    assert module.stdout == tapievent("demo").stdout
    assert "-> 10 TAPI events and 2 call records; calls still tracked: 0." in module.stdout


def test_call_over_tls_with_the_servers_certificate(tmp_path: Path) -> None:
    server_tls, _ = tls_contexts(tmp_path)  # writes tmp_path/cert.pem
    with FakeAsterisk.start_in_thread(ssl=server_tls) as server:
        done = tapievent(
            "call",
            *connection(server),
            "--tls",
            "--cafile",
            str(tmp_path / "cert.pem"),
            "--line",
            "line_1",
            "95551234",
            "--context",
            "outbound",
            "--channel",
            "Local/bob@phones-originate",
        )
        assert done.returncode == 0, done.stderr
        in_order(done.stdout.splitlines(), [rf"^{STAMP}line_1 +CALLSTATE +CONNECTED", r"IDLE"])
        assert server.fake.logins == 1
