"""The call tracker: TAPIEVENT commands and AMI call events in, TAPI line events out.

Theory of operation
-------------------
Asterisk knows calls by channel unique id; TAPI knows them per line. The
dialplan bridges the two with ``UserEvent(TAPI,TAPIEVENT: ...)``: a call
appears on a line with ``LINE_NEWCALL``, changes state with
``LINE_CALLSTATE`` and leaves the line with ``LINECALLSTATE_IDLE``
(protocol.md section 4). The tracker keeps, per call key (the unique id),
the lines the call is on, the last state per line, the caller id, the
origin and the channel name, and turns each command into the
:mod:`tapievent.model` output events in order.

Dialplans forget things, and connections drop, so three mechanisms make sure
no call is ever leaked: the AMI ``Hangup`` of a tracked call ends it (the
*safety net*), :meth:`CallTracker.reconcile` ends every call that is not live
after a reconnect, and at most ``max_calls`` calls are tracked (the oldest is
evicted). Each of them emits a synthesized IDLE per remaining line and a
diagnostic, so the application's view and the author's log both stay honest.

Calls the application makes (:meth:`CallTracker.make_call`) must not come
back as new calls (protocol.md section 5). The tracker therefore learns the
originated channel's unique id *before* the dialplan's NEWCALL can arrive:
from ``ChannelId`` (ids the tracker chose itself, Asterisk 12.2+) or from the
``VarSet`` of a channel variable (older versions). Until the NEWCALL decides,
an originate is a *pending* record indexed by every id that may become its
call key.

Rule 1: everything that changes what the tracker knows lives in this module's
:class:`CallTracker`, and every transition is one method named after the
command or AMI event that causes it (the two tables ``_COMMANDS`` and
``_AMI_EVENTS``). There is no clock and no I/O; the work per message is a
bounded number of dictionary operations, so a replay gives the same events
every time.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from typing import Final

import attrs

from . import grammar
from ._errors import LocalProtocolError
from .ami_codec import Action, Banner, Message
from .session import ActionResult
from .model import (
    CallerId,
    CallInfo,
    CallState,
    CallStateCommand,
    Diagnostic,
    ExtractedEvent,
    HangupCommand,
    LineCallInfoState,
    LineCallOrigin,
    LineCallState,
    LineDisconnectMode,
    NewCall,
    NewCallCommand,
    OutputEvent,
    SetCallerIdCommand,
    TargetSpec,
    UnknownCommand,
)

__all__ = [
    "CALL_EVICTED",
    "DUPLICATE_NEWCALL",
    "MISSING_IDLE",
    "MISSING_NEWCALL",
    "NO_CALL_KEY",
    "ORIGINATE_NOT_FILTERED",
    "ORIGINATE_REFUSED",
    "ORIGINATE_VARIABLE",
    "STALE_CALL",
    "TOO_MANY_LINES",
    "UNKNOWN_COMMAND",
    "UNTRACKED_CALL",
    "CallHandle",
    "CallTracker",
    "TrackedCall",
]

# --------------------------------------------------------------------------- diagnostic codes

DUPLICATE_NEWCALL: Final = "duplicate-newcall"
"""A second ``LINE_NEWCALL`` for a line already on the call; nothing changes."""
UNTRACKED_CALL: Final = "untracked-call"
"""A command addressed a call key the tracker does not know."""
NO_CALL_KEY: Final = "no-call-key"
"""A command had no call key (Asterisk 1.4-1.8 event without ``[~${UNIQUEID}]``)."""
UNKNOWN_COMMAND: Final = "unknown-command"
"""A command word the tracker does not implement (reported once per word)."""
MISSING_IDLE: Final = "missing-idle"
"""A tracked call hung up while lines were still on it: the dialplan lacks its IDLE."""
CALL_EVICTED: Final = "call-evicted"
"""``max_calls`` was reached; the oldest call was ended to make room."""
STALE_CALL: Final = "stale-call"
""":meth:`CallTracker.reconcile` found a tracked call that is no longer live."""
MISSING_NEWCALL: Final = "missing-newcall"
"""A call made with ``make_call`` ended without the dialplan ever raising its NEWCALL."""
ORIGINATE_NOT_FILTERED: Final = "originate-not-filtered"
"""The NEWCALL of a ``make_call`` call arrived before its unique id could be known,
so it was reported as a new call."""
ORIGINATE_REFUSED: Final = "originate-refused"
"""Asterisk answered a ``make_call`` Originate with ``Response: Error``."""
TOO_MANY_LINES: Final = "too-many-lines"
"""A NEWCALL would put more than ``max_lines_per_call`` lines on one call."""

ORIGINATE_VARIABLE: Final = "TAPIEVENT_ORIGINATE"
"""Channel variable set on an Originate when ``ChannelId`` cannot be used.

