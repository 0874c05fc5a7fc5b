"""What every ``tapievent`` command shares: argument types, output, rendering, connecting.

Rendering lives here so the same event always reads the same way, whatever
command produced it (``demo``, ``replay``, ``monitor``, ``call``), and so
does the one rule for bytes that are not UTF-8 (a Latin-1 caller name from
a legacy trunk, say). The codec keeps such bytes exactly, as surrogate
escapes (PEP 383); the output shows them in a fixed, documented form
(docs/cli.md, "Bytes that are not UTF-8"):

- text: each such byte as ``\\xNN`` (:func:`printable`);
- JSON: ASCII only, each such byte as the escape ``\\udcNN`` — the JSON is
  valid UTF-8 whatever the terminal's encoding, and
  ``value.encode("utf-8", "surrogateescape")`` gives the exact bytes back.

:func:`configure_output` makes the standard streams replace, rather than
fail on, any character their encoding lacks (``PYTHONIOENCODING=cp1252``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import enum
import getpass
import json
import logging
import os
import re
import signal
import socket
import ssl
import sys
import warnings
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

import attrs

from .._errors import LocalProtocolError
from ..ami_codec import Message
from ..dialplan.generate import SUPPORTED_VERSIONS
from ..dialplan.render import DialplanError, asterisk_version
from ..model import (
    CallerId,
    CallInfo,
    CallRecord,
    CallState,
    Diagnostic,
    LineCallState,
    LineDevState,
    LineDisconnectMode,
    NewCall,
    OutputEvent,
)
from ..transports import AuthenticationError, TransportError
from ..transports.aio import AsyncClient

__all__ = [
    "SECRET_ENV",
    "add_connection_arguments",
    "add_format_argument",
    "add_line_argument",
    "add_log_arguments",
    "asterisk_release",
    "configure_logging",
    "line_width",
    "caller_id_text",
    "configure_output",
    "error_text",
    "event_dict",
    "event_json",
    "event_text",
    "iso_time",
    "port_number",
    "print_events",
    "printable",
    "read_secret",
    "renderer",
    "run_client_command",
    "wait_for_stop",
    "wire_text",
]

SECRET_ENV = "TAPIEVENT_SECRET"  # noqa: S105 - the variable's name, not a secret

_LINE_WIDTH = 16
"""The narrowest line column: wide enough for ``(all lines)`` and ``diagnostic``."""

# ---------------------------------------------------------------- bytes that are not UTF-8

_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape_surrogate(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"  # a byte the decoder kept as an escape
    return f"\\u{code:04x}"  # a lone surrogate from elsewhere (cannot be printed)


def printable(text: str) -> str:
    """``text`` with every byte that was not UTF-8 shown as ``\\xNN``: printable anywhere."""
    return _SURROGATE.sub(_escape_surrogate, text)


def configure_output() -> None:
    """Make stdout/stderr write ``\\uXXXX`` for a character their encoding cannot hold.

    Called once by :func:`tapievent.cli.main`, so no command can end in a
    ``UnicodeEncodeError`` because the terminal is cp1252 or ASCII.
    """
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


# ---------------------------------------------------------------- argument types


def port_number(text: str) -> int:
    """An argparse type: a TCP port, 1-65535, refused by the parser otherwise."""
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {printable(text)!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 1-65535, not {value}")
    return value


def wire_text(text: str) -> str:
    """An argparse type for values sent inside an AMI action: no CR, LF or NUL.

    Such a character would end the header and start another one on the
    wire; the parser refuses it with one line instead of a traceback later.
    """
    if any(c in text for c in "\r\n\x00"):
        raise argparse.ArgumentTypeError("must not contain CR, LF or NUL")
    return text


def asterisk_release(text: str) -> tuple[int, ...]:
    """An Asterisk release tapievent knows (``1.4``, ``22.10.1``), else :class:`DialplanError`.

    The library treats a later major like the last known one; the command
    line refuses it, so a typo (``99`` for ``19``) is not accepted silently.
    """
    version = asterisk_version(text)
    last = SUPPORTED_VERSIONS[-1]
    if version[0] > asterisk_version(last)[0]:
        old = [v for v in SUPPORTED_VERSIONS if v.startswith("1.")]
        raise DialplanError(
            f"unknown Asterisk version {text!r}: tapievent knows {', '.join(old)} "
            f"and {SUPPORTED_VERSIONS[len(old)]} to {last}"
        )
    return version


def add_line_argument(parser: argparse.ArgumentParser, help_text: str) -> None:
    """``--line LINE``, repeatable: the one spelling every command uses for a line filter."""
    parser.add_argument(
        "--line", action="append", dest="lines", metavar="LINE", type=wire_text, help=help_text
    )


def add_log_arguments(parser: argparse.ArgumentParser) -> None:
    """``-v`` / ``--log-level`` for the commands that run for long (monitor, call, tsp-bridge)."""
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        default="WARNING",
        help="log to standard error from this level on (default WARNING)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_const",
        const="INFO",
        dest="log_level",
        help="log connections, logins and reconnects (--log-level INFO)",
    )


def configure_logging(args: argparse.Namespace) -> None:
    """Send log records at ``--log-level`` and above to standard error."""
    logging.basicConfig(
        level=getattr(logging, args.log_level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def add_format_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text: one readable line per event (default); json: one JSON object per line",
    )


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every command that talks to Asterisk shares."""
    parser.add_argument("--host", required=True, help="Asterisk host (AMI)")
    parser.add_argument(
        "--port", type=port_number, help="AMI port (default 5038, or 5039 with --tls)"
    )
    parser.add_argument("--user", required=True, type=wire_text, help="AMI user from manager.conf")
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


