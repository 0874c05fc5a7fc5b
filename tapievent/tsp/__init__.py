"""The Python half of the Windows TSP adapter (extra ``tapievent[tsp]``).

``tsp/`` in the source tree holds the native half, ``tapievent.tsp`` (C),
which the Windows Telephony service loads; it forwards TAPI requests here
over loopback and raises the TAPI events this bridge sends. See docs/tsp.md.
"""

from __future__ import annotations

from .bridge import AmiPort as AmiPort
from .bridge import Bridge as Bridge
from .bridge import ClientPort as ClientPort
from .bridge import DialSettings as DialSettings
from .bridge import dialable as dialable
from .config import BridgeConfig as BridgeConfig
from .config import ConfigError as ConfigError
from .config import load_config as load_config
from .config import parse_config as parse_config
from .mapper import ShimSession as ShimSession
from .protocol import PROTOCOL_VERSION as PROTOCOL_VERSION
from .protocol import BridgeProtocolError as BridgeProtocolError
from .protocol import FrameDecoder as FrameDecoder
from .protocol import FrameLimits as FrameLimits
from .protocol import encode_frame as encode_frame
from .protocol import parse_request as parse_request
