"""The tapi.h constants, with the numbers of tapi.h and tspi.h.

Every family of TAPI constants a line service provider sends or receives is
an ``IntFlag`` (OR-able bits) or ``IntEnum`` (plain numbers) whose values are
exactly those of tapi.h, so a Windows adapter hands them to TAPI unchanged
and a number seen in a trace can always be named. Nothing here knows about
Asterisk or the TAPIEVENT text: the grammar and the tracker build on it, and
the TSP code uses it instead of numbers of its own.

``constant_name`` and ``lookup_constant`` convert between members and their
C spellings (``LINEDISCONNECTMODE_BUSY``); ``mode_family`` says which
family a LINE_CALLSTATE ``dwParam2`` belongs to for each state.
"""

from __future__ import annotations

import enum

__all__ = [
    "CALL_STATE_MODE_FAMILIES",
    "CONSTANT_PREFIXES",
    "MAX_DWORD",
    "TSPI_MESSAGE_BASE",
    "LineAddressState",
    "LineBusyMode",
    "LineCallFeature",
    "LineCallInfoState",
    "LineCallOrigin",
    "LineCallPartyId",
    "LineCallPrivilege",
    "LineCallReason",
    "LineCallState",
    "LineConnectedMode",
    "LineDevStateFlag",
    "LineDialToneMode",
    "LineDigitMode",
    "LineDisconnectMode",
    "LineError",
    "LineGenerateTerm",
    "LineMediaMode",
    "LineOfferingMode",
    "LineSpecialInfo",
    "StringFormat",
    "TapiMessage",
    "constant_name",
    "lookup_constant",
    "mode_family",
]

MAX_DWORD = 0xFFFFFFFF
"""The largest value of a TAPI ``DWORD`` parameter (``dwParam1..3``)."""


class TapiMessage(enum.IntEnum):
    """The ``dwMsg`` of a TAPI line/phone event (tapi.h, tspi.h).

    A line TSP sends LINE_NEWCALL, LINE_CALLSTATE, LINE_CALLINFO,
    LINE_LINEDEVSTATE (and LINE_CLOSE, LINE_ADDRESSSTATE, ...) through its
    LINEEVENT callback; the others are listed so a numeric ``dwMsg`` seen in a
    trace can always be named.
    """

    LINE_ADDRESSSTATE = 0
    LINE_CALLINFO = 1
    LINE_CALLSTATE = 2
    LINE_CLOSE = 3
    LINE_DEVSPECIFIC = 4
    LINE_DEVSPECIFICFEATURE = 5
    LINE_GATHERDIGITS = 6
    LINE_GENERATE = 7
    LINE_LINEDEVSTATE = 8
    LINE_MONITORDIGITS = 9
    LINE_MONITORMEDIA = 10
    LINE_MONITORTONE = 11
    LINE_REPLY = 12
    LINE_REQUEST = 13
    PHONE_BUTTON = 14
    PHONE_CLOSE = 15
    PHONE_DEVSPECIFIC = 16
    PHONE_REPLY = 17
    PHONE_STATE = 18
    LINE_CREATE = 19
    PHONE_CREATE = 20
    LINE_AGENTSPECIFIC = 21
    LINE_AGENTSTATUS = 22
    LINE_APPNEWCALL = 23
    LINE_PROXYREQUEST = 24
    LINE_REMOVE = 25
    PHONE_REMOVE = 26
    LINE_AGENTSESSIONSTATUS = 27
    LINE_QUEUESTATUS = 28
    LINE_AGENTSTATUSEX = 29
    LINE_GROUPSTATUS = 30
    LINE_PROXYSTATUS = 31
    LINE_APPNEWCALLHUB = 32
    LINE_CALLHUBCLOSE = 33
    LINE_DEVSPECIFICEX = 34
    #: TSPI_MESSAGE_BASE (tspi.h): the TSPI-only messages start here.
    LINE_NEWCALL = 500
    LINE_CALLDEVSPECIFIC = 501
    LINE_CALLDEVSPECIFICFEATURE = 502
    LINE_CREATEDIALOGINSTANCE = 503
    LINE_SENDDIALOGINSTANCEDATA = 504
    LINE_SENDMSPDATA = 505
    LINE_QOSINFO = 506


TSPI_MESSAGE_BASE = 500
"""tspi.h: the first message number only a service provider sends (LINE_NEWCALL)."""


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


class LineConnectedMode(enum.IntFlag):
    """LINECONNECTEDMODE_* (LINE_CALLSTATE dwParam2 with CONNECTED)."""

    ACTIVE = 0x1
    INACTIVE = 0x2
    ACTIVEHELD = 0x4
    INACTIVEHELD = 0x8
    CONFIRMED = 0x10


