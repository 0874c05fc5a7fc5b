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
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Mapping
from typing import Any

from ..ami_codec import Action
from ..connection import Connection
from ..model import OutputEvent
from ..session import ActionResult
from ..tracker import CallHandle
from ._aio_link import AsyncLink, bounded
from ._common import (
    DEFAULT_QUEUE_SIZE,
    ActionFailedError,
    ActionTimeoutError,
    AuthenticationError,
    ClientOptions,
    ConnectionLostError,
    ReconnectPolicy,
    TransportError,
    check_result,
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


class AsyncClient(AsyncLink):
    """A logged-in AMI connection driving a :class:`~tapievent.tracker.CallTracker`.

    Create it with :func:`connect`. Use it from one event loop only; one task
    should iterate :meth:`events` (a second consumer would steal events
    from the first). Every other method may be awaited from any task of
    that loop, concurrently.
    """

    _REPR_NAME = "AsyncClient"

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
                    await bounded(writer.drain(), 1.0)
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
    source: str = "",
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
    Asterisk 12.2, ``dialplan`` (VarSet). ``source`` names the PBX on every
    event and call record (``""``: unnamed); each event's ``time`` is the
    ``time.time()`` at which its bytes were read, or the server's
    ``Timestamp:`` when it sends one. ``on_receive`` is called with every
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
        source=source,
        on_receive=on_receive,
    )
    return _Connector(AsyncClient(options))
