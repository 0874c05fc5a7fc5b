"""``tapievent calls`` and ``monitor --db``: the call history from the command line."""

from __future__ import annotations

import argparse
import csv
import datetime
import io
import json
import signal
import sqlite3
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_cli import connection, one_clean_error_line, running, tapievent
from test_history import end_of, record, start_of

from tapievent.cli.calls import parse_since
from tapievent.history import CallHistory
from tapievent.testing import FakeAsterisk, ThreadedFakeAsterisk


@pytest.fixture
def server() -> Iterator[ThreadedFakeAsterisk]:
    with FakeAsterisk.start_in_thread() as handle:
        yield handle


@pytest.fixture
def history(tmp_path: Path) -> Path:
    path = tmp_path / "calls.db"
    with CallHistory(path) as db:
        db.add(record(0, line="Local/bob"))
        db.add(record(1, line="PJSIP/ann-with-a-long-name", name="M\udcfcller"))
        db.add(record(2, line="Local/cy"))
    return path


def test_text_is_a_table_with_columns_as_wide_as_their_values(history: Path) -> None:
    done = tapievent("calls", str(history))
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.splitlines()
    assert header.split() == [
        "start", "source", "line", "direction", "disposition", "ring", "talk", "caller", "call",
    ]  # fmt: skip
    assert len(rows) == 3
    # every column starts where its header does
    column = header.index("direction")
    assert {row[column : column + 8] for row in rows} == {"inbound "}
    utc = datetime.datetime.fromtimestamp(start_of(1), tz=datetime.timezone.utc)
    start = utc.strftime("%Y-%m-%d %H:%M:%SZ")  # UTC, like every event's time
    assert rows[1].startswith(f"{start}  pbx1    PJSIP/ann-with-a-long-name  inbound")
    assert '"M\\xfcller" <5550100>' in rows[1]  # the byte that is not UTF-8, as \xNN
    assert "0:04  0:26" in rows[0]  # ring 4.5 s, talk 25.75 s


def test_json_lines_are_ascii_with_iso_times_and_reversible_bytes(history: Path) -> None:
    # Each line is the object monitor --format json prints for the record.
    done = tapievent("calls", str(history), "--format", "json")
    assert done.returncode == 0, done.stderr
    done.stdout.encode("ascii")
    calls = [json.loads(line) for line in done.stdout.splitlines()]
    assert [c["line"] for c in calls] == ["Local/bob", "PJSIP/ann-with-a-long-name", "Local/cy"]
    first = calls[0]
    assert first["start"] == datetime.datetime.fromtimestamp(
        start_of(0), tz=datetime.timezone.utc
    ).isoformat(timespec="microseconds")
    assert first["start"].endswith("+00:00")
    assert datetime.datetime.fromisoformat(first["end"]).timestamp() == end_of(0)
    assert (first["event"], first["direction"], first["disposition"]) == (
        "CallRecord",
        "inbound",
        "answered",
    )
    assert first["time"] == first["end"]
    assert (first["ring_seconds"], first["talk_seconds"]) == (4.5, 25.75)
    name = calls[1]["caller_id"]["name"]
    assert name.encode("utf-8", "surrogateescape") == b"M\xfcller"


def test_csv_has_a_header_row_and_reads_back_with_the_csv_module(history: Path) -> None:
    done = tapievent("calls", str(history), "--format", "csv")
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout, newline="")))
    assert [r["line"] for r in rows] == ["Local/bob", "PJSIP/ann-with-a-long-name", "Local/cy"]
    assert rows[1]["caller_name"] == "M\\xfcller"
    assert rows[0]["caller_number"] == "5550100"
    assert rows[0]["lines"] == "Local/bob Local/bobbett"
    assert rows[0]["synthesized"] == "no"
    assert float(rows[0]["talk_seconds"]) == 25.75


def test_line_is_repeatable(history: Path) -> None:
    done = tapievent("calls", str(history), "--format", "json", "--line", "Local/cy",
                     "--line", "Local/bob")  # fmt: skip
    assert [json.loads(x)["line"] for x in done.stdout.splitlines()] == ["Local/bob", "Local/cy"]


