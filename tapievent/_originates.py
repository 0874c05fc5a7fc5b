"""The originate lifecycle: one record per ``make_call``, moved by one table.

Theory of operation
===================

A call the application makes must not come back to it as a new call
(protocol.md section 5), so the tracker keeps a record per Originate until
it knows which unique id is that call (docs/tracker.md draws the machine).
Rule 1: ``_Originate.state`` changes only in :meth:`OriginateTable.move`,
which looks the pair (state, input) up in ``_TRANSITIONS``. A pair that is
not in the table means the input does not concern the record in that state
(a late or repeated answer, a Hangup before the response): the caller asks
:meth:`OriginateTable.allows` first and then does nothing at all, which is
how the tracker stays silent about what is not its business. The only
exception is :meth:`~tapievent.tracker.CallTracker.withdraw`, a local call,
which raises instead.

States:

* ``SENT`` -- the Originate is registered; no unique id can be the call yet
  (the ``Variable`` path before its ``VarSet``).
* ``KEYED`` -- unique ids that may become the call key are known: the
  tracker's own ``ChannelId``/``OtherChannelId``, or the ``Uniqueid`` of a
  ``VarSet`` of ``TAPIEVENT_ORIGINATE``.
* ``ANSWERED`` -- ``OriginateResponse`` said Success; the dialplan's
  NEWCALL has not attached the call yet.
* ``ATTACHED`` -- the NEWCALL on the handle's line attached a tracked call;
  the response is still awaited (it must not be read as another client's).
* terminal (the record is freed): ``SETTLED`` (attached and answered: the
  call table has the call from here), ``REFUSED`` (``Response: Error``),
  ``FAILED`` (``OriginateResponse`` Failure), ``ENDED`` (given up: answered
  but hung up without NEWCALL, not live after a reconnect, or the attached
  call ended before the response), ``WITHDRAWN`` (never sent).

Indexes beside the table: by ActionID (every live record), by candidate
unique id (at most ``_MAX_CANDIDATES`` per record) and by origination id
(the ``Variable`` path). They hold exactly the records that are not
terminal, so nothing outlives its call.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from typing import Final

from ._call_table import Call, CallTable
from ._diagnostics import DiagnosticCode
from ._errors import LocalProtocolError
from .ami_codec import Message
from .model import (
    CallState,
    Diagnostic,
    LineCallOrigin,
    LineCallState,
    LineDisconnectMode,
    OutputEvent,
)

__all__ = ["ORIGINATE_VARIABLE", "Input", "Originate", "OriginateState", "OriginateTable"]


class OriginateState(enum.Enum):
    """Where one ``make_call`` originate stands; see the module's theory of operation."""

    SENT = "SENT"
    KEYED = "KEYED"
    ANSWERED = "ANSWERED"
    ATTACHED = "ATTACHED"
    SETTLED = "SETTLED"
    REFUSED = "REFUSED"
    FAILED = "FAILED"
    ENDED = "ENDED"
    WITHDRAWN = "WITHDRAWN"


class Input(enum.Enum):
    """Everything that moves an originate, named for error messages and docs."""

    CHANNEL_ID = "make_call on the ChannelId path"
    VAR_SET = "VarSet of TAPIEVENT_ORIGINATE"
    SUCCESS = "OriginateResponse Success"
    SUCCESS_LATE = "OriginateResponse Success naming a call already reported"
    FAILURE = "OriginateResponse Failure"
    REFUSED = "Response: Error"
    NEWCALL = "LINE_NEWCALL on the handle's line"
    HANGUP = "Hangup of a candidate channel"
    STALE = "reconcile without a live candidate"
    CALL_ENDED = "the attached call ended"
    WITHDRAW = "withdraw()"


_S = OriginateState
_I = Input

