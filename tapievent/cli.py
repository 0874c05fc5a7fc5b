"""The ``tapievent`` command line (also ``python -m tapievent``).

Each subcommand lives in its own private module ``tapievent._cmd_<name>``
exposing ``register(subparsers)``; the module sets ``func`` on its parser
with ``set_defaults(func=...)`` returning the exit status. Keeping them
apart lets the core stay importable without the command line's imports.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

# One entry per subcommand module, in the order ``--help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "demo",
    "replay",
    "decode",
    "monitor",
    "call",
    "dialplan",
    "lint",
    "tsp_bridge",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tapievent", description="Asterisk calls as TAPI events.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"tapievent._cmd_{name}")
        module.register(subparsers)
    importlib.import_module("tapievent.gateway.cli").add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
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
