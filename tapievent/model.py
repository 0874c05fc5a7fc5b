"""TAPI constants with their tapi.h numbers, and the value types of tapievent.

Everything here is a frozen value: commands parsed from TAPIEVENT text,
and the events the tracker emits. The numbers are exactly those of tapi.h
so a Windows adapter can pass them to TAPI unchanged.
"""

from __future__ import annotations

import enum

import attrs

from .ami_codec import Message

__all__ = [
    "CallInfo",
    "CallState",
    "CallStateCommand",
    "CallerId",
    "Command",
    "Diagnostic",
    "ExtractedEvent",
    "HangupCommand",
    "LineCallInfoState",
    "LineCallOrigin",
    "LineCallState",
    "LineDevState",
    "LineDevStateFlag",
    "LineDisconnectMode",
    "NewCall",
    "NewCallCommand",
    "OutputEvent",
    "SetCallerIdCommand",
    "TapiEvent",
    "TargetSpec",
    "UnknownCommand",
]


class LineCallState(enum.IntFlag):
    """LINECALLSTATE_* (LINE_CALLSTATE dwParam1); exactly one bit is ever sent."""

    IDLE = 0x1
    OFFERING = 0x2
    ACCEPTED = 0x4
    DIALTONE = 0x8
    DIALING = 0x10
    RINGBACK = 0x20
    BUSY = 0x40
    SPECIALINFO = 0x80
    CONNECTED = 0x100
    PROCEEDING = 0x200
    ONHOLD = 0x400
    CONFERENCED = 0x800
    ONHOLDPENDCONF = 0x1000
    ONHOLDPENDTRANSFER = 0x2000
    DISCONNECTED = 0x4000
    UNKNOWN = 0x8000


class LineDisconnectMode(enum.IntFlag):
    """LINEDISCONNECTMODE_* (LINE_CALLSTATE dwParam2 with DISCONNECTED)."""

    NORMAL = 0x1
    UNKNOWN = 0x2
    REJECT = 0x4
    PICKUP = 0x8
    FORWARDED = 0x10
    BUSY = 0x20
    NOANSWER = 0x40
    BADADDRESS = 0x80
    UNREACHABLE = 0x100
    CONGESTION = 0x200
    INCOMPATIBLE = 0x400
    UNAVAIL = 0x800
    NODIALTONE = 0x1000
    NUMBERCHANGED = 0x2000
    OUTOFORDER = 0x4000
    TEMPFAILURE = 0x8000
    QOSUNAVAIL = 0x10000
    BLOCKED = 0x20000
    DONOTDISTURB = 0x40000
    CANCELLED = 0x80000


class LineCallInfoState(enum.IntFlag):
    """LINECALLINFOSTATE_* (LINE_CALLINFO dwParam1, OR-able)."""

    CALLERID = 0x8000
    CONNECTEDID = 0x20000


class LineCallOrigin(enum.IntFlag):
    """LINECALLORIGIN_*."""

    OUTBOUND = 0x1
    INTERNAL = 0x2
    EXTERNAL = 0x4
    UNKNOWN = 0x10
    UNAVAIL = 0x20
    CONFERENCE = 0x40
    INBOUND = 0x80


class LineDevStateFlag(enum.IntFlag):
    """LINEDEVSTATE_* (LINE_LINEDEVSTATE dwParam1)."""

    INSERVICE = 0x40
    OUTOFSERVICE = 0x80


# --------------------------------------------------------------------------- caller id


@attrs.frozen(slots=True)
class CallerId:
    """A caller id as Asterisk renders ``${CALLERID(all)}``: ``"Name" <number>``."""

    name: str | None = None
    number: str | None = None


# --------------------------------------------------------------------------- TAPIEVENT text


@attrs.frozen(slots=True)
class TargetSpec:
    """The bracket spec ``[~uniqueid&line&!line]``: which call, which of its lines."""

    unique_id: str | None = None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()


