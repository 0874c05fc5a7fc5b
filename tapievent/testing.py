"""``FakeAsterisk``: a real AMI server on 127.0.0.1 for tests, yours and ours.

It speaks AMI over TCP (or TLS) the way Asterisk 22.10.1 does in the captures
under ``tests/data/asterisk-22.10.1/``: the banner, Login with a plain secret
or a Challenge/MD5 key (a failure is answered after a delay, then the
connection is closed), Ping with ``Timestamp``, Events, Logoff/Goodbye,
CoreShowChannels as an event list, Originate (queued reply, then a scripted
call that raises the dialplan's TAPI UserEvents and honours ``ChannelId``),
Hangup, Redirect and PlayDTMF. Inbound calls are injected with
:meth:`FakeAsterisk.inbound_call`, shaped like capture
``12-scenario7-ringgroup``. Faults are injected on demand: cut the
connection in the middle of a frame, stall, send garbage, restart.

It is built on tapievent's own codec: actions are parsed with
``AMIDecoder`` and everything is written with ``encode_message``, so there is
exactly one AMI writer in the project. It is *not* an Asterisk emulator: the
dialplan is a fixed script that reproduces the event shapes a TAPI client
consumes. See ``docs/testing.md``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import itertools
import logging
import re
import ssl as _ssl
import threading
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

import attrs

from ._errors import RemoteProtocolError
from .ami_codec import NEED_DATA, AMIDecoder, Message, encode_banner, encode_message

__all__ = ["FakeAsterisk", "FakeCall", "ThreadedFakeAsterisk"]

logger = logging.getLogger("tapievent.testing")

T = TypeVar("T")

# Event classes (manager.h) by the first name in ``Privilege:``; an event is
# delivered to a session only if its class is in the session's mask.
_CLASSES = (
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

_STATE_DESC = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up"}


def _parse_mask(value: str | None) -> frozenset[str] | None:
    """The session event mask for ``Events:``/``EventMask:`` (None = unchanged)."""
    if value is None or value.strip() == "":
        return None
    v = value.strip().lower()
    if v.isdigit():
        bits = int(v)
        return frozenset(c for i, c in enumerate(_CLASSES) if bits & (1 << i))
    if v in _TRUE:
        return frozenset(_CLASSES)
    if v in _FALSE:
        return frozenset()
    return frozenset(c.strip() for c in v.split(",") if c.strip() in _CLASSES)


def _caller_id_parts(caller_id: str | None) -> tuple[str, str]:
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
class _Channel:
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
class FakeCall:
    """A call the fake server is running (inbound or originated).

    ``unique_id`` is the call key a TAPI client tracks: the Uniqueid of the
    channel running the dialplan that raised LINE_NEWCALL.
    """

    unique_id: str
    channels: list[_Channel] = attrs.field(factory=list)
    dialplan_channel: _Channel | None = None
    ended: asyncio.Event = attrs.field(factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    hangup_requested: asyncio.Event = attrs.field(factory=asyncio.Event)


class _Connection:
    """One client connection: its decoder, login state and event mask."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.decoder = AMIDecoder()
        self.logged_in = False
        self.username: str | None = None
        self.challenge: str | None = None
        self.mask: frozenset[str] = frozenset(_CLASSES)
        self.closing = False

    def write(self, data: bytes) -> None:
        if not self.closing and not self.writer.is_closing():
            self.writer.write(data)


