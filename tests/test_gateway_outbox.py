"""The gateway's pure parts: the bounded outbox and the board of live calls."""

from __future__ import annotations

import subprocess
import sys

from hypothesis import given
from hypothesis import strategies as st

from tapievent import (
    CallerId,
    CallInfo,
    CallState,
    LineCallInfoState,
    LineCallState,
    LineDevState,
    LineDevStateFlag,
    NewCall,
)
from tapievent.gateway.board import Board
from tapievent.gateway.outbox import Outbox, Publication
from tapievent.gateway.scheme import Presence

ops = st.lists(
    st.one_of(
        st.tuples(st.just("event"), st.integers(0, 3)),
        st.tuples(st.just("state"), st.integers(0, 3)),
        st.tuples(st.just("ack"), st.just(0)),
    ),
    max_size=60,
)


@given(ops, st.integers(1, 8))
def test_outbox_drops_oldest_counts_events_and_keeps_states_stale(
    script: list[tuple[str, int]], size: int
) -> None:
    box = Outbox(size)
    added: list[int] = []  # seq of every event added, in order (seqs count from 1)
    acked: list[int] = []
    seq = 0
    for op, n in script:
        if op == "ack":
            head = box.peek_event()
            if head is not None:
                box.acknowledge(head)
                acked.append(head.seq)
        elif op == "event":
            seq += 1
            box.add_event(f"line/{n}/events", b"e")
            added.append(seq)
        else:
            seq += 1
            box.add_event(f"line/{n}/state", b"s", retain_key=f"line:{n}")
        assert len(box) <= size
    remaining = [p.seq for p in _all(box)]
    assert remaining == sorted(remaining)  # FIFO order kept
    events_left = [p.seq for p in _all(box) if p.retain_key is None]
    acked_events = [s for s in acked if s in added]
    assert box.dropped == len(added) - len(events_left) - len(acked_events)


def _all(box: Outbox) -> list[Publication]:
    out: list[Publication] = []
    seq = 0
    while (p := box.next_after(seq)) is not None:
        out.append(p)
        seq = p.seq
    return out


def test_outbox_dropped_state_becomes_stale_and_restart_supersedes_queued_states() -> None:
    box = Outbox(2)
    box.add_event("line/a/state", b"1", retain_key="line:a")
    box.add_event("line/a/events", b"2")
    box.add_event("line/a/events", b"3")  # pushes the queued state out
    assert box.dropped == 0 and box.take_stale() == "line:a"
    box.add_event("line/a/events", b"4")
    assert box.dropped == 1 and box.take_dropped() == 1 and box.take_dropped() == 0
    box.add_event("line/b/state", b"5", retain_key="line:b")
    box.restart(["status", "line:b"])
    assert [p.payload for p in _all(box)] == [b"4"]
    assert [box.take_stale(), box.take_stale(), box.take_stale()] == ["status", "line:b", None]


def test_board_follows_the_event_stream() -> None:
    board = Board(max_calls=2)
    bob = "Local/bob"
    board.apply(NewCall(bob, "k1"))
    assert board.presence(bob) is Presence.RINGING
    board.apply(CallInfo(bob, "k1", LineCallInfoState.CALLERID, CallerId("Carol", "5550300")))
    board.apply(CallState(bob, "k1", LineCallState.CONNECTED))
    (call,) = board.calls()
    assert call.caller_id == CallerId("Carol", "5550300")
    assert board.presence(bob) is Presence.CONNECTED
    board.apply(LineDevState(None, LineDevStateFlag.OUTOFSERVICE))
    assert board.presence(bob) is Presence.OUT_OF_SERVICE
    board.apply(LineDevState(None, LineDevStateFlag.INSERVICE))
    board.apply(CallState(bob, "k1", LineCallState.IDLE, synthesized=True))
    assert board.calls() == () and board.presence(bob) is Presence.IDLE
    board.apply(CallState(bob, "late", LineCallState.IDLE))  # an IDLE alone adds nothing
    for key in ("a", "b", "c"):
        board.apply(NewCall(bob, key))
    assert [c.call_key for c in board.calls()] == ["b", "c"]  # bounded, oldest forgotten


def test_the_core_never_imports_the_gateway_nor_aiomqtt() -> None:
    code = (
        "import sys, tapievent, tapievent.transports.aio, tapievent.tsp.bridge\n"
        "import tapievent.gateway.scheme\n"
        "print(sorted(m for m in sys.modules if m.startswith(('aiomqtt', 'paho'))"
        " or m in ('tapievent.gateway.runtime', 'tapievent.gateway.consumer')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[]"  # the scheme is pure; only the runtime and consumer need aiomqtt
