"""``tapievent gateway``: one AMI login for a whole office, published on an MQTT broker.

Self-contained (``add_parser(subparsers)`` and ``run(args)``), so the
command line registers it with one line and needs ``aiomqtt`` only when
the command runs. Secrets come from the environment or a prompt, never
from argv (visible to every user in ``ps``): ``TAPIEVENT_SECRET`` for AMI,
``TAPIEVENT_MQTT_PASSWORD`` for the broker.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import os
import signal
import ssl
import sys
import warnings
from typing import Any

from ..gateway.broker import PASSWORD_ENV, BrokerSettings, parse_url
from ..gateway.scheme import SchemeError

__all__ = ["AMI_SECRET_ENV", "register", "run"]

AMI_SECRET_ENV = "TAPIEVENT_SECRET"  # noqa: S105 - the variable's name, not a secret
_MISSING_EXTRA = "the MQTT gateway needs the mqtt extra: pip install 'tapievent[mqtt]'"


class UsageError(Exception):
    """Something the user typed or set is unusable; the text says what."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "gateway",
        help="publish one AMI connection's TAPI events on an MQTT broker",
        description=(
            "Log in to Asterisk once and publish every served line's TAPI events, presence "
            "and live calls on an MQTT broker (topics tapievent/v1/PBX/..., docs/mqtt.md); "
            "desktops then subscribe to the broker and need no manager credentials. "
            f"Secrets: ${AMI_SECRET_ENV} (AMI) and ${PASSWORD_ENV} (broker), or prompted."
        ),
    )
    ami = parser.add_argument_group("Asterisk (AMI)")
    ami.add_argument("--host", required=True, help="Asterisk host")
    ami.add_argument("--port", type=int, help="AMI port (default 5038, or 5039 with --tls)")
    ami.add_argument("--user", required=True, help="AMI user from manager.conf")
    ami.add_argument("--auth", choices=("md5", "plain"), default="md5", help="default md5")
    ami.add_argument("--tls", action="store_true", help="AMI over TLS")
    ami.add_argument("--cafile", help="with --tls: trust this CA/certificate file")
    ami.add_argument("--timeout", type=float, default=10.0, help="seconds to log in")
    mqtt = parser.add_argument_group("broker (MQTT 5)")
    mqtt.add_argument(
        "--mqtt",
        required=True,
        metavar="URL",
        help="mqtt://[user@]host[:port] or mqtts://... (TLS); no password in the URL",
    )
    mqtt.add_argument("--mqtt-cafile", help="with mqtts://: trust this CA/certificate file")
    mqtt.add_argument("--pbx", required=True, help="this Asterisk's name in topics (e.g. office)")
    mqtt.add_argument(
        "--line",
        action="append",
        dest="lines",
        required=True,
        metavar="LINE",
        help="a line to serve (repeatable): its events, presence and requests",
    )
    mqtt.add_argument(
        "--buffer",
        type=int,
        default=10000,
        help="messages kept while the broker is away (oldest dropped first; default 10000)",
    )
    dial = parser.add_argument_group("requests")
    dial.add_argument("--context", default="from-internal", help="dialplan context for dial")
    dial.add_argument("--channel", default="{line}", help="Originate channel ({line} = line)")
    dial.add_argument("--transfer-context", help="context for transfer (default --context)")
    dial.add_argument("--caller-id", help="caller id for dialled calls")
    parser.set_defaults(func=run)


def _secret(env: str, prompt: str) -> str:
    value = os.environ.get(env)
    if value is not None:
        return value
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", getpass.GetPassWarning)
        try:
            return getpass.getpass(f"{prompt} ({env} not set): ")
        except EOFError:
            raise UsageError(f"no secret: set {env} or type it at the prompt") from None


def _settings(args: argparse.Namespace) -> tuple[BrokerSettings, dict[str, Any]]:
    if args.buffer < 1:
        raise UsageError("--buffer must be at least 1")
    if not args.pbx or any(not line for line in args.lines):
        raise UsageError("--pbx and every --line must be non-empty")
    try:
        broker, _ = parse_url(args.mqtt, cafile=args.mqtt_cafile)
    except (SchemeError, OSError, ssl.SSLError) as exc:
        raise UsageError(str(exc)) from None
    if broker.username is not None:
        password = _secret(PASSWORD_ENV, f"broker password for {broker.username}")
        broker = BrokerSettings(
            broker.host, broker.port, broker.username, password, broker.tls, broker.keepalive
        )
    secret = _secret(AMI_SECRET_ENV, f"AMI secret for {args.user}@{args.host}")
    context = None
    if args.tls:
        try:
            context = ssl.create_default_context(cafile=args.cafile)
        except (OSError, ssl.SSLError) as exc:
            raise UsageError(f"--cafile: {exc}") from None
    ami = {
        "username": args.user,
        "secret": secret,
        "auth": args.auth,
        "ssl": context,
        "connect_timeout": args.timeout,
        "lines": list(args.lines),
    }
    return broker, ami


def run(args: argparse.Namespace) -> int:
    """Run the gateway until Ctrl-C or SIGTERM; 0 on a clean stop."""
    try:
        import aiomqtt  # noqa: F401
    except ImportError:
        print(f"tapievent gateway: error: {_MISSING_EXTRA}", file=sys.stderr)
        return 2
    try:
        broker, ami = _settings(args)
    except UsageError as exc:
        print(f"tapievent gateway: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    port = args.port if args.port is not None else (5039 if args.tls else 5038)
    try:
        return asyncio.run(_serve(args, port, broker, ami))
    except KeyboardInterrupt:
        return 0
    except Exception as exc:
        text = _error_text(exc, f"{args.host}:{port}")
        if text is None:
            raise
        print(f"tapievent gateway: error: {text}", file=sys.stderr)
        return 1


def _error_text(exc: BaseException, where: str) -> str | None:
    from ..gateway.runtime import BrokerRefusedError
    from ..transports import AuthenticationError, TransportError

    if isinstance(exc, AuthenticationError):
        return f"{exc} (check the AMI user and secret in manager.conf)"
    if isinstance(exc, BrokerRefusedError):
        return f"{exc} (check the broker user and ${PASSWORD_ENV})"
    if isinstance(exc, ConnectionRefusedError):
        return f"cannot connect to Asterisk at {where}: connection refused"
    if isinstance(exc, (OSError, TransportError)):
        return f"Asterisk at {where}: {exc}"
    return None


async def _serve(
    args: argparse.Namespace, port: int, broker: BrokerSettings, ami: dict[str, Any]
) -> int:
    from ..gateway.runtime import DialSettings, Gateway
    from ..transports.aio import connect

    dial = DialSettings(args.context, args.channel, args.caller_id, args.transfer_context)
    client = await connect(args.host, port, **ami)
    try:
        gateway = Gateway(
            client, broker, pbx=args.pbx, lines=args.lines, dial=dial, buffer_size=args.buffer
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, gateway.close)
        print(
            f"tapievent gateway: {args.user}@{args.host}:{port} -> {broker.host}:{broker.port} "
            f"as {gateway.topics.base} ({len(gateway.lines)} lines; Ctrl-C stops)",
            file=sys.stderr,
            flush=True,
        )
        await gateway.run()
    finally:
        await client.close()
    return 0
