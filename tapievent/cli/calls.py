"""``tapievent calls FILE``: the calls a ``monitor --db FILE`` stored, as text, JSON or CSV.

Text is a table for people (times in UTC like every event's, columns as wide
as their longest value); JSON Lines and CSV are for programs, with ISO-8601
times in UTC (``2026-12-02T08:15:03.250000+00:00``); a JSON line is the very
object ``monitor --format json`` prints for the record. The bytes that are not UTF-8 follow the
command line's one rule (docs/cli.md): ``\\xNN`` in text and CSV, the
reversible ``\\udcNN`` escape in JSON, which is always ASCII.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import re
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from .._records import CallRecord
from ..history import CallHistory, HistoryError
from ._shared import add_line_argument, caller_id_text, event_dict, event_json, printable

__all__ = ["parse_since", "record_dict", "register"]

_RELATIVE = re.compile(r"(\d+(?:\.\d+)?)([smhdw])", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str, now: Callable[[], float] = time.time) -> float:
    """``--since``: ``30m``, ``2h``, ``7d`` ago, or an ISO-8601 date or time, as POSIX seconds.

    A date or time without a zone is local time (what a person means); a
    date alone is its midnight. Anything else is an ``ArgumentTypeError``.
    """
    value = text.strip()
    relative = _RELATIVE.fullmatch(value)
    if relative is not None:
        return now() - float(relative.group(1)) * _UNIT_SECONDS[relative.group(2).lower()]
    iso = value[:-1] + "+00:00" if value[-1:] in ("Z", "z") else value
    try:
        # A naive time is taken as local time; a year the clock cannot hold is refused too.
        return datetime.datetime.fromisoformat(iso).timestamp()
    except (ValueError, OverflowError, OSError):
        raise argparse.ArgumentTypeError(
            f"not a time: {printable(text)!r} (use 30m, 2h, 7d, 2026-12-01 or "
            "2026-12-01T08:00+01:00)"
        ) from None


def record_dict(record: CallRecord) -> dict[str, Any]:
    """One record as ``monitor --format json`` prints it: the same object, whatever the command."""
    return event_dict(record)


CSV_FIELDS = (
    "source", "line", "call_key", "direction", "disposition", "caller_name", "caller_number",
    "start", "answer", "end", "ring_seconds", "talk_seconds", "answered_by", "lines", "synthesized",
    "cause",
)  # fmt: skip
"""The CSV header row, in column order."""


def _csv_row(record: CallRecord) -> list[str]:
    values = record_dict(record)
    values.setdefault("source", "")
    caller = record.caller_id
    values["caller_name"] = caller.name if caller is not None else None
    values["caller_number"] = caller.number if caller is not None else None
    values["lines"] = " ".join(record.lines)
    for field in ("ring_seconds", "talk_seconds"):
        seconds = getattr(record, field)
        values[field] = None if seconds is None else f"{seconds:.3f}"
    values["synthesized"] = "yes" if record.synthesized else "no"
    return [printable("" if values[f] is None else str(values[f])) for f in CSV_FIELDS]


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _text_row(record: CallRecord, with_source: bool) -> list[str]:
    start = "-"
    if record.start is not None:
        moment = datetime.datetime.fromtimestamp(record.start, tz=datetime.timezone.utc)
        start = moment.strftime("%Y-%m-%d %H:%M:%SZ")  # UTC, as every event's time
    disposition = record.disposition.value
    if record.answered_by and record.answered_by != record.line:
        disposition += f" ({record.answered_by})"
    row = [
        start,
        *([record.source] if with_source else []),
        record.line,
        record.direction.value,
        disposition,
        _duration(record.ring_seconds),
        _duration(record.talk_seconds),
        caller_id_text(record.caller_id),
        record.call_key,
    ]
    if record.synthesized:
        row[-1] += " [end synthesized by tapievent]"
    return [printable(cell) for cell in row]


def _print_text(records: Sequence[CallRecord]) -> None:
    with_source = any(r.source for r in records)
    header = ["start", *(["source"] if with_source else []), "line", "direction",
              "disposition", "ring", "talk", "caller", "call"]  # fmt: skip
    rows = [header, *(_text_row(r, with_source) for r in records)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def _print(records: Sequence[CallRecord], fmt: str) -> None:
    if fmt == "json":
        for record in records:
            print(event_json(record))
    elif fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(CSV_FIELDS)
        writer.writerows(_csv_row(r) for r in records)
    elif records:
        _print_text(records)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "calls",
        help="list the calls a 'monitor --db FILE' stored",
        description=(
            "List the call records of a call history file written by 'tapievent monitor --db', "
            "oldest first (by the time the call ended)."
        ),
    )
    parser.add_argument("file", metavar="FILE", help="the call history (SQLite)")
    parser.add_argument(
        "--since",
        type=parse_since,
        metavar="WHEN",
        help="only calls that ended since WHEN: 30m, 2h, 7d ago, or an ISO-8601 date/time "
        "(2026-12-01, 2026-12-01T08:00, 2026-12-01T08:00+01:00; no zone = local time)",
    )
    add_line_argument(parser, "only calls on this line (repeatable; default: every line)")
    parser.add_argument(
        "--format",
        choices=("text", "json", "csv"),
        default="text",
        help="text: a table (default); json: one JSON object per call; csv: with a header row",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        with CallHistory(args.file, create=False) as history:
            records = history.calls(since=args.since, lines=args.lines)
    except HistoryError as exc:
        print(f"tapievent calls: error: {printable(str(exc))}", file=sys.stderr)
        return 2
    _print(records, args.format)
    return 0
