"""Every diagnostic code tapievent reports, in one place.

A :class:`~tapievent.Diagnostic` is never an exception: it tells a dialplan
author or an operator that something is off while the events keep flowing.
Its ``code`` is one of the members below. They are ``str`` members, so a
program may compare ``diagnostic.code == "missing-idle"`` or
``diagnostic.code is DiagnosticCode.MISSING_IDLE`` alike, and the spelling of
a code is part of the public API: it never changes once released.

Each member carries two texts, ``meaning`` (what happened) and ``action``
(what to do about it); the documentation's table of diagnostics is built
from them, so the two cannot drift apart.
"""

from __future__ import annotations

import enum

__all__ = ["DiagnosticCode"]


class DiagnosticCode(str, enum.Enum):
    """The stable codes of :class:`~tapievent.Diagnostic` (a ``str`` enum)."""

    meaning: str
    action: str

    def __new__(cls, value: str, meaning: str, action: str) -> DiagnosticCode:
        member = str.__new__(cls, value)
        member._value_ = value
        member.meaning = meaning
        member.action = action
        return member

    def __str__(self) -> str:
        return str(self.value)

    # --- the TAPIEVENT text itself (grammar) -------------------------------
    LEGACY_SYNTAX = (
        "legacy-syntax",
        "A UserEvent uses the pipe separator of Asterisk 1.2/1.4.",
        "From Asterisk 1.6 on write UserEvent(TAPI,TAPIEVENT: ...).",
    )
    MISSING_COLON = (
        "missing-colon",
        "The UserEvent argument reads 'TAPIEVENT ...' without a colon.",
        "Write 'TAPIEVENT: ...'; Asterisk 12 and later drop an argument without a colon.",
    )
    DUPLICATE_TAPIEVENT = (
        "duplicate-tapievent",
        "One AMI message carried more than one TAPIEVENT body; only the first was used.",
        "Wrap caller-controlled values (caller id, DNID) in ${QUOTE(...)}.",
    )
    EMPTY_BODY = (
        "empty-body",
        "A TAPIEVENT header had no text.",
        "Check the dialplan line that raises it.",
    )
    SYNTAX_ERROR = (
        "syntax-error",
        "A TAPIEVENT body did not parse; the message names the column.",
        "Fix the dialplan text; 'tapievent lint' finds it before a call does.",
    )
    FORGED_HEADER = (
        "forged-header",
        "A UserEvent held a TAPIEVENT, Uniqueid or UserEvent line where Asterisk never "
        "writes one, as a caller name with line breaks makes on Asterisk 12.0-13.4; the "
        "line was ignored, or the whole event when Asterisk's own lines could not be told "
        "from the forged ones.",
        "Upgrade to Asterisk 13.5 or later, or strip line breaks from caller names where "
        "calls enter the dialplan (docs/protocol.md section 6).",
    )
    # --- the call tracker ---------------------------------------------------
    DUPLICATE_NEWCALL = (
        "duplicate-newcall",
        "A second LINE_NEWCALL for a line already on the call; nothing changed.",
        "Raise LINE_NEWCALL once per line and call.",
    )
    UNTRACKED_CALL = (
        "untracked-call",
        "A command addressed a call key the tracker does not know.",
        "Raise LINE_NEWCALL before other commands; check the ~uniqueid in the spec.",
    )
    NO_CALL_KEY = (
        "no-call-key",
        "A command had no call key (Asterisk 1.4-1.8 event without [~${UNIQUEID}]).",
        "Add [~${UNIQUEID}] to the event on Asterisk 1.4 to 1.8.",
    )
    UNKNOWN_COMMAND = (
        "unknown-command",
        "A command word the tracker does not implement (reported once per word).",
        "Check the spelling against docs/protocol.md.",
    )
    MISSING_IDLE = (
        "missing-idle",
        "A tracked call hung up while lines were still on it; IDLE was synthesized.",
        "Raise LINECALLSTATE_IDLE from the h extension or a hangup handler.",
    )
    CALL_EVICTED = (
        "call-evicted",
        "max_calls was reached; the oldest call was ended to make room.",
        "Raise max_calls, or find the calls that never see their IDLE.",
    )
    STALE_CALL = (
        "stale-call",
        "After a reconnect, a tracked call was no longer live on the server.",
        "None: the call ended during the outage and was closed with IDLE.",
    )
    MISSING_NEWCALL = (
        "missing-newcall",
        "A call made with make_call ended without the dialplan raising its NEWCALL.",
        "Raise LINE_NEWCALL in the context that make_call dials into.",
    )
    ORIGINATE_NOT_FILTERED = (
        "originate-not-filtered",
        "The NEWCALL of a make_call call came before its unique id was known.",
        "Use Asterisk 13+ (ChannelId) or raise NEWCALL after the first Wait/Dial.",
    )
    ORIGINATE_REFUSED = (
        "originate-refused",
        "Asterisk answered a make_call Originate with Response: Error.",
        "Check the context, extension and the manager user's originate right.",
    )
    TOO_MANY_LINES = (
        "too-many-lines",
        "A NEWCALL would put more than max_lines_per_call lines on one call.",
        "Check for a NEWCALL loop in the dialplan, or raise max_lines_per_call.",
    )
    USEREVENT_FAILED = (
        "userevent-failed",
        "A UserEvent on a tracked call's channel failed and Asterisk hung the channel up "
        "(on 12+, an argument that is not valid UTF-8, such as a Latin-1 caller name).",
        "Guard caller data in UserEvents (TryExec around the caller-id event); "
        "'tapievent lint' flags unguarded ones.",
    )
    # --- the connection and its runtime ------------------------------------
    PROTOCOL_ERROR = (
        "protocol-error",
        "The server sent bytes that break the AMI framing; they were skipped.",
        "None if rare; otherwise record the stream (--record) and report it.",
    )
    CONNECTION_LOST = (
        "connection-lost",
        "The connection to Asterisk was lost; the client reconnects by its policy.",
        "Check that Asterisk runs and the network path to its manager port.",
    )
    AUTHENTICATION_FAILED = (
        "authentication-failed",
        "Asterisk refused the credentials on a reconnect; the client gave up.",
        "Fix the manager user or secret; a refused login is never retried.",
    )
    QUEUE_OVERFLOW = (
        "queue-overflow",
        "The consumer fell behind and the oldest events were dropped.",
        "Read events faster or raise queue_size.",
    )
    RESYNC_FAILED = (
        "resync-failed",
        "After a reconnect, CoreShowChannels was refused or failed; the tracked "
        "calls were kept as they were, unchecked.",
        "Give the manager user the 'reporting' (or 'system') write class so "
        "calls that ended during an outage can be settled.",
    )
    # --- the MQTT gateway (tapievent.gateway) --------------------------------
    GATEWAY_BUFFER_OVERFLOW = (
        "gateway-buffer-overflow",
        "The broker was away longer than the gateway's buffer holds; the oldest events were "
        "dropped (the message says how many).",
        "Check the broker; raise --buffer. Line states and the calls snapshot are re-published "
        "in full, only event history is lost.",
    )
