"""The blocking transport: the asyncio client's API for threaded code.

One background I/O thread per client owns the socket (``socket`` +
``selectors``) and drives the same sans-IO core as the asyncio transport
(:class:`~tapievent.transports._common.ClientCore`); the calling threads
only queue actions and wait. Keepalive, reconnect with backoff, the
``CoreShowChannels`` reconcile, the ``OUTOFSERVICE``/``INSERVICE`` line
states, the bounded queue (drop oldest + ``queue-overflow``) and the
never-retried :class:`AuthenticationError` behave exactly as documented in
:mod:`tapievent.transports.aio`.

Thread-safety rules:

- Every public method of :class:`Client` may be called from any thread,
  concurrently: one lock guards the session, the tracker and the queue,
  and the socket is only touched by the I/O thread.
- Iterate :meth:`Client.events` (or call :meth:`Client.get_event`) from
  **one** thread: events are handed out once, so two consumers would each
  see part of the stream.
- Do not call the client's methods from inside code that holds the client's
  events hostage for long: a consumer that stops reading only loses the
  oldest events (``queue-overflow``), it never blocks the I/O thread.
- ``client.tracker`` is shared with the I/O thread; read it
  (``snapshot()``) while holding ``client.lock``.
"""

from __future__ import annotations

import contextlib
import logging
import random as _random
import selectors
import socket
import ssl as _ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import cast

from .._errors import ProtocolError
from ..ami_codec import Action
from ..model import OutputEvent
from ..session import ActionResult
from ..tracker import CallHandle
from ._common import (
    DEFAULT_QUEUE_SIZE,
    ActionFailedError,
    ActionTimeoutError,
    AuthenticationError,
    ClientBase,
    ClientOptions,
    Closed,
    ConnectionLostError,
    ReconnectPolicy,
    Steps,
    T,
    TransportError,
    coreshowchannels,
    ping,
)

__all__ = [
    "ActionFailedError",
    "ActionTimeoutError",
    "AuthenticationError",
    "Client",
    "ConnectionLostError",
    "ReconnectPolicy",
    "TransportError",
    "connect",
]

logger = logging.getLogger(__name__)

_READ_SIZE = 65536


class _Waiter:
    """One thread waiting for one action's result (a ``Waiter`` for ClientCore)."""

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


