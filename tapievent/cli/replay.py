"""``tapievent replay FILE``: any raw AMI capture through the decoder and the tracker.

The events go to standard output (text or pure JSON Lines); one summary
line goes to standard error. Input with no banner and no ``Event:`` or
``Response:`` frame (``replay extensions.conf``) is not a capture: that is
said, and the exit status is 1, so a script cannot take it for a quiet one.

Times: a capture recorded in the corpus format has ``NAME.timing.tsv``
beside ``NAME.ami`` (one row per ``recv()``: seconds since the connection
opened, offset, length). Replay then feeds the bytes chunk by chunk as they
arrived and gives each frame the time of the chunk that completed it,
counted from ``--start`` (POSIX seconds or ISO 8601; default 0, so the
clock reads the seconds since the capture's connection opened). Without a
timing file the events have no time, unless Asterisk stamped the frames
(``Timestamp:``), which always wins.
"""

from __future__ import annotations

import argparse
import datetime
import math
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from .._diagnostics import DiagnosticCode
from .._errors import RemoteProtocolError
from ..ami_codec import NEED_DATA, AMIDecoder, Banner, Message
from ..model import CallInfo, CallRecord, CallState, Diagnostic, NewCall, OutputEvent
from ..tracker import CallTracker
from ._shared import add_format_argument, add_line_argument, print_events, printable

__all__ = ["ReplayStats", "TimingError", "read_timing", "register", "replay"]

Chunk = tuple[float, int, int]
"""One row of a timing file: seconds since connect, offset, length."""


class TimingError(ValueError):
    """A timing file that does not describe the capture's bytes."""


def read_timing(text: str, size: int) -> list[Chunk]:
    """The rows of a ``.timing.tsv`` for a capture of ``size`` bytes, checked.

    The rows must follow the header ``t_s offset length``, cover the bytes
    in order without gap or overlap, and have times that never go back.
    """
    lines = text.splitlines()
    if not lines or lines[0].split() != ["t_s", "offset", "length"]:
        raise TimingError("the first line must be the header 't_s offset length'")
    rows: list[Chunk] = []
    expected, last = 0, 0.0
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        rows.append(_timing_row(line, number, expected, last))
        last, expected = rows[-1][0], expected + rows[-1][2]
    if expected != size:
        raise TimingError(f"the rows cover {expected} bytes, the capture has {size}")
    return rows


def _timing_row(line: str, number: int, expected: int, last: float) -> Chunk:
    parts = line.split()
    try:
        if len(parts) != 3:
            raise ValueError
        t, offset, length = float(parts[0]), int(parts[1]), int(parts[2])
    except ValueError:
        raise TimingError(f"line {number}: expected 'seconds offset length'") from None
    if not math.isfinite(t) or t < last:
        raise TimingError(f"line {number}: times must be finite, from 0, and never go back")
    if length < 0:
        raise TimingError(f"line {number}: a negative length")
    if offset != expected:
        raise TimingError(f"line {number}: offset {offset}, expected {expected}")
    return (t, offset, length)


class ReplayStats:
    """What a replay went through, for the closing summary line."""

    def __init__(self) -> None:
        self.frames = 0
        self.events = 0
        """Everything yielded: TAPI events and diagnostics."""
        self.diagnostics = 0
        self.banner = False
        self.ami_frames = 0
        """Frames with an ``Event:`` or a ``Response:`` header: what makes it AMI."""
        self.call_keys: set[str] = set()
        self.records = 0
        self.tracker: CallTracker | None = None

    def count_frame(self, frame: object) -> None:
        if isinstance(frame, Banner):
            self.banner = True
        elif isinstance(frame, Message):
            self.frames += 1
            if frame.get("Event") is not None or frame.get("Response") is not None:
                self.ami_frames += 1

    def count_event(self, event: OutputEvent) -> None:
        if isinstance(event, CallRecord):
            self.records += 1
            return
        self.events += 1
        if isinstance(event, Diagnostic):
            self.diagnostics += 1
        elif isinstance(event, (NewCall, CallState, CallInfo)):
            self.call_keys.add(event.call_key)

    @property
    def is_ami(self) -> bool:
        """Whether the input looked like AMI at all (a banner or one AMI frame)."""
        return self.banner or self.ami_frames > 0

    def summary(self) -> str:
        """``412 frames, 10 TAPI events, 1 call, 0 diagnostics``."""
        tapi = self.events - self.diagnostics
        return ", ".join(
            _counted(n, what)
            for n, what in (
                (self.frames, "frame"),
                (tapi, "TAPI event"),
                (len(self.call_keys), "call"),
                (self.diagnostics, "diagnostic"),
            )
        )


