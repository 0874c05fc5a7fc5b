"""Logins, TLS, load and outages against real Asterisk 22 and 18."""

from __future__ import annotations

import asyncio
import ssl
import time

import pytest

from tapievent.model import CallState, LineCallState, LineDevState, LineDevStateFlag, NewCall
from tapievent.transports import AuthenticationError, ReconnectPolicy, blocking
from tapievent.transports.aio import connect

from .calls import Seen, follow
from .kit import CALL_SECRET, CALL_USER, LINES, SECRET, USER, Instance
from .trunk import Trunk

BOB, BOBBETT = LINES
ANSWER = {"bob": "answer", "bobbett": "ring"}


@pytest.mark.parametrize("auth", ["md5", "plain"])
def test_login_failure_is_refused_and_names_no_secret(asterisk: Instance, auth: str) -> None:
    async def run() -> str:
        with pytest.raises(AuthenticationError) as info:
            await connect(
                "127.0.0.1", asterisk.port, username=USER, secret="wrong-secret", auth=auth
            )
        return str(info.value)

    message = asyncio.run(run())
    assert "wrong-secret" not in message


def test_read_call_user_sees_no_tapi_events_but_may_originate(
    asterisk: Instance, trunk: Trunk
) -> None:
    """UserEvent is class 'user': a read=call user gets the channels, not the TAPI
    events, so no call appears on a line; its write=originate still dials."""

    async def run() -> tuple[list[object], bool]:
        async with connect(
            "127.0.0.1", asterisk.port, username=CALL_USER, secret=CALL_SECRET, lines=LINES,
            reconnect=False,
        ) as client:  # fmt: skip
            trunk.call("<0601>", phones=ANSWER)
            seen = await follow(client, 1, timeout=5)
            handle = await client.make_call(BOB, "5551234", context="tapi-outbound", channel=BOB)
            return [*seen.other, *seen.calls.values()], handle.action_id is not None

    events, originated = asyncio.run(run())
    assert not [e for e in events if isinstance(e, NewCall)]
    assert originated
    assert asterisk.wait_no_channels() == []


def test_ami_over_tls(asterisk: Instance, trunk: Trunk) -> None:
    context = ssl.create_default_context(cafile=str(asterisk.cert))

    async def run() -> Seen:
        async with connect(
            "127.0.0.1", asterisk.tls_port, username=USER, secret=SECRET, lines=LINES,
            ssl=context, reconnect=False,
        ) as client:  # fmt: skip
            trunk.call('"Over TLS" <0701>', phones=ANSWER)
            return await follow(client, 1, timeout=15)

    (call,) = asyncio.run(run()).calls.values()
    assert call.states(BOB) == ["OFFERING", "CONNECTED", "IDLE"]


def test_ami_over_tls_refuses_an_untrusted_certificate(asterisk: Instance) -> None:
    async def run() -> None:
        await connect(
            "127.0.0.1", asterisk.tls_port, username=USER, secret=SECRET,
            ssl=ssl.create_default_context(), reconnect=False,
        )  # fmt: skip

    with pytest.raises(ssl.SSLError):
        asyncio.run(run())


def test_fifty_concurrent_calls_none_leaked(asterisk: Instance, trunk: Trunk) -> None:
    count = 50

    async def run() -> tuple[Seen, int, int]:
        async with connect(
            "127.0.0.1", asterisk.port, username=USER, secret=SECRET, lines=LINES,
            reconnect=False,
        ) as client:  # fmt: skip
            for i in range(count):
                trunk.call(f"<08{i:02d}>", phones=ANSWER)
            seen = await follow(client, count, timeout=90)
            return seen, client.tracker.call_count, client.dropped_events

    seen, left, dropped = asyncio.run(run())
    assert len(seen.calls) == count
    for call in seen.calls.values():
        assert call.states(BOB) == ["OFFERING", "CONNECTED", "IDLE"], call
        assert call.states(BOBBETT) == ["OFFERING", "DISCONNECTED", "IDLE"], call
    assert left == 0 and dropped == 0
    assert asterisk.wait_no_channels(30) == []


