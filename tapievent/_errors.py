"""The two exception families of tapievent: the protocol, and the connection.

Following h11, protocol errors are split by *who* broke the protocol: the peer
(:class:`RemoteProtocolError`, e.g. an Asterisk frame over a limit) or the
caller of this library (:class:`LocalProtocolError`, e.g. a header value with
a line break that would inject a second AMI action). Callers can then drop a
connection on one and fix their code on the other. The base
:class:`ProtocolError` is only ever caught, never raised itself.

Transport errors are a family of their own, rooted at :class:`TransportError`
and *not* under :class:`ProtocolError`: a lost connection, a refused login or
an action that timed out breaks no protocol, and ``except ProtocolError`` must
not swallow an outage. The sans-IO core never raises them (it has no
connection to lose); the runtimes do, and the reconnect supervisor names the
one a runtime gives up with.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .session import ActionResult

__all__ = [
    "ActionFailedError",
    "ActionTimeoutError",
    "AuthenticationError",
    "ConnectionLostError",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "TransportError",
]


class ProtocolError(Exception):
    """Base of the two protocol errors below; catch it, never raise it."""


class LocalProtocolError(ProtocolError):
    """The caller asked for something the AMI protocol cannot express safely."""


class RemoteProtocolError(ProtocolError):
    """The bytes received from the peer break the AMI protocol or a configured limit."""


class TransportError(Exception):
    """Base of the errors a runtime raises: the connection, not the bytes, failed."""


class AuthenticationError(TransportError):
    """Asterisk refused the login: wrong user, secret or MD5 key.

    Never retried automatically: retrying a wrong secret cannot succeed and
    Asterisk counts failed logins (security events, fail2ban). The message
    names the user and the server's answer, never the secret.
    """


class ConnectionLostError(TransportError):
    """The connection went away (or is being re-established) while an action waited."""


class ActionTimeoutError(TransportError, TimeoutError):
    """No response to an action within its timeout; the connection may be stalled."""


class ActionFailedError(TransportError):
    """Asterisk answered an action with ``Response: Error`` (or the action was refused).

    ``result`` is the full :class:`~tapievent.session.ActionResult`.
    """

    def __init__(self, message: str, result: ActionResult) -> None:
        super().__init__(message)
        self.result = result
