"""Record AMI traffic in the corpus format, for ``tapievent replay`` and the tests.

A capture is what the project's corpus holds (``tests/data/asterisk-*/``):

* ``NAME.ami`` — the exact bytes Asterisk sent, banner first;
* ``NAME.timing.tsv`` — one row per chunk received: seconds since the
  connection began, offset, length (header ``t_s offset length``);
* ``NAME.sent.txt`` (the proxy only) — what the client sent, one write per
  line with the time since connect and ``\\r\\n`` written literally;
  ``Secret`` and ``Key`` values are replaced by ``********`` so no
  credential is stored.

Two recorders, for two places to stand:

* :class:`CaptureWriter` is a client's ``on_receive`` hook
  (:func:`tapievent.transports.aio.connect`): it sees the bytes after TLS,
  which is why ``tapievent monitor --record`` exists (tcpdump cannot see
  inside TLS). It writes as the bytes arrive, each file mode 0600 (caller
  ids are personal data), one capture per connection. It records only what
  was received, so the Login's secret is never in it.
* :class:`RecordingProxy` is a loopback TCP proxy between any client and
  Asterisk (the live tests record the corpus with it); it keeps both
  directions in memory (:class:`Recording`) and writes them with ``save``.
  Its ``banner`` replaces the first line the client receives (the recording
  keeps Asterisk's own): a client then takes the server for another version,
  which is how a test forces a version-dependent path (e.g. ``make_call``'s
  VarSet path on a server that has ``ChannelId``).

A runtime edge (files, clocks, threads, sockets): the sans-IO core never
imports it. The proxy listens on 127.0.0.1 alone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import attrs

__all__ = ["TIMING_HEADER", "CaptureWriter", "Recording", "RecordingProxy", "timing_path"]

logger = logging.getLogger(__name__)

TIMING_HEADER = "t_s\toffset\tlength\n"
"""The first line of every ``.timing.tsv``."""

_SECRET = re.compile(rb"^((?:Secret|Key)[ \t]*:[ \t]*)[^\r\n]*", re.IGNORECASE | re.MULTILINE)


@attrs.define
class Recording:
    """One connection: the bytes and chunks from Asterisk, the client's writes."""

    received: bytearray = attrs.field(factory=bytearray)
    chunks: list[tuple[float, int, int]] = attrs.field(factory=list)
    sent: list[tuple[float, bytes]] = attrs.field(factory=list)

    def timing_tsv(self) -> str:
        return TIMING_HEADER + "".join(_timing_row(*chunk) for chunk in self.chunks)

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


def _timing_row(t: float, offset: int, length: int) -> str:
    return f"{t:.6f}\t{offset}\t{length}\n"


def timing_path(capture: Path) -> Path:
    """The ``.timing.tsv`` beside a capture: ``x.ami`` and ``x`` both give ``x.timing.tsv``."""
    if capture.suffix == ".ami":
        return capture.with_suffix(".timing.tsv")
    return capture.with_name(capture.name + ".timing.tsv")


def _private(path: Path) -> int:
    """A file descriptor of ``path`` emptied for writing, created with mode 0600."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)


class CaptureWriter:
    """An ``on_receive`` hook that writes what a client receives as corpus captures.

    The first connection goes to ``path`` (``calls.ami``, with
    ``calls.timing.tsv`` beside it), the n-th after a reconnect to
    ``calls-n.ami``; ``captures`` lists the files written. Both files
    are created (mode 0600, emptied) when the writer is made, so a path
    that cannot be written is an ``OSError`` at once, not later; every
    chunk is written through as it arrives, so a killed process leaves a
    whole capture up to its last read. A write that fails later (disk
    full) is logged once and ends the recording, never the client.
    ``clock`` gives the timing column (seconds since the connection's
    first bytes).
    """

    def __init__(self, path: str | os.PathLike[str], *,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.path = Path(path)
        self.captures: list[Path] = []
        self._clock = clock
        self._ami: IO[bytes] | None = None
        self._timing: IO[str] | None = None
        self._offset = 0
        self._started = 0.0
        self._failed = False
        self._open()

    def _next_path(self) -> Path:
        if not self.captures:
            return self.path
        stem, suffix = (
            (self.path.stem, ".ami") if self.path.suffix == ".ami" else (self.path.name, "")
        )
        return self.path.with_name(f"{stem}-{len(self.captures) + 1}{suffix}")

    def _open(self) -> None:
        path = self._next_path()
        self._ami = os.fdopen(_private(path), "wb", buffering=0)
        self._timing = os.fdopen(_private(timing_path(path)), "w", encoding="ascii")
        self._timing.write(TIMING_HEADER)
        self._timing.flush()
        self._offset = 0
        self.captures.append(path)

    def __call__(self, data: bytes) -> None:
        """The hook: a chunk received, or ``b""`` for the end of a connection."""
        if self._failed:
            return
        try:
            if not data:
                self._end()
                return
            if self._ami is None:
                self._open()
            assert self._ami is not None and self._timing is not None
            now = self._clock()
            if self._offset == 0:
                self._started = now
            self._timing.write(_timing_row(now - self._started, self._offset, len(data)))
            self._timing.flush()
            self._ami.write(data)
            self._offset += len(data)
        except OSError as exc:
            self._failed = True
            logger.error("recording to %s stopped: %s", self.captures[-1], exc.strerror or exc)
            self._end()

    def _end(self, *, keep_empty: bool = True) -> None:
        """Close this connection's files; the next bytes start the next capture."""
        if keep_empty and self._ami is not None and self._offset == 0:
            return  # nothing received on these files yet: they wait for the first bytes
        for stream in (self._ami, self._timing):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self._ami = self._timing = None

    def close(self) -> None:
        """Close the files (everything is written already)."""
        self._end(keep_empty=False)

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
