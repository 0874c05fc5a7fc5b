"""How to reach the MQTT broker: ``mqtt://user@host:port/pbx`` URLs and client options.

Shared by the gateway and the consumers. The password never comes from
the URL (a URL ends up in ``ps`` output, shell history and logs): it is
given separately, from ``TAPIEVENT_MQTT_PASSWORD`` on the command line.
"""

from __future__ import annotations

import socket
import ssl
import urllib.parse
from typing import Any

import attrs

from .scheme import SchemeError, unescape_level

__all__ = ["PASSWORD_ENV", "BrokerSettings", "parse_url"]

PASSWORD_ENV = "TAPIEVENT_MQTT_PASSWORD"  # noqa: S105 - the variable's name, not a secret


@attrs.frozen(slots=True)
class BrokerSettings:
    """One broker endpoint. ``password`` is kept out of ``repr``."""

    host: str
    port: int = 1883
    username: str | None = None
    password: str | None = attrs.field(default=None, repr=False)
    tls: ssl.SSLContext | None = attrs.field(default=None, eq=False)
    keepalive: int = 30

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for :class:`aiomqtt.Client` (MQTT 5)."""
        from aiomqtt import ProtocolVersion

        return {
            "hostname": self.host,
            "port": self.port,
            "username": self.username,
            "password": self.password,
            "tls_context": self.tls,
            "keepalive": self.keepalive,
            "protocol": ProtocolVersion.V5,
            # Events are small and latency matters: without TCP_NODELAY a
            # publish can wait ~40 ms for the peer's delayed ACK (Nagle).
            "socket_options": ((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),),
        }


def parse_url(
    url: str, *, password: str | None = None, cafile: str | None = None
) -> tuple[BrokerSettings, str | None]:
    """``(settings, pbx)`` of ``mqtt[s]://[user@]host[:port][/pbx]``.

    ``mqtts`` is MQTT over TLS (port 8883 unless given), checked against
    ``cafile`` or the system's CAs. ``pbx`` is the last path level (escaped
    as in topics), None when the URL has no path. Raises
    :class:`~tapievent.gateway.scheme.SchemeError` naming what is wrong.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts"):
        raise SchemeError(f"broker URL {url!r}: the scheme must be mqtt:// or mqtts://")
    if parts.password is not None:
        raise SchemeError(f"broker URL: put the password in ${PASSWORD_ENV}, not in the URL")
    if not parts.hostname:
        raise SchemeError(f"broker URL {url!r} names no host")
    try:
        port = parts.port
    except ValueError:
        raise SchemeError(f"broker URL {url!r}: the port is not a number 0-65535") from None
    tls = parts.scheme == "mqtts"
    context = ssl.create_default_context(cafile=cafile) if tls else None
    path = parts.path.strip("/")
    pbx = unescape_level(path) if path else None
    username = urllib.parse.unquote(parts.username) if parts.username else None
    settings = BrokerSettings(
        parts.hostname, port or (8883 if tls else 1883), username, password, context
    )
    return settings, pbx
