"""aiomqtt's client, made sound when its connection is lost (before the CONNACK, or mid-write).

aiomqtt 2.5.1 ignores a disconnect that comes before the broker's CONNACK
(its ``_on_disconnect`` returns early), so ``async with Client(...)`` then
waits for a CONNACK that cannot come until its timeout (10 s), and the
gateway's reconnect backoff starts only after that. A broker that accepts a
TCP connection and closes it -- one that is stopping, or a load balancer with
no broker behind it -- cost 10 s per attempt. Here the wait for the CONNACK
fails with :class:`aiomqtt.MqttError` as soon as the connection is gone.

And aiomqtt asks the event loop to watch the socket for writing with
``call_soon_threadsafe``, even from the loop's own thread; when the
connection is lost right after a publish, the socket is closed before that
runs and asyncio logs an "Exception in callback ... Bad file descriptor"
traceback (several per broker restart). Here the watch is skipped when the
socket is no longer the client's.

Imported only by the runtime and the consumer (it needs ``aiomqtt``, which
the rest of the package does not).
"""

from __future__ import annotations

from typing import Any

import aiomqtt
import paho.mqtt.client as mqtt
from aiomqtt.exceptions import MqttCodeError
from aiomqtt.types import PahoSocket
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

__all__ = ["Client"]


class Client(aiomqtt.Client):
    """:class:`aiomqtt.Client` (pinned 2.5.1), sound when a connection is lost (see above)."""

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None = None,
    ) -> None:
        # Connecting: __aenter__ holds the lock and waits for _connected.
        if self._lock.locked() and not self._connected.done():
            lost = MqttCodeError(reason_code, "connection lost before the CONNACK")
            self._connected.set_exception(lost)
            return
        super()._on_disconnect(client, userdata, flags, reason_code, properties)

    def _on_socket_register_write(
        self,
        client: mqtt.Client,
        userdata: Any,
        sock: PahoSocket,
    ) -> None:
        def write() -> None:
            try:
                client.loop_write()
            except Exception as exc:  # a broken pipe, say: the connection is lost
                if not self._disconnected.done():
                    self._disconnected.set_exception(exc)

        def watch() -> None:
            current = client.socket()
            if current is not None and current is sock:  # not closed (nor replaced) meanwhile
                self._loop.add_writer(current.fileno(), write)

        # paho may call this from the executor thread that runs connect().
        self._loop.call_soon_threadsafe(watch)