class Client(ClientBase):
    """A logged-in AMI connection for threaded code; create it with :func:`connect`.

    See the module docstring for the thread-safety rules.
    """

    _REPR_NAME = "blocking.Client"

    def __init__(self, options: ClientOptions) -> None:
        super().__init__(options)
        self.lock = threading.Lock()
        """Guards the session, the tracker and the queue; hold it to read ``tracker``."""
        self._cond = threading.Condition(self.lock)
        self._outgoing = bytearray()
        self._sock: socket.socket | None = None
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._stop = threading.Event()
        self._abort = False
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ public API
    # (``tracker``, ``connected`` and ``dropped_events`` come from ClientBase)

    def get_event(self, timeout: float | None = None) -> OutputEvent | None:
        """The next event, waiting up to ``timeout`` seconds (``None``: forever).

        Returns ``None`` on timeout or once the client is finished and
        drained; raises the fatal error (see :meth:`events`) at that point.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                event = self._core.buffer.get()
                if event is not None:
                    return event
                if self._events_ended():
                    return None
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining)

    def events(self) -> Iterator[OutputEvent]:
        """The tracker's events, diagnostics and line states, blocking between them.

        Ends after :meth:`close`; raises :class:`AuthenticationError` or
        :class:`ConnectionLostError` when the client gave up on its own,
        after every queued event has been delivered.
        """
        while True:
            event = self.get_event()
            if event is None:
                return
            yield event

    def send_action(self, action: Action, *, timeout: float | None = None) -> ActionResult:
        """Send ``action``, wait for its result (response plus any event list).

        Same errors as :meth:`tapievent.transports.aio.AsyncClient.send_action`.
        """
        timeout = self._options.action_timeout if timeout is None else timeout
        with self.lock:
            if not self._connected or self._core.session is None:
                raise self._core.not_connected()
            waiter = _Waiter()
            action_id, data = self._core.send(action, waiter)
            self._outgoing += data
        self._wake()
        if not waiter.wait(timeout):
            with self.lock:
                error = self._core.timed_out(action_id, action, timeout)
            if not waiter.done():
                raise error
        if waiter.error is not None:
            raise waiter.error
        assert waiter.result is not None
        return waiter.result

    def make_call(
        self,
        line: str,
        destination: str,
        *,
        context: str,
        channel: str,
        caller_id: str | None = None,
        timeout_ms: int | None = None,
        variables: Mapping[str, str] | None = None,
    ) -> CallHandle:
        """Originate a call for ``line``; its NEWCALL is filtered, its states are not."""
        return self._perform(
            self._core.make_call(
                line,
                destination,
                context=context,
                channel=channel,
                caller_id=caller_id,
                timeout_ms=timeout_ms,
                variables=variables,
            )
        )

    def hangup(self, call: CallHandle | str) -> ActionResult:
        """Hang the call up (AMI ``Hangup``).

        ``call`` is the handle of a call you made or the call key of any tracked
        call (``NewCall.call_key``), so an inbound call can be hung up too.
        """
        return self._perform(self._core.hangup(call))

    def redirect(
        self, call: CallHandle | str, *, context: str, exten: str, priority: int = 1
    ) -> ActionResult:
        """Blind-transfer the call to ``exten@context`` (AMI ``Redirect``)."""
        return self._perform(
            self._core.redirect(call, context=context, exten=exten, priority=priority)
        )

    def send_digits(self, call: CallHandle | str, digits: str) -> ActionResult:
        """Play DTMF ``digits`` on the call (AMI ``PlayDTMF``, one action per digit, in order)."""
        return self._perform(self._core.send_digits(call, digits))

    def close(self, timeout: float = 1.0) -> None:
        """Log off, stop the I/O thread, end :meth:`events`. Idempotent, thread-safe."""
        with self.lock:
            already = self._closing
            self._closing = True
            if not already and self._connected:
                self._outgoing += self._core.logoff()
        self._stop.set()
        self._wake()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                # No Goodbye/close from the server in time: drop the socket.
                self._abort = True
                self._wake()
                thread.join(timeout + 5.0)
        with self._cond:
            self._connected = False
            self._core.fail_pending("the client was closed")
            self._finished = True
            self._cond.notify_all()
        if thread is None or not thread.is_alive():
            for s in (self._wake_r, self._wake_w):
                with contextlib.suppress(OSError):
                    s.close()
        if not already:
            logger.info("closed connection to %s:%d", self.host, self.port)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ internals

    def _start(self) -> None:
        self._sock = self._open()
        self._thread = threading.Thread(
            target=self._io_main, name=f"tapievent-{self.host}:{self.port}", daemon=True
        )
        self._thread.start()

    def _perform(self, steps: Steps[T]) -> T:
        """Send a request's actions one by one, handing each result back to it.

        The request's own code touches the tracker, so it runs under the lock;
        the waits for answers do not.
        """
        with self.lock:
            action = next(steps)
        while True:
            result = self.send_action(action)
            with self._cond:
                try:
                    action = steps.send(result)
                except StopIteration as done:
                    return cast(T, done.value)
                finally:
                    self._cond.notify_all()  # a refused Originate has queued the call's end

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    def _open(self) -> socket.socket:
        """Connect and log in (blocking, bounded by ``connect_timeout``)."""
        connect_timeout = self._options.connect_timeout
        deadline = time.monotonic() + connect_timeout
        sock = socket.create_connection((self.host, self.port), timeout=connect_timeout)
        try:
            if self._options.ssl is not None:
                sock = self._options.ssl.wrap_socket(sock, server_hostname=self.host)
            with self.lock:
                data = self._core.start_session()
            sock.sendall(data)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"no login answer from {self.host}:{self.port} within {connect_timeout}s"
                    )
                sock.settimeout(remaining)
                try:
                    chunk = sock.recv(_READ_SIZE)
                except TimeoutError:
                    continue
                with self._cond:
                    outcomes, out = self._core.receive(chunk)
                    self._cond.notify_all()
                if out:
                    sock.sendall(out)
                if self._core.logged_in(outcomes, eof=not chunk):
                    sock.setblocking(False)
                    with self.lock:
                        self._connected = True
                    logger.info(
                        "logged in to %s:%d as %r", self.host, self.port, self._core.username
                    )
                    return sock
        except BaseException:
            with contextlib.suppress(OSError):
                sock.close()
            raise

    def _io_main(self) -> None:
        try:
            resync = False
            while True:
                reason = self._run_connection(resync)
                if self._closing:
                    return
                self._lost(reason)
                if self._options.reconnect is None:
                    self._fatal = ConnectionLostError(reason)
                    return
                if not self._reconnect():
                    return
                resync = True
        except BaseException as exc:  # pragma: no cover - a bug; never die silently
            logger.exception("I/O thread failed")
            self._fatal = ConnectionLostError(f"I/O thread failed: {exc!r}")
        finally:
            with self._cond:
                self._connected = False
                self._finished = True
                self._core.fail_pending("the client stopped")
                self._cond.notify_all()
            if self._sock is not None:
                with contextlib.suppress(OSError):
                    self._sock.close()

    def _reconnect(self) -> bool:
        policy = self._options.reconnect
        assert policy is not None
        attempt = 0
        while not self._closing:
            if policy.gives_up(attempt):
                self._fatal = self._core.gave_up(attempt)
                return False
            delay = policy.delay(attempt, self._options.random)
            attempt += 1
            logger.info("reconnecting to %s:%d in %.3fs", self.host, self.port, delay)
            if self._stop.wait(delay):
                return False
            try:
                self._sock = self._open()
            except AuthenticationError as exc:
                with self._cond:
                    self._fatal = self._core.refused_on_reconnect(exc)
                    self._cond.notify_all()
                return False
            except (OSError, ProtocolError, TransportError) as exc:
                logger.info("reconnect attempt %d failed: %s", attempt, exc)
                continue
            return True
        return False

    def _lost(self, reason: str) -> None:
        with self._cond:
            self._connected = False
            self._outgoing.clear()
            self._core.fail_pending(reason)
            text = self._core.lost(reason)
            self._cond.notify_all()
        logger.warning("%s", text)
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None

    def _submit_internal(self, action: Action) -> _Waiter:
        """Queue an action from the I/O thread itself (Ping, CoreShowChannels)."""
        waiter = _Waiter()
        with self.lock:
            _action_id, data = self._core.send(action, waiter)
            self._outgoing += data
        return waiter

    def _run_connection(self, resync: bool) -> str:
        """Pump the socket until the connection ends; returns why it ended."""
        sock = self._sock
        assert sock is not None
        selector = selectors.DefaultSelector()
        selector.register(self._wake_r, selectors.EVENT_READ)
        selector.register(sock, selectors.EVENT_READ)
        wbuf = bytearray()
        writing = False
        interval = self._options.keepalive_interval
        keepalive_timeout = self._options.keepalive_timeout
        now = time.monotonic()
        next_ping = None if interval is None else now + interval
        ping_waiter: _Waiter | None = None
        ping_deadline = 0.0
        resync_waiter = self._submit_internal(coreshowchannels()) if resync else None
        resync_deadline = now + self._options.action_timeout
        try:
            while True:
                if self._abort:
                    return "the client was closed"
                with self.lock:
                    if self._outgoing:
                        wbuf += self._outgoing
                        self._outgoing.clear()
                if wbuf:
                    try:
                        sent = sock.send(wbuf)
                        del wbuf[:sent]
                    except (BlockingIOError, _ssl.SSLWantWriteError, _ssl.SSLWantReadError):
                        pass
                    except OSError as exc:
                        return f"connection error: {exc}"
                if bool(wbuf) != writing:
                    writing = bool(wbuf)
                    events = selectors.EVENT_READ | (selectors.EVENT_WRITE if writing else 0)
                    selector.modify(sock, events)
                now = time.monotonic()
                deadlines: list[float] = []
                if ping_waiter is not None:
                    deadlines.append(ping_deadline)
                elif next_ping is not None:
                    deadlines.append(next_ping)
                if resync_waiter is not None:
                    deadlines.append(resync_deadline)
                timeout = max(0.0, min(deadlines) - now) if deadlines else None
                if isinstance(sock, _ssl.SSLSocket) and sock.pending():
                    timeout = 0.0
                ready = selector.select(timeout)
                for key, _mask in ready:
                    if key.fileobj is self._wake_r:
                        with contextlib.suppress(OSError):
                            while self._wake_r.recv(4096):
                                pass
                if any(key.fileobj is sock for key, _ in ready) or (
                    isinstance(sock, _ssl.SSLSocket) and sock.pending()
                ):
                    data, eof, error = _recv_available(sock)
                    reason = self._dispatch(data) if data else None
                    if eof:
                        end = self._dispatch(b"")
                        return error or reason or end or "connection closed by the server"
                now = time.monotonic()
                if resync_waiter is not None:
                    if resync_waiter.done():
                        if resync_waiter.result is None:
                            return "resynchronisation failed"
                        with self._cond:
                            self._core.resynced(resync_waiter.result)
                            self._cond.notify_all()
                        logger.info("back in service on %s:%d", self.host, self.port)
                        resync_waiter = None
                    elif now >= resync_deadline:
                        return "no answer to CoreShowChannels after reconnecting"
                if ping_waiter is not None:
                    if ping_waiter.done():
                        ping_waiter = None
                        assert interval is not None
                        next_ping = now + interval
                    elif now >= ping_deadline:
                        return f"keepalive: no answer to Ping within {keepalive_timeout}s"
                elif next_ping is not None and now >= next_ping:
                    ping_waiter = self._submit_internal(ping())
                    ping_deadline = now + keepalive_timeout
        finally:
            selector.close()

    def _dispatch(self, data: bytes) -> str | None:
        """Feed bytes to the core (it completes waiters); returns a close reason if any."""
        reason = None
        with self._cond:
            outcomes, out = self._core.receive(data)
            if out:
                self._outgoing += out
            for outcome in outcomes:
                if isinstance(outcome, Closed):
                    reason = outcome.reason
            self._cond.notify_all()
        return reason


def _recv_available(sock: socket.socket) -> tuple[bytes, bool, str | None]:
    """Everything readable now: (data, eof, error text)."""
    chunks: list[bytes] = []
    while True:
        try:
            chunk = sock.recv(_READ_SIZE)
        except (BlockingIOError, InterruptedError, _ssl.SSLWantReadError, _ssl.SSLWantWriteError):
            return b"".join(chunks), False, None
        except OSError as exc:
            return b"".join(chunks), True, f"connection error: {exc}"
        if not chunk:
            return b"".join(chunks), True, None
        chunks.append(chunk)


def connect(
    host: str,
    port: int = 5038,
    *,
    username: str,
    secret: str,
    auth: str = "md5",
    ssl: _ssl.SSLContext | None = None,
    lines: Iterable[str] | None = None,
    reconnect: bool | ReconnectPolicy = True,
    keepalive_interval: float | None = 20.0,
    keepalive_timeout: float = 10.0,
    queue_size: int = DEFAULT_QUEUE_SIZE,
    action_timeout: float = 30.0,
    connect_timeout: float = 10.0,
    events: str = "on",
    max_calls: int | None = None,
    random: Callable[[], float] = _random.random,
) -> Client:
    """Connect and log in (blocking); returns a :class:`Client`, also a context manager.

    The parameters are those of :func:`tapievent.transports.aio.connect`.
    Errors of the first connection (``OSError`` such as
    ``ConnectionRefusedError``, ``ssl.SSLError``, ``TimeoutError``,
    :class:`AuthenticationError`) are raised here.
    """
    options = ClientOptions(
        host=host,
        port=port,
        username=username,
        secret=secret,
        auth=auth,
        ssl=ssl,
        lines=lines,
        reconnect=reconnect,
        keepalive_interval=keepalive_interval,
        keepalive_timeout=keepalive_timeout,
        queue_size=queue_size,
        action_timeout=action_timeout,
        connect_timeout=connect_timeout,
        events=events,
        max_calls=max_calls,
        random=random,
    )
    client = Client(options)
    try:
        client._start()
    except BaseException:
        for s in (client._wake_r, client._wake_w):
            s.close()
        raise
    return client
