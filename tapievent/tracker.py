"""The call tracker: TAPIEVENT commands and AMI call events in, TAPI line events out.

Theory of operation
-------------------
Asterisk knows calls by channel unique id; TAPI knows them per line. The
dialplan bridges the two with ``UserEvent(TAPI,TAPIEVENT: ...)``: a call
appears on a line with ``LINE_NEWCALL``, changes state with
``LINE_CALLSTATE`` and leaves the line with ``LINECALLSTATE_IDLE``
(protocol.md section 4). :class:`CallTracker` turns each command into the
:mod:`tapievent.model` output events, in order.

It is the face of three private modules, one job each:

* ``_call_table`` -- the tracked calls, who gets an event (the delivery
  set), and the three ways no call is ever leaked (the ``Hangup`` safety
  net, reconcile after a reconnect, the ``max_calls`` bound);
* ``_originates`` -- the calls the application makes, one record per
  ``make_call`` moved by a transition table (sent, keyed, answered,
  attached, then settled, refused, failed, ended or withdrawn);
* ``_call_actions`` -- the AMI actions it builds (Originate, Hangup,
  Redirect, PlayDTMF), validated and encoded before anything is registered.

Rule 1: every input is one method named after the command or AMI event that
causes it (``_COMMANDS`` and ``_AMI_EVENTS``). There is no clock, no I/O and
no module-level mutable state (the memo of event spellings belongs to each
tracker); the work per message is a bounded number of dictionary
operations, so a replay gives the same events every time.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from typing import Final

from . import _call_actions as actions
from . import grammar
from ._call_actions import CallHandle
from ._call_records import RecordBuilder
from ._call_table import CallTable, TrackedCall
from ._commands import Commands
from ._diagnostics import DiagnosticCode
from ._errors import LocalProtocolError
from ._originates import ORIGINATE_VARIABLE, Input, Originate, OriginateState, OriginateTable
from .ami_codec import Action, Banner, Message
from .model import (
    Diagnostic,
    ExtractedEvent,
    OutputEvent,
)
from .session import ActionResult

__all__ = [
    "ORIGINATE_VARIABLE",
    "CallHandle",
    "CallTracker",
    "OriginateState",
    "TrackedCall",
]

_MIN_CHANNEL_ID_AMI: Final = (2, 5, 0)
# ChannelId/OtherChannelId exist from Asterisk 12.2. The AMI banner only says
# "2.x" for 12.0-13.x and nothing in ami-versions.md ties a 2.x value to 12.2,
# but 2.5.0 is 13.0 (or a late 12 release, which is past 12.2): from there on
# ChannelId is certain. Older or unknown servers use the VarSet path, which
# works on every version.

_MAX_ID_PREFIX: Final = 100
# Asterisk keeps at most 149 characters of a caller-assigned unique id
# (AST_MAX_PUBLIC_UNIQUEID); prefix + "-" + counter + "-2" stays far below.

_DISPATCH_MAX: Final = 1024
# Bound of each tracker's memo of Event spellings (a server may send any).


def _check_id_prefix(id_prefix: str) -> None:
    if not id_prefix or len(id_prefix) > _MAX_ID_PREFIX or not id_prefix.isprintable():
        raise ValueError(
            f"id_prefix must be 1-{_MAX_ID_PREFIX} printable characters, got {id_prefix!r}"
        )
    if any(c.isspace() or c in ";&[]~!" for c in id_prefix):
        raise ValueError(
            f"id_prefix {id_prefix!r} must not contain blanks or any of ; & [ ] ~ ! "
            "(it becomes a unique id that the dialplan writes into [~...] specs)"
        )


_Handler = Callable[[Message], list[OutputEvent]]


# --------------------------------------------------------------------------- the tracker


class CallTracker:
    """Tracks calls by Asterisk unique id and emits TAPI line events.

    ``lines`` is the set of line names this tracker serves (a workstation's
    TSP serves its own lines); ``None`` serves every line (a CTI server).
    Events for lines it does not serve are ignored silently. ``max_calls``
    bounds the tracked calls and the pending originates (each separately);
    ``id_prefix`` starts every ActionID and ChannelId the tracker generates
    and must be unique per AMI client (see docs/tracker.md). ``source`` names
    the PBX on every event and record.

    Feed it every frame the decoder produces with :meth:`handle` and every
    action result with :meth:`handle_action_result`; they return the output
    events of :mod:`tapievent.model` in order, each line's
    :class:`~tapievent.CallRecord` right after the event that ended the call
    there. It never raises on anything the server sends, and never reads a
    clock: pass ``time`` (POSIX seconds when the bytes arrived); a frame's
    own ``Timestamp:`` header wins over it.
    """

    def __init__(
        self,
        lines: Iterable[str] | None = None,
        *,
        max_calls: int = 10_000,
        id_prefix: str = "tapievent",
        max_lines_per_call: int = 64,
        source: str = "",
    ) -> None:
        if max_calls < 1:
            raise ValueError(f"max_calls must be at least 1, got {max_calls}")
        if max_lines_per_call < 1:
            raise ValueError(f"max_lines_per_call must be at least 1, got {max_lines_per_call}")
        _check_id_prefix(id_prefix)
        self._lines: frozenset[str] | None = None if lines is None else frozenset(lines)
        self._max_calls = max_calls
        self._max_lines = max_lines_per_call
        self._id_prefix = id_prefix
        self._counter = itertools.count(1)
        self._version: tuple[int, ...] | None = None
        self._calls = CallTable(max_calls, lambda _action_id: None)
        self._originates = OriginateTable(self._calls)
        self._commands = Commands(self._calls, self._originates, self._lines, max_lines_per_call)
        self._records = RecordBuilder()
        self.source = source
        # Exact Event value -> handler, or None for an event the tracker
        # ignores: the one dictionary lookup handle() pays per message. It
        # starts from _AMI_EVENTS and learns every other spelling the first
        # time it is seen; bounded, it starts again from _AMI_EVENTS when full.
        self._dispatch: dict[str, _Handler | None] = self._initial_dispatch()

    def _initial_dispatch(self) -> dict[str, _Handler | None]:
        return {name: getattr(self, method) for name, method in _AMI_EVENTS.items()}

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
        return len(self._calls.calls)

    @property
    def pending_count(self) -> int:
        """How many ``make_call`` originates are still waiting for their response or NEWCALL."""
        return len(self._originates)

    def snapshot(self) -> tuple[TrackedCall, ...]:
        """Every tracked call as a frozen value, oldest first."""
        return self._calls.snapshot()

    def call_key_of(self, handle: CallHandle) -> str | None:
        """The unique id of the call ``handle`` made, once known; None before or after.

        On the ChannelId path the key is known as soon as the Originate is
        made; on the variable path it is decided by the dialplan's NEWCALL (or
        the OriginateResponse). After the call ended it is None again.
        """
        return self._originates.call_key_of(handle.action_id, self._calls.calls)

    def action_id_of(self, call_key: str) -> str | None:
        """The ActionID of the ``make_call`` Originate that made ``call_key``, if any."""
        call = self._calls.get(call_key)
        return None if call is None else call.action_id

    def originate_state(self, handle: CallHandle) -> OriginateState | None:
        """Where the originate of ``handle`` stands; None once it is terminal (freed)."""
        pending = self._originates.get(handle.action_id)
        return None if pending is None else pending.state

    # ------------------------------------------------------------------ input

    def handle(self, frame: Banner | Message, *, time: float | None = None) -> list[OutputEvent]:
        """Process one decoded frame; return the output events it causes, in order.

        The banner records the AMI version (it decides how ``make_call``
        marks its calls). TAPI UserEvents go through :func:`~tapievent.extract_tapievent`;
        ``Hangup``, ``OriginateResponse``, ``VarSet``, ``Newchannel``,
        ``Newexten`` and ``Rename`` feed the safety net and the originate
        bookkeeping; every other message is ignored at the cost of two
        dictionary lookups. ``time`` is when the frame's bytes arrived; it
        and the ``Timestamp:`` header are looked at only when the frame
        causes events.
        """
        if isinstance(frame, Banner):
            self._version = frame.version
            return []
        name = frame.get("Event")
        if name is None:
            if not self._originates.by_action:
                return []
            return self._finish(self._originates.on_refusal(frame), frame, time)
        try:
            method = self._dispatch[name]
        except KeyError:
            method = self._resolve(name)
        if method is None:
            return []
        out = method(frame)
        if out or self._commands.attached is not None:
            return self._finish(out, frame, time)
        return out

    def _finish(
        self, out: list[OutputEvent], frame: Message | None, time: float | None
    ) -> list[OutputEvent]:
        # The one place events get their time and source, and records are made.
        attached, self._commands.attached = self._commands.attached, None
        return self._records.finish(out, frame, time, self.source, attached)

    def _resolve(self, name: str) -> _Handler | None:
        # Another spelling of an event name: fold case and blanks once.
        lowered = name.strip().lower()
        method: _Handler | None
        if lowered.startswith("userevent"):
            method = self._on_user_event
        else:
            attr = _AMI_EVENTS_FOLDED.get(lowered)
            method = None if attr is None else getattr(self, attr)
        if len(self._dispatch) >= _DISPATCH_MAX:
            self._dispatch = self._initial_dispatch()
        self._dispatch[name] = method
        return method

    def handle_action_result(
        self, result: ActionResult, *, time: float | None = None
    ) -> list[OutputEvent]:
        """Process the complete answer to an action; return the output events it causes.

        The one door through which action results reach the tracker, the same
        in every runtime: whoever owns the session hands it every
        :class:`~tapievent.session.ActionResult`. Only the answers to actions
        this tracker built matter (an Originate refused outright gets no
        ``OriginateResponse`` event, so its handle ends here); others give
        nothing. ``time`` is when the answer arrived.
        """
        if not self._originates.by_action:
            return []
        return self._finish(self._originates.on_refusal(result.response), result.response, time)

    def handle_tapi(self, event: ExtractedEvent, *, time: float | None = None) -> list[OutputEvent]:
        """Apply one extracted TAPI event (protocol.md section 4); return the output events.

        This is the core :meth:`handle` calls for TAPI UserEvents; it is public
        so that tests and other front ends can drive the tracker with values.
        The extractor's own diagnostics come first in the result. ``time``
        is when its frame arrived (the frame's ``Timestamp:`` wins).
        """
        return self._finish(self._commands.apply(event), event.frame, time)

    def reconcile(
        self, live_unique_ids: Iterable[str], *, time: float | None = None
    ) -> list[OutputEvent]:
        """End every tracked call whose unique id is not live (after a reconnect).

        Pass the ``Uniqueid`` of every channel ``CoreShowChannels`` listed.
        Each stale call gets a ``stale-call`` diagnostic and a synthesized
        IDLE per line; a ``make_call`` originate that has no live channel is
        ended the same way (its OriginateResponse was lost with the connection).
        ``time`` is when the channel list arrived: the end time of those calls.
        """
        live = frozenset(live_unique_ids)
        out: list[OutputEvent] = []
        for call in self._calls.not_live(live):
            self._calls.end(
                call,
                out,
                DiagnosticCode.STALE_CALL,
                f"call {call.key} is no longer live after the reconnect; "
                "its lines get a synthesized IDLE",
            )
        self._originates.reconcile(live, out)
        return self._finish(out, None, time)

    # ------------------------------------------------------------------ AMI events

    def _on_user_event(self, message: Message) -> list[OutputEvent]:
        # Any other spelling that folds to UserEvent* (1.2's UserEventTAPI).
        return self._tapi(message, grammar.extract_tapievent(message, ami_version=self._version))

    def _on_exact_user_event(self, message: Message) -> list[OutputEvent]:
        # "Event: UserEvent" exactly (1.4 and later).
        return self._tapi(message, grammar.extract_tapievent(message, ami_version=self._version))

    def _tapi(
        self, message: Message, result: ExtractedEvent | Diagnostic | None
    ) -> list[OutputEvent]:
        if self._calls.app_running:
            self._calls.user_event_arrived(message)
        if result is None:
            return []
        if isinstance(result, Diagnostic):
            return [result]
        # Not handle_tapi: handle() stamps the events and makes the records.
        return self._commands.apply(result)

    def _on_hangup(self, message: Message) -> list[OutputEvent]:
        uid = message.get("Uniqueid")
        if uid is None:
            return []
        out: list[OutputEvent] = []
        call = self._calls.get(uid)
        if call is not None:
            self._calls.check_user_event(call, out)
            self._calls.end(
                call,
                out,
                DiagnosticCode.MISSING_IDLE,
                f"call {uid} hung up while {', '.join(call.lines)} still had it: the dialplan "
                "sent no IDLE (add an h extension or hangup handler raising "
                "LINECALLSTATE_IDLE); tapievent synthesized it",
                message,
            )
        if self._originates.by_candidate:
            self._originates.on_hangup(uid, message, out)
        return out

    def _on_originate_response(self, message: Message) -> list[OutputEvent]:
        if not self._originates.by_action:
            return []
        return self._originates.on_originate_response(message)

    def _on_new_channel(self, message: Message) -> list[OutputEvent]:
        if self._originates.by_candidate:
            self._originates.on_new_channel(message)
        if self._calls.channel_unknown:
            self._calls.learn_channel(message)
        return []

    def _on_rename(self, message: Message) -> list[OutputEvent]:
        uid = message.get("Uniqueid")
        call = None if uid is None else self._calls.get(uid)
        if call is not None:
            self._calls.set_channel(call, message.get("Newname"))
        return []

    def _on_channel_event(self, message: Message) -> list[OutputEvent]:
        if self._calls.channel_unknown:
            self._calls.learn_channel(message)
        return []

    def _on_newexten(self, message: Message) -> list[OutputEvent]:
        # Only Asterisk 12+ (AMI 2.0+) fail a UserEvent, and only there does
        # every UserEvent carry the Uniqueid that shows it arrived (1.4-1.8
        # put none on it).
        if self._version is None or self._version < (2,):
            return []
        return self._calls.on_newexten(message)

    def _on_var_set(self, message: Message) -> list[OutputEvent]:
        if self._originates.by_origination:
            self._originates.on_var_set(message)
        if self._calls.channel_unknown:
            self._calls.learn_channel(message)
        return []

    # ------------------------------------------------------------------ actions

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
        keep the handle; :meth:`call_key_of` tells the call key once known. If
        the action cannot be sent after all (the connection is down), call
        :meth:`withdraw` with the handle.

        ``action_id``, ``channel_id`` and ``other_channel_id`` pin the generated
        ids (replaying a capture); ``use_channel_id`` overrides the decision
        taken from the banner. Raises :class:`LocalProtocolError` for a line
        this tracker does not serve, a reserved or malformed variable, an id
        already in use here, or any value holding CR, LF or NUL; nothing is
        registered then.
        """
        if not self._commands.serves(line):
            raise LocalProtocolError(f"make_call: line {line!r} is not served by this tracker")
        request = actions.OriginateRequest(
            line,
            destination,
            context,
            channel,
            caller_id,
            timeout_ms,
            actions.variable_pairs(variables),
            priority,
        )
        actions.check_request(request)
        if use_channel_id is None:
            use_channel_id = channel_id is not None or self.uses_channel_id()
        n = next(self._counter)
        if action_id is None:
            action_id = f"{self._id_prefix}-originate-{n}"
        self._originates.check_room(action_id, self._max_calls)
        if use_channel_id:
            pair = self._channel_ids(n, channel_id, other_channel_id)
            ids: tuple[str, str] | None = pair
            origination_id = pair[0]
        elif channel_id is not None or other_channel_id is not None:
            raise LocalProtocolError("make_call: channel_id needs use_channel_id")
        else:
            ids, origination_id = None, f"{self._id_prefix}-{n}"
        action = actions.build_originate(request, action_id, origination_id, ids)
        # Only now, with an action that can be written, is anything registered.
        channel_ids = ids or (None, None)
        self._originates.register(Originate(action_id, line, origination_id, *channel_ids))
        return CallHandle(action_id, line, origination_id, *channel_ids), action

    def _channel_ids(
        self, n: int, channel_id: str | None, other_channel_id: str | None
    ) -> tuple[str, str]:
        # ChannelId and OtherChannelId: the pinned ones, or <prefix>-<n>[-2].
        if channel_id is None:
            channel_id = f"{self._id_prefix}-{n}"
        if other_channel_id is None:
            other_channel_id = f"{channel_id}-2"
        ids = (channel_id, other_channel_id)
        actions.check_channel_ids(self._calls, self._originates, ids)
        return ids

    def withdraw(self, handle: CallHandle) -> None:
        """Forget the originate of ``handle`` because its action was never sent.

        For the runtime that could not write the Originate ``make_call``
        built (not connected, the write failed): without it the record would
        wait for an answer that never comes and count against ``max_calls``.
        No event is emitted (the application learns of the failure from the
        runtime). Raises :class:`LocalProtocolError` when the handle is not
        pending, or when Asterisk already answered it (it was sent).
        """
        pending = self._originates.get(handle.action_id)
        if pending is None:
            raise LocalProtocolError(f"withdraw: {handle.action_id} is not a pending originate")
        if not self._originates.allows(pending, Input.WITHDRAW):
            raise LocalProtocolError(
                f"withdraw: Asterisk already answered {handle.action_id} "
                f"(state {pending.state.name}); it was sent"
            )
        self._originates.move(pending, Input.WITHDRAW)

    def _channel_of(self, call: str | CallHandle, what: str) -> str:
        return actions.channel_of(self._calls, self._originates, self._version, call, what)

    def hangup(self, call: str | CallHandle) -> Action:
        """The AMI ``Hangup`` of the call's channel (TAPI lineDrop)."""
        return actions.hangup_action(self._channel_of(call, "hangup"))

    def redirect(
        self, call: str | CallHandle, *, context: str, exten: str, priority: int = 1
    ) -> Action:
        """The AMI ``Redirect`` of the call's channel to ``exten@context`` (blind transfer)."""
        return actions.redirect_action(self._channel_of(call, "redirect"), context, exten, priority)

    def send_digits(self, call: str | CallHandle, digits: str) -> Action:
        """The AMI ``PlayDTMF`` for one DTMF digit on the call's channel.

        ``PlayDTMF`` plays exactly one digit, so ``digits`` must be one of
        ``0-9 * # A-D``; use :meth:`digit_actions` for a string of digits.
        """
        actions.check_digit(digits)
        return actions.digit_action(self._channel_of(call, "send_digits"), digits)

    def digit_actions(self, call: str | CallHandle, digits: str) -> tuple[Action, ...]:
        """One ``PlayDTMF`` per digit of ``digits``, to be sent in order."""
        if not digits:
            raise LocalProtocolError("digit_actions: no digits")
        return tuple(self.send_digits(call, d) for d in digits)


_AMI_EVENTS: Final[Mapping[str, str]] = {
    "UserEvent": "_on_exact_user_event",
    "Hangup": "_on_hangup",
    "OriginateResponse": "_on_originate_response",
    "OriginateSuccess": "_on_originate_response",
    "OriginateFailure": "_on_originate_response",
    "VarSet": "_on_var_set",
    "Newchannel": "_on_new_channel",
    "Newexten": "_on_newexten",
    "Rename": "_on_rename",
    "Newstate": "_on_channel_event",
    "Dial": "_on_channel_event",
    "DialBegin": "_on_channel_event",
    "NewCallerid": "_on_channel_event",
    "Newcallerid": "_on_channel_event",
}
"""The plain AMI events the tracker reads, by exact ``Event:`` value -> method name."""

_AMI_EVENTS_FOLDED: Final[Mapping[str, str]] = {
    name.lower(): method for name, method in _AMI_EVENTS.items()
}
