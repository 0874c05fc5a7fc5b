"""The PBX behind FakeAsterisk, sans-IO: channels, calls, and the messages Asterisk would emit.

Rule: everything that decides *what* the fake Asterisk says lives here —
channel snapshots, unique ids, event masks, the shape of every event, the
call scripts — and nothing here touches a socket, an event loop or a clock.
The shapes are those of Asterisk 22.10.1 in the captures under
``tests/data/asterisk-22.10.1/``.

Theory of operation: a call is a *script*, a generator of steps. An
:class:`Emit` step is one event for every logged-in client (each client's
event mask still applies); a :class:`Wait` step asks the driver to let
``seconds`` pass (``None``: until the call is hung up) and the driver sends
back whether the call was hung up, so the script takes the hang-up branch;
a :class:`Held` step marks the moment a held inbound call is ringing or
answered. The asyncio server (``_server.py``) drives scripts with real
waits; a test can drive one by hand, step by step.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Generator
from typing import Generic, TypeVar

import attrs

from ..ami_codec import Message

__all__ = [
    "PBX",
    "Call",
    "Channel",
    "Emit",
    "Held",
    "InboundCall",
    "OriginateSettings",
    "Script",
    "Wait",
    "caller_id_parts",
]

_STATE_DESC = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up"}
_CAUSE_TEXT = {
    16: "Normal Clearing",
    17: "User busy",
    19: "User alerting, no answer",
    26: "Answered elsewhere",
}

EPOCH = 1795669868
"""The seconds part of every unique id, as in the captures."""


def caller_id_parts(caller_id: str | None) -> tuple[str, str]:
    """``"Name" <num>`` -> (name, num), ``<unknown>`` for missing parts like Asterisk."""
    if not caller_id:
        return "<unknown>", "<unknown>"
    m = re.fullmatch(r'\s*(?:"([^"]*)"|([^<]*?))\s*<([^>]*)>\s*', caller_id)
    if m:
        name = m.group(1) if m.group(1) is not None else (m.group(2) or "")
        return name or "<unknown>", m.group(3) or "<unknown>"
    text = caller_id.strip()
    if text.replace("+", "").isdigit():
        return "<unknown>", text
    return text, "<unknown>"


@attrs.define(eq=False)
class Channel:
    """One Asterisk channel: what its snapshot headers say in every event about it."""

    name: str
    unique_id: str
    linked_id: str
    context: str
    exten: str
    caller_name: str
    caller_num: str
    state: int = 0
    priority: int = 1
    application: str = ""
    application_data: str = ""

    def snapshot(self) -> list[tuple[str, str]]:
        return [
            ("Channel", self.name),
            ("ChannelState", str(self.state)),
            ("ChannelStateDesc", _STATE_DESC.get(self.state, "Unknown")),
            ("CallerIDNum", self.caller_num),
            ("CallerIDName", self.caller_name),
            ("ConnectedLineNum", self.caller_num),
            ("ConnectedLineName", self.caller_name),
            ("Language", "en"),
            ("AccountCode", ""),
            ("Context", self.context),
            ("Exten", self.exten),
            ("Priority", str(self.priority)),
            ("Uniqueid", self.unique_id),
            ("Linkedid", self.linked_id),
        ]


@attrs.define(eq=False)
class Call:
    """A call the PBX is running: its channels and the one whose dialplan raises its events.

    ``unique_id`` is the call key a TAPI client tracks: the Uniqueid of the
    channel running the dialplan that raised LINE_NEWCALL.
    """

    unique_id: str
    channels: list[Channel] = attrs.field(factory=list)
    dialplan_channel: Channel | None = None


@attrs.frozen
class Emit:
    """A script step: send ``message`` to every logged-in client whose mask takes it."""

    message: Message


@attrs.frozen
class Wait:
    """A script step: let ``seconds`` pass (None: until hung up); the driver sends back
    whether the call was hung up."""

    seconds: float | None


@attrs.frozen
class Held:
    """A script step: a held inbound call is now ringing or answered."""


Step = Emit | Wait | Held
Script = Generator[Step, bool, None]


@attrs.frozen
class InboundCall:
    """How an inbound ring-group call goes (see ``FakeAsterisk.inbound_call``)."""

    lines: tuple[str, ...]
    caller_id: str
    answer_on: str | None
    ring_time: float
    talk_time: float | None
    hold: bool


@attrs.frozen
class OriginateSettings:
    """The server's options an originated call follows, read when the Originate arrives."""

    line: str
    response_first: bool
    answer_delay: float
    call_duration: float | None
    busy_extensions: frozenset[str]
    no_answer_extensions: frozenset[str] = frozenset()


