"""AMI framing: bytes from Asterisk in, frames out; actions in, bytes out.

This module is sans-IO. It never touches a socket or a clock, so every
runtime (asyncio, threads, a fuzzer) drives it the same way.

The frame values (:class:`Banner`, :class:`Message`, :class:`Action`) are
defined here because everything above the codec (session, grammar, tracker)
consumes them.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from typing import Final

import attrs

from ._errors import LocalProtocolError, ProtocolError, RemoteProtocolError

__all__ = [
    "NEED_DATA",
    "Action",
    "Banner",
    "Frame",
    "LocalProtocolError",
    "Message",
    "ProtocolError",
    "RemoteProtocolError",
]


class _Sentinel(enum.Enum):
    # An enum member is the idiomatic typed singleton: ``x is NEED_DATA``
    # narrows for mypy, and it pickles and reprs sensibly.
    NEED_DATA = "NEED_DATA"

    def __repr__(self) -> str:
        return self.value


NEED_DATA: Final = _Sentinel.NEED_DATA
"""Returned by ``next_frame()``/``next_event()`` when more bytes are needed."""


@attrs.frozen(slots=True)
class Banner:
    """The ``Asterisk Call Manager/x.y[.z]`` line every AMI connection opens with.

    ``version`` is the AMI protocol version, not the Asterisk release: 1.0
    means Asterisk 1.2/1.4, 2.x Asterisk 12/13, 11.0.0 Asterisk 22 (see
    ``docs/ami.md``). It is what the tracker uses to decide whether
    ``ChannelId`` can be used on Originate.
    """

    version: tuple[int, ...]
    text: str


def _fold(name: str) -> str:
    # AMI header names are case-insensitive in every version (manager.c
    # uses strcasecmp); the spelling varies in the wild (UniqueID/Uniqueid).
    return name.strip().lower()


@attrs.frozen(slots=True, eq=True)
class Message:
    """One AMI message: an event, a response, or an orphan block of lines.

    Headers are kept as an ordered sequence of ``(name, value)`` pairs,
    because AMI legitimately repeats names (``Output``, ``ChanVariable``,
    ``Variable``, duplicated UserEvent body keys) and their order matters.
    Lookups compare names case-insensitively. A line without a colon is kept
    as a header with an empty name, so nothing the server sent is lost.

    ``output`` holds the raw body of a legacy ``Response: Follows`` reply
    (Asterisk 1.2-13 ``Action: Command``) without the ``--END COMMAND--``
    marker; it is ``None`` for every other message.
    """

    headers: tuple[tuple[str, str], ...]
    output: str | None = None

    @classmethod
    def from_pairs(cls, *pairs: tuple[str, str], output: str | None = None) -> Message:
        """Build a message from ``(name, value)`` pairs, mainly for tests and fake servers."""
        return cls(tuple(pairs), output)

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of header ``name`` (case-insensitive), else ``default``."""
        key = _fold(name)
        for n, v in self.headers:
            if _fold(n) == key:
                return v
        return default

    def get_all(self, name: str) -> tuple[str, ...]:
        """Every value of header ``name`` in wire order."""
        key = _fold(name)
        return tuple(v for n, v in self.headers if _fold(n) == key)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        key = _fold(name)
        return any(_fold(n) == key for n, _ in self.headers)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.headers)

    def __len__(self) -> int:
        return len(self.headers)

    @property
    def is_event(self) -> bool:
        """True when the message has ``Event:``, even with ``Response:`` too.

        ``OriginateResponse`` carries ``Response:`` and ``ActionID:`` but is an
        event (ami-versions.md 3.4): classifying by ``Event:`` first keeps it
        from completing a pending action.
        """
        return "Event" in self

    @property
    def is_response(self) -> bool:
        """True for a reply to an action: ``Response:`` without ``Event:``."""
        return not self.is_event and "Response" in self

    @property
    def event(self) -> str | None:
        """The value of ``Event:``, or ``None``."""
        return self.get("Event")

    @property
    def response(self) -> str | None:
        """The value of ``Response:``, or ``None``."""
        return self.get("Response")

    @property
    def action_id(self) -> str | None:
        """The value of ``ActionID:``, or ``None``."""
        return self.get("ActionID")

    @property
    def output_lines(self) -> tuple[str, ...]:
        """Command output on every version: the legacy body split into lines
        (1.2-13) or the ``Output:`` headers (14+)."""
        if self.output is not None:
            return tuple(self.output.splitlines())
        return self.get_all("Output")


Frame = Banner | Message
"""What the decoder yields: the banner once, then messages."""


@attrs.frozen(slots=True)
class Action:
    """An AMI action to send: a name, ordered headers, and an optional ActionID.

    Values are validated when the action is encoded (see ``encode_action``),
    so building one never fails but it can never reach the wire unsafely.
    """

    name: str
    headers: tuple[tuple[str, str], ...] = ()
    action_id: str | None = None

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of header ``name`` (case-insensitive), else ``default``."""
        key = _fold(name)
        for n, v in self.headers:
            if _fold(n) == key:
                return v
        return default
