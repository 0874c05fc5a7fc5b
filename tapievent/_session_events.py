"""What an AMI session reports: the values ``AMISession.next_event`` returns.

Kept apart from the state machine in :mod:`tapievent.session` (which
re-exports every public name here) so that each file has one job: this one
says what a result *is* -- when an answer means success, when a response
opens or closes an event list -- and the session decides *when* one is
complete.
"""

from __future__ import annotations

from typing import Final

import attrs

from .ami_codec import Action, Banner, Message

__all__ = [
    "ActionResult",
    "AuthenticationFailed",
    "ConnectionClosed",
    "Goodbye",
    "LoginSucceeded",
    "PermissionDenied",
    "SessionEvent",
    "UnmatchedResponse",
    "announces_list",
    "ends_list",
    "fold",
]

# Response values that mean the action worked. 1.2/1.4 answer Ping with
# "Pong" and Events with "Events On|Off" (ami-versions.md 3.4); Command on
# 1.2-13 answers "Follows"; Logoff answers "Goodbye".
_OK_RESPONSES: Final = frozenset(
    {"success", "follows", "goodbye", "pong", "events on", "events off"}
)


def fold(value: str | None) -> str:
    """A header value compared as Asterisk compares it: trimmed, case-folded."""
    return (value or "").strip().casefold()


@attrs.frozen(slots=True)
class LoginSucceeded:
    """Asterisk accepted the login; ``message`` is its ``Response: Success``."""

    message: Message


@attrs.frozen(slots=True)
class AuthenticationFailed:
    """Asterisk refused the login (or the MD5 challenge).

    ``reason`` is the server's ``Message:`` text (``Authentication failed``
    from every version); it never contains the secret. Asterisk closes the
    connection right after, so retrying with the same credentials is futile.
    """

    reason: str
    response: Message | None = None


@attrs.frozen(slots=True)
class PermissionDenied:
    """A response saying the session is not logged in.

    ``Permission denied`` (1.6+) or ``Authentication Required`` (1.2/1.4)
    before login, for an action this session did not send: someone wrote to
    the connection behind the session's back, or the server lost the login.
    """

    response: Message

    @property
    def reason(self) -> str:
        """The server's ``Message:`` text."""
        return self.response.get("Message") or ""


@attrs.frozen(slots=True)
class ActionResult:
    """The complete answer to one action sent with ``send_action``.

    ``events`` holds, in wire order, the item events of an event list
    (empty for an ordinary action); ``complete`` is the event that closed
    the list. Items beyond the session's ``max_list_events`` are counted in
    ``items_dropped`` instead of being kept, so a huge list cannot exhaust
    memory.
    """

    action: Action
    action_id: str
    response: Message
    events: tuple[Message, ...] = ()
    complete: Message | None = None
    items_dropped: int = 0

    @property
    def ok(self) -> bool:
        """True when the response value means success.

        ``Success``, ``Follows`` (Command 1.2-13), ``Goodbye``, ``Pong`` and
        ``Events On``/``Events Off`` (1.2/1.4); ``Error`` and anything
        unknown are failures.
        """
        return fold(self.response.response) in _OK_RESPONSES

    @property
    def is_list(self) -> bool:
        """True when the response announced an event list."""
        return announces_list(self.response)

    @property
    def listed_count(self) -> int | None:
        """The item count the completion event states (``ListItems`` or the
        older ``Items``), or ``None`` when it states none (1.4)."""
        if self.complete is None:
            return None
        raw = self.complete.get("ListItems")
        if raw is None:
            raw = self.complete.get("Items")
        if raw is None or not raw.strip().isdigit():
            return None
        return int(raw.strip())


@attrs.frozen(slots=True)
class UnmatchedResponse:
    """A response that answers no action this session is waiting for.

    Its ActionID was never sent (or was cancelled with ``cancel``), or it has
    no ActionID while nothing is awaited. Completes nothing.
    """

    response: Message


@attrs.frozen(slots=True)
class Goodbye:
    """Asterisk acknowledged ``logoff()``; it closes the connection next."""

    response: Message


@attrs.frozen(slots=True)
class ConnectionClosed:
    """The byte stream ended (``receive_eof``).

    ``expected`` is true after a Logoff or a refused login, when Asterisk
    closes by design. ``unanswered`` lists, in send order, the ActionIDs of
    the caller's actions that will now never get a result.
    """

    expected: bool
    unanswered: tuple[str, ...] = ()


SessionEvent = (
    Banner
    | Message
    | LoginSucceeded
    | AuthenticationFailed
    | PermissionDenied
    | ActionResult
    | UnmatchedResponse
    | Goodbye
    | ConnectionClosed
)
"""Every value ``AMISession.next_event`` returns besides ``NEED_DATA``."""


def announces_list(response: Message) -> bool:
    # 1.6.2.10+ "EventList: start"; 1.6.0-1.6.2.9 "Eventlist: start" (the
    # header lookup is case-insensitive); 1.4 has no header, only
    # "Message: Channels will follow" and friends (ami-versions.md 3.6).
    if fold(response.response) != "success":
        return False
    if fold(response.get("EventList")) == "start":
        return True
    return fold(response.get("Message")).endswith("will follow")


def ends_list(event: Message) -> bool:
    if fold(event.get("EventList")) == "complete":
        return True
    return fold(event.event).endswith("complete")
