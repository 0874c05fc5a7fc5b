"""The blocking transport: the asyncio client's API for threaded code.

One background I/O thread per client owns the socket (``socket`` +
``selectors``) and drives the same sans-IO core as the asyncio transport
(a :class:`~tapievent.connection.Connection`, with the reconnect decisions
of a :class:`~tapievent.supervisor.Supervisor`); the calling threads only
queue actions and wait. Each turn of the I/O loop reads a bounded amount,
so a flooding peer cannot starve the keepalive or delay ``close()``.
Keepalive, reconnect with backoff, the
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
import socket
import ssl as _ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping

from .._errors import ProtocolError
from ..ami_codec import Action
from ..connection import Connection
from ..model import OutputEvent
from ..session import ActionResult
from ..supervisor import GiveUp, LogIn, Open, Resync, Serve, Step, Stop, Wait
from ..tracker import CallHandle
from ._common import (
    DEFAULT_QUEUE_SIZE,
    ActionFailedError,
    ActionTimeoutError,
    AuthenticationError,
    ClientBase,
    ClientOptions,
    ConnectionLostError,
    ReconnectPolicy,
    TransportError,
    check_result,
    outcome_reason,
)
from ._pump import Pump, Waiter

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

_RETRYABLE = (OSError, TransportError, ProtocolError)
"""What a failed attempt may raise: reported to the supervisor, never a crash."""


class Client(ClientBase):
    """A logged-in AMI connection for threaded code; create it with :func:`connect`.

    See the module docstring for the thread-safety rules.
    """

    _REPR_NAME = "blocking.Client"

    def __init__(self, options: ClientOptions) -> None:
        super().__init__(options)
        self.lock = threading.Lock()
        """Guards the connection, the tracker and the queue; hold it to read ``tracker``."""
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
                event = self._buffer.get()
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
        return self._request(lambda c: c.send_action(action), action.name, timeout)

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
        handles: list[CallHandle] = []

        def originate(connection: Connection) -> str:
            handle = connection.make_call(
                line,
                destination,
                context=context,
                channel=channel,
                caller_id=caller_id,
                timeout_ms=timeout_ms,
                variables=variables,
            )
            handles.append(handle)
            return handle.action_id

        check_result(self._request(originate, "Originate", None), "Originate")
        return handles[0]

    def hangup(self, call: CallHandle | str) -> ActionResult:
        """Hang the call up (AMI ``Hangup``).

        ``call`` is the handle of a call you made or the call key of any tracked
        call (``NewCall.call_key``), so an inbound call can be hung up too.
        """
        return check_result(self._request(lambda c: c.hangup(call), "Hangup", None), "Hangup")

    def redirect(
        self, call: CallHandle | str, *, context: str, exten: str, priority: int = 1
    ) -> ActionResult:
        """Blind-transfer the call to ``exten@context`` (AMI ``Redirect``)."""
        result = self._request(
            lambda c: c.redirect(call, context=context, exten=exten, priority=priority),
            "Redirect",
            None,
        )
        return check_result(result, "Redirect")

    def send_digits(self, call: CallHandle | str, digits: str) -> ActionResult:
        """Play DTMF ``digits`` on the call (AMI ``PlayDTMF``, one action per digit, in order)."""
        with self.lock:
            actions = self.tracker.digit_actions(call, digits)
        result: ActionResult | None = None
        for action in actions:
            result = check_result(self.send_action(action), "PlayDTMF")
        assert result is not None  # digit_actions refuses an empty string
        return result

    def close(self, timeout: float = 1.0) -> None:
        """Log off, stop the I/O thread, end :meth:`events`. Idempotent, thread-safe."""
        with self.lock:
            already = self._closing
            self._closing = True
            if not already and self._connected:
                self._connection.logoff()
                self._outgoing += self._connection.data_to_send()
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
            self._fail_pending("the client was closed")
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

    # ------------------------------------------------------------------ requests

    def _request(
        self, send: Callable[[Connection], str], what: str, timeout: float | None
    ) -> ActionResult:
        """Queue one action on the connection (``send`` returns its ActionID), wait for it."""
        timeout = self._options.action_timeout if timeout is None else timeout
        with self._cond:
            if not self._connected or not self._connection.can_send:
                raise self._not_connected()
            waiter = Waiter()
            action_id = send(self._connection)
            self._register(action_id, waiter)
            self._outgoing += self._connection.data_to_send()
        self._wake()
        answered = waiter.wait(timeout)
        with self._cond:
            self._cond.notify_all()  # a refused Originate has queued the call's end
            if not answered and not waiter.done():
                raise self._timed_out(action_id, what, timeout)
        if waiter.error is not None:
            raise waiter.error
        assert waiter.result is not None
        return waiter.result

    def _submit_internal(self, send: Callable[[Connection], str]) -> Waiter:
        """Queue an action from the I/O thread itself (Ping, CoreShowChannels)."""
        waiter = Waiter()
        with self.lock:
            self._register(send(self._connection), waiter)
            self._outgoing += self._connection.data_to_send()
        return waiter

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    # ------------------------------------------------------------------ the supervisor's steps

    def _start(self) -> None:
        """Carry out the supervisor's steps up to the first service; raise its errors."""
        step = self._supervisor.start()
        while not isinstance(step, (Serve, GiveUp, Stop)):
            step = self._carry_out(step)
        if isinstance(step, GiveUp):
            raise step.error
        self._thread = threading.Thread(
            target=self._io_main,
            args=(step,),
            name=f"tapievent-{self.host}:{self.port}",
            daemon=True,
        )
        self._thread.start()

    def _io_main(self, step: Step) -> None:
        try:
            while not isinstance(step, (GiveUp, Stop)):
                step = self._supervisor.close() if self._closing else self._carry_out(step)
            if isinstance(step, GiveUp):
                self._fatal = step.error
        except BaseException as exc:  # pragma: no cover - a bug; never die silently
            logger.exception("I/O thread failed")
            self._fatal = ConnectionLostError(f"I/O thread failed: {exc!r}")
        finally:
            with self._cond:
                self._connected = False
                self._finished = True
                self._fail_pending("the client stopped")
                self._cond.notify_all()
            self._close_socket()

    def _carry_out(self, step: Step) -> Step:
        """Do one step; return the supervisor's next one."""
        supervisor = self._supervisor
        if isinstance(step, Wait):
            logger.info("reconnecting to %s:%d in %.3fs", self.host, self.port, step.seconds)
            return supervisor.close() if self._stop.wait(step.seconds) else supervisor.waited()
        if isinstance(step, Open):
            try:
                self._sock = self._open_socket()
            except _RETRYABLE as exc:
                logger.info("connecting to %s:%d failed: %s", self.host, self.port, exc)
                return supervisor.failed(exc)
            return supervisor.opened()
        if isinstance(step, LogIn):
            return self._log_in()
        assert isinstance(step, (Resync, Serve))
        reason = Pump(self, resync=isinstance(step, Resync)).run()
        if self._closing:
            return supervisor.close()
        self._lost(reason)
        return supervisor.failed(ConnectionLostError(reason))

    def _open_socket(self) -> socket.socket:
        timeout = self._options.connect_timeout
        sock = socket.create_connection((self.host, self.port), timeout=timeout)
        if self._options.ssl is not None:
            try:
                sock = self._options.ssl.wrap_socket(sock, server_hostname=self.host)
            except BaseException:
                sock.close()
                raise
        return sock

    def _log_in(self) -> Step:
        """Log in on the open socket (blocking, bounded by ``connect_timeout``)."""
        sock = self._sock
        assert sock is not None
        try:
            self._login(sock)
        except AuthenticationError as exc:
            self._drop(str(exc))
            return self._supervisor.refused(exc)
        except _RETRYABLE as exc:
            logger.info("login to %s:%d failed: %s", self.host, self.port, exc)
            self._drop(str(exc))
            return self._supervisor.failed(exc)
        sock.setblocking(False)
        with self.lock:
            self._connected = True
        logger.info("logged in to %s:%d as %r", self.host, self.port, self._options.username)
        return self._supervisor.logged_in()

    def _login(self, sock: socket.socket) -> None:
        connect_timeout = self._options.connect_timeout
        deadline = time.monotonic() + connect_timeout
        with self.lock:
            self._connection.login()
            data = self._connection.data_to_send()
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
                outcomes = self._feed(chunk, time.time())
                out = self._connection.data_to_send()
                self._cond.notify_all()
                if out:
                    sock.sendall(out)
                if self._logged_in(outcomes, eof=not chunk):
                    return

    def _lost(self, reason: str) -> None:
        """A connection that was serving is gone (logged as a warning)."""
        self._drop(reason)
        logger.warning("connection to %s:%d lost: %s", self.host, self.port, reason)

    def _drop(self, reason: str) -> None:
        """The TCP connection is gone: tell the Connection, fail the waiters, close it."""
        with self._cond:
            self._connected = False
            self._outgoing.clear()
            self._fail_pending(reason)
            self._connection_lost(reason, time.time())
            self._cond.notify_all()
        self._close_socket()

    def _close_socket(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None

    def _dispatch(self, data: bytes, read_at: float | None = None) -> str | None:
        """Feed bytes to the connection (it completes waiters); returns a close reason if any.

        ``read_at`` is the ``time.time()`` the bytes were read at.
        """
        with self._cond:
            reason = outcome_reason(self._feed(data, read_at))
            self._outgoing += self._connection.data_to_send()
            self._cond.notify_all()
        return reason


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
    source: str = "",
    on_receive: Callable[[bytes], None] | None = None,
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
        source=source,
        on_receive=on_receive,
    )
    client = Client(options)
    try:
        client._start()
    except BaseException:
        for s in (client._wake_r, client._wake_w):
            s.close()
        raise
    return client