# ---------------------------------------------------------------- rendering


def caller_id_text(caller_id: CallerId | None) -> str:
    """``"Name" <number>`` as Asterisk writes ``${CALLERID(all)}``; ``-`` when unknown."""
    if caller_id is None or (caller_id.name is None and caller_id.number is None):
        return "-"
    if caller_id.name and caller_id.number:
        return f'"{caller_id.name}" <{caller_id.number}>'
    if caller_id.number:
        return f"<{caller_id.number}>"
    return f'"{caller_id.name}"'


def _flag_name(value: enum.Enum) -> str:
    return value.name if value.name else str(int(value.value))


def _state_text(event: CallState) -> str:
    text = _flag_name(event.state)
    if event.mode:
        if event.state is LineCallState.DISCONNECTED:
            try:
                mode = _flag_name(LineDisconnectMode(event.mode))
            except ValueError:
                mode = str(event.mode)
            if event.mode == LineDisconnectMode.PICKUP:
                mode += ", answered elsewhere"
        else:
            mode = f"mode {event.mode:#x}"
        text += f" ({mode})"
    if event.synthesized:
        text += " [synthesized by tapievent]"
    return text


def iso_time(time: float | None) -> str | None:
    """POSIX seconds as ISO 8601 in UTC with microseconds (``...T04:40:01.123456+00:00``)."""
    if time is None:
        return None
    moment = datetime.datetime.fromtimestamp(time, tz=datetime.timezone.utc)
    return moment.isoformat(timespec="microseconds")


