"""``tapievent monitor``: live TAPI events (and diagnostics) from a real Asterisk.

The secret comes from ``TAPIEVENT_SECRET`` or a prompt, never from the
command line (argv is visible to every user of the machine in ``ps``).
Ctrl-C logs off and exits with status 0.
"""

from __future__ import annotations

import argparse
import sys

from ..transports.aio import AsyncClient, connect
from ._shared import (
    SECRET_ENV,
    add_connection_arguments,
    add_format_argument,
    add_line_argument,
    add_log_arguments,
    configure_logging,
    connect_options,
    event_json,
    event_text,
    line_width,
    run_client_command,
    wait_for_stop,
    wire_text,
)
from .monitor_mqtt import add_mqtt_option
from .monitor_store import Stores, add_store_options, open_stores

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
    add_line_argument(parser, "only follow this line (repeatable; default: every line)")
    add_format_argument(parser)
    parser.add_argument(
        "--name",
        type=wire_text,
        help="name this PBX on every event and call record (default: the --host value)",
    )
    add_log_arguments(parser)
    add_store_options(parser)  # --db FILE, --record PATH
    parser.set_defaults(func=run)
    add_mqtt_option(parser)  # --mqtt URL: the same events from a gateway's broker


def run(args: argparse.Namespace) -> int:
    configure_logging(args)
    try:
        stores = open_stores(args)
    except ValueError as exc:
        print(f"tapievent monitor: error: {exc}", file=sys.stderr)
        return 2
    try:
        return run_client_command("monitor", args, lambda *a: _monitor(*a, stores=stores))
    finally:
        stores.close()


async def _monitor(args: argparse.Namespace, secret: str, port: int, *, stores: Stores) -> int:
    source = args.name if args.name is not None else args.host
    options = connect_options(
        args, secret, lines=args.lines, source=source, on_receive=stores.on_receive
    )
    client = await connect(args.host, port, **options)
    print(
        f"connected to {args.host}:{port} as {args.user}; waiting for TAPI events (Ctrl-C stops)",
        file=sys.stderr,
        flush=True,
    )

    # The line column is as wide as the longest line named or seen so far.
    width = line_width((), args.lines or ())

    async def printer(c: AsyncClient) -> None:
        nonlocal width
        async for event in c.events():
            stores.keep(event)
            if args.format == "json":
                print(event_json(event), flush=True)
                continue
            width = max(width, line_width([event]))
            # Each event shows its own time (UTC): when its bytes arrived,
            # or Asterisk's Timestamp: (timestampevents=yes).
            print(event_text(event, width), flush=True)

    await wait_for_stop(client, printer)
    return 0