def _counted(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def replay(
    data: bytes,
    lines: Iterable[str] | None = None,
    stats: ReplayStats | None = None,
    *,
    timing: Sequence[Chunk] | None = None,
    start: float = 0.0,
    source: str = "",
) -> Iterator[OutputEvent]:
    """Decode ``data`` (bytes as received from Asterisk) and yield the tracker's events.

    No session is involved: a capture is a recording of one side, so every
    frame goes straight from the decoder to the tracker. A frame the decoder
    rejects becomes a ``protocol-error`` diagnostic and the replay goes on
    (the decoder resynchronises at the next blank line). With ``timing``
    (checked rows of :func:`read_timing`) the bytes are fed as they arrived
    and each frame's time is ``start`` plus its chunk's; without, frames
    have no time (``Timestamp:`` headers still count).
    """
    tracker = CallTracker(lines, source=source)
    if stats is not None:
        stats.tracker = tracker
    decoder = AMIDecoder()
    chunks = [(None, 0, len(data))] if timing is None else timing
    for t, offset, length in chunks:
        decoder.receive_data(data[offset : offset + length])
        yield from _drain(decoder, tracker, None if t is None else start + t, stats)
    decoder.receive_eof()
    yield from _drain(decoder, tracker, None, stats)


def _drain(
    decoder: AMIDecoder, tracker: CallTracker, time: float | None, stats: ReplayStats | None
) -> Iterator[OutputEvent]:
    while True:
        try:
            frame = decoder.next_frame()
        except RemoteProtocolError as exc:
            diagnostic = Diagnostic(DiagnosticCode.PROTOCOL_ERROR, str(exc), time=time)
            if stats is not None:
                stats.count_event(diagnostic)
            yield diagnostic
            continue
        if frame is NEED_DATA:
            return
        if stats is not None:
            stats.count_frame(frame)
        for event in tracker.handle(frame, time=time):
            if stats is not None:
                stats.count_event(event)
            yield event


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "replay",
        help="replay a raw AMI capture and print its TAPI events",
        description=(
            "Decode a file of bytes received from Asterisk's AMI (e.g. recorded with "
            "tcpdump/tcpflow or the tests' captures), run it through the call tracker "
            "and print the TAPI events."
        ),
    )
    parser.add_argument(
        "file", help="the capture (raw bytes as sent by Asterisk; '-' reads standard input)"
    )
    add_line_argument(parser, "only report this line (repeatable; default: every line)")
    add_format_argument(parser)
    parser.add_argument(
        "--timing",
        metavar="TSV",
        help="the capture's timing file (default: NAME.timing.tsv beside NAME.ami, if any)",
    )
    parser.add_argument(
        "--no-timing", action="store_true", help="ignore any timing file: events have no time"
    )
    parser.add_argument(
        "--start",
        type=start_time,
        default=0.0,
        help="when the capture's connection opened, POSIX seconds or ISO 8601 with a zone "
        "(default 0: times count from 1970-01-01T00:00:00Z)",
    )
    parser.add_argument("--name", default="", help="name the PBX on every event and record")
    parser.set_defaults(func=run)


def start_time(text: str) -> float:
    """An argparse type: POSIX seconds, or an ISO 8601 time that names its zone."""
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"not a time: {printable(text)!r}")
        return value
    # Python 3.10's fromisoformat does not read the "Z" of UTC.
    iso = text[:-1] + "+00:00" if text[-1:] in ("Z", "z") else text
    try:
        moment = datetime.datetime.fromisoformat(iso)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a time: {printable(text)!r}") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("an ISO 8601 time needs its zone (Z or +00:00)")
    return moment.timestamp()


def _timing_path(args: argparse.Namespace) -> Path | None:
    # The explicit file, else NAME.timing.tsv beside NAME.ami when it exists.
    if args.no_timing:
        return None
    if args.timing is not None:
        return Path(args.timing)
    if args.file == "-":
        return None
    capture = Path(args.file)
    sibling = capture.with_name(capture.name.removesuffix(".ami") + ".timing.tsv")
    return sibling if sibling.is_file() else None


def _read_timing(args: argparse.Namespace, size: int) -> list[Chunk] | None:
    path = _timing_path(args)
    if path is None:
        return None
    try:
        return read_timing(path.read_text(encoding="utf-8", errors="replace"), size)
    except OSError as exc:
        raise TimingError(f"cannot read {printable(str(path))}: {exc.strerror or exc}") from None
    except TimingError as exc:
        raise TimingError(f"{printable(str(path))}: {exc}") from None


def run(args: argparse.Namespace) -> int:
    try:
        if args.file == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(args.file, "rb") as f:
                data = f.read()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        print(
            f"tapievent replay: error: cannot read {printable(args.file)}: {reason}",
            file=sys.stderr,
        )
        return 2
    try:
        timing = _read_timing(args, len(data))
    except TimingError as exc:
        print(f"tapievent replay: error: timing file {exc}", file=sys.stderr)
        return 2
    stats = ReplayStats()
    events = replay(data, args.lines, stats, timing=timing, start=args.start, source=args.name)
    print_events(events, args.format)
    sys.stdout.flush()
    print(f"tapievent replay: {stats.summary()}", file=sys.stderr)
    if not stats.is_ami:
        name = "standard input" if args.file == "-" else printable(args.file)
        print(
            f"tapievent replay: error: {name} is not an AMI capture: no banner and no "
            "Event: or Response: frame (replay reads the bytes Asterisk's AMI sends, "
            "as tcpflow or 'tapievent monitor --record' save them)",
            file=sys.stderr,
        )
        return 1
    return 0