Its ``VarSet`` event carries the value the tracker chose together with the
new channel's ``Uniqueid``, which is how the call key is learned early.
"""

_MIN_CHANNEL_ID_AMI: Final = (2, 5, 0)
# ChannelId/OtherChannelId exist from Asterisk 12.2. The AMI banner only says
# "2.x" for 12.0-13.x and nothing in ami-versions.md ties a 2.x value to 12.2,
# but 2.5.0 is 13.0 (or a late 12 release, which is past 12.2): from there on
# ChannelId is certain. Older or unknown servers use the VarSet path, which
# works on every version.

_MAX_ID_PREFIX: Final = 100
# Asterisk keeps at most 149 characters of a caller-assigned unique id
# (AST_MAX_PUBLIC_UNIQUEID); prefix + "-" + counter + "-2" stays far below.

_MAX_CANDIDATES: Final = 4
# An originate yields one channel, or two for a Local channel (;1 and ;2), plus
# the OriginateResponse's Uniqueid. Four is room for all with a margin, and a
# hard bound however many VarSets a hostile dialplan produces.

_MAX_UNKNOWN_WORDS: Final = 256
# The set behind "unknown-command once per word" is cleared when it reaches
# this size, so caller-controlled words cannot grow it without bound.

_NO_ID: Final = frozenset({"", "<unknown>", "<null>"})
# What Asterisk puts in Uniqueid when a failed originate has no channel
# (<null> up to 11.21/13.7, <unknown> after; captures 09).

# OriginateResponse "Reason" (the last control frame, frame.h) -> TAPI mode.
_REASON_MODE: Final[Mapping[str, LineDisconnectMode]] = {
    "0": LineDisconnectMode.UNAVAIL,  # no such extension, failed, congested leg
    "1": LineDisconnectMode.REJECT,  # the far end hung up before answering
    "3": LineDisconnectMode.NOANSWER,  # still ringing at Timeout
    "5": LineDisconnectMode.BUSY,
    "8": LineDisconnectMode.CONGESTION,
}

_DTMF: Final = frozenset("0123456789*#ABCDabcd")


# --------------------------------------------------------------------------- public values


@attrs.frozen(slots=True)
class CallHandle:
    """The application's reference to a call it made with :meth:`CallTracker.make_call`.

    ``action_id`` is the Originate's ActionID (the only thing that ties the
    broadcast ``OriginateResponse`` to this call). ``origination_id`` is the id
    the tracker chose for the call: the ``ChannelId`` on Asterisk 12.2+ (where
    it *is* the call key), else the value of the ``TAPIEVENT_ORIGINATE``
    variable. Events for a call whose unique id was never learned (a failed
    originate) carry ``origination_id`` as their call key. ``channel_id`` is
    None when the variable path was used.
    """

    action_id: str
    line: str
    origination_id: str
    channel_id: str | None = None
    other_channel_id: str | None = None


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


# --------------------------------------------------------------------------- private state


class _Call:
    # One tracked call. Slotted and flat (two parallel tuples instead of a
    # dict per call) because a CTI server may track 100k of these.
    __slots__ = ("action_id", "caller_id", "channel", "key", "lines", "origin", "states")

    def __init__(self, key: str) -> None:
        self.key = key
        self.lines: tuple[str, ...] = ()
        self.states: tuple[LineCallState | None, ...] = ()
        self.caller_id: CallerId | None = None
        self.origin = LineCallOrigin.UNKNOWN
        self.channel: str | None = None
        self.action_id: str | None = None


class _Originate:
    # A make_call whose OriginateResponse has not arrived, or whose NEWCALL has
    # not decided the call key yet. Freed when both are settled.
    __slots__ = (
        "action_id",
        "candidates",
        "channel",
        "channel_id",
        "key",
        "line",
        "origination_id",
        "other_channel_id",
        "responded",
    )

    def __init__(
        self,
        action_id: str,
        line: str,
        origination_id: str,
        channel_id: str | None,
        other_channel_id: str | None,
    ) -> None:
        self.action_id = action_id
        self.line = line
        self.origination_id = origination_id
        self.channel_id = channel_id
        self.other_channel_id = other_channel_id
        self.candidates: tuple[str, ...] = ()
        self.channel: str | None = None
        self.key: str | None = None
        self.responded = False


# --------------------------------------------------------------------------- the tracker


class CallTracker:
    """Tracks calls by Asterisk unique id and emits TAPI line events.

    ``lines`` is the set of line names this tracker serves (a workstation's
    TSP serves its own lines); ``None`` serves every line (a CTI server).
    Events for lines it does not serve are ignored silently. ``max_calls``
    bounds the tracked calls and the pending originates (each separately);
    ``id_prefix`` starts every ActionID and ChannelId the tracker generates
    and must be unique per AMI client (see docs/tracker.md).

    Feed it every frame the decoder produces with :meth:`handle`; it returns
    the output events of :mod:`tapievent.model` in order. It never raises on
    anything the server sends.
    """

    def __init__(
        self,
        lines: Iterable[str] | None = None,
        *,
        max_calls: int = 10_000,
        id_prefix: str = "tapievent",
        max_lines_per_call: int = 64,
    ) -> None:
        if max_calls < 1:
            raise ValueError(f"max_calls must be at least 1, got {max_calls}")
        if max_lines_per_call < 1:
            raise ValueError(f"max_lines_per_call must be at least 1, got {max_lines_per_call}")
        if not id_prefix or len(id_prefix) > _MAX_ID_PREFIX or not id_prefix.isprintable():
            raise ValueError(
                f"id_prefix must be 1-{_MAX_ID_PREFIX} printable characters, got {id_prefix!r}"
            )
        if any(c.isspace() or c in ";&[]~!" for c in id_prefix):
            raise ValueError(
                f"id_prefix {id_prefix!r} must not contain blanks or any of ; & [ ] ~ ! "
                "(it becomes a unique id that the dialplan writes into [~...] specs)"
            )
        self._lines: frozenset[str] | None = None if lines is None else frozenset(lines)
        self._max_calls = max_calls
        self._max_lines = max_lines_per_call
        self._id_prefix = id_prefix
        self._counter = itertools.count(1)
        self._version: tuple[int, ...] | None = None
        self._calls: dict[str, _Call] = {}
        self._pending: dict[str, _Originate] = {}
        self._by_candidate: dict[str, _Originate] = {}
        self._by_origination: dict[str, _Originate] = {}
        # ActionID -> call key of originated calls whose NEWCALL attached them
        # (an entry lives exactly as long as its call, so it is bounded too).
        self._settled: dict[str, str] = {}
        self._unknown_words: set[str] = set()
        # Calls whose channel name is not known yet (1.4-11 UserEvents carry
        # no Channel header). Only while it is non-zero do ordinary channel
        # events pay for a Uniqueid lookup.
        self._channel_unknown = 0

    # ------------------------------------------------------------------ inspection

    @property
    def lines(self) -> frozenset[str] | None:
        """The served lines, or None for every line."""
        return self._lines

    @property
    def server_version(self) -> tuple[int, ...] | None:
        """The AMI version from the banner (e.g. ``(11, 0, 0)`` for Asterisk 22), if seen."""
        return self._version

    @property
    def call_count(self) -> int:
        """How many calls are tracked now."""
        return len(self._calls)

    @property
    def pending_count(self) -> int:
        """How many ``make_call`` originates are still waiting for their response or NEWCALL."""
        return len(self._pending)

    def snapshot(self) -> tuple[TrackedCall, ...]:
        """Every tracked call as a frozen value, oldest first."""
        return tuple(
            TrackedCall(
                call_key=c.key,
                lines=c.lines,
                states=c.states,
                caller_id=c.caller_id,
                origin=c.origin,
                channel=c.channel,
                action_id=c.action_id,
            )
            for c in self._calls.values()
        )

    def call_key_of(self, handle: CallHandle) -> str | None:
        """The unique id of the call ``handle`` made, once known; None before or after.

        On the ChannelId path the key is known as soon as the Originate is
        made; on the variable path it is decided by the dialplan's NEWCALL (or
        the OriginateResponse). After the call ended it is None again.
        """
        pending = self._pending.get(handle.action_id)
        if pending is not None:
            return pending.key if pending.key is not None else pending.channel_id
        key = self._settled.get(handle.action_id)
        return key if key is not None and key in self._calls else None

    def handle_of(self, call_key: str) -> str | None:
        """The ActionID of the ``make_call`` that originated ``call_key``, if any."""
        call = self._calls.get(call_key)
        return None if call is None else call.action_id

    # ------------------------------------------------------------------ input

    def handle(self, frame: Banner | Message) -> list[OutputEvent]:
        """Process one decoded frame; return the output events it causes, in order.

        The banner records the AMI version (it decides how ``make_call``
        marks its calls). TAPI UserEvents go through :func:`grammar.extract_tapievent`;
        ``Hangup``, ``OriginateResponse``, ``VarSet``, ``Newchannel`` and
        ``Rename`` feed the safety net and the originate bookkeeping; every
        other message is ignored at the cost of two dictionary lookups.
        """
        if isinstance(frame, Banner):
            self._version = frame.version
            return []
        # Message.get answers from the frame's bytes without splitting every
        # header, which is what keeps ignoring most of the stream cheap: one
        # header lookup and one dictionary lookup per uninteresting event.
        name = frame.get("Event")
        if name is None:
            return self._on_response(frame) if self._pending else []
        method = _DISPATCH.get(name, _unresolved)
        if method is _unresolved:
            method = _resolve(name)
        if method is None:
            return []
        return method(self, frame)

    def handle_action_result(self, result: ActionResult) -> list[OutputEvent]:
        """Process the complete answer to an action; return the output events it causes.

        The one door through which action results reach the tracker, the same
        in every runtime: whoever owns the session hands it every
        :class:`~tapievent.session.ActionResult`. Only the answers to actions
        this tracker built matter (an Originate refused outright gets no
        ``OriginateResponse`` event, so its handle ends here); others give
        nothing.
        """
        return self._on_response(result.response) if self._pending else []

    def handle_tapi(self, event: ExtractedEvent) -> list[OutputEvent]:
        """Apply one extracted TAPI event (protocol.md section 4); return the output events.

        This is the core :meth:`handle` calls for TAPI UserEvents; it is public
        so that tests and other front ends can drive the tracker with values.
        The extractor's own diagnostics come first in the result.
        """
        out: list[OutputEvent] = list(event.diagnostics) if event.diagnostics else []
        command = event.event.command
        method = _COMMANDS.get(type(command), CallTracker._cmd_unknown)
        method(self, event, out)
        return out

    # ------------------------------------------------------------------ TAPI commands

    def _serves(self, line: str) -> bool:
        return self._lines is None or line in self._lines

    def _spec_is_ours(self, spec: TargetSpec) -> bool:
        # Whether a diagnostic about an untracked/unkeyed call concerns this
        # tracker. A workstation tracker sees every other workstation's calls
        # go by; it only speaks up when the spec names one of its lines.
        if self._lines is None:
            return True
        return any(line in self._lines for line in spec.include)

    def _cmd_newcall(self, event: ExtractedEvent, out: list[OutputEvent]) -> None:
        command = event.event.command
        assert isinstance(command, NewCallCommand)
        line = command.line
        if not self._serves(line):
            return
        key = event.call_key
        if key is None:
            out.append(self._no_key(event))
            return
        call = self._calls.get(key)
        if call is not None and line in call.lines:
            out.append(
                Diagnostic(
                    DUPLICATE_NEWCALL,
                    f"LINE_NEWCALL {line} repeated for call {key}: the line is already on it",
                    key,
                    event.frame,
                )
            )
            return
        if call is not None and len(call.lines) >= self._max_lines:
            out.append(
                Diagnostic(
                    TOO_MANY_LINES,
                    f"LINE_NEWCALL {line} ignored: call {key} already has "
                    f"{len(call.lines)} lines (max_lines_per_call)",
                    key,
                    event.frame,
                )
            )
            return
        pending = self._by_candidate.get(key)
        ours = pending is not None and pending.key is None and pending.line == line
        if call is None:
            call = self._new_call(key, out)
            if event.key_source == "header":
                # The UserEvent ran on the call's own channel (Uniqueid == key),
                # so its Channel header (1.2, 12+) names the channel to hang up.
                call.channel = event.frame.get("Channel")
            if call.channel is None:
                self._channel_unknown += 1
        call.lines += (line,)
        call.states += (None,)
        if ours:
            assert pending is not None
            self._attach(pending, call)
        else:
            out.append(NewCall(line, key, LineCallOrigin.UNKNOWN, call.caller_id))

    def _cmd_callstate(self, event: ExtractedEvent, out: list[OutputEvent]) -> None:
        command = event.event.command
        assert isinstance(command, CallStateCommand)
        call = self._addressed(event, out)
        if call is None:
            return
        targets = self._delivery(call, event.event.spec)
        state = command.state
        mode = 0 if command.mode is None else command.mode
        key = call.key
        for line in targets:
            out.append(CallState(line, key, state, mode))
        if state is LineCallState.IDLE:
            self._detach(call, targets)
        else:
            self._set_states(call, targets, state)

    def _cmd_hangup(self, event: ExtractedEvent, out: list[OutputEvent]) -> None:
        # AstTapi's LINECALLSTATE_HANGUP: "answered elsewhere" for these lines.
        call = self._addressed(event, out)
        if call is None:
            return
        targets = self._delivery(call, event.event.spec)
        key = call.key
        for line in targets:
            out.append(CallState(line, key, LineCallState.DISCONNECTED, LineDisconnectMode.PICKUP))
            out.append(CallState(line, key, LineCallState.IDLE))
        self._detach(call, targets)

    def _cmd_set_callerid(self, event: ExtractedEvent, out: list[OutputEvent]) -> None:
        command = event.event.command
        assert isinstance(command, SetCallerIdCommand)
        call = self._addressed(event, out)
        if call is None:
            return
        caller_id = command.caller_id()
        call.caller_id = caller_id
        key = call.key
        for line in self._delivery(call, event.event.spec):
            out.append(CallInfo(line, key, LineCallInfoState.CALLERID, caller_id))

    def _cmd_unknown(self, event: ExtractedEvent, out: list[OutputEvent]) -> None:
        command = event.event.command
        # A command type this tracker has no row for counts as unknown too.
        word = command.word if isinstance(command, UnknownCommand) else type(command).__name__
        if word in self._unknown_words:
            return
        if len(self._unknown_words) >= _MAX_UNKNOWN_WORDS:
            self._unknown_words.clear()
        self._unknown_words.add(word)
        out.append(
            Diagnostic(
                UNKNOWN_COMMAND,
                f"unknown TAPIEVENT command {word!r} ignored (reported once per command word)",
                event.call_key,
                event.frame,
            )
        )

    def _addressed(self, event: ExtractedEvent, out: list[OutputEvent]) -> _Call | None:
        # The tracked call a CALLSTATE/HANGUP/SET CALLERID addresses, or a
        # diagnostic (when it concerns this tracker) and None.
        key = event.call_key
        if key is None:
            if self._spec_is_ours(event.event.spec):
                out.append(self._no_key(event))
            return None
        call = self._calls.get(key)
        if call is None and self._spec_is_ours(event.event.spec):
            out.append(
                Diagnostic(
                    UNTRACKED_CALL,
                    f"TAPIEVENT for call {key}, which no LINE_NEWCALL announced "
                    "(or which already went IDLE)",
                    key,
                    event.frame,
                )
            )
        return call

    def _no_key(self, event: ExtractedEvent) -> Diagnostic:
        return Diagnostic(
            NO_CALL_KEY,
            "TAPIEVENT without a call key: this Asterisk puts no Uniqueid on UserEvents, "
            "so the dialplan must write [~${UNIQUEID}] in front of the command",
            None,
            event.frame,
        )

    @staticmethod
    def _delivery(call: _Call, spec: TargetSpec) -> tuple[str, ...]:
        # protocol.md 4: the call's lines, narrowed to the included lines if
        # the spec names any, minus the excluded lines; in the call's order.
        lines = call.lines
        if spec.include:
            lines = tuple(line for line in lines if line in spec.include)
        if spec.exclude:
            lines = tuple(line for line in lines if line not in spec.exclude)
        return lines

    @staticmethod
    def _set_states(call: _Call, targets: tuple[str, ...], state: LineCallState) -> None:
        if targets:
            call.states = tuple(
                state if line in targets else old
                for line, old in zip(call.lines, call.states, strict=True)
            )

    def _detach(self, call: _Call, targets: tuple[str, ...]) -> None:
        if not targets:
            return
        pairs = zip(call.lines, call.states, strict=True)
        kept = [(line, s) for line, s in pairs if line not in targets]
        if kept:
            call.lines = tuple(line for line, _ in kept)
            call.states = tuple(s for _, s in kept)
        else:
            self._forget(call)

    # ------------------------------------------------------------------ call lifetime

    def _new_call(self, key: str, out: list[OutputEvent]) -> _Call:
        if len(self._calls) >= self._max_calls:
            oldest = self._calls[next(iter(self._calls))]
            self._end(
                oldest,
                out,
                CALL_EVICTED,
                f"call {oldest.key} evicted: max_calls={self._max_calls} calls are tracked; "
                "its lines get a synthesized IDLE",
            )
        call = _Call(key)
        self._calls[key] = call
        return call

    def _forget(self, call: _Call) -> None:
        del self._calls[call.key]
        if call.channel is None:
            self._channel_unknown -= 1
        if call.action_id is not None:
            self._settled.pop(call.action_id, None)
            pending = self._pending.get(call.action_id)
            if pending is not None:
                # The call is over; a late OriginateResponse has nothing to do.
                self._drop_pending(pending)

    def _end(
        self,
        call: _Call,
        out: list[OutputEvent],
        code: str,
        message: str,
        frame: Message | None = None,
    ) -> None:
        # Synthesized end of a call: a diagnostic saying why, then IDLE per line.
        out.append(Diagnostic(code, message, call.key, frame))
        for line in call.lines:
            out.append(CallState(line, call.key, LineCallState.IDLE, synthesized=True))
        self._forget(call)

    def reconcile(self, live_unique_ids: Iterable[str]) -> list[OutputEvent]:
        """End every tracked call whose unique id is not live (after a reconnect).

        Pass the ``Uniqueid`` of every channel ``CoreShowChannels`` listed.
        Each stale call gets a ``stale-call`` diagnostic and a synthesized
        IDLE per line; a ``make_call`` originate that has no live channel is
        ended the same way (its OriginateResponse was lost with the connection).
        """
        live = frozenset(live_unique_ids)
        out: list[OutputEvent] = []
        for call in [c for k, c in self._calls.items() if k not in live]:
            self._end(
                call,
                out,
                STALE_CALL,
                f"call {call.key} is no longer live after the reconnect; "
                "its lines get a synthesized IDLE",
            )
        for pending in list(self._pending.values()):
            if pending.key is None and not any(c in live for c in pending.candidates):
                self._end_pending(
                    pending,
                    out,
                    STALE_CALL,
                    f"the call made by {pending.action_id} has no live channel after the "
                    "reconnect; it gets a synthesized IDLE",
                )
        return out

    # ------------------------------------------------------------------ AMI events

    def _on_user_event(self, message: Message) -> list[OutputEvent]:
        # Any other spelling that folds to UserEvent* (1.2's UserEventTAPI).
        return self._tapi(grammar.extract_tapievent(message, ami_version=self._version))

    def _on_exact_user_event(self, message: Message) -> list[OutputEvent]:
        # "Event: UserEvent" exactly (1.4 and later).
        return self._tapi(grammar.extract_tapievent(message, ami_version=self._version))

    def _tapi(self, result: ExtractedEvent | Diagnostic | None) -> list[OutputEvent]:
        if result is None:
            return []
        if isinstance(result, Diagnostic):
            return [result]
        return self.handle_tapi(result)

    def _on_hangup(self, message: Message) -> list[OutputEvent]:
        uid = message.get("Uniqueid")
        if uid is None:
            return []
        out: list[OutputEvent] = []
        call = self._calls.get(uid)
        if call is not None:
            self._end(
                call,
                out,
                MISSING_IDLE,
                f"call {uid} hung up while {', '.join(call.lines)} still had it: the dialplan "
                "sent no IDLE (add an h extension or hangup handler raising "
                "LINECALLSTATE_IDLE); tapievent synthesized it",
                message,
            )
        pending = self._by_candidate.get(uid)
        if pending is not None and pending.key is None and pending.responded:
            # Answered (OriginateResponse Success) and over, but no NEWCALL ever
            # attached it. Before the response we wait: the Failure that
            # follows a hangup (captures 09, orig-nosuch) carries the reason.
            self._end_pending(
                pending,
                out,
                MISSING_NEWCALL,
                f"the call made by {pending.action_id} ended without a LINE_NEWCALL "
                f"{pending.line} from the dialplan; it gets a synthesized IDLE",
                message,
            )
        return out

    def _on_originate_response(self, message: Message) -> list[OutputEvent]:
        if not self._pending:
            return []
        action_id = message.get("ActionID")
        pending = None if action_id is None else self._pending.get(action_id)
        if pending is None:
            # OriginateResponse is broadcast to every session: not ours.
            return []
        response = message.get("Response")
        if response is None:
            # Asterisk 1.2: OriginateSuccess / OriginateFailure events.
            event = (message.get("Event") or "").strip().lower()
            response = "Success" if event == "originatesuccess" else "Failure"
        uid = (message.get("Uniqueid") or "").strip()
        out: list[OutputEvent] = []
        if response.strip().lower() == "success":
            self._on_originate_success(pending, uid, message, out)
        else:
            self._on_originate_failure(pending, uid, message, out)
        return out

    def _on_response(self, message: Message) -> list[OutputEvent]:
        # An Originate refused outright ("Response: Error", e.g. "Extension
        # does not exist." on 11+, or a failing synchronous Originate in
        # capture 09) gets no OriginateResponse event: end the handle here.
        action_id = message.get("ActionID")
        pending = None if action_id is None else self._pending.get(action_id)
        if pending is None or pending.key is not None or pending.responded:
            return []
        if (message.get("Response") or "").strip().lower() != "error":
            return []
        key = pending.origination_id
        self._drop_pending(pending)
        return [
            Diagnostic(
                ORIGINATE_REFUSED,
                f"Asterisk refused the Originate {pending.action_id}: "
                f"{message.get('Message') or 'no reason given'}",
                key,
                message,
            ),
            CallState(
                pending.line,
                key,
                LineCallState.DISCONNECTED,
                LineDisconnectMode.UNAVAIL,
                synthesized=True,
            ),
            CallState(pending.line, key, LineCallState.IDLE, synthesized=True),
        ]

    def _on_originate_success(
        self, pending: _Originate, uid: str, message: Message, out: list[OutputEvent]
    ) -> None:
        pending.responded = True
        if pending.key is not None:
            self._drop_pending(pending)
            return
        if uid in _NO_ID:
            return
        call = self._calls.get(uid)
        if call is not None and pending.line in call.lines and call.action_id is None:
            # The NEWCALL came first and nothing told us it was ours (no
            # ChannelId, no VarSet): it went out as a new call. Attach late.
            self._attach(pending, call)
            out.append(
                Diagnostic(
                    ORIGINATE_NOT_FILTERED,
                    f"the LINE_NEWCALL of the call made by {pending.action_id} arrived "
                    "before its unique id was known and was reported as a new call; "
                    "use Asterisk 12.2+ (ChannelId) or grant the AMI user read "
                    "permission for VarSet events (dialplan class, call on 1.2/1.4)",
                    uid,
                    message,
                )
            )
            return
        self._add_candidate(pending, uid)

    def _on_originate_failure(
        self, pending: _Originate, uid: str, message: Message, out: list[OutputEvent]
    ) -> None:
        if (
            pending.channel_id is not None
            and uid not in _NO_ID
            and uid not in (pending.channel_id, pending.other_channel_id)
        ):
            # 11.22+/13.8+ put the requested ChannelId in a failure's Uniqueid;
            # another id means another session's Originate with our ActionID.
            return
        if pending.key is not None:
            # A NEWCALL already attached a live call: it is not ours to end,
            # its Hangup will (safety net).
            self._drop_pending(pending)
            return
        reason = (message.get("Reason") or "").strip()
        mode = _REASON_MODE.get(reason, LineDisconnectMode.UNKNOWN)
        key = pending.origination_id
        out.append(CallState(pending.line, key, LineCallState.DISCONNECTED, mode, synthesized=True))
        out.append(CallState(pending.line, key, LineCallState.IDLE, synthesized=True))
        self._drop_pending(pending)

    def _on_var_set(self, message: Message) -> list[OutputEvent]:
        if not self._by_origination:
            return []
        variable = message.get("Variable")
        if variable is None or variable.strip().upper() != ORIGINATE_VARIABLE:
            return []
        pending = self._by_origination.get((message.get("Value") or "").strip())
        uid = (message.get("Uniqueid") or "").strip()
        if pending is None or pending.key is not None or uid in _NO_ID:
            return []
        self._add_candidate(pending, uid)
        if pending.channel is None:
            # The first VarSet is the originated channel itself (;1 of a Local).
            pending.channel = message.get("Channel")
        return []

    def _on_new_channel(self, message: Message) -> list[OutputEvent]:
        if self._by_candidate:
            uid = message.get("Uniqueid")
            pending = None if uid is None else self._by_candidate.get(uid)
            if pending is not None and pending.channel is None and uid == pending.channel_id:
                pending.channel = message.get("Channel")
        if self._channel_unknown:
            self._learn_channel(message)
        return []

    def _on_rename(self, message: Message) -> list[OutputEvent]:
        uid = message.get("Uniqueid")
        call = None if uid is None else self._calls.get(uid)
        new_name = message.get("Newname")
        if call is not None and new_name:
            if call.channel is None:
                self._channel_unknown -= 1
            call.channel = new_name
        return []

    def _on_channel_event(self, message: Message) -> list[OutputEvent]:
        if self._channel_unknown:
            self._learn_channel(message)
        return []

    def _learn_channel(self, message: Message) -> None:
        # Asterisk 1.4-11 UserEvents name no channel; any later event of the
        # call's own channel does (Newstate, VarSet, Dial...).
        uid = message.get("Uniqueid")
        call = None if uid is None else self._calls.get(uid)
        if call is not None and call.channel is None:
            channel = message.get("Channel")
            if channel:
                call.channel = channel
                self._channel_unknown -= 1

    def _on_var_set_and_channel(self, message: Message) -> list[OutputEvent]:
        if not self._by_origination and not self._channel_unknown:
            return []  # the common case: nothing to learn from a VarSet
        out = self._on_var_set(message)
        if self._channel_unknown:
            self._learn_channel(message)
        return out

    # ------------------------------------------------------------------ originate bookkeeping

    def _add_candidate(self, pending: _Originate, uid: str) -> None:
        if uid in pending.candidates or len(pending.candidates) >= _MAX_CANDIDATES:
            return
        pending.candidates += (uid,)
        self._by_candidate.setdefault(uid, pending)

    def _attach(self, pending: _Originate, call: _Call) -> None:
        # The NEWCALL decided: this call is the one the application made.
        pending.key = call.key
        call.action_id = pending.action_id
        call.origin = LineCallOrigin.OUTBOUND
        if call.channel is None and pending.channel is not None:
            call.channel = pending.channel
            self._channel_unknown -= 1
        self._settled[pending.action_id] = call.key
        self._unindex(pending)
        if pending.responded:
            self._drop_pending(pending)

    def _unindex(self, pending: _Originate) -> None:
        for uid in pending.candidates:
            if self._by_candidate.get(uid) is pending:
                del self._by_candidate[uid]
        if self._by_origination.get(pending.origination_id) is pending:
            del self._by_origination[pending.origination_id]

    def _drop_pending(self, pending: _Originate) -> None:
        self._unindex(pending)
        self._pending.pop(pending.action_id, None)

    def _end_pending(
        self,
        pending: _Originate,
        out: list[OutputEvent],
        code: str,
        message: str,
        frame: Message | None = None,
    ) -> None:
        key = pending.candidates[0] if pending.candidates else pending.origination_id
        out.append(Diagnostic(code, message, key, frame))
        out.append(CallState(pending.line, key, LineCallState.IDLE, synthesized=True))
        self._drop_pending(pending)

    # ------------------------------------------------------------------ actions

    def _next_id(self) -> int:
        return next(self._counter)

    def uses_channel_id(self) -> bool:
        """Whether ``make_call`` sets ChannelId (banner AMI version 2.5.0+, i.e. Asterisk 13+)."""
        return self._version is not None and self._version >= _MIN_CHANNEL_ID_AMI

    def make_call(
        self,
        line: str,
        destination: str,
        *,
        context: str,
        channel: str,
        caller_id: str | None = None,
        timeout_ms: int | None = None,
        variables: Mapping[str, str] | None = None,
        priority: int = 1,
        action_id: str | None = None,
        channel_id: str | None = None,
        other_channel_id: str | None = None,
        use_channel_id: bool | None = None,
    ) -> tuple[CallHandle, Action]:
        """Build the ``Originate`` for a call from ``line`` to ``destination``.

        ``channel`` is the phone to ring first (``PJSIP/201``, ``Local/bob@phones``);
        when it answers, Asterisk runs ``destination`` in ``context``, whose
        dialplan raises the NEWCALL that this tracker will then attach silently.
        The action is always ``Async`` and carries its own ActionID. Send it and
        keep the handle; :meth:`call_key_of` tells the call key once known.

        ``action_id``, ``channel_id`` and ``other_channel_id`` pin the generated
        ids (replaying a capture); ``use_channel_id`` overrides the decision
        taken from the banner. Raises :class:`LocalProtocolError` for a line
        this tracker does not serve, a reserved or malformed variable, or an id
        already in use here.
        """
        if not self._serves(line):
            raise LocalProtocolError(f"make_call: line {line!r} is not served by this tracker")
        if not line:
            raise LocalProtocolError("make_call: the line name is empty")
        if timeout_ms is not None and timeout_ms <= 0:
            raise LocalProtocolError(f"make_call: timeout_ms must be positive, got {timeout_ms}")
        extra: list[tuple[str, str]] = []
        for name, value in (variables or {}).items():
            if not name or "=" in name:
                raise LocalProtocolError(f"make_call: bad channel variable name {name!r}")
            if name.strip().upper() == ORIGINATE_VARIABLE:
                raise LocalProtocolError(
                    f"make_call: variable {ORIGINATE_VARIABLE} is reserved by the tracker"
                )
            extra.append(("Variable", f"{name}={value}"))
        if use_channel_id is None:
            use_channel_id = channel_id is not None or self.uses_channel_id()
        n = self._next_id()
        if action_id is None:
            action_id = f"{self._id_prefix}-originate-{n}"
        if action_id in self._pending:
            raise LocalProtocolError(f"make_call: ActionID {action_id!r} is already pending")
        if len(self._pending) >= self._max_calls:
            # Refused rather than evicted: make_call cannot return events, and
            # an application this far ahead of Asterisk should slow down.
            raise LocalProtocolError(
                f"make_call: {len(self._pending)} originates are already waiting for "
                f"Asterisk (max_calls={self._max_calls})"
            )
        if use_channel_id:
            if channel_id is None:
                channel_id = f"{self._id_prefix}-{n}"
            if other_channel_id is None:
                other_channel_id = f"{channel_id}-2"
            for uid in (channel_id, other_channel_id):
                if uid in self._calls or uid in self._by_candidate:
                    raise LocalProtocolError(
                        f"make_call: ChannelId {uid!r} belongs to a call this tracker follows; "
                        "Asterisk would refuse it"
                    )
            origination_id = channel_id
        else:
            if channel_id is not None or other_channel_id is not None:
                raise LocalProtocolError("make_call: channel_id needs use_channel_id")
            origination_id = f"{self._id_prefix}-{n}"
        headers: list[tuple[str, str]] = [
            ("Channel", channel),
            ("Context", context),
            ("Exten", destination),
            ("Priority", str(priority)),
        ]
        if caller_id is not None:
            headers.append(("CallerID", caller_id))
        if timeout_ms is not None:
            headers.append(("Timeout", str(timeout_ms)))
        if use_channel_id:
            assert channel_id is not None and other_channel_id is not None
            headers.append(("ChannelId", channel_id))
            headers.append(("OtherChannelId", other_channel_id))
        else:
            headers.append(("Variable", f"{ORIGINATE_VARIABLE}={origination_id}"))
        headers.extend(extra)
        headers.append(("Async", "true"))

        pending = _Originate(
            action_id,
            line,
            origination_id,
            channel_id if use_channel_id else None,
            other_channel_id if use_channel_id else None,
        )
        self._pending[action_id] = pending
        if use_channel_id:
            assert channel_id is not None and other_channel_id is not None
            self._add_candidate(pending, channel_id)
            self._add_candidate(pending, other_channel_id)
        else:
            self._by_origination[origination_id] = pending
        handle = CallHandle(
            action_id=action_id,
            line=line,
            origination_id=origination_id,
            channel_id=pending.channel_id,
            other_channel_id=pending.other_channel_id,
        )
        return handle, Action("Originate", tuple(headers), action_id)

    def _channel_of(self, call: str | CallHandle, what: str) -> str:
        if isinstance(call, CallHandle):
            pending = self._pending.get(call.action_id)
            key = self.call_key_of(call)
            if key is None and pending is not None and pending.channel is not None:
                return pending.channel
            if key is None:
                raise LocalProtocolError(
                    f"{what}: the call made by {call.action_id} has no known channel yet"
                )
        else:
            key = call
        tracked = self._calls.get(key)
        if tracked is not None and tracked.channel is not None:
            return tracked.channel
        pending = self._by_candidate.get(key)
        if pending is not None and pending.channel is not None:
            return pending.channel
        if tracked is None and pending is None:
            raise LocalProtocolError(f"{what}: call {key!r} is not tracked")
        if self._version is not None and self._version >= (2,):
            # Asterisk 12+ looks a channel up by unique id when no channel has
            # that name (ast_channel_get_by_name), so the key itself works.
            return key
        raise LocalProtocolError(
            f"{what}: the channel of call {key!r} is not known yet (Asterisk before 12 "
            "needs the channel name, learned from the call's events)"
        )

    def hangup(self, call: str | CallHandle) -> Action:
        """The AMI ``Hangup`` of the call's channel (TAPI lineDrop)."""
        return Action("Hangup", (("Channel", self._channel_of(call, "hangup")),))

    def redirect(
        self, call: str | CallHandle, *, context: str, exten: str, priority: int = 1
    ) -> Action:
        """The AMI ``Redirect`` of the call's channel to ``exten@context`` (blind transfer)."""
        return Action(
            "Redirect",
            (
                ("Channel", self._channel_of(call, "redirect")),
                ("Context", context),
                ("Exten", exten),
                ("Priority", str(priority)),
            ),
        )

    def send_digits(self, call: str | CallHandle, digits: str) -> Action:
        """The AMI ``PlayDTMF`` for one DTMF digit on the call's channel.

        ``PlayDTMF`` plays exactly one digit, so ``digits`` must be one of
        ``0-9 * # A-D``; use :meth:`digit_actions` for a string of digits.
        """
        if len(digits) != 1 or digits not in _DTMF:
            raise LocalProtocolError(
                f"send_digits: PlayDTMF plays one digit of 0-9 * # A-D, got {digits!r} "
                "(use digit_actions() for several)"
            )
        return Action(
            "PlayDTMF", (("Channel", self._channel_of(call, "send_digits")), ("Digit", digits))
        )

    def digit_actions(self, call: str | CallHandle, digits: str) -> tuple[Action, ...]:
        """One ``PlayDTMF`` per digit of ``digits``, to be sent in order."""
        if not digits:
            raise LocalProtocolError("digit_actions: no digits")
        return tuple(self.send_digits(call, d) for d in digits)


