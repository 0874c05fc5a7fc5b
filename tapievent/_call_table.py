"""The tracked calls and who gets their events (protocol.md section 4).

Theory of operation
===================

One record per call key (the Asterisk unique id). A record holds the lines
the call is on, in the order their NEWCALLs arrived, the last state
delivered to each, the caller id, the origin and the channel name. It is
slotted and flat (two parallel tuples instead of a dict per call) because a
CTI server may track 100k of them.

Delivery: a command's events go to the call's lines, narrowed to the lines
the spec includes (if it names any), minus the lines it excludes, in the
call's order (:func:`delivery`). An IDLE detaches the delivered lines; a
call with no line left is forgotten.

No call is ever leaked. Three ways end a call the dialplan did not end, and
each emits a diagnostic, then a synthesized IDLE per remaining line
(:meth:`CallTable.end`): the AMI ``Hangup`` (``missing-idle``), the
reconcile after a reconnect (``stale-call``) and the ``max_calls`` bound,
which evicts the call created first (``call-evicted``).

The channel name of a call may be unknown for a while (Asterisk 1.4-11
UserEvents name no channel); :attr:`CallTable.channel_unknown` counts those
calls so that ordinary channel events pay for a ``Uniqueid`` lookup only
while the count is not zero.

A failed UserEvent leaves no event of its own (Asterisk 12+ drop one whose
argument is not UTF-8, and hang up), only the ``Newexten`` published before
it ran. A call remembers that Newexten until its UserEvent arrives; the
channel's next Newexten or its Hangup first gives ``userevent-failed``
(:meth:`CallTable.on_newexten`). ``app_running`` counts the calls waiting
so, for the same reason as ``channel_unknown``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final

import attrs

from ._diagnostics import DiagnosticCode
from .ami_codec import Message
from .model import (
    CallerId,
    CallState,
    Diagnostic,
    LineCallOrigin,
    LineCallState,
    OutputEvent,
    TargetSpec,
)

__all__ = ["Call", "CallTable", "TrackedCall", "delivery"]

# An Asterisk 12+ snapshot says this for a caller id part it does not have.
_UNKNOWN_ID: Final = frozenset({"", "<unknown>"})


@attrs.frozen(slots=True)
class TrackedCall:
    """A frozen view of one tracked call, for monitors and tests.

    ``lines`` are in the order their NEWCALLs arrived; ``states`` holds the
    last state delivered to each of them (None before the first CALLSTATE).
    ``action_id`` is the ActionID of the ``make_call`` that originated the
    call, or None.
    """

    call_key: str
    lines: tuple[str, ...]
    states: tuple[LineCallState | None, ...]
    caller_id: CallerId | None
    origin: LineCallOrigin
    channel: str | None
    action_id: str | None = None

    def state_of(self, line: str) -> LineCallState | None:
        """The last state delivered to ``line`` (None if none yet or not on the call)."""
        for name, state in zip(self.lines, self.states, strict=True):
            if name == line:
                return state
        return None


class Call:
    """One tracked call (slotted and flat: a CTI server may track 100k)."""

    __slots__ = (
        "action_id",
        "app_frame",
        "caller_id",
        "channel",
        "key",
        "lines",
        "origin",
        "snapshot_id",
        "states",
    )

    def __init__(self, key: str) -> None:
        self.key = key
        self.lines: tuple[str, ...] = ()
        self.states: tuple[LineCallState | None, ...] = ()
        self.caller_id: CallerId | None = None
        self.origin = LineCallOrigin.UNKNOWN
        self.channel: str | None = None
        self.action_id: str | None = None
        # The caller id of the NEWCALL's channel snapshot (12+), given to the
        # lines only if the call's next command is not SET CALLERID.
        self.snapshot_id: CallerId | None = None
        # The Newexten of a UserEvent now running on the call's own channel,
        # until its UserEvent arrives (a failed one never does).
        self.app_frame: Message | None = None


def delivery(call: Call, spec: TargetSpec) -> tuple[str, ...]:
    """The lines of ``call`` a command with ``spec`` reaches, in the call's order."""
    lines = call.lines
    if spec.include:
        lines = tuple(line for line in lines if line in spec.include)
    if spec.exclude:
        lines = tuple(line for line in lines if line not in spec.exclude)
    return lines


