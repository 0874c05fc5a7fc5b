"""The asyncio transport: an AMI connection that yields TAPI events.

It moves bytes between an ``asyncio`` stream and the sans-IO core
(``AMISession`` for login and action matching, ``CallTracker`` for calls);
it adds only what needs a clock or a socket: timeouts, the keepalive Ping,
reconnecting with backoff, and a bounded event queue::

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
  meanwhile get a synthesized IDLE) and reports ``INSERVICE``. Actions that
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
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Mapping
from typing import Any, cast

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
    "AsyncClient",
    "AuthenticationError",
    "ConnectionLostError",
    "ReconnectPolicy",
    "TransportError",
    "connect",
]

logger = logging.getLogger(__name__)

_READ_SIZE = 65536


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
        self._supervisor: asyncio.Task[None] | None = None
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
            event = self._core.buffer.get()
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
        return await self._request(
            action, self._options.action_timeout if timeout is None else timeout
        )

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
        the Originate.
        """
        return await self._perform(
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

    async def hangup(self, call: CallHandle | str) -> ActionResult:
        """Hang the call up (AMI ``Hangup``).

        ``call`` is the handle of a call you made or the call key of any tracked
        call (``NewCall.call_key``), so an inbound call can be hung up too.
        """
        return await self._perform(self._core.hangup(call))

    async def redirect(
        self, call: CallHandle | str, *, context: str, exten: str, priority: int = 1
    ) -> ActionResult:
        """Blind-transfer the call to ``exten@context`` (AMI ``Redirect``)."""
        return await self._perform(
            self._core.redirect(call, context=context, exten=exten, priority=priority)
        )

    async def send_digits(self, call: CallHandle | str, digits: str) -> ActionResult:
        """Play DTMF ``digits`` on the call (AMI ``PlayDTMF``, one action per digit, in order)."""
        return await self._perform(self._core.send_digits(call, digits))

    async def close(self) -> None:
        """Log off, close the connection and end :meth:`events`. Idempotent."""
        if self._closing:
            if self._supervisor is not None:
                await asyncio.gather(self._supervisor, return_exceptions=True)
            return
        self._closing = True
        writer = self._writer
        if writer is not None and self._connected:
            data = self._core.logoff()
            if data:
                try:
                    writer.write(data)
                    await asyncio.wait_for(writer.drain(), 1.0)
                except (OSError, asyncio.TimeoutError):
                    pass
            if self._supervisor is not None:
                # Wait (briefly) for Goodbye and the server's close.
                await asyncio.wait(
                    {asyncio.ensure_future(asyncio.shield(self._supervisor))}, timeout=1.0
                )
        if self._writer is not None:
            self._abort(self._writer)
        if self._supervisor is not None and not self._supervisor.done():
            self._supervisor.cancel()
        if self._supervisor is not None:
            await asyncio.gather(self._supervisor, return_exceptions=True)
        self._connected = False
        self._core.fail_pending("the client was closed")
        self._finished = True
        self._wakeup.set()
        logger.info("closed connection to %s:%d", self.host, self.port)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ connection

    async def _start(self) -> None:
        await self._open()
        self._supervisor = asyncio.create_task(self._supervise(), name="tapievent-aio")

    async def _open(self) -> None:
        """Connect and log in; on success the client is connected."""
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    self.host,
                    self.port,
                    ssl=self._options.ssl,
                    server_hostname=self.host if self._options.ssl is not None else None,
                ),
                self._options.connect_timeout,
            )
        except asyncio.TimeoutError:
            raise TimeoutError(
                f"connecting to {self.host}:{self.port} timed out "
                f"after {self._options.connect_timeout}s"
            ) from None
        try:
            await asyncio.wait_for(self._login(reader, writer), self._options.connect_timeout)
        except asyncio.TimeoutError:
            self._abort(writer)
            raise TimeoutError(
                f"no login answer from {self.host}:{self.port} "
                f"within {self._options.connect_timeout}s"
            ) from None
        except BaseException:
            self._abort(writer)
            raise
        self._reader, self._writer = reader, writer
        self._connected = True
        self._dead_reason = None
        logger.info("logged in to %s:%d as %r", self.host, self.port, self._core.username)

    async def _login(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(self._core.start_session())
        while True:
            data = await reader.read(_READ_SIZE)
            outcomes, out = self._core.receive(data)
            if out:
                writer.write(out)
            self._notify()
            if self._core.logged_in(outcomes, eof=not data):
                return

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
                outcomes, out = self._core.receive(data)
                if out and not writer.is_closing():
                    writer.write(out)
                for outcome in outcomes:
                    if isinstance(outcome, Closed):
                        reason = outcome.reason
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
                await self._request(ping(), timeout)
            except ActionTimeoutError:
                self._dead_reason = f"keepalive: no answer to Ping within {timeout}s"
                logger.warning("%s:%d: %s", self.host, self.port, self._dead_reason)
                self._abort(writer)
                return
            except (ConnectionLostError, ProtocolError):
                return

    async def _supervise(self) -> None:
        try:
            while True:
                reason = await self._run_connection()
                if self._closing:
                    return
                self._lost(reason)
                if self._options.reconnect is None:
                    self._fatal = ConnectionLostError(reason)
                    return
                if not await self._reconnect():
                    return
        finally:
            self._connected = False
            self._finished = True
            self._wakeup.set()

    async def _reconnect(self) -> bool:
        """Retry until connected and resynchronised; False when giving up."""
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
            await asyncio.sleep(delay)
            try:
                await self._open()
            except AuthenticationError as exc:
                self._fatal = self._core.refused_on_reconnect(exc)
                self._notify()
                return False
            except (OSError, ProtocolError, TransportError) as exc:
                logger.info("reconnect attempt %d failed: %s", attempt, exc)
                continue
            # Read concurrently while asking which channels survived.
            runner = asyncio.create_task(self._run_connection())
            try:
                result = await self._request(coreshowchannels(), self._options.action_timeout)
            except (ActionTimeoutError, ConnectionLostError) as exc:
                logger.info("resynchronisation failed: %s", exc)
                if self._writer is not None:
                    self._abort(self._writer)
                await runner
                self._drop_connection("resynchronisation failed")
                continue
            self._core.resynced(result)
            self._notify()
            logger.info("back in service on %s:%d", self.host, self.port)
            # Hand the running connection back to the supervisor loop.
            reason = await runner
            if self._closing:
                return False
            self._lost(reason)
            attempt = 0
        return False

    def _lost(self, reason: str) -> None:
        self._drop_connection(reason)
        logger.warning("%s", self._core.lost(reason))
        self._notify()

    def _drop_connection(self, reason: str) -> None:
        self._connected = False
        if self._writer is not None:
            self._abort(self._writer)
        self._writer = self._reader = None
        self._core.session = None
        self._core.fail_pending(reason)

    @staticmethod
    def _abort(writer: asyncio.StreamWriter) -> None:
        transport = writer.transport
        if not transport.is_closing():
            transport.abort()

    def _notify(self) -> None:
        if len(self._core.buffer) or self._core.buffer.dropped:
            self._wakeup.set()

    async def _request(self, action: Action, timeout: float) -> ActionResult:
        writer = self._writer
        if writer is None or not self._connected or self._core.session is None:
            raise self._core.not_connected()
        future: asyncio.Future[ActionResult] = asyncio.get_running_loop().create_future()
        action_id, data = self._core.send(action, future)
        writer.write(data)
        try:
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            raise self._core.timed_out(action_id, action, timeout) from None

    async def _perform(self, steps: Steps[T]) -> T:
        """Send a request's actions one by one, handing each result back to it."""
        action = next(steps)
        while True:
            result = await self.send_action(action)
            try:
                action = steps.send(result)
            except StopIteration as done:
                return cast(T, done.value)
            finally:
                self._notify()  # a refused Originate has queued the call's end


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
    Asterisk 12.2, ``dialplan`` (VarSet).
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
    return _Connector(AsyncClient(options))
