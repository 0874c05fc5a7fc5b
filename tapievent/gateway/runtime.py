"""The gateway: one AMI connection (the asyncio client) published on an MQTT broker.

Two loops share one :class:`~tapievent.gateway.outbox.Outbox`. The AMI
pump turns each event of the client into a QoS 1 message on its line's
``events`` topic and marks the line's retained ``state`` (and the ``calls``
snapshot) stale. The broker loop connects (and reconnects, with backoff),
re-publishes every retained topic on each connection -- so a restarted
broker or a restarted gateway leaves no stale presence behind -- publishes
the outbox in order and serves requests (:mod:`.service`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from .._diagnostics import DiagnosticCode
from ..model import (
    CallInfo,
    CallRecord,
    CallState,
    Diagnostic,
    LineDevState,
    NewCall,
    OutputEvent,
)
from .board import Board
from .broker import BrokerSettings
from .outbox import Outbox, Publication
from .scheme import SchemeError, Topics, call_payload, encode_text, event_payload

if TYPE_CHECKING:
    from ..transports.aio import AsyncClient

__all__ = ["BrokerRefusedError", "DialSettings", "Gateway"]

logger = logging.getLogger(__name__)

_STATUS, _CALLS, _LINE, _CLEAR = "status", "calls", "line:", "clear:"


# CONNACK reason codes that retrying cannot fix (MQTT 5: bad user name or
# password, not authorized, banned): like a refused AMI login, never retried.
_REFUSED = frozenset({134, 135, 138})


class BrokerRefusedError(Exception):
    """The broker refused the gateway's credentials (never retried)."""


@attrs.frozen(slots=True)
class DialSettings:
    """Where the gateway's dial and transfer requests go in Asterisk.

    The gateway, not the requester, decides the context and the channel
    (``{line}`` is replaced by the line name): a desktop can only dial from
    its own line, into the context the operator chose.
    """

    context: str = "from-internal"
    channel: str = "{line}"
    caller_id: str | None = None
    transfer_context: str | None = None
    timeout_ms: int | None = None

    def channel_for(self, line: str) -> str:
        return self.channel.replace("{line}", line)


