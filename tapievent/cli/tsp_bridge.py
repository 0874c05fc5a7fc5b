"""``tapievent tsp-bridge --config FILE``: the process the Windows TSP talks to."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from ._shared import add_log_arguments, configure_logging


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "tsp-bridge",
        help="serve the tapievent TSP (Windows Telephony) over loopback",
        description="Bridge the tapievent.tsp TAPI service provider to Asterisk's AMI "
        "(see docs/tsp.md). Runs until interrupted.",
    )
    parser.add_argument("--config", required=True, help="bridge configuration file (INI)")
    add_log_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..transports.aio import AuthenticationError
    from ..tsp.config import ConfigError, load_config
    from ..tsp.service import run_bridge

    configure_logging(args)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"tapievent tsp-bridge: {exc}", file=sys.stderr)
        return 2

    def ready(bridge: object) -> None:
        print(f"tapievent tsp-bridge: serving {', '.join(config.lines)}", file=sys.stderr)

    try:
        asyncio.run(run_bridge(config, ready=ready))
    except AuthenticationError as exc:
        print(f"tapievent tsp-bridge: AMI login refused: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"tapievent tsp-bridge: {exc}", file=sys.stderr)
        return 1
    return 0
