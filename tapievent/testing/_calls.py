"""The fake server's calls: :class:`FakeCall` and the loop that plays a call script.

Kept apart from the server (:mod:`._server`) and its answers to actions
(:mod:`._answers`), which both start calls: the model (:mod:`._pbx`)
writes a call as a script of steps -- send these events, wait this long,
tell the caller the call is held -- and :func:`drive` carries the steps out
on the event loop, cutting a wait short when a Hangup asks the call to end.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import attrs

from ..ami_codec import Message
from ._pbx import Call, Emit, Held, Script, Wait

__all__ = ["FakeCall", "drive"]


@attrs.define(eq=False)
class FakeCall(Call):
    """A call the fake server is running (inbound or originated).

    ``unique_id`` is the call key a TAPI client tracks: the Uniqueid of the
    channel running the dialplan that raised LINE_NEWCALL. ``ended`` is set
    when its last event is sent; ``hangup_requested`` when a Hangup action
    (or :meth:`~tapievent.testing.FakeAsterisk.hangup_call`) asks it to end.
    """

    ended: asyncio.Event = attrs.field(factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    hangup_requested: asyncio.Event = attrs.field(factory=asyncio.Event)


async def drive(
    call: FakeCall,
    script: Script,
    broadcast: Callable[[Message], None],
    held: asyncio.Event | None = None,
) -> None:
    """Carry out a call script of the model: send its events, do its waits."""
    try:
        step = next(script)
        while True:
            if isinstance(step, Emit):
                broadcast(step.message)
            elif isinstance(step, Wait):
                await _wait_or_hangup(call, step.seconds)
            elif held is not None:
                assert isinstance(step, Held)
                held.set()
            step = script.send(call.hangup_requested.is_set())
    except StopIteration:
        pass
    finally:
        script.close()  # cancelled mid-call: the model forgets the call
        call.ended.set()
        if held is not None:
            held.set()


async def _wait_or_hangup(call: FakeCall, seconds: float | None) -> None:
    """Sleep ``seconds`` (None: forever) unless a Hangup action ends the call first."""
    if seconds == 0:
        await asyncio.sleep(0)
        return
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(call.hangup_requested.wait(), seconds)
