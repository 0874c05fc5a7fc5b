"""The values the codec reads and writes: :class:`Banner`, :class:`Message`, :class:`Action`.

Plain frozen values: everything a message holds is built when it is
made, so reading one never changes it. A message keeps, besides its
headers, one string that indexes them for :meth:`Message.get`: every
folded name between line feeds (see :func:`index_of`). The decoder builds
that string for a whole batch of frames at once (see ``_headers.py``) and
makes messages with :func:`make_message`; everyone else lets the
constructor build it; both store the same thing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

import attrs

__all__ = [
    "BANNER_PREFIX",
    "INDEX_ESCAPE",
    "Action",
    "Banner",
    "Frame",
    "Message",
    "fold",
    "index_key",
    "index_of",
    "make_message",
]

BANNER_PREFIX: Final = "Asterisk Call Manager"
"""How the first line of every AMI connection starts."""

# AMI header names are case-insensitive in every version (manager.c uses
# strcasecmp, which folds ASCII only: the Kelvin sign is not a "k").
ASCII_LOWER: Final = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


def fold(name: str) -> str:
    """The key a header name is looked up by: ASCII case folded, edge blanks stripped."""
    key = name.lower() if name.isascii() else name.translate(ASCII_LOWER)
    return key.strip(" \t")


# Escapes a folded name that holds the index's separator (LF) or the escape
# character itself, so that every name is one LF-free slot of the index. No
# name a decoder makes holds either (lines end at LF; a batch with SOH in a
# name is declined); names built by hand may.
INDEX_ESCAPE: Final = "\x01"


def index_key(key: str) -> str:
    """A folded name as its index slot: blanks stripped, LF and SOH escaped (injective)."""
    key = key.strip(" \t")
    if INDEX_ESCAPE in key or "\n" in key:
        escape = INDEX_ESCAPE
        key = key.replace(escape, escape + escape).replace("\n", escape + "n")
    return key


def index_of(headers: tuple[tuple[str, str], ...]) -> str:
    """The string :meth:`Message.get` searches: ``"\\n"``, then each name's slot and ``"\\n"``.

    Header ``i``'s slot is the text after the ``i``-th line feed, so the
    position of ``"\\n" + slot + "\\n"`` tells the header by counting the
    line feeds before it. One C-level ``find`` answers a lookup, and a
    message costs one string instead of one per name.
    """
    return "\n" + "".join([index_key(fold(name)) + "\n" for name, _ in headers])


@attrs.frozen(slots=True)
class Banner:
    """The ``Asterisk Call Manager/x.y[.z]`` line every AMI connection opens with.

    ``version`` is the AMI protocol version, not the Asterisk release: 1.0
    means Asterisk 1.2/1.4, 2.x Asterisk 12/13, 11.0.0 Asterisk 22 (see
    ``docs/ami.md``). It is what the tracker uses to decide whether
    ``ChannelId`` can be used on Originate, and what tells the decoder
    whether legacy ``Response: Follows`` replies can occur (not from AMI 3).

    ``text`` is the whole line as received, without its line ending, e.g.
    ``"Asterisk Call Manager/11.0.0"``. ``version`` is ``()`` when the line
    carries no number after the ``/``.
    """

    version: tuple[int, ...]
    text: str

    @classmethod
    def from_version(cls, version: tuple[int, ...]) -> Banner:
        """The banner an Asterisk speaking AMI ``version`` sends (for fake servers)."""
        return cls(version, BANNER_PREFIX + "/" + ".".join(map(str, version)))

    @classmethod
    def from_line(cls, text: str) -> Banner:
        """The banner of a first line (without its line ending) as received."""
        return cls(parse_version(text), text)

    def to_bytes(self) -> bytes:
        """The banner line as it goes on the wire (``text`` plus CRLF)."""
        from ._encoding import encode_banner  # the encoder imports this module

        return encode_banner(self)


def parse_version(text: str) -> tuple[int, ...]:
    """The dotted number after the last ``/``, up to the first non-digit."""
    _, slash, tail = text.rpartition("/")
    if not slash:
        return ()
    parts: list[int] = []
    for piece in tail.strip().split("."):
        digits = ""
        for ch in piece:
            if not ("0" <= ch <= "9"):
                break
            digits += ch
        if not digits:
            break
        parts.append(int(digits))
        if len(digits) != len(piece):
            break
    return tuple(parts)


@attrs.frozen(slots=True)
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
    # What get() searches (see index_of). Derived from ``headers`` when the
    # message is made, so it takes no part in equality; the decoder passes
    # it in because it folds the names of a whole batch of frames at once.
    # (attrs.evolve would pass the old one on: build a new Message instead.)
    _index: str = attrs.field(
        default=attrs.Factory(lambda self: index_of(self.headers), takes_self=True),
        kw_only=True,
        eq=False,
        repr=False,
        hash=False,
        alias="_index",
    )

    @classmethod
    def from_pairs(cls, *pairs: tuple[str, str], output: str | None = None) -> Message:
        """Build a message from ``(name, value)`` pairs, mainly for tests and fake servers."""
        return cls(tuple(pairs), output)

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of header ``name`` (case-insensitive), else ``default``."""
        key = name.lower() if name.isascii() else name.translate(ASCII_LOWER)
        if not key.isprintable():
            key = index_key(key)  # a tab, LF or SOH: the slot's spelling
        index = self._index
        at = index.find(f"\n{key}\n")
        if at < 0:
            stripped = key.strip(" \t")  # blanks around a name are not part of it
            if stripped == key:
                return default
            at = index.find(f"\n{stripped}\n")
            if at < 0:
                return default
        return self.headers[index.count("\n", 0, at)][1]

    def get_all(self, name: str) -> tuple[str, ...]:
        """Every value of header ``name`` in wire order."""
        key = fold(name)
        return tuple(v for n, v in self.headers if fold(n) == key)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        return self.get(name) is not None

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
        return "\nevent\n" in self._index

    @property
    def is_response(self) -> bool:
        """True for a reply to an action: ``Response:`` without ``Event:``."""
        index = self._index
        return "\nevent\n" not in index and "\nresponse\n" in index

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

    def unescaped(self, name: str, default: str | None = None) -> str | None:
        """The first value of ``name`` with Asterisk's C escapes undone.

        Asterisk 13.5+ escapes ``CallerIDName``, ``ConnectedLineName`` and
        ``ChanVariable`` values (``O\\'Brien``); see :func:`c_unescape`. Use
        this only for those headers and only on servers that escape them.
        """
        from ._encoding import c_unescape

        value = self.get(name)
        return default if value is None else c_unescape(value)

    def to_bytes(self) -> bytes:
        """The message as a server writes it (see :func:`encode_message`)."""
        from ._encoding import encode_message

        return encode_message(self)