def _restart_test(asterisk: Instance, trunk: Trunk, stop: str) -> list[object]:
    """A call is up; Asterisk goes away (``stop``) and comes back."""
    policy = ReconnectPolicy(initial_delay=0.2, max_delay=0.5, jitter=0.0)
    timeline: list[object] = []

    async def run() -> int:
        async with connect(
            "127.0.0.1", asterisk.port, username=USER, secret=SECRET, lines=LINES,
            reconnect=policy, keepalive_interval=1.0, keepalive_timeout=1.0,
        ) as client:  # fmt: skip
            trunk.call("<0901>", phones=ANSWER, variables={"__TALK": "30"})
            events = client.events().__aiter__()
            deadline = time.monotonic() + 40
            restarted = False
            back: set[str | None] = set()
            while time.monotonic() < deadline and back != set(LINES):
                event = await asyncio.wait_for(events.__anext__(), 20)
                timeline.append(event)
                if isinstance(event, CallState) and event.state is LineCallState.CONNECTED:
                    await asyncio.to_thread(asterisk.kill_hard if stop == "kill" else asterisk.stop)
                    await asyncio.to_thread(asterisk.start)
                    restarted = True
                if (
                    restarted
                    and isinstance(event, LineDevState)
                    and event.state is LineDevStateFlag.INSERVICE
                ):
                    back.add(event.line)
            return client.tracker.call_count

    left = asyncio.run(run())
    assert left == 0
    assert asterisk.wait_no_channels() == []
    return timeline


def _shape(timeline: list[object]) -> list[str]:
    out = []
    for e in timeline:
        if isinstance(e, LineDevState):
            out.append(f"{e.state.name} {e.line}")
        elif isinstance(e, CallState):
            out.append(f"{e.state.name} {e.line}{' synthesized' if e.synthesized else ''}")
    return out


def test_asterisk_killed_mid_call_then_started(asterisk: Instance, trunk: Trunk) -> None:
    shape = _shape(_restart_test(asterisk, trunk, "kill"))
    # bobbett was answered elsewhere and is done; bob talks when the server dies:
    # every line goes out of service, the reconcile after the reconnect finds
    # the call gone (a synthesized IDLE), then every line is in service again.
    assert shape == [
        f"OFFERING {BOB}",
        f"OFFERING {BOBBETT}",
        f"CONNECTED {BOB}",
        f"DISCONNECTED {BOBBETT}",
        f"IDLE {BOBBETT}",
        f"OUTOFSERVICE {BOB}",
        f"OUTOFSERVICE {BOBBETT}",
        f"IDLE {BOB} synthesized",
        f"INSERVICE {BOB}",
        f"INSERVICE {BOBBETT}",
    ]


def test_asterisk_restarted_gracefully_mid_call(asterisk: Instance, trunk: Trunk) -> None:
    shape = _shape(_restart_test(asterisk, trunk, "stop"))
    # 'core stop now' hangs the call up first: the dialplan's own IDLE arrives
    # before the connection closes, nothing is left to reconcile.
    assert shape == [
        f"OFFERING {BOB}",
        f"OFFERING {BOBBETT}",
        f"CONNECTED {BOB}",
        f"DISCONNECTED {BOBBETT}",
        f"IDLE {BOBBETT}",
        f"IDLE {BOB}",
        f"OUTOFSERVICE {BOB}",
        f"OUTOFSERVICE {BOBBETT}",
        f"INSERVICE {BOB}",
        f"INSERVICE {BOBBETT}",
    ]


def test_blocking_client_follows_a_call(asterisk: Instance, trunk: Trunk) -> None:
    with blocking.connect(
        "127.0.0.1", asterisk.port, username=USER, secret=SECRET, lines=LINES, reconnect=False
    ) as client:
        trunk.call('"Blocking" <1001>', phones={"bob": "ring", "bobbett": "answer"})
        seen = Seen()
        deadline = time.monotonic() + 15
        while not seen.finished(1) and time.monotonic() < deadline:
            event = client.get_event(timeout=1)
            if event is not None:
                seen.add(event)
    (call,) = seen.calls.values()
    assert call.states(BOBBETT) == ["OFFERING", "CONNECTED", "IDLE"]
    assert call.states(BOB) == ["OFFERING", "DISCONNECTED", "IDLE"]