# The whole lifecycle. A pair that is not here does not concern the record.
_TRANSITIONS: Final[Mapping[tuple[OriginateState, Input], OriginateState]] = {
    (_S.SENT, _I.CHANNEL_ID): _S.KEYED,
    (_S.SENT, _I.VAR_SET): _S.KEYED,
    (_S.SENT, _I.SUCCESS): _S.ANSWERED,
    (_S.SENT, _I.SUCCESS_LATE): _S.SETTLED,
    (_S.SENT, _I.FAILURE): _S.FAILED,
    (_S.SENT, _I.REFUSED): _S.REFUSED,
    (_S.SENT, _I.STALE): _S.ENDED,
    (_S.SENT, _I.WITHDRAW): _S.WITHDRAWN,
    (_S.KEYED, _I.VAR_SET): _S.KEYED,
    (_S.KEYED, _I.SUCCESS): _S.ANSWERED,
    (_S.KEYED, _I.SUCCESS_LATE): _S.SETTLED,
    (_S.KEYED, _I.FAILURE): _S.FAILED,
    (_S.KEYED, _I.REFUSED): _S.REFUSED,
    (_S.KEYED, _I.NEWCALL): _S.ATTACHED,
    (_S.KEYED, _I.STALE): _S.ENDED,
    (_S.KEYED, _I.WITHDRAW): _S.WITHDRAWN,
    # A Success without a usable Uniqueid, or a second one, keeps waiting.
    (_S.ANSWERED, _I.VAR_SET): _S.ANSWERED,
    (_S.ANSWERED, _I.SUCCESS): _S.ANSWERED,
    (_S.ANSWERED, _I.SUCCESS_LATE): _S.SETTLED,
    (_S.ANSWERED, _I.FAILURE): _S.FAILED,
    (_S.ANSWERED, _I.NEWCALL): _S.SETTLED,
    (_S.ANSWERED, _I.HANGUP): _S.ENDED,
    (_S.ANSWERED, _I.STALE): _S.ENDED,
    # Attached: a live call is never ended by its originate's answer.
    (_S.ATTACHED, _I.SUCCESS): _S.SETTLED,
    (_S.ATTACHED, _I.FAILURE): _S.SETTLED,
    (_S.ATTACHED, _I.CALL_ENDED): _S.ENDED,
}

TERMINAL: Final = frozenset({_S.SETTLED, _S.REFUSED, _S.FAILED, _S.ENDED, _S.WITHDRAWN})

# What Asterisk puts in Uniqueid when a failed originate has no channel
# (<null> up to 11.21/13.7, <unknown> after; captures 09).
NO_ID: Final = frozenset({"", "<unknown>", "<null>"})

_MAX_CANDIDATES: Final = 4
# An originate yields one channel, or two for a Local channel (;1 and ;2), plus
# the OriginateResponse's Uniqueid. Four is room for all with a margin, and a
# hard bound however many VarSets a hostile dialplan produces.


