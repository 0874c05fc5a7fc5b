"""``tapievent replay FILE``: any raw AMI capture through the decoder and the tracker."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator

from .._diagnostics import DiagnosticCode
from .._errors import RemoteProtocolError
from ..ami_codec import NEED_DATA, AMIDecoder, Message
from ..model import Diagnostic, OutputEvent
from ..tracker import CallTracker
from ._shared import add_format_argument, add_line_argument, print_events, printable

__all__ = ["ReplayStats", "register", "replay"]


class ReplayStats:
    """What a replay went through, for the closing summary line."""

    def __init__(self) -> None:
        self.frames = 0
        self.events = 0
        self.tracker: CallTracker | None = None


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
            if stats is not None:
                stats.events += 1
            yield Diagnostic(DiagnosticCode.PROTOCOL_ERROR, str(exc))
            continue
        if frame is NEED_DATA:
            return
        if stats is not None and isinstance(frame, Message):
            stats.frames += 1
        for event in tracker.handle(frame):
            if stats is not None:
                stats.events += 1
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
    print_events(replay(data, args.lines), args.format)
    return 0
