"""``tapievent lint``: check the TAPI UserEvents of extensions.conf files."""

from __future__ import annotations

import argparse
import json
import sys

from .dialplan.lint import lint_paths
from .dialplan.render import DialplanError, asterisk_version

DEFAULT_VERSION = "23"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "lint",
        help="check the TAPI UserEvents of extensions.conf files",
        description=(
            "Read FILEs as Asterisk reads extensions.conf (with #include) and report every "
            "TAPI UserEvent problem as file:line:col: severity: code: message. "
            "Exit status: 0 clean, 1 findings, 2 unreadable input or bad arguments."
        ),
    )
    parser.add_argument("files", nargs="+", metavar="FILE")
    parser.add_argument(
        "--asterisk",
        default=DEFAULT_VERSION,
        metavar="VERSION",
        help=f"the Asterisk version the dialplan runs on (default: {DEFAULT_VERSION})",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(func=run)


def _printable(text: str) -> str:
    """Text whose non-UTF-8 bytes (kept as surrogates) print as U+FFFD, not a traceback."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def run(args: argparse.Namespace) -> int:
    try:
        version = asterisk_version(args.asterisk)
    except DialplanError as exc:
        print(f"tapievent lint: {exc}", file=sys.stderr)
        return 2
    try:
        findings = lint_paths(args.files, version)
    except OSError as exc:
        name = exc.filename if exc.filename is not None else "?"
        print(f"tapievent lint: cannot read {name}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    if args.format == "json":
        # ASCII JSON: a non-UTF-8 byte of the file survives as an escape.
        json.dump([f.to_dict() for f in findings], sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for finding in findings:
            print(_printable(finding.format()))
    return 1 if findings else 0
