"""``tapievent monitor``: live TAPI events (and diagnostics) from a real Asterisk.

The secret comes from ``TAPIEVENT_SECRET`` or a prompt, never from the
command line (argv is visible to every user of the machine in ``ps``).
Ctrl-C logs off and exits with status 0.
"""

from __future__ import annotations

import argparse
import datetime
import sys

from ..transports.aio import AsyncClient, connect
from ._shared import (
    SECRET_ENV,
    add_connection_arguments,
    add_format_argument,
    connect_options,
    event_json,
    event_text,
    run_client_command,
    wait_for_stop,
)

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "monitor",
        help="print live TAPI events and diagnostics from an Asterisk",
        description=(
            "Connect to Asterisk's AMI and print TAPI events as the dialplan raises them, "
            f"with diagnostics for dialplan mistakes. The secret is read from ${SECRET_ENV} "
            "or prompted for. Ctrl-C exits."
        ),
    )
    add_connection_arguments(parser)
    parser.add_argument(
        "--line",
        action="append",
        dest="lines",
        metavar="LINE",
        help="only follow this line (repeatable; default: every line)",
    )
    add_format_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return run_client_command("monitor", args, _monitor)


async def _monitor(args: argparse.Namespace, secret: str, port: int) -> int:
    client = await connect(args.host, port, **connect_options(args, secret, lines=args.lines))
    print(
        f"connected to {args.host}:{port} as {args.user}; waiting for TAPI events (Ctrl-C stops)",
        file=sys.stderr,
        flush=True,
    )

    async def printer(c: AsyncClient) -> None:
        async for event in c.events():
            if args.format == "json":
                print(event_json(event), flush=True)
            else:
                stamp = datetime.datetime.now().strftime("%H:%M:%S")
                print(f"{stamp} {event_text(event)}", flush=True)

    await wait_for_stop(client, printer)
    return 0
