"""TAPI events on an MQTT broker: one AMI login for a whole office (``tapievent[mqtt]``).

:mod:`tapievent.gateway.scheme` is the versioned topic and payload scheme
(pure functions, no MQTT client needed); :mod:`tapievent.gateway.runtime`
runs the gateway (one AMI connection to the broker);
:mod:`tapievent.gateway.consumer` reads the broker back as TAPI events (for
``tapievent monitor --mqtt`` and the Windows TSP bridge). The core never
imports this package; only the runtime and the consumer need ``aiomqtt``.
"""

from __future__ import annotations

SCHEME_VERSION = "v1"

__all__ = ["SCHEME_VERSION"]
