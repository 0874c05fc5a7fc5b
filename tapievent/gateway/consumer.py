"""The broker read back as TAPI events: :class:`MqttPort`, for desktops without AMI credentials.

:class:`MqttPort` subscribes to a gateway's topics (``tapievent/v1/<pbx>``)
and offers what ``tapievent.tsp.bridge.AmiPort`` asks for -- events,
live calls, make_call, hangup, redirect, digits -- so the Windows TSP
bridge (and ``tapievent monitor --mqtt``) run with the broker as their
source. Requests travel as MQTT 5 requests with a response topic under
``.../reply/<account>/`` and fresh correlation data; the gateway decides
the dial context and channel, so ``DialSettings`` settings of the bridge are
not used here.

When the gateway goes offline (its status, or its last will) or the
broker connection drops, every line gets ``LineDevState OUTOFSERVICE``;
``INSERVICE`` follows when both are back.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Sequence
from typing import Any

from .._errors import ProtocolError
from ..model import LineDevState, LineDevStateFlag, OutputEvent
from ..tracker import CallHandle, TrackedCall
from .broker import BrokerSettings
from .scheme import (
    SchemeError,
    Topics,
    call_from_payload,
    decode_text,
    event_from_payload,
    handle_from_payload,
)

__all__ = ["GatewayRequestError", "MqttPort"]

logger = logging.getLogger(__name__)

_MAX_KEYS = 4096


class GatewayRequestError(ProtocolError):
    """The gateway refused a request (``error`` is its RequestError code) or did not answer."""

    def __init__(self, error: str, message: str) -> None:
        super().__init__(f"{error}: {message}")
        self.error = error


class MqttPort:
    """A gateway's lines over the broker, with the methods of the bridge's ``AmiPort``.

    ``lines`` None follows every line (a monitor); requests need a line.
    ``account`` names the reply topics (the example ACL lets an account
    read ``reply/<account>/#`` only). Use ``async with`` or
    :meth:`start` / :meth:`close`.
    """

    def __init__(
        self,
        broker: BrokerSettings,
        *,
        pbx: str,
        lines: Sequence[str] | None,
        account: str | None = None,
        request_timeout: float = 30.0,
        queue_size: int = 10000,
        retry_delay: float = 0.5,
    ) -> None:
        self.broker = broker
        self.topics = Topics(pbx)
        self.lines = None if lines is None else tuple(lines)
        self.account = account or broker.username or "anonymous"
        self.request_timeout = request_timeout
        self.retry_delay = retry_delay
        self.dropped = 0
        self._queue: deque[OutputEvent | None] = deque(maxlen=queue_size)
        self._ready = asyncio.Event()
        self._wake = asyncio.Event()
        self._client: Any = None
        self._task: asyncio.Task[None] | None = None
        self._online = False  # the gateway says online and AMI up
        self._connected = False
        self._in_service_said: bool | None = None
        # line -> (call key, state, caller id, action id) of its live calls
        self._line_calls: dict[str, list[tuple[str, Any, Any, Any]]] = {}
        self._actions: OrderedDict[str, str] = OrderedDict()  # call key -> action id
        self._keys: OrderedDict[str, str] = OrderedDict()  # action id -> call key
        self._pending: dict[bytes, asyncio.Future[dict[str, Any]]] = {}
        self._reply_base = f"{self.topics.replies}/{self.account}/{uuid.uuid4().hex[:12]}"

    async def __aenter__(self) -> MqttPort:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self, timeout: float = 10.0) -> None:
        """Connect and subscribe; returns once the first subscription stands."""
        self._task = asyncio.ensure_future(self._run())
        waiter = asyncio.ensure_future(self._ready.wait())
        done, _ = await asyncio.wait(
            {waiter, self._task}, timeout=timeout, return_when="FIRST_COMPLETED"
        )
        if self._task in done:
            waiter.cancel()
            self._task.result()
        if waiter not in done:
            waiter.cancel()
            await self.close()
            raise TimeoutError(f"no broker connection to {self.broker.host}:{self.broker.port}")

    async def close(self) -> None:
        """Stop reading the broker and end :meth:`events` (after what it already queued)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._queue.append(None)
        self._wake.set()

    # ------------------------------------------------------------------ AmiPort

    @property
    def in_service(self) -> bool:
        return self._connected and self._online

    async def events(self) -> AsyncIterator[OutputEvent]:
        """The lines' TAPI events as the gateway published them; ends after :meth:`close`."""
        while True:
            while self._queue:
                event = self._queue.popleft()
                if event is None:
                    return
                yield event
            self._wake.clear()
            await self._wake.wait()

    def live_calls(self) -> tuple[TrackedCall, ...]:
        """The live calls of our lines, from their retained states."""
        merged: dict[str, dict[str, Any]] = {}
        for line, entries in self._line_calls.items():
            for key, state, caller_id, action_id in entries:
                call = merged.setdefault(key, {"lines": [], "states": [], "caller_id": caller_id})
                call["lines"].append(line)
                call["states"].append(state)
                call["action_id"] = action_id
        return tuple(
            call_from_payload({"call_key": key, "origin": "UNKNOWN", "channel": None, **call})
            for key, call in merged.items()
        )

    def action_id_of(self, call_key: str) -> str | None:
        return self._actions.get(call_key)

    def call_key_of(self, handle: CallHandle) -> str | None:
        return self._keys.get(handle.action_id)

    async def make_call(self, line: str, destination: str, dial: object = None) -> CallHandle:
        reply = await self.request(line, "dial", {"destination": destination})
        handle = handle_from_payload(reply["handle"])
        if reply.get("call_key") is not None:
            self._remember(decode_text(reply["call_key"]), handle.action_id)
        return handle

    async def hangup(self, call: str | CallHandle) -> None:
        await self.request(self._line_of(call), "hangup", self._ref(call))

    async def redirect(self, call: str | CallHandle, *, context: str, exten: str) -> None:
        body = {**self._ref(call), "destination": exten}  # the gateway picks the context
        await self.request(self._line_of(call), "transfer", body)

    async def send_digit(self, call: str | CallHandle, digit: str) -> None:
        await self.request(self._line_of(call), "digits", {**self._ref(call), "digits": digit})

    async def send_digits(self, call: str | CallHandle, digits: str) -> None:
        await self.request(self._line_of(call), "digits", {**self._ref(call), "digits": digits})

    async def request(self, line: str, verb: str, body: dict[str, Any]) -> dict[str, Any]:
        """One request; its reply, or :class:`GatewayRequestError`."""
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        if self._client is None or not self._connected:
            raise GatewayRequestError("no-broker", "not connected to the broker")
        correlation = uuid.uuid4().bytes
        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        properties.ResponseTopic = f"{self._reply_base}/{verb}"
        properties.CorrelationData = correlation
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[correlation] = future
        try:
            await self._client.publish(
                self.topics.request(line, verb), json.dumps(body), qos=1, properties=properties
            )
            reply = await asyncio.wait_for(future, self.request_timeout)
        except asyncio.TimeoutError:
            raise GatewayRequestError(
                "timeout", f"no reply to {verb} within {self.request_timeout} s"
            ) from None
        finally:
            self._pending.pop(correlation, None)
        if not reply.get("ok"):
            raise GatewayRequestError(str(reply.get("error")), str(reply.get("message")))
        return reply

    # ------------------------------------------------------------------ internals

    def _ref(self, call: str | CallHandle) -> dict[str, str]:
        return {"action_id": call.action_id} if isinstance(call, CallHandle) else {"call": call}

    def _line_of(self, call: str | CallHandle) -> str:
        if isinstance(call, CallHandle):
            return call.line
        lines = [
            ln for ln, entries in self._line_calls.items() if any(e[0] == call for e in entries)
        ]
        if not lines:
            raise GatewayRequestError("unknown-call", f"no live call {call!r} on our lines")
        return lines[0]

    def _serves(self, line: str | None) -> bool:
        return line is not None and (self.lines is None or line in self.lines)

    def _remember(self, call_key: str, action_id: str) -> None:
        self._actions[call_key] = action_id
        self._keys[action_id] = call_key
        for table in (self._actions, self._keys):
            while len(table) > _MAX_KEYS:
                table.popitem(last=False)

    def _emit(self, event: OutputEvent) -> None:
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
        self._queue.append(event)
        self._wake.set()

    def _say_service(self) -> None:
        now = self.in_service
        if now == self._in_service_said:
            return
        self._in_service_said = now
        flag = LineDevStateFlag.INSERVICE if now else LineDevStateFlag.OUTOFSERVICE
        for line in self.lines or (None,):
            self._emit(LineDevState(line, flag))

    def _filters(self) -> list[str]:
        if self.lines is None:
            lines = [self.topics.all_events]
        else:
            lines = [self.topics.events(line) for line in self.lines]
        if self.lines is None:
            states = [self.topics.all_states]
        else:
            states = [self.topics.state(line) for line in self.lines]
        return [*lines, *states, self.topics.status, f"{self._reply_base}/#"]

    async def _run(self) -> None:
        import aiomqtt

        from .mqttclient import Client

        while True:
            try:
                async with Client(**self.broker.client_options()) as client:
                    self._client = client
                    await self._connection(client)
            except aiomqtt.MqttError as exc:
                logger.warning("broker %s:%d: %s", self.broker.host, self.broker.port, exc)
            finally:
                self._connected = False
                self._client = None
                for future in self._pending.values():
                    if not future.done():
                        future.set_exception(
                            GatewayRequestError("no-broker", "broker connection lost")
                        )
                self._say_service()
            await asyncio.sleep(self.retry_delay)

    async def _connection(self, client: Any) -> None:
        """Read the connection while subscribing; return or raise MqttError when it is lost.

        aiomqtt's ``subscribe`` does not notice a lost connection (it waits
        for the SUBACK until its 10 s timeout); reading ``client.messages``
        fails at once, so a broker lost while subscribing is retried at once.
        """
        reading = asyncio.ensure_future(self._read(client))
        subscribing = asyncio.ensure_future(self._subscribe(client))
        try:
            await asyncio.wait({reading, subscribing}, return_when=asyncio.FIRST_COMPLETED)
            if reading.done():
                reading.result()  # lost while subscribing: raises MqttError
            subscribing.result()  # subscribed, or why not
            self._connected = True
            self._ready.set()
            self._say_service()  # a status read while subscribing was not said
            await reading
        finally:
            for task in (reading, subscribing):
                task.cancel()
            await asyncio.gather(reading, subscribing, return_exceptions=True)

    async def _subscribe(self, client: Any) -> None:
        for topic in self._filters():
            await client.subscribe(topic, qos=1)

    async def _read(self, client: Any) -> None:
        async for message in client.messages:
            raw = message.payload if isinstance(message.payload, bytes) else b""
            self._on_message(str(message.topic), raw, message.properties)

    def _on_message(self, topic: str, raw: bytes, properties: Any) -> None:
        try:
            payload = json.loads(raw) if raw else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            logger.warning("not JSON on %s: ignored", topic)
            return
        try:
            if topic.startswith(self._reply_base + "/"):
                future = self._pending.get(getattr(properties, "CorrelationData", b"") or b"")
                if future is not None and not future.done() and isinstance(payload, dict):
                    future.set_result(payload)
            elif topic == self.topics.status:
                online = isinstance(payload, dict) and payload.get("status") == "online"
                self._online = online and payload.get("ami") == "up"  # type: ignore[union-attr]
                if self._connected:
                    self._say_service()
            elif topic.endswith("/state"):
                self._on_state(topic, payload)
            elif isinstance(payload, dict):
                self._on_event(payload)
        except (SchemeError, KeyError, TypeError) as exc:
            logger.warning("unreadable message on %s: %s", topic, exc)

    def _on_state(self, topic: str, payload: Any) -> None:
        """A line's retained state: its live calls (the only view the example ACL grants)."""
        line, _ = self.topics.parse_line_topic(topic)
        if not self._serves(line):
            return
        entries = [] if not isinstance(payload, dict) else payload.get("calls") or []
        self._line_calls[line] = [
            (
                decode_text(entry["call_key"]),
                entry.get("state"),
                entry.get("caller_id"),
                entry.get("action_id"),
            )
            for entry in entries
        ]
        for key, _, _, action_id in self._line_calls[line]:
            if action_id is not None:
                self._remember(key, decode_text(action_id))

    def _on_event(self, payload: dict[str, Any]) -> None:
        event = event_from_payload(payload)
        if isinstance(event, LineDevState):
            return  # said from the status, once per change (see _say_service)
        if payload.get("action_id") is not None and payload.get("call_key") is not None:
            self._remember(decode_text(payload["call_key"]), decode_text(payload["action_id"]))
        self._emit(event)
