"""The values of tapievent, by concept: tapi.h constants, TAPIEVENT values, tracker events.

This module is the one place to import them from; each concept lives in its
own private module behind it:

* ``_tapi`` -- the tapi.h constant families with their numbers
  (:class:`LineCallState`, :class:`LineError`, ...) and the name lookups;
* ``_callerid`` -- :class:`CallerId`, read as Asterisk reads one;
* ``_values`` -- what one TAPIEVENT text means (:class:`TapiEvent`,
  :class:`TargetSpec`, the commands) and :class:`ExtractedEvent`;
* ``_events`` -- what the tracker emits (:class:`NewCall`,
  :class:`CallState`, ..., :class:`Diagnostic`);
* ``_records`` -- the :class:`CallRecord` each call leaves behind, with
  :class:`CallDirection` and :class:`Disposition`.

Every value is frozen; the numbers are exactly those of tapi.h so a Windows
adapter can pass them to TAPI unchanged.
"""

from __future__ import annotations

from ._callerid import CallerId as CallerId
from ._events import CallInfo as CallInfo
from ._events import CallState as CallState
from ._events import Diagnostic as Diagnostic
from ._events import LineDevState as LineDevState
from ._events import NewCall as NewCall
from ._events import OutputEvent as OutputEvent
from ._lexical import TapiEventValueError as TapiEventValueError
from ._records import CallDirection as CallDirection
from ._records import CallRecord as CallRecord
from ._records import Disposition as Disposition
from ._tapi import CALL_STATE_MODE_FAMILIES as CALL_STATE_MODE_FAMILIES
from ._tapi import CONSTANT_PREFIXES as CONSTANT_PREFIXES
from ._tapi import MAX_DWORD as MAX_DWORD
from ._tapi import TSPI_MESSAGE_BASE as TSPI_MESSAGE_BASE
from ._tapi import LineAddressState as LineAddressState
from ._tapi import LineBusyMode as LineBusyMode
from ._tapi import LineCallFeature as LineCallFeature
from ._tapi import LineCallInfoState as LineCallInfoState
from ._tapi import LineCallOrigin as LineCallOrigin
from ._tapi import LineCallPartyId as LineCallPartyId
from ._tapi import LineCallPrivilege as LineCallPrivilege
from ._tapi import LineCallReason as LineCallReason
from ._tapi import LineCallState as LineCallState
from ._tapi import LineConnectedMode as LineConnectedMode
from ._tapi import LineDevStateFlag as LineDevStateFlag
from ._tapi import LineDialToneMode as LineDialToneMode
from ._tapi import LineDigitMode as LineDigitMode
from ._tapi import LineDisconnectMode as LineDisconnectMode
from ._tapi import LineError as LineError
from ._tapi import LineGenerateTerm as LineGenerateTerm
from ._tapi import LineMediaMode as LineMediaMode
from ._tapi import LineOfferingMode as LineOfferingMode
from ._tapi import LineSpecialInfo as LineSpecialInfo
from ._tapi import StringFormat as StringFormat
from ._tapi import TapiMessage as TapiMessage
from ._tapi import constant_name as constant_name
from ._tapi import lookup_constant as lookup_constant
from ._tapi import mode_family as mode_family
from ._values import CallStateCommand as CallStateCommand
from ._values import Command as Command
from ._values import ExtractedEvent as ExtractedEvent
from ._values import HangupCommand as HangupCommand
from ._values import NewCallCommand as NewCallCommand
from ._values import SetCallerIdCommand as SetCallerIdCommand
from ._values import TapiEvent as TapiEvent
from ._values import TargetSpec as TargetSpec
from ._values import UnknownCommand as UnknownCommand

__all__ = [
    "CALL_STATE_MODE_FAMILIES",
    "CONSTANT_PREFIXES",
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
    "LineOfferingMode",
    "LineSpecialInfo",
    "MAX_DWORD",
    "NewCall",
    "NewCallCommand",
    "OutputEvent",
    "CallRecord",
    "CallDirection",
    "Disposition",
    "SetCallerIdCommand",
    "StringFormat",
    "TSPI_MESSAGE_BASE",
    "TapiEvent",
    "TapiEventValueError",
    "TapiMessage",
    "TargetSpec",
    "UnknownCommand",
    "constant_name",
    "lookup_constant",
    "mode_family",
]
