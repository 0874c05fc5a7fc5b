"""``tapievent lint``: check the TAPI UserEvents of extensions.conf files."""

from __future__ import annotations

import argparse
import json
import sys

from ..dialplan._findings import Finding
from ..dialplan.lint import lint, lint_paths
from ..dialplan.render import DialplanError
from ._shared import asterisk_release, printable

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
    parser.add_argument(
        "files", nargs="+", metavar="FILE", help="extensions.conf files ('-' alone: standard input)"
    )
    parser.add_argument(
        "--asterisk",
        default=DEFAULT_VERSION,
        metavar="VERSION",
        help=f"the Asterisk version the dialplan runs on (default: {DEFAULT_VERSION})",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(func=run)


def _findings(files: list[str], version: tuple[int, ...]) -> list[Finding]:
    if files == ["-"]:
        # Read as Asterisk reads a file: bytes, any that are not UTF-8 kept.
        text = sys.stdin.buffer.read().decode("utf-8", "surrogateescape")
        return lint(text, version, file="<stdin>")
    return lint_paths(files, version)


def run(args: argparse.Namespace) -> int:
    try:
        version = asterisk_release(args.asterisk)
    except DialplanError as exc:
        print(f"tapievent lint: {exc}", file=sys.stderr)
        return 2
    if "-" in args.files and len(args.files) > 1:
        print("tapievent lint: '-' (standard input) must be the only FILE", file=sys.stderr)
        return 2
    try:
        findings = _findings(args.files, version)
    except OSError as exc:
        name = exc.filename if exc.filename is not None else "?"
        print(
            f"tapievent lint: cannot read {printable(str(name))}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 2
    if args.format == "json":
        # ASCII JSON: a non-UTF-8 byte of the file survives as \udcNN (docs/cli.md).
        json.dump([f.to_dict() for f in findings], sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for finding in findings:
            print(printable(finding.format()))
    return 1 if findings else 0