def _text_time(time: float | None) -> str:
    # The text column: UTC to the millisecond, the date included (a capture
    # or a monitor may run past midnight).
    if time is None:
        return ""
    moment = datetime.datetime.fromtimestamp(time, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z "


def _record_text(record: CallRecord) -> str:
    # The durations only when the times are known (a replay without timings has none).
    text = f"{record.disposition.value}, {record.direction.value}"
    if record.answered_by is not None and record.answered_by != record.line:
        text += f" (answered by {record.answered_by})"
    if record.ring_seconds is not None:
        text += f", rang {record.ring_seconds:.1f} s"
    if record.answered_by == record.line and record.talk_seconds is not None:
        text += f", talked {record.talk_seconds:.1f} s"
    if record.caller_id is not None:
        text += f", from {caller_id_text(record.caller_id)}"
    if len(record.lines) > 1:
        text += f", offered to {' '.join(record.lines)}"
    if record.cause is not None:
        text += f", hangup cause {record.cause}"
    if record.synthesized:
        text += " [synthesized by tapievent]"
    return text


def _event_text(event: OutputEvent, width: int) -> str:
    if isinstance(event, CallRecord):
        line, kind = event.line, "RECORD"
        detail = _record_text(event)
    elif isinstance(event, NewCall):
        line, kind = event.line, "NEWCALL"
        detail = "new call"
        if event.caller_id is not None:
            detail += f" from {caller_id_text(event.caller_id)}"
    elif isinstance(event, CallInfo):
        line, kind = event.line, "CALLINFO"
        detail = f"caller id {caller_id_text(event.caller_id)}"
    elif isinstance(event, CallState):
        line, kind = event.line, "CALLSTATE"
        detail = _state_text(event)
    elif isinstance(event, LineDevState):
        return f"{event.line or '(all lines)':<{width}} LINEDEVSTATE {_flag_name(event.state)}"
    else:
        text = f"{'diagnostic':<{width}} {event.code}: {event.message}"
        if event.call_key:
            text += f"  (call {event.call_key})"
        return text
    return f"{line:<{width}} {kind:<10} {detail}  (call {event.call_key})"


def event_text(event: OutputEvent, width: int = _LINE_WIDTH) -> str:
    """One human-readable line: [time] [source] line (in a ``width`` column), kind, details, call.

    The time (UTC) shows when the event has one, the source in brackets
    when it is set. Bytes that were not UTF-8 show as ``\\xNN``.
    """
    source = f"[{event.source}] " if event.source else ""
    return printable(_text_time(event.time) + source + _event_text(event, width))


def line_width(events: Iterable[OutputEvent], lines: Iterable[str] = ()) -> int:
    """The line column's width for these events: the longest line, at least the default."""
    names = [*lines, *(getattr(e, "line", None) or "" for e in events)]
    return max([_LINE_WIDTH, *(len(printable(n)) for n in names)])


def _jsonable(value: Any) -> Any:
    if isinstance(value, enum.Enum) and isinstance(value, str):
        return value.value  # a str enum (DiagnosticCode): its stable spelling
    if isinstance(value, enum.Enum):
        return _flag_name(value)
    if isinstance(value, CallerId):
        return {"name": value.name, "number": value.number}
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    return value


_TIME_FIELDS = frozenset({"time", "start", "answer", "end"})


def event_dict(event: OutputEvent) -> dict[str, Any]:
    """The event's fields as JSON-ready values (enums by name, no AMI frame).

    Every event has ``time`` (ISO 8601, UTC, or null when unknown); ``source``
    is there when set. A call record's times are ISO 8601 too, its
    ``ring_seconds`` and ``talk_seconds`` numbers.
    """
    out: dict[str, Any] = {"event": type(event).__name__}
    for field in attrs.fields(type(event)):
        value = getattr(event, field.name)
        if isinstance(value, Message) or (field.name == "source" and not value):
            continue
        if field.name in _TIME_FIELDS:
            out[field.name] = iso_time(value)
            continue
        if field.name == "mode":
            # The raw LINE_CALLSTATE dwParam2, as TAPI would receive it.
            out["mode"] = int(value)
            continue
        out[field.name] = _jsonable(value)
    if isinstance(event, CallState) and event.state is LineCallState.DISCONNECTED and event.mode:
        with contextlib.suppress(ValueError):
            out["mode_name"] = _flag_name(LineDisconnectMode(event.mode))
    if isinstance(event, Diagnostic) and event.frame is not None:
        out["frame_event"] = event.frame.event
    if isinstance(event, CallRecord):
        out["time"] = iso_time(event.time)
        for name in ("ring_seconds", "talk_seconds"):
            value = getattr(event, name)
            out[name] = None if value is None else round(value, 6)
    return out


def event_json(event: OutputEvent) -> str:
    """One JSON object on one line (JSON Lines), ASCII: bytes not UTF-8 as ``\\udcNN``."""
    return json.dumps(event_dict(event), ensure_ascii=True, sort_keys=False)


def renderer(fmt: str, width: int = _LINE_WIDTH) -> Callable[[OutputEvent], str]:
    """The renderer a ``--format`` value names: ``"json"`` or (anything else) ``"text"``."""
    if fmt == "json":
        return event_json
    return lambda event: event_text(event, width)


def print_events(events: Iterable[OutputEvent], fmt: str) -> None:
    """Print every event; text in columns as wide as the longest line needs."""
    if fmt == "json":
        for event in events:
            print(event_json(event), flush=True)
        return
    listed = list(events)
    render = renderer(fmt, line_width(listed))
    for event in listed:
        print(render(event))


# ---------------------------------------------------------------- talking to Asterisk


class NoSecretError(Exception):
    """No usable secret: end of input at the prompt, or one AMI cannot carry."""


def _checked_secret(secret: str) -> str:
    # The message never shows the secret, not even a part of it.
    if any(c in secret for c in "\r\n\x00"):
        raise NoSecretError("the secret holds a CR, LF or NUL, which an AMI header cannot carry")
    if _SURROGATE.search(secret):
        raise NoSecretError("the secret is not valid UTF-8 text")
    return secret


def read_secret(args: argparse.Namespace) -> str:
    """``TAPIEVENT_SECRET``, else a prompt on the terminal (or stdin when there is none)."""
    secret = os.environ.get(SECRET_ENV)
    if secret is not None:
        return _checked_secret(secret)
    with warnings.catch_warnings():
        # Without a terminal getpass reads stdin and says so itself ("Password
        # input may be echoed"); its extra GetPassWarning is a source-line dump.
        warnings.simplefilter("ignore", getpass.GetPassWarning)
        try:
            typed = getpass.getpass(
                f"AMI secret for {args.user}@{args.host} ({SECRET_ENV} not set): "
            )
        except EOFError:
            raise NoSecretError(
                f"no secret: set {SECRET_ENV} or type the secret at the prompt"
            ) from None
    return _checked_secret(typed)


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


def _tls_error_text(exc: BaseException, host: str, where: str) -> str | None:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"TLS: the certificate of {where} is not trusted: {exc.verify_message} "
            "(use --cafile for a self-signed certificate)"
        )
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake with {where} failed: {exc.reason or exc} (is it a TLS port?)"
    return None


