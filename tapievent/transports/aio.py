"""The asyncio transport: an AMI connection that yields TAPI events.

It moves bytes between an ``asyncio`` stream and the sans-IO core (a
:class:`~tapievent.connection.Connection`: session and tracker) and carries
out the steps of a :class:`~tapievent.supervisor.Supervisor` (wait, open,
log in, resync); it adds only what needs a clock or a socket: timeouts, the
keepalive Ping, the sleeps, and a bounded event queue::

    async with connect("pbx.example", username="tapi", secret=s, lines=["Local/bob"]) as client:
        async for event in client.events():
            print(event)

Everything runs on the event loop that called :func:`connect`; the client is
not thread-safe (use :mod:`tapievent.transports.blocking` from threads).
Policies, stated once here and in ``docs/library.md``:

- **Connecting** fails loudly: the first connection's errors (refused,
  TLS, timeout as ``TimeoutError``, :class:`AuthenticationError`) are raised
  by ``connect``.
- **Reconnect**: once connected, a lost connection (closed, reset, or a Ping
  unanswered for ``keepalive_timeout`` seconds) is reported as a
  ``connection-lost`` :class:`~tapievent.Diagnostic` and
  ``LineDevState(OUTOFSERVICE)``; the client then retries with exponential
  backoff and jitter (:class:`ReconnectPolicy`), logs in again, asks
  ``CoreShowChannels``, lets the tracker reconcile (calls that ended
  meanwhile get a synthesized IDLE; a refused list keeps every call and
  says ``resync-failed``) and reports ``INSERVICE``. Actions that
  were waiting fail with :class:`ConnectionLostError`; they are not resent
  (an Originate must not dial twice).
- **Bad credentials** are never retried: on reconnect they end the client
  with an ``authentication-failed`` diagnostic, and ``events()`` raises
  :class:`AuthenticationError`.
- **Slow consumer**: at most ``queue_size`` events wait; beyond that the
  oldest are dropped and a ``queue-overflow`` diagnostic says how many.
"""

from __future__ import annotations

import asyncio
import logging
import random as _random
import ssl as _ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterable, Mapping
from typing import Any, TypeVar

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

__all__ = [
    "ActionFailedError",
    "ActionTimeoutError",
    "AsyncClient",
    "AuthenticationError",
    "ConnectionLostError",
    "ReconnectPolicy",
    "TransportError",
    "connect",
]

logger = logging.getLogger(__name__)

_READ_SIZE = 65536

T = TypeVar("T")


async def _bounded(awaitable: Awaitable[T], timeout: float) -> T:
    """``awaitable`` within ``timeout`` seconds, else ``asyncio.TimeoutError``.

    Unlike ``asyncio.wait_for`` before Python 3.12, a cancellation of the
    caller is never turned into the awaitable's own result or error when the
    two happen at once: the caller's ``CancelledError`` always propagates
    (issue 15 #12: shutdown hung while the client was reconnecting).
    """
    inner = asyncio.ensure_future(awaitable)
    try:
        done, _ = await asyncio.wait({inner}, timeout=timeout)
    except BaseException:
        inner.cancel()
        raise
    if not done:
        inner.cancel()
        await asyncio.wait({inner})
        raise asyncio.TimeoutError
    return inner.result()


_RETRYABLE = (OSError, asyncio.TimeoutError, TransportError, ProtocolError)
"""What a failed attempt may raise: reported to the supervisor, never a crash."""


