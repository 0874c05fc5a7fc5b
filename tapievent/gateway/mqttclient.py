"""aiomqtt's client, except that a connection lost before the CONNACK fails at once.

aiomqtt 2.5.1 ignores a disconnect that comes before the broker's CONNACK
(its ``_on_disconnect`` returns early), so ``async with Client(...)`` then
waits for a CONNACK that cannot come until its timeout (10 s), and the
gateway's reconnect backoff starts only after that. A broker that accepts a
TCP connection and closes it -- one that is stopping, or a load balancer with
no broker behind it -- cost 10 s per attempt. Here the wait for the CONNACK
fails with :class:`aiomqtt.MqttError` as soon as the connection is gone.

Imported only by the runtime and the consumer (it needs ``aiomqtt``, which
the rest of the package does not).
"""

from __future__ import annotations

from typing import Any

import aiomqtt
import paho.mqtt.client as mqtt
from aiomqtt.exceptions import MqttCodeError
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

__all__ = ["Client"]


class Client(aiomqtt.Client):
    """:class:`aiomqtt.Client` (pinned 2.5.1) with the CONNACK wait ended by a lost connection."""

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