class LineOfferingMode(enum.IntFlag):
    """LINEOFFERINGMODE_* (LINE_CALLSTATE dwParam2 with OFFERING)."""

    ACTIVE = 0x1
    INACTIVE = 0x2


class LineBusyMode(enum.IntFlag):
    """LINEBUSYMODE_* (LINE_CALLSTATE dwParam2 with BUSY)."""

    STATION = 0x1
    TRUNK = 0x2
    UNKNOWN = 0x4
    UNAVAIL = 0x8


class LineDialToneMode(enum.IntFlag):
    """LINEDIALTONEMODE_* (LINE_CALLSTATE dwParam2 with DIALTONE)."""

    NORMAL = 0x1
    SPECIAL = 0x2
    INTERNAL = 0x4
    EXTERNAL = 0x8
    UNKNOWN = 0x10
    UNAVAIL = 0x20


class LineSpecialInfo(enum.IntFlag):
    """LINESPECIALINFO_* (LINE_CALLSTATE dwParam2 with SPECIALINFO)."""

    NOCIRCUIT = 0x1
    CUSTIRREG = 0x2
    REORDER = 0x4
    UNKNOWN = 0x8
    UNAVAIL = 0x10


class LineCallInfoState(enum.IntFlag):
    """LINECALLINFOSTATE_* (LINE_CALLINFO dwParam1, OR-able)."""

    OTHER = 0x1
    DEVSPECIFIC = 0x2
    BEARERMODE = 0x4
    RATE = 0x8
    MEDIAMODE = 0x10
    APPSPECIFIC = 0x20
    CALLID = 0x40
    RELATEDCALLID = 0x80
    ORIGIN = 0x100
    REASON = 0x200
    COMPLETIONID = 0x400
    NUMOWNERINCR = 0x800
    NUMOWNERDECR = 0x1000
    NUMMONITORS = 0x2000
    TRUNK = 0x4000
    CALLERID = 0x8000
    CALLEDID = 0x10000
    CONNECTEDID = 0x20000
    REDIRECTIONID = 0x40000
    REDIRECTINGID = 0x80000
    DISPLAY = 0x100000
    USERUSERINFO = 0x200000
    HIGHLEVELCOMP = 0x400000
    LOWLEVELCOMP = 0x800000
    CHARGINGINFO = 0x1000000
    TERMINAL = 0x2000000
    DIALPARAMS = 0x4000000
    MONITORMODES = 0x8000000
    TREATMENT = 0x10000000
    QOS = 0x20000000
    CALLDATA = 0x40000000


class LineCallOrigin(enum.IntFlag):
    """LINECALLORIGIN_* (LINECALLINFO dwOrigin)."""

    OUTBOUND = 0x1
    INTERNAL = 0x2
    EXTERNAL = 0x4
    UNKNOWN = 0x10
    UNAVAIL = 0x20
    CONFERENCE = 0x40
    INBOUND = 0x80


class LineCallReason(enum.IntFlag):
    """LINECALLREASON_* (LINECALLINFO dwReason)."""

    DIRECT = 0x1
    FWDBUSY = 0x2
    FWDNOANSWER = 0x4
    FWDUNCOND = 0x8
    PICKUP = 0x10
    UNPARK = 0x20
    REDIRECT = 0x40
    CALLCOMPLETION = 0x80
    TRANSFER = 0x100
    REMINDER = 0x200
    UNKNOWN = 0x400
    UNAVAIL = 0x800
    INTRUDE = 0x1000
    PARKED = 0x2000
    CAMPEDON = 0x4000
    ROUTEREQUEST = 0x8000


class LineCallPrivilege(enum.IntFlag):
    """LINECALLPRIVILEGE_* (app-level LINE_CALLSTATE dwParam3; TAPISRV computes it)."""

    NONE = 0x1
    MONITOR = 0x2
    OWNER = 0x4


class LineCallPartyId(enum.IntFlag):
    """LINECALLPARTYID_* (LINECALLINFO dwCallerIDFlags and friends)."""

    BLOCKED = 0x1
    OUTOFAREA = 0x2
    NAME = 0x4
    ADDRESS = 0x8
    PARTIAL = 0x10
    UNKNOWN = 0x20
    UNAVAIL = 0x40


