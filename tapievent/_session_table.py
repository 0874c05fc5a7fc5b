"""The AMI session's state machine: its states, its inputs and its one table.

Kept apart from :class:`~tapievent.session.AMISession` (which re-exports
:class:`SessionState`) so that the whole machine reads on one page: every
public method and every received frame of the session is first turned into
an :class:`Input` and looked up here with :func:`lookup`; a pair missing
from :data:`TRANSITIONS` is a protocol violation and changes nothing. The
theory of operation is in :mod:`tapievent.session`.
"""

from __future__ import annotations

import enum
from typing import Final

from ._errors import LocalProtocolError, RemoteProtocolError

__all__ = ["EXPECTED_EOF", "TRANSITIONS", "Input", "SessionState", "lookup"]


class SessionState(enum.Enum):
    """Where an AMI session stands; see the module's theory of operation."""

    AWAIT_BANNER = "AWAIT_BANNER"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    CHALLENGE_SENT = "CHALLENGE_SENT"
    LOGIN_SENT = "LOGIN_SENT"
    AUTHENTICATED = "AUTHENTICATED"
    LOGGING_OFF = "LOGGING_OFF"
    CLOSED = "CLOSED"
    FAILED = "FAILED"

    # Members are singletons compared by identity, so the identity hash agrees
    # with equality; it is C-level where Enum's hashes the name in Python, and
    # the transition table hashes a state once per frame received.
    __hash__ = object.__hash__


class Input(enum.Enum):
    """Everything that can move the state machine, named for error messages."""

    # Asked for by the caller.
    SEND_CHALLENGE = "login() (Action: Challenge)"
    SEND_LOGIN = "login() (Action: Login)"
    SEND_ACTION = "send_action()"
    SEND_LOGOFF = "logoff()"
    # Received from Asterisk.
    BANNER = "the banner"
    EVENT = "an event"  # or a block with neither Event nor Response
    RESPONSE = "a response"
    CHALLENGE_OK = "the Challenge response"
    CHALLENGE_REJECTED = "a Challenge error"
    LOGIN_OK = "the Login success"
    LOGIN_REJECTED = "a Login error"
    LOGOFF_ANSWERED = "the Logoff response"
    EOF = "end of stream"

    __hash__ = object.__hash__  # as SessionState's


_S = SessionState
_I = Input

# The whole state machine. A pair that is not here is refused.
TRANSITIONS: Final[dict[tuple[SessionState, Input], SessionState]] = {
    (_S.AWAIT_BANNER, _I.BANNER): _S.UNAUTHENTICATED,
    (_S.AWAIT_BANNER, _I.SEND_CHALLENGE): _S.CHALLENGE_SENT,
    (_S.AWAIT_BANNER, _I.SEND_LOGIN): _S.LOGIN_SENT,
    (_S.AWAIT_BANNER, _I.EOF): _S.CLOSED,
    (_S.UNAUTHENTICATED, _I.SEND_CHALLENGE): _S.CHALLENGE_SENT,
    (_S.UNAUTHENTICATED, _I.SEND_LOGIN): _S.LOGIN_SENT,
    (_S.UNAUTHENTICATED, _I.SEND_LOGOFF): _S.LOGGING_OFF,
    (_S.UNAUTHENTICATED, _I.EVENT): _S.UNAUTHENTICATED,
    (_S.UNAUTHENTICATED, _I.RESPONSE): _S.UNAUTHENTICATED,
    (_S.UNAUTHENTICATED, _I.EOF): _S.CLOSED,
    # login() may come before the banner, so the banner may come after it.
    (_S.CHALLENGE_SENT, _I.BANNER): _S.CHALLENGE_SENT,
    (_S.CHALLENGE_SENT, _I.EVENT): _S.CHALLENGE_SENT,
    (_S.CHALLENGE_SENT, _I.RESPONSE): _S.CHALLENGE_SENT,
    (_S.CHALLENGE_SENT, _I.CHALLENGE_OK): _S.LOGIN_SENT,
    (_S.CHALLENGE_SENT, _I.CHALLENGE_REJECTED): _S.FAILED,
    (_S.CHALLENGE_SENT, _I.EOF): _S.CLOSED,
    (_S.LOGIN_SENT, _I.BANNER): _S.LOGIN_SENT,
    (_S.LOGIN_SENT, _I.EVENT): _S.LOGIN_SENT,
    (_S.LOGIN_SENT, _I.RESPONSE): _S.LOGIN_SENT,
    (_S.LOGIN_SENT, _I.LOGIN_OK): _S.AUTHENTICATED,
    (_S.LOGIN_SENT, _I.LOGIN_REJECTED): _S.FAILED,
    (_S.LOGIN_SENT, _I.EOF): _S.CLOSED,
    (_S.AUTHENTICATED, _I.SEND_ACTION): _S.AUTHENTICATED,
    (_S.AUTHENTICATED, _I.SEND_LOGOFF): _S.LOGGING_OFF,
    (_S.AUTHENTICATED, _I.EVENT): _S.AUTHENTICATED,
    (_S.AUTHENTICATED, _I.RESPONSE): _S.AUTHENTICATED,
    (_S.AUTHENTICATED, _I.EOF): _S.CLOSED,
    (_S.LOGGING_OFF, _I.EVENT): _S.LOGGING_OFF,
    (_S.LOGGING_OFF, _I.RESPONSE): _S.LOGGING_OFF,
    (_S.LOGGING_OFF, _I.LOGOFF_ANSWERED): _S.CLOSED,
    (_S.LOGGING_OFF, _I.EOF): _S.CLOSED,
    # Asterisk closes right after refusing a login; harmless stragglers pass.
    (_S.FAILED, _I.EVENT): _S.FAILED,
    (_S.FAILED, _I.RESPONSE): _S.FAILED,
    (_S.FAILED, _I.EOF): _S.FAILED,
    # After Goodbye only the close itself may arrive.
    (_S.CLOSED, _I.EOF): _S.CLOSED,
}

# States in which the server closing the connection is the normal outcome.
EXPECTED_EOF: Final = frozenset({_S.LOGGING_OFF, _S.CLOSED, _S.FAILED})

REMOTE_INPUTS: Final = frozenset(
    {
        _I.BANNER,
        _I.EVENT,
        _I.RESPONSE,
        _I.CHALLENGE_OK,
        _I.CHALLENGE_REJECTED,
        _I.LOGIN_OK,
        _I.LOGIN_REJECTED,
        _I.LOGOFF_ANSWERED,
        _I.EOF,
    }
)


def lookup(state: SessionState, inp: Input) -> SessionState:
    """The state after ``inp`` in ``state``; raise when the table has no such row.

    ``RemoteProtocolError`` when Asterisk sent what is not allowed,
    ``LocalProtocolError`` when the caller asked for it; the message names
    both the input and the state.
    """
    try:
        return TRANSITIONS[(state, inp)]
    except KeyError:
        pass
    text = f"{inp.value} is not allowed in state {state.name}"
    if inp in REMOTE_INPUTS:
        raise RemoteProtocolError(f"received {text}")
    raise LocalProtocolError(text)
