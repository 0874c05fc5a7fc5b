"""The I/O-free glue both transports share: options, event buffer, routing, errors.

The protocol lives in :class:`~tapievent.connection.Connection` and the
reconnect decisions in :class:`~tapievent.supervisor.Supervisor`; what the
asyncio and the blocking transport still share beyond those -- routing what
the connection returns (output events to the bounded buffer, action results
to their waiters, login outcomes to the caller), the slow-consumer policy,
how an answer is judged and the text of every error -- lives here once, so
the two cannot drift apart.
"""

from __future__ import annotations

import collections
import logging
import ssl as _ssl
import uuid
from collections.abc import Callable, Iterable
from typing import ClassVar, Protocol

import attrs

from .._diagnostics import DiagnosticCode
from .._errors import (
    ActionFailedError,
    ActionTimeoutError,
    AuthenticationError,
    ConnectionLostError,
    TransportError,
)
from ..ami_codec import NEED_DATA
from ..connection import Connection
from ..model import Diagnostic, OutputEvent
from ..session import ActionResult, AuthenticationFailed, ConnectionClosed, Goodbye, LoginSucceeded
from ..supervisor import ReconnectPolicy, Supervisor
from ..tracker import CallTracker

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
    source: str = ""
    """The PBX's name on every event and record (``monitor --name``)."""
    on_receive: Callable[[bytes], None] | None = None
    """Called with every chunk read from Asterisk, and ``b""`` when a connection ends."""

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
                DiagnosticCode.QUEUE_OVERFLOW,
                f"the consumer fell behind: {n} oldest event(s) dropped "
                f"(queue_size={self._maxsize})",
            )
        if self._items:
            return self._items.popleft()
        return None

    def __len__(self) -> int:
        return len(self._items)


# --------------------------------------------------------------------------- routing


Outcome = LoginSucceeded | AuthenticationFailed | Goodbye | ConnectionClosed
"""What a transport acts on itself, out of everything the connection returns."""


class Waiter(Protocol):
    """Whoever waits for one action's result.

    An ``asyncio.Future`` in the asyncio client, a ``threading.Event``-based
    waiter in the blocking one: :class:`ClientBase` completes or fails it,
    the transport only waits on it.
    """

    def done(self) -> bool: ...

    def set_result(self, result: ActionResult, /) -> None: ...

    def set_exception(self, exception: BaseException, /) -> None: ...


