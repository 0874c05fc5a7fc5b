"""The exception hierarchy shared by every layer of tapievent.

Following h11, errors are split by *who* broke the protocol: the peer
(:class:`RemoteProtocolError`, e.g. an Asterisk frame over a limit) or the
caller of this library (:class:`LocalProtocolError`, e.g. a header value with a
line break that would inject a second AMI action). Callers can then decide to
drop a connection on one and fix their code on the other.
"""

from __future__ import annotations

__all__ = ["LocalProtocolError", "ProtocolError", "RemoteProtocolError"]


class ProtocolError(Exception):
    """Base class of every error tapievent raises on purpose."""


class LocalProtocolError(ProtocolError):
    """The caller asked for something the AMI protocol cannot express safely."""


class RemoteProtocolError(ProtocolError):
    """The bytes received from the peer break the AMI protocol or a configured limit."""
