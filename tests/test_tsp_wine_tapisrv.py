"""The native TSP against the TSPI rules a real TAPISRV relies on (issue 12, D1-D10).

The harness plays TAPISRV the way the real one behaves: it calls back into the
provider from inside the provider's own callbacks, prefills the structure
fields TAPI owns, and closes the call of a failed asynchronous lineMakeCall.
Tests that must hold or shape the bridge's answers use :class:`RawBridge`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tsp_wine import (
    LINE_CALLSTATE,
    LINE_GENERATE,
    LINE_NEWCALL,
    LINECALLSTATE_CONNECTED,
    LINECALLSTATE_IDLE,
    LINECALLSTATE_OFFERING,
    LINEGENERATETERM_DONE,
    Harness,
    RawBridge,
    Stack,
    is_state,
    make_build,
    make_wine_env,
    running_factory,
)

# tapi.h numbers, written out so the test does not trust the code under test.
LINECALLSTATE_PROCEEDING = 0x200
LINECALLORIGIN_INBOUND = 0x80
LINEDEVCAPFLAGS_CLOSEDROP = 0x20
LINEDEVCAPFLAGS_DIAL_MODIFIERS = 0x40 | 0x80 | 0x100  # DIALBILLING | DIALQUIET | DIALDIALTONE
LINEGENERATETERM_CANCEL = 0x2
LINECALLFEATURE_DROP = 0x80
LINEMEDIAMODE_DATAMODEM = 0x10
LINEERR_CALLUNAVAIL = 0x80000005
LINEERR_DIALBILLING = 0x80000008
LINEERR_DIALDIALTONE = 0x80000009
LINEERR_DIALPROMPT = 0x8000000A
LINEERR_DIALQUIET = 0x8000000B
LINEERR_INVALADDRESSID = 0x80000011
LINEERR_INVALMEDIAMODE = 0x8000002F
LINEERR_OPERATIONFAILED = 0x80000048
LINEERR_OPERATIONUNAVAIL = 0x80000049
LINEERR_RESOURCEUNAVAIL = 0x8000004B


@pytest.fixture(scope="module")
def build() -> Path:
    return make_build()


@pytest.fixture(scope="module")
def wine_env() -> dict[str, str]:
    return make_wine_env()


@pytest.fixture
def running(
    build: Path, wine_env: dict[str, str]
) -> Iterator[Callable[..., tuple[Stack, Harness]]]:
    yield from running_factory(build, wine_env)


@pytest.fixture
def raw(
    build: Path, wine_env: dict[str, str]
) -> Iterator[Callable[..., tuple[RawBridge, Harness]]]:
    """A harness on line ``bob`` connected to a hand-played bridge, line open and in service."""
    made: list[tuple[RawBridge, Harness]] = []

    def start(*registry: str, rcvbuf: int | None = None) -> tuple[RawBridge, Harness]:
        bridge = RawBridge(rcvbuf=rcvbuf)
        harness = Harness(build, wine_env, bridge.registry("bob", *registry))
        made.append((bridge, harness))
        assert harness.cmd("init")["result"] == 0
        assert harness.cmd("open 0")["result"] == 0
        bridge.accept()
        assert harness.cmd("waitservice 0 1 10000")["result"] == 0
        return bridge, harness

    yield start
    for bridge, harness in made:
        try:
            harness.close()
        finally:
            bridge.close()


def reentered(what: str) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e["ev"] == "reentered" and e["what"] == what


def completion_of(request: int) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e["ev"] == "ASYNC_COMPLETION" and e["request"] == request


def inbound_call(bridge: RawBridge, harness: Harness, call: int = 5) -> int:
    """The bridge announces a connected call on bob; returns the harness call number."""
    bridge.send({"v": 1, "type": "new_call", "call": call, "line": "bob", "state": 0x100})
    new = harness.wait(lambda e: e.get("msg") == LINE_NEWCALL)
    harness.wait(is_state(new["call"], LINECALLSTATE_CONNECTED))
    number: int = new["call"]
    return number


# ---------------------------------------------------------------- D1: re-entrance


def test_d1_close_call_from_inside_line_newcall_does_not_freeze_the_lines(
    running: Callable[..., tuple[Stack, Harness]],
) -> None:
    stack, harness = running(lines=("Local/bob", "Local/bobbett"))
    assert harness.cmd("reenter newcall")["result"] == 0
    stack.call(stack.fake.inbound_call(["Local/bob", "Local/bobbett"], answer_on="Local/bob"))
    first = harness.wait(reentered("closecall"))
    assert first["result"] == 0
    # The provider's thread came back: the other line's call arrives and is closed too,
    # and nothing is raised for a call TAPI closed inside its LINE_NEWCALL.
    second = harness.wait(lambda e: reentered("closecall")(e) and e["call"] != first["call"])
    assert second["result"] == 0
    assert harness.cmd("status 0")["result"] == 0
    assert [e for e in harness.events if e.get("msg") == LINE_CALLSTATE] == []


def test_d1_close_call_from_inside_the_idle_callstate(
    running: Callable[..., tuple[Stack, Harness]],
) -> None:
    stack, harness = running()
    assert harness.cmd("reenter idle")["result"] == 0
    stack.call(stack.fake.inbound_call(["Local/bob"], answer_on="Local/bob"))
    closed = harness.wait(reentered("closecall"))
    assert closed["result"] == 0
    assert harness.line_events(closed["call"])[-1] == (LINE_CALLSTATE, LINECALLSTATE_IDLE)
    # A second call still flows (the reader thread is not stuck in the first).
    stack.call(stack.fake.inbound_call(["Local/bob"], answer_on="Local/bob"))
    again = harness.wait(lambda e: reentered("closecall")(e) and e["call"] != closed["call"])
    assert again["result"] == 0


def test_d1_line_close_from_inside_line_linedevstate(
    running: Callable[..., tuple[Stack, Harness]],
) -> None:
    stack, harness = running()
    assert harness.cmd("reenter devstate")["result"] == 0
    stack.stop_bridge()
    closed = harness.wait(reentered("lineclose"))
    assert closed["result"] == 0
    assert harness.cmd("open 0")["result"] == 0  # the line is really closed, and opens again
    stack.start_bridge()
    assert harness.cmd("waitservice 0 1 10000")["result"] == 0


# ------------------------------------------------------ D2: fields TAPI owns survive


def test_d2_getters_leave_the_fields_tapi_owns(
    raw: Callable[..., tuple[RawBridge, Harness]],
) -> None:
    bridge, harness = raw()
    call = inbound_call(bridge, harness)
    assert harness.cmd(f"callinfo {call}")["tapi_fields_kept"] == 1
    assert harness.cmd(f"callstatus {call}")["tapi_fields_kept"] == 1
    assert harness.cmd("status 0")["tapi_fields_kept"] == 1


# ----------------------------------------------------- D3: third-party call control


def test_d3_closing_the_line_never_drops_the_desk_phones_call(
    running: Callable[..., tuple[Stack, Harness]],
) -> None:
    stack, harness = running(originate_line="Local/bob", call_duration=None)
    caps = harness.cmd("devcaps 0 1024")
    assert caps["dev_cap_flags"] & LINEDEVCAPFLAGS_CLOSEDROP == 0
    assert caps["dev_cap_flags"] & LINEDEVCAPFLAGS_DIAL_MODIFIERS == 0  # they are refused
    made = harness.cmd("makecall 0 100")
    assert harness.wait(completion_of(made["request"]))["result"] == 0
    harness.wait(is_state(made["call"], LINECALLSTATE_CONNECTED))
    assert harness.cmd(f"closecall {made['call']}")["result"] == 0
    assert harness.cmd("close 0")["result"] == 0
    assert harness.cmd("sleep 300")["result"] == 0
    assert stack.actions("Hangup") == []


# ------------------------------------------- D4, D5, D6: the life of lineMakeCall


def test_d4_a_failed_make_call_is_still_closed_by_tapi(
    raw: Callable[..., tuple[RawBridge, Harness]],
) -> None:
    bridge, harness = raw()
    made = harness.cmd("makecall 0 100")
    request = bridge.receive_type("make_call")
    bridge.send({"v": 1, "type": "reply", "id": request["id"], "result": LINEERR_CALLUNAVAIL})
    done = harness.wait(completion_of(made["request"]))
    assert done["result"] == LINEERR_CALLUNAVAIL
    assert done["closecall"] == 0  # TAPISRV's lineCloseCall finds the call


def test_d5_d6_a_made_call_counts_and_has_a_state_only_after_completion(
    raw: Callable[..., tuple[RawBridge, Harness]],
) -> None:
    bridge, harness = raw()
    made = harness.cmd("makecall 0 100")
    request = bridge.receive_type("make_call")
    before = harness.cmd("status 0")
    assert (before["active"], before["address_active"]) == (0, 0)
    bridge.send({"v": 1, "type": "reply", "id": request["id"], "result": 0, "call": 7})
    assert harness.wait(completion_of(made["request"]))["result"] == 0
    after = harness.cmd("status 0")
    assert (after["active"], after["address_active"]) == (1, 1)
    status = harness.cmd(f"callstatus {made['call']}")
    assert status["state"] == LINECALLSTATE_PROCEEDING  # before the first LINE_CALLSTATE
    assert harness.line_events(made["call"]) == []


# ------------------------------------------------------------- D7: lineGenerateDigits


def test_d7_commas_pause_invalid_digits_are_ignored(
    raw: Callable[..., tuple[RawBridge, Harness]],
) -> None:
    bridge, harness = raw("--reg-dword", "DialPauseMs=400")
    call = inbound_call(bridge, harness)
    assert harness.cmd(f"digits {call} 1x2,,3 77")["result"] == 0
    first = bridge.receive_type("generate_digits")
    assert first["digits"] == "12"
    bridge.send({"v": 1, "type": "reply", "id": first["id"], "result": 0})
    answered = time.monotonic()
    second = bridge.receive_type("generate_digits")
    assert second["digits"] == "3"
    assert time.monotonic() - answered >= 2 * 0.4 * 0.9  # two commas, two pauses
    assert harness.line_events(call)[-1][0] != LINE_GENERATE  # not done before the last run
    bridge.send({"v": 1, "type": "reply", "id": second["id"], "result": 0})
    done = harness.wait(lambda e: e.get("msg") == LINE_GENERATE)
    assert (done["p1"], done["p2"]) == (LINEGENERATETERM_DONE, 77)


def test_d7_null_or_a_new_request_cancels_the_running_generation(
    raw: Callable[..., tuple[RawBridge, Harness]],
) -> None:
    bridge, harness = raw("--reg-dword", "DialPauseMs=200")
    call = inbound_call(bridge, harness)
    assert harness.cmd(f"digits {call} 45,6 78")["result"] == 0
    running_run = bridge.receive_type("generate_digits")
    assert harness.cmd(f"digits {call} -")["result"] == 0
    cancelled = harness.wait(lambda e: e.get("msg") == LINE_GENERATE)
    assert (cancelled["p1"], cancelled["p2"]) == (LINEGENERATETERM_CANCEL, 78)
    bridge.send({"v": 1, "type": "reply", "id": running_run["id"], "result": 0})
    # A new generation replaces a running one: CANCEL for the old, then the new runs.
    assert harness.cmd(f"digits {call} 1,1 80")["result"] == 0
    old = bridge.receive_type("generate_digits")
    mark = len(harness.events)
    assert harness.cmd(f"digits {call} 9 81")["result"] == 0
    replaced = harness.wait(lambda e: e.get("msg") == LINE_GENERATE, mark)
    assert (replaced["p1"], replaced["p2"]) == (LINEGENERATETERM_CANCEL, 80)
    bridge.send({"v": 1, "type": "reply", "id": old["id"], "result": 0})
    new = bridge.receive_type("generate_digits")
    assert new["digits"] == "9"  # the "6" and the second "1" were never sent
    bridge.send({"v": 1, "type": "reply", "id": new["id"], "result": 0})
    done = harness.wait(lambda e: e.get("msg") == LINE_GENERATE and e["p2"] == 81)
    assert done["p1"] == LINEGENERATETERM_DONE
    generates = [e for e in harness.events if e.get("msg") == LINE_GENERATE]
    assert [(e["p1"], e["p2"]) for e in generates] == [
        (LINEGENERATETERM_CANCEL, 78),
        (LINEGENERATETERM_CANCEL, 80),
        (LINEGENERATETERM_DONE, 81),
    ]


# ------------------------------------------------------------- D8: lineMakeCall checks


def test_d8_make_call_checks_call_params_and_refuses_dial_modifiers(
    running: Callable[..., tuple[Stack, Harness]],
) -> None:
    stack, harness = running(originate_line="Local/bob")
    refused = {
        f"makecall 0 100 {LINEMEDIAMODE_DATAMODEM} 0": LINEERR_INVALMEDIAMODE,
        "makecall 0 100 0x4 1": LINEERR_INVALADDRESSID,
        "makecall 0 0W100": LINEERR_DIALDIALTONE,
        "makecall 0 100@": LINEERR_DIALQUIET,
        "makecall 0 0$100": LINEERR_DIALBILLING,
        "makecall 0 100?": LINEERR_DIALPROMPT,
        "makecall 0 -": LINEERR_OPERATIONUNAVAIL,  # NULL: no lineDial, no hot phone
    }
    for command, error in refused.items():
        made = harness.cmd(command)
        assert (made["result"], made["call"]) == (error, -1), command
    assert stack.actions("Originate") == []
    made = harness.cmd("makecall 0 100 0x4 0")  # voice on address 0 is fine
    assert harness.wait(completion_of(made["request"]))["result"] == 0
    assert len(stack.actions("Originate")) == 1


# ------------------------------------------------------------ D9: a stalled bridge


def test_d9_a_stalled_bridge_never_blocks_a_tapisrv_thread(
    raw: Callable[..., tuple[RawBridge, Harness]],
) -> None:
    _, harness = raw(rcvbuf=4096)  # the bridge reads its hello, then nothing more
    flood = harness.cmd("flood 0 100000 5550123")
    assert flood["refused"] == LINEERR_RESOURCEUNAVAIL  # the queue filled: refused at once
    assert flood["slowest_ms"] < 2500  # the old shim blocked 5 s in send()


# --------------------------------------------------------------- D10: lineClose


def test_d10_line_close_completes_pending_requests(
    raw: Callable[..., tuple[RawBridge, Harness]],
) -> None:
    bridge, harness = raw()
    made = harness.cmd("makecall 0 100")
    bridge.receive_type("make_call")  # never answered
    assert harness.cmd("close 0")["result"] == 0
    # The completion came before lineClose returned (it is already in the events).
    (done,) = [e for e in harness.events if completion_of(made["request"])(e)]
    assert done["result"] == LINEERR_OPERATIONFAILED


# ------------------------------------------------------------------ screen pops


def test_inbound_calls_report_inbound_and_a_ringing_leg_cannot_hang_up_the_caller(
    running: Callable[..., tuple[Stack, Harness]],
) -> None:
    stack, harness = running(lines=("Local/bob", "Local/bobbett"))
    stack.call(
        stack.fake.inbound_call(
            ["Local/bob", "Local/bobbett"], answer_on=None, ring_time=30.0, hold=True
        )
    )
    bob = harness.wait(lambda e: e.get("msg") == LINE_NEWCALL and e["line"] == 0)["call"]
    harness.wait(is_state(bob, LINECALLSTATE_OFFERING))
    assert harness.cmd(f"callinfo {bob}")["origin"] == LINECALLORIGIN_INBOUND
    status = harness.cmd(f"callstatus {bob}")
    assert status["features"] & LINECALLFEATURE_DROP == 0
    dropped = harness.cmd(f"drop {bob}")
    assert dropped["result"] == LINEERR_OPERATIONUNAVAIL  # refused honestly, synchronously
    assert harness.cmd("sleep 200")["result"] == 0
    assert stack.actions("Hangup") == []


def test_a_call_announced_without_an_origin_is_inbound(
    raw: Callable[..., tuple[RawBridge, Harness]],
) -> None:
    bridge, harness = raw()
    call = inbound_call(bridge, harness)  # the new_call carries no "origin"
    assert harness.cmd(f"callinfo {call}")["origin"] == LINECALLORIGIN_INBOUND