class AsyncClient(ClientBase):
    """A logged-in AMI connection driving a :class:`~tapievent.tracker.CallTracker`.

    Create it with :func:`connect`. Use it from one event loop only; one task
    should iterate :meth:`events` (a second consumer would steal events
    from the first). Every other method may be awaited from any task of
    that loop, concurrently.
    """

    _REPR_NAME = "AsyncClient"

    def __init__(self, options: ClientOptions) -> None:
        super().__init__(options)
        self._writer: asyncio.StreamWriter | None = None
        self._reader: asyncio.StreamReader | None = None
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._runner: asyncio.Task[str] | None = None
        self._dead_reason: str | None = None

    # ------------------------------------------------------------------ public API
    # (``tracker``, ``connected`` and ``dropped_events`` come from ClientBase)

    async def events(self) -> AsyncIterator[OutputEvent]:
        """The tracker's events, diagnostics and line states, in order.

        Ends after :meth:`close`; raises :class:`AuthenticationError` or
        :class:`ConnectionLostError` when the client gave up on its own
        (reconnect disabled, retries exhausted, credentials refused), after
        every queued event has been delivered.
        """
        while True:
            event = self._buffer.get()
            if event is not None:
                yield event
                continue
            if self._events_ended():
                return
            self._wakeup.clear()
            await self._wakeup.wait()

    async def send_action(self, action: Action, *, timeout: float | None = None) -> ActionResult:
        """Send ``action`` and return its result (response plus any event list).

        Raises :class:`ActionTimeoutError` after ``timeout`` seconds (default:
        the client's ``action_timeout``), :class:`ConnectionLostError` when not
        connected or when the connection drops first, ``LocalProtocolError``
        for an action that cannot be sent safely. A ``Response: Error`` is
        returned, not raised: check ``result.ok``.
        """
        timeout = self._options.action_timeout if timeout is None else timeout
        return await self._request(lambda c: c.send_action(action), action.name, timeout)

    async def make_call(
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
        """Originate a call for ``line`` (click-to-dial) and return its handle.

        The dialplan's ``LINE_NEWCALL`` for this call is not reported as a
        :class:`~tapievent.NewCall` (the application made it); its call
        states are. Raises :class:`ActionFailedError` when Asterisk refuses
        the Originate (the call's own end is reported as events too).
        """
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

        result = await self._request(originate, "Originate", self._options.action_timeout)
        check_result(result, "Originate")
        return handles[0]

    async def hangup(self, call: CallHandle | str) -> ActionResult:
        """Hang the call up (AMI ``Hangup``).

        ``call`` is the handle of a call you made or the call key of any tracked
        call (``NewCall.call_key``), so an inbound call can be hung up too.
        """
        return check_result(await self._act(lambda c: c.hangup(call), "Hangup"), "Hangup")

    async def redirect(
        self, call: CallHandle | str, *, context: str, exten: str, priority: int = 1
    ) -> ActionResult:
        """Blind-transfer the call to ``exten@context`` (AMI ``Redirect``)."""
        result = await self._act(
            lambda c: c.redirect(call, context=context, exten=exten, priority=priority),
            "Redirect",
        )
        return check_result(result, "Redirect")

    async def send_digits(self, call: CallHandle | str, digits: str) -> ActionResult:
        """Play DTMF ``digits`` on the call (AMI ``PlayDTMF``, one action per digit, in order).

        Every digit is checked first; the first refusal stops the rest.
        """
        result: ActionResult | None = None
        for action in self.tracker.digit_actions(call, digits):
            result = check_result(await self.send_action(action), "PlayDTMF")
        assert result is not None  # digit_actions refuses an empty string
        return result

    async def close(self) -> None:
        """Log off, close the connection and end :meth:`events`. Idempotent."""
        if self._closing:
            if self._task is not None:
                await asyncio.gather(self._task, return_exceptions=True)
            return
        self._closing = True
        writer = self._writer
        if writer is not None and self._connected:
            self._connection.logoff()
            data = self._connection.data_to_send()
            if data:
                try:
                    writer.write(data)
                    await _bounded(writer.drain(), 1.0)
                except (OSError, asyncio.TimeoutError):
                    pass
            if self._task is not None:
                # Wait (briefly) for Goodbye and the server's close.
                await asyncio.wait({asyncio.ensure_future(asyncio.shield(self._task))}, timeout=1.0)
        if self._writer is not None:
            self._abort(self._writer)
        if self._task is not None and not self._task.done():
            self._task.cancel()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        self._connected = False
        self._fail_pending("the client was closed")
        self._finished = True
        self._wakeup.set()
        logger.info("closed connection to %s:%d", self.host, self.port)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ the supervisor's steps

    async def _start(self) -> None:
        """Carry out the supervisor's steps up to the first service; raise its errors."""
        step = self._supervisor.start()
        while not isinstance(step, (Serve, GiveUp, Stop)):
            step = await self._carry_out(step)
        if isinstance(step, GiveUp):
            raise step.error
        self._task = asyncio.create_task(self._supervise(step), name="tapievent-aio")

    async def _supervise(self, step: Step) -> None:
        try:
            while not isinstance(step, (GiveUp, Stop)):
                if self._closing:
                    step = self._supervisor.close()
                    break
                step = await self._carry_out(step)
            if isinstance(step, GiveUp):
                self._fatal = step.error
        finally:
            self._connected = False
            self._finished = True
            self._wakeup.set()

    async def _carry_out(self, step: Step) -> Step:
        """Do one step; return the supervisor's next one."""
        supervisor = self._supervisor
        if isinstance(step, Wait):
            logger.info("reconnecting to %s:%d in %.3fs", self.host, self.port, step.seconds)
            await asyncio.sleep(step.seconds)
            return supervisor.waited()
        if isinstance(step, Open):
            try:
                await self._open()
            except _RETRYABLE as exc:
                logger.info("connecting to %s:%d failed: %s", self.host, self.port, exc)
                return supervisor.failed(exc)
            return supervisor.opened()
        if isinstance(step, LogIn):
            return await self._log_in()
        if isinstance(step, Resync):
            return await self._resync()
        assert isinstance(step, Serve)
        runner, self._runner = self._runner, None
        reason = await (runner if runner is not None else self._run_connection())
        if self._closing:
            return supervisor.close()
        self._lost(reason)
        return supervisor.failed(ConnectionLostError(reason))

    async def _open(self) -> None:
        timeout = self._options.connect_timeout
        try:
            self._reader, self._writer = await _bounded(
                asyncio.open_connection(
                    self.host,
                    self.port,
                    ssl=self._options.ssl,
                    server_hostname=self.host if self._options.ssl is not None else None,
                ),
                timeout,
            )
        except asyncio.TimeoutError:
            raise TimeoutError(
                f"connecting to {self.host}:{self.port} timed out after {timeout}s"
            ) from None

    async def _log_in(self) -> Step:
        timeout = self._options.connect_timeout
        try:
            try:
                await _bounded(self._login(), timeout)
            except asyncio.TimeoutError:
                raise TimeoutError(
                    f"no login answer from {self.host}:{self.port} within {timeout}s"
                ) from None
        except AuthenticationError as exc:
            self._drop_connection(str(exc))
            return self._supervisor.refused(exc)
        except _RETRYABLE as exc:
            logger.info("login to %s:%d failed: %s", self.host, self.port, exc)
            self._drop_connection(str(exc))
            return self._supervisor.failed(exc)
        self._connected = True
        self._dead_reason = None
        logger.info("logged in to %s:%d as %r", self.host, self.port, self._options.username)
        return self._supervisor.logged_in()

    async def _login(self) -> None:
        reader, writer = self._reader, self._writer
        assert reader is not None and writer is not None
        self._connection.login()
        writer.write(self._connection.data_to_send())
        while True:
            data = await reader.read(_READ_SIZE)
            outcomes = self._feed(data)
            self._flush()
            if self._logged_in(outcomes, eof=not data):
                return

    async def _resync(self) -> Step:
        """Read concurrently while asking which channels survived the outage."""
        runner = asyncio.create_task(self._run_connection())
        try:
            await self._request(
                lambda c: c.resync(), "CoreShowChannels", self._options.action_timeout
            )
        except (ActionTimeoutError, ConnectionLostError) as exc:
            logger.info("resynchronisation failed: %s", exc)
            if self._writer is not None:
                self._abort(self._writer)
            await runner
            self._drop_connection("resynchronisation failed")
            return self._supervisor.failed(exc)
        # The Connection has reconciled (or said resync-failed) and reported INSERVICE.
        self._notify()
        logger.info("back in service on %s:%d", self.host, self.port)
        self._runner = runner
        return self._supervisor.resynced()

    async def _run_connection(self) -> str:
        """Read until the connection ends; returns why it ended."""
        reader, writer = self._reader, self._writer
        assert reader is not None and writer is not None
        keepalive = (
            asyncio.create_task(self._keepalive(writer))
            if self._options.keepalive_interval is not None
            else None
        )
        reason = "connection closed by the server"
        try:
            while True:
                try:
                    data = await reader.read(_READ_SIZE)
                except (OSError, _ssl.SSLError) as exc:
                    reason = f"connection error: {exc}"
                    data = b""
                reason = outcome_reason(self._feed(data)) or reason
                self._flush()
                self._notify()
                if not data:
                    break
        finally:
            if keepalive is not None:
                keepalive.cancel()
                await asyncio.gather(keepalive, return_exceptions=True)
        return self._dead_reason or reason

    async def _keepalive(self, writer: asyncio.StreamWriter) -> None:
        interval, timeout = self._options.keepalive_interval, self._options.keepalive_timeout
        assert interval is not None
        while True:
            await asyncio.sleep(interval)
            try:
                await self._request(lambda c: c.send_action(Action("Ping")), "Ping", timeout)
            except ActionTimeoutError:
                self._dead_reason = f"keepalive: no answer to Ping within {timeout}s"
                logger.warning("%s:%d: %s", self.host, self.port, self._dead_reason)
                self._abort(writer)
                return
            except (ConnectionLostError, ProtocolError):
                return

    def _lost(self, reason: str) -> None:
        self._drop_connection(reason)
        logger.warning("connection to %s:%d lost: %s", self.host, self.port, reason)
        self._notify()

    def _drop_connection(self, reason: str) -> None:
        self._connected = False
        if self._writer is not None:
            self._abort(self._writer)
        self._writer = self._reader = None
        self._connection_lost(reason)
        self._fail_pending(reason)

    @staticmethod
    def _abort(writer: asyncio.StreamWriter) -> None:
        transport = writer.transport
        if not transport.is_closing():
            transport.abort()

    def _notify(self) -> None:
        if len(self._buffer) or self._buffer.dropped:
            self._wakeup.set()

    def _flush(self) -> None:
        data = self._connection.data_to_send()
        if data and self._writer is not None and not self._writer.is_closing():
            self._writer.write(data)

    async def _act(self, send: Callable[[Connection], str], what: str) -> ActionResult:
        return await self._request(send, what, self._options.action_timeout)

    async def _request(
        self, send: Callable[[Connection], str], what: str, timeout: float
    ) -> ActionResult:
        """Queue one action on the connection (``send`` returns its ActionID) and await it."""
        if self._writer is None or not self._connected or not self._connection.can_send:
            raise self._not_connected()
        future: asyncio.Future[ActionResult] = asyncio.get_running_loop().create_future()
        action_id = send(self._connection)
        self._register(action_id, future)
        self._flush()
        self._notify()  # a refused Originate may already have queued the call's end
        try:
            result = await _bounded(asyncio.shield(future), timeout)
        except asyncio.TimeoutError:
            raise self._timed_out(action_id, what, timeout) from None
        finally:
            self._notify()
        return result


class _Connector:
    """What :func:`connect` returns: await it, or use it with ``async with``."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    def __await__(self) -> Generator[Any, None, AsyncClient]:
        return self._start().__await__()

    async def _start(self) -> AsyncClient:
        await self._client._start()
        return self._client

    async def __aenter__(self) -> AsyncClient:
        return await self._start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self._client.close()


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
    on_receive: Callable[[bytes], None] | None = None,
) -> _Connector:
    """Connect to Asterisk's AMI and log in; ``await`` it or use ``async with``.

    ``auth`` is ``"md5"`` (Challenge, the secret never crosses the wire) or
    ``"plain"``. ``ssl`` is an ``ssl.SSLContext`` for AMI over TLS (Asterisk's
    ``tlsbindport``, usually 5039). ``lines`` are the line names this client
    serves (``None`` = every line). ``reconnect`` is ``True`` (default
    :class:`ReconnectPolicy`), ``False``, or a policy; ``random`` is the
    jitter source (inject it for deterministic tests). ``keepalive_interval``
    seconds between Pings (``None`` disables them); a Ping unanswered after
    ``keepalive_timeout`` seconds drops the connection. ``events`` is the
    Login's ``Events:`` mask; the tracker needs ``call``, ``user`` and, before
    Asterisk 12.2, ``dialplan`` (VarSet). ``on_receive`` is called with every
    chunk of bytes read from Asterisk (after TLS, before the core parses
    them) and with ``b""`` when a connection ends, perhaps more than once:
    what :class:`tapievent.recording.CaptureWriter` records. It must not raise.
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
        on_receive=on_receive,
    )
    return _Connector(AsyncClient(options))
