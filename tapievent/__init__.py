"""tapievent: Asterisk calls as TAPI events, sans-IO.

The public surface is re-exported here; the modules behind it are free to
move. Each section below belongs to one module.
"""

from ._errors import LocalProtocolError as LocalProtocolError
from ._errors import ProtocolError as ProtocolError
from ._errors import RemoteProtocolError as RemoteProtocolError

# --- ami_codec ---
from .ami_codec import NEED_DATA as NEED_DATA
from .ami_codec import Action as Action
from .ami_codec import Banner as Banner
from .ami_codec import Frame as Frame
from .ami_codec import Message as Message
from .ami_codec import AMIDecoder as AMIDecoder
from .ami_codec import FrameTooLarge as FrameTooLarge
from .ami_codec import LimitExceeded as LimitExceeded
from .ami_codec import LineTooLong as LineTooLong
from .ami_codec import TooManyHeaders as TooManyHeaders
from .ami_codec import TruncatedFrame as TruncatedFrame
from .ami_codec import c_unescape as c_unescape
from .ami_codec import encode_action as encode_action
from .ami_codec import encode_banner as encode_banner
from .ami_codec import encode_message as encode_message
from .ami_codec import unescape_message as unescape_message

# --- session ---
from .session import AMISession as AMISession
from .session import ActionResult as ActionResult
from .session import AuthenticationFailed as AuthenticationFailed
from .session import ConnectionClosed as ConnectionClosed
from .session import Goodbye as Goodbye
from .session import LoginSucceeded as LoginSucceeded
from .session import PermissionDenied as PermissionDenied
from .session import SessionEvent as SessionEvent
from .session import SessionState as SessionState
from .session import UnmatchedResponse as UnmatchedResponse

# --- model ---
from .model import CallerId as CallerId
from .model import CallInfo as CallInfo
from .model import CallState as CallState
from .model import CallStateCommand as CallStateCommand
from .model import Command as Command
from .model import Diagnostic as Diagnostic
from .model import ExtractedEvent as ExtractedEvent
from .model import HangupCommand as HangupCommand
from .model import LineCallInfoState as LineCallInfoState
from .model import LineCallOrigin as LineCallOrigin
from .model import LineCallState as LineCallState
from .model import LineDevState as LineDevState
from .model import LineDevStateFlag as LineDevStateFlag
from .model import LineDisconnectMode as LineDisconnectMode
from .model import NewCall as NewCall
from .model import NewCallCommand as NewCallCommand
from .model import OutputEvent as OutputEvent
from .model import SetCallerIdCommand as SetCallerIdCommand
from .model import TapiEvent as TapiEvent
from .model import TapiEventValueError as TapiEventValueError
from .model import TargetSpec as TargetSpec
from .model import UnknownCommand as UnknownCommand
from .model import CALL_STATE_MODE_FAMILIES as CALL_STATE_MODE_FAMILIES
from .model import LineAddressState as LineAddressState
from .model import LineBusyMode as LineBusyMode
from .model import LineCallFeature as LineCallFeature
from .model import LineCallPartyId as LineCallPartyId
from .model import LineCallPrivilege as LineCallPrivilege
from .model import LineCallReason as LineCallReason
from .model import LineConnectedMode as LineConnectedMode
from .model import LineDialToneMode as LineDialToneMode
from .model import LineDigitMode as LineDigitMode
from .model import LineError as LineError
from .model import LineGenerateTerm as LineGenerateTerm
from .model import LineMediaMode as LineMediaMode
from .model import LineOfferingMode as LineOfferingMode
from .model import LineSpecialInfo as LineSpecialInfo
from .model import StringFormat as StringFormat
from .model import TapiMessage as TapiMessage
from .model import constant_name as constant_name
from .model import lookup_constant as lookup_constant
from .model import mode_family as mode_family

# --- grammar ---
from .grammar import DIALSTATUS_MODES as DIALSTATUS_MODES
from .grammar import TapiEventSyntaxError as TapiEventSyntaxError
from .grammar import extract_tapievent as extract_tapievent
from .grammar import format_tapievent as format_tapievent
from .grammar import parse_tapievent as parse_tapievent

# --- dialplan.render ---
from .dialplan.render import CALLER_CONTROLLED as CALLER_CONTROLLED
from .dialplan.render import DialplanError as DialplanError
from .dialplan.render import asterisk_version as asterisk_version
from .dialplan.render import to_dialplan as to_dialplan

# --- tracker ---
from .tracker import ORIGINATE_VARIABLE as ORIGINATE_VARIABLE
from .tracker import CallHandle as CallHandle
from .tracker import CallTracker as CallTracker
from .tracker import TrackedCall as TrackedCall

__version__ = "0.1.0"
