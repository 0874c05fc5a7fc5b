"""The native TSP under Wine, driven by our TAPISRV stand-in, against the real bridge.

The kit (build, prefix, stack, harness) is ``tests/tsp_wine.py``; the TAPISRV
re-entrance and TSPI rule tests are ``tests/test_tsp_wine_tapisrv.py``.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from docs_examples import blocks
from tsp_wine import (
    HARNESS_LINE_BASE,
    LINE_CALLINFO,
    LINE_CALLSTATE,
    LINE_GENERATE,
    LINE_LINEDEVSTATE,
    LINE_NEWCALL,
    LINECALLINFOSTATE_CALLERID,
    LINECALLORIGIN_OUTBOUND,
    LINECALLSTATE_CONNECTED,
    LINECALLSTATE_DISCONNECTED,
    LINECALLSTATE_IDLE,
    LINECALLSTATE_OFFERING,
    LINEDEVSTATE_INSERVICE,
    LINEDEVSTATE_OUTOFSERVICE,
    LINEDEVSTATUSFLAGS_CONNECTED,
    LINEDEVSTATUSFLAGS_INSERVICE,
    LINEDISCONNECTMODE_PICKUP,
    LINEERR_INCOMPATIBLEAPIVERSION,
    LINEERR_STRUCTURETOOSMALL,
    LINEGENERATETERM_DONE,
    LINEMEDIAMODE_INTERACTIVEVOICE,
    TIMEOUT,
    TSP,
    TSPI_2_2,
    Harness,
    Stack,
    is_state,
    make_build,
    make_wine_env,
    running_factory,
)


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


def test_inbound_call_reaches_tapi_with_caller_id_and_states(
    running: Callable[..., tuple[Stack, Harness]],
) -> None:
    stack, harness = running(lines=("Local/bob", "Local/bobbett"))
    stack.call(stack.fake.inbound_call(["Local/bob", "Local/bobbett"], answer_on="Local/bob"))
    bob_new = harness.wait(lambda e: e.get("msg") == LINE_NEWCALL and e["line"] == 0)
    bob = bob_new["call"]
    # The handshake went through a 64-bit pointer: our HTAPICALL lives above 4 GiB.
    assert int(bob_new["htCall"], 16) > 0xFFFFFFFF
    harness.wait(is_state(bob, LINECALLSTATE_IDLE))
    bob_events = harness.line_events(bob)
    assert bob_events[0][0] == LINE_NEWCALL  # p1 is the TSP's own HDRVCALL
    assert bob_events[1:] == [
        (LINE_CALLSTATE, LINECALLSTATE_OFFERING),
        (LINE_CALLINFO, LINECALLINFOSTATE_CALLERID),
        (LINE_CALLSTATE, LINECALLSTATE_CONNECTED),
        (LINE_CALLSTATE, LINECALLSTATE_IDLE),
    ]
    offering = next(e for e in harness.events if e.get("call") == bob and e.get("msg") == 2)
    assert offering["p3"] == LINEMEDIAMODE_INTERACTIVEVOICE
    # The other line of the ring group: answered elsewhere -> DISCONNECTED/PICKUP, IDLE.
    bobbett = harness.wait(lambda e: e.get("msg") == LINE_NEWCALL and e["line"] == 1)["call"]
    harness.wait(is_state(bobbett, LINECALLSTATE_IDLE))
    disconnected = next(
        e
        for e in harness.events
        if e.get("call") == bobbett and e.get("p1") == LINECALLSTATE_DISCONNECTED
    )
    assert disconnected["p2"] == LINEDISCONNECTMODE_PICKUP
    info = harness.cmd(f"callinfo {bob}")
    assert info["result"] == 0
    assert (info["caller_number"], info["caller_name"]) == ("5550100", "Alice Caller")
    # lineGetCallAddressID and the device id come from the same local cache.
    assert (info["address_id"], info["line_device"]) == (0, HARNESS_LINE_BASE)
    status = harness.cmd(f"callstatus {bob}")
    assert (status["result"], status["state"]) == (0, LINECALLSTATE_IDLE)
    line = harness.cmd("status 0")
    assert (line["result"], line["address_result"]) == (0, 0)
    assert line["flags"] == LINEDEVSTATUSFLAGS_CONNECTED | LINEDEVSTATUSFLAGS_INSERVICE
    assert harness.cmd(f"closecall {bob}")["result"] == 0
    assert harness.cmd(f"closecall {bobbett}")["result"] == 0
    assert len([e for e in harness.events if e.get("msg") == LINE_NEWCALL]) == 2


def test_make_call_digits_transfer_and_drop(running: Callable[..., tuple[Stack, Harness]]) -> None:
    stack, harness = running(originate_line="Local/bob", call_duration=None)
    made = harness.cmd("makecall 0 +1(555)0123")
    request, call = made["request"], made["call"]
    assert made["result"] == request  # async: the request id, completed later
    completion = harness.wait(lambda e: e["ev"] == "ASYNC_COMPLETION" and e["request"] == request)
    assert completion["result"] == 0
    harness.wait(is_state(call, LINECALLSTATE_CONNECTED))
    (originate,) = stack.actions("Originate")
    assert originate.get("Channel") == "Local/bob"
    assert (originate.get("Context"), originate.get("Exten")) == ("outbound", "+15550123")
    info = harness.cmd(f"callinfo {call}")
    assert (info["origin"], info["called"]) == (LINECALLORIGIN_OUTBOUND, "+1(555)0123")

    assert harness.cmd(f"digits {call} 12#")["result"] == 0
    generated = harness.wait(lambda e: e.get("msg") == LINE_GENERATE)
    assert (generated["p1"], generated["p2"]) == (LINEGENERATETERM_DONE, 4242)
    assert [a.get("Digit") for a in stack.actions("PlayDTMF")] == ["1", "2", "#"]

    transfer = harness.cmd(f"transfer {call} 200")
    transferred = harness.wait(
        lambda e: e["ev"] == "ASYNC_COMPLETION" and e["request"] == transfer["request"]
    )
    assert transferred["result"] == 0
    (redirect,) = stack.actions("Redirect")
    assert (redirect.get("Context"), redirect.get("Exten")) == ("transfers", "200")

    drop = harness.cmd(f"drop {call}")
    dropped = harness.wait(
        lambda e: e["ev"] == "ASYNC_COMPLETION" and e["request"] == drop["request"]
    )
    assert dropped["result"] == 0
    (hangup,) = stack.actions("Hangup")
    assert (hangup.get("Channel") or "").startswith("Local/bob-")  # the call's own channel
    harness.wait(is_state(call, LINECALLSTATE_IDLE))
    # The whole life of the call at TAPI: completion first, then exactly these events.
    first = harness.events.index(completion)
    assert all(e.get("call") != call or e["ev"] != "LINEEVENT" for e in harness.events[:first])
    assert harness.line_events(call) == [
        (LINE_CALLSTATE, LINECALLSTATE_CONNECTED),
        (LINE_GENERATE, LINEGENERATETERM_DONE),
        (LINE_CALLSTATE, LINECALLSTATE_IDLE),
    ]
    # The application never sees its own call as a new call.
    assert [e for e in harness.events if e.get("msg") == LINE_NEWCALL] == []
    assert harness.cmd(f"closecall {call}")["result"] == 0


def test_bridge_loss_and_return_are_line_device_states(
    running: Callable[..., tuple[Stack, Harness]],
) -> None:
    stack, harness = running()
    stack.stop_bridge()
    harness.wait(
        lambda e: e.get("msg") == LINE_LINEDEVSTATE and e["p1"] == LINEDEVSTATE_OUTOFSERVICE
    )
    assert harness.cmd("status 0")["flags"] == 0
    made = harness.cmd("makecall 0 100")
    assert made["call"] == -1  # refused synchronously while out of service
    mark = len(harness.events)
    stack.start_bridge()
    harness.wait(
        lambda e: e.get("msg") == LINE_LINEDEVSTATE and e["p1"] == LINEDEVSTATE_INSERVICE, mark
    )
    # (An INSERVICE may precede these: the line can open before the bridge's welcome.)
    seen = harness.line_events()
    lost = seen.index((LINE_LINEDEVSTATE, LINEDEVSTATE_OUTOFSERVICE))
    assert seen[lost:] == [
        (LINE_LINEDEVSTATE, LINEDEVSTATE_OUTOFSERVICE),
        (LINE_LINEDEVSTATE, LINEDEVSTATE_INSERVICE),
    ]


def test_asterisk_loss_and_return_are_line_device_states(
    running: Callable[..., tuple[Stack, Harness]],
) -> None:
    # The AMI link (not the bridge) goes: Asterisk crashes mid-event and comes back.
    stack, harness = running(originate_line="Local/bob")
    mark = len(harness.events)
    stack.call(stack.fake.restart(mid_frame=True, downtime=0.3))
    harness.wait(
        lambda e: e.get("msg") == LINE_LINEDEVSTATE and e["p1"] == LINEDEVSTATE_OUTOFSERVICE, mark
    )
    harness.wait(
        lambda e: e.get("msg") == LINE_LINEDEVSTATE and e["p1"] == LINEDEVSTATE_INSERVICE, mark
    )
    assert [e for e in harness.line_events() if e[0] == LINE_LINEDEVSTATE][-2:] == [
        (LINE_LINEDEVSTATE, LINEDEVSTATE_OUTOFSERVICE),
        (LINE_LINEDEVSTATE, LINEDEVSTATE_INSERVICE),
    ]
    # Back in service for real: a call made now is dialled.
    made = harness.cmd("makecall 0 100")
    completion = harness.wait(
        lambda e: e["ev"] == "ASYNC_COMPLETION" and e["request"] == made["request"]
    )
    assert completion["result"] == 0
    assert len(stack.actions("Originate")) == 1
    # ...and its states reach TAPI (the fake ends it after a moment).
    harness.wait(is_state(made["call"], LINECALLSTATE_CONNECTED))
    harness.wait(is_state(made["call"], LINECALLSTATE_IDLE))


def test_version_negotiation_and_capabilities(
    running: Callable[..., tuple[Stack, Harness]],
) -> None:
    _, harness = running()
    assert harness.cmd("negotiate 0x00020000 0x00030001")["version"] == 0x00020002
    assert harness.cmd("negotiate 0x00010004 0x00020001")["version"] == 0x00020001
    assert (
        harness.cmd("negotiate 0x00030000 0x00030001")["result"] == LINEERR_INCOMPATIBLEAPIVERSION
    )
    assert harness.cmd("devcaps 0 100")["result"] == LINEERR_STRUCTURETOOSMALL
    caps = harness.cmd("devcaps 0 280")  # fits the 2.2 fixed part (268), not the strings
    assert caps["result"] == 0 and caps["needed"] > caps["used"]
    caps = harness.cmd("devcaps 0 1024")
    assert (caps["name"], caps["needed"], caps["string_format"]) == ("Local/bob", caps["used"], 3)
    assert harness.cmd("getid 0")["device"] == 100
    address = harness.cmd("addrcaps 0")
    assert address["address"] == "Local/bob"
    assert address["call_info_states"] & LINECALLINFOSTATE_CALLERID


# The TSPI surface issue 7 asks for, plus what TAPISRV needs to list and add the
# provider (TSPI_lineGetNumAddressIDs, TUISPI_providerInstall/Remove) and what
# Phone and Modem looks for (TSPI_providerInstall/Remove/Config, issue 12).
TSPI_SURFACE = {
    "TSPI_lineNegotiateTSPIVersion",
    "TSPI_providerInit",
    "TSPI_providerShutdown",
    "TSPI_providerEnumDevices",
    "TSPI_providerUIIdentify",
    "TUISPI_providerConfig",
    "TUISPI_providerInstall",
    "TUISPI_providerRemove",
    "TSPI_providerInstall",
    "TSPI_providerRemove",
    "TSPI_providerConfig",
    "TSPI_lineOpen",
    "TSPI_lineClose",
    "TSPI_lineGetDevCaps",
    "TSPI_lineGetAddressCaps",
    "TSPI_lineGetAddressStatus",
    "TSPI_lineGetLineDevStatus",
    "TSPI_lineGetNumAddressIDs",
    "TSPI_lineGetID",
    "TSPI_lineSetStatusMessages",
    "TSPI_lineSetDefaultMediaDetection",
    "TSPI_lineMakeCall",
    "TSPI_lineDrop",
    "TSPI_lineCloseCall",
    "TSPI_lineGetCallInfo",
    "TSPI_lineGetCallStatus",
    "TSPI_lineGetCallAddressID",
    "TSPI_lineBlindTransfer",
    "TSPI_lineGenerateDigits",
}


def test_the_dll_is_64_bit_and_exports_the_tspi_surface_by_name(build: Path) -> None:
    definition = (TSP / "src" / "tapievent.def").read_text(encoding="ascii")
    listed = definition.split("EXPORTS", 1)[1].split()
    assert sorted(listed) == sorted(TSPI_SURFACE)
    dump = subprocess.run(
        ["x86_64-w64-mingw32-objdump", "-p", str(build / "tapievent.tsp")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "file format pei-x86-64" in dump
    table = dump.split("[Ordinal/Name Pointer] Table", 1)[1].split("\n\n", 1)[0]
    # Undecorated names: TAPISRV calls GetProcAddress("TSPI_lineOpen"), not "TSPI_lineOpen@28".
    exported = [line.split("]", 1)[1].strip() for line in table.strip().splitlines()]
    assert sorted(exported) == sorted(TSPI_SURFACE)


def test_docs_registry_commands_configure_the_tsp(build: Path, wine_env: dict[str, str]) -> None:
    ((_, text),) = blocks("tsp.md", "console")
    commands = [line.split() for line in text.splitlines() if line.startswith("reg ")]
    subprocess.run(
        ["wine", "reg", "delete", "HKLM\\Software\\tapievent\\TSP", "/f"],
        env=wine_env,
        capture_output=True,
        check=False,
    )
    for argv in commands:
        argv = [arg.strip('"') for arg in argv]
        done = subprocess.run(["wine", *argv], env=wine_env, capture_output=True, check=False)
        assert done.returncode == 0, argv
    harness = Harness(build, wine_env, [])
    try:
        assert harness.cmd("init")["lines"] == 2
        assert harness.cmd("devcaps 0 1024")["name"] == "PJSIP/bob"
        assert harness.cmd("devcaps 1 1024")["name"] == "PJSIP/alice"
    finally:
        harness.close()


def test_shim_survives_malformed_bridge_messages(build: Path, wine_env: dict[str, str]) -> None:
    """The C reader refuses bad JSON without crashing, then keeps serving good messages."""
    import socket
    import struct

    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    harness = Harness(
        build,
        wine_env,
        [
            "--reg-dword",
            f"BridgePort={port}",
            "--reg-multi",
            "Lines=bob",
            "--reg-dword",
            "ReconnectMs=100",
        ],
    )
    try:
        assert harness.cmd("init")["result"] == 0
        assert harness.cmd("open 0")["result"] == 0
        server.settimeout(TIMEOUT)
        conn, _ = server.accept()
        conn.settimeout(TIMEOUT)

        def send(body: bytes) -> None:
            conn.sendall(struct.pack("<I", len(body)) + body)

        hello_len = struct.unpack("<I", conn.recv(4))[0]
        hello = json.loads(conn.recv(hello_len))
        # The first frame names the protocol version and the TSPI version TAPI got.
        assert (hello["v"], hello["type"], hello["lines"]) == (1, "hello", ["bob"])
        assert hello["tspi_version"] == TSPI_2_2
        for bad in [
            b'{"v":1,"type":"welcome","in_service":true,"x":{"nested":1}}',
            b'{"v":1,"type":"welcome","in_service":true,"x":[1]}',
            b'{"v":1,"type":"welcome","in_service":tru}',
            b'{"v":1,"type":"new_call","call":1,"line":"bob","caller_name":"\\ud800"}',
            b'{"v":1,"type":"new_call","call":1,"line":"bob","caller_name":"a\\u0000b"}',
            b'{"v":1,"type":"new_call","call":99999999999999999999,"line":"bob"}',
            b'{"v":1,"type":"new_call","call":1.5,"line":"bob"}',
            b'{"v":1,"v":1,"type":"welcome","in_service":true}',
            b'{"v":2,"type":"welcome","in_service":true}',
            b'{"v":1,"type":"teleport"}',
            b'{"v":1,"type":"new_call","call":1,"line":"nobody"}',
            b'{"v":1,"type":"call_state","call":77,"state":256}',
            b'{"v":1,"type":"reply","id":12345,"result":0}',
            b"\xff\xfe\x00garbage",
            b'{"v":1,"type":"welcome","in_service":true' + b" " * 40 + b'"',
        ]:
            send(bad)
        send(b'{"v":1,"type":"welcome","in_service":true}')
        send(
            b'{"v":1,"type":"new_call","call":5,"line":"bob","state":2,"mode":1,"media_mode":4,'
            b'"caller_number":"42","caller_name":"Zo\\u00eb \\ud83d\\ude00"}'
        )
        new = harness.wait(lambda e: e.get("msg") == LINE_NEWCALL)
        info = harness.cmd(f"callinfo {new['call']}")
        assert (info["caller_number"], info["caller_name"]) == ("42", "Zo\u00eb \U0001f600")
        # None of the malformed new_calls was taken for a call.
        assert [e for e in harness.events if e.get("msg") == LINE_NEWCALL] == [new]
        # An oversized length ends the connection; the shim reconnects by itself.
        conn.sendall(struct.pack("<I", 1 << 30))
        harness.wait(
            lambda e: e.get("msg") == LINE_LINEDEVSTATE and e["p1"] == LINEDEVSTATE_OUTOFSERVICE
        )
        again, _ = server.accept()
        again.close()
        conn.close()
    finally:
        harness.close()
        server.close()


def test_each_native_source_file_keeps_to_one_job_and_500_lines() -> None:
    """The C provider stays split by job (windows/src/tsp.h lists the files)."""
    sources = sorted((TSP / "src").glob("*.[ch]"))
    header = (TSP / "src" / "tsp.h").read_text(encoding="utf-8")
    makefile = (TSP / "Makefile").read_text(encoding="utf-8")
    for path in sources:
        assert len(path.read_text(encoding="utf-8").splitlines()) <= 500, path.name
        if path.suffix == ".c":
            assert f"src/{path.name}" in makefile, path.name
            assert path.name in header or path.name == "json.c", path.name