class Originate:
    """One ``make_call`` that is not terminal yet (slotted: a CTI server has many)."""

    __slots__ = (
        "action_id",
        "candidates",
        "channel",
        "channel_id",
        "key",
        "line",
        "origination_id",
        "other_channel_id",
        "state",
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
        self.key: str | None = None  # the call key once a NEWCALL attached it
        self.state = OriginateState.SENT

    @property
    def failure_key(self) -> str:
        """The call key of a synthesized ending: the first candidate, else the origination id."""
        return self.candidates[0] if self.candidates else self.origination_id


class OriginateTable:
    """The live originates of one tracker, their indexes, and what moves them.

    Per instance, no globals. It tells ``calls`` (the same tracker's call
    table) how to reach it when an originated call is forgotten.
    """

    __slots__ = ("by_action", "by_candidate", "by_origination", "calls", "settled")

    def __init__(self, calls: CallTable) -> None:
        self.calls = calls
        calls.on_forget = self.call_ended
        self.by_action: dict[str, Originate] = {}
        self.by_candidate: dict[str, Originate] = {}
        self.by_origination: dict[str, Originate] = {}
        # ActionID -> call key of originated calls a NEWCALL attached (an
        # entry lives exactly as long as its call, so it is bounded too).
        self.settled: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self.by_action)

    def __iter__(self) -> Iterator[Originate]:
        return iter(list(self.by_action.values()))

    def get(self, action_id: str) -> Originate | None:
        """The live originate with this ActionID, if any."""
        return self.by_action.get(action_id)

    def check_room(self, action_id: str, max_calls: int) -> None:
        """Refuse a new originate with a pending ActionID, or past ``max_calls`` pending."""
        if action_id in self.by_action:
            raise LocalProtocolError(f"make_call: ActionID {action_id!r} is already pending")
        waiting = len(self.by_action)
        if waiting >= max_calls:
            # Refused rather than evicted: make_call cannot return events, and
            # an application this far ahead of Asterisk should slow down.
            raise LocalProtocolError(
                f"make_call: {waiting} originates are already waiting for "
                f"Asterisk (max_calls={max_calls})"
            )

    def register(self, pending: Originate) -> None:
        """Index a new originate (state SENT); ChannelIds become candidates at once."""
        self.by_action[pending.action_id] = pending
        if pending.channel_id is not None and pending.other_channel_id is not None:
            self.add_candidate(pending, pending.channel_id)
            self.add_candidate(pending, pending.other_channel_id)
            self.move(pending, Input.CHANNEL_ID)
        else:
            self.by_origination[pending.origination_id] = pending

    @staticmethod
    def allows(pending: Originate, inp: Input) -> bool:
        """Whether ``inp`` concerns ``pending`` in its present state (a table entry exists)."""
        return (pending.state, inp) in _TRANSITIONS

    def move(self, pending: Originate, inp: Input) -> OriginateState:
        """Apply one input (which must be allowed); free the record if it becomes terminal."""
        state = _TRANSITIONS[(pending.state, inp)]
        pending.state = state
        if state in TERMINAL:
            self._unindex(pending)
            if self.by_action.get(pending.action_id) is pending:
                del self.by_action[pending.action_id]
        elif state is OriginateState.ATTACHED:
            # Its candidates are ordinary ids again; only the ActionID matters.
            self._unindex(pending)
        return state

    def add_candidate(self, pending: Originate, uid: str) -> None:
        """Remember ``uid`` as one that may become the call key (bounded per record)."""
        if uid in pending.candidates or len(pending.candidates) >= _MAX_CANDIDATES:
            return
        pending.candidates += (uid,)
        self.by_candidate.setdefault(uid, pending)

    def attach(self, pending: Originate, key: str, inp: Input) -> OriginateState:
        """The NEWCALL (or a late Success) decided: ``key`` is the call ``pending`` made."""
        pending.key = key
        self.settled[pending.action_id] = key
        return self.move(pending, inp)

    def _unindex(self, pending: Originate) -> None:
        for uid in pending.candidates:
            if self.by_candidate.get(uid) is pending:
                del self.by_candidate[uid]
        if self.by_origination.get(pending.origination_id) is pending:
            del self.by_origination[pending.origination_id]

    def call_ended(self, action_id: str) -> None:
        """The tracked call ``action_id`` originated is gone: forget its settlement."""
        self.settled.pop(action_id, None)
        pending = self.by_action.get(action_id)
        if pending is not None and self.allows(pending, Input.CALL_ENDED):
            # The call is over; a late OriginateResponse has nothing to do.
            self.move(pending, Input.CALL_ENDED)

    def call_key_of(self, action_id: str, live: Mapping[str, object]) -> str | None:
        """The call key of the originate ``action_id`` once known, while its call lives."""
        pending = self.by_action.get(action_id)
        if pending is not None:
            return pending.key if pending.key is not None else pending.channel_id
        key = self.settled.get(action_id)
        return key if key is not None and key in live else None

    def states(self) -> dict[str, OriginateState]:
        """ActionID -> state of every live originate (for tests and monitors)."""
        return {a: p.state for a, p in self.by_action.items()}

    # ------------------------------------------------------------------ what moves them

    def attach_call(self, pending: Originate, call: Call, inp: Input) -> None:
        """``call`` is the one ``pending`` made (NEWCALL, or a late Success)."""
        call.action_id = pending.action_id
        call.origin = LineCallOrigin.OUTBOUND
        call.snapshot_id = None  # the application's own call: no caller to show
        if call.channel is None and pending.channel is not None:
            self.calls.set_channel(call, pending.channel)
        self.attach(pending, call.key, inp)

    def ours(self, key: str, line: str) -> Originate | None:
        """The originate a NEWCALL of ``line`` on call ``key`` attaches, if any."""
        pending = self.by_candidate.get(key)
        if pending is None or pending.line != line or not self.allows(pending, Input.NEWCALL):
            return None
        return pending

    def end(
        self,
        pending: Originate,
        inp: Input,
        out: list[OutputEvent],
        code: DiagnosticCode,
        message: str,
        frame: Message | None = None,
    ) -> None:
        """Give up on ``pending``: a diagnostic, then a synthesized IDLE on its line."""
        key = pending.failure_key
        out.append(Diagnostic(code, message, key, frame))
        out.append(CallState(pending.line, key, LineCallState.IDLE, synthesized=True))
        self.move(pending, inp)

    def on_refusal(self, message: Message) -> list[OutputEvent]:
        """``Response: Error`` to an Originate: no OriginateResponse will come.

        An Originate refused outright ("Extension does not exist." on 11+, or
        a failing synchronous Originate in capture 09) gets no
        ``OriginateResponse`` event, so the handle ends here.
        """
        action_id = message.get("ActionID")
        pending = None if action_id is None else self.by_action.get(action_id)
        if pending is None or not self.allows(pending, Input.REFUSED):
            return []
        if (message.get("Response") or "").strip().lower() != "error":
            return []
        key = pending.origination_id
        self.move(pending, Input.REFUSED)
        return [
            Diagnostic(
                DiagnosticCode.ORIGINATE_REFUSED,
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

    def on_originate_response(self, message: Message) -> list[OutputEvent]:
        """``OriginateResponse`` (1.2: ``OriginateSuccess``/``OriginateFailure``)."""
        action_id = message.get("ActionID")
        pending = None if action_id is None else self.by_action.get(action_id)
        if pending is None:
            # OriginateResponse is broadcast to every session: not ours.
            return []
        response = message.get("Response")
        if response is None:
            event = (message.get("Event") or "").strip().lower()
            response = "Success" if event == "originatesuccess" else "Failure"
        uid = (message.get("Uniqueid") or "").strip()
        out: list[OutputEvent] = []
        if response.strip().lower() == "success":
            self._success(pending, uid, message, out)
        else:
            self._failure(pending, uid, message, out)
        return out

    def _success(
        self, pending: Originate, uid: str, message: Message, out: list[OutputEvent]
    ) -> None:
        call = None if uid in NO_ID else self.calls.get(uid)
        late = (
            call is not None
            and pending.state is not OriginateState.ATTACHED
            and pending.line in call.lines
            and call.action_id is None
        )
        if not late:
            self.move(pending, Input.SUCCESS)
            if pending.state is OriginateState.ANSWERED and uid not in NO_ID:
                self.add_candidate(pending, uid)
            return
        # The NEWCALL came first and nothing told us it was ours (no
        # ChannelId, no VarSet): it went out as a new call. Attach late.
        assert call is not None
        self.attach_call(pending, call, Input.SUCCESS_LATE)
        out.append(
            Diagnostic(
                DiagnosticCode.ORIGINATE_NOT_FILTERED,
                f"the LINE_NEWCALL of the call made by {pending.action_id} arrived "
                "before its unique id was known and was reported as a new call; "
                "use Asterisk 12.2+ (ChannelId) or grant the AMI user read "
                "permission for VarSet events (dialplan class, call on 1.2/1.4)",
                uid,
                message,
            )
        )

    def _failure(
        self, pending: Originate, uid: str, message: Message, out: list[OutputEvent]
    ) -> None:
        if (
            pending.channel_id is not None
            and uid not in NO_ID
            and uid not in (pending.channel_id, pending.other_channel_id)
        ):
            # 11.22+/13.8+ put the requested ChannelId in a failure's Uniqueid;
            # another id means another session's Originate with our ActionID.
            return
        # Attached: a NEWCALL already attached a live call; it is not ours to
        # end, its Hangup will (safety net). The table says SETTLED.
        if self.move(pending, Input.FAILURE) is OriginateState.SETTLED:
            return
        reason = (message.get("Reason") or "").strip()
        mode = _REASON_MODE.get(reason, LineDisconnectMode.UNKNOWN)
        key = pending.origination_id
        out.append(CallState(pending.line, key, LineCallState.DISCONNECTED, mode, synthesized=True))
        out.append(CallState(pending.line, key, LineCallState.IDLE, synthesized=True))

    def on_var_set(self, message: Message) -> None:
        """A ``VarSet`` of ``TAPIEVENT_ORIGINATE`` names a channel of our originate."""
        variable = message.get("Variable")
        if variable is None or variable.strip().upper() != ORIGINATE_VARIABLE:
            return
        pending = self.by_origination.get((message.get("Value") or "").strip())
        uid = (message.get("Uniqueid") or "").strip()
        if pending is None or uid in NO_ID or not self.allows(pending, Input.VAR_SET):
            return
        self.add_candidate(pending, uid)
        self.move(pending, Input.VAR_SET)
        if pending.channel is None:
            # The first VarSet is the originated channel itself (;1 of a Local).
            pending.channel = message.get("Channel")

    def on_new_channel(self, message: Message) -> None:
        """``Newchannel`` of our own ChannelId: the channel name, before any NEWCALL."""
        uid = message.get("Uniqueid")
        pending = None if uid is None else self.by_candidate.get(uid)
        if pending is not None and pending.channel is None and uid == pending.channel_id:
            pending.channel = message.get("Channel")

    def on_hangup(self, uid: str, message: Message, out: list[OutputEvent]) -> None:
        """A candidate's ``Hangup`` ends an answered originate that never got its NEWCALL.

        Before the response the tracker waits: the Failure that follows a
        hangup (captures 09, orig-nosuch) carries the reason.
        """
        pending = self.by_candidate.get(uid)
        if pending is not None and self.allows(pending, Input.HANGUP):
            self.end(
                pending,
                Input.HANGUP,
                out,
                DiagnosticCode.MISSING_NEWCALL,
                f"the call made by {pending.action_id} ended without a LINE_NEWCALL "
                f"{pending.line} from the dialplan; it gets a synthesized IDLE",
                message,
            )

    def reconcile(self, live: frozenset[str], out: list[OutputEvent]) -> None:
        """End every originate none of whose candidates is live (its answer was lost)."""
        for pending in self:
            if self.allows(pending, Input.STALE) and not any(c in live for c in pending.candidates):
                self.end(
                    pending,
                    Input.STALE,
                    out,
                    DiagnosticCode.STALE_CALL,
                    f"the call made by {pending.action_id} has no live channel after the "
                    "reconnect; it gets a synthesized IDLE",
                )


ORIGINATE_VARIABLE: Final = "TAPIEVENT_ORIGINATE"
"""Channel variable set on an Originate when ``ChannelId`` cannot be used.

Its ``VarSet`` event carries the value the tracker chose together with the
new channel's ``Uniqueid``, which is how the call key is learned early.
"""

# OriginateResponse "Reason" (the last control frame, frame.h) -> TAPI mode.
_REASON_MODE: Final[Mapping[str, LineDisconnectMode]] = {
    "0": LineDisconnectMode.UNAVAIL,  # no such extension, failed, congested leg
    "1": LineDisconnectMode.REJECT,  # the far end hung up before answering
    "3": LineDisconnectMode.NOANSWER,  # still ringing at Timeout
    "5": LineDisconnectMode.BUSY,
    "8": LineDisconnectMode.CONGESTION,
}
