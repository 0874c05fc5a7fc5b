"""The I/O-free glue both transports share: errors, options, event buffer, dispatch, requests.

The asyncio and the blocking transport differ only in how they wait for a
socket. Everything else -- feeding bytes to the session, routing what comes
out (tracker events to the application, action results to their waiters),
the slow-consumer policy, the backoff arithmetic, what each client method
sends and how its answer is judged, and the text of every error -- lives
here once, so the two cannot drift apart and nothing protocol-related is
written twice.
"""

from __future__ import annotations

import collections
import logging
import ssl as _ssl
import uuid
from collections.abc import Callable, Generator, Iterable, Mapping
from typing import ClassVar, Protocol, TypeVar

import attrs

from .._errors import (
    ActionFailedError,
    ActionTimeoutError,
    AuthenticationError,
    ConnectionLostError,
    ProtocolError,
    RemoteProtocolError,
    TransportError,
)
from ..ami_codec import NEED_DATA, Action, Banner, Message
from ..model import Diagnostic, LineDevState, LineDevStateFlag, OutputEvent
from ..session import (
    ActionResult,
    AMISession,
    AuthenticationFailed,
    ConnectionClosed,
    Goodbye,
    LoginSucceeded,
)
from ..supervisor import ReconnectPolicy
from ..tracker import CallHandle, CallTracker

__all__ = [
    "ActionFailedError",
    "ActionTimeoutError",
    "AuthenticationError",
    "ConnectionLostError",
    "ReconnectPolicy",
    "TransportError",
]

logger = logging.getLogger("tapievent.transports")

DEFAULT_QUEUE_SIZE = 10_000
"""Events kept for a consumer that falls behind; past it the oldest are dropped."""


# --------------------------------------------------------------------------- reconnect


def resolve_policy(reconnect: bool | ReconnectPolicy) -> ReconnectPolicy | None:
    """``True`` -> the default policy, ``False`` -> no reconnect."""
    if reconnect is True:
        return ReconnectPolicy()
    if reconnect is False:
        return None
    return reconnect


# --------------------------------------------------------------------------- options


