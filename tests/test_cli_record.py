"""``tapievent monitor --record PATH``: a capture that ``tapievent replay`` plays back the same."""

from __future__ import annotations

import itertools
import json
import signal
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_cli import connection, one_clean_error_line, running, tapievent
from transport_support import tls_contexts

from tapievent.testing import FakeAsterisk, ThreadedFakeAsterisk

SECRET = "tapisecret"


@pytest.fixture
def server() -> Iterator[ThreadedFakeAsterisk]:
    with FakeAsterisk.start_in_thread() as handle:
        yield handle


def _comparable(line: str, *, approx: bool = False) -> dict[str, Any]:
    """An event of ``--format json`` without what a replay cannot know the same.

    ``time`` is when the bytes arrived, by the wall clock live and by the
    ``.timing.tsv`` (from 0) in a replay, and ``source`` names the server (a
    file has none); so a call record's times are compared as known or not,
    and its durations (the same chunks, timed by two clocks) to 50 ms.
    """
    event: dict[str, Any] = json.loads(line)
    event.pop("time", None)
    event.pop("source", None)
    if event.get("event") == "CallRecord":
        for key in ("start", "answer", "end"):
            event[key] = event[key] is not None
        for key in ("ring_seconds", "talk_seconds"):
            if approx and event[key] is not None:
                event[key] = pytest.approx(event[key], abs=0.05)
    return event


def _monitor_one_call(server: ThreadedFakeAsterisk, *options: str) -> list[dict[str, Any]]:
    args = ("monitor", *connection(server), "--format", "json", *options)
    with running(*args) as (process, out, err):
        err.until("^connected")
        server.call(server.fake.inbound_call, ["Local/bob", "Local/bobbett"])
        out.until(r'"line": "Local/bob", .*"state": "IDLE"')
        process.send_signal(signal.SIGINT)
        assert process.wait(20) == 0
        return [_comparable(line, approx=True) for line in out.seen]


def _same_events(replayed: list[dict[str, Any]], live: list[dict[str, Any]]) -> None:
    """The replay has every event monitor printed, in order; after them only call records.

    Monitor was stopped right after the last IDLE, so the record that follows
    that IDLE may not have been printed; the capture has its bytes all the same.
    """
    assert replayed[: len(live)] == live
    assert {e["event"] for e in replayed[len(live) :]} <= {"CallRecord"}


def _replayed(capture: Path) -> list[dict[str, Any]]:
    done = tapievent("replay", str(capture), "--format", "json")
    assert done.returncode == 0, done.stderr
    return [_comparable(line) for line in done.stdout.splitlines()]


def _check_capture(capture: Path, timing: Path) -> bytes:
    """The files are private, the capture starts with the banner, the timing tiles it."""
    data = capture.read_bytes()
    assert data.startswith(b"Asterisk Call Manager/11.0.0\r\n")
    assert SECRET.encode() not in data
    for path in (capture, timing):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    header, *rows = timing.read_text().splitlines()
    assert header == "t_s\toffset\tlength"
    chunks = [(float(t), int(o), int(n)) for t, o, n in (row.split("\t") for row in rows)]
    assert chunks[0][:2] == (0.0, 0)
    assert all(a[1] + a[2] == b[1] and a[0] <= b[0] for a, b in itertools.pairwise(chunks))
    assert chunks[-1][1] + chunks[-1][2] == len(data)
    return data


def test_a_recording_replays_to_the_same_events(
    tmp_path: Path, server: ThreadedFakeAsterisk
) -> None:
    capture = tmp_path / "office.ami"
    live = _monitor_one_call(server, "--record", str(capture))
    _check_capture(capture, tmp_path / "office.timing.tsv")
    assert [e["event"] for e in live].count("NewCall") == 2
    _same_events(_replayed(capture), live)


def test_over_tls_the_recording_holds_the_decrypted_bytes(tmp_path: Path) -> None:
    server_tls, _ = tls_contexts(tmp_path)  # writes tmp_path/cert.pem
    capture = tmp_path / "tls-capture"  # no .ami suffix: the timing is capture.timing.tsv
    with FakeAsterisk.start_in_thread(ssl=server_tls) as server:
        live = _monitor_one_call(
            server, "--tls", "--cafile", str(tmp_path / "cert.pem"), "--record", str(capture)
        )
    data = _check_capture(capture, tmp_path / "tls-capture.timing.tsv")
    assert b"Event: UserEvent" in data
    _same_events(_replayed(capture), live)


def test_each_connection_is_its_own_capture(tmp_path: Path, server: ThreadedFakeAsterisk) -> None:
    capture = tmp_path / "calls.ami"
    args = ("monitor", *connection(server), "--record", str(capture))
    with running(*args) as (process, out, err):
        err.until("^connected")
        server.call(server.fake.restart, mid_frame=True)
        out.until(r"LINEDEVSTATE INSERVICE")  # logged in again
        server.call(server.fake.inbound_call, ["Local/bob"])
        out.until(r"Local/bob +CALLSTATE +IDLE")
        process.send_signal(signal.SIGINT)
        assert process.wait(20) == 0
    first = _check_capture(capture, tmp_path / "calls.timing.tsv")
    second = _check_capture(tmp_path / "calls-2.ami", tmp_path / "calls-2.timing.tsv")
    assert b"UserEvent" not in first  # cut before any call
    replayed = _replayed(tmp_path / "calls-2.ami")
    bob = [(e["event"], e.get("state")) for e in replayed if e.get("line") == "Local/bob"]
    assert ("CallState", "IDLE") in bob
    assert b"UserEvent" in second


def test_a_path_that_cannot_be_written_is_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "no-such-folder" / "x.ami"
    done = tapievent("monitor", "--host", "127.0.0.1", "--port", "9", "--user", "u",
                     "--record", str(path))  # fmt: skip
    assert done.returncode == 2
    line = one_clean_error_line(done.stderr)
    assert line.startswith(f"tapievent monitor: error: cannot write {path}: ")
