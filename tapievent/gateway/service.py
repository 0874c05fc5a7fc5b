"""Requests over the broker, carried out on the gateway's AMI connection.

A request is a message on ``.../line/<line>/request/<verb>`` with an MQTT 5
``ResponseTopic`` (under ``tapievent/v1/<pbx>/reply/``) and
``CorrelationData``; the reply goes to that topic with the same
correlation data. The correlation data (or the payload's ``id``) is the
request id: a second delivery of the same id -- QoS 1 redelivers after a
lost PUBACK -- gets the first answer again and never dials twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from .._errors import ProtocolError
from ..tracker import CallHandle
from .requests import RecentRequests, Request, RequestRefused, parse_request, reply_payload
from .scheme import RequestError, SchemeError, encode_text, handle_payload

if TYPE_CHECKING:
    from .runtime import Gateway

__all__ = ["RequestService"]

logger = logging.getLogger(__name__)

_MAX_HANDLES = 1024


class RequestService:
    """Reads one broker connection's messages; requests run as their own tasks."""

    def __init__(self, gateway: Gateway, recent: int = 1024) -> None:
        self.gateway = gateway
        self.recent: RecentRequests[asyncio.Future[dict[str, Any] | RequestRefused]] = (
            RecentRequests(recent)
        )
        self.duplicates = 0
        self.performed = 0
        self._handles: OrderedDict[str, CallHandle] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()

    async def serve(self, client: Any) -> None:
        """Handle the messages of ``client`` until it disconnects (MqttError)."""
        async for message in client.messages:
            topic = str(message.topic)
            payload = message.payload if isinstance(message.payload, bytes) else b""
            if topic.endswith("/state"):
                if message.retain:
                    self.gateway.on_retained_state(topic, payload)
                continue
            task = asyncio.ensure_future(self._request(client, topic, payload, message.properties))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Requests keep running across broker reconnects; nothing to cancel here."""

    async def _request(self, client: Any, topic: str, body: bytes, properties: Any) -> None:
        response_topic = getattr(properties, "ResponseTopic", None)
        correlation = getattr(properties, "CorrelationData", None)
        request: Request | None = None
        try:
            line, rest = self.gateway.topics.parse_line_topic(topic)
            if line not in self.gateway.lines:
                raise RequestRefused(
                    RequestError.UNKNOWN_LINE,
                    f"line {line!r} is not served by this gateway (it serves "
                    f"{len(self.gateway.lines)} lines)",
                )
            request = parse_request(rest.removeprefix("request/"), line, body, correlation)
            if not self._may_reply_to(response_topic):
                logger.warning("request on %s ignored: no or foreign response topic", topic)
                return
            result = await self._once(request)
        except SchemeError as exc:
            result = RequestRefused(RequestError.BAD_REQUEST, str(exc))
        except RequestRefused as exc:
            result = exc
        if self._may_reply_to(response_topic):
            await self._reply(client, str(response_topic), correlation, request, result)

    def _may_reply_to(self, topic: object) -> bool:
        # Replies only go under .../reply/: the gateway's broker account can
        # then be denied every other topic, and no requester can make it
        # publish on another line's topics.
        prefix = self.gateway.topics.replies + "/"
        return isinstance(topic, str) and topic.startswith(prefix) and "+" not in topic

    async def _reply(
        self,
        client: Any,
        topic: str,
        correlation: bytes | None,
        request: Request | None,
        result: dict[str, Any] | RequestRefused,
    ) -> None:
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        if correlation:
            properties.CorrelationData = correlation
        try:
            await client.publish(
                topic, reply_payload(request, result), qos=1, properties=properties
            )
        except Exception as exc:  # the broker went away: the requester asks again
            logger.warning("reply to %s lost: %s", topic, exc)

    async def _once(self, request: Request) -> dict[str, Any] | RequestRefused:
        """Carry ``request`` out unless its id was seen: then wait for the first answer."""
        if request.request_id is None:
            return await self._perform(request)
        key = (request.line, request.verb, request.request_id)
        known = self.recent.get(key)
        if known is not None:
            self.duplicates += 1
            logger.info("duplicate request %s: answered again, not repeated", key)
            return await asyncio.shield(known)
        future: asyncio.Future[dict[str, Any] | RequestRefused] = (
            asyncio.get_running_loop().create_future()
        )
        self.recent.put(key, future)
        try:
            result = await self._perform(request)
        except BaseException as exc:
            future.set_exception(exc)
            raise
        future.set_result(result)
        return result

    async def _perform(self, request: Request) -> dict[str, Any] | RequestRefused:
        ami = self.gateway.ami
        if not ami.connected:
            return RequestRefused(RequestError.AMI_DOWN, "the gateway is not connected to Asterisk")
        self.performed += 1
        try:
            if request.verb == "dial":
                return await self._dial(request)
            target = self._target(request)
            if request.verb == "hangup":
                await ami.hangup(target)
            elif request.verb == "transfer":
                dial = self.gateway.dial
                context = dial.transfer_context or dial.context
                assert request.destination is not None
                await ami.redirect(target, context=context, exten=request.destination)
            else:
                assert request.digits is not None
                await ami.send_digits(target, request.digits)
        except RequestRefused as exc:
            return exc
        except (ProtocolError, OSError, asyncio.TimeoutError) as exc:
            return RequestRefused(RequestError.ACTION_FAILED, f"{type(exc).__name__}: {exc}")
        return {}

    async def _dial(self, request: Request) -> dict[str, Any]:
        dial = self.gateway.dial
        assert request.destination is not None
        handle: CallHandle = await self.gateway.ami.make_call(
            request.line,
            request.destination,
            context=dial.context,
            channel=dial.channel_for(request.line),
            caller_id=dial.caller_id,
            timeout_ms=dial.timeout_ms,
        )
        self._handles[handle.action_id] = handle
        while len(self._handles) > _MAX_HANDLES:
            self._handles.popitem(last=False)
        key = self.gateway.ami.tracker.call_key_of(handle)
        return {
            "handle": handle_payload(handle),
            "call_key": None if key is None else encode_text(key),
        }

    def _target(self, request: Request) -> str | CallHandle:
        """The call a hangup/transfer/digits names, if it is on the request's line."""
        if request.action_id is not None:
            handle = self._handles.get(request.action_id)
            if handle is None or handle.line != request.line:
                raise RequestRefused(
                    RequestError.UNKNOWN_CALL,
                    f"no call dialled by this gateway from {request.line!r} has that action_id",
                )
            return handle
        for call in self.gateway.ami.tracker.snapshot():
            if call.call_key == request.call and request.line in call.lines:
                return str(call.call_key)
        raise RequestRefused(
            RequestError.UNKNOWN_CALL, f"no live call {request.call!r} on line {request.line!r}"
        )