def _socket_error_text(exc: BaseException, host: str, where: str) -> str | None:
    if isinstance(exc, ConnectionRefusedError):
        return (
            f"cannot connect to {where}: connection refused "
            "(is Asterisk running with AMI enabled in manager.conf, on this port?)"
        )
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve host {host!r}: {exc.strerror or exc}"
    if isinstance(exc, TimeoutError):
        return f"{exc}" if str(exc) else f"timed out talking to {where}"
    return None


def _other_error_text(exc: BaseException, host: str, where: str) -> str | None:
    if isinstance(exc, TransportError):
        return str(exc)
    if isinstance(exc, OSError):
        return f"cannot connect to {where}: {exc.strerror or exc}"
    return None


def error_text(exc: BaseException, host: str, port: int) -> str | None:
    """One line a person can act on, or None for an unexpected error."""
    where = f"{host}:{port}"
    if isinstance(exc, AuthenticationError):
        return f"{exc} (check the user and secret in manager.conf)"
    # In this order: an SSL error is an OSError, a refused connection too.
    for explain in (_tls_error_text, _socket_error_text, _other_error_text):
        text = explain(exc, host, where)
        if text is not None:
            return text
    return None


ClientBody = Callable[[argparse.Namespace, str, int], Coroutine[Any, Any, int]]


def run_client_command(
    name: str, args: argparse.Namespace, body: ClientBody, *, interrupted: int = 0
) -> int:
    """Run ``body(args, secret, port)`` (a coroutine function) with the shared error handling.

    ``interrupted`` is the exit status of a Ctrl-C while ``body`` runs.
    """
    try:
        secret = read_secret(args)
    except NoSecretError as exc:
        print(f"\ntapievent {name}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C at the prompt: leave quietly
        print(file=sys.stderr)
        return 130
    port = int(args.port) if args.port is not None else 5039 if args.tls else 5038
    try:
        return asyncio.run(body(args, secret, port))
    except KeyboardInterrupt:
        return interrupted
    except LocalProtocolError as exc:
        # A value the parser could not check refused by the library before
        # it reached the wire: the user's input, so one line, not a traceback.
        print(f"tapievent {name}: error: {printable(str(exc))}", file=sys.stderr)
        return 2
    except (OSError, TransportError) as exc:
        text = error_text(exc, args.host, port)
        if text is None:
            raise
        print(f"tapievent {name}: error: {printable(text)}", file=sys.stderr)
        return 1


async def wait_for_stop(
    client: AsyncClient, printer: Callable[[AsyncClient], Coroutine[Any, Any, None]]
) -> None:
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
