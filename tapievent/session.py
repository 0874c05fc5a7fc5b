"""The AMI session: login, ActionIDs, and matching responses to actions, sans-IO.

:class:`AMISession` drives one connection's frames through the session's
state machine. It is the public face of four private modules, one job each:

* ``_session_table``: the states, the inputs and the one transition table;
* ``_session_book``: the actions awaiting an answer, by ActionID, and the
  event lists being collected (the matching rules below);
* ``_session_login``: the secret, the Login action and the MD5 key;
* ``_session_events``: the values :meth:`AMISession.next_event` returns.

Theory of operation
===================

Rule 1: everything that decides what the session may do next lives in one
transition table, ``TRANSITIONS`` in ``_session_table``. No other code changes
``AMISession._state``; every public method and every received frame is first
turned into an ``Input`` and looked up there. A missing entry is a protocol
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

from collections import deque
from typing import Final, Literal

from ._errors import LocalProtocolError, RemoteProtocolError
from ._session_book import NOT_LOGGED_IN, ActionBook, Kind, Pending
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
from ._session_login import Secret, check_login_values, encode_login, failure_reason, md5_key
from ._session_table import EXPECTED_EOF, Input, SessionState, lookup
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

_S = SessionState
_I = Input

_Secret = Secret
"""The secret's holder, by the name :class:`~tapievent.connection.Connection` imports."""

# Actions that drive this state machine: they go through login()/logoff(),
# never send_action(), so the secret never sits in a caller-visible Action.
_SESSION_ACTIONS: Final = frozenset({"login", "challenge", "logoff"})