def test_since_takes_iso_times_with_or_without_zone_and_dates(history: Path) -> None:
    cut = datetime.datetime.fromtimestamp(end_of(1), tz=datetime.timezone.utc)
    for since in (
        cut.isoformat(),
        cut.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        cut.astimezone().replace(tzinfo=None).isoformat(),  # local time, no zone
    ):
        done = tapievent("calls", str(history), "--since", since, "--format", "json")
        assert done.returncode == 0, done.stderr
        assert [json.loads(x)["line"] for x in done.stdout.splitlines()] == [
            "PJSIP/ann-with-a-long-name",
            "Local/cy",
        ]
    day = datetime.datetime.fromtimestamp(start_of(0)).date().isoformat()
    assert len(tapievent("calls", str(history), "--since", day).stdout.splitlines()) == 4


def test_since_takes_relative_durations() -> None:
    now = 1_800_000_000.0
    got = [parse_since(text, now=lambda: now) for text in ("30m", "2h", "7d", "45s", "1.5h")]
    assert got == [now - 1800, now - 7200, now - 7 * 86400, now - 45, now - 5400]


def test_a_recent_since_leaves_out_old_calls(history: Path) -> None:
    done = tapievent("calls", str(history), "--since", "2h")
    assert (done.returncode, done.stdout) == (0, "")


def test_a_bad_since_is_one_clear_line(history: Path) -> None:
    done = tapievent("calls", str(history), "--since", "yesterday")
    assert done.returncode == 2
    assert "not a time: 'yesterday' (use 30m, 2h, 7d" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("kind", ["missing", "not-sqlite", "newer"])
