"""The reconnect supervisor: what a runtime does next, decided without I/O.

Theory of operation
===================

A client's life is a loop of opening a connection, logging in, being in
service and losing it again. The decisions in that loop -- wait how long,
retry or give up, resynchronise or not -- are the same whether the bytes
move through asyncio, a thread or the TSP bridge's service, so they live
here once, as a table. The runtimes only carry out the :class:`Step` the
supervisor returns and report back what happened; none of them holds a
retry counter or a backoff formula of its own.

States (:class:`SupervisorState`):

* ``IDLE`` -- created, not started.
* ``OPENING`` -- open a socket (step :class:`Open`).
* ``LOGGING_IN`` -- the socket is open; log in on it (:class:`LogIn`).
* ``RESYNCING`` -- logged in again after an outage: ask ``CoreShowChannels``
  so the tracker can settle the calls that ended meanwhile (:class:`Resync`).
  The first login skips it: nothing is tracked yet.
* ``IN_SERVICE`` -- pump the connection until it ends (:class:`Serve`).
* ``WAITING`` -- back off before the next attempt (:class:`Wait`).
* ``FAILED`` -- gave up (:class:`GiveUp`): bad credentials (never retried:
  Asterisk counts failed logins), reconnect disabled, the policy's
  ``max_attempts`` spent, or the first connection failed and the runtime
  asked to be told rather than to retry (``retry_first=False``).
* ``CLOSED`` -- the application closed the client (:class:`Stop`).

Rule: only the transition table ``TRANSITIONS`` changes the state. A report
that has no entry for the current state is a bug of the runtime and raises
``LocalProtocolError``. A failure is turned into one of two inputs before
the lookup -- ``RETRY`` or ``GIVE_UP`` -- by the policy, so the table stays
a plain mapping and says every move the supervisor can make.

The full reconnect sequence, written once: lost (the runtime reports
:meth:`Supervisor.failed`) -> ``WAITING`` -> ``OPENING`` -> ``LOGGING_IN`` ->
``RESYNCING`` -> ``IN_SERVICE``. The TAPI side of it (``connection-lost``
and OUTOFSERVICE, the reconcile, INSERVICE) is the
:class:`~tapievent.connection.Connection`'s.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from typing import Final

import attrs

from ._errors import AuthenticationError, ConnectionLostError, LocalProtocolError

_MAX_EXP: Final = 700.0
"""Below this natural-log exponent a float power cannot overflow (e**709 is the edge)."""

__all__ = [
    "TRANSITIONS",
    "GiveUp",
    "LogIn",
    "Open",
    "ReconnectPolicy",
    "Resync",
    "Serve",
    "Step",
    "Stop",
    "Supervisor",
    "SupervisorInput",
    "SupervisorState",
    "Wait",
]


@attrs.frozen(slots=True)
class ReconnectPolicy:
    """Exponential backoff with jitter for re-establishing a lost connection.

    The n-th retry (``attempt`` from 0) waits
    ``min(max_delay, initial_delay * multiplier**attempt)`` scaled by a random
    factor in ``[1 - jitter, 1]``, so a pool of clients that lost the same
    Asterisk does not reconnect in lock-step. ``max_attempts=None`` retries
    forever; authentication failures are never retried. The random source
    is passed in so tests are deterministic.
    """

    initial_delay: float = 0.5
    max_delay: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.5
    max_attempts: int | None = None

    def __attrs_post_init__(self) -> None:
        values = (self.initial_delay, self.max_delay, self.multiplier, self.jitter)
        if not all(math.isfinite(v) for v in values):
            raise ValueError("delays, multiplier and jitter must be finite numbers")
        if self.initial_delay < 0 or self.max_delay < 0 or self.multiplier < 1:
            raise ValueError("delays must be >= 0 and multiplier >= 1")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("jitter must be between 0 and 1")
        if self.max_attempts is not None and self.max_attempts < 0:
            raise ValueError("max_attempts must be >= 0 or None")

    def capped(self, attempt: int) -> float:
        """The delay of retry ``attempt`` before jitter: never above ``max_delay``.

        Decided in log space first, so that no multiplier and no attempt
        number can overflow a float: a power that would pass the cap is
        never computed.
        """
        if self.initial_delay == 0 or self.max_delay <= self.initial_delay:
            return min(self.initial_delay, self.max_delay)
        if self.multiplier == 1:
            return self.initial_delay
        headroom = math.log(self.max_delay) - math.log(self.initial_delay)
        if attempt * math.log(self.multiplier) >= headroom:
            return self.max_delay
        exponent = attempt * math.log(self.multiplier)
        if exponent < _MAX_EXP:
            # The plain power whenever it is representable: exact for the
            # usual doublings (0.5, 1, 2, 4 ...).
            return min(self.max_delay, self.initial_delay * self.multiplier**attempt)
        # Only a subnormal initial_delay gets here; the result is below the cap.
        return min(self.max_delay, math.exp(math.log(self.initial_delay) + exponent))

    def delay(self, attempt: int, random: Callable[[], float]) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        return self.capped(attempt) * (1.0 - self.jitter * random())

    def gives_up(self, attempt: int) -> bool:
        """True when retry number ``attempt`` should not be made."""
        return self.max_attempts is not None and attempt >= self.max_attempts


# --------------------------------------------------------------------------- steps


@attrs.frozen(slots=True)
class Open:
    """Open a socket to the server, then report :meth:`Supervisor.opened` or ``failed``."""


@attrs.frozen(slots=True)
class LogIn:
    """Log in on the open socket (``Connection.login()``), then report the outcome."""


@attrs.frozen(slots=True)
class Resync:
    """Ask which channels survived (``Connection.resync()``), then report ``resynced``."""


@attrs.frozen(slots=True)
class Serve:
    """In service: pump the connection until it ends, then report ``failed``."""


@attrs.frozen(slots=True)
class Wait:
    """Sleep ``seconds`` (cancellable by close), then report :meth:`Supervisor.waited`.

    ``attempt`` counts the retries since the connection was last in service,
    from 1.
    """

    seconds: float
    attempt: int


@attrs.frozen(slots=True)
class GiveUp:
    """Stop for good; ``error`` is what the client's users see raised.

    ``was_in_service`` tells whether the client had ever been in service:
    if not, ``error`` is the first connection's own error (for ``connect()``
    to raise).
    """

    error: BaseException
    was_in_service: bool


@attrs.frozen(slots=True)
class Stop:
    """The application closed the client: tear down, no retry."""


Step = Open | LogIn | Resync | Serve | Wait | GiveUp | Stop
"""What the runtime does next: one of the step classes above, each answered by one report."""


# --------------------------------------------------------------------------- table


class SupervisorState(enum.Enum):
    """Where the supervisor stands; see the module's theory of operation."""

    IDLE = "IDLE"
    OPENING = "OPENING"
    LOGGING_IN = "LOGGING_IN"
    RESYNCING = "RESYNCING"
    IN_SERVICE = "IN_SERVICE"
    WAITING = "WAITING"
    FAILED = "FAILED"
    CLOSED = "CLOSED"


