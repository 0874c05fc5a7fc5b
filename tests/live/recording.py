"""Record real AMI traffic in the corpus format: a loopback TCP proxy.

Put :class:`RecordingProxy` between a client and Asterisk and every
connection through it is kept as the project's captures are
(``tests/data/asterisk-*/``):

* ``NAME.ami`` — the exact bytes Asterisk sent, banner first;
* ``NAME.timing.tsv`` — one row per ``recv()`` chunk: seconds since the
  connection was accepted, offset, length (header ``t_s offset length``);
* ``NAME.sent.txt`` — what the client sent, one message per line with the
  time since connect and ``\\r\\n`` written literally; ``Secret`` and ``Key``
  values are replaced by ``********`` so no credential is stored.

``banner`` replaces the first line the client receives (the recording keeps
Asterisk's own): a client then takes the server for another version, which
is how a test forces a version-dependent path (e.g. ``make_call``'s VarSet
path on a server that has ``ChannelId``).

Threads and blocking sockets only; this is a test tool, never imported by
the sans-IO core. It listens on 127.0.0.1 alone.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from pathlib import Path

import attrs

__all__ = ["Recording", "RecordingProxy"]

_SECRET = re.compile(rb"^((?:Secret|Key)[ \t]*:[ \t]*)[^\r\n]*", re.IGNORECASE | re.MULTILINE)


@attrs.define
class Recording:
    """One connection: the bytes and chunks from Asterisk, the client's writes."""

    received: bytearray = attrs.field(factory=bytearray)
    chunks: list[tuple[float, int, int]] = attrs.field(factory=list)
    sent: list[tuple[float, bytes]] = attrs.field(factory=list)

    def timing_tsv(self) -> str:
        rows = [f"{t:.6f}\t{offset}\t{length}" for t, offset, length in self.chunks]
        return "t_s\toffset\tlength\n" + "".join(row + "\n" for row in rows)

    def sent_text(self) -> str:
        """The client's bytes, credentials masked, a line per write."""
        lines = []
        for t, data in self.sent:
            masked = _SECRET.sub(rb"\1********", data)
            shown = masked.decode("utf-8", "backslashreplace").replace("\r\n", "\\r\\n")
            lines.append(f"{t:.3f} {shown.replace(chr(10), chr(92) + 'n')}")
        return "".join(line + "\n" for line in lines)

    def save(self, directory: Path, name: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"{name}.ami").write_bytes(bytes(self.received))
        (directory / f"{name}.timing.tsv").write_text(self.timing_tsv())
        (directory / f"{name}.sent.txt").write_text(self.sent_text())


class RecordingProxy:
    """A loopback proxy to ``upstream`` that records each connection.

    Use as a context manager; ``port`` is where clients connect.
    ``recordings`` holds one :class:`Recording` per accepted connection.
    """

    def __init__(self, upstream_port: int, *, upstream_host: str = "127.0.0.1",
                 banner: bytes | None = None) -> None:  # fmt: skip
        self.upstream = (upstream_host, upstream_port)
        self.banner = banner
        self.recordings: list[Recording] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False

    def __enter__(self) -> RecordingProxy:
        self._spawn(self._accept_loop)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            sockets = [self._listener, *self._sockets]
        for sock in sockets:
            with contextlib.suppress(OSError):  # not connected (the listener) or gone
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            try:
                server = socket.create_connection(self.upstream, timeout=10)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            recording = Recording()
            with self._lock:
                if self._closed:
                    client.close()
                    server.close()
                    return
                self._sockets += [client, server]
                self.recordings.append(recording)
            started = time.monotonic()
            self._spawn(self._from_server, server, client, recording, started)
            self._spawn(self._from_client, client, server, recording, started)

    def _from_server(
        self, server: socket.socket, client: socket.socket, rec: Recording, started: float
    ) -> None:
        pending_banner = self.banner is not None
        head = b""
        while True:
            try:
                data = server.recv(65536)
            except OSError:
                data = b""
            if not data:
                _close_quietly(client)
                return
            rec.chunks.append((time.monotonic() - started, len(rec.received), len(data)))
            rec.received += data
            if pending_banner:
                head += data
                if b"\n" not in head:
                    continue
                _, rest = head.split(b"\n", 1)
                data = (self.banner or b"") + b"\r\n" + rest
                pending_banner = False
            try:
                client.sendall(data)
            except OSError:
                _close_quietly(server)
                return

    def _from_client(
        self, client: socket.socket, server: socket.socket, rec: Recording, started: float
    ) -> None:
        while True:
            try:
                data = client.recv(65536)
            except OSError:
                data = b""
            if not data:
                _close_quietly(server)
                return
            rec.sent.append((time.monotonic() - started, data))
            try:
                server.sendall(data)
            except OSError:
                _close_quietly(client)
                return


def _close_quietly(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by the other side
        sock.shutdown(socket.SHUT_RDWR)
