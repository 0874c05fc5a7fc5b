"""tapievent: Asterisk calls as TAPI events, sans-IO.

The data path runs one way, one module per stage; the names below are
re-exported in the same order::

    bytes from Asterisk's AMI (TCP 5038)
      | ami_codec   AMIDecoder          bytes -> frames: Banner, Message
      | session     AMISession          login, ActionIDs, replies matched to actions
      | grammar     extract_tapievent   UserEvent(TAPI,TAPIEVENT: ...) -> TapiEvent
      | tracker     CallTracker         calls by unique id, Originate -> events
      | connection  Connection          session + tracker in one object: what a runtime drives
      |             Supervisor          when to reconnect, back off, resync or give up
      v
    NewCall, CallInfo, CallState, LineDevState, Diagnostic (DiagnosticCode)
      | transports, tsp, cli            the runtimes: sockets, threads, clocks
      v
    your program, or Windows TAPI through the TSP

Nothing in this package's core opens a socket, starts a thread or reads a
clock: bytes go in, values come out, and the runtimes (``transports``, the
Windows bridge ``tsp``, the command line ``cli``, the test kit ``testing``)
carry them; the core never imports them. The modules behind these names are
free to move; import from ``tapievent``.
"""

# --- bytes -> frames (ami_codec) ---
from .ami_codec import (
    NEED_DATA,
    AMIDecoder,
    Banner,
    Message,
    Frame,
    unescape_message,
    c_unescape,
    LimitExceeded,
    FrameTooLarge,
    LineTooLong,
    TooManyHeaders,
    TruncatedFrame,
    MissingEndMarker,
    Action,
    encode_action,
    encode_message,
    encode_banner,
)

# --- frames -> session (session) ---
from .session import (
    AMISession,
    SessionState,
    SessionEvent,
    LoginSucceeded,
    AuthenticationFailed,
    PermissionDenied,
    ActionResult,
    UnmatchedResponse,
    Goodbye,
    ConnectionClosed,
)

# --- the TAPIEVENT text (grammar, and the values it parses into) ---
from .grammar import (
    extract_tapievent,
    parse_tapievent,
    format_tapievent,
    TapiEventSyntaxError,
    DIALSTATUS_MODES,
)
from .dialplan.render import (
    CALLER_CONTROLLED,
    to_dialplan,
    asterisk_version,
    DialplanError,
)
from .model import (
    ExtractedEvent,
    TapiEvent,
    TargetSpec,
    Command,
    NewCallCommand,
    CallStateCommand,
    HangupCommand,
    SetCallerIdCommand,
    UnknownCommand,
    TapiEventValueError,
)

# --- TAPI events -> calls (tracker) ---
from .tracker import (
    CallTracker,
    TrackedCall,
    CallHandle,
    ORIGINATE_VARIABLE,
    OriginateState,
)

# --- what comes out: the events and diagnostics ---
from .model import (
    OutputEvent,
    NewCall,
    CallInfo,
    CallState,
    LineDevState,
    CallerId,
    Diagnostic,
    CallRecord,
    CallDirection,
    Disposition,
)
from ._diagnostics import DiagnosticCode

# --- the values of tapi.h the events carry ---
from .model import (
    TapiMessage,
    LineCallState,
    LineDisconnectMode,
    LineConnectedMode,
    LineOfferingMode,
    LineBusyMode,
    LineDialToneMode,
    LineSpecialInfo,
    CALL_STATE_MODE_FAMILIES,
    mode_family,
    LineCallInfoState,
    LineCallOrigin,
    LineCallReason,
    LineCallPrivilege,
    LineCallPartyId,
    LineDevStateFlag,
    LineAddressState,
    LineDigitMode,
    LineGenerateTerm,
    LineMediaMode,
    LineCallFeature,
    StringFormat,
    LineError,
    constant_name,
    lookup_constant,
)

# --- session + tracker in one object, and its reconnect supervisor (connection) ---
from .connection import Connection, ConnectionEvent
from .supervisor import ReconnectPolicy, Supervisor

# --- errors: the protocol's (who broke it) and the runtimes' (the connection failed) ---
from ._errors import (
    ProtocolError,
    LocalProtocolError,
    RemoteProtocolError,
    TransportError,
    AuthenticationError,
    ConnectionLostError,
    ActionTimeoutError,
    ActionFailedError,
)

__all__ = [
    # bytes -> frames
    "NEED_DATA",
    "AMIDecoder",
    "Banner",
    "Message",
    "Frame",
    "unescape_message",
    "c_unescape",
    "LimitExceeded",
    "FrameTooLarge",
    "LineTooLong",
    "TooManyHeaders",
    "TruncatedFrame",
    "MissingEndMarker",
    "Action",
    "encode_action",
    "encode_message",
    "encode_banner",
    # frames -> session
    "AMISession",
    "SessionState",
    "SessionEvent",
    "LoginSucceeded",
    "AuthenticationFailed",
    "PermissionDenied",
    "ActionResult",
    "UnmatchedResponse",
    "Goodbye",
    "ConnectionClosed",
    # the TAPIEVENT text
    "extract_tapievent",
    "parse_tapievent",
    "format_tapievent",
    "TapiEventSyntaxError",
    "CALLER_CONTROLLED",
    "DIALSTATUS_MODES",
    "to_dialplan",
    "asterisk_version",
    "DialplanError",
    "ExtractedEvent",
    "TapiEvent",
    "TargetSpec",
    "Command",
    "NewCallCommand",
    "CallStateCommand",
    "HangupCommand",
    "SetCallerIdCommand",
    "UnknownCommand",
    "TapiEventValueError",
    # TAPI events -> calls
    "CallTracker",
    "TrackedCall",
    "CallHandle",
    "ORIGINATE_VARIABLE",
    "OriginateState",
    # what comes out
    "OutputEvent",
    "CallRecord",
    "CallDirection",
    "Disposition",
    "NewCall",
    "CallInfo",
    "CallState",
    "LineDevState",
    "CallerId",
    "Diagnostic",
    "DiagnosticCode",
    # the values of tapi.h
    "TapiMessage",
    "LineCallState",
    "LineDisconnectMode",
    "LineConnectedMode",
    "LineOfferingMode",
    "LineBusyMode",
    "LineDialToneMode",
    "LineSpecialInfo",
    "CALL_STATE_MODE_FAMILIES",
    "mode_family",
    "LineCallInfoState",
    "LineCallOrigin",
    "LineCallReason",
    "LineCallPrivilege",
    "LineCallPartyId",
    "LineDevStateFlag",
    "LineAddressState",
    "LineDigitMode",
    "LineGenerateTerm",
    "LineMediaMode",
    "LineCallFeature",
    "StringFormat",
    "LineError",
    "constant_name",
    "lookup_constant",
    # connection
    "Connection",
    "ConnectionEvent",
    "ReconnectPolicy",
    "Supervisor",
    # errors
    "ProtocolError",
    "LocalProtocolError",
    "RemoteProtocolError",
    "TransportError",
    "AuthenticationError",
    "ConnectionLostError",
    "ActionTimeoutError",
    "ActionFailedError",
]

__version__ = "0.1.0"