@attrs.frozen(slots=True)
class NewCallCommand:
    """``LINE_NEWCALL <line>``: line ``line`` starts tracking the call."""

    line: str


@attrs.frozen(slots=True)
class CallStateCommand:
    """``LINE_CALLSTATE LINECALLSTATE_<state> [mode]`` for one of the 16 TAPI states.

    ``mode`` is the numeric LINE_CALLSTATE dwParam2 (e.g. a LINEDISCONNECTMODE_
    value), or ``None`` when the dialplan gave none.
    """

    state: LineCallState
    mode: int | None = None


@attrs.frozen(slots=True)
class HangupCommand:
    """``LINE_CALLSTATE LINECALLSTATE_HANGUP``: AstTapi's "answered elsewhere".

    Not a TAPI state; the tracker turns it into DISCONNECTED/PICKUP then IDLE.
    """


@attrs.frozen(slots=True)
class SetCallerIdCommand:
    """``SET CALLERID <text>``; ``text`` is kept verbatim (inner blanks too)."""

    text: str


@attrs.frozen(slots=True)
class UnknownCommand:
    """Any other command, kept verbatim so it can be reported and re-formatted."""

    text: str


Command = NewCallCommand | CallStateCommand | HangupCommand | SetCallerIdCommand | UnknownCommand


@attrs.frozen(slots=True)
class TapiEvent:
    """One parsed TAPIEVENT text: the optional spec and the command."""

    spec: TargetSpec
    command: Command


# --------------------------------------------------------------------------- tracker output


@attrs.frozen(slots=True)
class NewCall:
    """A call appeared on ``line`` (TAPI LINE_NEWCALL, then OFFERING by the adapter)."""

    line: str
    call_key: str
    origin: LineCallOrigin = LineCallOrigin.UNKNOWN
    caller_id: CallerId | None = None


@attrs.frozen(slots=True)
class CallState:
    """The call on ``line`` changed state (TAPI LINE_CALLSTATE).

    ``synthesized`` is True when tapievent made the event up to avoid a leak
    (Hangup safety net, reconcile, eviction) rather than the dialplan sending it.
    """

    line: str
    call_key: str
    state: LineCallState
    mode: int = 0
    synthesized: bool = False


@attrs.frozen(slots=True)
class CallInfo:
    """Information about the call on ``line`` changed (TAPI LINE_CALLINFO)."""

    line: str
    call_key: str
    info_state: LineCallInfoState
    caller_id: CallerId | None = None


@attrs.frozen(slots=True)
class LineDevState:
    """A line device changed (TAPI LINE_LINEDEVSTATE); ``line`` None means every line."""

    line: str | None
    state: LineDevStateFlag


@attrs.frozen(slots=True)
class Diagnostic:
    """Something a dialplan author or operator should know; never an exception.

    ``code`` is a stable string (``untracked-call``, ``missing-idle``, ...)
    that tools can match on. ``frame`` is the AMI message it came from; it is
    left out of equality so tests can compare diagnostics by meaning.
    """

    code: str
    message: str
    call_key: str | None = None
    frame: Message | None = attrs.field(default=None, eq=False)


OutputEvent = NewCall | CallState | CallInfo | LineDevState | Diagnostic


@attrs.frozen(slots=True)
class ExtractedEvent:
    """A TAPI event recognised in an AMI message, ready for the tracker.

    ``call_key`` comes from the spec's ``~uniqueid`` when present
    (``key_source == "spec"``), else from the message's ``Uniqueid`` header
    (``"header"``); it is ``None`` on Asterisk 1.4-1.8 without ``~``.
    ``diagnostics`` are the non-fatal findings (legacy syntax, duplicate
    TAPIEVENT headers, missing colon) made while extracting it.
    """

    event: TapiEvent
    call_key: str | None
    key_source: str | None
    frame: Message = attrs.field(eq=False)
    diagnostics: tuple[Diagnostic, ...] = ()
