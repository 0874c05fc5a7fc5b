"""The AMI session's credentials: the secret, the Login action and the MD5 key.

Kept apart from :class:`~tapievent.session.AMISession` because this is the
one place the secret is touched, so that a reader can check every use of it
on one page: it is held in a :class:`Secret` (no repr, str or ``vars()``
shows it), checked without being echoed when the session is made, and only
ever written into the bytes of a Login. Neither the secret nor the MD5 key
is kept in an ``Action``, an exception or an event.
"""

from __future__ import annotations

import hashlib
from typing import Final

from ._errors import LocalProtocolError
from .ami_codec import Message, encode_action

__all__ = [
    "FORBIDDEN_CHARS",
    "Secret",
    "check_login_values",
    "encode_login",
    "failure_reason",
    "md5_key",
]

FORBIDDEN_CHARS: Final = ("\r", "\n", "\0")
"""What no value on the wire may hold: it would end a header line or the string."""


class Secret:
    """Holds the secret so that no repr, str or vars() dump can show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<secret>"

    __str__ = __repr__


def _encodable(text: str) -> bool:
    """Whether UTF-8 with ``surrogateescape`` can write ``text``, without trying it.

    Surrogates U+DC80-U+DCFF stand for the bytes 0x80-0xFF of a value read
    from a non-UTF-8 source and are written back as those bytes; any other
    surrogate cannot be written at all.
    """
    return not any("\ud800" <= c <= "\udfff" and not "\udc80" <= c <= "\udcff" for c in text)


def check_login_values(username: str, secret: str, events: str | None, prefix: str) -> None:
    """Refuse, without echoing them, login values that cannot go on the wire.

    Checked when the session is made: the MD5 Login is only encoded once the
    challenge arrives, far from the caller, and the codec's own error could
    quote a value (the secret) in its message.
    """
    # Checked here, without echoing the value, so that the codec's
    # injection check can never put the secret in an exception message.
    if any(c in secret for c in FORBIDDEN_CHARS):
        raise LocalProtocolError("the AMI secret contains a CR, LF or NUL character")
    # Tested character by character, not by trying to encode: an encoding
    # error would carry the whole secret in its ``.object``. With MD5 the
    # secret is first encoded when the challenge arrives, far from here.
    if not _encodable(secret):
        raise LocalProtocolError(
            "the AMI secret cannot be encoded: it holds a lone surrogate "
            "outside U+DC80-U+DCFF (the escapes of undecodable bytes)"
        )
    if any(c in username for c in FORBIDDEN_CHARS):
        raise LocalProtocolError("the AMI username contains a CR, LF or NUL character")
    # The Login is encoded only once the challenge arrives (md5), so its
    # other values are checked now rather than inside next_event().
    if events is not None and any(c in events for c in FORBIDDEN_CHARS):
        raise LocalProtocolError("events contains a CR, LF or NUL character")
    if any(c in prefix for c in FORBIDDEN_CHARS):
        raise LocalProtocolError("action_id_prefix contains a CR, LF or NUL character")


def encode_login(
    username: str, events: str | None, action_id: str, credential: tuple[str, str]
) -> bytes:
    """The bytes of ``Action: Login``; ``credential`` is ``("Secret", s)`` or ``("Key", k)``.

    ``events`` is the ``Events:`` header (``None`` leaves it out). An error
    never quotes a value: the message names what may be wrong instead.
    """
    headers: list[tuple[str, str]] = []
    if credential[0] == "Key":
        headers.append(("AuthType", "MD5"))
    headers += [("Username", username), credential]
    if events is not None:
        headers.append(("Events", events))
    try:
        return encode_action("Login", headers, action_id=action_id)
    except LocalProtocolError:
        pass
    # Raised outside the except block so the codec's message (which may
    # quote a header value) is not even kept as __context__, and with the
    # locals that hold the credential gone from the traceback's frame.
    del headers, credential
    raise LocalProtocolError(
        "the Login action cannot be encoded (username, events or ActionID invalid)"
    )


def md5_key(challenge: str, secret: Secret) -> str:
    """The ``Key`` of an MD5 Login: ``md5(challenge + secret)`` in lower-case hex.

    Asterisk defines the MD5 login this way (ami-versions.md 3.7); it is not
    our choice of hash.
    """
    digest = hashlib.md5(
        challenge.encode("utf-8", "surrogateescape")
        + secret.reveal().encode("utf-8", "surrogateescape"),
        usedforsecurity=False,
    )
    return digest.hexdigest()


def failure_reason(response: Message) -> str:
    """Why Asterisk refused a Challenge or a Login, in its own words."""
    return response.get("Message") or response.response or ""
