"""One asyncio client's connection life (private to :mod:`.aio`).

Kept apart from the client so each file has one job: :mod:`.aio` is the
public API (events, actions, calls, close) and :func:`~.aio.connect`; this
module is what happens on the event loop between them -- the supervisor's
steps (wait, open, log in, resync, serve), the read loop, the keepalive
Ping, and one awaited request per action. The policies it carries out are
stated once, in :mod:`.aio`'s docstring.
"""

from __future__ import annotations

import asyncio
import logging
import ssl as _ssl
import time as _time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from .._errors import ProtocolError
from ..ami_codec import Action
from ..connection import Connection
from ..session import ActionResult
from ..supervisor import GiveUp, LogIn, Open, Resync, Serve, Step, Stop, Wait
from ._common import (
    ActionTimeoutError,
    AuthenticationError,
    ClientBase,
    ClientOptions,
    ConnectionLostError,
    TransportError,
    outcome_reason,
)

logger = logging.getLogger("tapievent.transports.aio")

_READ_SIZE = 65536

T = TypeVar("T")


async def bounded(awaitable: Awaitable[T], timeout: float) -> T:
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


class AsyncLink(ClientBase):
    """The asyncio client's connection life: the supervisor's steps and the read loop.

    The base of :class:`~tapievent.transports.aio.AsyncClient`, which adds
    the public API. Everything here runs on the one event loop of the client.
    """

    def __init__(self, options: ClientOptions) -> None:
        super().__init__(options)
        self._writer: asyncio.StreamWriter | None = None
        self._reader: asyncio.StreamReader | None = None
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._runner: asyncio.Task[str] | None = None
        self._dead_reason: str | None = None

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
            self._reader, self._writer = await bounded(
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
                await bounded(self._login(), timeout)
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
            outcomes = self._feed(data, _time.time())
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
                reason = outcome_reason(self._feed(data, _time.time())) or reason
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
        self._connection_lost(reason, _time.time())
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
            result = await bounded(asyncio.shield(future), timeout)
        except asyncio.TimeoutError:
            raise self._timed_out(action_id, what, timeout) from None
        finally:
            self._notify()
        return result
