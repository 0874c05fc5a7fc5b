"""``tapievent monitor --mqtt URL``: the same output, read from a gateway's broker.

Hooked into the monitor command with one call (:func:`add_mqtt_option`),
so ``tapievent monitor`` keeps one set of options and one output format
whether its events come from AMI or from MQTT. With ``--mqtt`` the AMI
options (``--host``, ``--user``) are not needed: a desktop holds broker
credentials only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import getpass
import os
import signal
import ssl
import sys
from collections.abc import Callable

from ..gateway.broker import PASSWORD_ENV, BrokerSettings, parse_url
from ..gateway.scheme import SchemeError

__all__ = ["add_mqtt_option", "run_mqtt_monitor"]


def add_mqtt_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--mqtt URL`` to ``parser`` (the monitor's) and route to the MQTT monitor."""
    parser.add_argument(
        "--mqtt",
        metavar="URL",
        help=(
            "read the events from a tapievent gateway's broker instead of AMI: "
            f"mqtt[s]://[user@]host[:port]/PBX (password in ${PASSWORD_ENV}); "
            "--host and --user are then not needed"
        ),
    )
    parser.add_argument("--mqtt-cafile", help="with mqtts://: trust this CA/certificate file")
    for action in parser._actions:
        if action.dest in ("host", "user"):
            action.required = False
    ami_run: Callable[[argparse.Namespace], int] = parser.get_default("func")

    def dispatch(args: argparse.Namespace) -> int:
        if args.mqtt:
            if getattr(args, "db", None) or getattr(args, "record", None):
                parser.error("--db and --record keep what AMI sends: not with --mqtt")
            return run_mqtt_monitor(args)
        missing = [f"--{name}" for name in ("host", "user") if getattr(args, name) is None]
        if missing:
            parser.error(f"the following arguments are required: {', '.join(missing)} (or --mqtt)")
        return ami_run(args)

    parser.set_defaults(func=dispatch)


def _port_of(args: argparse.Namespace) -> tuple[BrokerSettings, str]:
    settings, pbx = parse_url(args.mqtt, cafile=args.mqtt_cafile)
    if pbx is None:
        raise SchemeError("the broker URL must end with the gateway's PBX name: .../office")
    if settings.username is not None:
        password = os.environ.get(PASSWORD_ENV)
        if password is None:
            try:
                password = getpass.getpass(f"broker password for {settings.username}: ")
            except EOFError:
                raise SchemeError(f"no password: set {PASSWORD_ENV}") from None
        settings = BrokerSettings(
            settings.host, settings.port, settings.username, password, settings.tls
        )
    return settings, pbx


def run_mqtt_monitor(args: argparse.Namespace) -> int:
    """Print the gateway's events until Ctrl-C (exit 0)."""
    try:
        import aiomqtt  # noqa: F401
    except ImportError:
        print(
            "tapievent monitor: error: --mqtt needs pip install 'tapievent[mqtt]'", file=sys.stderr
        )
        return 2
    try:
        settings, pbx = _port_of(args)
    except (SchemeError, OSError, ssl.SSLError) as exc:
        print(f"tapievent monitor: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    try:
        return asyncio.run(_monitor(args, settings, pbx))
    except KeyboardInterrupt:
        return 0
    except TimeoutError as exc:
        print(f"tapievent monitor: error: {exc}", file=sys.stderr)
        return 1


async def _monitor(args: argparse.Namespace, settings: BrokerSettings, pbx: str) -> int:
    from ..gateway.consumer import MqttPort
    from ._shared import event_json, event_text

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with MqttPort(settings, pbx=pbx, lines=args.lines) as port:
        print(
            f"subscribed to {port.topics.base} on {settings.host}:{settings.port} (Ctrl-C stops)",
            file=sys.stderr,
            flush=True,
        )

        async def printer() -> None:
            async for event in port.events():
                if args.format == "json":
                    print(event_json(event), flush=True)
                else:
                    stamp = datetime.datetime.now().strftime("%H:%M:%S")
                    print(f"{stamp} {event_text(event)}", flush=True)

        pump = asyncio.ensure_future(printer())
        stopper = asyncio.ensure_future(stop.wait())
        await asyncio.wait({pump, stopper}, return_when=asyncio.FIRST_COMPLETED)
        for task in (pump, stopper):
            task.cancel()
        await asyncio.gather(pump, stopper, return_exceptions=True)
    return 0
