"""``tapievent monitor --db FILE --record PATH``: keep the calls, keep the bytes.

``--db`` stores every :class:`~tapievent.CallRecord` the event stream
carries in a call history (:mod:`tapievent.history`; ``tapievent calls``
lists them). ``--record`` writes the bytes received, after TLS, as a
capture ``tapievent replay`` plays back (:mod:`tapievent.recording`).
Both files are opened before the command connects, so a path that cannot
be used is one line and exit status 2, not a surprise an hour later.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from .._records import CallRecord
from ..history import CallHistory, HistoryError
from ..model import OutputEvent
from ..recording import CaptureWriter
from ._shared import printable

__all__ = ["Stores", "add_store_options", "open_stores"]


def add_store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="FILE",
        help="store every call record in this SQLite call history (created 0600 if missing; "
        "'tapievent calls FILE' lists them)",
    )
    parser.add_argument(
        "--record",
        metavar="PATH",
        help="write the bytes received (after TLS) to PATH and the chunk timing to "
        "PATH.timing.tsv, for 'tapievent replay PATH'; a reconnect starts PATH-2, ...",
    )


class Stores:
    """The history and the capture of one ``monitor`` run (either may be absent)."""

    def __init__(self, history: CallHistory | None, capture: CaptureWriter | None) -> None:
        self.history = history
        self.capture = capture

    @property
    def on_receive(self) -> Callable[[bytes], None] | None:
        """The client's ``on_receive`` hook: the capture writer, if recording."""
        return self.capture

    def keep(self, event: OutputEvent | CallRecord) -> None:
        """Store ``event`` if it is a call record; a failed write is one line, not the end."""
        if self.history is None or not isinstance(event, CallRecord):
            return
        try:
            self.history.add(event)
        except (HistoryError, ValueError) as exc:
            print(f"tapievent monitor: error: {printable(str(exc))}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.history is not None:
            self.history.close()
        if self.capture is not None:
            self.capture.close()


def open_stores(args: argparse.Namespace) -> Stores:
    """Open ``--db`` and ``--record``; raises ``ValueError`` with the line to print."""
    history = None
    if args.db is not None:
        try:
            history = CallHistory(args.db)
        except HistoryError as exc:
            raise ValueError(printable(str(exc))) from None
    capture = None
    if args.record is not None:
        try:
            capture = CaptureWriter(args.record)
        except OSError as exc:
            if history is not None:
                history.close()
            reason = exc.strerror or str(exc)
            raise ValueError(f"cannot write {printable(args.record)}: {reason}") from None
    return Stores(history, capture)