def _check_auth(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in ("md5", "plain"):
        raise ValueError(f"auth must be 'md5' or 'plain', not {value!r}")


def _lines_tuple(lines: Iterable[str] | None) -> tuple[str, ...] | None:
    return None if lines is None else tuple(lines)


@attrs.frozen(slots=True, kw_only=True)
class ClientOptions:
    """What ``connect()`` was given, checked once, for either transport.

    Both ``connect()`` functions take the same keyword arguments with the same
    defaults (their signatures are the documented API); each builds one of
    these and hands it to its client, so a setting is validated, normalised
    (``lines`` to a tuple, ``reconnect`` to a policy or ``None``) and read in
    one place. The secret stays out of the repr.
    """

    host: str
    port: int
    username: str
    secret: str = attrs.field(repr=False)
    auth: str = attrs.field(validator=_check_auth)
    ssl: _ssl.SSLContext | None
    lines: tuple[str, ...] | None = attrs.field(converter=_lines_tuple)
    reconnect: ReconnectPolicy | None = attrs.field(converter=resolve_policy)
    """``None`` when the client must not reconnect."""
    keepalive_interval: float | None
    keepalive_timeout: float
    queue_size: int
    action_timeout: float
    connect_timeout: float
    events: str
    max_calls: int | None
    random: Callable[[], float]

    @property
    def where(self) -> str:
        """``host:port``, as every message about this connection names it."""
        return f"{self.host}:{self.port}"


# --------------------------------------------------------------------------- event buffer


class EventBuffer:
    """A bounded FIFO of output events with a drop-oldest policy.

    A consumer that falls behind must not make memory grow without bound,
    and must not stall the reader either (Asterisk disconnects a session it
    cannot write to within ``writetimeout``, 100 ms by default). So when the
    buffer is full the *oldest* event is dropped; the next read then returns
    a ``queue-overflow`` :class:`Diagnostic` saying how many were lost before
    the surviving events. The tracker's own state stays exact regardless
    (``snapshot()`` shows the calls as they are).
    """

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("queue_size must be at least 1")
        self._items: collections.deque[OutputEvent] = collections.deque()
        self._maxsize = maxsize
        self._pending_drops = 0
        self.dropped = 0
        """Events dropped since the client was created."""

    def put(self, event: OutputEvent) -> None:
        if len(self._items) >= self._maxsize:
            self._items.popleft()
            self._pending_drops += 1
            self.dropped += 1
        self._items.append(event)

    def get(self) -> OutputEvent | None:
        """The next event, a ``queue-overflow`` diagnostic first if some were dropped."""
        if self._pending_drops:
            n, self._pending_drops = self._pending_drops, 0
            return Diagnostic(
                "queue-overflow",
                f"the consumer fell behind: {n} oldest event(s) dropped "
                f"(queue_size={self._maxsize})",
            )
        if self._items:
            return self._items.popleft()
        return None

    def __len__(self) -> int:
        return len(self._items)


# --------------------------------------------------------------------------- dispatch


@attrs.frozen(slots=True)
class LoginOk:
    """The session logged in."""


@attrs.frozen(slots=True)
class LoginFailed:
    """The server refused the login; ``message`` is its ``Message:`` text."""

    message: str


@attrs.frozen(slots=True)
class Closed:
    """The session ended (Goodbye or the peer closed)."""

    reason: str


Outcome = LoginOk | LoginFailed | Closed


class Waiter(Protocol):
    """Whoever waits for one action's result.

    An ``asyncio.Future`` in the asyncio client, a ``threading.Event``-based
    waiter in the blocking one: :class:`ClientCore` completes or fails it,
    the transport only waits on it.
    """

    def done(self) -> bool: ...

    def set_result(self, result: ActionResult, /) -> None: ...

    def set_exception(self, exception: BaseException, /) -> None: ...


T = TypeVar("T")

Steps = Generator[Action, ActionResult, T]
"""A client request as the actions it needs: it yields each action, is sent
that action's result, and returns what the client method returns (or raises,
e.g. :class:`ActionFailedError`). The transport only sends and waits -- with
``await`` or by blocking -- so what a request sends and how its answers are
judged cannot differ between the two."""


class ClientCore:
    """Session + tracker + event buffer: what a connected client is, minus the socket.

    One ``AMISession`` per TCP connection (a new one after each reconnect),
    one ``CallTracker`` for the client's whole life (so calls survive an
    outage and ``reconcile`` can settle them). Not thread-safe by itself:
    the blocking transport serialises access with a lock, the asyncio one
    runs everything on the loop.
    """

    def __init__(self, options: ClientOptions) -> None:
        self.options = options
        # OriginateResponse is broadcast with its ActionID to every AMI
        # session, and ChannelIds must be unique on the server: one random
        # prefix per client keeps both ours (session and tracker alike).
        prefix = f"tapievent-{uuid.uuid4().hex[:8]}"
        self._action_id_prefix = prefix + "-"
        if options.max_calls is None:
            self.tracker = CallTracker(options.lines, id_prefix=prefix)
        else:
            self.tracker = CallTracker(options.lines, max_calls=options.max_calls, id_prefix=prefix)
        self.buffer = EventBuffer(options.queue_size)
        self.session: AMISession | None = None
        self._pending: dict[str, Waiter] = {}

    def __repr__(self) -> str:
        return f"<ClientCore user={self.options.username!r} auth={self.options.auth!r}>"

    @property
    def username(self) -> str:
        return self.options.username

    @property
    def lines(self) -> tuple[str, ...] | None:
        return self.options.lines

    def start_session(self) -> bytes:
        """A fresh session for a fresh connection; returns the login bytes to send."""
        options = self.options
        self.session = AMISession(
            options.username,
            options.secret,
            auth="md5" if options.auth == "md5" else "plain",
            events=options.events,
            action_id_prefix=self._action_id_prefix,
        )
        self.session.login()
        return self.session.data_to_send()

    def send(self, action: Action, waiter: Waiter) -> tuple[str, bytes]:
        """Queue ``action`` on the session; returns its ActionID and the bytes to send.

        ``waiter`` gets the action's result when it arrives, or a
        :class:`ConnectionLostError` from :meth:`fail_pending`.
        """
        if self.session is None:
            raise ConnectionLostError("not connected")
        action_id = self.session.send_action(action)
        self._pending[action_id] = waiter
        return action_id, self.session.data_to_send()

    def fail_pending(self, reason: str) -> None:
        """Every action still waiting fails with :class:`ConnectionLostError`.

        They are not resent on the next connection: an Originate must not
        dial twice.
        """
        pending, self._pending = self._pending, {}
        for waiter in pending.values():
            if not waiter.done():
                waiter.set_exception(ConnectionLostError(reason))

    def logoff(self) -> bytes:
        """Bytes of a Logoff, or ``b""`` when there is no session to end."""
        if self.session is None:
            return b""
        try:
            self.session.logoff()
        except ProtocolError:
            return b""
        return self.session.data_to_send()

    def receive(self, data: bytes) -> tuple[list[Outcome], bytes]:
        """Feed bytes (``b""`` = EOF); route events to the buffer, results to their waiters.

        Returns what the transport must act on and the bytes the session now
        wants written (the MD5 Login follows its Challenge answer by itself).
        """
        session = self.session
        if session is None:
            return [], b""
        if data:
            session.receive_data(data)
        else:
            session.receive_eof()
        outcomes: list[Outcome] = []
        while True:
            try:
                item = session.next_event()
            except RemoteProtocolError as exc:
                # The decoder resynchronises at the next blank line; one bad
                # frame must not cost the connection, but the operator should see it.
                self.buffer.put(Diagnostic("protocol-error", str(exc)))
                continue
            if item is NEED_DATA:
                break
            if isinstance(item, (Banner, Message)):
                for event in self.tracker.handle(item):
                    self.buffer.put(event)
            elif isinstance(item, LoginSucceeded):
                outcomes.append(LoginOk())
            elif isinstance(item, AuthenticationFailed):
                outcomes.append(LoginFailed(_failure_text(item)))
            elif isinstance(item, ActionResult):
                waiter = self._pending.pop(item.action_id, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(item)
            elif isinstance(item, Goodbye):
                outcomes.append(Closed("logged off"))
            elif isinstance(item, ConnectionClosed):
                outcomes.append(Closed("connection closed by the server"))
                break
            else:
                # PermissionDenied / UnmatchedResponse: nobody waits for them
                # (e.g. the late answer to an action whose timeout fired).
                logger.debug("ignored %s", type(item).__name__)
        return outcomes, session.data_to_send()

    def logged_in(self, outcomes: list[Outcome], eof: bool) -> bool:
        """Whether the login has succeeded, given what :meth:`receive` returned.

        ``False`` means keep reading. A refused login raises
        :class:`AuthenticationError` (naming the user and the server's
        answer, never the secret); a connection that ends first raises
        :class:`ConnectionLostError`.
        """
        for outcome in outcomes:
            if isinstance(outcome, LoginOk):
                return True
            if isinstance(outcome, LoginFailed):
                raise AuthenticationError(
                    f"login to {self.options.where} as {self.username!r} refused: {outcome.message}"
                )
            if isinstance(outcome, Closed):
                eof = True
                break
        if eof:
            raise ConnectionLostError(
                f"{self.options.where} closed the connection before the login completed"
            )
        return False

    def lost(self, reason: str) -> str:
        """The connection is gone: tell the application, TAPI-style; returns the text."""
        text = f"connection to {self.options.where} lost: {reason}"
        self.session = None
        self.buffer.put(Diagnostic("connection-lost", text))
        for line in self._line_targets():
            self.buffer.put(LineDevState(line, LineDevStateFlag.OUTOFSERVICE))
        return text

    def refused_on_reconnect(self, error: AuthenticationError) -> AuthenticationError:
        """Credentials refused on a reconnect: say so; returns the client's fatal error."""
        self.buffer.put(Diagnostic("authentication-failed", str(error)))
        return error

    def gave_up(self, attempts: int) -> ConnectionLostError:
        """The fatal error once the reconnect policy gives up."""
        return ConnectionLostError(
            f"could not reconnect to {self.options.where} after {attempts} attempts"
        )

    def not_connected(self) -> ConnectionLostError:
        """The error of an action asked for while there is no connection."""
        return ConnectionLostError(f"not connected to {self.options.where}")

    def timed_out(self, action_id: str, action: Action, timeout: float) -> ActionTimeoutError:
        """Forget an action nobody waits for any more; returns the error to raise.

        The session drops its record too, so a late answer is ignored
        (``UnmatchedResponse``) instead of kept forever.
        """
        self._pending.pop(action_id, None)
        if self.session is not None:
            self.session.cancel(action_id)
        return ActionTimeoutError(
            f"no response to {action.name} from {self.options.where} within {timeout}s"
        )

    def resynced(self, result: ActionResult) -> None:
        """After a reconnect: settle calls that ended during the outage, then INSERVICE."""
        live = {
            uid
            for ev in result.events
            if (ev.event or "").lower() == "coreshowchannel"
            and (uid := ev.get("Uniqueid")) is not None
        }
        for event in self.tracker.reconcile(live):
            self.buffer.put(event)
        for line in self._line_targets():
            self.buffer.put(LineDevState(line, LineDevStateFlag.INSERVICE))

    def originate_refused(self, handle: CallHandle, result: ActionResult) -> None:
        """Asterisk refused an Originate at once: no OriginateResponse will come.

        The session hands the reply to us as an ``ActionResult`` rather than
        as a frame, so pass the reply itself to the tracker, which ends the
        handle with DISCONNECTED then IDLE and frees its record.
        """
        for event in self.tracker.handle(result.response):
            self.buffer.put(event)

    def _line_targets(self) -> tuple[str | None, ...]:
        # One LINEDEVSTATE per served line, as a TSP reports per device;
        # ``None`` (every line) when the client serves all lines.
        return (None,) if self.lines is None else self.lines

    # ------------------------------------------------------------------ requests
    #
    # What each client method sends and how it judges the answers, written
    # once for both transports as a generator (see ``Steps``). Run them only
    # where the core may be touched (the blocking client holds its lock).

    def make_call(
        self,
        line: str,
        destination: str,
        *,
        context: str,
        channel: str,
        caller_id: str | None,
        timeout_ms: int | None,
        variables: Mapping[str, str] | None,
    ) -> Steps[CallHandle]:
        """Originate (click-to-dial); a refused Originate also ends the handle."""
        handle, action = self.tracker.make_call(
            line,
            destination,
            context=context,
            channel=channel,
            caller_id=caller_id,
            timeout_ms=timeout_ms,
            variables=variables,
        )
        result = yield action
        if not result.ok:
            self.originate_refused(handle, result)
        check_result(result, "Originate")
        return handle

    def hangup(self, call: CallHandle | str) -> Steps[ActionResult]:
        return check_result((yield self.tracker.hangup(call)), "Hangup")

    def redirect(
        self, call: CallHandle | str, *, context: str, exten: str, priority: int
    ) -> Steps[ActionResult]:
        action = self.tracker.redirect(call, context=context, exten=exten, priority=priority)
        return check_result((yield action), "Redirect")

    def send_digits(self, call: CallHandle | str, digits: str) -> Steps[ActionResult]:
        """One PlayDTMF per digit, in order; the first refusal stops the rest."""
        result: ActionResult | None = None
        for action in self.tracker.digit_actions(call, digits):
            result = check_result((yield action), "PlayDTMF")
        assert result is not None
        return result


class ClientBase:
    """What both clients are apart from their I/O: options, core, life-cycle flags.

    Holds the read-only API the two share word for word (``tracker``,
    ``connected``, ``dropped_events``, the repr) and the rule for the end of
    the event stream; the subclasses add sockets, waiting and locking.
    """

    _REPR_NAME: ClassVar[str]

    def __init__(self, options: ClientOptions) -> None:
        self.host = options.host
        self.port = options.port
        self._options = options
        self._core = ClientCore(options)
        self._connected = False
        self._closing = False
        self._finished = False
        self._fatal: BaseException | None = None

    def __repr__(self) -> str:
        state = "connected" if self._connected else ("closed" if self._finished else "offline")
        return f"<{self._REPR_NAME} {self.host}:{self.port} user={self._core.username!r} {state}>"

    @property
    def tracker(self) -> CallTracker:
        """The tracker: read it (e.g. ``snapshot()``), feed it nothing yourself.

        The blocking client shares it with its I/O thread: read it while
        holding ``client.lock``.
        """
        return self._core.tracker

    @property
    def connected(self) -> bool:
        """True while logged in (False during a reconnect and after close)."""
        return self._connected

    @property
    def dropped_events(self) -> int:
        """Events dropped so far because the consumer fell behind."""
        return self._core.buffer.dropped

    def _events_ended(self) -> bool:
        """Whether the event stream is over, once the queue is empty.

        It is over when the client has finished; if it gave up on its own
        (not :meth:`close`), its fatal error is raised instead, after every
        queued event has been delivered.
        """
        if not self._finished:
            return False
        if self._fatal is not None and not self._closing:
            raise self._fatal
        return True


def _failure_text(item: AuthenticationFailed) -> str:
    return item.reason or "Authentication failed"


def check_result(result: ActionResult, what: str) -> ActionResult:
    """Raise :class:`ActionFailedError` unless the action succeeded."""
    if not result.ok:
        text = result.response.get("Message") if result.response is not None else None
        raise ActionFailedError(f"{what} failed: {text or 'error'}", result)
    return result


def coreshowchannels() -> Action:
    """The action whose event list tells which channels are alive after a reconnect."""
    return Action("CoreShowChannels")


def ping() -> Action:
    return Action("Ping")
