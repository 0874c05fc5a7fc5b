"""LINECALLORIGIN of calls the bridge announces to the shim (screen pops filter on it)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tapievent.model import CallerId, LineCallOrigin, LineCallState, NewCall
from tapievent.tracker import TrackedCall
from tapievent.tsp.mapper import ShimSession, offered_origin

INBOUND, INTERNAL, EXTERNAL, OUTBOUND = 0x80, 0x2, 0x4, 0x1  # tapi.h, written out


def no_action(key: str) -> str | None:
    return None


def test_an_offered_call_of_unknown_origin_is_inbound() -> None:
    session = ShimSession(["bob"])
    caller = CallerId(name="Alice", number="5550100")
    (new,) = session.on_event(NewCall("bob", "k1", LineCallOrigin.UNKNOWN, caller), no_action)
    assert new["origin"] == INBOUND


def test_our_own_originate_ringing_another_line_is_internal_there() -> None:
    session = ShimSession(["bob", "alice"])
    (new,) = session.on_event(NewCall("alice", "k2", LineCallOrigin.OUTBOUND, None), no_action)
    assert new["origin"] == INTERNAL


def test_a_reconnecting_shim_learns_our_outbound_calls_as_outbound() -> None:
    session = ShimSession(["bob"])
    tracked = TrackedCall(
        call_key="k3",
        lines=("bob",),
        states=(LineCallState.CONNECTED,),
        caller_id=None,
        origin=LineCallOrigin.OUTBOUND,
        channel=None,
        action_id="a1",
    )
    (new,) = session.announce([tracked])
    assert new["origin"] == OUTBOUND


@given(st.sampled_from(list(LineCallOrigin)))
def test_an_offered_call_never_reports_unknown(origin: LineCallOrigin) -> None:
    reported = offered_origin(origin)
    assert reported != int(LineCallOrigin.UNKNOWN)
    assert reported in (INBOUND, INTERNAL, EXTERNAL)
    if origin in (LineCallOrigin.INTERNAL, LineCallOrigin.EXTERNAL, LineCallOrigin.INBOUND):
        assert reported == int(origin)
