"""``tapievent monitor``: live TAPI events (and diagnostics) from a real Asterisk.

The secret comes from ``TAPIEVENT_SECRET`` or a prompt, never from the
command line (argv is visible to every user of the machine in ``ps``).
Ctrl-C logs off and exits with status 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import getpass
import os
import signal
import socket
import ssl
import sys
import warnings
from typing import Any

from ._cmd_replay import add_format_argument
from ._render import event_json, event_text
from .gateway.monitor import add_mqtt_option
from .transports import AuthenticationError, TransportError
from .transports.aio import AsyncClient, connect

__all__ = ["add_connection_arguments", "error_text", "register"]

SECRET_ENV = "TAPIEVENT_SECRET"  # noqa: S105 - the variable's name, not a secret


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every command that talks to Asterisk shares."""
    parser.add_argument("--host", required=True, help="Asterisk host (AMI)")
    parser.add_argument("--port", type=int, help="AMI port (default 5038, or 5039 with --tls)")
    parser.add_argument("--user", required=True, help="AMI user from manager.conf")
    parser.add_argument(
        "--auth",
        choices=("md5", "plain"),
        default="md5",
        help="md5 (default, the secret never crosses the wire) or plain",
    )
    parser.add_argument("--tls", action="store_true", help="AMI over TLS (tlsbindport)")
    parser.add_argument(
        "--cafile", help="with --tls: trust this CA/certificate file (self-signed servers)"
    )
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="seconds to connect and log in (default 10)"
    )


class NoSecretError(Exception):
    """The prompt for the secret got end of input (nothing piped, no terminal)."""


def read_secret(args: argparse.Namespace) -> str:
    """``TAPIEVENT_SECRET``, else a prompt on the terminal (or stdin when there is none)."""
    secret = os.environ.get(SECRET_ENV)
    if secret is not None:
        return secret
    with warnings.catch_warnings():
        # Without a terminal getpass reads stdin and says so itself ("Password
        # input may be echoed"); its extra GetPassWarning is a source-line dump.
        warnings.simplefilter("ignore", getpass.GetPassWarning)
        try:
            return getpass.getpass(
                f"AMI secret for {args.user}@{args.host} ({SECRET_ENV} not set): "
            )
        except EOFError:
            raise NoSecretError(
                f"no secret: set {SECRET_ENV} or type the secret at the prompt"
            ) from None


def port_of(args: argparse.Namespace) -> int:
    if args.port is not None:
        return int(args.port)
    return 5039 if args.tls else 5038


def connect_options(args: argparse.Namespace, secret: str, **extra: Any) -> dict[str, Any]:
    context = None
    if args.tls:
        context = ssl.create_default_context(cafile=args.cafile)
    options: dict[str, Any] = {
        "username": args.user,
        "secret": secret,
        "auth": args.auth,
        "ssl": context,
        "connect_timeout": args.timeout,
    }
    options.update(extra)
    return options


def error_text(exc: BaseException, host: str, port: int) -> str | None:
    """One line a person can act on, or None for an unexpected error."""
    where = f"{host}:{port}"
    if isinstance(exc, AuthenticationError):
        return f"{exc} (check the user and secret in manager.conf)"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"TLS: the certificate of {where} is not trusted: {exc.verify_message} "
            "(use --cafile for a self-signed certificate)"
        )
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake with {where} failed: {exc.reason or exc} (is it a TLS port?)"
    if isinstance(exc, ConnectionRefusedError):
        return (
            f"cannot connect to {where}: connection refused "
            "(is Asterisk running with AMI enabled in manager.conf, on this port?)"
        )
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve host {host!r}: {exc.strerror or exc}"
    if isinstance(exc, TimeoutError):
        return f"{exc}" if str(exc) else f"timed out talking to {where}"
    if isinstance(exc, TransportError):
        return str(exc)
    if isinstance(exc, OSError):
        return f"cannot connect to {where}: {exc.strerror or exc}"
    return None


def run_client_command(name: str, args: argparse.Namespace, body: Any) -> int:
    """Run ``body(args, secret)`` (a coroutine function) with the shared error handling."""
    try:
        secret = read_secret(args)
    except NoSecretError as exc:
        print(f"\ntapievent {name}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C at the prompt: leave quietly
        print(file=sys.stderr)
        return 130
    port = port_of(args)
    try:
        result: int = asyncio.run(body(args, secret, port))
        return result
    except KeyboardInterrupt:
        return 0
    except (OSError, TransportError) as exc:
        text = error_text(exc, args.host, port)
        if text is None:
            raise
        print(f"tapievent {name}: error: {text}", file=sys.stderr)
        return 1


async def wait_for_stop(client: AsyncClient, printer: Any) -> None:
    """Print events until Ctrl-C/SIGTERM (clean exit) or a fatal client error."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    pump = asyncio.ensure_future(printer(client))
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({pump, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        if not pump.done():
            pump.cancel()
        await asyncio.gather(stopper, return_exceptions=True)
        results = await asyncio.gather(pump, return_exceptions=True)
        await client.close()
    error = results[0]
    if isinstance(error, BaseException) and not isinstance(error, asyncio.CancelledError):
        raise error


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
    add_mqtt_option(parser)  # --mqtt URL: the same events from a gateway's broker


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
