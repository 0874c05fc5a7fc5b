"""``tapievent call --line L NUMBER``: click-to-dial through Originate, then follow the call.

Asterisk first rings ``--channel`` (the user's own phone); when it answers,
it dials ``NUMBER`` in ``--context``, whose dialplan raises the TAPI events.
The command prints the call's events and exits 0 once the line is IDLE.
"""

from __future__ import annotations

import argparse
import sys

from ..model import CallState, LineCallState
from ..transports import ActionFailedError
from ..transports.aio import connect
from ._shared import (
    add_connection_arguments,
    add_format_argument,
    add_log_arguments,
    configure_logging,
    connect_options,
    printable,
    renderer,
    run_client_command,
    wire_text,
)

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "call",
        help="click-to-dial: originate a call for a line and follow it until idle",
        description=(
            "Originate a call: Asterisk rings CHANNEL (your phone), then dials NUMBER in "
            "CONTEXT. The call's TAPI events are printed until the line is idle."
        ),
    )
    add_connection_arguments(parser)
    parser.add_argument("number", metavar="NUMBER", type=wire_text, help="the number to dial")
    parser.add_argument(
        "--line", required=True, type=wire_text, help="the TAPI line making the call"
    )
    parser.add_argument(
        "--context", required=True, type=wire_text, help="dialplan context that dials NUMBER"
    )
    parser.add_argument(
        "--channel", required=True, type=wire_text, help="the phone to ring first, e.g. PJSIP/201"
    )
    parser.add_argument(
        "--caller-id", type=wire_text, help="caller id for the first leg, e.g. '\"Bob\" <201>'"
    )
    parser.add_argument(
        "--ring-timeout",
        type=float,
        help="seconds the first leg may ring (Originate Timeout; default Asterisk's 30)",
    )
    add_format_argument(parser)
    add_log_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    configure_logging(args)
    return run_client_command("call", args, _call)


async def _call(args: argparse.Namespace, secret: str, port: int) -> int:
    render = renderer(args.format)
    async with connect(args.host, port, **connect_options(args, secret, lines=[args.line])) as c:
        try:
            handle = await c.make_call(
                args.line,
                args.number,
                context=args.context,
                channel=args.channel,
                caller_id=args.caller_id,
                timeout_ms=None if args.ring_timeout is None else int(args.ring_timeout * 1000),
            )
        except ActionFailedError as exc:
            print(
                f"tapievent call: error: Asterisk refused the call: {printable(str(exc))}",
                file=sys.stderr,
            )
            return 1
        print(
            f"calling {args.number} for line {args.line}: ringing {args.channel} first",
            file=sys.stderr,
            flush=True,
        )
        keys = {handle.origination_id, handle.channel_id, handle.other_channel_id}
        async for event in c.events():
            known = c.tracker.call_key_of(handle)
            if known is not None:
                keys.add(known)
            print(render(event), flush=True)
            if (
                isinstance(event, CallState)
                and event.line == args.line
                and event.state is LineCallState.IDLE
                and event.call_key in keys
            ):
                return 0
    return 1
