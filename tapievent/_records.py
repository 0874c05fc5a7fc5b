"""What a finished call leaves behind: one :class:`CallRecord` per ``NewCall``.

A CTI user asks three questions after a call: when did it ring, who took
it, and for how long. The tracker answers them once, when the call's line
goes IDLE (or the call is ended for it: Hangup safety net, reconcile after
a reconnect, eviction), with one record per line the call was offered to,
so that the records of a ring group say which desk answered and which ones
only rang. Times are POSIX seconds (UTC) as the runtime passed them in
with the bytes, or as the server stamped them (``Timestamp:``); the core
never reads a clock.
"""

from __future__ import annotations

import enum

import attrs

from ._callerid import CallerId

__all__ = ["CallDirection", "CallRecord", "Disposition"]


class CallDirection(str, enum.Enum):
    """Which way a call went, from the line's point of view."""

    INBOUND = "inbound"
    """The line was rung (the dialplan raised LINE_NEWCALL for it)."""
    OUTBOUND = "outbound"
    """The line's phone dialled out (LINECALLORIGIN_OUTBOUND from the dialplan)."""
    APPLICATION = "application"
    """The application made the call (``make_call``: AMI Originate)."""


class Disposition(str, enum.Enum):
    """How a call ended for one line."""

    ANSWERED = "answered"
    """This line answered (CONNECTED)."""
    ANSWERED_ELSEWHERE = "answered-elsewhere"
    """Another line the call was offered to answered it."""
    BUSY = "busy"
    """The far end or the line was busy (LINEDISCONNECTMODE_BUSY)."""
    NO_ANSWER = "no-answer"
    """Nobody answered before the dialplan gave up (LINEDISCONNECTMODE_NOANSWER)."""
    CONGESTION = "congestion"
    """The network was congested (LINEDISCONNECTMODE_CONGESTION)."""
    FAILED = "failed"
    """The call could not be made (unreachable, bad address, refused Originate, ...)."""
    ABANDONED = "abandoned"
    """The caller hung up before anyone answered."""


@attrs.frozen(slots=True)
class CallRecord:
    """The summary of one call on one line, emitted when the call ends there.

    ``lines`` are every line the call was offered to, in the order they got
    their NewCall (this record's ``line`` among them), as far as known when
    the record is emitted; ``answered_by`` is the line that went CONNECTED
    first, if any by then. ``start`` is when this line's NewCall arrived
    (for a call the application made, when the dialplan's NEWCALL attached
    it, or its first event), ``answer`` when the call was first CONNECTED on
    any of its lines (``None`` when nobody answered), ``end`` when this line
    went IDLE or was ended. The times are None when the runtime passed none
    (a replay without timings). ``synthesized`` is True when tapievent had
    to make up part of the call on this line (a missing IDLE, a reconnect,
    an eviction, a failed Originate), so the end time is when tapievent
    noticed, not when Asterisk hung up. ``cause`` is the AMI ``Hangup``
    cause (Q.850) when a Hangup ended the call, else None.

    ``source`` names the PBX the call came from (a ``--name`` or the host),
    so one process can follow several servers; like the events' ``time``
    and ``source`` fields, ``time`` (here the same as ``end``) says when.
    """

    line: str
    call_key: str
    lines: tuple[str, ...]
    answered_by: str | None
    direction: CallDirection
    disposition: Disposition
    caller_id: CallerId | None
    start: float | None
    answer: float | None
    end: float | None
    synthesized: bool = False
    source: str = ""
    cause: int | None = None

    @property
    def time(self) -> float | None:
        """When the record was made: the end of the call on this line (the events' ``time``)."""
        return self.end

    @property
    def ring_seconds(self) -> float | None:
        """From the NewCall to the answer (to the end when nobody answered), never negative.

        None when the times are unknown.
        """
        if self.start is None or self.end is None:
            return None
        until = self.end if self.answer is None else min(self.answer, self.end)
        return max(0.0, until - self.start)

    @property
    def talk_seconds(self) -> float | None:
        """From the answer to the end on the line that answered; 0 on every other line.

        A line that only rang while another answered did not talk, so its
        record says 0 whatever happened on the call afterwards. None when
        the times are unknown.
        """
        if self.start is None or self.end is None:
            return None
        if self.answer is None or self.answered_by != self.line:
            return 0.0
        return max(0.0, self.end - max(self.answer, self.start))