class Gateway:
    """Publishes one :class:`~tapievent.transports.aio.AsyncClient` on a broker.

    ``lines`` are the lines served (the client must have been connected
    with the same ``lines``): each gets its ``state`` topic from the start,
    and requests for any other line are refused with ``unknown-line``.
    """

    WINDOW = 64  # queued messages in flight (sent, PUBACK not yet received)
    RETAINED_WINDOW = 16  # and retained topics in flight

    def __init__(
        self,
        ami: AsyncClient,
        broker: BrokerSettings,
        *,
        pbx: str,
        lines: Sequence[str],
        dial: DialSettings | None = None,
        buffer_size: int = 10000,
        retry_delay: float = 0.5,
        max_retry_delay: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        from .service import RequestService

        if not lines:
            raise ValueError("a gateway serves at least one line")
        self.ami = ami
        self.broker = broker
        self.topics = Topics(pbx)
        self.lines = tuple(dict.fromkeys(lines))
        self.dial = dial or DialSettings()
        self.outbox = Outbox(buffer_size)
        self.board = Board()
        self.gateway_id = uuid.uuid4().hex[:12]
        self.retry_delay = retry_delay
        self.max_retry_delay = max_retry_delay
        self.clock = clock
        self.service = RequestService(self)
        self.broker_connections = 0
        self.board.in_service = bool(getattr(ami, "connected", False))
        self._online = True
        self._seq = 0
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._stopping = False
        self._connected_broker = False
        self._mark_all_stale()

    # ------------------------------------------------------------------ public

    @property
    def broker_connected(self) -> bool:
        return self._connected_broker

    async def run(self) -> None:
        """Pump AMI events to the broker until :meth:`close` or the AMI client ends."""
        broker = asyncio.ensure_future(self._broker_loop())
        pump = asyncio.ensure_future(self._pump_ami())
        try:
            await asyncio.wait({broker, pump}, return_when=asyncio.FIRST_COMPLETED)
            if broker.done():
                pump.cancel()
                broker.result()  # an unexpected error of the broker side: raise it
            await pump
        finally:
            pump.cancel()
            await self._finish(broker)

    def close(self) -> None:
        """Ask :meth:`run` to publish the final states, disconnect and return."""
        self._stopping = True
        self._stop.set()
        self._wake.set()

    # ------------------------------------------------------------------ AMI side

    async def _pump_ami(self) -> None:
        stop = asyncio.ensure_future(self._wait_stopping())
        events = self.ami.events().__aiter__()
        nxt: asyncio.Future[OutputEvent] | None = None
        try:
            while True:
                nxt = asyncio.ensure_future(events.__anext__())
                done, _ = await asyncio.wait({nxt, stop}, return_when=asyncio.FIRST_COMPLETED)
                if nxt not in done:
                    return
                try:
                    event = nxt.result()
                except StopAsyncIteration:
                    return
                self.on_event(event)
        finally:
            for task in (stop, nxt):
                if task is not None:
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)

    async def _wait_stopping(self) -> None:
        await self._stop.wait()  # its own event: clearing _wake here could lose a wakeup

    def envelope(self, body: dict[str, Any]) -> bytes:
        """``body`` with the fields every message carries: version, time, source, sequence."""
        self._seq += 1
        out = {
            "v": 1,
            "time": round(self.clock(), 6),
            "seq": self._seq,
            "source": {"pbx": self.topics.pbx, "gateway": self.gateway_id},
        }
        out.update(body)
        return json.dumps(out, ensure_ascii=False).encode("utf-8")

    def on_event(self, event: OutputEvent) -> None:
        """Queue one AMI event and mark what it changes as stale.

        Call records are not part of the MQTT scheme (docs/mqtt.md): the
        events they sum up were published already.
        """
        if isinstance(event, CallRecord):
            return
        body = event_payload(event)
        if isinstance(event, Diagnostic):
            self.outbox.add_event(self.topics.diagnostics, self.envelope(body))
            self._wake.set()
            return
        action_id = None
        if isinstance(event, LineDevState):
            targets = self.lines if event.line is None else (event.line,)
            self.outbox.mark_stale(_STATUS)
        else:
            assert isinstance(event, (NewCall, CallState, CallInfo))
            action_id = self.ami.tracker.action_id_of(event.call_key)
            if action_id is not None:
                body["action_id"] = encode_text(action_id)
            targets = (event.line,)
        self.board.apply(event, action_id)
        self.outbox.mark_stale(_CALLS)
        for line in targets:
            if line in self.lines:
                self.outbox.add_event(self.topics.events(line), self.envelope(body))
                topic, payload = self.retained(_LINE + line)
                self.outbox.add_event(topic, payload, retain_key=_LINE + line)
        self._wake.set()

    @property
    def ami_up(self) -> bool:
        return self.board.in_service

    def _mark_all_stale(self) -> None:
        self.outbox.restart([_STATUS, _CALLS, *(_LINE + line for line in self.lines)])

    # ------------------------------------------------------------------ retained topics

    def retained(self, key: str) -> tuple[str, bytes]:
        """The topic and current payload of a stale retained key."""
        if key.startswith(_CLEAR):
            return key[len(_CLEAR) :], b""
        in_service = self.ami_up and self._online
        if key == _STATUS:
            status: dict[str, Any] = {
                "status": "online" if self._online else "offline",
                "ami": "up" if self.ami_up else "down",
                "lines": [encode_text(line) for line in self.lines],
                "dropped": self.outbox.dropped,
            }
            return self.topics.status, self.envelope(status)
        calls = self.board.calls() if in_service else ()
        if key == _CALLS:
            return self.topics.calls, self.envelope({"calls": [call_payload(c) for c in calls]})
        line = key[len(_LINE) :]
        presence = self.board.presence(line, online=self._online)
        on_line = [
            {
                "call_key": encode_text(c.call_key),
                "state": call_payload(c)["states"][c.lines.index(line)],
                "caller_id": call_payload(c)["caller_id"],
                "action_id": call_payload(c)["action_id"],
            }
            for c in calls
            if line in c.lines
        ]
        body: dict[str, Any] = {"line": encode_text(line), "state": str(presence)}
        body["calls"] = on_line
        return self.topics.state(line), self.envelope(body)

    def on_retained_state(self, topic: str, payload: bytes) -> None:
        """A retained ``state`` the broker holds: clear it if no line of ours owns it.

        After a restart with fewer lines (or a renamed PBX line) the old
        presence would otherwise stay on the broker for ever.
        """
        if not payload:
            return
        try:
            line, _ = self.topics.parse_line_topic(topic)
        except SchemeError:
            line = None
        if line not in self.lines:
            logger.info("clearing the retained state %s of a line not served", topic)
            self.outbox.mark_stale(_CLEAR + topic)
            self._wake.set()

    # ------------------------------------------------------------------ broker side

    def _will(self) -> Any:
        import aiomqtt

        body = {"v": 1, "status": "offline", "source": {"pbx": self.topics.pbx}}
        return aiomqtt.Will(self.topics.status, json.dumps(body).encode(), qos=1, retain=True)

    async def _broker_loop(self) -> None:
        import aiomqtt
        from aiomqtt.exceptions import MqttConnectError

        from .mqttclient import Client

        delay = self.retry_delay
        while True:
            try:
                async with Client(
                    **self.broker.client_options(),
                    identifier=f"tapievent-gateway-{self.gateway_id}",
                    will=self._will(),
                ) as client:
                    # aiomqtt warns above 10 pending publishes; the windows are expected.
                    client.pending_calls_threshold = self.WINDOW + self.RETAINED_WINDOW + 1
                    delay = self.retry_delay
                    await self._session(client)
                    return
            except MqttConnectError as exc:
                code = getattr(exc.rc, "value", exc.rc)
                if code in _REFUSED:
                    raise BrokerRefusedError(
                        f"the broker {self.broker.host}:{self.broker.port} refused the login "
                        f"of {self.broker.username!r}: {exc}"
                    ) from None
                logger.warning("broker %s:%d: %s", self.broker.host, self.broker.port, exc)
            except aiomqtt.MqttError as exc:
                self._connected_broker = False
                if self._stopping:
                    return
                logger.warning("broker %s:%d: %s", self.broker.host, self.broker.port, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_retry_delay)

    async def _session(self, client: Any) -> None:
        """One broker connection: re-publish everything, subscribe, publish and serve.

        The three run at once, and the first to end (a lost connection, or
        the goodbye of :meth:`_finish` published) ends the connection; the
        subscribing one may end first, having subscribed. aiomqtt's
        ``subscribe`` does not notice a lost connection: it waits for its
        SUBACK until the client's timeout (10 s). Reading ``client.messages``
        (the serving task) fails at once instead, so a broker that stops
        while the gateway subscribes (the broker-down tests hit that about
        one run in fifteen) is reconnected to at once, not 10 s after the
        SUBSCRIBE with nothing published meanwhile.
        """
        self._connected_broker = True
        self.broker_connections += 1
        self._mark_all_stale()
        self._report_dropped()
        logger.info("connected to broker %s:%d", self.broker.host, self.broker.port)
        subscribing = asyncio.ensure_future(self._subscribe(client))
        tasks = [
            asyncio.ensure_future(self._publish(client)),
            asyncio.ensure_future(self.service.serve(client)),
            subscribing,
        ]
        running = set(tasks)
        try:
            while True:
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                if done != {subscribing} or subscribing.exception() is not None:
                    break
                running.discard(subscribing)  # subscribed: publishing and serving go on
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.service.drain()
        for task in done:
            task.result()  # a lost broker raises MqttError here: reconnect

    async def _subscribe(self, client: Any) -> None:
        """The requests for any line, and the retained states (see :meth:`on_retained_state`)."""
        from paho.mqtt.subscribeoptions import SubscribeOptions

        options = SubscribeOptions(qos=1, noLocal=True)
        await client.subscribe(self.topics.all_requests, options=options)
        await client.subscribe(self.topics.all_states, options=options)

    def _report_dropped(self) -> None:
        dropped = self.outbox.take_dropped()
        if dropped:
            code = DiagnosticCode.GATEWAY_BUFFER_OVERFLOW
            text = f"{dropped} events dropped while the broker was unreachable (oldest first)"
            logger.warning("%s: %s", code, text)
            body = event_payload(Diagnostic(code, text))
            body["dropped"] = dropped
            self.outbox.add_event(self.topics.diagnostics, self.envelope(body))

    async def _publish(self, client: Any) -> None:
        """Publish stale retained topics and the outbox in order, ``WINDOW`` events in flight.

        A message leaves the outbox only when its PUBACK came, oldest first;
        on a lost connection everything not acknowledged is sent again on the
        next one (at least once, in order).
        """
        inflight: deque[tuple[Publication, asyncio.Future[None]]] = deque()
        retained: set[asyncio.Future[None]] = set()
        sent = 0  # the seq of the newest message handed to the client
        try:
            while True:
                key = self.outbox.take_stale() if len(retained) < self.RETAINED_WINDOW else None
                if key is not None:
                    self._send_retained(client, key, retained)
                    continue
                while len(inflight) < self.WINDOW:
                    nxt = self.outbox.next_after(sent)
                    if nxt is None:
                        break
                    retain = nxt.retain_key is not None
                    future = asyncio.ensure_future(
                        client.publish(nxt.topic, nxt.payload, qos=1, retain=retain)
                    )
                    inflight.append((nxt, future))
                    sent = nxt.seq
                if inflight:
                    publication, future = inflight[0]
                    if not future.done():
                        # Wait for the oldest PUBACK or for new messages to send,
                        # whichever comes first: a new event never waits for a PUBACK.
                        self._wake.clear()
                        waker: asyncio.Future[Any] = asyncio.ensure_future(self._wake.wait())
                        await asyncio.wait({future, waker}, return_when=asyncio.FIRST_COMPLETED)
                        waker.cancel()
                    if future.done():
                        future.result()  # a lost broker raises here
                        inflight.popleft()
                        self.outbox.acknowledge(publication)
                    continue
                if not self._online and self.outbox.idle:  # _finish's goodbye is all out
                    await asyncio.gather(*retained)
                    if self.outbox.idle:
                        return
                    continue
                self._wake.clear()
                await self._wake.wait()
        finally:
            pending = [*retained, *(f for _, f in inflight)]
            for future in pending:
                future.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    def _send_retained(self, client: Any, key: str, retained: set[asyncio.Future[None]]) -> None:
        """Publish one stale retained topic, not awaited.

        A retained topic that fails to get out is published again on the next
        connection (all are, see :meth:`_session`), so nothing waits for its
        PUBACK; ``retained`` holds those in flight (at most RETAINED_WINDOW).
        """
        topic, payload = self.retained(key)
        future = asyncio.ensure_future(client.publish(topic, payload, qos=1, retain=True))
        retained.add(future)
        future.add_done_callback(retained.discard)
        future.add_done_callback(self._retained_done)

    def _retained_done(self, future: asyncio.Future[None]) -> None:
        """Room for one more retained topic; a failure (a lost broker) is taken, not logged
        by asyncio as never retrieved: the lost connection is reported by the session."""
        if not future.cancelled():
            future.exception()
        self._wake.set()

    async def _finish(self, broker: asyncio.Future[None]) -> None:
        """Say goodbye on the broker: every line out of service, status offline."""
        self._stopping = True
        self._stop.set()
        self._online = False
        self._mark_all_stale()
        self._wake.set()
        if self._connected_broker:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(broker), 5.0)
        broker.cancel()
        await asyncio.gather(broker, return_exceptions=True)