class LineDevStateFlag(enum.IntFlag):
    """LINEDEVSTATE_* (LINE_LINEDEVSTATE dwParam1)."""

    OTHER = 0x1
    RINGING = 0x2
    CONNECTED = 0x4
    DISCONNECTED = 0x8
    MSGWAITON = 0x10
    MSGWAITOFF = 0x20
    INSERVICE = 0x40
    OUTOFSERVICE = 0x80
    MAINTENANCE = 0x100
    OPEN = 0x200
    CLOSE = 0x400
    NUMCALLS = 0x800
    NUMCOMPLETIONS = 0x1000
    TERMINALS = 0x2000
    ROAMMODE = 0x4000
    BATTERY = 0x8000
    SIGNAL = 0x10000
    DEVSPECIFIC = 0x20000
    REINIT = 0x40000
    LOCK = 0x80000
    CAPSCHANGE = 0x100000
    CONFIGCHANGE = 0x200000
    TRANSLATECHANGE = 0x400000
    COMPLCANCEL = 0x800000
    REMOVED = 0x1000000


class LineAddressState(enum.IntFlag):
    """LINEADDRESSSTATE_* (LINE_ADDRESSSTATE dwParam2)."""

    OTHER = 0x1
    DEVSPECIFIC = 0x2
    INUSEZERO = 0x4
    INUSEONE = 0x8
    INUSEMANY = 0x10
    NUMCALLS = 0x20
    FORWARD = 0x40
    TERMINALS = 0x80
    CAPSCHANGE = 0x100


class LineDigitMode(enum.IntFlag):
    """LINEDIGITMODE_* (LINE_MONITORDIGITS dwParam2)."""

    PULSE = 0x1
    DTMF = 0x2
    DTMFEND = 0x4


class LineGenerateTerm(enum.IntFlag):
    """LINEGENERATETERM_* (LINE_GENERATE dwParam1)."""

    DONE = 0x1
    CANCEL = 0x2


class LineMediaMode(enum.IntFlag):
    """LINEMEDIAMODE_* a voice TSP uses (LINE_CALLSTATE dwParam3 at the TSPI level).

    Only the voice/data modes a PBX line reports are listed; tapi.h has more
    (fax, TDD, video, ...) that an Asterisk line never carries.
    """

    UNKNOWN = 0x2
    INTERACTIVEVOICE = 0x4
    AUTOMATEDVOICE = 0x8
    DATAMODEM = 0x10


class LineCallFeature(enum.IntFlag):
    """LINECALLFEATURE_* (LINECALLSTATUS dwCallFeatures): what the app may do now."""

    ACCEPT = 0x1
    ADDTOCONF = 0x2
    ANSWER = 0x4
    BLINDTRANSFER = 0x8
    COMPLETECALL = 0x10
    COMPLETETRANSF = 0x20
    DIAL = 0x40
    DROP = 0x80
    GATHERDIGITS = 0x100
    GENERATEDIGITS = 0x200
    GENERATETONE = 0x400
    HOLD = 0x800
    MONITORDIGITS = 0x1000
    MONITORMEDIA = 0x2000
    MONITORTONES = 0x4000
    PARK = 0x8000
    PREPAREADDCONF = 0x10000
    REDIRECT = 0x20000
    REMOVEFROMCONF = 0x40000
    SECURECALL = 0x80000
    SENDUSERUSER = 0x100000
    SETCALLPARAMS = 0x200000
    SETMEDIACONTROL = 0x400000
    SETTERMINAL = 0x800000
    SETUPCONF = 0x1000000
    SETUPTRANSFER = 0x2000000
    SWAPHOLD = 0x4000000
    UNHOLD = 0x8000000
    RELEASEUSERUSERINFO = 0x10000000


class StringFormat(enum.IntEnum):
    """STRINGFORMAT_* (dwStringFormat of LINEDEVCAPS); TAPI 2.x strings are UNICODE."""

    ASCII = 1
    DBCS = 2
    UNICODE = 3
    BINARY = 4


