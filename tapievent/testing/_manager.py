"""What the fake Asterisk's manager answers, sans-IO: event masks, logins, action replies.

The PBX model (``_pbx.py``) says what happens to calls; this module says
what the Asterisk Manager Interface replies to each action, with the texts
Asterisk 22 uses (``main/manager.c`` and the captures). Nothing here touches a
socket: the server (``_server.py``) writes what these functions return.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ..ami_codec import Message, encode_message
from ._pbx import PBX

__all__ = [
    "CLASSES",
    "FULLY_BOOTED",
    "MISSING_ACTION",
    "OPEN_ACTIONS",
    "PERMISSION_DENIED",
    "Pairs",
    "error",
    "half_frame",
    "hangup_answer",
    "login_accepted",
    "originate_refusal",
    "parse_mask",
    "playdtmf_answer",
    "redirect_answer",
    "reply",
    "success",
    "unknown_action",
    "wanted",
]

Pairs = tuple[tuple[str, str], ...]

# Event classes (manager.h) by the first name in ``Privilege:``; an event is
# delivered to a session only if its class is in the session's mask.
CLASSES = (
    "system",
    "call",
    "log",
    "verbose",
    "command",
    "agent",
    "user",
    "config",
    "dtmf",
    "reporting",
    "cdr",
    "dialplan",
    "originate",
    "agi",
    "cc",
    "aoc",
    "test",
    "security",
    "message",
)
_TRUE = {"on", "yes", "true", "y", "t", "1"}
_FALSE = {"off", "no", "false", "n", "f", "0"}

OPEN_ACTIONS = frozenset({"login", "logoff", "challenge"})
"""The actions Asterisk accepts before a successful Login."""


def parse_mask(value: str | None) -> frozenset[str] | None:
    """The session event mask for ``Events:``/``EventMask:`` (None = unchanged)."""
    if value is None or value.strip() == "":
        return None
    v = value.strip().lower()
    if v.isdigit():
        bits = int(v)
        return frozenset(c for i, c in enumerate(CLASSES) if bits & (1 << i))
    if v in _TRUE:
        return frozenset(CLASSES)
    if v in _FALSE:
        return frozenset()
    return frozenset(c.strip() for c in v.split(",") if c.strip() in CLASSES)


def wanted(event: Message, mask: frozenset[str]) -> bool:
    """Whether a session with event ``mask`` receives ``event`` (by its Privilege class)."""
    privilege = event.get("Privilege")
    return privilege is None or privilege.split(",")[0].strip() in mask


def md5_key(challenge: str, secret: str) -> str:
    """The ``Key:`` of an MD5 Login: lower-case hex MD5 of challenge then secret."""
    return hashlib.md5((challenge + secret).encode("utf-8")).hexdigest()  # noqa: S324


def login_accepted(action: Message, username: str, secret: str, challenge: str | None) -> bool:
    """Whether a Login names the user and proves the secret (plain, or MD5 of a Challenge)."""
    if (action.get("Username") or "") != username:
        return False
    if (action.get("AuthType") or "").lower() == "md5":
        return challenge is not None and action.get("Key") == md5_key(challenge, secret)
    return action.get("Secret") == secret


def error(message: str) -> Pairs:
    return (("Response", "Error"), ("Message", message))


def success(message: str) -> Pairs:
    return (("Response", "Success"), ("Message", message))


MISSING_ACTION = error("Missing action in request")
PERMISSION_DENIED = error("Permission denied")

FULLY_BOOTED = Message.from_pairs(
    ("Event", "FullyBooted"),
    ("Privilege", "system,all"),
    ("Uptime", "6"),
    ("LastReload", "6"),
    ("Status", "Fully Booted"),
)
"""The event Asterisk sends right after a successful Login."""


def reply(request: Message, pairs: Pairs) -> Message:
    """The response to ``request``: ``pairs`` with the request's ActionID after the first."""
    action_id = request.get("ActionID")
    return Message.from_pairs(
        pairs[0], *([("ActionID", action_id)] if action_id else []), *pairs[1:]
    )


def unknown_action(name: str) -> Pairs:
    return error(
        f"Invalid/unknown command: {name}. Use Action: ListCommands to show available commands."
    )


def hangup_answer(pbx: PBX[Any], action: Message) -> Pairs:
    if pbx.find_channel(action.get("Channel")) is None:
        return error("No such channel")
    return success("Channel Hungup")


def redirect_answer(pbx: PBX[Any], action: Message) -> Pairs:
    channel = action.get("Channel")
    if pbx.find_channel(channel) is None:
        return error(f"Channel does not exist: {channel}")
    return success("Redirect successful")


def playdtmf_answer(pbx: PBX[Any], action: Message) -> Pairs:
    channel = action.get("Channel")
    if pbx.find_channel(channel) is None:
        return error(f"Channel '{channel}' not found")
    if not action.get("Digit"):
        return error("No digit specified")
    return success("DTMF successfully queued")


def originate_refusal(action: Message, missing_extensions: frozenset[str]) -> Pairs | None:
    """The immediate error for an Originate Asterisk refuses before dialling, or None."""
    if not action.get("Channel"):
        return error("Channel not specified")
    if action.get("Exten") in missing_extensions:
        # Asterisk 11+ checks Context/Exten before dialling and answers at
        # once; no OriginateResponse follows (ami-versions.md 4.1).
        return error("Extension does not exist.")
    return None


def half_frame() -> bytes:
    """The first half of an event: what a client holds when Asterisk dies mid-write."""
    frame = encode_message(
        Message.from_pairs(
            ("Event", "Newstate"),
            ("Privilege", "call,all"),
            ("Channel", "Local/partial@phones-ffffffff;1"),
            ("Uniqueid", "cut.1"),
        )
    )
    return frame[: len(frame) // 2]