class AMISession:
    """One AMI connection's protocol logic, driven by the caller's I/O.

    Feed it what the socket received (``receive_data``/``receive_eof``, or
    already decoded frames through ``handle_frame``), take what it wants
    written with ``data_to_send()``, and read what happened with
    ``next_event()`` until it returns ``NEED_DATA``. See ``docs/session.md``.
    """

    __slots__ = (
        "_auth",
        "_book",
        "_decoder",
        "_eof_pending",
        "_eof_seen",
        "_events",
        "_events_mask",
        "_max_list_events",
        "_outbox",
        "_secret",
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
        check_login_values(username, secret, events, action_id_prefix)
        if max_list_events < 0:
            raise ValueError("max_list_events must be >= 0")
        self._username = username
        self._secret = _Secret(secret)
        self._auth: Literal["md5", "plain"] = auth
        self._events_mask = events
        self._max_list_events = max_list_events
        self._decoder = decoder if decoder is not None else AMIDecoder()
        self._state = SessionState.AWAIT_BANNER
        self.banner: Banner | None = None
        self._outbox = bytearray()
        self._events: deque[SessionEvent] = deque()
        self._book = ActionBook(action_id_prefix)
        self._eof_seen = False
        self._eof_pending = False

    def __repr__(self) -> str:
        return (
            f"<AMISession username={self._username!r} auth={self._auth!r} "
            f"state={self._state.name} pending={len(self._book)}>"
        )

    # -- read-only views -------------------------------------------------

    @property
    def state(self) -> SessionState:
        """The current state; only the transition table changes it."""
        return self._state

    @property
    def pending(self) -> tuple[str, ...]:
        """ActionIDs of the caller's actions without a result yet, in send order."""
        return self._book.pending

    # -- the table -------------------------------------------------------

    def _lookup(self, inp: Input) -> SessionState:
        return lookup(self._state, inp)

    def _apply(self, inp: Input) -> None:
        self._state = lookup(self._state, inp)

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
            explicit_login = None if action_id is None else self._book.claim(action_id)
            chal_id = self._book.claim(challenge_action_id, avoid=explicit_login)
            if chal_id == explicit_login:
                raise LocalProtocolError(f"ActionID {chal_id!r} given for both Challenge and Login")
            login_id = explicit_login or self._book.new_action_id(avoid=chal_id)
            data = encode_action("Challenge", [("AuthType", "MD5")], action_id=chal_id)
            self._book.register(Kind.CHALLENGE, chal_id)
            self._book.login_action_id = login_id
        else:
            new_state = self._lookup(_I.SEND_LOGIN)
            login_id = self._book.claim(action_id)
            data = encode_login(
                self._username, self._events_mask, login_id, ("Secret", self._secret.reveal())
            )
            self._book.register(Kind.LOGIN, login_id)
        self._outbox += data
        self._state = new_state

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
        action_id = self._book.claim(action.action_id)
        data = encode_action(action.name, action.headers, action_id=action_id)
        self._book.register(Kind.CALLER, action_id, action)
        self._outbox += data
        self._state = new_state
        return action_id

    def logoff(self, *, action_id: str | None = None) -> None:
        """Queue ``Action: Logoff``; ``Goodbye`` follows, then the server closes."""
        new_state = self._lookup(_I.SEND_LOGOFF)
        claimed = self._book.claim(action_id)
        data = encode_action("Logoff", (), action_id=claimed)
        self._book.register(Kind.LOGOFF, claimed)
        self._outbox += data
        self._state = new_state

    def cancel(self, action_id: str) -> bool:
        """Stop waiting for ``action_id`` (e.g. the caller's timeout fired).

        A response that arrives later is reported as ``UnmatchedResponse``.
        Cancelling matters for FIFO matching: an action whose answer never
        comes (1.2-1.4.31 ``Events`` with an empty mask) would otherwise be
        the "oldest awaited" forever. Returns whether it was pending.
        """
        return self._book.cancel(action_id)

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
        pending = self._book.collecting(event)
        # OriginateResponse is broadcast to every session with its ActionID
        # (captures 05 callonly): it is never part of a list.
        if pending is None or fold(event.event) == "originateresponse":
            self._events.append(event)
            return
        if ends_list(event):
            self._book.close_list(pending)
            self._finish(pending, complete=event)
        elif len(pending.events) < self._max_list_events:
            pending.events.append(event)
        else:
            pending.dropped += 1

    def _handle_response(self, response: Message) -> None:
        pending = self._book.match(response)
        if pending is None:
            self._apply(_I.RESPONSE)
            if self._state in (_S.AUTHENTICATED, _S.LOGGING_OFF) or (
                fold(response.get("Message")) not in NOT_LOGGED_IN
            ):
                self._events.append(UnmatchedResponse(response))
            else:
                self._events.append(PermissionDenied(response))
            return
        kind = pending.kind
        if kind is Kind.CALLER:
            self._apply(_I.RESPONSE)
            self._book.answered(pending)
            pending.response = response
            if announces_list(response):
                self._book.open_list(pending)
            else:
                self._finish(pending, complete=None)
        elif kind is Kind.CHALLENGE:
            self._handle_challenge(pending, response)
        elif kind is Kind.LOGIN:
            ok = fold(response.response) == "success"
            self._apply(_I.LOGIN_OK if ok else _I.LOGIN_REJECTED)
            self._book.answered(pending)
            if ok:
                self._events.append(LoginSucceeded(response))
            else:
                self._events.append(AuthenticationFailed(failure_reason(response), response))
        else:  # Kind.LOGOFF
            self._apply(_I.LOGOFF_ANSWERED)
            self._book.answered(pending)
            self._events.append(Goodbye(response))

    def _handle_challenge(self, pending: Pending, response: Message) -> None:
        challenge = response.get("Challenge")
        ok = fold(response.response) == "success" and bool(challenge)
        new_state = self._lookup(_I.CHALLENGE_OK if ok else _I.CHALLENGE_REJECTED)
        if not ok or challenge is None:
            self._book.answered(pending)
            self._state = new_state
            reason = failure_reason(response) if fold(response.response) != "success" else ""
            self._events.append(
                AuthenticationFailed(reason or "the Challenge response has no challenge", response)
            )
            return
        login_id = self._book.login_action_id
        assert login_id is not None  # set by login() with the Challenge
        key = md5_key(challenge, self._secret)
        data = encode_login(self._username, self._events_mask, login_id, ("Key", key))
        self._book.answered(pending)
        self._book.register(Kind.LOGIN, login_id)
        self._book.login_action_id = None
        self._outbox += data
        self._state = new_state

    def _finish(self, pending: Pending, complete: Message | None) -> None:
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
        expected = self._state in EXPECTED_EOF
        self._apply(_I.EOF)
        unanswered = self.pending
        self._book.clear()
        self._events.append(ConnectionClosed(expected, unanswered))
