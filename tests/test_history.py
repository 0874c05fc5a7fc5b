"""tapievent.history: call records in SQLite, as a library user and the CLI rely on them."""

from __future__ import annotations

import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapievent._callerid import CallerId
from tapievent._records import CallDirection, CallRecord, Disposition
from tapievent.history import APPLICATION_ID, SCHEMA_VERSION, CallHistory, HistoryError

ROOT = Path(__file__).resolve().parent.parent


def start_of(n: int) -> float:
    """When call ``n`` of :func:`record` starts (one a minute)."""
    return 1_790_000_000.0 + 60 * n


def end_of(n: int) -> float:
    return start_of(n) + 30.25


def record(
    n: int = 0,
    *,
    line: str = "Local/bob",
    end: float | None = None,
    name: str | None = "Alice Caller",
) -> CallRecord:
    start = start_of(n)
    return CallRecord(
        line=line,
        call_key=f"1790000000.{n}",
        lines=(line, "Local/bobbett"),
        answered_by=line,
        direction=CallDirection.INBOUND,
        disposition=Disposition.ANSWERED,
        caller_id=CallerId(name, "5550100"),
        start=start,
        answer=start + 4.5,
        end=end_of(n) if end is None else end,
        source="pbx1",
    )


# ---------------------------------------------------------------- what goes in comes out

wire_text = st.binary(max_size=20).map(lambda b: b.decode("utf-8", "surrogateescape"))
"""Text as the codec hands it over: any bytes, those not UTF-8 as surrogate escapes."""
names = st.one_of(st.text(max_size=20), wire_text)
no_breaks = names.map(lambda s: s.replace("\r", "").replace("\n", "").replace("\0", ""))
times = st.floats(min_value=0, max_value=4e9, allow_nan=False)
caller_ids = st.one_of(
    st.none(),
    st.builds(
        CallerId,
        no_breaks.filter(bool),
        st.one_of(st.none(), no_breaks.map(lambda s: s.replace("<", "").replace(">", ""))),
    ),
)
records = st.builds(
    CallRecord,
    line=names,
    call_key=names,
    lines=st.lists(names, max_size=4).map(tuple),
    answered_by=st.one_of(st.none(), names),
    direction=st.sampled_from(CallDirection),
    disposition=st.sampled_from(Disposition),
    caller_id=caller_ids,
    start=st.one_of(st.none(), times),
    answer=st.one_of(st.none(), times),
    end=st.one_of(st.none(), times),
    synthesized=st.booleans(),
    source=names,
    cause=st.one_of(st.none(), st.integers(0, 127)),
)


@settings(max_examples=50)  # each example makes a file and fsyncs every record
@given(st.lists(records, min_size=1, max_size=5))
def test_every_record_reads_back_exactly(tmp_path_factory: pytest.TempPathFactory,
                                         stored: list[CallRecord]) -> None:  # fmt: skip
    path = tmp_path_factory.mktemp("h") / "calls.db"
    with CallHistory(path) as history:
        for one in stored:
            history.add(one)
    with CallHistory(path, create=False) as history:
        got = history.calls()
    # By end time (unknown first), stable: the same end keeps the stored order.
    assert got == sorted(stored, key=lambda r: -1.0 if r.end is None else r.end)


def test_bytes_that_are_not_utf8_are_stored_as_the_bytes_in_text_columns(tmp_path: Path) -> None:
    # A Latin-1 caller name: the sqlite3 shell sees the real bytes, typed TEXT.
    path = tmp_path / "calls.db"
    with CallHistory(path) as history:
        history.add(record(name="M\udcfcller"))
    db = sqlite3.connect(path)
    db.text_factory = bytes
    assert db.execute("SELECT caller_name, typeof(caller_name) FROM calls").fetchone() == (
        b"M\xfcller",
        b"text",
    )
    db.close()
    with CallHistory(path) as history:
        (got,) = history.calls()
    assert got.caller_id is not None and got.caller_id.name == "M\udcfcller"


def test_a_time_that_is_not_finite_is_refused(tmp_path: Path) -> None:
    with CallHistory(tmp_path / "calls.db") as history:
        with pytest.raises(ValueError, match="finite"):
            history.add(record(end=float("nan")))
        assert history.calls() == []


# ---------------------------------------------------------------- queries


def test_calls_by_end_time_and_line(tmp_path: Path) -> None:
    with CallHistory(tmp_path / "calls.db") as history:
        for n, line in enumerate(["Local/bob", "Local/ann", "Local/bob", "Local/cy"]):
            history.add(record(n, line=line))
        ends = [end_of(n) for n in range(4)]
        assert [r.end for r in history.calls()] == ends
        assert ends == sorted(ends) and len(ends) == 4
        assert [r.call_key for r in history.calls(since=ends[1])] == [
            "1790000000.1",
            "1790000000.2",
            "1790000000.3",
        ]
        assert [r.call_key for r in history.calls(until=ends[1])] == ["1790000000.0"]
        assert [r.call_key for r in history.calls(lines=["Local/bob"])] == [
            "1790000000.0",
            "1790000000.2",
        ]
        both = history.calls(since=ends[1], lines=["Local/bob", "Local/cy"])
        assert [r.line for r in both] == ["Local/bob", "Local/cy"]
        assert history.calls(lines=[]) == []


