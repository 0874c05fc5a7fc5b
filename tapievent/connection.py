"""The AMI connection object: bytes in, TAPI events out, sans-IO.

:class:`Connection` is to tapievent what ``h11.Connection`` is to HTTP: the
one object a runtime drives. It owns an :class:`~tapievent.session.AMISession`
(login, ActionIDs, matching answers; the session owns the decoder) for each
TCP connection, and one :class:`~tapievent.tracker.CallTracker` for its whole
life, so calls survive an outage and can be settled after it::

    conn = Connection("tapi", secret, lines=["Local/bob"], id_prefix="tapievent-1a2b")
    conn.login()
    sock.sendall(conn.data_to_send())
    while (data := sock.recv(65536)):
        conn.receive_data(data, time=time.time())
        while (event := conn.next_event()) is not NEED_DATA:
            ...  # NewCall, CallState, Diagnostic, ActionResult, LoginSucceeded ...
        sock.sendall(conn.data_to_send())

What :meth:`Connection.next_event` returns, in wire order:

* the tracker's output events (:mod:`tapievent.model`: ``NewCall``,
  ``CallState``, ``CallInfo``, ``LineDevState``, ``Diagnostic``), each
  line's ``CallRecord`` right after the event that ended the call there;
* the session's outcomes: ``LoginSucceeded``, ``AuthenticationFailed``,
  ``ActionResult`` (the answer to every action sent), ``Goodbye``,
  ``ConnectionClosed``, ``PermissionDenied``, ``UnmatchedResponse``;
* with ``raw_events=True`` also every ``Banner`` and ``Message`` as it
  arrived, just before the tracker events it causes: a CTI program gets the
  AMI stream and the TAPI events from one login.

Rules the runtimes rely on:

* Every ``ActionResult`` reaches the tracker through one door,
  :meth:`~tapievent.tracker.CallTracker.handle_action_result`, before it is
  returned, in every runtime alike (a refused Originate ends its handle
  there).
* A malformed frame costs that frame only: it becomes a ``protocol-error``
  diagnostic and the stream goes on.
* Line service: the first successful login puts the lines in service. When
  a connection is lost (:meth:`Connection.connection_lost`) while in service,
  a ``connection-lost`` diagnostic and ``LineDevState(OUTOFSERVICE)`` per
  line follow. After the next login, :meth:`Connection.resync` asks
  ``CoreShowChannels``: its list lets the tracker end the calls that ended
  meanwhile; a refused or failed list keeps every call and says so
  (``resync-failed``). Either way the lines are then back ``INSERVICE``.

Time and source: every output event and record carries ``time`` and
``source``. The runtime says when the bytes arrived (``receive_data(data,
time=...)``, ``connection_lost(reason, time=...)``); an event gets the time
of the ``receive_data`` call in effect when its frame is decoded, so a
runtime drains :meth:`Connection.next_event` after every read (as the
transports do), and the frame's own ``Timestamp:`` header wins when
Asterisk sends one (``timestampevents=yes``). ``source`` is the name given
to the connection.

No sockets, threads or clocks: timeouts, keepalive and reconnecting are the
runtime's, the latter decided by :class:`~tapievent.supervisor.Supervisor`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from typing import Literal, TypeVar

from ._diagnostics import DiagnosticCode
from ._errors import AuthenticationError, LocalProtocolError, RemoteProtocolError
from ._events import stamped
from .ami_codec import NEED_DATA, Action, Banner, Message, _Sentinel
from .model import Diagnostic, LineDevState, LineDevStateFlag, OutputEvent
from .session import (
    ActionResult,
    AMISession,
    AuthenticationFailed,
    LoginSucceeded,
    SessionEvent,
    SessionState,
    _Secret,
)
from .tracker import CallHandle, CallTracker

__all__ = ["Connection", "ConnectionEvent"]

ConnectionEvent = OutputEvent | SessionEvent
"""Every value :meth:`Connection.next_event` returns besides ``NEED_DATA``."""

_CAN_SEND = frozenset({SessionState.AUTHENTICATED})

_Own = TypeVar("_Own", Diagnostic, LineDevState)


class Connection:
    """One AMI client, sans-IO: a session per TCP connection, one tracker for life.

    ``username``/``secret``/``auth``/``events`` are the login's (see
    :class:`~tapievent.session.AMISession`); ``lines``, ``max_calls`` and
    ``id_prefix`` the tracker's. ``id_prefix`` also starts every ActionID and
    must be unique per client: Asterisk broadcasts ``OriginateResponse`` to
    every session (the transports use a random one; the core draws no random
    numbers). ``peer`` names the server in diagnostics. ``raw_events`` also
    returns every received ``Banner`` and ``Message``. ``source`` names the
    PBX: every event and call record this connection emits carries it.
    """

    def __init__(
        self,
        username: str,
        secret: str,
        *,
        auth: Literal["md5", "plain"] = "md5",
        events: str | None = "on",
        lines: Iterable[str] | None = None,
        max_calls: int | None = None,
        id_prefix: str = "tapievent",
        peer: str = "Asterisk",
        raw_events: bool = False,
        source: str = "",
    ) -> None:
        # A throwaway session checks the credentials now, not at the first login.
        AMISession(username, secret, auth=auth, events=events, action_id_prefix=id_prefix)
        self._username = username
        self._secret = _Secret(secret)
        self._auth: Literal["md5", "plain"] = auth
        self._events_mask = events
        self._id_prefix = id_prefix
        self.peer = peer
        self.raw_events = raw_events
        self.lines: tuple[str, ...] | None = None if lines is None else tuple(lines)
        self.source = source
        if max_calls is None:
            self.tracker = CallTracker(self.lines, id_prefix=id_prefix, source=source)
        else:
            self.tracker = CallTracker(
                self.lines, max_calls=max_calls, id_prefix=id_prefix, source=source
            )
        self._time: float | None = None
        self._session: AMISession | None = None
        self._logins = 0
        self._in_service = False
        self._resync_id: str | None = None
        self._events: deque[ConnectionEvent] = deque()

    def __repr__(self) -> str:
        state = "offline" if self._session is None else self._session.state.name
        return f"<Connection user={self._username!r} {state} in_service={self._in_service}>"

    # ------------------------------------------------------------------ views

    @property
    def session(self) -> AMISession | None:
        """The current TCP connection's session; ``None`` before login() and after a loss."""
        return self._session

    @property
    def can_send(self) -> bool:
        """Whether actions may be sent now (logged in, not logging off)."""
        return self._session is not None and self._session.state in _CAN_SEND

    @property
    def in_service(self) -> bool:
        """Whether the lines are in service: logged in, and resynced after an outage."""
        return self._in_service

    @property
    def resyncing(self) -> bool:
        """Whether a :meth:`resync` is waiting for its answer."""
        return self._resync_id is not None

    # ------------------------------------------------------------------ bytes

    def login(
        self, *, action_id: str | None = None, challenge_action_id: str | None = None
    ) -> None:
        """Start a fresh session on a fresh TCP connection and queue its login.

        Call it once per TCP connection, the old session (if any) gone. The
        ActionIDs are generated; pin them only to replay a capture.
        """
        self._session = AMISession(
            self._username,
            self._secret.reveal(),
            auth=self._auth,
            events=self._events_mask,
            action_id_prefix=self._id_prefix + "-",
        )
        self._resync_id = None
        self._session.login(action_id=action_id, challenge_action_id=challenge_action_id)

    def receive_data(self, data: bytes, time: float | None = None) -> None:
        """Bytes read from the socket, any chunking; ``time`` is when they arrived.

        ``time`` (POSIX seconds, e.g. ``time.time()`` right after the read)
        stamps the events of the frames these bytes complete; None leaves
        them without a time unless the server stamps them (``Timestamp:``).
        """
        self._require_session("receive_data").receive_data(data)
        self._time = time

    def receive_eof(self) -> None:
        """The peer closed; ``ConnectionClosed`` follows the last frame."""
        self._require_session("receive_eof").receive_eof()

    def data_to_send(self) -> bytes:
        """Everything to write now (logins, actions, the MD5 Login after its challenge)."""
        return b"" if self._session is None else self._session.data_to_send()

    def next_event(self) -> ConnectionEvent | _Sentinel:
        """The next event, or ``NEED_DATA`` when the bytes so far are used up."""
        while not self._events:
            session = self._session
            if session is None:
                return NEED_DATA
            try:
                item = session.next_event()
            except RemoteProtocolError as exc:
                # The decoder resynchronises at the next blank line; one bad
                # frame must not cost the connection, but the operator sees it.
                self._events.append(self._own(Diagnostic(DiagnosticCode.PROTOCOL_ERROR, str(exc))))
                continue
            if item is NEED_DATA:
                return NEED_DATA
            assert not isinstance(item, _Sentinel)
            self._dispatch(item)
        return self._events.popleft()

    def _dispatch(self, item: SessionEvent) -> None:
        out = self._events
        if isinstance(item, (Banner, Message)):
            if self.raw_events:
                out.append(item)
            out.extend(self.tracker.handle(item, time=self._time))
            return
        if isinstance(item, ActionResult):
            out.extend(self.tracker.handle_action_result(item, time=self._time))
            if item.action_id == self._resync_id:
                self._resync_id = None
                self._settle(item)
        elif isinstance(item, LoginSucceeded):
            self._logins += 1
            if self._logins == 1:
                self._in_service = True
        elif isinstance(item, AuthenticationFailed) and self._logins:
            text = str(self.refusal(item))
            out.append(self._own(Diagnostic(DiagnosticCode.AUTHENTICATION_FAILED, text)))
        out.append(item)

    # ------------------------------------------------------------------ actions

    def send_action(self, action: Action) -> str:
        """Queue ``action``; returns its ActionID. Its ``ActionResult`` comes from next_event.

        Raises ``LocalProtocolError`` when not logged in or for an action the
        session refuses (see :meth:`AMISession.send_action`).
        """
        return self._require_session("send_action").send_action(action)

    def make_call(
        self,
        line: str,
        destination: str,
        *,
        context: str,
        channel: str,
        caller_id: str | None = None,
        timeout_ms: int | None = None,
        variables: Mapping[str, str] | None = None,
        action_id: str | None = None,
        channel_id: str | None = None,
        other_channel_id: str | None = None,
    ) -> CallHandle:
        """Queue the ``Originate`` of a click-to-dial call; returns its handle.

        Its ActionID is ``handle.action_id``; ``action_id``, ``channel_id`` and
        ``other_channel_id`` pin the generated ids (to replay a capture). Refused at once (nothing
        registered) when actions cannot be sent now or a value cannot go on
        the wire. If Asterisk refuses it, the tracker ends the handle when its
        ``ActionResult`` comes (``originate-refused``, DISCONNECTED, IDLE).
        """
        session = self._require_session("make_call")
        if not self.can_send:
            raise LocalProtocolError(f"make_call is not allowed in state {session.state.name}")
        # The tracker checks every value (it encodes the Originate) before it
        # registers anything; a send the session then refuses is withdrawn, so
        # an Originate that never went out waits for no answer (issue 15 #6).
        handle, action = self.tracker.make_call(
            line,
            destination,
            context=context,
            channel=channel,
            caller_id=caller_id,
            timeout_ms=timeout_ms,
            variables=variables,
            action_id=action_id,
            channel_id=channel_id,
            other_channel_id=other_channel_id,
        )
        try:
            session.send_action(action)
        except LocalProtocolError:
            self.tracker.withdraw(handle)
            raise
        return handle

    def hangup(self, call: CallHandle | str) -> str:
        """Queue the ``Hangup`` of a call (a handle, or any tracked call's key)."""
        return self.send_action(self.tracker.hangup(call))

    def redirect(
        self, call: CallHandle | str, *, context: str, exten: str, priority: int = 1
    ) -> str:
        """Queue the ``Redirect`` (blind transfer) of a call to ``exten@context``."""
        action = self.tracker.redirect(call, context=context, exten=exten, priority=priority)
        return self.send_action(action)

    def send_digits(self, call: CallHandle | str, digits: str) -> tuple[str, ...]:
        """Queue one ``PlayDTMF`` per digit, in order; returns their ActionIDs.

        Every digit is checked before any is queued.
        """
        self._require_session("send_digits")
        return tuple(self.send_action(a) for a in self.tracker.digit_actions(call, digits))

    def resync(self) -> str:
        """After a reconnect: ask ``CoreShowChannels``; returns its ActionID.

        When its answer comes, the tracker reconciles against the listed
        channels (calls that ended meanwhile get a synthesized IDLE and
        ``stale-call``), or -- the list refused or failed -- keeps every call
        and reports ``resync-failed``; then each line is ``INSERVICE``.
        """
        action_id = self.send_action(Action("CoreShowChannels"))
        self._resync_id = action_id
        return action_id

    def cancel(self, action_id: str) -> bool:
        """Stop waiting for an action (the runtime's timeout fired); a late answer is ignored."""
        if action_id == self._resync_id:
            self._resync_id = None
        return self._session is not None and self._session.cancel(action_id)

    def logoff(self) -> None:
        """Queue a Logoff when logged in; does nothing otherwise."""
        if self.can_send:
            assert self._session is not None
            self._session.logoff()

    def connection_lost(self, reason: str, *, time: float | None = None) -> None:
        """The runtime says this TCP connection is gone (closed, reset, stalled).

        The session is dropped (its unanswered actions never complete). When
        the lines were in service, a ``connection-lost`` diagnostic naming
        ``reason`` and ``LineDevState(OUTOFSERVICE)`` per line follow, at
        ``time`` (when the runtime noticed); a connection lost before
        service returned says nothing more.
        """
        self._session = None
        self._resync_id = None
        if not self._in_service:
            return
        self._in_service = False
        self._time = time
        text = f"connection to {self.peer} lost: {reason}"
        self._events.append(self._own(Diagnostic(DiagnosticCode.CONNECTION_LOST, text)))
        self._events.extend(
            self._own(LineDevState(line, LineDevStateFlag.OUTOFSERVICE))
            for line in self._line_targets()
        )

    def refusal(self, event: AuthenticationFailed) -> AuthenticationError:
        """The error a runtime raises for a refused login: names the user, never the secret."""
        reason = event.reason or "Authentication failed"
        return AuthenticationError(f"login to {self.peer} as {self._username!r} refused: {reason}")

    # ------------------------------------------------------------------ internals

    def _settle(self, result: ActionResult) -> None:
        if result.ok:
            live = {
                uid
                for ev in result.events
                if (ev.event or "").lower() == "coreshowchannel"
                and (uid := ev.get("Uniqueid")) is not None
            }
            self._events.extend(self.tracker.reconcile(live, time=self._time))
        else:
            reason = result.response.get("Message") or result.response.response or "error"
            text = (
                f"CoreShowChannels after the reconnect failed ({reason}): "
                f"{self.tracker.call_count} tracked call(s) kept unchecked"
            )
            self._events.append(self._own(Diagnostic(DiagnosticCode.RESYNC_FAILED, text)))
        self._in_service = True
        self._events.extend(
            self._own(LineDevState(line, LineDevStateFlag.INSERVICE))
            for line in self._line_targets()
        )

    def _own(self, event: _Own) -> _Own:
        # The connection's own events: the time in effect and its source.
        return stamped(event, self._time, self.source)

    def _line_targets(self) -> tuple[str | None, ...]:
        # One LINEDEVSTATE per served line, as a TSP reports per device;
        # ``None`` (every line) when the connection serves all lines.
        return (None,) if self.lines is None else self.lines

    def _require_session(self, what: str) -> AMISession:
        if self._session is None:
            raise LocalProtocolError(f"{what}: no session (call login() on a new connection)")
        return self._session