class SupervisorInput(enum.Enum):
    """What moves the supervisor, named for error messages."""

    START = "start()"
    OPENED = "opened()"
    LOGGED_IN_FIRST = "logged_in() (first login)"
    LOGGED_IN_AGAIN = "logged_in() (after an outage)"
    REFUSED = "refused()"
    RESYNCED = "resynced()"
    RETRY = "failed() (the policy retries)"
    GIVE_UP = "failed() (the policy gives up)"
    WAITED = "waited()"
    CLOSE = "close()"


_S = SupervisorState
_I = SupervisorInput

_LIVE: Final = (_S.OPENING, _S.LOGGING_IN, _S.RESYNCING, _S.IN_SERVICE)

TRANSITIONS: Final[dict[tuple[SupervisorState, SupervisorInput], SupervisorState]] = {
    (_S.IDLE, _I.START): _S.OPENING,
    (_S.OPENING, _I.OPENED): _S.LOGGING_IN,
    (_S.LOGGING_IN, _I.LOGGED_IN_FIRST): _S.IN_SERVICE,
    (_S.LOGGING_IN, _I.LOGGED_IN_AGAIN): _S.RESYNCING,
    (_S.LOGGING_IN, _I.REFUSED): _S.FAILED,
    (_S.RESYNCING, _I.RESYNCED): _S.IN_SERVICE,
    **{(state, _I.RETRY): _S.WAITING for state in _LIVE},
    **{(state, _I.GIVE_UP): _S.FAILED for state in _LIVE},
    (_S.WAITING, _I.WAITED): _S.OPENING,
    **{(state, _I.CLOSE): _S.CLOSED for state in (_S.IDLE, *_LIVE, _S.WAITING)},
    # Closing twice, or after giving up, changes nothing.
    (_S.CLOSED, _I.CLOSE): _S.CLOSED,
    (_S.FAILED, _I.CLOSE): _S.FAILED,
}
"""The whole state machine: (state, input) -> next state. Nothing else moves it."""


