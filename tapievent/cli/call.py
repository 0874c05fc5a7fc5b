"""``tapievent call --line L NUMBER``: click-to-dial through Originate, then follow the call.

Asterisk first rings ``--channel`` (the user's own phone); when it answers,
it dials ``NUMBER`` in ``--context``, whose dialplan raises the TAPI events.
The command prints the call's events until the line is IDLE, then the
call's record, and its exit status says how the call went, for scripts (docs/cli.md): 0 answered, 3
busy, 4 no answer, 5 failed, 6 the connection was lost first (the command
does not reconnect: it could not tell what happened meanwhile), 130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Callable

import attrs

from .._diagnostics import DiagnosticCode
from ..model import CallState, Diagnostic, LineCallState, LineDisconnectMode, OutputEvent
from ..tracker import CallHandle
from ..transports import ActionFailedError, ConnectionLostError
from ..transports.aio import AsyncClient, connect
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
    return run_client_command("call", args, _call, interrupted=130)


_NOT_ANSWERED = frozenset(
    {0, LineDisconnectMode.NOANSWER, LineDisconnectMode.NORMAL, LineDisconnectMode.CANCELLED}
)
"""Disconnect modes of a call nobody answered that say no more than that (0: none given)."""


@attrs.define
class _Outcome:
    """What the events of our call said so far."""

    answered: bool = False
    mode: int = 0

    def status(self) -> int:
        """The exit status: 0 answered, 3 busy, 4 no answer, 5 failed."""
        if self.answered:
            return 0
        if self.mode == LineDisconnectMode.BUSY:
            print("tapievent call: not answered: busy", file=sys.stderr)
            return 3
        if self.mode in _NOT_ANSWERED:
            print("tapievent call: not answered", file=sys.stderr)
            return 4
        print(f"tapievent call: the call failed: {_mode_name(self.mode)}", file=sys.stderr)
        return 5


def _mode_name(mode: int) -> str:
    try:
        return LineDisconnectMode(mode).name or str(mode)
    except ValueError:
        return str(mode)


async def _call(args: argparse.Namespace, secret: str, port: int) -> int:
    options = connect_options(args, secret, lines=[args.line], reconnect=False)
    async with connect(args.host, port, **options) as c:
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
            return 5
        except ConnectionLostError as exc:
            print(f"tapievent call: error: {printable(str(exc))}", file=sys.stderr)
            return 6
        print(
            f"calling {args.number} for line {args.line}: ringing {args.channel} first",
            file=sys.stderr,
            flush=True,
        )
        status = await _follow(c, args.line, handle, renderer(args.format))
    if status is None:
        print(
            f"tapievent call: error: the connection to {args.host}:{port} was lost before "
            "the call ended (it may still be up)",
            file=sys.stderr,
        )
        return 6
    return status


async def _follow(
    c: AsyncClient, line: str, handle: CallHandle, render: Callable[[OutputEvent], str]
) -> int | None:
    """Print the events until our line is IDLE: its exit status, or None when the link broke."""
    keys = {handle.origination_id, handle.channel_id, handle.other_channel_id}
    outcome = _Outcome()
    events = c.events()
    try:
        async for event in events:
            known = c.tracker.call_key_of(handle)
            if known is not None:
                keys.add(known)
            print(render(event), flush=True)
            if isinstance(event, Diagnostic) and event.code is DiagnosticCode.CONNECTION_LOST:
                return None
            if not (isinstance(event, CallState) and event.line == line):
                continue
            if event.call_key not in keys:
                continue
            if event.state is LineCallState.CONNECTED:
                outcome.answered = True
            elif event.state is LineCallState.DISCONNECTED:
                outcome.mode = int(event.mode)
            elif event.state is LineCallState.IDLE:
                await _print_next(events, render)
                return outcome.status()
    except ConnectionLostError:
        pass
    return None


async def _print_next(
    events: AsyncIterator[OutputEvent], render: Callable[[OutputEvent], str]
) -> None:
    """Print the event after the IDLE, if it is already there: the call's record.

    The tracker queues a line's CallRecord together with the IDLE that ends
    the call there, so it arrives at once; a second is a bound, not a wait.
    """
    with contextlib.suppress(asyncio.TimeoutError, StopAsyncIteration, ConnectionLostError):
        event = await asyncio.wait_for(events.__anext__(), 1.0)
        print(render(event), flush=True)