class LineError(enum.IntEnum):
    """LINEERR_* a line TSP returns, as the unsigned 32-bit numbers of tapi.h.

    TAPI declares the result as a signed ``LONG``, so on the wire these are
    negative; :meth:`as_long` gives that value for an ``ASYNC_COMPLETION``
    ``lResult``.
    """

    ALLOCATED = 0x80000001
    BADDEVICEID = 0x80000002
    CALLUNAVAIL = 0x80000005
    INCOMPATIBLEAPIVERSION = 0x8000000C
    INCOMPATIBLEEXTVERSION = 0x8000000D
    INIFILECORRUPT = 0x8000000E
    INUSE = 0x8000000F
    INVALADDRESS = 0x80000010
    INVALADDRESSID = 0x80000011
    INVALCALLHANDLE = 0x80000018
    INVALCALLSTATE = 0x8000001C
    INVALDEVICECLASS = 0x80000023
    INVALLINEHANDLE = 0x8000002B
    INVALLINESTATE = 0x8000002C
    INVALPARAM = 0x80000032
    INVALPOINTER = 0x80000035
    NODEVICE = 0x80000042
    NODRIVER = 0x80000043
    NOMEM = 0x80000044
    OPERATIONFAILED = 0x80000048
    OPERATIONUNAVAIL = 0x80000049
    RESOURCEUNAVAIL = 0x8000004B
    STRUCTURETOOSMALL = 0x8000004D
    TARGETNOTFOUND = 0x8000004E
    REINIT = 0x80000052
    NOMULTIPLEINSTANCE = 0x80000056
    DISCONNECTED = 0x80000060
    SERVICE_NOT_RUNNING = 0x80000061

    def as_long(self) -> int:
        """The value as a signed 32-bit ``LONG`` (what TAPI functions return)."""
        return int(self) - (1 << 32)


CONSTANT_PREFIXES: dict[type[enum.Enum], str] = {
    LineCallState: "LINECALLSTATE_",
    LineDisconnectMode: "LINEDISCONNECTMODE_",
    LineConnectedMode: "LINECONNECTEDMODE_",
    LineOfferingMode: "LINEOFFERINGMODE_",
    LineBusyMode: "LINEBUSYMODE_",
    LineDialToneMode: "LINEDIALTONEMODE_",
    LineSpecialInfo: "LINESPECIALINFO_",
    LineCallInfoState: "LINECALLINFOSTATE_",
    LineCallOrigin: "LINECALLORIGIN_",
    LineCallReason: "LINECALLREASON_",
    LineCallPrivilege: "LINECALLPRIVILEGE_",
    LineCallPartyId: "LINECALLPARTYID_",
    LineDevStateFlag: "LINEDEVSTATE_",
    LineAddressState: "LINEADDRESSSTATE_",
    LineDigitMode: "LINEDIGITMODE_",
    LineGenerateTerm: "LINEGENERATETERM_",
    LineMediaMode: "LINEMEDIAMODE_",
    LineCallFeature: "LINECALLFEATURE_",
    StringFormat: "STRINGFORMAT_",
    LineError: "LINEERR_",
    TapiMessage: "",
}
"""The tapi.h spelling of each family: ``prefix + member name`` is the C name."""

CALL_STATE_MODE_FAMILIES: dict[LineCallState, type[enum.IntFlag]] = {
    LineCallState.OFFERING: LineOfferingMode,
    LineCallState.DIALTONE: LineDialToneMode,
    LineCallState.BUSY: LineBusyMode,
    LineCallState.SPECIALINFO: LineSpecialInfo,
    LineCallState.CONNECTED: LineConnectedMode,
    LineCallState.DISCONNECTED: LineDisconnectMode,
}
"""Which constants a LINE_CALLSTATE dwParam2 holds for each state (tapi-constants.md 1.2).

States not listed carry no mode constant (dwParam2 is unused, normally 0).
"""


def mode_family(state: LineCallState) -> type[enum.IntFlag] | None:
    """The mode constants valid for ``state``, or ``None`` when it takes none."""
    return CALL_STATE_MODE_FAMILIES.get(state)


def constant_name(member: enum.Enum) -> str:
    """The tapi.h name of ``member``, e.g. ``LINEDISCONNECTMODE_BUSY``.

    Only single members have a name; a combination of flags raises ValueError.
    """
    family = type(member)
    prefix = CONSTANT_PREFIXES.get(family)
    if prefix is None:
        raise ValueError(f"{family.__name__} is not a TAPI constant family")
    for name, candidate in family.__members__.items():
        if candidate.value == member.value:
            return prefix + name
    raise ValueError(f"{member!r} is not a single {family.__name__} constant")


def lookup_constant(family: type[enum.Enum], name: str) -> enum.Enum | None:
    """The member of ``family`` spelled ``name`` (tapi.h name, any case), or ``None``.

    ``lookup_constant(LineBusyMode, "linebusymode_trunk")`` is
    ``LineBusyMode.TRUNK``; the bare member name (``TRUNK``) is not accepted,
    so a mode of the wrong family cannot be mistaken for this one.
    """
    prefix = CONSTANT_PREFIXES.get(family)
    if prefix is None:
        raise ValueError(f"{family.__name__} is not a TAPI constant family")
    upper = name.upper()
    if not upper.startswith(prefix):
        return None
    member = family.__members__.get(upper[len(prefix) :])
    return member
