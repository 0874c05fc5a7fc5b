"""A fake Asterisk for tests, yours and ours: a real AMI server on 127.0.0.1.

Three layers, one job each:

- ``_pbx``: the PBX model, sans-IO — channels, calls, event masks, and the
  AMI messages Asterisk 22 would emit at each step of a call;
- ``_server``: :class:`FakeAsterisk`, the asyncio server that serves that
  model over loopback TCP or TLS, with fault injection; its answer to each
  action is in ``_answers``, and ``_calls`` plays the model's call scripts;
- ``_threaded``: :class:`ThreadedFakeAsterisk`, the same server on its own
  event loop in a thread, for blocking code.

``tapievent.testing.strategies`` holds the hypothesis strategies the codec
and grammar are tested with; it needs ``hypothesis`` (the ``test`` extra),
so this package does not import it. See ``docs/testing.md``.
"""

from ._server import FakeAsterisk, FakeCall
from ._threaded import ThreadedFakeAsterisk

__all__ = ["FakeAsterisk", "FakeCall", "ThreadedFakeAsterisk"]
