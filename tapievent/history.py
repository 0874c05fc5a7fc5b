"""Call history: every ``CallRecord`` (one per line a call was offered to) in an SQLite file.

A runtime edge, not part of the sans-IO core (the core never opens files):
``tapievent monitor --db FILE`` writes here and ``tapievent calls FILE``
reads, and a program can do the same::

    with CallHistory("calls.db") as history:
        history.add(record)                       # committed before it returns
        for call in history.calls(since=time.time() - 3600, lines=["PJSIP/bob"]):
            ...

Promises, and how they are kept:

- **A crash loses at most the call in progress.** Each record is one
  statement in autocommit mode, so it is committed before :meth:`CallHistory.add`
  returns; the journal is WAL with ``synchronous=FULL``, so a committed
  record survives the writer being killed (SIGKILL) and a power cut.
- **Caller ids are personal data**: a file this module creates is made with
  mode 0600 (SQLite gives its ``-wal`` and ``-shm`` files the same mode).
- **Exact bytes.** Text that came from Asterisk may hold bytes that are not
  UTF-8 (the codec keeps them as surrogate escapes, PEP 383). It is stored
  as the exact bytes, in TEXT columns, and read back as the same string.
- **A versioned schema.** ``PRAGMA user_version`` is the schema version and
  ``PRAGMA application_id`` marks the file as tapievent's. Opening a file
  runs the migrations from its version up to :data:`SCHEMA_VERSION` (a new
  file is version 0: the first migration creates the tables); a newer
  version, another program's database, a file that is not SQLite or a
  damaged one is a :class:`HistoryError` naming the file, never a traceback.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from ._callerid import CallerId
from ._records import CallDirection, CallRecord, Disposition

__all__ = [
    "APPLICATION_ID",
    "SCHEMA_VERSION",
    "CallDirection",
    "CallHistory",
    "CallRecord",
    "Disposition",
    "HistoryError",
]
# CallRecord and its enums are re-exported: what CallHistory stores and returns.

APPLICATION_ID = 0x54415049
"""``PRAGMA application_id`` of a tapievent call history: ``TAPI`` in ASCII."""


class HistoryError(Exception):
    """The file cannot be used as a call history; the message names the file and why."""


Migration = Callable[[sqlite3.Connection], None]


def _create_version_1(db: sqlite3.Connection) -> None:
    """Version 0 (an empty file) to 1: the ``calls`` table and its indexes."""
    db.execute(
        """
        CREATE TABLE calls (
            id            INTEGER PRIMARY KEY,
            source        TEXT NOT NULL,
            line          TEXT NOT NULL,
            call_key      TEXT NOT NULL,
            lines         TEXT NOT NULL,   -- JSON array, in NewCall order
            answered_by   TEXT,
            direction     TEXT NOT NULL,   -- CallDirection value
            disposition   TEXT NOT NULL,   -- Disposition value
            caller_name   TEXT,
            caller_number TEXT,
            start         REAL,            -- POSIX seconds, UTC; NULL: not known
            answer        REAL,
            "end"         REAL,
            synthesized   INTEGER NOT NULL,
            cause         INTEGER          -- the Hangup's Q.850 cause, if one ended it
        )
        """
    )
    db.execute('CREATE INDEX calls_by_end ON calls ("end")')
    db.execute('CREATE INDEX calls_by_line ON calls (line, "end")')


MIGRATIONS: tuple[Migration, ...] = (_create_version_1,)
"""``MIGRATIONS[n]`` turns a version ``n`` file into version ``n + 1``.

