"""``tapievent decode``: print the frames of a raw AMI capture.

A raw capture is the exact bytes a client received from Asterisk (for
example the ``*.ami`` files in ``tests/data``). Each frame is printed as a
block of ``name: value`` lines with a blank line between blocks, so the
output reads like the wire but with every frame boundary, limit and
legacy body resolved by the real decoder. Protocol errors go to stderr as
``FILE: offset N: message`` and decoding continues.

Exit status: 0 clean, 1 when the capture broke the protocol, 2 when the
file cannot be read.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from importlib import resources
from typing import IO, Any

from ..ami_codec import NEED_DATA, AMIDecoder, Banner, Frame, Message, RemoteProtocolError
from ._shared import printable

EXAMPLE = "12-scenario7-ringgroup.ami"
_READ = 65536


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "decode",
        help="print the frames of a raw AMI capture",
        description="Print each frame of a raw AMI capture (bytes as received from Asterisk).",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("file", nargs="?", help="capture file ('-' reads standard input)")
    source.add_argument(
        "--example", action="store_true", help=f"decode the bundled real capture {EXAMPLE}"
    )
    parser.set_defaults(func=run)


def format_frame(frame: Frame) -> str:
    """The block printed for one frame, without the blank line after it."""
    if isinstance(frame, Banner):
        return printable(frame.text)
    lines = [printable(f"{name}: {value}" if name else value) for name, value in frame.headers]
    if frame.output is not None:
        lines += [printable(line) for line in frame.output.split("\n")]
        lines.append("--END COMMAND--")
    return "\n".join(lines)


def _chunks(stream: IO[bytes]) -> Iterator[bytes]:
    while chunk := stream.read(_READ):
        yield chunk


def decode_stream(stream: IO[bytes], label: str, out: IO[str], err: IO[str]) -> int:
    """Decode ``stream`` to ``out``; return the number of protocol errors."""
    decoder = AMIDecoder()
    errors = 0
    first = True

    def drain() -> None:
        nonlocal errors, first
        while True:
            try:
                frame = decoder.next_frame()
            except RemoteProtocolError as exc:
                errors += 1
                err.write(f"{label}: {exc}\n")
                continue
            if frame is NEED_DATA:
                return
            assert isinstance(frame, (Banner, Message))
            if not first:
                out.write("\n")
            first = False
            out.write(format_frame(frame) + "\n")

    for chunk in _chunks(stream):
        decoder.receive_data(chunk)
        drain()
    decoder.receive_eof()
    drain()
    return errors


def run(args: argparse.Namespace) -> int:
    out, err = sys.stdout, sys.stderr
    if args.example:
        with (resources.files("tapievent") / "data" / EXAMPLE).open("rb") as stream:
            errors = decode_stream(stream, EXAMPLE, out, err)
    elif args.file == "-":
        errors = decode_stream(sys.stdin.buffer, "<stdin>", out, err)
    else:
        try:
            stream = open(args.file, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            err.write(f"tapievent decode: cannot read {args.file}: {exc.strerror or exc}\n")
            return 2
        with stream:
            try:
                errors = decode_stream(stream, args.file, out, err)
            except BrokenPipeError:
                # The reader of our output went away (`decode x.ami | head`):
                # not a read error; the command line ends quietly.
                raise
            except OSError as exc:
                err.write(f"tapievent decode: cannot read {args.file}: {exc.strerror or exc}\n")
                return 2
    return 1 if errors else 0
