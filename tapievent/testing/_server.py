"""``FakeAsterisk``: the PBX model (``_pbx``, ``_manager``) served over loopback AMI, on asyncio.

This module only carries out what the model decides: it accepts TCP (or
TLS) connections, reads actions with ``AMIDecoder``, writes the model's
replies and events with ``encode_message`` (so the project has exactly one
AMI writer), and injects faults on demand: cut a connection mid-frame,
stall, send garbage, restart. The answer to each action is in
``_answers`` (one overridable method per action), the loop that plays a
call script in ``_calls``. What it speaks is listed in ``docs/testing.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl as _ssl
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from .._errors import RemoteProtocolError
from ..ami_codec import NEED_DATA, Message, encode_banner
from . import _manager as manager
from ._answers import ActionAnswers, ClientConnection
from ._calls import FakeCall, drive
from ._pbx import PBX, InboundCall

if TYPE_CHECKING:
    from ._threaded import ThreadedFakeAsterisk

__all__ = ["FakeAsterisk", "FakeCall"]

logger = logging.getLogger("tapievent.testing")


class FakeAsterisk(ActionAnswers):
    """An AMI server on ``127.0.0.1`` that behaves like Asterisk 22 for a TAPI client.

    Use it as ``async with FakeAsterisk() as fake:`` (or ``await fake.start()``
    / ``await fake.stop()``); ``fake.port`` is the ephemeral port it listens
    on. From threaded code use :meth:`start_in_thread`.

    Parameters that shape the behaviour:

    - ``username``/``secret``: the one AMI user accepted (plain or MD5).
    - ``ami_version``: the banner's version, ``"11.0.0"`` like Asterisk 22;
      ``"2.10.0"`` announces 13, ``"1.3"`` 11, ``"1.1"`` 1.6/1.8. Below ``2``
      ``ChannelId`` is ignored on Originate, as before 12.2, and the unique
      ids come from the server; the event shapes stay those of Asterisk 22.
    - ``auth_failure_delay``: seconds before ``Authentication failed`` is
      sent (Asterisk sleeps one second); the connection is closed after it.
    - ``originate_line``: the line the outbound dialplan names in its
      ``LINE_NEWCALL``; ``originate_response_first`` puts OriginateResponse
      before that UserEvent (real servers use either order).
    - ``answer_delay`` / ``call_duration``: timing of scripted calls
      (``call_duration=None`` keeps an answered call up until it is hung up).
    - ``busy_extensions`` / ``no_answer_extensions`` / ``missing_extensions``:
      an Originate to one of these fails busy (Reason 5), rings and fails
      unanswered (Reason 3), or is refused at once (``Response: Error``).
    - ``ssl``: a server ``ssl.SSLContext`` to speak AMI over TLS.
    """

    def __init__(
        self,
        *,
        username: str = "tapi",
        secret: str = "tapisecret",  # noqa: S107 - the captures' test user
        ami_version: str = "11.0.0",
        host: str = "127.0.0.1",
        port: int = 0,
        ssl: _ssl.SSLContext | None = None,
        auth_failure_delay: float = 0.05,
        originate_line: str = "line_1",
        originate_response_first: bool = False,
        answer_delay: float = 0.01,
        call_duration: float | None = 0.05,
        busy_extensions: Iterable[str] = ("busy",),
        missing_extensions: Iterable[str] = (),
        no_answer_extensions: Iterable[str] = ("noanswer",),
    ) -> None:
        self.username = username
        self._secret = secret
        self.ami_version = ami_version
        try:
            self._version = tuple(int(part) for part in ami_version.split("."))
        except ValueError:
            raise ValueError(f"ami_version must look like '11.0.0', not {ami_version!r}") from None
        self.host = host
        self._port = port
        self._ssl = ssl
        self.auth_failure_delay = auth_failure_delay
        self.originate_line = originate_line
        self.originate_response_first = originate_response_first
        self.answer_delay = answer_delay
        self.call_duration = call_duration
        self.busy_extensions = frozenset(busy_extensions)
        self.missing_extensions = frozenset(missing_extensions)
        """Originates to these extensions are refused at once, as Asterisk 11+ does."""
        self.no_answer_extensions = frozenset(no_answer_extensions)
        """Originates to these ring until the Timeout: OriginateResponse Failure, Reason 3."""
        self.stalled = False
        """While True the server reads but answers nothing and sends no events."""
        self.actions: list[Message] = []
        """Every action received, in order, across connections (for assertions)."""
        self.logins = 0
        """Successful logins so far."""
        self.connections = 0
        """Connections accepted so far."""
        self.pbx: PBX[FakeCall] = PBX(self._version)
        """The sans-IO model of the calls and channels this server reports."""
        self._server: asyncio.base_events.Server | None = None
        self._clients: set[ClientConnection] = set()
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def calls(self) -> dict[str, FakeCall]:
        """Live calls by call key."""
        return self.pbx.calls

    def __repr__(self) -> str:
        return f"<FakeAsterisk {self.host}:{self._port} user={self.username!r}>"

    # ------------------------------------------------------------------ lifecycle

    @property
    def port(self) -> int:
        """The TCP port; after the first start it stays the same across restarts."""
        return self._port

    async def start(self) -> None:
        """Listen on ``host:port`` (port 0 picks a free one, kept for restarts)."""
        if self._server is not None:
            return
        self._server = await asyncio.start_server(
            self._serve, self.host, self._port, ssl=self._ssl, reuse_address=True
        )
        self._port = self._server.sockets[0].getsockname()[1]
        logger.debug("FakeAsterisk listening on %s:%d", self.host, self._port)

    async def stop(self) -> None:
        """Close every connection and stop listening; live calls are forgotten."""
        await self._shutdown(mid_frame=False)

    async def kill(self, *, mid_frame: bool = True) -> None:
        """Die like a crashed Asterisk: optionally half an event, then the sockets drop.

        With ``mid_frame`` every client first receives the beginning of an
        event without its end, so its decoder holds a partial frame when the
        connection goes.
        """
        await self._shutdown(mid_frame=mid_frame)

    async def restart(self, *, mid_frame: bool = True, downtime: float = 0.0) -> None:
        """:meth:`kill`, wait ``downtime`` seconds, then :meth:`start` on the same port."""
        await self.kill(mid_frame=mid_frame)
        if downtime:
            await asyncio.sleep(downtime)
        await self.start()

    async def _shutdown(self, *, mid_frame: bool) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for call in list(self.calls.values()):
            if call.task is not None:
                call.task.cancel()
        self.calls.clear()
        partial = manager.half_frame() if mid_frame else b""
        for conn in list(self._clients):
            if partial:
                conn.write(partial)
            conn.closing = True
            transport = conn.writer.transport
            if partial:
                # Let the half frame reach the client before the reset.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.writer.drain(), 1.0)
            transport.abort()
        self._clients.clear()
        handlers = list(self._handlers)
        for task in handlers:
            task.cancel()
        if handlers:
            await asyncio.gather(*handlers, return_exceptions=True)
        if server is not None:
            await server.wait_closed()

    async def __aenter__(self) -> FakeAsterisk:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ fault injection

    def stall(self, stalled: bool = True) -> None:
        """Stop (or resume) answering: actions are read but get no reply, no events flow."""
        self.stalled = stalled

    async def send_garbage(self, data: bytes = b"\x00\xffnot: ami\r\n\xfe\r\n\r\n") -> None:
        """Write raw bytes to every logged-in client."""
        for conn in list(self._clients):
            conn.write(data)
            await conn.writer.drain()

    async def drop_connections(self) -> None:
        """Reset every client connection at once, keep listening (and keep the calls)."""
        for conn in list(self._clients):
            conn.closing = True
            conn.writer.transport.abort()
        self._clients.clear()

    # ------------------------------------------------------------------ connection handling

    def broadcast(self, event: Message) -> None:
        """Send an event to every logged-in client whose event mask takes it."""
        for conn in list(self._clients):
            self._send_event(conn, event)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        conn = ClientConnection(reader, writer)
        self._clients.add(conn)
        self.connections += 1
        try:
            # The banner is a bare line, not a message: no blank line follows it.
            conn.write(encode_banner(self._version))
            while not conn.closing:
                data = await reader.read(65536)
                if data:
                    conn.decoder.receive_data(data)
                else:
                    conn.decoder.receive_eof()
                while not conn.closing:
                    try:
                        frame = conn.decoder.next_frame()
                    except RemoteProtocolError:
                        continue
                    if frame is NEED_DATA:
                        break
                    if isinstance(frame, Message):
                        await self._on_action(conn, frame)
                if not data:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, _ssl.SSLError, OSError):
            pass
        except asyncio.CancelledError:
            # Cancelled by stop()/kill(): this task is the top of the
            # connection, so ending quietly is right (asyncio's server
            # callback on 3.10/3.11 would log a cancelled handler as an error).
            pass
        finally:
            self._clients.discard(conn)
            self._handlers.discard(task)
            if not writer.is_closing():
                writer.close()

    # ------------------------------------------------------------------ scripted calls

    async def inbound_call(
        self,
        lines: Sequence[str] = ("Local/bob", "Local/bobbett"),
        *,
        caller_id: str = '"Alice Caller" <5550100>',
        answer_on: str | None = "Local/bob",
        ring_time: float = 0.01,
        talk_time: float | None = 0.01,
        hold: bool = False,
    ) -> FakeCall:
        """Run an inbound ring-group call like capture ``12-scenario7-ringgroup``.

        The inbound channel raises ``LINE_NEWCALL`` for each of ``lines``,
        ``SET CALLERID`` with the quoted caller id and ``OFFERING``; after
        ``ring_time`` the phone ``answer_on`` answers and its connected hook
        sends ``[~key&answer_on] CONNECTED`` and ``[~key&!answer_on] HANGUP``;
        after ``talk_time`` the call ends with the ``h`` extension's IDLE and
        the Hangup events. ``answer_on=None``: nobody answers, the caller
        gives up after ``ring_time``.

        With ``hold=True`` the coroutine returns as soon as the call is
        ringing (or answered), and the call stays up until :meth:`hangup_call`,
        a Hangup action, or a restart; otherwise it returns when the call is over.
        ``FakeCall.unique_id`` is the key a client tracks.
        """
        call = FakeCall(unique_id="")
        started = asyncio.Event()
        how = InboundCall(tuple(lines), caller_id, answer_on, ring_time, talk_time, hold)
        call.task = asyncio.create_task(
            drive(call, self.pbx.inbound_script(call, how), self.broadcast, started)
        )
        if hold:
            waiter = asyncio.create_task(started.wait())
            await asyncio.wait({waiter, call.task}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
        else:
            await asyncio.shield(call.task)
        if call.task.done() and not call.task.cancelled() and call.task.exception() is not None:
            raise call.task.exception()  # type: ignore[misc]
        return call

    async def hangup_call(self, call: FakeCall) -> None:
        """End a held call as if the caller hung up; returns when its events are sent."""
        call.hangup_requested.set()
        await call.ended.wait()

    # ------------------------------------------------------------------ threads

    @classmethod
    def start_in_thread(cls, **kwargs: Any) -> ThreadedFakeAsterisk:
        """Run a FakeAsterisk on its own event loop in a daemon thread.

        For tests of blocking (threaded) code. The keyword arguments are
        those of :class:`FakeAsterisk`. Stop it with ``handle.stop()`` or use
        the handle as a context manager.
        """
        from ._threaded import ThreadedFakeAsterisk

        return ThreadedFakeAsterisk(kwargs, server_class=cls)
