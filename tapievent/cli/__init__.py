"""The ``tapievent`` command line (also ``python -m tapievent``).

One module per command (``tapievent.cli.replay``, ``tapievent.cli.monitor``,
...), each exposing ``register(subparsers)``: it adds its parser and sets
``func`` with ``set_defaults(func=...)``, a function of the parsed arguments
returning the exit status. What several commands share — argument types,
rendering of events, the one rule for bytes that are not UTF-8, connecting
to Asterisk — lives in ``tapievent.cli._shared``. The command line is an
edge of the package: the core never imports it.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from .. import __version__
from ._shared import configure_output

__all__ = ["COMMAND_MODULES", "build_parser", "main"]

# One entry per command module, in the order ``--help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "demo",
    "replay",
    "decode",
    "monitor",
    "calls",
    "call",
    "dialplan",
    "lint",
    "tsp_bridge",
    "gateway",
)


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command, as ``tapievent --help`` shows it."""
    parser = argparse.ArgumentParser(prog="tapievent", description="Asterisk calls as TAPI events.")
    parser.add_argument("--version", action="version", version=f"tapievent {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command line; return its exit status (the console script's entry point)."""
    configure_output()
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `tapievent replay big.ami | head` must not print a traceback.
        return 0


if __name__ == "__main__":
    sys.exit(main())