A later schema appends its step here (``ALTER TABLE``, a new index, ...);
an old file is brought up to date, one step per transaction, when it is
opened.
"""

SCHEMA_VERSION = len(MIGRATIONS)
"""The schema version this tapievent writes (``PRAGMA user_version``)."""

_COLUMNS = (
    "source, line, call_key, lines, answered_by, direction, disposition, "
    'caller_name, caller_number, start, answer, "end", synthesized, cause'
)
_INSERT = (
    "INSERT INTO calls (source, line, call_key, lines, answered_by, direction, disposition, "
    'caller_name, caller_number, start, answer, "end", synthesized, cause) VALUES ('
    "CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), "
    "CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), ?, ?, ?, ?, ?)"
)
"""Text goes in as bytes cast to TEXT: the exact bytes, whatever their encoding."""


def _wire(text: str | None) -> bytes | None:
    """The exact bytes of ``text`` (surrogate escapes back to the bytes Asterisk sent)."""
    if text is None:
        return None
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise ValueError(f"{text!r} holds a lone surrogate that stands for no byte") from None


def _text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def _time(value: float | None, name: str) -> float | None:
    if value is not None and not math.isfinite(value):
        raise ValueError(f"{name} must be a finite time, not {value!r}")
    return value


def _row(record: CallRecord) -> tuple[Any, ...]:
    caller = record.caller_id
    return (
        _wire(record.source),
        _wire(record.line),
        _wire(record.call_key),
        _wire(json.dumps(list(record.lines), ensure_ascii=False)),
        _wire(record.answered_by),
        _wire(record.direction.value),
        _wire(record.disposition.value),
        _wire(caller.name if caller is not None else None),
        _wire(caller.number if caller is not None else None),
        _time(record.start, "start"),
        _time(record.answer, "answer"),
        _time(record.end, "end"),
        int(record.synthesized),
        record.cause,
    )


def _record(row: Sequence[Any]) -> CallRecord:
    source, line, key, lines, answered_by, direction, disposition = row[:7]
    name, number, start, answer, end, synthesized, cause = row[7:]
    return CallRecord(
        line=line,
        call_key=key,
        lines=tuple(json.loads(lines)),
        answered_by=answered_by,
        direction=CallDirection(direction),
        disposition=Disposition(disposition),
        caller_id=None if name is None and number is None else CallerId(name, number),
        start=start,
        answer=answer,
        end=end,
        synthesized=bool(synthesized),
        source=source,
        cause=cause,
    )


def _create_private(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (an empty file is a new database)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise HistoryError(f"cannot create {path}: {exc.strerror or exc}") from None
    os.close(fd)


class CallHistory:
    """A call history file, opened (and created or upgraded) for reading and writing.

    ``create=False`` refuses a file that does not exist instead of creating
    it (``tapievent calls`` does so: a typo must not leave an empty file
    behind). Raises :class:`HistoryError` for a file that is not a usable
    history. One instance belongs to one thread; several processes may use
    the same file at once (WAL: readers never block the writer).
    """

    migrations: tuple[Migration, ...] = MIGRATIONS
    """The steps from version 0 up to the version this class writes."""

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True) -> None:
        self.path = Path(path)
        if create:
            _create_private(self.path)
        elif not self.path.exists():
            raise HistoryError(f"{self.path}: no such call history file")
        try:
            self._db = sqlite3.connect(
                f"{self.path.resolve().as_uri()}?mode=rw", uri=True, timeout=10.0
            )
        except sqlite3.Error as exc:
            raise HistoryError(f"cannot open {self.path}: {exc}") from None
        self._db.isolation_level = None  # autocommit: each statement is its own transaction
        self._db.text_factory = _text
        try:
            self._prepare()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise self._damaged(exc) from None
        except HistoryError:
            self._db.close()
            raise

    # ------------------------------------------------------------------ opening

    def _damaged(self, exc: Exception) -> HistoryError:
        if isinstance(exc, sqlite3.OperationalError):
            # Locked past the timeout, read-only, out of disk: the file may be fine.
            return HistoryError(f"cannot use {self.path}: {exc}")
        return HistoryError(
            f"{self.path} is not a tapievent call history (not an SQLite database, "
            f"or a damaged one): {exc}"
        )

    def _pragma(self, name: str) -> int:
        value = self._db.execute(f"PRAGMA {name}").fetchone()[0]
        return int(value)

    def _prepare(self) -> None:
        db = self._db
        version = self._pragma("user_version")
        self._check(version)
        if db.execute("PRAGMA journal_mode=WAL").fetchone()[0].lower() != "wal":
            raise HistoryError(f"{self.path}: SQLite cannot keep a write-ahead log for this file")
        db.execute("PRAGMA synchronous=FULL")
        for step in range(version, len(self.migrations)):
            db.execute("BEGIN IMMEDIATE")
            try:
                if self._pragma("user_version") == step:  # another process may have upgraded it
                    self.migrations[step](db)
                    db.execute(f"PRAGMA application_id={APPLICATION_ID}")
                    db.execute(f"PRAGMA user_version={step + 1}")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def _check(self, version: int) -> None:
        app = self._pragma("application_id")
        if version == 0 and app == 0:
            tables = self._db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if tables:
                raise HistoryError(
                    f"{self.path} is an SQLite database of another program, "
                    "not a tapievent call history"
                )
            return
        if app != APPLICATION_ID:
            raise HistoryError(
                f"{self.path} is an SQLite database of another program "
                f"(application_id {app:#x}), not a tapievent call history"
            )
        if version > len(self.migrations):
            raise HistoryError(
                f"{self.path} has call history schema version {version}; this tapievent "
                f"reads versions up to {len(self.migrations)}: upgrade tapievent"
            )

    # ------------------------------------------------------------------ use

    @property
    def schema_version(self) -> int:
        """The file's ``PRAGMA user_version`` (after opening: :data:`SCHEMA_VERSION`)."""
        return self._pragma("user_version")

    def add(self, record: CallRecord) -> None:
        """Store one record; it is committed (on disk) when this returns.

        Raises ``ValueError`` for a time that is not finite or text that
        stands for no bytes, :class:`HistoryError` when the file cannot take it.
        """
        row = _row(record)
        try:
            self._db.execute(_INSERT, row)
        except sqlite3.Error as exc:
            raise HistoryError(f"cannot store the call in {self.path}: {exc}") from None

    def calls(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        lines: Iterable[str] | None = None,
    ) -> list[CallRecord]:
        """The records whose call ended in ``[since, until)`` on one of ``lines``, oldest first.

        ``None`` leaves that side open (every line, all time). Times are
        POSIX seconds; the order is by end time, then by the order stored. A
        record without an end time (a replay without timings) sorts first
        and is left out by ``since`` and ``until``.
        """
        where: list[str] = []
        params: list[Any] = []
        if since is not None:
            where.append('"end" >= ?')
            params.append(since)
        if until is not None:
            where.append('"end" < ?')
            params.append(until)
        if lines is not None:
            wanted = [_wire(line) for line in lines]
            if not wanted:
                return []
            where.append(f"line IN ({', '.join(['CAST(? AS TEXT)'] * len(wanted))})")
            params.extend(wanted)
        query = f"SELECT {_COLUMNS} FROM calls"  # noqa: S608 - values go in as parameters
        if where:
            query += " WHERE " + " AND ".join(where)
        query += ' ORDER BY "end", id'
        try:
            rows = self._db.execute(query, params).fetchall()
            return [_record(row) for row in rows]
        except (sqlite3.Error, ValueError) as exc:
            raise self._damaged(exc) from None

    def close(self) -> None:
        """Close the file (every record is already committed)."""
        self._db.close()

    def __enter__(self) -> CallHistory:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<CallHistory {str(self.path)!r}>"
