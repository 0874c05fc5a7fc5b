"""Transports: move bytes between a socket and tapievent's sans-IO core.

Not imported by ``tapievent`` itself, so the core stays free of sockets,
threads and asyncio. Import the one you need:

- :mod:`tapievent.transports.aio` -- asyncio (``async for ev in client.events()``);
- :mod:`tapievent.transports.blocking` -- threads (socket + selectors).

Both share their errors and :class:`ReconnectPolicy` (re-exported here).
"""

import logging as _logging

from ._common import ActionFailedError as ActionFailedError
from ._common import ActionTimeoutError as ActionTimeoutError
from ._common import AuthenticationError as AuthenticationError
from ._common import ConnectionLostError as ConnectionLostError
from ._common import ReconnectPolicy as ReconnectPolicy
from ._common import TransportError as TransportError

# A library never decides where its log lines go: without this handler the
# standard library's "last resort" would print every WARNING (a lost
# connection) to stderr of an application that configured no logging.
_logging.getLogger(__name__).addHandler(_logging.NullHandler())

__all__ = [
    "ActionFailedError",
    "ActionTimeoutError",
    "AuthenticationError",
    "ConnectionLostError",
    "ReconnectPolicy",
    "TransportError",
]