class FakeAsterisk:
    """An AMI server on ``127.0.0.1`` that behaves like Asterisk 22 for a TAPI client.

    Use it as ``async with FakeAsterisk() as fake:`` (or ``await fake.start()``
    / ``await fake.stop()``); ``fake.port`` is the ephemeral port it listens
    on. From threaded code use :meth:`start_in_thread`.

    Parameters that shape the behaviour:

    - ``username``/``secret``: the one AMI user accepted (plain or MD5).
    - ``ami_version``: the banner's version, ``"11.0.0"`` like Asterisk 22;
      ``"2.10.0"`` announces 13, ``"1.3"`` 11, ``"1.1"`` 1.6/1.8. Below ``2``
      ``ChannelId`` is ignored on Originate, as before 12.2, and the unique
      ids come from the server; the event shapes stay those of Asterisk 22.
    - ``auth_failure_delay``: seconds before ``Authentication failed`` is
      sent (Asterisk sleeps one second); the connection is closed after it.
    - ``originate_line``: the line the outbound dialplan names in its
      ``LINE_NEWCALL``; ``originate_response_first`` puts OriginateResponse
      before that UserEvent (real servers use either order).
    - ``answer_delay`` / ``call_duration``: timing of scripted calls
      (``call_duration=None`` keeps an answered call up until it is hung up).
    - ``ssl``: a server ``ssl.SSLContext`` to speak AMI over TLS.
    """

    def __init__(
        self,
        *,
        username: str = "tapi",
        secret: str = "tapisecret",  # noqa: S107 - the captures' test user
        ami_version: str = "11.0.0",
        host: str = "127.0.0.1",
        port: int = 0,
        ssl: _ssl.SSLContext | None = None,
        auth_failure_delay: float = 0.05,
        originate_line: str = "line_1",
        originate_response_first: bool = False,
        answer_delay: float = 0.01,
        call_duration: float | None = 0.05,
        busy_extensions: Iterable[str] = ("busy",),
        missing_extensions: Iterable[str] = (),
    ) -> None:
        self.username = username
        self._secret = secret
        self.ami_version = ami_version
        try:
            self._version = tuple(int(part) for part in ami_version.split("."))
        except ValueError:
            raise ValueError(f"ami_version must look like '11.0.0', not {ami_version!r}") from None
        self.host = host
        self._port = port
        self._ssl = ssl
        self.auth_failure_delay = auth_failure_delay
        self.originate_line = originate_line
        self.originate_response_first = originate_response_first
        self.answer_delay = answer_delay
        self.call_duration = call_duration
        self.busy_extensions = frozenset(busy_extensions)
        self.missing_extensions = frozenset(missing_extensions)
        """Originates to these extensions are refused at once, as Asterisk 11+ does."""
        self.stalled = False
        """While True the server reads but answers nothing and sends no events."""
        self.actions: list[Message] = []
        """Every action received, in order, across connections (for assertions)."""
        self.logins = 0
        """Successful logins so far."""
        self.connections = 0
        """Connections accepted so far."""
        self.calls: dict[str, FakeCall] = {}
        """Live calls by call key."""
        self._server: asyncio.base_events.Server | None = None
        self._clients: set[_Connection] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._ids = itertools.count(1)
        self._chan_seq = itertools.count(0)
        self._epoch = 1795669868

    def __repr__(self) -> str:
        return f"<FakeAsterisk {self.host}:{self._port} user={self.username!r}>"

    # ------------------------------------------------------------------ lifecycle

    @property
    def port(self) -> int:
        """The TCP port; after the first start it stays the same across restarts."""
        return self._port

    async def start(self) -> None:
        """Listen on ``host:port`` (port 0 picks a free one, kept for restarts)."""
        if self._server is not None:
            return
        self._server = await asyncio.start_server(
            self._serve, self.host, self._port, ssl=self._ssl, reuse_address=True
        )
        self._port = self._server.sockets[0].getsockname()[1]
        logger.debug("FakeAsterisk listening on %s:%d", self.host, self._port)

    async def stop(self) -> None:
        """Close every connection and stop listening; live calls are forgotten."""
        await self._shutdown(mid_frame=False)

    async def kill(self, *, mid_frame: bool = True) -> None:
        """Die like a crashed Asterisk: optionally half an event, then the sockets drop.

        With ``mid_frame`` every client first receives the beginning of an
        event without its end, so its decoder holds a partial frame when the
        connection goes.
        """
        await self._shutdown(mid_frame=mid_frame)

    async def restart(self, *, mid_frame: bool = True, downtime: float = 0.0) -> None:
        """:meth:`kill`, wait ``downtime`` seconds, then :meth:`start` on the same port."""
        await self.kill(mid_frame=mid_frame)
        if downtime:
            await asyncio.sleep(downtime)
        await self.start()

    async def _shutdown(self, *, mid_frame: bool) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for call in list(self.calls.values()):
            if call.task is not None:
                call.task.cancel()
        self.calls.clear()
        partial = b""
        if mid_frame:
            frame = encode_message(
                Message.from_pairs(
                    ("Event", "Newstate"),
                    ("Privilege", "call,all"),
                    ("Channel", "Local/partial@phones-ffffffff;1"),
                    ("Uniqueid", "cut.1"),
                )
            )
            partial = frame[: len(frame) // 2]
        for conn in list(self._clients):
            if partial:
                conn.write(partial)
            conn.closing = True
            transport = conn.writer.transport
            if partial:
                # Let the half frame reach the client before the reset.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.writer.drain(), 1.0)
            transport.abort()
        self._clients.clear()
        handlers = list(self._handlers)
        for task in handlers:
            task.cancel()
        if handlers:
            await asyncio.gather(*handlers, return_exceptions=True)
        if server is not None:
            await server.wait_closed()

    async def __aenter__(self) -> FakeAsterisk:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ fault injection

    def stall(self, stalled: bool = True) -> None:
        """Stop (or resume) answering: actions are read but get no reply, no events flow."""
        self.stalled = stalled

    async def send_garbage(self, data: bytes = b"\x00\xffnot: ami\r\n\xfe\r\n\r\n") -> None:
        """Write raw bytes to every logged-in client."""
        for conn in list(self._clients):
            conn.write(data)
            await conn.writer.drain()

    async def drop_connections(self) -> None:
        """Reset every client connection at once, keep listening (and keep the calls)."""
        for conn in list(self._clients):
            conn.closing = True
            conn.writer.transport.abort()
        self._clients.clear()

    # ------------------------------------------------------------------ connection handling

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        conn = _Connection(reader, writer)
        self._clients.add(conn)
        self.connections += 1
        try:
            # The banner is a bare line, not a message: no blank line follows it.
            conn.write(encode_banner(self._version))
            while not conn.closing:
                data = await reader.read(65536)
                if data:
                    conn.decoder.receive_data(data)
                else:
                    conn.decoder.receive_eof()
                while not conn.closing:
                    try:
                        frame = conn.decoder.next_frame()
                    except RemoteProtocolError:
                        continue
                    if frame is NEED_DATA:
                        break
                    if isinstance(frame, Message):
                        await self._on_action(conn, frame)
                if not data:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, _ssl.SSLError, OSError):
            pass
        except asyncio.CancelledError:
            # Cancelled by stop()/kill(): this task is the top of the
            # connection, so ending quietly is right (asyncio's server
            # callback on 3.10/3.11 would log a cancelled handler as an error).
            pass
        finally:
            self._clients.discard(conn)
            self._handlers.discard(task)
            if not writer.is_closing():
                writer.close()

    def _reply(self, conn: _Connection, request: Message, *pairs: tuple[str, str]) -> None:
        if self.stalled:
            return
        headers = [pairs[0]]
        action_id = request.get("ActionID")
        if action_id:
            headers.append(("ActionID", action_id))
        headers.extend(pairs[1:])
        conn.write(encode_message(Message.from_pairs(*headers)))

    def _send_event(self, conn: _Connection, event: Message) -> None:
        if self.stalled or not conn.logged_in:
            return
        privilege = event.get("Privilege")
        if privilege is not None:
            cls = privilege.split(",")[0].strip()
            if cls not in conn.mask:
                return
        conn.write(encode_message(event))

    def broadcast(self, event: Message) -> None:
        """Send an event to every logged-in client whose event mask takes it."""
        for conn in list(self._clients):
            self._send_event(conn, event)

    async def _on_action(self, conn: _Connection, action: Message) -> None:
        self.actions.append(action)
        name = (action.get("Action") or "").strip()
        key = name.lower()
        if not name:
            self._reply(
                conn, action, ("Response", "Error"), ("Message", "Missing action in request")
            )
            return
        if not conn.logged_in and key not in ("login", "logoff", "challenge"):
            self._reply(conn, action, ("Response", "Error"), ("Message", "Permission denied"))
            return
        handler = getattr(self, f"_action_{key}", None)
        if handler is None:
            self._reply(
                conn,
                action,
                ("Response", "Error"),
                (
                    "Message",
                    f"Invalid/unknown command: {name}. "
                    "Use Action: ListCommands to show available commands.",
                ),
            )
            return
        await handler(conn, action)

    # ------------------------------------------------------------------ actions

    async def _action_challenge(self, conn: _Connection, action: Message) -> None:
        if (action.get("AuthType") or "").lower() != "md5":
            self._reply(conn, action, ("Response", "Error"), ("Message", "Must specify AuthType"))
            return
        conn.challenge = str(100_000_000 + next(self._ids) * 7919 % 899_999_999)
        self._reply(conn, action, ("Response", "Success"), ("Challenge", conn.challenge))

    async def _action_login(self, conn: _Connection, action: Message) -> None:
        if conn.logged_in:
            self._reply(conn, action, ("Response", "Success"), ("Message", "Already authenticated"))
            return
        user = action.get("Username") or ""
        ok = user == self.username
        if (action.get("AuthType") or "").lower() == "md5":
            expected = (
                hashlib.md5((conn.challenge + self._secret).encode("utf-8")).hexdigest()  # noqa: S324
                if conn.challenge is not None
                else None
            )
            ok = ok and expected is not None and action.get("Key") == expected
        else:
            ok = ok and action.get("Secret") == self._secret
        if not ok:
            # Asterisk sleeps a second before answering a failed login, then
            # hangs up (captures 03a-03c).
            await asyncio.sleep(self.auth_failure_delay)
            self._reply(conn, action, ("Response", "Error"), ("Message", "Authentication failed"))
            with contextlib.suppress(Exception):
                await conn.writer.drain()
            conn.closing = True
            conn.writer.close()
            return
        mask = _parse_mask(action.get("Events"))
        if mask is not None:
            conn.mask = mask
        conn.logged_in = True
        conn.username = user
        self.logins += 1
        self._reply(conn, action, ("Response", "Success"), ("Message", "Authentication accepted"))
        self._send_event(
            conn,
            Message.from_pairs(
                ("Event", "FullyBooted"),
                ("Privilege", "system,all"),
                ("Uptime", "6"),
                ("LastReload", "6"),
                ("Status", "Fully Booted"),
            ),
        )

    async def _action_logoff(self, conn: _Connection, action: Message) -> None:
        self._reply(conn, action, ("Response", "Goodbye"), ("Message", "Thanks for all the fish."))
        with contextlib.suppress(Exception):
            await conn.writer.drain()
        conn.closing = True
        conn.writer.close()

    async def _action_ping(self, conn: _Connection, action: Message) -> None:
        loop = asyncio.get_running_loop()
        self._reply(
            conn,
            action,
            ("Response", "Success"),
            ("Ping", "Pong"),
            ("Timestamp", f"{self._epoch + loop.time():.6f}"),
        )

    async def _action_events(self, conn: _Connection, action: Message) -> None:
        mask = _parse_mask(action.get("EventMask"))
        if mask is not None:
            conn.mask = mask
        self._reply(conn, action, ("Response", "Success"), ("Events", "On" if conn.mask else "Off"))

    async def _action_coreshowchannels(self, conn: _Connection, action: Message) -> None:
        if self.stalled:
            return
        self._reply(
            conn,
            action,
            ("Response", "Success"),
            ("EventList", "start"),
            ("Message", "Channels will follow"),
        )
        action_id = action.get("ActionID")
        aid = [("ActionID", action_id)] if action_id else []
        channels = [ch for call in self.calls.values() for ch in call.channels]
        for ch in channels:
            conn.write(
                encode_message(
                    Message.from_pairs(
                        ("Event", "CoreShowChannel"),
                        *aid,
                        *ch.snapshot(),
                        ("Application", ch.application),
                        ("ApplicationData", ch.application_data),
                        ("Duration", "00:00:01"),
                        ("BridgeId", ""),
                    )
                )
            )
        conn.write(
            encode_message(
                Message.from_pairs(
                    ("Event", "CoreShowChannelsComplete"),
                    *aid,
                    ("EventList", "Complete"),
                    ("ListItems", str(len(channels))),
                )
            )
        )

    def _find_channel(self, spec: str | None) -> tuple[FakeCall, _Channel] | None:
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

    async def _action_hangup(self, conn: _Connection, action: Message) -> None:
        found = self._find_channel(action.get("Channel"))
        if found is None:
            self._reply(conn, action, ("Response", "Error"), ("Message", "No such channel"))
            return
        self._reply(conn, action, ("Response", "Success"), ("Message", "Channel Hungup"))
        found[0].hangup_requested.set()

    async def _action_redirect(self, conn: _Connection, action: Message) -> None:
        channel = action.get("Channel")
        if self._find_channel(channel) is None:
            self._reply(
                conn,
                action,
                ("Response", "Error"),
                ("Message", f"Channel does not exist: {channel}"),
            )
            return
        self._reply(conn, action, ("Response", "Success"), ("Message", "Redirect successful"))

    async def _action_playdtmf(self, conn: _Connection, action: Message) -> None:
        channel = action.get("Channel")
        if self._find_channel(channel) is None:
            self._reply(
                conn, action, ("Response", "Error"), ("Message", f"Channel '{channel}' not found")
            )
            return
        if not action.get("Digit"):
            self._reply(conn, action, ("Response", "Error"), ("Message", "No digit specified"))
            return
        self._reply(conn, action, ("Response", "Success"), ("Message", "DTMF successfully queued"))

    async def _action_originate(self, conn: _Connection, action: Message) -> None:
        channel = action.get("Channel")
        if not channel:
            self._reply(conn, action, ("Response", "Error"), ("Message", "Channel not specified"))
            return
        if action.get("Exten") in self.missing_extensions:
            # Asterisk 11+ checks Context/Exten before dialling and answers at
            # once; no OriginateResponse follows (ami-versions.md 4.1).
            self._reply(
                conn, action, ("Response", "Error"), ("Message", "Extension does not exist.")
            )
            return
        self._reply(
            conn, action, ("Response", "Success"), ("Message", "Originate successfully queued")
        )
        call = FakeCall(unique_id="")
        call.task = asyncio.create_task(self._originated_call(action, call))

    # ------------------------------------------------------------------ scripted calls

    def _new_unique_id(self) -> str:
        return f"{self._epoch}.{next(self._ids)}"

    def _local_pair(
        self,
        dest: str,
        *,
        linked_id: str | None,
        caller: tuple[str, str],
        ids: tuple[str | None, str | None] = (None, None),
    ) -> tuple[_Channel, _Channel]:
        # Local/<exten>@<context> becomes two halves ";1" and ";2" with their own ids.
        base = dest if dest.lower().startswith("local/") else f"Local/{dest}"
        exten, _, context = base[len("Local/") :].partition("@")
        seq = next(self._chan_seq)
        uid1 = ids[0] or self._new_unique_id()
        uid2 = ids[1] or (f"{ids[0]};2" if ids[0] else self._new_unique_id())
        linked = linked_id or uid1
        one = _Channel(
            f"{base}-{seq:08x};1", uid1, linked, context or "default", exten, caller[0], caller[1]
        )
        two = _Channel(
            f"{base}-{seq:08x};2", uid2, linked, context or "default", exten, caller[0], caller[1]
        )
        return one, two

    def _event(
        self, name: str, privilege: str, ch: _Channel | None, *extra: tuple[str, str]
    ) -> Message:
        pairs: list[tuple[str, str]] = [("Event", name), ("Privilege", privilege)]
        if ch is not None:
            pairs.extend(ch.snapshot())
        pairs.extend(extra)
        return Message.from_pairs(*pairs)

    def _tapi(self, ch: _Channel, text: str) -> None:
        ch.priority += 1
        self.broadcast(
            self._event("UserEvent", "user,all", ch, ("UserEvent", "TAPI"), ("TAPIEVENT", text))
        )

    def _newchannel(self, call: FakeCall, *channels: _Channel) -> None:
        for ch in channels:
            call.channels.append(ch)
            self.broadcast(self._event("Newchannel", "call,all", ch))

    def _newstate(self, ch: _Channel, state: int) -> None:
        ch.state = state
        self.broadcast(self._event("Newstate", "call,all", ch))

    def _hangup(self, call: FakeCall, ch: _Channel, cause: int = 16) -> None:
        if ch in call.channels:
            call.channels.remove(ch)
        text = {16: "Normal Clearing", 17: "User busy", 26: "Answered elsewhere"}.get(
            cause, "Unknown"
        )
        self.broadcast(
            self._event("Hangup", "call,all", ch, ("Cause", str(cause)), ("Cause-txt", text))
        )

    async def _wait_or_hangup(self, call: FakeCall, seconds: float | None) -> None:
        """Sleep ``seconds`` (None: forever) unless a Hangup action ends the call first."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(call.hangup_requested.wait(), seconds)

    async def _originated_call(self, action: Message, call: FakeCall) -> None:
        """Script of ``[outbound]`` in the captures' extensions.conf, for one Originate."""
        try:
            await self._run_originated_call(action, call)
        finally:
            self.calls.pop(call.unique_id, None)
            call.ended.set()

    async def _run_originated_call(self, action: Message, call: FakeCall) -> None:
        action_id = action.get("ActionID")
        caller = _caller_id_parts(action.get("CallerID"))
        context = action.get("Context")
        exten = action.get("Exten")
        application = action.get("Application")
        channel_id = action.get("ChannelId") if self._supports_channel_id() else None
        other_id = action.get("OtherChannelId") if self._supports_channel_id() else None
        aid = [("ActionID", action_id)] if action_id else []

        def response(ok: bool, ch: _Channel | None, reason: int) -> Message:
            where = (
                [("Context", context or ""), ("Exten", exten or "")]
                if application is None
                else [("Application", application), ("Data", action.get("Data") or "")]
            )
            return Message.from_pairs(
                ("Event", "OriginateResponse"),
                ("Privilege", "call,all"),
                *aid,
                ("Response", "Success" if ok else "Failure"),
                ("Channel", ch.name if ch is not None and ok else action.get("Channel") or ""),
                *where,
                ("Reason", str(reason)),
                ("Uniqueid", ch.unique_id if ch is not None and ok else channel_id or "<unknown>"),
                ("CallerIDNum", caller[1]),
                ("CallerIDName", caller[0]),
            )

        if channel_id is not None and (channel_id in self.calls or self._find_channel(channel_id)):
            # A re-used ChannelId fails after the queued reply (capture 06b),
            # carrying the duplicate id in Uniqueid.
            await asyncio.sleep(0)
            self.broadcast(response(False, None, 0))
            return

        one, two = self._local_pair(
            action.get("Channel") or "", linked_id=None, caller=caller, ids=(channel_id, other_id)
        )
        call.unique_id = one.unique_id
        call.dialplan_channel = one
        self.calls[call.unique_id] = call
        one.application, one.application_data = application or "AppDial2", action.get("Data") or ""
        self._newchannel(call, one, two)
        for variable in action.get_all("Variable"):
            name, _, value = variable.partition("=")
            for ch in (one, two):
                self.broadcast(
                    self._event("VarSet", "dialplan,all", ch, ("Variable", name), ("Value", value))
                )
        if exten is not None and exten in self.busy_extensions:
            await asyncio.sleep(self.answer_delay)
            self._hangup(call, two, 17)
            self._hangup(call, one, 17)
            self.broadcast(response(False, None, 5))
            return
        self._newstate(one, 5)
        await self._wait_or_hangup(call, self.answer_delay)
        if call.hangup_requested.is_set():
            self._hangup(call, two)
            self._hangup(call, one)
            self.broadcast(response(False, None, 1))
            return
        self._newstate(two, 6)
        self._newstate(one, 6)
        line = self.originate_line
        if application is not None:
            # Application originate: no dialplan, no TAPI events.
            self.broadcast(response(True, one, 4))
            await self._wait_or_hangup(call, self.call_duration)
            self._hangup(call, two)
            self._hangup(call, one)
            return
        if self.originate_response_first:
            self.broadcast(response(True, one, 4))
        one.context, one.exten = context or "default", exten or "s"
        self._tapi(one, f"LINE_NEWCALL {line}")
        if not self.originate_response_first:
            self.broadcast(response(True, one, 4))
        far1, far2 = self._local_pair("Local/far@phones", linked_id=one.unique_id, caller=caller)
        self._newchannel(call, far1, far2)
        self._newstate(far1, 5)
        await self._wait_or_hangup(call, self.answer_delay)
        if not call.hangup_requested.is_set():
            self._newstate(far2, 6)
            self._newstate(far1, 6)
            # The connected hook (U(tapi^${UNIQUEID})) runs on the answering channel.
            self._tapi(far1, f"[~{one.unique_id}&{line}] LINE_CALLSTATE LINECALLSTATE_CONNECTED")
            await self._wait_or_hangup(call, self.call_duration)
        self._hangup(call, far2)
        # The h extension of [outbound] on the dialplan channel.
        self._tapi(one, "LINE_CALLSTATE LINECALLSTATE_IDLE")
        self._hangup(call, far1)
        self._hangup(call, one)
        self._hangup(call, two)

    def _supports_channel_id(self) -> bool:
        # ChannelId arrived in Asterisk 12.2 (AMI 2.x); older servers ignore it.
        return self._version >= (2,)

    async def inbound_call(
        self,
        lines: Sequence[str] = ("Local/bob", "Local/bobbett"),
        *,
        caller_id: str = '"Alice Caller" <5550100>',
        answer_on: str | None = "Local/bob",
        ring_time: float = 0.01,
        talk_time: float | None = 0.01,
        hold: bool = False,
    ) -> FakeCall:
        """Run an inbound ring-group call like capture ``12-scenario7-ringgroup``.

        The inbound channel raises ``LINE_NEWCALL`` for each of ``lines``,
        ``SET CALLERID`` with the quoted caller id and ``OFFERING``; after
        ``ring_time`` the phone ``answer_on`` answers and its connected hook
        sends ``[~key&answer_on] CONNECTED`` and ``[~key&!answer_on] HANGUP``;
        after ``talk_time`` the call ends with the ``h`` extension's IDLE and
        the Hangup events. ``answer_on=None``: nobody answers, the caller
        gives up after ``ring_time``.

        With ``hold=True`` the coroutine returns as soon as the call is
        ringing (or answered), and the call stays up until :meth:`hangup_call`,
        a Hangup action, or a restart; otherwise it returns when the call is over.
        ``FakeCall.unique_id`` is the key a client tracks.
        """
        caller = _caller_id_parts(caller_id)
        call = FakeCall(unique_id="")
        started = asyncio.Event()
        call.task = asyncio.create_task(
            self._inbound_script(
                call, started, list(lines), caller_id, caller, answer_on, ring_time, talk_time, hold
            )
        )
        if hold:
            waiter = asyncio.create_task(started.wait())
            await asyncio.wait({waiter, call.task}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
        else:
            await asyncio.shield(call.task)
        if call.task.done() and not call.task.cancelled() and call.task.exception() is not None:
            raise call.task.exception()  # type: ignore[misc]
        return call

    async def hangup_call(self, call: FakeCall) -> None:
        """End a held call as if the caller hung up; returns when its events are sent."""
        call.hangup_requested.set()
        await call.ended.wait()

    async def _inbound_script(
        self,
        call: FakeCall,
        started: asyncio.Event,
        lines: list[str],
        caller_id: str,
        caller: tuple[str, str],
        answer_on: str | None,
        ring_time: float,
        talk_time: float | None,
        hold: bool,
    ) -> None:
        try:
            outside, inbound = self._local_pair(
                "Local/300@inbound-rg", linked_id=None, caller=caller
            )
            call.unique_id = inbound.unique_id
            call.dialplan_channel = inbound
            self.calls[call.unique_id] = call
            outside.application, outside.application_data = "Wait", "10"
            inbound.application = "Dial"
            inbound.application_data = "&".join(f"{line}@phones" for line in lines)
            self._newchannel(call, outside, inbound)
            inbound.state = 4
            for line in lines:
                self._tapi(inbound, f"LINE_NEWCALL {line}")
            self._tapi(inbound, f"SET CALLERID {caller_id}")
            self._tapi(inbound, "LINE_CALLSTATE LINECALLSTATE_OFFERING")
            phones: dict[str, tuple[_Channel, _Channel]] = {}
            for line in lines:
                pair = self._local_pair(
                    f"{line}@phones", linked_id=outside.unique_id, caller=caller
                )
                phones[line] = pair
                self._newchannel(call, *pair)
                self._newstate(pair[0], 5)
            if hold and answer_on is None:
                started.set()
            await self._wait_or_hangup(call, None if hold and answer_on is None else ring_time)
            answered = (
                answer_on if answer_on in phones and not call.hangup_requested.is_set() else None
            )
            if answered is not None:
                hook = phones[answered][0]
                self._newstate(phones[answered][1], 6)
                self._newstate(hook, 6)
                for line, (one, two) in phones.items():
                    if line != answered:
                        self._hangup(call, one, 26)
                        self._hangup(call, two, 26)
                self._tapi(
                    hook,
                    f"[~{inbound.unique_id}&{answered}] LINE_CALLSTATE LINECALLSTATE_CONNECTED",
                )
                self._tapi(
                    hook, f"[~{inbound.unique_id}&!{answered}] LINE_CALLSTATE LINECALLSTATE_HANGUP"
                )
                inbound.state = 6
                self._newstate(outside, 6)
                if hold:
                    started.set()
                await self._wait_or_hangup(call, None if hold else talk_time)
            # The h extension of [inbound-rg], then every channel goes.
            self._tapi(inbound, "LINE_CALLSTATE LINECALLSTATE_IDLE")
            for ch in list(call.channels):
                self._hangup(call, ch)
        finally:
            self.calls.pop(call.unique_id, None)
            call.ended.set()
            started.set()

    # ------------------------------------------------------------------ threads

    @classmethod
    def start_in_thread(cls, **kwargs: Any) -> ThreadedFakeAsterisk:
        """Run a FakeAsterisk on its own event loop in a daemon thread.

        For tests of blocking (threaded) code. The keyword arguments are
        those of :class:`FakeAsterisk`. Stop it with ``handle.stop()`` or use
        the handle as a context manager.
        """
        return ThreadedFakeAsterisk(kwargs)


class ThreadedFakeAsterisk:
    """A :class:`FakeAsterisk` running in a background thread; see ``start_in_thread``.

    ``call(fn, *args, **kwargs)`` runs ``fn(fake, ...)``-style coroutines on
    the server's loop and returns their result, e.g.
    ``handle.call(handle.fake.inbound_call, ["Local/bob"])``.
    """

    def __init__(self, kwargs: dict[str, Any], timeout: float = 10.0) -> None:
        self._timeout = timeout
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="FakeAsterisk", daemon=True)
        self._error: BaseException | None = None
        self._fake: FakeAsterisk | None = None
        self._kwargs = kwargs
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("FakeAsterisk thread did not start")
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._fake = FakeAsterisk(**self._kwargs)
            self._loop.run_until_complete(self._fake.start())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        self._loop.close()

    @property
    def fake(self) -> FakeAsterisk:
        assert self._fake is not None
        return self._fake

    @property
    def port(self) -> int:
        return self.fake.port

    @property
    def host(self) -> str:
        return self.fake.host

    def call(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Run coroutine function ``fn(*args, **kwargs)`` on the server loop, wait, return."""

        async def runner() -> T:
            return await fn(*args, **kwargs)

        future = asyncio.run_coroutine_threadsafe(runner(), self._loop)
        try:
            return future.result(self._timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def submit(
        self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[T]:
        """Like :meth:`call` without waiting: returns a ``concurrent.futures.Future``."""

        async def runner() -> T:
            return await fn(*args, **kwargs)

        return asyncio.run_coroutine_threadsafe(runner(), self._loop)

    def stall(self, stalled: bool = True) -> None:
        """Thread-safe :meth:`FakeAsterisk.stall`."""
        self._loop.call_soon_threadsafe(self.fake.stall, stalled)

    def stop(self) -> None:
        """Stop the server and its thread (idempotent)."""
        if not self._thread.is_alive():
            return
        with contextlib.suppress(Exception):
            self.call(self.fake.stop)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(self._timeout)

    def __enter__(self) -> ThreadedFakeAsterisk:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
