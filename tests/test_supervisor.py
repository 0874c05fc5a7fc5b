"""The reconnect supervisor: its table, its policy arithmetic, its whole sequences."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tapievent import LocalProtocolError
from tapievent._errors import AuthenticationError, ConnectionLostError
from tapievent.supervisor import (
    TRANSITIONS,
    GiveUp,
    LogIn,
    Open,
    ReconnectPolicy,
    Resync,
    Serve,
    Step,
    Stop,
    Supervisor,
    SupervisorState,
    Wait,
)

FAST = ReconnectPolicy(initial_delay=0.5, max_delay=4.0, jitter=0.0)


def supervisor(policy: ReconnectPolicy | None = FAST, **kwargs: bool) -> Supervisor:
    return Supervisor(policy, where="pbx:5038", random=lambda: 0.5, **kwargs)


def test_the_reconnect_sequence_is_lost_wait_open_login_resync_serve() -> None:
    sup = supervisor()
    assert [sup.start(), sup.opened(), sup.logged_in()] == [Open(), LogIn(), Serve()]
    assert sup.failed(ConnectionLostError("reset")) == Wait(0.5, 1)
    assert sup.waited() == Open()
    assert sup.failed(ConnectionRefusedError()) == Wait(1.0, 2)
    assert [sup.waited(), sup.opened(), sup.logged_in()] == [Open(), LogIn(), Resync()]
    assert sup.resynced() == Serve()
    assert sup.attempt == 0  # in service again: the next outage starts over
    assert sup.failed(ConnectionLostError("reset")) == Wait(0.5, 1)
    assert sup.close() == Stop() and sup.state is SupervisorState.CLOSED
    assert sup.close() == Stop()


def test_bad_credentials_are_never_retried() -> None:
    sup = supervisor()
    sup.start(), sup.opened(), sup.logged_in()
    sup.failed(ConnectionLostError("reset")), sup.waited(), sup.opened()
    refused = AuthenticationError("login refused")
    assert sup.refused(refused) == GiveUp(refused, was_in_service=True)
    assert sup.state is SupervisorState.FAILED
    assert sup.close() == Stop() and sup.state is SupervisorState.FAILED


def test_the_first_connection_fails_loudly_unless_asked_to_retry() -> None:
    refused = ConnectionRefusedError("refused")
    sup = supervisor()
    sup.start()
    assert sup.failed(refused) == GiveUp(refused, was_in_service=False)
    patient = supervisor(retry_first=True)
    patient.start()
    assert patient.failed(refused) == Wait(0.5, 1)
    patient.waited(), patient.opened()
    assert patient.logged_in() == Serve()  # nothing was tracked: no resync


def test_max_attempts_then_give_up_and_no_policy_gives_up_at_once() -> None:
    sup = supervisor(ReconnectPolicy(initial_delay=0, max_attempts=2))
    sup.start(), sup.opened(), sup.logged_in()
    assert sup.failed(ConnectionLostError("x")) == Wait(0.0, 1)
    sup.waited()
    assert sup.failed(OSError("down")) == Wait(0.0, 2)
    sup.waited()
    step = sup.failed(OSError("down"))
    assert isinstance(step, GiveUp) and isinstance(step.error, ConnectionLostError)
    assert str(step.error) == "could not reconnect to pbx:5038 after 2 attempts"
    once = supervisor(None)
    once.start(), once.opened(), once.logged_in()
    lost = ConnectionLostError("connection closed by the server")
    assert once.failed(lost) == GiveUp(lost, was_in_service=True)


def test_a_report_the_state_does_not_allow_is_refused_and_changes_nothing() -> None:
    sup = supervisor()
    with pytest.raises(LocalProtocolError, match=r"resynced\(\) is not allowed in state IDLE"):
        sup.resynced()
    assert sup.state is SupervisorState.IDLE and sup.history == []


_REPORTS = ["start", "opened", "logged_in", "refused", "resynced", "failed", "waited", "close"]


def _report(sup: Supervisor, name: str) -> Step:
    if name == "refused":
        return sup.refused(AuthenticationError("no"))
    if name == "failed":
        return sup.failed(OSError("down"))
    method = getattr(sup, name)
    result: Step = method()
    return result


_STEP_OF_STATE: dict[SupervisorState, type] = {
    SupervisorState.OPENING: Open,
    SupervisorState.LOGGING_IN: LogIn,
    SupervisorState.RESYNCING: Resync,
    SupervisorState.IN_SERVICE: Serve,
    SupervisorState.WAITING: Wait,
    SupervisorState.FAILED: GiveUp,
    SupervisorState.CLOSED: Stop,
}


@given(
    st.lists(st.sampled_from(_REPORTS), max_size=40),
    st.booleans(),
    st.sampled_from([None, FAST, ReconnectPolicy(max_attempts=3)]),
)
def test_every_observed_step_is_a_transition_of_the_table(
    reports: list[str], retry_first: bool, policy: ReconnectPolicy | None
) -> None:
    sup = supervisor(policy, retry_first=retry_first)
    for name in reports:
        before = sup.state
        try:
            step = _report(sup, name)
        except LocalProtocolError:
            assert sup.state is before  # refused reports change nothing
            assert not any(b is before and i.value.startswith(name) for b, i in TRANSITIONS)
            continue
        taken = sup.history[-1]
        assert taken[0] is before and taken[2] is sup.state
        assert TRANSITIONS[(taken[0], taken[1])] is sup.state
        if isinstance(step, Stop):
            assert taken[1].name == "CLOSE"
        else:
            assert isinstance(step, _STEP_OF_STATE[sup.state])
        if isinstance(step, Wait):
            assert policy is not None and 0 <= step.seconds <= policy.max_delay
            assert policy.max_attempts is None or step.attempt <= policy.max_attempts


def test_reconnect_policy_with_a_huge_multiplier_does_not_overflow() -> None:
    """Issue 15 #15: the exponent cap at 64 protected multipliers up to ~6.6e4 only."""
    assert ReconnectPolicy(multiplier=1e6).delay(60, lambda: 0.0) == 30.0
    assert ReconnectPolicy(multiplier=1e300).delay(2, lambda: 1.0) == 15.0