_COMMANDS: Final[dict[type, Callable[[CallTracker, ExtractedEvent, list[OutputEvent]], None]]] = {
    NewCallCommand: CallTracker._cmd_newcall,
    CallStateCommand: CallTracker._cmd_callstate,
    HangupCommand: CallTracker._cmd_hangup,
    SetCallerIdCommand: CallTracker._cmd_set_callerid,
    UnknownCommand: CallTracker._cmd_unknown,
}
"""Transition table for TAPIEVENT commands (protocol.md section 4)."""

_AMI_EVENTS: Final[dict[str, Callable[[CallTracker, Message], list[OutputEvent]]]] = {
    "UserEvent": CallTracker._on_exact_user_event,
    "Hangup": CallTracker._on_hangup,
    "OriginateResponse": CallTracker._on_originate_response,
    "OriginateSuccess": CallTracker._on_originate_response,
    "OriginateFailure": CallTracker._on_originate_response,
    "VarSet": CallTracker._on_var_set_and_channel,
    "Newchannel": CallTracker._on_new_channel,
    "Rename": CallTracker._on_rename,
    "Newstate": CallTracker._on_channel_event,
    "Dial": CallTracker._on_channel_event,
    "DialBegin": CallTracker._on_channel_event,
    "NewCallerid": CallTracker._on_channel_event,
    "Newcallerid": CallTracker._on_channel_event,
}
"""Transition table for plain AMI events, by exact ``Event:`` value."""

