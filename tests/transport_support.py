"""Helpers shared by the transport tests: TLS material and event filters."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Iterable
from pathlib import Path

import pytest

from tapievent.model import CallState, Diagnostic, LineDevState, NewCall, OutputEvent

SECRET = "tapisecret"
LINES = ("Local/bob", "Local/bobbett")


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
    """A compact, readable form of events for assertions."""
    out = []
    for ev in events:
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