# The slots of Message, written directly: a frozen attrs class's __init__
# goes through object.__setattr__ once per field, which is most of what a
# decoded message costs to make (benchmarks/README.md).
_new = object.__new__
_set_headers: Final = vars(Message)["headers"].__set__
_set_output: Final = vars(Message)["output"].__set__
_set_index: Final = vars(Message)["_index"].__set__


def make_message(headers: tuple[tuple[str, str], ...], index: str) -> Message:
    """The message ``Message(headers)`` with its index given (``index == index_of(headers)``).

    For the decoder, which builds the index of a whole batch at once;
    ``tests/test_ami_headers.py`` proves what it passes equal to
    :func:`index_of`.
    """
    message: Message = _new(Message)
    _set_headers(message, headers)
    _set_output(message, None)
    _set_index(message, index)
    return message


Frame = Banner | Message
"""What the decoder yields: the banner once, then messages."""


@attrs.frozen(slots=True)
class Action:
    """An AMI action to send: a name, ordered headers, and an optional ActionID.

    Values are validated when the action is encoded (see ``encode_action``),
    so building one never fails but it can never reach the wire unsafely:
    headers that are not ``(str, str)`` pairs, and any CR, LF or NUL, are a
    ``LocalProtocolError`` there.
    """

    name: str
    headers: tuple[tuple[str, str], ...] = ()
    action_id: str | None = None

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of header ``name`` (case-insensitive), else ``default``."""
        key = fold(name)
        for pair in self.headers:
            ok = isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], str)
            if ok and fold(pair[0]) == key:
                return pair[1]
        return default

    def to_bytes(self, *, legacy_limits: bool = False) -> bytes:
        """The action as it goes on the wire (see :func:`encode_action`)."""
        from ._encoding import encode_action

        return encode_action(self, legacy_limits=legacy_limits)