C = TypeVar("C", bound=Call)


class PBX(Generic[C]):
    """The live calls and channels, and the AMI messages each step of a call produces."""

    def __init__(self, version: tuple[int, ...]) -> None:
        self.version = version
        self.calls: dict[str, C] = {}
        """Live calls by call key."""
        self._ids = itertools.count(1)
        self._chan_seq = itertools.count(0)

    @property
    def supports_channel_id(self) -> bool:
        """ChannelId arrived in Asterisk 12.2 (AMI 2.x); older servers ignore it."""
        return self.version >= (2,)

    def new_unique_id(self) -> str:
        return f"{EPOCH}.{next(self._ids)}"

    def new_challenge(self) -> str:
        return str(100_000_000 + next(self._ids) * 7919 % 899_999_999)

    def ping_timestamp(self, seconds: float) -> str:
        """The ``Timestamp:`` of a Pong, ``seconds`` after the fake's epoch."""
        return f"{EPOCH + seconds:.6f}"

    # ------------------------------------------------------------------ channels

    def local_pair(
        self,
        dest: str,
        *,
        linked_id: str | None,
        caller: tuple[str, str],
        ids: tuple[str | None, str | None] = (None, None),
    ) -> tuple[Channel, Channel]:
        """The two halves ``;1`` and ``;2`` of ``Local/<exten>@<context>``, with their ids."""
        base = dest if dest.lower().startswith("local/") else f"Local/{dest}"
        exten, _, context = base[len("Local/") :].partition("@")
        seq = next(self._chan_seq)
        uid1 = ids[0] or self.new_unique_id()
        uid2 = ids[1] or (f"{ids[0]};2" if ids[0] else self.new_unique_id())
        linked = linked_id or uid1
        where = context or "default"
        one = Channel(f"{base}-{seq:08x};1", uid1, linked, where, exten, *caller)
        two = Channel(f"{base}-{seq:08x};2", uid2, linked, where, exten, *caller)
        return one, two

    def find_channel(self, spec: str | None) -> tuple[C, Channel] | None:
        """The channel an action's ``Channel:`` names: its name, its unique id or ``/regex/``."""
        if not spec:
            return None
        pattern = (
            re.compile(spec[1:-1])
            if len(spec) > 1 and spec.startswith("/") and spec.endswith("/")
            else None
        )
        for call in self.calls.values():
            for ch in call.channels:
                # ast_channel_get_by_name() also finds a channel by its uniqueid.
                if pattern is not None:
                    if pattern.search(ch.name):
                        return call, ch
                elif spec in (ch.name, ch.unique_id):
                    return call, ch
        return None

    def core_show_channels(self, action_id: str | None) -> list[Message]:
        """The event list after CoreShowChannels' reply: one per live channel, then Complete."""
        aid = [("ActionID", action_id)] if action_id else []
        channels = [ch for call in self.calls.values() for ch in call.channels]
        out = [
            Message.from_pairs(
                ("Event", "CoreShowChannel"),
                *aid,
                *ch.snapshot(),
                ("Application", ch.application),
                ("ApplicationData", ch.application_data),
                ("Duration", "00:00:01"),
                ("BridgeId", ""),
            )
            for ch in channels
        ]
        out.append(
            Message.from_pairs(
                ("Event", "CoreShowChannelsComplete"),
                *aid,
                ("EventList", "Complete"),
                ("ListItems", str(len(channels))),
            )
        )
        return out

    # ------------------------------------------------------------------ events

    def event(self, name: str, privilege: str, ch: Channel | None, *extra: tuple[str, str]) -> Emit:
        pairs: list[tuple[str, str]] = [("Event", name), ("Privilege", privilege)]
        if ch is not None:
            pairs.extend(ch.snapshot())
        pairs.extend(extra)
        return Emit(Message.from_pairs(*pairs))

    def tapi(self, ch: Channel, text: str) -> Emit:
        """The dialplan's ``UserEvent(TAPI,TAPIEVENT: text)`` on ``ch``."""
        ch.priority += 1
        return self.event("UserEvent", "user,all", ch, ("UserEvent", "TAPI"), ("TAPIEVENT", text))

    def newchannel(self, call: Call, *channels: Channel) -> Script:
        for ch in channels:
            call.channels.append(ch)
            yield self.event("Newchannel", "call,all", ch)

    def newstate(self, ch: Channel, state: int) -> Emit:
        ch.state = state
        return self.event("Newstate", "call,all", ch)

    def hangup(self, call: Call, ch: Channel, cause: int = 16) -> Emit:
        if ch in call.channels:
            call.channels.remove(ch)
        text = _CAUSE_TEXT.get(cause, "Unknown")
        return self.event("Hangup", "call,all", ch, ("Cause", str(cause)), ("Cause-txt", text))

    # ------------------------------------------------------------------ scripts

    def inbound_script(self, call: C, how: InboundCall) -> Script:
        """An inbound ring-group call shaped like capture ``12-scenario7-ringgroup``."""
        caller = caller_id_parts(how.caller_id)
        try:
            outside, inbound = self.local_pair(
                "Local/300@inbound-rg", linked_id=None, caller=caller
            )
            call.unique_id = inbound.unique_id
            call.dialplan_channel = inbound
            self.calls[call.unique_id] = call
            outside.application, outside.application_data = "Wait", "10"
            inbound.application = "Dial"
            inbound.application_data = "&".join(f"{line}@phones" for line in how.lines)
            yield from self.newchannel(call, outside, inbound)
            inbound.state = 4
            for line in how.lines:
                yield self.tapi(inbound, f"LINE_NEWCALL {line}")
            yield self.tapi(inbound, f"SET CALLERID {how.caller_id}")
            yield self.tapi(inbound, "LINE_CALLSTATE LINECALLSTATE_OFFERING")
            phones: dict[str, tuple[Channel, Channel]] = {}
            for line in how.lines:
                pair = self.local_pair(f"{line}@phones", linked_id=outside.unique_id, caller=caller)
                phones[line] = pair
                yield from self.newchannel(call, *pair)
                yield self.newstate(pair[0], 5)
            ring_forever = how.hold and how.answer_on is None
            if ring_forever:
                yield Held()
            hung_up = yield Wait(None if ring_forever else how.ring_time)
            if how.answer_on in phones and not hung_up:
                yield from self._answer_inbound(call, inbound, outside, phones, how)
            # The h extension of [inbound-rg], then every channel goes.
            yield self.tapi(inbound, "LINE_CALLSTATE LINECALLSTATE_IDLE")
            for ch in list(call.channels):
                yield self.hangup(call, ch)
        finally:
            self.calls.pop(call.unique_id, None)

    def _answer_inbound(
        self,
        call: C,
        inbound: Channel,
        outside: Channel,
        phones: dict[str, tuple[Channel, Channel]],
        how: InboundCall,
    ) -> Script:
        answered = how.answer_on
        assert answered is not None
        hook = phones[answered][0]
        yield self.newstate(phones[answered][1], 6)
        yield self.newstate(hook, 6)
        for line, (one, two) in phones.items():
            if line != answered:
                yield self.hangup(call, one, 26)
                yield self.hangup(call, two, 26)
        key = inbound.unique_id
        yield self.tapi(hook, f"[~{key}&{answered}] LINE_CALLSTATE LINECALLSTATE_CONNECTED")
        yield self.tapi(hook, f"[~{key}&!{answered}] LINE_CALLSTATE LINECALLSTATE_HANGUP")
        inbound.state = 6
        yield self.newstate(outside, 6)
        if how.hold:
            yield Held()
        yield Wait(None if how.hold else how.talk_time)

    def originate_script(self, call: C, action: Message, how: OriginateSettings) -> Script:
        """Script of ``[outbound]`` in the captures' extensions.conf, for one Originate."""
        try:
            yield from self._originate(call, action, how)
        finally:
            self.calls.pop(call.unique_id, None)

    def _originate(self, call: C, action: Message, how: OriginateSettings) -> Script:
        caller = caller_id_parts(action.get("CallerID"))
        exten = action.get("Exten")
        channel_id = action.get("ChannelId") if self.supports_channel_id else None
        other_id = action.get("OtherChannelId") if self.supports_channel_id else None
        if channel_id is not None and (channel_id in self.calls or self.find_channel(channel_id)):
            # A re-used ChannelId fails after the queued reply (capture 06b),
            # carrying the duplicate id in Uniqueid.
            yield Wait(0.0)
            yield _originate_response(action, caller, None, 0, channel_id)
            return
        one, two = self.local_pair(
            action.get("Channel") or "", linked_id=None, caller=caller, ids=(channel_id, other_id)
        )
        call.unique_id = one.unique_id
        call.dialplan_channel = one
        self.calls[call.unique_id] = call
        one.application, one.application_data = (
            action.get("Application") or "AppDial2",
            action.get("Data") or "",
        )
        yield from self.newchannel(call, one, two)
        for variable in action.get_all("Variable"):
            name, _, value = variable.partition("=")
            for ch in (one, two):
                yield self.event("VarSet", "dialplan,all", ch, ("Variable", name), ("Value", value))
        failure = None
        if exten is not None and exten in how.busy_extensions:
            yield Wait(how.answer_delay)
            failure = 17, 5  # hangup cause "User busy", Reason 5 (busy)
        elif exten is not None and exten in how.no_answer_extensions:
            yield self.newstate(one, 5)
            yield Wait(how.answer_delay)  # the Originate's Timeout: still ringing
            failure = 19, 3  # hangup cause "No answer", Reason 3 (ringing, no answer)
        else:
            yield self.newstate(one, 5)
            if (yield Wait(how.answer_delay)):
                failure = 16, 1  # hung up while ringing: Reason 1 (hung up)
        if failure is not None:
            yield self.hangup(call, two, failure[0])
            yield self.hangup(call, one, failure[0])
            yield _originate_response(action, caller, None, failure[1], channel_id)
            return
        yield self.newstate(two, 6)
        yield self.newstate(one, 6)
        yield from self._originate_answered(call, action, how, caller, (one, two))

    def _originate_answered(
        self,
        call: C,
        action: Message,
        how: OriginateSettings,
        caller: tuple[str, str],
        halves: tuple[Channel, Channel],
    ) -> Script:
        one, two = halves
        answered = _originate_response(action, caller, one, 4, None)
        if action.get("Application") is not None:
            # Application originate: no dialplan, no TAPI events.
            yield answered
            yield Wait(how.call_duration)
            yield self.hangup(call, two)
            yield self.hangup(call, one)
            return
        if how.response_first:
            yield answered
        one.context, one.exten = action.get("Context") or "default", action.get("Exten") or "s"
        yield self.tapi(one, f"LINE_NEWCALL {how.line}")
        if not how.response_first:
            yield answered
        far1, far2 = self.local_pair("Local/far@phones", linked_id=one.unique_id, caller=caller)
        yield from self.newchannel(call, far1, far2)
        yield self.newstate(far1, 5)
        if not (yield Wait(how.answer_delay)):
            yield self.newstate(far2, 6)
            yield self.newstate(far1, 6)
            # The connected hook (U(tapi^${UNIQUEID})) runs on the answering channel.
            connected = f"[~{one.unique_id}&{how.line}] LINE_CALLSTATE LINECALLSTATE_CONNECTED"
            yield self.tapi(far1, connected)
            yield Wait(how.call_duration)
        yield self.hangup(call, far2)
        # The h extension of [outbound] on the dialplan channel.
        yield self.tapi(one, "LINE_CALLSTATE LINECALLSTATE_IDLE")
        for ch in (far1, one, two):
            yield self.hangup(call, ch)


def _originate_response(
    action: Message,
    caller: tuple[str, str],
    ch: Channel | None,
    reason: int,
    failed_id: str | None,
) -> Emit:
    """OriginateResponse: Success naming ``ch``, or Failure (``ch`` None) with ``reason``."""
    action_id = action.get("ActionID")
    application = action.get("Application")
    where = (
        [("Context", action.get("Context") or ""), ("Exten", action.get("Exten") or "")]
        if application is None
        else [("Application", application), ("Data", action.get("Data") or "")]
    )
    return Emit(
        Message.from_pairs(
            ("Event", "OriginateResponse"),
            ("Privilege", "call,all"),
            *([("ActionID", action_id)] if action_id else []),
            ("Response", "Success" if ch is not None else "Failure"),
            ("Channel", ch.name if ch is not None else action.get("Channel") or ""),
            *where,
            ("Reason", str(reason)),
            ("Uniqueid", ch.unique_id if ch is not None else failed_id or "<unknown>"),
            ("CallerIDNum", caller[1]),
            ("CallerIDName", caller[0]),
        )
    )
