"""The TSP bridge process: one AMI connection, any number of TSP shims on loopback.

:class:`Bridge` listens for the native shim (``tapievent.tsp`` loaded by the
Windows Telephony service), speaks :mod:`tapievent.tsp.protocol` to it, and
drives Asterisk through an :class:`AmiPort` -- in production
:class:`ClientPort`, which wraps the asyncio transport and its tracker; in
tests anything with the same methods. Requests from a shim run as their own
tasks, so a slow Originate never delays a lineDrop.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
from collections.abc import AsyncIterator
from typing import Protocol

import attrs

from .._errors import ProtocolError, TransportError
from ..model import Diagnostic, LineDevState, LineDevStateFlag, OutputEvent
from ..tracker import CallHandle, TrackedCall
from .mapper import ShimSession
from .protocol import (
    LINEERR_CALLUNAVAIL,
    LINEERR_INVALADDRESS,
    LINEERR_INVALCALLHANDLE,
    LINEERR_INVALLINEHANDLE,
    LINEERR_OPERATIONFAILED,
    BlindTransfer,
    BridgeProtocolError,
    CloseCall,
    Drop,
    FrameDecoder,
    FrameLimits,
    GenerateDigits,
    Hello,
    MakeCall,
    Request,
    encode_frame,
    message,
    parse_request,
    reply,
)

__all__ = ["AmiPort", "Bridge", "ClientPort", "DialSettings", "dialable"]

logger = logging.getLogger(__name__)

_DIALABLE = re.compile(r"[0-9*#+]")


def dialable(address: str) -> str:
    """The digits Asterisk should dial for a TAPI dialable address.

    TAPI hands over what the user typed or what Outlook stored (``+1 (555)
    123-4567``, ``T0123`` with a tone prefix, ``|`` subaddresses); keep
    ``0-9 * # +`` of the part before any ``|``, ``^`` or ``!`` and drop the rest.
    """
    address = re.split(r"[|^!]", address, maxsplit=1)[0]
    return "".join(_DIALABLE.findall(address))


@attrs.frozen(slots=True)
class DialSettings:
    """Where calls made and transferred through the TSP go in Asterisk.

    ``channel`` is the Originate channel for a line, with ``{line}`` replaced
    by the line name (AstTapi lines are device names such as ``PJSIP/bob``,
    so the default is the line itself). ``context`` receives the dialled
    number; ``transfer_context`` the blind-transfer target.
    """

    context: str = "from-internal"
    channel: str = "{line}"
    caller_id: str | None = None
    transfer_context: str | None = None
    timeout_ms: int | None = None

    def channel_for(self, line: str) -> str:
        return self.channel.replace("{line}", line)


class AmiPort(Protocol):
    """What the bridge needs from an AMI client (see :class:`ClientPort`)."""

    @property
    def in_service(self) -> bool: ...

    def events(self) -> AsyncIterator[OutputEvent]: ...

    def live_calls(self) -> tuple[TrackedCall, ...]: ...

    def action_id_of(self, call_key: str) -> str | None: ...

    def call_key_of(self, handle: CallHandle) -> str | None: ...

    async def make_call(self, line: str, destination: str, dial: DialSettings) -> CallHandle: ...

    async def hangup(self, call: str | CallHandle) -> None: ...

    async def redirect(self, call: str | CallHandle, *, context: str, exten: str) -> None: ...

    async def send_digit(self, call: str | CallHandle, digit: str) -> None: ...


class ClientPort:
    """:class:`AmiPort` over :class:`tapievent.transports.aio.AsyncClient`.

    Errors of the client (refused action, lost connection, timeout) propagate
    as its exceptions; the bridge turns each into a LINEERR_ result.
    """

    def __init__(self, client: object) -> None:
        from ..transports.aio import AsyncClient

        if not isinstance(client, AsyncClient):
            raise TypeError("ClientPort needs a tapievent.transports.aio.AsyncClient")
        self.client = client

    @property
    def in_service(self) -> bool:
        return self.client.connected

    def events(self) -> AsyncIterator[OutputEvent]:
        return self.client.events()

    def live_calls(self) -> tuple[TrackedCall, ...]:
        return self.client.tracker.snapshot()

    def action_id_of(self, call_key: str) -> str | None:
        return self.client.tracker.action_id_of(call_key)

    def call_key_of(self, handle: CallHandle) -> str | None:
        return self.client.tracker.call_key_of(handle)

    async def make_call(self, line: str, destination: str, dial: DialSettings) -> CallHandle:
        return await self.client.make_call(
            line,
            destination,
            context=dial.context,
            channel=dial.channel_for(line),
            caller_id=dial.caller_id,
            timeout_ms=dial.timeout_ms,
        )

    async def hangup(self, call: str | CallHandle) -> None:
        await self._check(self.client.tracker.hangup(call), "Hangup")

    async def redirect(self, call: str | CallHandle, *, context: str, exten: str) -> None:
        action = self.client.tracker.redirect(call, context=context, exten=exten)
        await self._check(action, "Redirect")

    async def send_digit(self, call: str | CallHandle, digit: str) -> None:
        await self._check(self.client.tracker.send_digits(call, digit), "PlayDTMF")

    async def _check(self, action: object, name: str) -> None:
        from ..ami_codec import Action
        from ..transports._common import check_result

        assert isinstance(action, Action)
        check_result(await self.client.send_action(action), name)


class _ShimConnection:
    """One shim connection: its decoder, its call mapping and its writer."""

    def __init__(self, writer: asyncio.StreamWriter, peer: str) -> None:
        self.writer = writer
        self.peer = peer
        self.session: ShimSession | None = None  # created by the hello
        self.tasks: set[asyncio.Task[None]] = set()

    def send(self, messages: list[dict[str, object]]) -> None:
        if self.writer.is_closing():
            return
        for msg in messages:
            self.writer.write(encode_frame(msg))


class Bridge:
    """Serves TSP shims over loopback TCP and maps their requests to an :class:`AmiPort`.

    Start it with :meth:`start` (listening) and :meth:`run` (pumping AMI
    events; returns when the port's event stream ends); :meth:`close` stops
    both. ``port`` 0 picks a free port (see :attr:`port`).
    """

    def __init__(
        self,
        ami: AmiPort,
        *,
        dial: DialSettings | None = None,
        host: str = "127.0.0.1",
        port: int = 5070,
        limits: FrameLimits | None = None,
        link_token: str | None = None,
    ) -> None:
        self.ami = ami
        self.link_token = link_token  # when set, a hello must carry it (docs/tsp.md)
        self.dial = dial or DialSettings()
        self.host = host
        self._port = port
        self.limits = limits or FrameLimits()
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[_ShimConnection] = set()

    @property
    def port(self) -> int:
        """The TCP port actually listened on."""
        if self._server is None or not self._server.sockets:
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        """Start listening for shims."""
        self._server = await asyncio.start_server(self._serve, self.host, self._port)
        logger.info("TSP bridge listening on %s:%d", self.host, self.port)

    async def run(self) -> None:
        """Forward AMI events to every connected shim until the event stream ends."""
        async for event in self.ami.events():
            if isinstance(event, Diagnostic):
                logger.info("diagnostic %s: %s", event.code, event.message)
                continue
            if isinstance(event, LineDevState):
                state = "in service" if event.state == LineDevStateFlag.INSERVICE else "down"
                logger.warning("AMI connection %s", state)
            for conn in list(self._connections):
                if conn.session is not None:
                    conn.send(conn.session.on_event(event, self.ami.action_id_of))

    async def close(self) -> None:
        """Stop listening and close every shim connection."""
        if self._server is not None:
            self._server.close()
        for conn in list(self._connections):
            for task in conn.tasks:
                task.cancel()
            conn.writer.close()
        if self._server is not None:
            await self._server.wait_closed()

    # ------------------------------------------------------------------ per connection

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = str(writer.get_extra_info("peername"))
        conn = _ShimConnection(writer, peer)
        self._connections.add(conn)
        decoder = FrameDecoder(self.limits)
        logger.info("TSP shim connected from %s", peer)
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                decoder.receive_data(data)
                while (raw := decoder.next_message()) is not None:
                    try:
                        request = parse_request(raw, self.limits)
                    except BridgeProtocolError as exc:
                        # One bad message is reported, not fatal: framing is intact.
                        logger.warning("bad message from TSP shim %s: %s", peer, exc)
                        conn.send([message("error", message=str(exc))])
                        continue
                    self._dispatch(conn, request)
                await writer.drain()
        except BridgeProtocolError as exc:
            logger.warning("TSP shim %s broke the framing, disconnecting: %s", peer, exc)
        except (ConnectionError, OSError) as exc:
            logger.info("TSP shim %s: %s", peer, exc)
        finally:
            self._connections.discard(conn)
            for task in conn.tasks:
                task.cancel()
            writer.close()
            logger.info("TSP shim %s disconnected", peer)

    def _dispatch(self, conn: _ShimConnection, request: Request) -> None:
        if isinstance(request, Hello):
            if self.link_token is not None and not hmac.compare_digest(
                (request.token or "").encode(), self.link_token.encode()
            ):
                logger.warning("TSP shim %s refused: wrong or missing link token", conn.peer)
                conn.send([message("error", message="hello refused: wrong or missing link token")])
                conn.writer.close()
                return
            conn.session = ShimSession(request.lines)
            logger.info("TSP shim %s (%s) serves %s", conn.peer, request.shim, request.lines)
            conn.send([message("welcome", in_service=self.ami.in_service)])
            conn.send(conn.session.announce(self.ami.live_calls()))
            return
        if conn.session is None:
            conn.send([message("error", message="hello expected first")])
            return
        if isinstance(request, CloseCall):
            conn.session.forget(request.call)
            return
        task = asyncio.ensure_future(self._request(conn, conn.session, request))
        conn.tasks.add(task)
        task.add_done_callback(conn.tasks.discard)

    async def _request(
        self,
        conn: _ShimConnection,
        session: ShimSession,
        request: MakeCall | Drop | BlindTransfer | GenerateDigits,
    ) -> None:
        if isinstance(request, MakeCall):
            conn.send(await self._make_call(session, request))
            return
        call = session.call(request.call)
        if call is None:
            conn.send([reply(request.id, LINEERR_INVALCALLHANDLE)])
            return
        try:
            if isinstance(request, Drop):
                await self.ami.hangup(call.ref)
            elif isinstance(request, BlindTransfer):
                exten = dialable(request.destination)
                if not exten:
                    conn.send([reply(request.id, LINEERR_INVALADDRESS)])
                    return
                context = self.dial.transfer_context or self.dial.context
                await self.ami.redirect(call.ref, context=context, exten=exten)
            else:
                for digit in request.digits:
                    await self.ami.send_digit(call.ref, digit)
        except (ProtocolError, TransportError, OSError, asyncio.TimeoutError) as exc:
            logger.warning("%s for call %d failed: %s", type(request).__name__, request.call, exc)
            conn.send([reply(request.id, LINEERR_OPERATIONFAILED)])
            return
        conn.send([reply(request.id, 0)])

    async def _make_call(self, session: ShimSession, request: MakeCall) -> list[dict[str, object]]:
        if request.line not in session.lines:
            return [reply(request.id, LINEERR_INVALLINEHANDLE)]
        number = dialable(request.destination)
        if not number:
            return [reply(request.id, LINEERR_INVALADDRESS)]
        if not self.ami.in_service:
            return [reply(request.id, LINEERR_CALLUNAVAIL)]
        try:
            handle = await self.ami.make_call(request.line, number, self.dial)
        except (ProtocolError, TransportError, OSError, asyncio.TimeoutError) as exc:
            logger.warning("Originate for %s failed: %s", request.line, exc)
            return [reply(request.id, LINEERR_CALLUNAVAIL)]
        call_id, held = session.bind_outbound(
            request.line, handle, self.ami.call_key_of(handle), self.ami.action_id_of
        )
        return [reply(request.id, 0, call=call_id), *held]
