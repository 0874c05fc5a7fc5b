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
    "CALL_STATE_MODE_FAMILIES",
    "CONSTANT_PREFIXES",
    "MAX_DWORD",
    "TSPI_MESSAGE_BASE",
    "WSP",
    "CallInfo",
    "CallState",
    "CallStateCommand",
    "CallerId",
    "Command",
    "Diagnostic",
    "ExtractedEvent",
    "HangupCommand",
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
    "LineDevState",
    "LineDevStateFlag",
    "LineDialToneMode",
    "LineDigitMode",
    "LineDisconnectMode",
    "LineError",
    "LineGenerateTerm",
    "LineMediaMode",
    "LineMessage",
    "LineOfferingMode",
    "LineSpecialInfo",
    "StringFormat",
    "TapiMessage",
    "constant_name",
    "control_problem",
    "line_problem",
    "lookup_constant",
    "mode_family",
    "split_words",
    "unique_id_problem",
    "NewCall",
    "NewCallCommand",
    "OutputEvent",
    "SetCallerIdCommand",
    "TapiEvent",
    "TargetSpec",
    "UnknownCommand",
]


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


LineMessage = TapiMessage
"""The same enum under the name the LINE_* messages suggest."""

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


# --------------------------------------------------------------------------- caller id


def _empty_to_none(value: str | None) -> str | None:
    # Asterisk has no distinction between an empty and an absent name or
    # number (``"" <>`` is "no caller id"), so neither do we.
    return value or None


def _no_line_breaks(
    _inst: object, attribute: attrs.Attribute[str | None], value: str | None
) -> None:
    if value is not None and any(c in value for c in "\r\n\0"):
        raise ValueError(f"{attribute.name} must not contain CR, LF or NUL: {value!r}")


def _valid_number(_inst: object, attribute: attrs.Attribute[str | None], value: str | None) -> None:
    _no_line_breaks(_inst, attribute, value)
    if value is not None and ("<" in value or ">" in value):
        raise ValueError(f"a caller id number cannot contain '<' or '>': {value!r}")


# ast_isphonenumber(): what Asterisk accepts as a bare number after
# ast_shrink_phone_number() has removed the punctuation people type.
_PHONE_CHARS = frozenset("0123456789*#+")


def _shrink_phone_number(text: str) -> str:
    """Asterisk's ast_shrink_phone_number(): drop ``( )`` and blanks, ``-`` outside
    ``[...]``, and every ``.`` but a trailing one (main/callerid.c)."""
    out = []
    bracketed = 0
    for i, ch in enumerate(text):
        if ch == "[":
            bracketed += 1
            out.append(ch)
        elif ch == "]":
            bracketed -= 1
            out.append(ch)
        elif ch == "-":
            if bracketed:
                out.append(ch)
        elif ch == ".":
            if i == len(text) - 1:
                out.append(ch)
        elif ch not in "( )":
            out.append(ch)
    return "".join(out)


def _is_phone_number(text: str) -> bool:
    return bool(text) and all(c in _PHONE_CHARS for c in text)


def _unquote_name(text: str) -> str:
    """The name part of a caller id: inside the first ``"..."`` if any (with
    ``\\"`` and ``\\\\`` escapes, as ``${QUOTE()}`` writes them), else stripped."""
    start = text.find('"')
    if start < 0:
        return text.strip(" \t")
    out = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if ch == '"':
            return "".join(out)
        out.append(ch)
        i += 1
    # No closing quote: Asterisk keeps what follows the opening one.
    return "".join(out).strip(" \t")


@attrs.frozen(slots=True)
class CallerId:
    """A caller id as Asterisk renders ``${CALLERID(all)}``: ``"Name" <number>``.

    Empty strings mean "absent" and are stored as ``None``. :meth:`parse`
    follows Asterisk's ``ast_callerid_parse()``; ``str()`` writes text that
    :meth:`parse` reads back as the same value.
    """

    name: str | None = attrs.field(
        default=None, converter=_empty_to_none, validator=_no_line_breaks
    )
    number: str | None = attrs.field(
        default=None, converter=_empty_to_none, validator=_valid_number
    )

    @classmethod
    def parse(cls, text: str) -> CallerId:
        """Read a caller id the way Asterisk's ``ast_callerid_parse()`` does.

        * ``"Name" <num>`` and ``Name <num>``: the number is between the last
          ``<`` and the last ``>`` after it, kept verbatim; the name is inside the
          first pair of double quotes (backslash escapes honoured), else the
          text before ``<`` without surrounding blanks.
        * no ``<...>``: if the text is a phone number once Asterisk's
          punctuation (``( ) - .`` and spaces) is removed -- only digits, ``*``,
          ``#``, ``+`` remain -- it is the number (in that shrunk form);
          otherwise it is a name (quoted or bare).
        * empty text: no name and no number.

        Never raises: any text is some caller id. CR, LF and NUL (which no AMI
        value can carry) are dropped.
        """
        text = text.replace("\r", "").replace("\n", "").replace("\0", "")
        lt = text.rfind("<")
        gt = text.rfind(">") if lt >= 0 else -1
        if lt >= 0 and gt > lt:
            number = text[lt + 1 : gt]
            return cls(_unquote_name(text[:lt]), number.replace("<", "").replace(">", ""))
        shrunk = _shrink_phone_number(text)
        if _is_phone_number(shrunk):
            return cls(None, shrunk)
        return cls(_unquote_name(text), None)

    def format(self) -> str:
        """The canonical text: ``"Name" <num>``, ``<num>`` or ``num``, ``"Name"``, or ``""``."""
        parts = []
        if self.name is not None:
            escaped = self.name.replace("\\", "\\\\").replace('"', '\\"')
            parts.append(f'"{escaped}"')
        if self.number is not None:
            if self.name is None and _is_phone_number(self.number):
                parts.append(self.number)
            else:
                parts.append(f"<{self.number}>")
        elif self.name is not None and "<" in self.name:
            # '<' inside the quotes would be taken for the start of a number.
            parts.append("<>")
        return " ".join(parts)

    def __str__(self) -> str:
        return self.format()


