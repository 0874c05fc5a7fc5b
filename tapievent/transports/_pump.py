"""The blocking client's I/O loop and waiters (private to :mod:`.blocking`).

Kept apart from the client so each file has one job: :mod:`.blocking` is the
public API and the supervisor's steps; this module is what one connection's
turn of the I/O thread does -- write what is queued, wait for the socket or
the next timer, read a bounded amount, check the Ping and the resync.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import ssl as _ssl
import threading
import time
from typing import TYPE_CHECKING

from ..ami_codec import Action
from ..session import ActionResult

if TYPE_CHECKING:
    from .blocking import Client

logger = logging.getLogger("tapievent.transports.blocking")

_READ_SIZE = 65536

_MAX_READS_PER_CYCLE = 4
"""recv() calls per turn of the I/O loop (256 KiB at most): a peer that floods
the socket can never keep the loop from its writes, timers and close (issue
15 #10: reading until the socket would block grew memory without bound)."""


class Waiter:
    """One thread waiting for one action's result (a ``Waiter`` for ClientBase)."""

    __slots__ = ("_event", "error", "result")

    def __init__(self) -> None:
        self._event = threading.Event()
        self.result: ActionResult | None = None
        self.error: BaseException | None = None

    def done(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float | None) -> bool:
        return self._event.wait(timeout)

    def set_result(self, result: ActionResult, /) -> None:
        self.result = result
        self._event.set()

    def set_exception(self, exception: BaseException, /) -> None:
        self.error = exception
        self._event.set()


class Pump:
    """One connection's I/O loop in the I/O thread: socket, wake-ups, keepalive, resync.

    Each turn writes what is queued, waits for the socket or the next timer,
    reads a bounded amount, and checks the Ping and the resync; ``run``
    returns why the connection ended.
    """

    def __init__(self, client: Client, *, resync: bool) -> None:
        self.client = client
        sock = client._sock
        assert sock is not None
        self.sock = sock
        self.wbuf = bytearray()
        self.writing = False
        options = client._options
        self.interval = options.keepalive_interval
        self.keepalive_timeout = options.keepalive_timeout
        now = time.monotonic()
        self.next_ping = None if self.interval is None else now + self.interval
        self.ping: Waiter | None = None
        self.ping_deadline = 0.0
        self.resync = client._submit_internal(lambda c: c.resync()) if resync else None
        self.resync_deadline = now + options.action_timeout

    def run(self) -> str:
        selector = selectors.DefaultSelector()
        selector.register(self.client._wake_r, selectors.EVENT_READ)
        selector.register(self.sock, selectors.EVENT_READ)
        try:
            while True:
                reason = self._turn(selector)
                if reason is not None:
                    return reason
        finally:
            selector.close()

    def _turn(self, selector: selectors.BaseSelector) -> str | None:
        client, sock = self.client, self.sock
        if client._abort:
            return "the client was closed"
        reason = self._write(selector)
        if reason is not None:
            return reason
        ready = selector.select(self._timeout())
        if any(key.fileobj is client._wake_r for key, _ in ready):
            with contextlib.suppress(OSError):
                while client._wake_r.recv(4096):
                    pass
        pending = isinstance(sock, _ssl.SSLSocket) and sock.pending()
        if pending or any(key.fileobj is sock for key, _ in ready):
            data, eof, error = _recv_some(sock)
            read_at = time.time()  # when the bytes arrived: their events' time
            reason = client._dispatch(data, read_at) if data else None
            if eof:
                end = client._dispatch(b"")
                return error or reason or end or "connection closed by the server"
        return self._timers(time.monotonic())

    def _write(self, selector: selectors.BaseSelector) -> str | None:
        client = self.client
        with client.lock:
            if client._outgoing:
                self.wbuf += client._outgoing
                client._outgoing.clear()
        if self.wbuf:
            try:
                sent = self.sock.send(self.wbuf)
                del self.wbuf[:sent]
            except (BlockingIOError, _ssl.SSLWantWriteError, _ssl.SSLWantReadError):
                pass
            except OSError as exc:
                return f"connection error: {exc}"
        if bool(self.wbuf) != self.writing:
            self.writing = bool(self.wbuf)
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if self.writing else 0)
            selector.modify(self.sock, events)
        return None

    def _timeout(self) -> float | None:
        deadlines: list[float] = []
        if self.ping is not None:
            deadlines.append(self.ping_deadline)
        elif self.next_ping is not None:
            deadlines.append(self.next_ping)
        if self.resync is not None:
            deadlines.append(self.resync_deadline)
        if isinstance(self.sock, _ssl.SSLSocket) and self.sock.pending():
            return 0.0
        return max(0.0, min(deadlines) - time.monotonic()) if deadlines else None

    def _timers(self, now: float) -> str | None:
        client = self.client
        if self.resync is not None:
            if self.resync.done():
                if self.resync.result is None:
                    return "resynchronisation failed"
                self.resync = None
                # The Connection reconciled (or said resync-failed) and reported INSERVICE.
                client._supervisor.resynced()
                logger.info("back in service on %s:%d", client.host, client.port)
            elif now >= self.resync_deadline:
                return "no answer to CoreShowChannels after reconnecting"
        if self.ping is not None:
            if self.ping.done():
                self.ping = None
                assert self.interval is not None
                self.next_ping = now + self.interval
            elif now >= self.ping_deadline:
                return f"keepalive: no answer to Ping within {self.keepalive_timeout}s"
        elif self.next_ping is not None and now >= self.next_ping:
            self.ping = client._submit_internal(lambda c: c.send_action(Action("Ping")))
            self.ping_deadline = now + self.keepalive_timeout
        return None


def _recv_some(sock: socket.socket) -> tuple[bytes, bool, str | None]:
    """What is readable now, at most ``_MAX_READS_PER_CYCLE`` reads: (data, eof, error)."""
    chunks: list[bytes] = []
    for _ in range(_MAX_READS_PER_CYCLE):
        try:
            chunk = sock.recv(_READ_SIZE)
        except (BlockingIOError, InterruptedError, _ssl.SSLWantReadError, _ssl.SSLWantWriteError):
            break
        except OSError as exc:
            return b"".join(chunks), True, f"connection error: {exc}"
        if not chunk:
            return b"".join(chunks), True, None
        chunks.append(chunk)
    return b"".join(chunks), False, None