_AMI_EVENTS_FOLDED: Final = {name.lower(): method for name, method in _AMI_EVENTS.items()}

_Handler = Callable[[CallTracker, Message], list[OutputEvent]]

# Exact Event value -> handler, or None for an event the tracker ignores: the
# one dictionary lookup handle() pays per message. It starts as _AMI_EVENTS
# and learns every other spelling the first time it is seen (resolved by
# _resolve, which folds case and blanks). Server-chosen names could be
# endless, so it is bounded: when full it starts again from _AMI_EVENTS.
_DISPATCH: dict[str, _Handler | None] = dict(_AMI_EVENTS)
_DISPATCH_MAX: Final = 1024


def _unresolved(tracker: CallTracker, message: Message) -> list[OutputEvent]:
    # Sentinel default of _DISPATCH.get; never called.
    raise AssertionError("unresolved AMI event handler")


def _resolve(name: str) -> _Handler | None:
    lowered = name.strip().lower()
    method: _Handler | None
    if lowered.startswith("userevent"):
        method = CallTracker._on_user_event
    else:
        method = _AMI_EVENTS_FOLDED.get(lowered)
    if len(_DISPATCH) >= _DISPATCH_MAX:
        _DISPATCH.clear()
        _DISPATCH.update(_AMI_EVENTS)
    _DISPATCH[name] = method
    return method
