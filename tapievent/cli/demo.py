"""``tapievent demo``: a real recorded call, replayed through the whole stack.

Needs no Asterisk: the capture ``12-scenario7-ringgroup.ami`` (bytes a real
Asterisk 22.10.1 sent, bundled as package data) goes through the AMI
decoder and the call tracker, and the resulting TAPI events are printed
as a timeline.
"""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path

from ._shared import add_format_argument, print_events
from .replay import ReplayStats, replay

__all__ = ["CAPTURE", "register"]

CAPTURE = "12-scenario7-ringgroup.ami"

_INTRO = """\
tapievent demo: a real call recorded from Asterisk 22.10.1 ({capture}),
replayed through the AMI decoder and the call tracker, no Asterisk needed.
Alice Caller <5550100> dials a ring group: the dialplan rings the phones
Local/bob and Local/bobbett; Local/bob answers, later the call ends.

LINE             EVENT      DETAILS
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="replay a bundled real Asterisk capture and print its call timeline",
        description=(
            "Replay a call recorded from a real Asterisk 22.10.1 through the decoder and "
            "the call tracker, and print the TAPI events as a timeline."
        ),
    )
    add_format_argument(parser)
    parser.set_defaults(func=run)


def capture_bytes() -> bytes:
    """The bundled capture, read through importlib.resources (works from a wheel or zip)."""
    try:
        return resources.files("tapievent").joinpath("data").joinpath(CAPTURE).read_bytes()
    except (NotADirectoryError, TypeError):
        # Some setuptools editable installs expose the package as a namespace
        # whose path includes a non-directory hook entry, which
        # importlib.resources rejects; the file is then in the package's data.
        return (Path(__file__).parent.parent / "data" / CAPTURE).read_bytes()


def run(args: argparse.Namespace) -> int:
    data = capture_bytes()
    if args.format == "json":
        print_events(replay(data), "json")
        return 0
    stats = ReplayStats()
    print(_INTRO.format(capture=CAPTURE), end="")
    print_events(replay(data, stats=stats), "text")
    assert stats.tracker is not None
    print(
        f"\n{len(data)} bytes, {stats.frames} AMI messages -> {stats.events} TAPI events "
        f"and {stats.records} call records; calls still tracked: {stats.tracker.call_count}."
    )
    return 0
