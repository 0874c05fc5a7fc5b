"""The AMI session: login, ActionIDs, and matching responses to actions, sans-IO.

Theory of operation
===================

Rule 1: everything that decides what the session may do next lives in this
module's single transition table, ``_TRANSITIONS``. No other code changes
``AMISession._state``; every public method and every received frame is first
turned into an ``_Input`` and looked up there. A missing entry is a protocol
violation: ``LocalProtocolError`` when the caller asked for it (sending an
action before login), ``RemoteProtocolError`` when Asterisk did (a second
banner, a frame after ``Goodbye``). Either way nothing changed, so the
session stays usable.

The session is one AMI connection, from the banner to the close:

* ``AWAIT_BANNER`` -- nothing received yet. ``login()`` is already allowed:
  Asterisk reads requests only after writing its banner, so sending Login at
  once is safe and saves a round trip.
* ``UNAUTHENTICATED`` -- the banner arrived, no login started.
* ``CHALLENGE_SENT`` (MD5) -- ``Action: Challenge`` is out. Its answer
  carries the challenge string; the session then queues ``Action: Login``
  with ``Key = md5(challenge + secret)`` in lower-case hex (ami-versions.md
  3.7) by itself and moves to ``LOGIN_SENT``.
* ``LOGIN_SENT`` -- ``Action: Login`` is out. ``Response: Success`` means
  ``AUTHENTICATED``; anything else is ``FAILED`` (Asterisk waits about a
  second before ``Message: Authentication failed`` and then closes).
* ``AUTHENTICATED`` -- the caller's actions may be sent.
* ``LOGGING_OFF`` -- ``Action: Logoff`` is out; answers to earlier actions
  and events are still delivered.
* ``CLOSED`` -- the server acknowledged the Logoff or the connection ended.
* ``FAILED`` -- the login was refused. Terminal: one session per connection.

Matching responses (the bookkeeping beside the table)
-----------------------------------------------------
Every action the session writes carries an ActionID, and every ActionID is
remembered in send order until its response arrives. A response is matched:

1. by its ``ActionID`` when it has one that is awaited;
2. when it has no ``ActionID`` at all, to the OLDEST action still awaiting
   its response. Some servers drop the ActionID: ``Ping`` on 1.6.0/1.6.1,
   ``Events`` on 1.6.0-1.8.4 (ami-versions.md 3.4). This is sound because
   one thread per AMI session executes that session's requests one after
   the other and writes each response before reading the next request, so
   responses come back in request order; the oldest unanswered request is
   the one being answered. An event list whose acknowledgement came is no
   longer awaiting a response, and ``Permission denied``/``Authentication
   Required`` never answers our own Challenge or Login, so neither takes an
   ID-less response. ``cancel()`` drops an action that will never be
   answered (1.2-1.4.31 ``Events`` with an empty mask) so it cannot swallow
   a later action's response.

A response whose ActionID is not awaited is reported as ``UnmatchedResponse``
(or ``PermissionDenied`` before login) and completes nothing.

A frame with ``Event:`` is an event even when it carries ``Response:`` and
our ``ActionID:`` (``OriginateResponse``, ami-versions.md 3.4): events never
complete an action. They may belong to an *event list*: when an action's
response announces one (``EventList: start``, the 1.6.0-1.6.2.9 spelling
``Eventlist: start``, or the 1.4 ``Message: ... will follow``), the session
keeps the action open, collects the events carrying its ActionID in order,
and emits the ``ActionResult`` when the list ends (``EventList: Complete``,
or an event whose name ends with ``Complete`` carrying the ActionID).

Secrets: the secret and the MD5 key are only ever written into the outbox.
They are never stored in an ``Action``, a repr, an exception or an event.
"""

from __future__ import annotations

import enum
import hashlib
from collections import deque
from typing import Final, Literal

import attrs

from ._errors import LocalProtocolError, RemoteProtocolError
from ._session_events import (
    ActionResult,
    AuthenticationFailed,
    ConnectionClosed,
    Goodbye,
    LoginSucceeded,
    PermissionDenied,
    SessionEvent,
    UnmatchedResponse,
    announces_list,
    ends_list,
    fold,
)
from .ami_codec import NEED_DATA, Action, AMIDecoder, Banner, Message, _Sentinel, encode_action