def test_the_queries_use_the_indexes_on_end_time_and_line(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    CallHistory(path).close()
    db = sqlite3.connect(path)
    plans = [
        " ".join(str(row[-1]) for row in db.execute(f"EXPLAIN QUERY PLAN {query}"))
        for query in (
            'SELECT * FROM calls WHERE "end" >= 5 ORDER BY "end"',
            "SELECT * FROM calls WHERE line IN ('a', 'b')",
        )
    ]
    db.close()
    assert "calls_by_end" in plans[0]
    assert "calls_by_line" in plans[1]


# ---------------------------------------------------------------- the file


def test_a_new_file_is_private_and_its_write_ahead_log_too(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    with CallHistory(path) as history:
        history.add(record())
        files = [path, path.with_name("calls.db-wal"), path.with_name("calls.db-shm")]
        modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in files}
    assert modes == {"calls.db": 0o600, "calls.db-wal": 0o600, "calls.db-shm": 0o600}


def test_the_file_says_what_it_is(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    CallHistory(path).close()
    db = sqlite3.connect(path)
    pragmas = [db.execute(f"PRAGMA {p}").fetchone()[0] for p in ("user_version", "application_id")]
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    assert pragmas == [SCHEMA_VERSION, APPLICATION_ID] == [1, 0x54415049]


WRITER = """
import sys
from tapievent.history import CallHistory
from test_history import record
history = CallHistory(sys.argv[1])
n = 0
while True:
    history.add(record(n))
    print(n, flush=True)
    n += 1
"""


def test_a_writer_killed_with_sigkill_loses_no_committed_call(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests")}
    with subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True, env=env
    ) as writer:
        assert writer.stdout is not None
        deadline = time.monotonic() + 30
        committed = -1
        while committed < 40 and time.monotonic() < deadline:
            committed = int(writer.stdout.readline())
        writer.send_signal(signal.SIGKILL)  # mid-write, most likely: it never stops writing
        writer.wait(10)
    assert writer.returncode == -signal.SIGKILL
    with CallHistory(path, create=False) as history:
        got = history.calls()
    # Everything the writer saw committed is there, intact, and nothing else.
    assert len(got) > committed
    assert got == [record(n) for n in range(len(got))]
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()


def test_a_file_that_is_not_sqlite_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "extensions.conf"
    path.write_text("[phones]\nexten => 201,1,Dial(PJSIP/201)\n" * 50)
    with pytest.raises(HistoryError, match=r"extensions\.conf is not a tapievent call history"):
        CallHistory(path)
    assert path.read_text().startswith("[phones]")  # not touched


def test_a_damaged_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    with CallHistory(path) as history:
        for n in range(200):
            history.add(record(n, name="x" * 200))
    data = bytearray(path.read_bytes())
    assert len(data) > 3 * 4096
    data[4096:-4096] = b"\xa5" * (len(data) - 8192)  # the header survives, the pages do not
    path.write_bytes(bytes(data))
    history = CallHistory(path)
    try:
        with pytest.raises(HistoryError, match="damaged"):
            history.calls()
    finally:
        history.close()


def test_another_programs_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE contacts (name TEXT)")
    db.commit()
    db.close()
    with pytest.raises(HistoryError, match="another program"):
        CallHistory(path)
    db = sqlite3.connect(path)
    assert db.execute("SELECT name FROM sqlite_master").fetchall() == [("contacts",)]
    db.close()


def test_a_newer_schema_names_the_file_and_both_versions(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    CallHistory(path).close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version=7")
    db.close()
    with pytest.raises(HistoryError) as caught:
        CallHistory(path)
    assert str(caught.value) == (
        f"{path} has call history schema version 7; this tapievent reads versions up to 1: "
        "upgrade tapievent"
    )


def test_a_missing_file_is_not_created_when_reading(tmp_path: Path) -> None:
    path = tmp_path / "typo.db"
    with pytest.raises(HistoryError, match="no such call history file"):
        CallHistory(path, create=False)
    assert not path.exists()


def _add_note_column(db: sqlite3.Connection) -> None:
    db.execute("ALTER TABLE calls ADD COLUMN note TEXT")


class _Version2(CallHistory):
    migrations = (*CallHistory.migrations, _add_note_column)


def test_a_version_1_file_is_migrated_forward_and_keeps_its_calls(tmp_path: Path) -> None:
    # The path a schema change will take: one more step in MIGRATIONS.
    path = tmp_path / "calls.db"
    with CallHistory(path) as history:
        history.add(record(1))
        assert history.schema_version == 1
    with _Version2(path) as history:
        assert history.schema_version == 2
        assert history.calls() == [record(1)]
    db = sqlite3.connect(path)
    assert "note" in [row[1] for row in db.execute("PRAGMA table_info(calls)")]
    db.close()
    with pytest.raises(
        HistoryError, match="schema version 2; this tapievent reads versions up to 1"
    ):
        CallHistory(path)


def test_a_reader_and_a_writer_share_the_file(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    with CallHistory(path) as writer, CallHistory(path, create=False) as reader:
        writer.add(record(1))
        assert reader.calls() == [record(1)]
        writer.add(record(2))
        assert reader.calls() == [record(1), record(2)]


def test_the_history_page_examples_run(tmp_path: Path) -> None:
    from docs_examples import run_python_blocks

    assert run_python_blocks("history.md", tmp_path) == 4


def test_a_history_locked_by_another_writer_is_not_called_damaged(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    with CallHistory(path) as history:
        history._db.execute("PRAGMA busy_timeout=50")  # not 10 s: the test waits for it
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        with pytest.raises(HistoryError) as caught:
            history.add(record())
        blocker.execute("ROLLBACK")
        blocker.close()
        history.add(record())  # and once it is free again, the record goes in
        assert history.calls() == [record()]
    assert str(caught.value) == f"cannot store the call in {path}: database is locked"