def test_a_file_that_is_not_a_history_is_one_clear_line(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "calls.db"
    if kind == "not-sqlite":
        path.write_text("[phones]\nexten => 201,1,Dial(PJSIP/201)\n")
    elif kind == "newer":
        CallHistory(path).close()
        db = sqlite3.connect(path)
        db.execute("PRAGMA user_version=2")
        db.close()
    done = tapievent("calls", str(path))
    assert done.returncode == 2
    line = one_clean_error_line(done.stderr)
    assert line.startswith(f"tapievent calls: error: {path}")
    assert {
        "missing": "no such call history file",
        "not-sqlite": "not a tapievent call history",
        "newer": "schema version 2; this tapievent reads versions up to 1",
    }[kind] in line
    assert path.exists() == (kind != "missing")


def test_monitor_refuses_a_db_that_is_not_a_history_before_connecting(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a database\n" * 100)
    done = tapievent("monitor", "--host", "127.0.0.1", "--port", "9", "--user", "u",
                     "--db", str(path))  # fmt: skip
    assert done.returncode == 2
    line = one_clean_error_line(done.stderr)
    assert line.startswith(f"tapievent monitor: error: {path} is not a tapievent call history")


def _calls_when(path: Path, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    """``tapievent calls --format json`` once it lists ``count`` calls (or the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        done = tapievent("calls", str(path), "--format", "json")
        assert done.returncode == 0, done.stderr
        calls = [json.loads(line) for line in done.stdout.splitlines()]
        if len(calls) >= count or time.monotonic() > deadline:
            return calls
        time.sleep(0.1)


def test_monitor_stores_every_call_record_in_the_db(
    tmp_path: Path, server: ThreadedFakeAsterisk
) -> None:
    # Needs the tracker's CallRecords (the records branch of issue 13).
    path = tmp_path / "calls.db"
    with running("monitor", *connection(server), "--db", str(path)) as (process, out, err):
        err.until("^connected")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        server.call(server.fake.inbound_call, ["Local/bob", "Local/bobbett"])
        out.until(r"Local/bob +CALLSTATE +IDLE")
        server.call(server.fake.inbound_call, ["Local/bob"], answer_on=None, talk_time=None)
        out.until(r"Local/bob +CALLSTATE +IDLE")
        # Stored while monitor still runs: a reader sees each record as it comes
        # (right after the IDLE that ends the call on its line).
        calls = _calls_when(path, 3)
        process.send_signal(signal.SIGINT)
        assert process.wait(20) == 0
    got = [(c["line"], c["disposition"], c["answered_by"]) for c in calls]
    assert got[:2] == [
        ("Local/bobbett", "answered-elsewhere", "Local/bob"),
        ("Local/bob", "answered", "Local/bob"),
    ]
    # Nobody answered and the caller gave up: either name fits what the wire shows.
    assert got[2][0] == "Local/bob" and got[2][1] in ("abandoned", "no-answer")
    assert len(got) == 3
    first = calls[1]
    assert first["caller_id"] == {"name": "Alice Caller", "number": "5550100"}
    assert first["direction"] == "inbound"
    assert first["start"] <= first["end"]


def test_db_and_record_are_for_ami_not_for_mqtt(tmp_path: Path) -> None:
    done = tapievent("monitor", "--mqtt", "mqtt://127.0.0.1/office", "--db", str(tmp_path / "x"))
    assert done.returncode == 2
    assert "--db and --record keep what AMI sends: not with --mqtt" in done.stderr
    assert not (tmp_path / "x").exists()


def test_a_record_without_times_shows_them_as_unknown(tmp_path: Path) -> None:
    # What a replay without timings gives: no start, answer or end.
    path = tmp_path / "calls.db"
    untimed = attrs.evolve(record(5), start=None, answer=None, end=None, cause=16)
    with CallHistory(path) as db:
        db.add(untimed)
    text = tapievent("calls", str(path)).stdout.splitlines()[1]
    assert text.startswith("-  ") and "  -     -     " in text
    row = json.loads(tapievent("calls", str(path), "--format", "json").stdout)
    unknown = [row[k] for k in ("start", "answer", "end", "ring_seconds", "talk_seconds")]
    assert (unknown, row["cause"]) == ([None] * 5, 16)
    (line,) = csv.DictReader(io.StringIO(tapievent("calls", str(path), "--format", "csv").stdout))
    assert (line["start"], line["ring_seconds"], line["cause"]) == ("", "", "16")
    assert tapievent("calls", str(path), "--since", "7d").stdout == ""  # no end: not "since"


@given(
    st.datetimes(
        min_value=datetime.datetime(1971, 1, 2),
        max_value=datetime.datetime(2100, 1, 1),
        timezones=st.sampled_from(
            [datetime.timezone.utc, datetime.timezone(datetime.timedelta(hours=-5, minutes=-30))]
        ),
    )
)
def test_since_reads_every_iso_time_with_a_zone(moment: datetime.datetime) -> None:
    assert parse_since(moment.isoformat()) == moment.timestamp()
    if moment.utcoffset() == datetime.timedelta(0):
        assert parse_since(moment.replace(tzinfo=None).isoformat() + "Z") == moment.timestamp()


@given(st.integers(0, 10**6), st.sampled_from("smhdwSMHDW"))
def test_since_reads_every_relative_duration(n: int, unit: str) -> None:
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[unit.lower()]
    assert parse_since(f"{n}{unit}", now=lambda: 2e9) == 2e9 - n * seconds


@given(st.text(max_size=30))
def test_since_reads_any_text_or_says_it_is_not_a_time(text: str) -> None:
    try:
        value = parse_since(text, now=lambda: 2e9)
    except argparse.ArgumentTypeError as exc:
        assert str(exc).startswith("not a time: ")
    else:
        assert isinstance(value, float)


def test_a_date_the_clock_cannot_hold_is_one_clear_line(history: Path) -> None:
    # Year 1 as local time overflows the platform's clock: that was a traceback.
    done = tapievent("calls", str(history), "--since", "0001-01-01")
    assert done.returncode == 2
    assert "not a time: '0001-01-01'" in done.stderr and "Traceback" not in done.stderr


def test_a_record_that_cannot_be_stored_is_one_line_and_monitor_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tapievent.cli.monitor_store import Stores

    path = tmp_path / "calls.db"
    history = CallHistory(path)
    history._db.execute("PRAGMA busy_timeout=50")
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the file
    stores = Stores(history, None)
    stores.keep(record(1))  # no exception: the events keep flowing
    blocker.execute("ROLLBACK")
    blocker.close()
    stores.keep(record(2))
    stores.close()
    assert capsys.readouterr().err == (
        f"tapievent monitor: error: cannot store the call in {path}: database is locked\n"
    )
    with CallHistory(path) as again:
        assert again.calls() == [record(2)]
