"""``tapievent replay FILE``: any raw AMI capture through the decoder and the tracker.

The events go to standard output (text or pure JSON Lines); one summary
line goes to standard error. Input with no banner and no ``Event:`` or
``Response:`` frame (``replay extensions.conf``) is not a capture: that is
said, and the exit status is 1, so a script cannot take it for a quiet one.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator

from .._diagnostics import DiagnosticCode
from .._errors import RemoteProtocolError
from ..ami_codec import NEED_DATA, AMIDecoder, Banner, Message
from ..model import CallInfo, CallState, Diagnostic, NewCall, OutputEvent
from ..tracker import CallTracker
from ._shared import add_format_argument, add_line_argument, print_events, printable

__all__ = ["ReplayStats", "register", "replay"]


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
        self.tracker: CallTracker | None = None

    def count_frame(self, frame: object) -> None:
        if isinstance(frame, Banner):
            self.banner = True
        elif isinstance(frame, Message):
            self.frames += 1
            if frame.get("Event") is not None or frame.get("Response") is not None:
                self.ami_frames += 1

    def count_event(self, event: OutputEvent) -> None:
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
    data: bytes, lines: Iterable[str] | None = None, stats: ReplayStats | None = None
) -> Iterator[OutputEvent]:
    """Decode ``data`` (bytes as received from Asterisk) and yield the tracker's events.

    No session is involved: a capture is a recording of one side, so every
    frame goes straight from the decoder to the tracker. A frame the decoder
    rejects becomes a ``protocol-error`` diagnostic and the replay goes on
    (the decoder resynchronises at the next blank line).
    """
    tracker = CallTracker(lines)
    if stats is not None:
        stats.tracker = tracker
    decoder = AMIDecoder()
    decoder.receive_data(data)
    decoder.receive_eof()
    while True:
        try:
            frame = decoder.next_frame()
        except RemoteProtocolError as exc:
            diagnostic = Diagnostic(DiagnosticCode.PROTOCOL_ERROR, str(exc))
            if stats is not None:
                stats.count_event(diagnostic)
            yield diagnostic
            continue
        if frame is NEED_DATA:
            return
        if stats is not None:
            stats.count_frame(frame)
        for event in tracker.handle(frame):
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
    parser.set_defaults(func=run)


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
    stats = ReplayStats()
    print_events(replay(data, args.lines, stats), args.format)
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