class ClientBase:
    """What both clients are apart from their I/O: a Connection, a Supervisor, a buffer.

    One :class:`~tapievent.connection.Connection` for the client's whole life
    (a fresh session per TCP connection, one tracker, so calls survive an
    outage), one :class:`~tapievent.supervisor.Supervisor` deciding what to
    do next, the bounded event buffer and the waiters of pending actions.
    Not thread-safe by itself: the blocking transport serialises access with
    a lock, the asyncio one runs everything on the loop.
    """

    _REPR_NAME: ClassVar[str]

    def __init__(self, options: ClientOptions) -> None:
        self.host = options.host
        self.port = options.port
        self._options = options
        # OriginateResponse is broadcast with its ActionID to every AMI
        # session, and ChannelIds must be unique on the server: one random
        # prefix per client keeps both ours (session and tracker alike).
        self._connection = Connection(
            options.username,
            options.secret,
            auth="md5" if options.auth == "md5" else "plain",
            events=options.events,
            lines=options.lines,
            max_calls=options.max_calls,
            id_prefix=f"tapievent-{uuid.uuid4().hex[:8]}",
            peer=options.where,
            source=options.source,
        )
        self._supervisor = Supervisor(options.reconnect, where=options.where, random=options.random)
        self._buffer = EventBuffer(options.queue_size)
        self._waiters: dict[str, Waiter] = {}
        self._connected = False
        self._closing = False
        self._finished = False
        self._fatal: BaseException | None = None

    def __repr__(self) -> str:
        state = "connected" if self._connected else ("closed" if self._finished else "offline")
        user = self._options.username
        return f"<{self._REPR_NAME} {self.host}:{self.port} user={user!r} {state}>"

    @property
    def tracker(self) -> CallTracker:
        """The tracker: read it (e.g. ``snapshot()``), feed it nothing yourself.

        The blocking client shares it with its I/O thread: read it while
        holding ``client.lock``.
        """
        return self._connection.tracker

    @property
    def connected(self) -> bool:
        """True while logged in (False during a reconnect and after close)."""
        return self._connected

    @property
    def dropped_events(self) -> int:
        """Events dropped so far because the consumer fell behind."""
        return self._buffer.dropped

    def _events_ended(self) -> bool:
        """Whether the event stream is over, once the queue is empty.

        It is over when the client has finished; if it gave up on its own
        (not ``close()``), its fatal error is raised instead, after every
        queued event has been delivered.
        """
        if not self._finished:
            return False
        if self._fatal is not None and not self._closing:
            raise self._fatal
        return True

    # -- routing what the connection returns --------------------------------

    def _feed(self, data: bytes, time: float | None = None) -> list[Outcome]:
        """Bytes read (``b""`` = EOF) in; route everything that comes out.

        ``time`` is the wall-clock time (``time.time()``) the transport read
        them at: the events they cause carry it.

        Output events go to the buffer, action results to their waiters; the
        login outcomes and the close are returned for the transport to act
        on. The bytes the connection now wants written are left for
        ``_connection.data_to_send()``.
        """
        if self._options.on_receive is not None:
            self._options.on_receive(data)
        connection = self._connection
        if connection.session is None:
            return []
        if data:
            connection.receive_data(data, time=time)
        else:
            connection.receive_eof()
        return self._route()

    def _connection_lost(self, reason: str, time: float | None = None) -> None:
        """Tell the connection its TCP connection is gone; route what it says about it."""
        if self._options.on_receive is not None:
            self._options.on_receive(b"")
        self._connection.connection_lost(reason, time=time)
        self._route()

    def _route(self) -> list[Outcome]:
        """Take every event the connection has ready and send each where it belongs."""
        connection = self._connection
        outcomes: list[Outcome] = []
        while True:
            item = connection.next_event()
            if isinstance(item, ActionResult):
                waiter = self._waiters.pop(item.action_id, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(item)
            elif isinstance(item, (LoginSucceeded, AuthenticationFailed, Goodbye)):
                outcomes.append(item)
            elif isinstance(item, ConnectionClosed):
                outcomes.append(item)
                break
            elif isinstance(item, OutputEvent):
                self._buffer.put(item)
            elif item is NEED_DATA:
                break
            # Anything else (PermissionDenied, UnmatchedResponse: the late
            # answer to an action whose timeout fired) has nobody waiting.
        return outcomes

    def _logged_in(self, outcomes: list[Outcome], eof: bool) -> bool:
        """Whether the login has succeeded, given what :meth:`_feed` returned.

        ``False`` means keep reading. A refused login raises
        :class:`AuthenticationError` (naming the user and the server's
        answer, never the secret); a connection that ends first raises
        :class:`ConnectionLostError`.
        """
        for outcome in outcomes:
            if isinstance(outcome, LoginSucceeded):
                return True
            if isinstance(outcome, AuthenticationFailed):
                raise self._connection.refusal(outcome)
            if isinstance(outcome, (Goodbye, ConnectionClosed)):
                eof = True
                break
        if eof:
            raise ConnectionLostError(
                f"{self._options.where} closed the connection before the login completed"
            )
        return False

    def _register(self, action_id: str, waiter: Waiter) -> None:
        self._waiters[action_id] = waiter

    def _fail_pending(self, reason: str) -> None:
        """Every action still waiting fails with :class:`ConnectionLostError`.

        They are not resent on the next connection: an Originate must not
        dial twice.
        """
        pending, self._waiters = self._waiters, {}
        for waiter in pending.values():
            if not waiter.done():
                waiter.set_exception(ConnectionLostError(reason))

    def _not_connected(self) -> ConnectionLostError:
        """The error of an action asked for while there is no connection."""
        return ConnectionLostError(f"not connected to {self._options.where}")

    def _timed_out(self, action_id: str, what: str, timeout: float) -> ActionTimeoutError:
        """Forget an action nobody waits for any more; returns the error to raise.

        The session drops its record too, so a late answer is ignored
        (``UnmatchedResponse``) instead of kept forever.
        """
        self._waiters.pop(action_id, None)
        self._connection.cancel(action_id)
        return ActionTimeoutError(
            f"no response to {what} from {self._options.where} within {timeout}s"
        )


def outcome_reason(outcomes: list[Outcome]) -> str | None:
    """Why the server ended the connection, if one of ``outcomes`` says so."""
    for outcome in outcomes:
        if isinstance(outcome, Goodbye):
            return "logged off"
        if isinstance(outcome, ConnectionClosed):
            return "connection closed by the server"
    return None


def check_result(result: ActionResult, what: str) -> ActionResult:
    """Raise :class:`ActionFailedError` unless the action succeeded."""
    if not result.ok:
        text = result.response.get("Message") if result.response is not None else None
        raise ActionFailedError(f"{what} failed: {text or 'error'}", result)
    return result
