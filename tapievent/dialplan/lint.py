"""Check the TAPI UserEvents of a dialplan for one Asterisk version.

Every check is a rule from protocol.md or ami-versions.md that a dialplan
author can break without Asterisk saying a word. Findings carry a stable
code (the table below is the contract; docs/dialplan-guide.md explains
each) and point into the file, the column inside the TAPIEVENT text where
that makes sense.

======================== ======== ============================================================
code                     severity what
======================== ======== ============================================================
tapi-syntax              error    the TAPIEVENT text does not parse (protocol.md section 2)
missing-colon            error    ``TAPIEVENT [..]`` without ``:``: 12+ drops the argument
                         warning  (on 1.2-11 it still arrives, tapievent accepts it leniently)
pipe-separator           error    ``UserEvent(TAPI|...)`` or ``Dial(a|b|c)`` on 1.6+: ``|`` is text
macro-removed            error    ``Macro()`` / Dial ``M()`` on 21+ (app_macro was deleted)
macro-deprecated         warning  ``Macro()`` / Dial ``M()`` on 16-20 (not built by default)
gosub-unavailable        error    Dial ``U()`` before 1.6 (it did not exist)
bare-callerid            error    ``${CALLERID}`` & co. on 1.4+ (removed: expands to nothing)
unquoted-caller-value    error    caller-controlled ``${CALLERID(...)}`` etc. in a body without
                                  ``${QUOTE(...)}`` / ``${FILTER(...)}``: header injection
missing-idle             warning  a context raises LINE_NEWCALL but no ``h`` extension (or
                                  hangup handler, 11+) raises LINECALLSTATE_IDLE
missing-uniqueid         error    no ``~${UNIQUEID}`` on 1.4-1.8, whose UserEvents carry no
                                  ``Uniqueid``: the event cannot be tied to a call
unregistered-line        warning  a spec names a line no LINE_NEWCALL registers (both literal)
duplicate-tapievent      error    two TAPIEVENT arguments in one UserEvent
empty-body               warning  ``UserEvent(TAPI)`` with no TAPIEVENT argument
unguarded-caller-event   error    caller data in a UserEvent on 12+ outside ``TryExec()``: a
                                  caller id that is not UTF-8 fails it and hangs up the caller
tryexec-expands-twice    error    caller data written straight into ``TryExec()``, which
                                  expands its argument again (a name holding ``${...}`` runs)
unknown-command          warning  a command tapievent does not know (reported, ignored)
======================== ======== ============================================================

Reading the file can add the findings of :mod:`tapievent.dialplan.conf`
(``duplicate-priority``, ``no-context``, ``include-not-found``, ...).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import attrs

from ..model import CallStateCommand, LineCallState, NewCallCommand, TapiEvent, UnknownCommand
from . import render
from ._args import Arg, iter_refs, split_args, split_first
from ._findings import ERROR, WARNING, Finding
from ._guard import dollar_variables, first_expansion_refs, inner_user_event
from ._text import (
    dial_options,
    error_index,
    first_nonblank,
    parse_static,
    source_text,
    spec_lines,
)
from .conf import Dialplan, Priority, read_dialplan

__all__ = ["CALLER_CONTROLLED", "CODES", "TapiUse", "lint", "lint_dialplan", "lint_paths"]

CODES: dict[str, str] = {
    "tapi-syntax": "the TAPIEVENT text does not parse",
    "missing-colon": "TAPIEVENT without ':' (dropped by Asterisk 12+)",
    "pipe-separator": "UserEvent(TAPI|...) on Asterisk 1.6+",
    "macro-removed": "Macro()/M() on Asterisk 21+",
    "macro-deprecated": "Macro()/M() on Asterisk 16-20",
    "gosub-unavailable": "Dial U() before Asterisk 1.6",
    "bare-callerid": "${CALLERID} and co. on Asterisk 1.4+",
    "unquoted-caller-value": "caller-controlled value not wrapped in QUOTE()",
    "missing-idle": "LINE_NEWCALL without an IDLE on hangup",
    "missing-uniqueid": "no ~${UNIQUEID} on Asterisk 1.4-1.8",
    "unregistered-line": "a spec names a line no LINE_NEWCALL registers",
    "duplicate-tapievent": "two TAPIEVENT arguments in one UserEvent",
    "empty-body": "UserEvent(TAPI) without a TAPIEVENT argument",
    "unknown-command": "a command tapievent does not know",
    "unguarded-caller-event": "caller data in a UserEvent on 12+ outside TryExec()",
    "tryexec-expands-twice": "caller data written straight into TryExec()",
}

#: Variables and functions whose value the caller (or the far end) chooses:
#: the set render.to_dialplan quotes, so generated dialplan and lint agree.
CALLER_CONTROLLED = render.CALLER_CONTROLLED
# Built-in variables of 1.2, removed in 1.4 (ami-versions.md section 5).
_REMOVED_BUILTINS = {
    "CALLERID": "${CALLERID(all)}",
    "CALLERIDNUM": "${CALLERID(num)}",
    "CALLERIDNAME": "${CALLERID(name)}",
}
# Functions whose output is safe to put in a body whatever the input.
_SANITIZERS = frozenset({"QUOTE", "FILTER"})

_TAPIEVENT = re.compile(r"\s*(TAPIEVENT)(\s*)(:?)", re.IGNORECASE)


@attrs.frozen(slots=True)
class TapiUse:
    """One TAPIEVENT text found in a ``UserEvent(TAPI, ...)`` step."""

    step: Priority
    body: Arg
    event: TapiEvent | None

    def column(self, index: int) -> int:
        """File column of character ``index`` of the TAPIEVENT text."""
        return self.step.column_of(self.body.offset_of(index))


class _Linter:
    def __init__(self, dialplan: Dialplan, version: tuple[int, ...]) -> None:
        self.dialplan = dialplan
        self.version = version
        self.findings: list[Finding] = []
        self.uses: list[TapiUse] = []
        self.handler_pushes: list[tuple[Priority, str]] = []
        self.dollars = dollar_variables(dialplan.priorities())
        self.guarded = False  # linting the UserEvent inside a TryExec

    def add(self, step: Priority, offset: int, severity: str, code: str, message: str) -> None:
        self.findings.append(
            Finding(step.file, step.line, step.column_of(offset), severity, code, message)
        )

    def add_at(self, step: Priority, column: int, severity: str, code: str, message: str) -> None:
        self.findings.append(Finding(step.file, step.line, column, severity, code, message))

    # ---------------------------------------------------------------- per step

    def run(self) -> list[Finding]:
        for step in self.dialplan.priorities():
            app = step.app.lower()
            if app == "userevent":
                self.user_event(step)
            elif app == "macro":
                self.macro(step, step.column)
            elif app == "dial":
                self.dial(step)
            elif app == "set":
                self.set_app(step)
            elif app == "tryexec":
                self.try_exec(step)
        self.missing_idle()
        self.unregistered_lines()
        return self.findings

    def user_event(self, step: Priority) -> None:
        bodies = self.tapi_bodies(step)
        if bodies is None:
            return
        found = 0
        for body in bodies:
            match = _TAPIEVENT.match(body.text)
            if match is None:
                continue
            rest = body.text[match.end() :]
            if not match.group(3) and rest and not rest[0].isspace() and rest[0] != "[":
                continue  # TAPIEVENTS: or similar, another header
            found += 1
            if found > 1:
                self.add(
                    step,
                    body.offset_of(match.start(1)),
                    ERROR,
                    "duplicate-tapievent",
                    "a second TAPIEVENT argument in one UserEvent: Asterisk 1.4-11 send both "
                    "(tapievent takes the first), 12+ keep only the last; raise one event per "
                    "UserEvent",
                )
                continue
            if not match.group(3):
                self.missing_colon(step, body.offset_of(match.end(1)))
            self.tapievent(step, body.sub(match.end()))
        if not found:
            self.add_at(
                step,
                step.column,
                WARNING,
                "empty-body",
                "UserEvent(TAPI...) without a 'TAPIEVENT: ...' argument: tapievent ignores it",
            )

    def tapi_bodies(self, step: Priority) -> list[Arg] | None:
        """The arguments of ``UserEvent(TAPI, ...)`` that may hold a body; ``None`` for
        another event. ``UserEvent(TAPI|...)`` on 1.6+ is reported: its one body is lost."""
        v = self.version
        args = split_first(step.data, v) if v < (1, 4) else split_args(step.data, v)
        name = args[0].text.strip()
        if name.upper() == "TAPI":
            return args[1:]
        if not (name.upper().startswith("TAPI|") and v >= (1, 6)):
            return None
        bar = self.pipe_separator(
            step,
            args[0],
            "the whole text becomes the event name and the event has no TAPIEVENT body: "
            "write UserEvent(TAPI,...)",
        )
        return [args[0].sub(bar + 1)]

    def pipe_separator(self, step: Priority, arg: Arg, consequence: str) -> int:
        """Report the first ``|`` of ``arg`` (text on 1.6+, not a separator); its index."""
        bar = arg.text.index("|")
        self.add(
            step,
            arg.offset_of(bar),
            ERROR,
            "pipe-separator",
            f"'|' separates arguments only on Asterisk 1.2/1.4; here {consequence}",
        )
        return bar

    def missing_colon(self, step: Priority, offset: int) -> None:
        """``TAPIEVENT`` without ``:``: an error where Asterisk drops it (12+)."""
        dropped = self.version >= (12,)
        self.add(
            step,
            offset,
            ERROR if dropped else WARNING,
            "missing-colon",
            "no ':' after TAPIEVENT: "
            + (
                "Asterisk 12+ silently drops an argument without ':', so this event never arrives"
                if dropped
                else "Asterisk 12+ would silently drop this argument; tapievent "
                "accepts it with a diagnostic"
            ),
        )

    def try_exec(self, step: Priority) -> None:
        for offset, name in first_expansion_refs(step, CALLER_CONTROLLED):
            self.add(
                step,
                offset,
                ERROR,
                "tryexec-expands-twice",
                f"TryExec expands its argument a second time, so {name} is expanded twice and "
                "a caller id holding ${...} runs as dialplan: write each '$' inside TryExec as "
                "${TAPI_DOLLAR} after Set(TAPI_DOLLAR=$), as tapievent dialplan does",
            )
        inner = inner_user_event(step, self.dollars)
        if inner is not None:
            self.guarded = True
            try:
                self.user_event(inner)
            finally:
                self.guarded = False

    def tapievent(self, step: Priority, body: Arg) -> None:
        event, error = parse_static(body.text)
        if error is not None:
            self.add(
                step,
                body.offset_of(error_index(error)),
                ERROR,
                "tapi-syntax",
                error.reason,
            )
        use = TapiUse(step, body, event)
        self.uses.append(use)
        self.refs(step, body)
        if event is None:
            return
        if isinstance(event.command, UnknownCommand):
            word = event.command.text.split()[0] if event.command.text.split() else ""
            self.add(
                step,
                body.offset_of(first_nonblank(body.text, after_spec=True)),
                WARNING,
                "unknown-command",
                f"tapievent does not know the command {word!r}: it reports it and changes "
                "nothing (LINE_NEWCALL, LINE_CALLSTATE, SET CALLERID are known)",
            )
        if (1, 4) <= self.version < (10,) and event.spec.unique_id is None:
            self.add(
                step,
                body.offset_of(first_nonblank(body.text)),
                ERROR,
                "missing-uniqueid",
                "Asterisk 1.4-1.8 put no Uniqueid on UserEvents: without [~${UNIQUEID}] "
                "tapievent cannot tell which call this event is about",
            )

    def refs(self, step: Priority, body: Arg) -> None:
        unguarded = self.version >= (12,) and not self.guarded
        for ref in iter_refs(body.text):
            upper = ref.name.upper()
            where = body.offset_of(ref.offset)
            if not ref.is_function and upper in _REMOVED_BUILTINS and self.version >= (1, 4):
                self.add(
                    step,
                    where,
                    ERROR,
                    "bare-callerid",
                    f"${{{ref.name}}} was removed in Asterisk 1.4 and expands to nothing; "
                    f"use {_REMOVED_BUILTINS[upper]} (inside ${{QUOTE(...)}})",
                )
                continue
            if upper not in CALLER_CONTROLLED or self.version < (1, 4):
                continue
            if unguarded and "FILTER" not in ref.wrapped_by:
                unguarded = False  # once per body: the whole UserEvent is what fails
                self.add(
                    step,
                    where,
                    ERROR,
                    "unguarded-caller-event",
                    f"{ref.name} is chosen by the caller: on Asterisk 12+ a value that is not "
                    "UTF-8 (a Latin-1 name) makes UserEvent fail and hangs the caller up; "
                    "raise it with TryExec(UserEvent(...)) as tapievent dialplan does",
                )
            if any(wrapper in _SANITIZERS for wrapper in ref.wrapped_by):
                continue
            separator = "','" if self.version >= (1, 6) else "'|'"
            self.add(
                step,
                where,
                ERROR,
                "unquoted-caller-value",
                f"{ref.name} is chosen by the caller: a {separator} or '\"' in it splits the "
                "body and can inject a second TAPIEVENT; wrap it as "
                f"${{QUOTE({source_text(body.text, ref.offset)})}}",
            )

    def macro(self, step: Priority, column: int) -> None:
        if self.version >= (21,):
            self.add_at(
                step,
                column,
                ERROR,
                "macro-removed",
                "Macro (and Dial's M() option) was removed in Asterisk 21: use Dial's U() "
                "option with a Gosub subroutine ending in Return()",
            )
        elif self.version >= (16,):
            self.add_at(
                step,
                column,
                WARNING,
                "macro-deprecated",
                "app_macro is deprecated and not built by default from Asterisk 16 (gone in 21): "
                "use Dial's U() option with a Gosub subroutine",
            )

    def dial(self, step: Priority) -> None:
        args = split_args(step.data, self.version)
        if len(args) == 1 and self.version >= (1, 6) and "|" in args[0].text:
            self.pipe_separator(
                step,
                args[0],
                "Dial gets it all as the device list and fails: "
                "write Dial(devices,timeout,options)",
            )
            # Read it the way the author meant, to check the options too.
            args = split_args(step.data, (1, 4))
        if len(args) < 3:
            return
        options = args[2]
        for index, letter in dial_options(options.text):
            column = step.column_of(options.offset_of(index))
            if letter == "M":
                self.macro(step, column)
            elif letter == "U" and self.version < (1, 6):
                self.add_at(
                    step,
                    column,
                    ERROR,
                    "gosub-unavailable",
                    "Dial's U() option exists from Asterisk 1.6; on 1.2/1.4 use M(macro^args)",
                )

    def set_app(self, step: Priority) -> None:
        name, _, value = step.data.partition("=")
        if name.strip().lower().replace(" ", "") == "channel(hangup_handler_push)":
            self.handler_pushes.append((step, value.strip()))

    # ---------------------------------------------------------------- whole dialplan

    def raises_idle(self, context_name: str, extension: str | None, seen: set[str]) -> bool:
        key = context_name.lower()
        if key in seen:
            return False
        seen.add(key)
        context = self.dialplan.context(context_name)
        if context is None:
            return False
        for use in self.uses:
            if use.step.context.lower() != key or use.event is None:
                continue
            if extension is not None and use.step.extension != extension:
                continue
            command = use.event.command
            if isinstance(command, CallStateCommand) and command.state == LineCallState.IDLE:
                return True
        if extension is None:
            return False
        return any(self.raises_idle(inc, extension, seen) for inc in context.includes)

    def handler_raises_idle(self, context_name: str) -> bool:
        if self.version < (11,):
            return False
        for step, target in self.handler_pushes:
            if step.context.lower() != context_name.lower():
                continue
            location = target.split("(", 1)[0]
            parts = [part.strip() for part in location.split(",")]
            target_context = parts[0] if len(parts) == 3 else step.context
            target_extension = parts[-2] if len(parts) >= 2 else step.extension
            if "$" in target_extension:
                if self.raises_idle(target_context, None, set()):
                    return True
            elif self.raises_idle(target_context, target_extension, set()):
                return True
        return False

    def missing_idle(self) -> None:
        first_newcall: dict[str, TapiUse] = {}
        for use in self.uses:
            if use.event is not None and isinstance(use.event.command, NewCallCommand):
                first_newcall.setdefault(use.step.context.lower(), use)
        for use in first_newcall.values():
            name = use.step.context
            if self.raises_idle(name, "h", set()) or self.handler_raises_idle(name):
                continue
            shown = f"context {name!r}" if name else "this dialplan"
            self.add_at(
                use.step,
                use.step.column,
                WARNING,
                "missing-idle",
                f"{shown} raises LINE_NEWCALL but has no 'h' extension raising "
                "LINE_CALLSTATE LINECALLSTATE_IDLE"
                + (" (nor a hangup handler that does)" if self.version >= (11,) else "")
                + ": the call is never released by the dialplan (the original driver leaked "
                "it; tapievent frees it at Hangup and reports 'missing-idle')",
            )

    def unregistered_lines(self) -> None:
        registered: set[str] = set()
        for use in self.uses:
            if use.event is not None and isinstance(use.event.command, NewCallCommand):
                line = use.event.command.line
                if "$" in line:
                    return  # a computed NEWCALL line could be any line: nothing is provable
                registered.add(line)
        for use in self.uses:
            if use.event is None:
                continue
            for index, line in spec_lines(use.body.text):
                if "$" in line or line in registered:
                    continue
                self.add_at(
                    use.step,
                    use.column(index),
                    WARNING,
                    "unregistered-line",
                    f"no LINE_NEWCALL in these files registers line {line!r}, so this "
                    "event reaches no line through it"
                    + (f" (registered: {', '.join(sorted(registered))})" if registered else ""),
                )


def lint_dialplan(dialplan: Dialplan, asterisk_version: tuple[int, ...]) -> list[Finding]:
    """Findings for ``dialplan`` on ``asterisk_version``: the reader's and the TAPI checks'.

    Sorted by file, line, column; each finding once.
    """
    tapi = _Linter(dialplan, asterisk_version).run()
    return sorted(set(dialplan.findings) | set(tapi))


def lint(
    text: str, asterisk_version: tuple[int, ...], file: str = "extensions.conf"
) -> list[Finding]:
    """Lint extensions.conf text (``#include`` is not followed: there is no folder)."""
    from .conf import parse_dialplan

    return lint_dialplan(parse_dialplan(text, file), asterisk_version)


def lint_paths(paths: Sequence[str], asterisk_version: tuple[int, ...]) -> list[Finding]:
    """Read and lint files together (one NEWCALL registers a line for all of them).

    Raises :class:`OSError` when a named file cannot be read.
    """
    dialplans = [read_dialplan(path) for path in paths]
    merged = Dialplan(
        tuple(c for d in dialplans for c in d.contexts),
        tuple(f for d in dialplans for f in d.findings),
        tuple(f for d in dialplans for f in d.files),
    )
    return lint_dialplan(merged, asterisk_version)