# --------------------------------------------------------------------------- TAPIEVENT text


# Character classes of the TAPIEVENT grammar (protocol.md section 2). They
# live here because the value types refuse what the grammar cannot write:
# parse(format(x)) == x must hold for every value that can be built.

WSP = " \t"
"""The blanks that separate TAPIEVENT words (ABNF WSP: space and tab)."""

_CONTROL = frozenset(chr(c) for c in range(32) if c != 9) | {"\x7f"}
_SPEC_SPECIAL = frozenset("&[]")
_COMMAND_KEYWORDS = frozenset({"LINE_NEWCALL", "LINE_CALLSTATE"})


def split_words(text: str) -> list[str]:
    """``text`` split at runs of spaces and tabs (not at other Unicode blanks)."""
    return [w for w in text.replace("\t", " ").split(" ") if w]


def control_problem(text: str) -> int | None:
    """Index of the first control character (CR, LF, NUL, ...; not tab) in ``text``."""
    for i, ch in enumerate(text):
        if ch in _CONTROL:
            return i
    return None


def _token_problem(text: str, what: str) -> tuple[int, str] | None:
    if not text:
        return (0, f"empty {what}")
    for i, ch in enumerate(text):
        if ch in _CONTROL:
            return (i, f"control character U+{ord(ch):04X} in {what}")
        if ch.isspace():
            return (i, f"blank in {what} {text!r}: {what}s cannot contain blanks")
        if ch in _SPEC_SPECIAL:
            return (i, f"{ch!r} in {what} {text!r}: {what}s cannot contain '&', '[' or ']'")
    return None


def line_problem(line: str) -> tuple[int, str] | None:
    """Why ``line`` is not a valid TAPIEVENT line name, with the index, or ``None``.

    A line is one word of printable characters other than ``&``, ``[`` and
    ``]``, not starting with ``~`` or ``!`` (those mark a unique id or an
    excluded line inside a spec).
    """
    problem = _token_problem(line, "line name")
    if problem is None and line[0] in "~!":
        return (
            0,
            f"line name {line!r} starts with {line[0]!r}, which marks a "
            + ("unique id" if line[0] == "~" else "excluded line"),
        )
    return problem


def unique_id_problem(unique_id: str) -> tuple[int, str] | None:
    """Why ``unique_id`` cannot follow ``~`` in a spec, with the index, or ``None``."""
    return _token_problem(unique_id, "unique id")


def _edge_blank_problem(text: str, what: str) -> str | None:
    if text[:1] in (" ", "\t") or text[-1:] in (" ", "\t"):
        return f"{what} starts or ends with a blank, which TAPIEVENT text cannot keep"
    i = control_problem(text)
    if i is not None:
        return f"{what} contains control character U+{ord(text[i]):04X} at index {i}"
    return None


def _raise(problem: tuple[int, str] | str | None) -> None:
    if problem is not None:
        raise ValueError(problem if isinstance(problem, str) else problem[1])


def _check_unique_id(_inst: object, _attr: object, value: str | None) -> None:
    if value is not None:
        if not isinstance(value, str):
            raise TypeError(f"unique_id must be a str or None, not {type(value).__name__}")
        _raise(unique_id_problem(value))


def _check_lines(
    _inst: object, attr: attrs.Attribute[tuple[str, ...]], value: tuple[str, ...]
) -> None:
    if not isinstance(value, tuple):
        raise TypeError(f"{attr.name} must be a tuple of line names, not {type(value).__name__}")
    for line in value:
        if not isinstance(line, str):
            raise TypeError(f"{attr.name} holds a {type(line).__name__}, not a line name")
        _raise(line_problem(line))


def _check_disjoint(inst: TargetSpec, _attr: object, value: tuple[str, ...]) -> None:
    both = set(inst.include).intersection(value)
    if both:
        raise ValueError(f"line {sorted(both)[0]!r} is both included and excluded")