__all__ = [
    "AMISession",
    "ActionResult",
    "AuthenticationFailed",
    "ConnectionClosed",
    "Goodbye",
    "LoginSucceeded",
    "PermissionDenied",
    "SessionEvent",
    "SessionState",
    "UnmatchedResponse",
]


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


class _Input(enum.Enum):
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
_I = _Input

# The whole state machine. A pair that is not here is refused.
_TRANSITIONS: Final[dict[tuple[SessionState, _Input], SessionState]] = {
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
_EXPECTED_EOF: Final = frozenset({_S.LOGGING_OFF, _S.CLOSED, _S.FAILED})

_REMOTE_INPUTS: Final = frozenset(
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

# Actions that drive this state machine: they go through login()/logoff(),
# never send_action(), so the secret never sits in a caller-visible Action.
_SESSION_ACTIONS: Final = frozenset({"login", "challenge", "logoff"})

# What Asterisk answers to an action sent before login: 1.6+ and 1.2/1.4.
_NOT_LOGGED_IN: Final = frozenset({"permission denied", "authentication required"})

_FORBIDDEN_CHARS: Final = ("\r", "\n", "\0")


def _encodable(text: str) -> bool:
    """Whether UTF-8 with ``surrogateescape`` can write ``text``, without trying it.

    Surrogates U+DC80-U+DCFF stand for the bytes 0x80-0xFF of a value read
    from a non-UTF-8 source and are written back as those bytes; any other
    surrogate cannot be written at all.
    """
    return not any("\ud800" <= c <= "\udfff" and not "\udc80" <= c <= "\udcff" for c in text)


# --------------------------------------------------------------------------
# Internal bookkeeping
# --------------------------------------------------------------------------


class _Kind(enum.Enum):
    CHALLENGE = "Challenge"
    LOGIN = "Login"
    LOGOFF = "Logoff"
    CALLER = "caller"


@attrs.define(slots=True, repr=False, eq=False)
class _Pending:
    """One action written to the wire and not finished yet.

    ``action`` is ``None`` for the session's own Challenge/Login/Logoff: the
    Login would hold the secret, so it is never kept as a value.
    """

    kind: _Kind
    action_id: str
    seq: int
    action: Action | None = None
    response: Message | None = None
    events: list[Message] = attrs.Factory(list)
    dropped: int = 0


class _Secret:
    """Holds the secret so that no repr, str or vars() dump can show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<secret>"

    __str__ = __repr__


# --------------------------------------------------------------------------
# The session
# --------------------------------------------------------------------------


class AMISession:
    """One AMI connection's protocol logic, driven by the caller's I/O.

    Feed it what the socket received (``receive_data``/``receive_eof``, or
    already decoded frames through ``handle_frame``), take what it wants
    written with ``data_to_send()``, and read what happened with
    ``next_event()`` until it returns ``NEED_DATA``. See ``docs/session.md``.
    """

    __slots__ = (
        "_auth",
        "_awaiting",
        "_counter",
        "_decoder",
        "_eof_pending",
        "_eof_seen",
        "_events",
        "_events_mask",
        "_lists",
        "_login_action_id",
        "_max_list_events",
        "_outbox",
        "_prefix",
        "_secret",
        "_seq",
        "_state",
        "_username",
        "banner",
    )

    def __init__(
        self,
        username: str,
        secret: str,
        *,
        auth: Literal["md5", "plain"] = "md5",
        events: str | None = "on",
        action_id_prefix: str = "tapievent-",
        max_list_events: int = 100_000,
        decoder: AMIDecoder | None = None,
    ) -> None:
        """Prepare a session; nothing is sent until ``login()``.

        ``events`` is the ``Events:`` header of the Login (``on``, ``off``,
        or class names such as ``call,user``); ``None`` leaves the header
        out, which keeps the user's ``read=`` classes. ``action_id_prefix``
        starts every generated ActionID: make it unique per client, because
        Asterisk broadcasts ``OriginateResponse`` with its ActionID to every
        session. ``decoder`` replaces the default ``AMIDecoder()`` (e.g. one
        with other limits).
        """
        if auth not in ("md5", "plain"):
            raise ValueError(f"auth must be 'md5' or 'plain', not {auth!r}")
        _check_login_values(username, secret, events, action_id_prefix)
        if max_list_events < 0:
            raise ValueError("max_list_events must be >= 0")
        self._username = username
        self._secret = _Secret(secret)
        self._auth: Literal["md5", "plain"] = auth
        self._events_mask = events
        self._prefix = action_id_prefix
        self._max_list_events = max_list_events
        self._decoder = decoder if decoder is not None else AMIDecoder()
        self._state = SessionState.AWAIT_BANNER
        self.banner: Banner | None = None
        self._outbox = bytearray()
        self._events: deque[SessionEvent] = deque()
        # ActionID -> pending action awaiting its response, in send order.
        self._awaiting: dict[str, _Pending] = {}
        # ActionID -> caller action whose event list is being collected.
        self._lists: dict[str, _Pending] = {}
        self._counter = 0
        self._seq = 0
        self._login_action_id: str | None = None
        self._eof_seen = False
        self._eof_pending = False

    def __repr__(self) -> str:
        return (
            f"<AMISession username={self._username!r} auth={self._auth!r} "
            f"state={self._state.name} pending={len(self._awaiting) + len(self._lists)}>"
        )

    # -- read-only views -------------------------------------------------

    @property
    def state(self) -> SessionState:
        """The current state; only the transition table changes it."""
        return self._state

    @property
    def pending(self) -> tuple[str, ...]:
        """ActionIDs of the caller's actions without a result yet, in send order."""
        items = [p for p in self._awaiting.values() if p.kind is _Kind.CALLER]
        items += self._lists.values()
        return tuple(p.action_id for p in sorted(items, key=lambda p: p.seq))

    # -- the table -------------------------------------------------------

    def _lookup(self, inp: _Input) -> SessionState:
        try:
            return _TRANSITIONS[(self._state, inp)]
        except KeyError:
            pass
        text = f"{inp.value} is not allowed in state {self._state.name}"
        if inp in _REMOTE_INPUTS:
            raise RemoteProtocolError(f"received {text}")
        raise LocalProtocolError(text)

    def _apply(self, inp: _Input) -> None:
        self._state = self._lookup(inp)

    # -- ActionIDs -------------------------------------------------------

    def _new_action_id(self, avoid: str | None = None) -> str:
        # A plain counter: deterministic, no clock and no randomness in the core.
        while True:
            self._counter += 1
            candidate = f"{self._prefix}{self._counter}"
            if candidate in self._awaiting or candidate in self._lists:
                continue
            if candidate not in (avoid, self._login_action_id):
                return candidate

    def _claim_action_id(self, action_id: str | None, avoid: str | None = None) -> str:
        if action_id is None:
            return self._new_action_id(avoid)
        if action_id == "":
            # Asterisk omits an empty ActionID from the response, which would
            # silently turn exact matching into FIFO matching.
            raise LocalProtocolError("an ActionID must not be empty")
        if any(c in action_id for c in _FORBIDDEN_CHARS):
            raise LocalProtocolError(f"ActionID {action_id!r} contains a CR, LF or NUL character")
        if (
            action_id in self._awaiting
            or action_id in self._lists
            or action_id == self._login_action_id
        ):
            raise LocalProtocolError(f"ActionID {action_id!r} is already pending")
        return action_id

    def _register(self, kind: _Kind, action_id: str, action: Action | None = None) -> None:
        self._seq += 1
        self._awaiting[action_id] = _Pending(kind, action_id, self._seq, action)

    # -- sending ---------------------------------------------------------

    def login(
        self, *, action_id: str | None = None, challenge_action_id: str | None = None
    ) -> None:
        """Queue the login: ``Action: Challenge`` (md5) or ``Action: Login`` (plain).

        With md5 the Login follows by itself once the challenge arrives.
        ``action_id``/``challenge_action_id`` override the generated
        ActionIDs (used to replay captures); normally leave them out.
        """
        if self._auth == "md5":
            new_state = self._lookup(_I.SEND_CHALLENGE)
            # The Challenge goes first, so it takes the first generated ID.
            explicit_login = None if action_id is None else self._claim_action_id(action_id)
            chal_id = self._claim_action_id(challenge_action_id, avoid=explicit_login)
            if chal_id == explicit_login:
                raise LocalProtocolError(f"ActionID {chal_id!r} given for both Challenge and Login")
            login_id = explicit_login or self._new_action_id(avoid=chal_id)
            data = encode_action("Challenge", [("AuthType", "MD5")], action_id=chal_id)
            self._register(_Kind.CHALLENGE, chal_id)
            self._login_action_id = login_id
        else:
            new_state = self._lookup(_I.SEND_LOGIN)
            login_id = self._claim_action_id(action_id)
            data = self._encode_login(login_id, ("Secret", self._secret.reveal()))
            self._register(_Kind.LOGIN, login_id)
        self._outbox += data
        self._state = new_state

    def _encode_login(self, action_id: str, credential: tuple[str, str]) -> bytes:
        headers: list[tuple[str, str]] = []
        if credential[0] == "Key":
            headers.append(("AuthType", "MD5"))
        headers += [("Username", self._username), credential]
        if self._events_mask is not None:
            headers.append(("Events", self._events_mask))
        try:
            return encode_action("Login", headers, action_id=action_id)
        except LocalProtocolError:
            pass
        # Raised outside the except block so the codec's message (which may
        # quote a header value) is not even kept as __context__, and with the
        # locals that hold the credential gone from the traceback's frame.
        del headers, credential
        raise LocalProtocolError(
            "the Login action cannot be encoded (username, events or ActionID invalid)"
        )

    def send_action(self, action: Action) -> str:
        """Queue ``action`` and return its ActionID (generated when ``action.action_id`` is None).

        Its ``ActionResult`` comes from ``next_event`` once the response (and,
        for a list, the whole list) has arrived. Raises ``LocalProtocolError``
        unless the session is ``AUTHENTICATED``, for Login/Challenge/Logoff
        (use ``login()``/``logoff()``), for an ``ActionID`` among the headers,
        an empty or already pending ActionID, and for values the codec refuses.
        """
        new_state = self._lookup(_I.SEND_ACTION)
        if fold(action.name) in _SESSION_ACTIONS:
            raise LocalProtocolError(
                f"send {action.name.strip()!r} with login()/logoff(), not send_action()"
            )
        if action.get("ActionID") is not None:
            raise LocalProtocolError("set Action.action_id instead of an ActionID header")
        action_id = self._claim_action_id(action.action_id)
        data = encode_action(action.name, action.headers, action_id=action_id)
        self._register(_Kind.CALLER, action_id, action)
        self._outbox += data
        self._state = new_state
        return action_id

    def logoff(self, *, action_id: str | None = None) -> None:
        """Queue ``Action: Logoff``; ``Goodbye`` follows, then the server closes."""
        new_state = self._lookup(_I.SEND_LOGOFF)
        claimed = self._claim_action_id(action_id)
        data = encode_action("Logoff", (), action_id=claimed)
        self._register(_Kind.LOGOFF, claimed)
        self._outbox += data
        self._state = new_state

    def cancel(self, action_id: str) -> bool:
        """Stop waiting for ``action_id`` (e.g. the caller's timeout fired).

        A response that arrives later is reported as ``UnmatchedResponse``.
        Cancelling matters for FIFO matching: an action whose answer never
        comes (1.2-1.4.31 ``Events`` with an empty mask) would otherwise be
        the "oldest awaited" forever. Returns whether it was pending.
        """
        pending = self._awaiting.get(action_id)
        if pending is not None and pending.kind is _Kind.CALLER:
            del self._awaiting[action_id]
            return True
        return self._lists.pop(action_id, None) is not None

    def data_to_send(self) -> bytes:
        """Everything queued for the wire since the last call (empties the outbox)."""
        data = bytes(self._outbox)
        self._outbox.clear()
        return data

    # -- receiving -------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Give the session bytes read from the connection (any chunking)."""
        self._decoder.receive_data(data)

    def receive_eof(self) -> None:
        """Tell the session the peer closed; ``ConnectionClosed`` follows the last frame."""
        if self._eof_seen:
            return
        self._eof_seen = True
        self._eof_pending = True
        self._decoder.receive_eof()

    def next_event(self) -> SessionEvent | _Sentinel:
        """The next thing that happened, or ``NEED_DATA``.

        Raises the decoder's ``RemoteProtocolError`` subclasses for a bad
        frame and ``RemoteProtocolError`` for a frame not allowed in the
        current state; either way the offending frame is dropped, the
        session state is unchanged and the next call carries on.
        """
        while not self._events:
            frame = self._decoder.next_frame()
            if frame is NEED_DATA:
                if self._eof_pending:
                    self._eof_pending = False
                    self._handle_eof()
                    continue
                return NEED_DATA
            self.handle_frame(frame)
        return self._events.popleft()

    def handle_frame(self, frame: Banner | Message) -> None:
        """Process one decoded frame; its outcomes are then read with ``next_event``.

        For callers that run their own ``AMIDecoder``. Raises
        ``RemoteProtocolError`` when the frame is not allowed in the current
        state, leaving the session unchanged.
        """
        if isinstance(frame, Banner):
            if self.banner is not None:
                raise RemoteProtocolError(
                    f"received a second banner {frame.text!r} in state {self._state.name}"
                )
            self._apply(_I.BANNER)
            self.banner = frame
            self._events.append(frame)
        elif frame.is_event:
            self._handle_event(frame)
        elif frame.is_response:
            self._handle_response(frame)
        else:
            # Neither Event nor Response (a 1.4.0 stray line, an orphan body
            # fragment): passed on like an event, never matched to an action.
            self._apply(_I.EVENT)
            self._events.append(frame)

    def _handle_event(self, event: Message) -> None:
        self._apply(_I.EVENT)
        # Most events arrive while no event list is being collected: then no
        # ActionID can match one, and the event's is not even looked up.
        lists = self._lists
        action_id = event.action_id if lists else None
        pending = lists.get(action_id) if action_id is not None else None
        # OriginateResponse is broadcast to every session with its ActionID
        # (captures 05 callonly): it is never part of a list.
        if pending is None or fold(event.event) == "originateresponse":
            self._events.append(event)
            return
        if ends_list(event):
            del self._lists[pending.action_id]
            self._finish(pending, complete=event)
        elif len(pending.events) < self._max_list_events:
            pending.events.append(event)
        else:
            pending.dropped += 1

    def _match(self, response: Message) -> _Pending | None:
        action_id = response.action_id
        if action_id is not None:
            return self._awaiting.get(action_id)
        # FIFO fallback: the oldest action still waiting (see the top).
        oldest = next(iter(self._awaiting.values()), None)
        if (
            oldest is not None
            and oldest.kind in (_Kind.CHALLENGE, _Kind.LOGIN)
            and fold(response.get("Message")) in _NOT_LOGGED_IN
        ):
            # "Not logged in" never answers Challenge or Login: it is the
            # reply to a request written behind the session's back.
            return None
        return oldest

    def _handle_response(self, response: Message) -> None:
        pending = self._match(response)
        if pending is None:
            self._apply(_I.RESPONSE)
            if self._state in (_S.AUTHENTICATED, _S.LOGGING_OFF) or (
                fold(response.get("Message")) not in _NOT_LOGGED_IN
            ):
                self._events.append(UnmatchedResponse(response))
            else:
                self._events.append(PermissionDenied(response))
            return
        kind = pending.kind
        if kind is _Kind.CALLER:
            self._apply(_I.RESPONSE)
            del self._awaiting[pending.action_id]
            pending.response = response
            if announces_list(response):
                self._lists[pending.action_id] = pending
            else:
                self._finish(pending, complete=None)
        elif kind is _Kind.CHALLENGE:
            self._handle_challenge(pending, response)
        elif kind is _Kind.LOGIN:
            ok = fold(response.response) == "success"
            self._apply(_I.LOGIN_OK if ok else _I.LOGIN_REJECTED)
            del self._awaiting[pending.action_id]
            if ok:
                self._events.append(LoginSucceeded(response))
            else:
                self._events.append(AuthenticationFailed(_reason(response), response))
        else:  # _Kind.LOGOFF
            self._apply(_I.LOGOFF_ANSWERED)
            del self._awaiting[pending.action_id]
            self._events.append(Goodbye(response))

    def _handle_challenge(self, pending: _Pending, response: Message) -> None:
        challenge = response.get("Challenge")
        ok = fold(response.response) == "success" and bool(challenge)
        new_state = self._lookup(_I.CHALLENGE_OK if ok else _I.CHALLENGE_REJECTED)
        if not ok or challenge is None:
            del self._awaiting[pending.action_id]
            self._state = new_state
            reason = _reason(response) if fold(response.response) != "success" else ""
            self._events.append(
                AuthenticationFailed(reason or "the Challenge response has no challenge", response)
            )
            return
        login_id = self._login_action_id
        assert login_id is not None  # set by login() with the Challenge
        # Asterisk defines the MD5 login this way; it is not our choice of hash.
        digest = hashlib.md5(
            challenge.encode("utf-8", "surrogateescape")
            + self._secret.reveal().encode("utf-8", "surrogateescape"),
            usedforsecurity=False,
        )
        data = self._encode_login(login_id, ("Key", digest.hexdigest()))
        del self._awaiting[pending.action_id]
        self._register(_Kind.LOGIN, login_id)
        self._login_action_id = None
        self._outbox += data
        self._state = new_state

    def _finish(self, pending: _Pending, complete: Message | None) -> None:
        assert pending.action is not None and pending.response is not None
        self._events.append(
            ActionResult(
                pending.action,
                pending.action_id,
                pending.response,
                tuple(pending.events),
                complete,
                pending.dropped,
            )
        )

    def _handle_eof(self) -> None:
        expected = self._state in _EXPECTED_EOF
        self._apply(_I.EOF)
        unanswered = self.pending
        self._awaiting.clear()
        self._lists.clear()
        self._events.append(ConnectionClosed(expected, unanswered))


def _check_login_values(username: str, secret: str, events: str | None, prefix: str) -> None:
    """Refuse, without echoing them, login values that cannot go on the wire.

    Checked when the session is made: the MD5 Login is only encoded once the
    challenge arrives, far from the caller, and the codec's own error could
    quote a value (the secret) in its message.
    """
    # Checked here, without echoing the value, so that the codec's
    # injection check can never put the secret in an exception message.
    if any(c in secret for c in _FORBIDDEN_CHARS):
        raise LocalProtocolError("the AMI secret contains a CR, LF or NUL character")
    # Tested character by character, not by trying to encode: an encoding
    # error would carry the whole secret in its ``.object``. With MD5 the
    # secret is first encoded when the challenge arrives, far from here.
    if not _encodable(secret):
        raise LocalProtocolError(
            "the AMI secret cannot be encoded: it holds a lone surrogate "
            "outside U+DC80-U+DCFF (the escapes of undecodable bytes)"
        )
    if any(c in username for c in _FORBIDDEN_CHARS):
        raise LocalProtocolError("the AMI username contains a CR, LF or NUL character")
    # The Login is encoded only once the challenge arrives (md5), so its
    # other values are checked now rather than inside next_event().
    if events is not None and any(c in events for c in _FORBIDDEN_CHARS):
        raise LocalProtocolError("events contains a CR, LF or NUL character")
    if any(c in prefix for c in _FORBIDDEN_CHARS):
        raise LocalProtocolError("action_id_prefix contains a CR, LF or NUL character")


def _reason(response: Message) -> str:
    return response.get("Message") or response.response or ""
