"""The AMI actions the tracker builds: Originate, Hangup, Redirect, PlayDTMF.

Nothing here changes what the tracker knows. :func:`build_originate` checks
every argument and encodes the action once with
:func:`~tapievent.ami_codec.encode_action` *before* the tracker registers
anything, so an Originate that could not be written (a CR in the caller id,
an empty header name) leaves no pending record behind (issue 15 #6).
:func:`channel_of` finds the channel name an action on a call must carry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import attrs

from ._call_table import CallTable
from ._errors import LocalProtocolError
from ._originates import ORIGINATE_VARIABLE, OriginateTable
from .ami_codec import Action, encode_action

__all__ = [
    "CallHandle",
    "OriginateRequest",
    "build_originate",
    "channel_of",
    "digit_action",
    "hangup_action",
    "redirect_action",
]

_DTMF: Final = frozenset("0123456789*#ABCDabcd")


@attrs.frozen(slots=True)
class CallHandle:
    """The application's reference to a call it made with :meth:`CallTracker.make_call`.

    ``action_id`` is the Originate's ActionID (the only thing that ties the
    broadcast ``OriginateResponse`` to this call). ``origination_id`` is the id
    the tracker chose for the call: the ``ChannelId`` on Asterisk 12.2+ (where
    it *is* the call key), else the value of the ``TAPIEVENT_ORIGINATE``
    variable. Events for a call whose unique id was never learned (a failed
    originate) carry ``origination_id`` as their call key. ``channel_id`` is
    None when the variable path was used.
    """

    action_id: str
    line: str
    origination_id: str
    channel_id: str | None = None
    other_channel_id: str | None = None


@attrs.frozen(slots=True)
class OriginateRequest:
    """What the application asked ``make_call`` for, before any id is chosen."""

    line: str
    destination: str
    context: str
    channel: str
    caller_id: str | None
    timeout_ms: int | None
    variables: tuple[tuple[str, str], ...]
    priority: int


def check_request(request: OriginateRequest) -> None:
    """Refuse what no id choice can make valid (raises :class:`LocalProtocolError`)."""
    if not request.line:
        raise LocalProtocolError("make_call: the line name is empty")
    if request.timeout_ms is not None and request.timeout_ms <= 0:
        raise LocalProtocolError(
            f"make_call: timeout_ms must be positive, got {request.timeout_ms}"
        )
    for name, _ in request.variables:
        if not name or "=" in name:
            raise LocalProtocolError(f"make_call: bad channel variable name {name!r}")
        if name.strip().upper() == ORIGINATE_VARIABLE:
            raise LocalProtocolError(
                f"make_call: variable {ORIGINATE_VARIABLE} is reserved by the tracker"
            )


def build_originate(
    request: OriginateRequest,
    action_id: str,
    origination_id: str,
    channel_ids: tuple[str, str] | None,
) -> Action:
    """The ``Async`` Originate, encoded once so that what cannot be sent raises here.

    ``channel_ids`` are ``(ChannelId, OtherChannelId)`` on the ChannelId
    path; None puts ``TAPIEVENT_ORIGINATE=<origination_id>`` in a Variable.
    Raises :class:`LocalProtocolError` (from the encoder, naming the header)
    for CR, LF or NUL anywhere.
    """
    headers: list[tuple[str, str]] = [
        ("Channel", request.channel),
        ("Context", request.context),
        ("Exten", request.destination),
        ("Priority", str(request.priority)),
    ]
    if request.caller_id is not None:
        headers.append(("CallerID", request.caller_id))
    if request.timeout_ms is not None:
        headers.append(("Timeout", str(request.timeout_ms)))
    if channel_ids is not None:
        headers.append(("ChannelId", channel_ids[0]))
        headers.append(("OtherChannelId", channel_ids[1]))
    else:
        headers.append(("Variable", f"{ORIGINATE_VARIABLE}={origination_id}"))
    headers.extend(("Variable", f"{name}={value}") for name, value in request.variables)
    headers.append(("Async", "true"))
    action = Action("Originate", tuple(headers), action_id)
    try:
        encode_action(action)
    except LocalProtocolError as exc:
        raise LocalProtocolError(f"make_call: {exc}") from None
    return action


def check_channel_ids(calls: CallTable, originates: OriginateTable, ids: tuple[str, str]) -> None:
    """Asterisk refuses a ChannelId in use; so does ``make_call``, before sending."""
    for uid in ids:
        if calls.get(uid) is not None or uid in originates.by_candidate:
            raise LocalProtocolError(
                f"make_call: ChannelId {uid!r} belongs to a call this tracker follows; "
                "Asterisk would refuse it"
            )


def channel_of(
    calls: CallTable,
    originates: OriginateTable,
    version: tuple[int, ...] | None,
    call: str | CallHandle,
    what: str,
) -> str:
    """The channel an action on ``call`` (a key or a handle) names; else LocalProtocolError."""
    if isinstance(call, CallHandle):
        pending = originates.get(call.action_id)
        key = originates.call_key_of(call.action_id, calls.calls)
        if key is None and pending is not None and pending.channel is not None:
            return pending.channel
        if key is None:
            raise LocalProtocolError(
                f"{what}: the call made by {call.action_id} has no known channel yet"
            )
    else:
        key = call
    tracked = calls.get(key)
    if tracked is not None and tracked.channel is not None:
        return tracked.channel
    pending = originates.by_candidate.get(key)
    if pending is not None and pending.channel is not None:
        return pending.channel
    if tracked is None and pending is None:
        raise LocalProtocolError(f"{what}: call {key!r} is not tracked")
    if version is not None and version >= (2,):
        # Asterisk 12+ looks a channel up by unique id when no channel has
        # that name (ast_channel_get_by_name), so the key itself works.
        return key
    raise LocalProtocolError(
        f"{what}: the channel of call {key!r} is not known yet (Asterisk before 12 "
        "needs the channel name, learned from the call's events)"
    )


def hangup_action(channel: str) -> Action:
    """The AMI ``Hangup`` of ``channel`` (TAPI lineDrop)."""
    return Action("Hangup", (("Channel", channel),))


def redirect_action(channel: str, context: str, exten: str, priority: int) -> Action:
    """The AMI ``Redirect`` of ``channel`` to ``exten@context`` (blind transfer)."""
    return Action(
        "Redirect",
        (
            ("Channel", channel),
            ("Context", context),
            ("Exten", exten),
            ("Priority", str(priority)),
        ),
    )


def check_digit(digit: str) -> None:
    """``PlayDTMF`` plays exactly one of ``0-9 * # A-D``."""
    if len(digit) != 1 or digit not in _DTMF:
        raise LocalProtocolError(
            f"send_digits: PlayDTMF plays one digit of 0-9 * # A-D, got {digit!r} "
            "(use digit_actions() for several)"
        )


def digit_action(channel: str, digit: str) -> Action:
    """The AMI ``PlayDTMF`` of one digit (checked by :func:`check_digit`) on ``channel``."""
    return Action("PlayDTMF", (("Channel", channel), ("Digit", digit)))


def variable_pairs(variables: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    """``variables`` as ordered pairs (the order the Variable headers go out in)."""
    return tuple((variables or {}).items())
