"""What the fake server answers to each AMI action, and one client's connection.

Kept apart from the server's life (:mod:`._server`: listening, reading
frames, restarts and faults): :class:`ActionAnswers` is the part of
:class:`~tapievent.testing.FakeAsterisk` that turns one received action
into its reply, one ``_action_<name>`` method per action, so a subclass
changes an answer by overriding one method. The replies themselves are
built by the sans-IO model (:mod:`._manager`, :mod:`._pbx`).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from ..ami_codec import AMIDecoder, Message, encode_message
from . import _manager as manager
from ._calls import FakeCall, drive
from ._manager import CLASSES, parse_mask, wanted
from ._pbx import PBX, OriginateSettings

__all__ = ["ActionAnswers", "ClientConnection"]


class ClientConnection:
    """One client connection: its decoder, login state and event mask."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.decoder = AMIDecoder()
        self.logged_in = False
        self.username: str | None = None
        self.challenge: str | None = None
        self.mask: frozenset[str] = frozenset(CLASSES)
        self.closing = False

    def write(self, data: bytes) -> None:
        if not self.closing and not self.writer.is_closing():
            self.writer.write(data)


class ActionAnswers:
    """The answers of :class:`~tapievent.testing.FakeAsterisk` to the actions it knows.

    ``_on_action`` dispatches to ``_action_<name lower-cased>``; a name with
    no such method gets Asterisk's ``Invalid/unknown command``. The server
    sets the attributes below.
    """

    username: str
    _secret: str
    stalled: bool
    actions: list[Message]
    logins: int
    pbx: PBX[FakeCall]
    auth_failure_delay: float
    originate_line: str
    originate_response_first: bool
    answer_delay: float
    call_duration: float | None
    busy_extensions: frozenset[str]
    missing_extensions: frozenset[str]
    no_answer_extensions: frozenset[str]

    if TYPE_CHECKING:
        # The server's: an originated call's events go to every client.
        def broadcast(self, event: Message) -> None: ...

    def _reply(self, conn: ClientConnection, request: Message, *pairs: tuple[str, str]) -> None:
        if not self.stalled:
            conn.write(encode_message(manager.reply(request, pairs)))

    def _send_event(self, conn: ClientConnection, event: Message) -> None:
        if self.stalled or not conn.logged_in or not wanted(event, conn.mask):
            return
        conn.write(encode_message(event))

    async def _on_action(self, conn: ClientConnection, action: Message) -> None:
        self.actions.append(action)
        name = (action.get("Action") or "").strip()
        key = name.lower()
        handler = getattr(self, f"_action_{key}", None)
        if not name:
            self._reply(conn, action, *manager.MISSING_ACTION)
        elif not conn.logged_in and key not in manager.OPEN_ACTIONS:
            self._reply(conn, action, *manager.PERMISSION_DENIED)
        elif handler is None:
            self._reply(conn, action, *manager.unknown_action(name))
        else:
            await handler(conn, action)

    # ------------------------------------------------------------------ actions

    async def _action_challenge(self, conn: ClientConnection, action: Message) -> None:
        if (action.get("AuthType") or "").lower() != "md5":
            self._reply(conn, action, ("Response", "Error"), ("Message", "Must specify AuthType"))
            return
        conn.challenge = self.pbx.new_challenge()
        self._reply(conn, action, ("Response", "Success"), ("Challenge", conn.challenge))

    async def _action_login(self, conn: ClientConnection, action: Message) -> None:
        if conn.logged_in:
            self._reply(conn, action, ("Response", "Success"), ("Message", "Already authenticated"))
            return
        ok = manager.login_accepted(action, self.username, self._secret, conn.challenge)
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
        mask = parse_mask(action.get("Events"))
        if mask is not None:
            conn.mask = mask
        conn.logged_in = True
        conn.username = self.username
        self.logins += 1
        self._reply(conn, action, ("Response", "Success"), ("Message", "Authentication accepted"))
        self._send_event(conn, manager.FULLY_BOOTED)

    async def _action_logoff(self, conn: ClientConnection, action: Message) -> None:
        self._reply(conn, action, ("Response", "Goodbye"), ("Message", "Thanks for all the fish."))
        with contextlib.suppress(Exception):
            await conn.writer.drain()
        conn.closing = True
        conn.writer.close()

    async def _action_ping(self, conn: ClientConnection, action: Message) -> None:
        loop = asyncio.get_running_loop()
        self._reply(
            conn,
            action,
            ("Response", "Success"),
            ("Ping", "Pong"),
            ("Timestamp", self.pbx.ping_timestamp(loop.time())),
        )

    async def _action_events(self, conn: ClientConnection, action: Message) -> None:
        mask = parse_mask(action.get("EventMask"))
        if mask is not None:
            conn.mask = mask
        self._reply(conn, action, ("Response", "Success"), ("Events", "On" if conn.mask else "Off"))

    async def _action_coreshowchannels(self, conn: ClientConnection, action: Message) -> None:
        if self.stalled:
            return
        self._reply(
            conn,
            action,
            ("Response", "Success"),
            ("EventList", "start"),
            ("Message", "Channels will follow"),
        )
        for event in self.pbx.core_show_channels(action.get("ActionID")):
            conn.write(encode_message(event))

    async def _action_hangup(self, conn: ClientConnection, action: Message) -> None:
        self._reply(conn, action, *manager.hangup_answer(self.pbx, action))
        found = self.pbx.find_channel(action.get("Channel"))
        if found is not None:
            found[0].hangup_requested.set()

    async def _action_redirect(self, conn: ClientConnection, action: Message) -> None:
        self._reply(conn, action, *manager.redirect_answer(self.pbx, action))

    async def _action_playdtmf(self, conn: ClientConnection, action: Message) -> None:
        self._reply(conn, action, *manager.playdtmf_answer(self.pbx, action))

    async def _action_originate(self, conn: ClientConnection, action: Message) -> None:
        refusal = manager.originate_refusal(action, self.missing_extensions)
        if refusal is not None:
            self._reply(conn, action, *refusal)
            return
        self._reply(conn, action, *manager.success("Originate successfully queued"))
        call = FakeCall(unique_id="")
        settings = OriginateSettings(
            line=self.originate_line,
            response_first=self.originate_response_first,
            answer_delay=self.answer_delay,
            call_duration=self.call_duration,
            busy_extensions=self.busy_extensions,
            no_answer_extensions=self.no_answer_extensions,
        )
        call.task = asyncio.create_task(
            drive(call, self.pbx.originate_script(call, action, settings), self.broadcast)
        )
