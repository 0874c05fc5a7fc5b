"""Helpers shared by the asyncio and blocking transport tests.

Both files run the same scenarios against FakeAsterisk; what they expect
(the options, the event sequence of an inbound call, the event filters)
is written here once so the two transports are held to the same standard.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from tapievent.model import (
    CallRecord,
    CallState,
    Diagnostic,
    LineCallState,
    LineDevState,
    NewCall,
    OutputEvent,
)
from tapievent.transports import ReconnectPolicy

SECRET = "tapisecret"
LINES = ("Local/bob", "Local/bobbett")
FAST = ReconnectPolicy(initial_delay=0.02, max_delay=0.1, jitter=0.5)

INBOUND = [
    "NewCall Local/bob",
    "NewCall Local/bobbett",
    "CallInfo Local/bob",
    "CallInfo Local/bobbett",
    "CallState Local/bob OFFERING",
    "CallState Local/bobbett OFFERING",
    "CallState Local/bob CONNECTED",
    "CallState Local/bobbett DISCONNECTED/0x8",
    "CallState Local/bobbett IDLE",
    "CallState Local/bob IDLE",
]
"""``kinds()`` of the inbound call to LINES that Local/bob answers."""


def client_options(**overrides: Any) -> dict[str, Any]:
    """``connect()`` keyword arguments for a test: fast reconnect, short timeouts."""
    options: dict[str, Any] = {
        "username": "tapi",
        "secret": SECRET,
        "reconnect": FAST,
        "random": lambda: 0.5,
        "connect_timeout": 2.0,
        "action_timeout": 2.0,
    }
    options.update(overrides)
    return options


def tls_contexts(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A self-signed certificate for 127.0.0.1 made with the openssl CLI.

    Returns (server context, client context trusting exactly that certificate).
    The openssl command is required: a missing one fails the test, it never
    skips it, so CI cannot silently lose the TLS coverage.
    """
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("the openssl command is needed to generate the test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=str(cert))
    return server, client


def kinds(events: Iterable[OutputEvent]) -> list[str]:
    """A compact, readable form of events for assertions, without the call records.

    The transports pass records on like any event (after each line's end);
    tests/test_transport_records.py checks them, the other transport tests
    compare the TAPI events alone.
    """
    out = []
    for ev in events:
        if isinstance(ev, CallRecord):
            continue
        if isinstance(ev, NewCall):
            out.append(f"NewCall {ev.line}")
        elif isinstance(ev, CallState):
            mode = f"/{ev.mode:#x}" if ev.mode else ""
            synth = "*" if ev.synthesized else ""
            out.append(f"CallState {ev.line} {ev.state.name}{mode}{synth}")
        elif isinstance(ev, LineDevState):
            out.append(f"LineDevState {ev.line} {ev.state.name}")
        elif isinstance(ev, Diagnostic):
            out.append(f"Diagnostic {ev.code}")
        else:
            out.append(f"{type(ev).__name__} {ev.line}")
    return out


def is_state(line: str, state: LineCallState) -> Callable[[OutputEvent], bool]:
    return lambda ev: isinstance(ev, CallState) and ev.line == line and ev.state is state


def is_devstate(name: str) -> Callable[[OutputEvent], bool]:
    return lambda ev: isinstance(ev, LineDevState) and ev.state.name == name
