"""Run the bridge from a :class:`~tapievent.tsp.config.BridgeConfig` (the CLI's job).

The bridge listens for shims only while it is logged in to Asterisk: a shim
that cannot connect reports its lines OUTOFSERVICE, which is exactly what a
TAPI application should see while the PBX is unreachable. Until the first
login succeeds the bridge retries with a capped backoff; a refused login is
fatal (retrying a wrong secret cannot succeed).
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
from collections.abc import Callable

from ..supervisor import GiveUp, Open, ReconnectPolicy, Supervisor, Wait
from ..transports.aio import AsyncClient, AuthenticationError, TransportError, connect
from .bridge import Bridge, ClientPort
from .config import BridgeConfig

__all__ = ["connect_with_retry", "run_bridge"]

logger = logging.getLogger(__name__)


async def connect_with_retry(config: BridgeConfig, *, max_delay: float = 30.0) -> AsyncClient:
    """Log in to AMI, retrying refused or unreachable servers with backoff (not bad secrets).

    The retry decisions are the reconnect :class:`~tapievent.supervisor.Supervisor`'s
    (``retry_first``: the service waits for its PBX); this loop only carries
    out its steps. ``connect()`` opens and logs in as one step.
    """
    where = f"{config.ami_host}:{config.ami_port}"
    # TLS as the configuration says; the server's certificate is always verified
    # (against ``cafile`` when given, else the system's store).
    context = ssl.create_default_context(cafile=config.cafile) if config.tls else None
    policy = ReconnectPolicy(max_delay=max_delay)
    supervisor = Supervisor(policy, where=where, random=random.random, retry_first=True)
    step = supervisor.start()
    while True:
        if isinstance(step, GiveUp):
            raise step.error
        if isinstance(step, Wait):
            await asyncio.sleep(step.seconds)
            step = supervisor.waited()
            continue
        assert isinstance(step, Open)
        try:
            client = await connect(
                config.ami_host,
                config.ami_port,
                username=config.username,
                secret=config.secret,
                auth=config.auth,
                lines=config.lines,
                ssl=context,
                source=config.ami_host,
            )
        except AuthenticationError as exc:
            supervisor.opened()
            step = supervisor.refused(exc)
        except (OSError, asyncio.TimeoutError, TransportError) as exc:
            step = supervisor.failed(exc)
            if isinstance(step, Wait):
                logger.warning(
                    "AMI %s unreachable (%s); retrying in %.1f s", where, exc, step.seconds
                )
        else:
            supervisor.opened()
            supervisor.logged_in()
            return client


async def run_bridge(
    config: BridgeConfig, *, ready: Callable[[Bridge], None] | None = None
) -> None:
    """Connect to AMI, serve shims until the AMI client ends or the task is cancelled."""
    client = await connect_with_retry(config)
    bridge = Bridge(
        ClientPort(client),
        dial=config.dial,
        host=config.listen_host,
        port=config.listen_port,
        link_token=config.link_token,
    )
    try:
        await bridge.start()
        if config.link_token is None:
            # Said at every start, at WARNING (shown by default): the opt-out must stay visible.
            logger.warning(
                "NO LINK TOKEN: any local process can connect to %s:%d as the TAPI provider and "
                "control these lines' calls; set a link token (docs/tsp.md, 'The link token')",
                config.listen_host,
                bridge.port,
            )
        if ready is not None:
            ready(bridge)
        await bridge.run()
    finally:
        await bridge.close()
        await client.close()
