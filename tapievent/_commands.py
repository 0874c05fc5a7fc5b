"""The TAPIEVENT commands: what each one does to the call table (protocol.md section 4).

One method per command, chosen by the command's type in ``_COMMANDS`` (a
command type without a row counts as unknown). Each appends its output
events in order and never raises on what the dialplan sent: a command
that cannot apply is a diagnostic when it concerns this tracker (a
workstation stays silent about other workstations' calls).

The caller id of a call the dialplan reports comes from ``SET CALLERID``.
On Asterisk 12+ the NEWCALL's UserEvent also carries the channel's own
``CallerIDNum``/``CallerIDName``; the call keeps them, and the call's first
command after its NEWCALLs decides: ``SET CALLERID`` replaces them, any
other command means none is coming (or the dialplan's failed), so every
line of the call gets them first, as the same ``CallInfo`` a ``SET
CALLERID`` gives.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from ._call_table import Call, CallTable, delivery, snapshot_caller_id
from ._diagnostics import DiagnosticCode
from ._originates import Input, OriginateTable
from .model import (
    CallInfo,
    CallState,
    CallStateCommand,
    Diagnostic,
    ExtractedEvent,
    HangupCommand,
    LineCallInfoState,
    LineCallOrigin,
    LineCallState,
    LineDisconnectMode,
    NewCall,
    NewCallCommand,
    OutputEvent,
    SetCallerIdCommand,
    TargetSpec,
    UnknownCommand,
)

__all__ = ["Commands"]

_MAX_UNKNOWN_WORDS: Final = 256
# The set behind "unknown-command once per word" is cleared when it reaches
# this size, so caller-controlled words cannot grow it without bound.


class Commands:
    """Applies extracted TAPI events to one tracker's calls and originates."""

    __slots__ = ("attached", "calls", "lines", "max_lines", "originates", "unknown_words")

    def __init__(
        self,
        calls: CallTable,
        originates: OriginateTable,
        lines: frozenset[str] | None,
        max_lines: int,
    ) -> None:
        self.calls = calls
        self.originates = originates
        self.lines = lines
        self.max_lines = max_lines
        self.unknown_words: set[str] = set()
        # (call key, line) of the make_call call a NEWCALL just attached, for
        # the tracker's call record (no NewCall goes out for it).
        self.attached: tuple[str, str] | None = None

    def apply(self, event: ExtractedEvent) -> list[OutputEvent]:
        """The output events of one TAPI event, the extractor's diagnostics first."""
        out: list[OutputEvent] = list(event.diagnostics) if event.diagnostics else []
        method = _COMMANDS.get(type(event.event.command), Commands._cmd_unknown)
        method(self, event, out)
        return out

    def serves(self, line: str) -> bool:
        return self.lines is None or line in self.lines

    def _spec_is_ours(self, spec: TargetSpec) -> bool:
        # Whether a diagnostic about an untracked/unkeyed call concerns this
        # tracker. A workstation tracker sees every other workstation's calls
        # go by; it only speaks up when the spec names one of its lines.
        if self.lines is None:
            return True
        return any(line in self.lines for line in spec.include)

    def _cmd_newcall(self, event: ExtractedEvent, out: list[OutputEvent]) -> None:
        command = event.event.command
        assert isinstance(command, NewCallCommand)
        line = command.line
        if not self.serves(line):
            return
        key = event.call_key
        if key is None:
            out.append(self._no_key(event))
            return
        call = self.calls.get(key)
        if call is not None and self._refuse_line(call, line, event, out):
            return
        pending = self.originates.ours(key, line)
        if call is None:
            call = self.calls.new_call(key, out)
            if event.key_source == "header":
                # The UserEvent ran on the call's own channel (Uniqueid == key),
                # so its Channel header (1.2, 12+) names the channel to hang up,
                # and its snapshot (12+) the caller.
                call.channel = event.frame.get("Channel")
                if pending is None:
                    call.snapshot_id = snapshot_caller_id(event.frame)
            if call.channel is None:
                self.calls.channel_unknown += 1
        call.lines += (line,)
        call.states += (None,)
        if pending is not None:
            self.originates.attach_call(pending, call, Input.NEWCALL)
            self.attached = (key, line)
        else:
            out.append(NewCall(line, key, LineCallOrigin.UNKNOWN, call.caller_id))

    def _refuse_line(
        self, call: Call, line: str, event: ExtractedEvent, out: list[OutputEvent]
    ) -> bool:
        # A NEWCALL that changes nothing: the line is on the call, or it is full.
        key = call.key
        if line in call.lines:
            text = f"LINE_NEWCALL {line} repeated for call {key}: the line is already on it"
            out.append(Diagnostic(DiagnosticCode.DUPLICATE_NEWCALL, text, key, event.frame))
            return True
        if len(call.lines) >= self.max_lines:
            text = (
                f"LINE_NEWCALL {line} ignored: call {key} already has "
                f"{len(call.lines)} lines (max_lines_per_call)"
            )
            out.append(Diagnostic(DiagnosticCode.TOO_MANY_LINES, text, key, event.frame))
            return True
        return False

    def _cmd_callstate(self, event: ExtractedEvent, out: list[OutputEvent]) -> None:
        command = event.event.command
        assert isinstance(command, CallStateCommand)
        call = self._addressed(event, out)
        if call is None:
            return
        targets = delivery(call, event.event.spec)
        state = command.state
        mode = 0 if command.mode is None else command.mode
        key = call.key
        for line in targets:
            out.append(CallState(line, key, state, mode))
        if state is LineCallState.IDLE:
            self.calls.detach(call, targets)
        else:
            self.calls.set_states(call, targets, state)

    def _cmd_hangup(self, event: ExtractedEvent, out: list[OutputEvent]) -> None:
        # AstTapi's LINECALLSTATE_HANGUP: "answered elsewhere" for these lines.
        call = self._addressed(event, out)
        if call is None:
            return
        targets = delivery(call, event.event.spec)
        key = call.key
        for line in targets:
            out.append(CallState(line, key, LineCallState.DISCONNECTED, LineDisconnectMode.PICKUP))
            out.append(CallState(line, key, LineCallState.IDLE))
        self.calls.detach(call, targets)

    def _cmd_set_callerid(self, event: ExtractedEvent, out: list[OutputEvent]) -> None:
        command = event.event.command
        assert isinstance(command, SetCallerIdCommand)
        call = self._addressed(event, out, caller_id_follows=True)
        if call is None:
            return
        caller_id = command.caller_id()
        call.caller_id = caller_id
        key = call.key
        for line in delivery(call, event.event.spec):
            out.append(CallInfo(line, key, LineCallInfoState.CALLERID, caller_id))

    def _cmd_unknown(self, event: ExtractedEvent, out: list[OutputEvent]) -> None:
        command = event.event.command
        # A command type this tracker has no row for counts as unknown too.
        word = command.word if isinstance(command, UnknownCommand) else type(command).__name__
        if word in self.unknown_words:
            return
        if len(self.unknown_words) >= _MAX_UNKNOWN_WORDS:
            self.unknown_words.clear()
        self.unknown_words.add(word)
        out.append(
            Diagnostic(
                DiagnosticCode.UNKNOWN_COMMAND,
                f"unknown TAPIEVENT command {word!r} ignored (reported once per command word)",
                event.call_key,
                event.frame,
            )
        )

    def _addressed(
        self, event: ExtractedEvent, out: list[OutputEvent], *, caller_id_follows: bool = False
    ) -> Call | None:
        # The tracked call a CALLSTATE/HANGUP/SET CALLERID addresses, or a
        # diagnostic (when it concerns this tracker) and None. The snapshot's
        # caller id is settled here, before the command's own events.
        key = event.call_key
        if key is None:
            if self._spec_is_ours(event.event.spec):
                out.append(self._no_key(event))
            return None
        call = self.calls.get(key)
        if call is None:
            if self._spec_is_ours(event.event.spec):
                text = (
                    f"TAPIEVENT for call {key}, which no LINE_NEWCALL announced "
                    "(or which already went IDLE)"
                )
                out.append(Diagnostic(DiagnosticCode.UNTRACKED_CALL, text, key, event.frame))
            return None
        if call.snapshot_id is not None:
            self._settle_snapshot_id(call, out, caller_id_follows)
        return call

    @staticmethod
    def _settle_snapshot_id(call: Call, out: list[OutputEvent], caller_id_follows: bool) -> None:
        # The call's first command after its NEWCALL decides: SET CALLERID
        # replaces the snapshot's caller id; anything else means none is
        # coming (or it failed), so the lines get the snapshot's as if the
        # dialplan had sent it.
        caller_id = call.snapshot_id
        call.snapshot_id = None
        if caller_id_follows or caller_id is None:
            return
        call.caller_id = caller_id
        for line in call.lines:
            out.append(CallInfo(line, call.key, LineCallInfoState.CALLERID, caller_id))

    def _no_key(self, event: ExtractedEvent) -> Diagnostic:
        return Diagnostic(
            DiagnosticCode.NO_CALL_KEY,
            "TAPIEVENT without a call key: this Asterisk puts no Uniqueid on UserEvents, "
            "so the dialplan must write [~${UNIQUEID}] in front of the command",
            None,
            event.frame,
        )


_COMMANDS: Final[Mapping[type, Callable[[Commands, ExtractedEvent, list[OutputEvent]], None]]] = {
    NewCallCommand: Commands._cmd_newcall,
    CallStateCommand: Commands._cmd_callstate,
    HangupCommand: Commands._cmd_hangup,
    SetCallerIdCommand: Commands._cmd_set_callerid,
    UnknownCommand: Commands._cmd_unknown,
}
"""The TAPIEVENT commands, by command type (protocol.md section 4)."""