@attrs.frozen(slots=True)
class TargetSpec:
    """The bracket spec ``[~uniqueid&line&!line]``: which call, which of its lines.

    Values the grammar cannot write are refused (ValueError): empty or
    blank-containing names, ``&``/``[``/``]`` in a name, a line starting with
    ``~``/``!``, or a line both included and excluded.
    """

    unique_id: str | None = attrs.field(default=None, validator=_check_unique_id)
    include: tuple[str, ...] = attrs.field(default=(), validator=_check_lines)
    exclude: tuple[str, ...] = attrs.field(default=(), validator=[_check_lines, _check_disjoint])

    @property
    def is_empty(self) -> bool:
        """True for ``[]`` or no spec at all: no unique id and no line targets."""
        return self.unique_id is None and not self.include and not self.exclude


def _check_line(_inst: object, _attr: object, value: str) -> None:
    if not isinstance(value, str):
        raise TypeError(f"line must be a str, not {type(value).__name__}")
    _raise(line_problem(value))


@attrs.frozen(slots=True)
class NewCallCommand:
    """``LINE_NEWCALL <line>``: line ``line`` starts tracking the call."""

    line: str = attrs.field(validator=_check_line)


_STATE_VALUES = frozenset(m.value for m in LineCallState.__members__.values())
MAX_DWORD = 0xFFFFFFFF


def _check_state(_inst: object, _attr: object, value: LineCallState) -> None:
    if not isinstance(value, LineCallState) or value.value not in _STATE_VALUES:
        raise ValueError(f"state must be one of the 16 LineCallState members, not {value!r}")


def _check_mode(_inst: object, _attr: object, value: int | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"mode must be an int or None, not {type(value).__name__}")
    if not 0 <= value <= MAX_DWORD:
        raise ValueError(f"mode {value} does not fit a DWORD (0..0xFFFFFFFF)")


@attrs.frozen(slots=True)
class CallStateCommand:
    """``LINE_CALLSTATE LINECALLSTATE_<state> [mode]`` for one of the 16 TAPI states.

    ``mode`` is the numeric LINE_CALLSTATE dwParam2 (e.g. a LINEDISCONNECTMODE_
    value), or ``None`` when the dialplan gave none.
    """

    state: LineCallState = attrs.field(validator=_check_state)
    mode: int | None = attrs.field(default=None, validator=_check_mode)


@attrs.frozen(slots=True)
class HangupCommand:
    """``LINE_CALLSTATE LINECALLSTATE_HANGUP``: AstTapi's "answered elsewhere".

    Not a TAPI state; the tracker turns it into DISCONNECTED/PICKUP then IDLE.
    """


def _check_callerid_text(_inst: object, _attr: object, value: str) -> None:
    if not isinstance(value, str):
        raise TypeError(f"text must be a str, not {type(value).__name__}")
    if value:
        _raise(_edge_blank_problem(value, "SET CALLERID text"))


@attrs.frozen(slots=True)
class SetCallerIdCommand:
    """``SET CALLERID <text>``; ``text`` is kept verbatim (inner blanks too).

    ``text`` may be empty (``SET CALLERID`` alone); it cannot start or end
    with a blank (the grammar strips those) nor hold control characters.
    Use :meth:`caller_id` for its meaning.
    """

    text: str = attrs.field(validator=_check_callerid_text)

    def caller_id(self) -> CallerId:
        """``text`` read as an Asterisk caller id (see :meth:`CallerId.parse`)."""
        return CallerId.parse(self.text)


def _check_unknown_text(_inst: object, _attr: object, value: str) -> None:
    if not isinstance(value, str):
        raise TypeError(f"text must be a str, not {type(value).__name__}")
    if not value:
        raise ValueError("an unknown command cannot be empty")
    _raise(_edge_blank_problem(value, "command"))
    if value.startswith("["):
        raise ValueError("an unknown command cannot start with '[' (it would read as a spec)")
    words = split_words(value)
    first = words[0].upper()
    if first in _COMMAND_KEYWORDS or (
        first == "SET" and len(words) > 1 and words[1].upper() == "CALLERID"
    ):
        raise ValueError(f"{value!r} is a known command, not an unknown one")


@attrs.frozen(slots=True)
class UnknownCommand:
    """Any other command, kept verbatim so it can be reported and re-formatted."""

    text: str = attrs.field(validator=_check_unknown_text)

    @property
    def word(self) -> str:
        """The command word (first word, upper-cased), for "reported once" bookkeeping."""
        return split_words(self.text)[0].upper()


Command = NewCallCommand | CallStateCommand | HangupCommand | SetCallerIdCommand | UnknownCommand
"""The command of a TAPIEVENT text, one class per AstTapi command word."""

_COMMAND_TYPES = (
    NewCallCommand,
    CallStateCommand,
    HangupCommand,
    SetCallerIdCommand,
    UnknownCommand,
)


@attrs.frozen(slots=True)
class TapiEvent:
    """One parsed TAPIEVENT text: the optional spec and the command."""

    spec: TargetSpec = attrs.field(validator=attrs.validators.instance_of(TargetSpec))
    command: Command = attrs.field(validator=attrs.validators.instance_of(_COMMAND_TYPES))


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
"""Every value the tracker reports: the TAPI events and the diagnostics."""


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