def snapshot_caller_id(message: Message) -> CallerId | None:
    """The caller id of a 12+ channel snapshot (``CallerIDNum``/``CallerIDName``), if any.

    ``<unknown>`` is Asterisk's word for "absent". A number that a
    :class:`CallerId` cannot hold (``<`` or ``>`` in it) is left out rather
    than guessed at.
    """
    number = _snapshot_value(message, "CallerIDNum")
    name = _snapshot_value(message, "CallerIDName")
    if number is not None and ("<" in number or ">" in number):
        number = None
    if number is None and name is None:
        return None
    return CallerId(name, number)


def _snapshot_value(message: Message, name: str) -> str | None:
    # A caller id part, or None for "absent". No AMI value holds CR or LF, but
    # a hostile peer may send NUL, which a CallerId refuses: dropped, as
    # CallerId.parse drops it.
    value = message.get(name)
    if value is None:
        return None
    value = value.replace("\0", "")
    return None if value in _UNKNOWN_ID else value


class CallTable:
    """The tracked calls of one tracker, oldest first, bounded by ``max_calls``."""

    __slots__ = ("app_running", "calls", "channel_unknown", "max_calls", "on_forget")

    def __init__(self, max_calls: int, on_forget: Callable[[str], None]) -> None:
        self.calls: dict[str, Call] = {}
        self.max_calls = max_calls
        self.channel_unknown = 0
        # Calls whose app_frame is set: UserEvents pay for a lookup only then.
        self.app_running = 0
        # Told the ActionID of every forgotten originated call.
        self.on_forget = on_forget

    def get(self, key: str) -> Call | None:
        """The tracked call with this key, if any."""
        return self.calls.get(key)

    def snapshot(self) -> tuple[TrackedCall, ...]:
        """Every tracked call as a frozen value, oldest first."""
        return tuple(
            TrackedCall(c.key, c.lines, c.states, c.caller_id, c.origin, c.channel, c.action_id)
            for c in self.calls.values()
        )

    def new_call(self, key: str, out: list[OutputEvent]) -> Call:
        """Track a new call, evicting the oldest when ``max_calls`` are tracked."""
        if len(self.calls) >= self.max_calls:
            oldest = self.calls[next(iter(self.calls))]
            self.end(
                oldest,
                out,
                DiagnosticCode.CALL_EVICTED,
                f"call {oldest.key} evicted: max_calls={self.max_calls} calls are tracked; "
                "its lines get a synthesized IDLE",
            )
        call = Call(key)
        self.calls[key] = call
        return call

    def set_channel(self, call: Call, channel: str | None) -> None:
        """Record the channel name of a call (counting the calls without one)."""
        if channel:
            if call.channel is None:
                self.channel_unknown -= 1
            call.channel = channel

    @staticmethod
    def set_states(call: Call, targets: tuple[str, ...], state: LineCallState) -> None:
        """The last state delivered to each of ``targets`` is now ``state``."""
        if targets:
            call.states = tuple(
                state if line in targets else old
                for line, old in zip(call.lines, call.states, strict=True)
            )

    def detach(self, call: Call, targets: tuple[str, ...]) -> None:
        """``targets`` leave the call (their IDLE was delivered); forget it when empty."""
        if not targets:
            return
        pairs = zip(call.lines, call.states, strict=True)
        kept = [(line, s) for line, s in pairs if line not in targets]
        if kept:
            call.lines = tuple(line for line, _ in kept)
            call.states = tuple(s for _, s in kept)
        else:
            self.forget(call)

    def forget(self, call: Call) -> None:
        """Drop the call and every count and index that refers to it."""
        del self.calls[call.key]
        if call.channel is None:
            self.channel_unknown -= 1
        if call.app_frame is not None:
            self.app_running -= 1
        if call.action_id is not None:
            self.on_forget(call.action_id)

    def end(
        self,
        call: Call,
        out: list[OutputEvent],
        code: DiagnosticCode,
        message: str,
        frame: Message | None = None,
    ) -> None:
        """Synthesized end of a call: a diagnostic saying why, then IDLE per line."""
        out.append(Diagnostic(code, message, call.key, frame))
        for line in call.lines:
            out.append(CallState(line, call.key, LineCallState.IDLE, synthesized=True))
        self.forget(call)

    def not_live(self, live: Iterable[str]) -> list[Call]:
        """The tracked calls whose key is not in ``live``, oldest first."""
        alive = frozenset(live)
        return [c for k, c in self.calls.items() if k not in alive]

    def learn_channel(self, message: Message) -> None:
        """Asterisk 1.4-11 UserEvents name no channel; the call's own later events do."""
        uid = message.get("Uniqueid")
        call = None if uid is None else self.calls.get(uid)
        if call is not None and call.channel is None:
            self.set_channel(call, message.get("Channel"))

    def app_started(self, call: Call, frame: Message | None) -> Message | None:
        """Note (or clear, with None) the UserEvent running on the call; return the previous."""
        previous = call.app_frame
        if previous is None and frame is not None:
            self.app_running += 1
        elif previous is not None and frame is None:
            self.app_running -= 1
        call.app_frame = frame
        return previous

    # ------------------------------------------------------------------ failed UserEvents

    def on_newexten(self, message: Message) -> list[OutputEvent]:
        """A ``Newexten``: note a UserEvent starting on a call's own channel.

        Asterisk 12+ hang up a channel whose UserEvent cannot build its JSON
        blob (an argument that is not UTF-8): the Newexten of that UserEvent
        is the last sign of it. It is remembered on the call until the
        UserEvent itself arrives; the next Newexten (the ``h`` extension) or
        the Hangup of the channel before that means it failed.
        """
        app = message.get("Application")
        starts = app == "UserEvent" or (app is not None and app.strip().lower() == "userevent")
        if not starts and not self.app_running:
            return []
        uid = message.get("Uniqueid")
        call = None if uid is None else self.calls.get(uid)
        if call is None:
            return []
        out: list[OutputEvent] = []
        self.check_user_event(call, out)
        if starts:
            self.app_started(call, message)
        return out

    def user_event_arrived(self, message: Message) -> None:
        """A UserEvent of the call's channel: the one its Newexten announced worked."""
        uid = message.get("Uniqueid")
        call = None if uid is None else self.calls.get(uid)
        if call is not None and call.app_frame is not None:
            self.app_started(call, None)

    def check_user_event(self, call: Call, out: list[OutputEvent]) -> None:
        """The channel moved on without the announced UserEvent: say it failed, and why."""
        frame = call.app_frame
        if frame is None:
            return
        self.app_started(call, None)
        data = frame.get("AppData") or ""
        where = f"{frame.get('Context')},{frame.get('Extension')},{frame.get('Priority')}"
        why = (
            "its argument is not valid UTF-8 (Asterisk 12+ hang up the channel then)"
            if not _is_utf8(data)
            else "no UserEvent followed its Newexten"
        )
        text = (
            f"call {call.key}: the UserEvent at {where} failed: {why}; guard caller data "
            "(e.g. TryExec around the caller-id event) so the call survives"
        )
        out.append(Diagnostic(DiagnosticCode.USEREVENT_FAILED, text, call.key, frame))


def _is_utf8(text: str) -> bool:
    # The codec decodes with surrogateescape: bytes that are not UTF-8 come
    # back as lone surrogates, which is what Asterisk's JSON refuses.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
