"""``ThreadedFakeAsterisk``: a FakeAsterisk on its own event loop, for threaded tests.

Blocking code (``tapievent.transports.blocking``, a TSP bridge test, a
subprocess test of the command line) cannot share an event loop with the
server, so the server gets one of its own, in a daemon thread; the handle
runs the server's coroutines there and hands back their results.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ._server import FakeAsterisk

__all__ = ["ThreadedFakeAsterisk"]

T = TypeVar("T")


class ThreadedFakeAsterisk:
    """A :class:`FakeAsterisk` running in a background thread; see ``start_in_thread``.

    ``server_class`` is the FakeAsterisk (sub)class to run (``start_in_thread``
    passes the class it is called on). ``call(fn, *args, **kwargs)`` runs
    ``fn(fake, ...)``-style coroutines on
    the server's loop and returns their result, e.g.
    ``handle.call(handle.fake.inbound_call, ["Local/bob"])``.
    """

    def __init__(
        self,
        kwargs: dict[str, Any],
        timeout: float = 10.0,
        *,
        server_class: type[FakeAsterisk] = FakeAsterisk,
    ) -> None:
        self._timeout = timeout
        self._server_class = server_class
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="FakeAsterisk", daemon=True)
        self._error: BaseException | None = None
        self._fake: FakeAsterisk | None = None
        self._kwargs = kwargs
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("FakeAsterisk thread did not start")
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._fake = self._server_class(**self._kwargs)
            self._loop.run_until_complete(self._fake.start())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        self._loop.close()

    @property
    def fake(self) -> FakeAsterisk:
        assert self._fake is not None
        return self._fake

    @property
    def port(self) -> int:
        return self.fake.port

    @property
    def host(self) -> str:
        return self.fake.host

    def call(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Run coroutine function ``fn(*args, **kwargs)`` on the server loop, wait, return."""

        async def runner() -> T:
            return await fn(*args, **kwargs)

        future = asyncio.run_coroutine_threadsafe(runner(), self._loop)
        try:
            return future.result(self._timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def submit(
        self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[T]:
        """Like :meth:`call` without waiting: returns a ``concurrent.futures.Future``."""

        async def runner() -> T:
            return await fn(*args, **kwargs)

        return asyncio.run_coroutine_threadsafe(runner(), self._loop)

    def stall(self, stalled: bool = True) -> None:
        """Thread-safe :meth:`FakeAsterisk.stall`."""
        self._loop.call_soon_threadsafe(self.fake.stall, stalled)

    def stop(self) -> None:
        """Stop the server and its thread (idempotent)."""
        if not self._thread.is_alive():
            return
        with contextlib.suppress(Exception):
            self.call(self.fake.stop)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(self._timeout)

    def __enter__(self) -> ThreadedFakeAsterisk:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