def _reference(policy: ReconnectPolicy, attempt: int) -> float:
    """The policy's formula, evaluated the slow obvious way."""
    if policy.initial_delay == 0:
        return 0.0
    try:
        grown = policy.initial_delay * policy.multiplier**attempt
    except OverflowError:
        return policy.max_delay
    return min(policy.max_delay, grown)


@given(
    initial=st.floats(0, 1e6, allow_subnormal=True),
    max_delay=st.floats(0, 1e9),
    multiplier=st.one_of(st.floats(1, 1e300), st.sampled_from([1.0, 2.0, 1e6, 1e300])),
    attempt=st.one_of(st.integers(0, 200), st.integers(0, 10**12)),
    jitter=st.floats(0, 1),
    draw=st.floats(0, 1),
)
def test_reconnect_delay_is_capped_and_finite_for_any_valid_policy(
    initial: float, max_delay: float, multiplier: float, attempt: int, jitter: float, draw: float
) -> None:
    policy = ReconnectPolicy(initial, max_delay, multiplier, jitter)
    capped = policy.capped(attempt)
    assert math.isfinite(capped) and 0 <= capped <= max_delay
    assert capped == pytest.approx(_reference(policy, attempt), rel=1e-9)
    assert policy.capped(attempt + 1) >= capped  # never shrinks with more attempts
    delay = policy.delay(attempt, lambda: draw)
    assert capped * (1 - jitter) - 1e-12 <= delay <= capped


def test_reconnect_policy_refuses_values_it_cannot_honour() -> None:
    for bad in (
        {"jitter": 1.5},
        {"multiplier": 0.5},
        {"initial_delay": -1.0},
        {"max_delay": math.inf},
        {"initial_delay": math.nan},
        {"max_attempts": -1},
    ):
        with pytest.raises(ValueError):
            ReconnectPolicy(**bad)