class Supervisor:
    """Decides a client's next :class:`Step`; the runtime carries it out.

    ``policy`` is the :class:`ReconnectPolicy`, or ``None`` to give up when
    the connection is lost. ``where`` names the server in error messages.
    ``random`` is the jitter source. With ``retry_first`` the first
    connection is retried by the policy too (a service that must wait for
    its PBX); without it, the first failure is given up with the error
    itself, for ``connect()`` to raise.
    """

    def __init__(
        self,
        policy: ReconnectPolicy | None,
        *,
        where: str,
        random: Callable[[], float],
        retry_first: bool = False,
    ) -> None:
        self.policy = policy
        self.where = where
        self._random = random
        self._retry_first = retry_first
        self._state = SupervisorState.IDLE
        self._attempt = 0
        self._was_in_service = False
        self.history: list[tuple[SupervisorState, SupervisorInput, SupervisorState]] = []
        """The last 64 transitions taken, oldest first (for logs and tests)."""

    def __repr__(self) -> str:
        return f"<Supervisor {self.where} {self._state.name} attempt={self._attempt}>"

    @property
    def state(self) -> SupervisorState:
        """The current state; only :data:`TRANSITIONS` changes it."""
        return self._state

    @property
    def attempt(self) -> int:
        """Retries made since the client was last in service."""
        return self._attempt

    @property
    def was_in_service(self) -> bool:
        """Whether the client has been in service at least once."""
        return self._was_in_service

    # -- reports from the runtime ------------------------------------------

    def start(self) -> Step:
        """The first step (always :class:`Open`)."""
        return self._move(_I.START, None)

    def opened(self) -> Step:
        """The socket is open."""
        return self._move(_I.OPENED, None)

    def logged_in(self) -> Step:
        """The login succeeded: :class:`Serve` the first time, :class:`Resync` after."""
        first = not self._was_in_service
        return self._move(_I.LOGGED_IN_FIRST if first else _I.LOGGED_IN_AGAIN, None)

    def refused(self, error: AuthenticationError) -> Step:
        """The server refused the credentials: always :class:`GiveUp`."""
        return self._move(_I.REFUSED, error)

    def resynced(self) -> Step:
        """The resync ended (settled or not, the Connection reported which)."""
        return self._move(_I.RESYNCED, None)

    def failed(self, error: BaseException) -> Step:
        """Opening, logging in, resyncing or serving failed (``error`` says why)."""
        return self._move(_I.RETRY if self._retries(error) else _I.GIVE_UP, error)

    def waited(self) -> Step:
        """The backoff wait is over."""
        return self._move(_I.WAITED, None)

    def close(self) -> Step:
        """The application closes the client."""
        return self._move(_I.CLOSE, None)

    # -- the table ----------------------------------------------------------

    def _retries(self, error: BaseException) -> bool:
        if isinstance(error, AuthenticationError) or self.policy is None:
            return False
        if not self._was_in_service and not self._retry_first:
            return False
        return not self.policy.gives_up(self._attempt)

    def _move(self, inp: SupervisorInput, error: BaseException | None) -> Step:
        key = (self._state, inp)
        new = TRANSITIONS.get(key)
        if new is None:
            raise LocalProtocolError(f"{inp.value} is not allowed in state {self._state.name}")
        self.history.append((self._state, inp, new))
        del self.history[:-64]
        self._state = new
        return self._step(new, inp, error)

    def _step(
        self, state: SupervisorState, inp: SupervisorInput, error: BaseException | None
    ) -> Step:
        if inp is _I.CLOSE:
            return Stop()
        if state is _S.IN_SERVICE:
            self._was_in_service = True
            self._attempt = 0
        elif state is _S.WAITING:
            assert self.policy is not None  # RETRY needs a policy
            delay = self.policy.delay(self._attempt, self._random)
            self._attempt += 1
            return Wait(delay, self._attempt)
        elif state is _S.FAILED:
            assert error is not None  # only REFUSED and GIVE_UP lead here
            return GiveUp(self._final_error(inp, error), self._was_in_service)
        return _PLAIN_STEPS[state]

    def _final_error(self, inp: SupervisorInput, error: BaseException) -> BaseException:
        """The error the client ends with: the cause itself, or "gave up" after retries."""
        if inp is _I.REFUSED or not self._was_in_service:
            return error
        if isinstance(error, AuthenticationError):
            return error
        if self.policy is None:
            return (
                error if isinstance(error, ConnectionLostError) else ConnectionLostError(str(error))
            )
        return ConnectionLostError(
            f"could not reconnect to {self.where} after {self._attempt} attempts"
        )


_PLAIN_STEPS: Final[dict[SupervisorState, Step]] = {
    _S.OPENING: Open(),
    _S.LOGGING_IN: LogIn(),
    _S.RESYNCING: Resync(),
    _S.IN_SERVICE: Serve(),
}
