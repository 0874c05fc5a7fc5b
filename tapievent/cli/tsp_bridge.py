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
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", help="bridge configuration file (INI)")
    source.add_argument(
        "--registry",
        action="store_true",
        help="read the configuration the Configure dialog wrote (Windows, HKLM)",
    )
    add_log_arguments(parser)
    parser.set_defaults(func=run)


def _registry_config() -> Any:
    """The one configuration in HKLM, the secret unprotected in this (the service's) account."""
    from ..tsp.registry import bridge_config, read_windows_registry, unprotect

    settings = read_windows_registry()
    return bridge_config(settings, unprotect(settings.secret_blob) if settings.secret_blob else "")


def run(args: argparse.Namespace) -> int:
    from ..transports.aio import AuthenticationError
    from ..tsp.config import ConfigError, load_config
    from ..tsp.service import run_bridge

    configure_logging(args)
    try:
        config = _registry_config() if args.registry else load_config(args.config)
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
