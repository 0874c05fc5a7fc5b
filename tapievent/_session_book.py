"""The AMI session's bookkeeping: which actions wait for what, by ActionID.

Kept apart from :class:`~tapievent.session.AMISession` (the state machine
and the frames) because it is the other half of the session's job: every
action the session writes is remembered here in send order, with its
ActionID, until its response -- and, for an action that announced an event
list, the whole list -- has arrived. :meth:`ActionBook.match` is the
matching rule the theory of operation in :mod:`tapievent.session` argues
for: by ActionID, else first-in-first-out.
"""

from __future__ import annotations

import enum
from typing import Final

import attrs

from ._errors import LocalProtocolError
from ._session_events import fold
from ._session_login import FORBIDDEN_CHARS
from .ami_codec import Action, Message

__all__ = ["NOT_LOGGED_IN", "ActionBook", "Kind", "Pending"]

NOT_LOGGED_IN: Final = frozenset({"permission denied", "authentication required"})
"""What Asterisk answers to an action sent before login: 1.6+ and 1.2/1.4."""


class Kind(enum.Enum):
    """Whose action it is: one of the session's own, or the caller's."""

    CHALLENGE = "Challenge"
    LOGIN = "Login"
    LOGOFF = "Logoff"
    CALLER = "caller"


@attrs.define(slots=True, repr=False, eq=False)
class Pending:
    """One action written to the wire and not finished yet.

    ``action`` is ``None`` for the session's own Challenge/Login/Logoff: the
    Login would hold the secret, so it is never kept as a value.
    """

    kind: Kind
    action_id: str
    seq: int
    action: Action | None = None
    response: Message | None = None
    events: list[Message] = attrs.Factory(list)
    dropped: int = 0


class ActionBook:
    """The actions awaiting a response and the event lists being collected.

    ActionIDs are ``prefix`` plus a counter: deterministic, with no clock and
    no randomness in the core. ``login_action_id`` is the ID reserved for the
    MD5 Login while its Challenge is out, so no other action may take it.
    """

    __slots__ = ("_awaiting", "_counter", "_lists", "_prefix", "_seq", "login_action_id")

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        # ActionID -> pending action awaiting its response, in send order.
        self._awaiting: dict[str, Pending] = {}
        # ActionID -> caller action whose event list is being collected.
        self._lists: dict[str, Pending] = {}
        self._counter = 0
        self._seq = 0
        self.login_action_id: str | None = None

    def __len__(self) -> int:
        return len(self._awaiting) + len(self._lists)

    @property
    def pending(self) -> tuple[str, ...]:
        """ActionIDs of the caller's actions without a result yet, in send order."""
        items = [p for p in self._awaiting.values() if p.kind is Kind.CALLER]
        items += self._lists.values()
        return tuple(p.action_id for p in sorted(items, key=lambda p: p.seq))

    # -- ActionIDs -------------------------------------------------------

    def new_action_id(self, avoid: str | None = None) -> str:
        """A fresh ActionID: not pending, not reserved, not ``avoid``."""
        while True:
            self._counter += 1
            candidate = f"{self._prefix}{self._counter}"
            if candidate in self._awaiting or candidate in self._lists:
                continue
            if candidate not in (avoid, self.login_action_id):
                return candidate

    def claim(self, action_id: str | None, avoid: str | None = None) -> str:
        """``action_id`` checked for use, or a generated one when it is ``None``."""
        if action_id is None:
            return self.new_action_id(avoid)
        if action_id == "":
            # Asterisk omits an empty ActionID from the response, which would
            # silently turn exact matching into FIFO matching.
            raise LocalProtocolError("an ActionID must not be empty")
        if any(c in action_id for c in FORBIDDEN_CHARS):
            raise LocalProtocolError(f"ActionID {action_id!r} contains a CR, LF or NUL character")
        if (
            action_id in self._awaiting
            or action_id in self._lists
            or action_id == self.login_action_id
        ):
            raise LocalProtocolError(f"ActionID {action_id!r} is already pending")
        return action_id

    # -- the life of one action ------------------------------------------

    def register(self, kind: Kind, action_id: str, action: Action | None = None) -> None:
        """Remember an action just written, after every earlier one."""
        self._seq += 1
        self._awaiting[action_id] = Pending(kind, action_id, self._seq, action)

    def match(self, response: Message) -> Pending | None:
        """The action ``response`` answers, or ``None`` (see the session's theory)."""
        action_id = response.action_id
        if action_id is not None:
            return self._awaiting.get(action_id)
        # FIFO fallback: the oldest action still waiting (see the top).
        oldest = next(iter(self._awaiting.values()), None)
        if (
            oldest is not None
            and oldest.kind in (Kind.CHALLENGE, Kind.LOGIN)
            and fold(response.get("Message")) in NOT_LOGGED_IN
        ):
            # "Not logged in" never answers Challenge or Login: it is the
            # reply to a request written behind the session's back.
            return None
        return oldest

    def answered(self, pending: Pending) -> None:
        """``pending`` got its response: it no longer awaits one."""
        del self._awaiting[pending.action_id]

    def open_list(self, pending: Pending) -> None:
        """``pending``'s response announced an event list: collect it."""
        self._lists[pending.action_id] = pending

    def collecting(self, event: Message) -> Pending | None:
        """The action whose open event list ``event`` belongs to (by its ActionID), if any.

        Most events arrive while no list is being collected: then the
        event's ActionID is not even looked up (this runs on every event).
        """
        lists = self._lists
        if not lists:
            return None
        action_id = event.action_id
        return lists.get(action_id) if action_id is not None else None

    def close_list(self, pending: Pending) -> None:
        """``pending``'s event list has ended."""
        del self._lists[pending.action_id]

    def cancel(self, action_id: str) -> bool:
        """Stop waiting for the caller's ``action_id``; whether it was pending."""
        pending = self._awaiting.get(action_id)
        if pending is not None and pending.kind is Kind.CALLER:
            del self._awaiting[action_id]
            return True
        return self._lists.pop(action_id, None) is not None

    def clear(self) -> None:
        """Forget every action (the connection ended: none will be answered)."""
        self._awaiting.clear()
        self._lists.clear()
