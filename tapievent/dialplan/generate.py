"""Ready-to-paste extensions.conf that raises TAPI events, for one Asterisk version.

Every ``UserEvent`` line comes from :func:`tapievent.dialplan.render.to_dialplan`,
so separators, escaping and caller-id quoting follow the grammar and cannot
drift from it; this module only decides *which* events to raise where, and
the few version-dependent applications around them:

* the "answered" hook: Dial's ``M()`` (a Macro) on 1.2/1.4, where ``U()``
  does not exist yet; ``U()`` (a Gosub) from 1.6 on, because Macro was
  deprecated in 11, is not built by default from 16 and is gone in 21;
* IDLE: the ``h`` extension up to 10; a hangup handler from 11, which runs
  whatever context the channel is in when it hangs up;
* ``[~${UNIQUEID}]`` on every event of 1.4-1.8, whose UserEvents carry no
  ``Uniqueid`` header (protocol.md section 3).

The output passes ``tapievent lint`` for the same version with no finding
(the test suite checks every supported version).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import attrs

from ..model import (
    CallStateCommand,
    Command,
    HangupCommand,
    LineCallState,
    NewCallCommand,
    SetCallerIdCommand,
    TapiEvent,
    TargetSpec,
)
from . import render
from .render import DialplanError

__all__ = [
    "DOLLAR_VARIABLE",
    "NAME_VARIABLE",
    "NUMBER_VARIABLE",
    "SUPPORTED_VERSIONS",
    "DialplanError",
    "defer_expansion",
    "generate",
]

#: The release lines the generator is tested for (any later one works like 23).
SUPPORTED_VERSIONS: tuple[str, ...] = (
    "1.2",
    "1.4",
    "1.6",
    "1.8",
    "10",
    "11",
    "12",
    "13",
    "16",
    "18",
    "20",
    "21",
    "22",
    "23",
)

# A line is the device Dial rings: TECH/resource, nothing a dialplan or the
# TAPIEVENT grammar would read specially.
_LINE = re.compile(r"[A-Za-z][A-Za-z0-9_]*/[A-Za-z0-9_.@:+=/-]+\Z")
_CONTEXT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")
_EXTEN = re.compile(r"[A-Za-z0-9_.*#+!\[\]-]+\Z")
_TRUNK = re.compile(r"[A-Za-z][A-Za-z0-9_]*/[A-Za-z0-9_.@:+=/${}-]+\Z")

_HOOK = "tapi-connected"
_ANSWERED = "tapi-answered"
_IDLE_HANDLER = "tapi-idle"
#: Holds a plain ``$``: written for each ``$`` inside ``TryExec()`` (see defer_expansion).
DOLLAR_VARIABLE = "TAPI_DOLLAR"
#: The caller's name, already quoted (12+), and number: SET CALLERID is built from them.
NAME_VARIABLE = "TAPI_CALLER_NAME"
NUMBER_VARIABLE = "TAPI_CALLER_NUM"


def _check(pattern: re.Pattern[str], value: str, what: str, example: str) -> str:
    if not pattern.match(value):
        raise DialplanError(f"{what} {value!r} is not allowed here (e.g. {example})")
    return value


class _Writer:
    """Accumulates extensions.conf text for one version."""

    def __init__(self, version: tuple[int, ...]) -> None:
        self.version = version
        self.out: list[str] = []
        self.sep = "|" if version < (1, 6) else ","

    def comment(self, *lines: str) -> None:
        self.out.extend(f"; {line}" if line else ";" for line in lines)

    def blank(self) -> None:
        self.out.append("")

    def context(self, name: str) -> None:
        self.out.append(f"[{name}]")

    def step(self, exten: str, priority: str, call: str) -> None:
        self.out.append(f"exten => {exten},{priority},{call}")

    def app(self, name: str, *args: str) -> str:
        return f"{name}({self.sep.join(args)})"

    def event(self, spec: TargetSpec, command: Command) -> str:
        return render.to_dialplan(TapiEvent(spec, command), self.version)


def generate(
    asterisk: str | tuple[int, ...],
    lines: Sequence[str],
    *,
    context: str = "tapi-inbound",
    exten: str = "s",
    outbound_context: str = "tapi-outbound",
    trunk: str | None = None,
    ring_seconds: int = 30,
) -> str:
    """extensions.conf text for Asterisk ``asterisk`` serving the TAPI ``lines``.

    ``lines`` are the devices of the ring group (``PJSIP/bob``); each is also
    the TAPI line name. ``context``/``exten`` receive inbound calls;
    ``outbound_context`` is where tapievent's ``make_call`` Originate lands;
    ``trunk`` is the dial string for outbound calls, with ``${EXTEN}`` where
    the number goes. Raises :class:`DialplanError` for an unknown version or
    a name that cannot be used safely.
    """
    version = render.asterisk_version(asterisk)
    plan = _Plan(
        version=version,
        lines=tuple(lines),
        context=context,
        exten=exten,
        outbound_context=outbound_context,
        trunk=_checked(version, lines, context, exten, outbound_context, trunk, ring_seconds),
        ring_seconds=ring_seconds,
    )
    w = _Writer(version)
    _preamble(w, plan)
    _inbound(w, plan)
    _connected_hook(w, plan)
    _outbound(w, plan)
    _answered_and_idle(w, plan)
    return "\n".join(w.out) + "\n"


def _checked(
    version: tuple[int, ...],
    lines: Sequence[str],
    context: str,
    exten: str,
    outbound_context: str,
    trunk: str | None,
    ring_seconds: int,
) -> str:
    """Refuse what cannot be written safely; return the trunk dial string."""
    if not lines:
        raise DialplanError("give at least one line (the device Dial rings, e.g. PJSIP/bob)")
    for line in lines:
        _check(_LINE, line, "line", "PJSIP/bob or SIP/100")
    if len(set(lines)) != len(lines):
        raise DialplanError("each line may be given once")
    names = {context, outbound_context, _HOOK, _ANSWERED, _IDLE_HANDLER}
    for name in (context, outbound_context):
        _check(_CONTEXT, name, "context", "tapi-inbound")
    if len(names) != 5:
        raise DialplanError(
            f"the contexts must differ from each other and from {_HOOK}, {_ANSWERED}, "
            f"{_IDLE_HANDLER}"
        )
    _check(_EXTEN, exten, "extension", "s, 100 or _X.")
    if trunk is None:
        trunk = "SIP/trunk/${EXTEN}" if version < (12,) else "PJSIP/${EXTEN}@trunk"
    _check(_TRUNK, trunk, "trunk", "PJSIP/${EXTEN}@trunk")
    if "${EXTEN}" not in trunk:
        trunk += "/${EXTEN}"
    if not 0 < ring_seconds < 100000:
        raise DialplanError("ring_seconds must be between 1 and 99999")
    return trunk


@attrs.frozen
class _Plan:
    """The checked inputs and the version-dependent choices derived from them."""

    version: tuple[int, ...]
    lines: tuple[str, ...]
    context: str
    exten: str
    outbound_context: str
    trunk: str
    ring_seconds: int

    @property
    def legacy(self) -> bool:  # 1.2/1.4: '|' and Macro
        return self.version < (1, 6)

    @property
    def own_uid(self) -> bool:  # 1.4-1.8: UserEvents carry no Uniqueid
        return (1, 4) <= self.version < (10,)

    @property
    def handler(self) -> bool:  # 11+: IDLE from a hangup handler
        return self.version >= (11,)

    @property
    def json_events(self) -> bool:  # 12+: UserEvent fails on text that is not UTF-8
        return self.version >= (12,)

    @property
    def own(self) -> TargetSpec:
        return TargetSpec(unique_id="${UNIQUEID}") if self.own_uid else TargetSpec()

    @property
    def option(self) -> str:
        return "M" if self.legacy else "U"

    @property
    def shown(self) -> str:
        return ".".join(str(p) for p in self.version)


def _preamble(w: _Writer, plan: _Plan) -> None:
    command = [f"tapievent dialplan --asterisk {plan.shown}"]
    command += [f"--line {line}" for line in plan.lines]
    command += [
        f"--context {plan.context}",
        f"--exten {plan.exten}",
        f"--outbound-context {plan.outbound_context}",
        f"--trunk '{plan.trunk}'",
    ]
    w.comment(f"TAPI events for Asterisk {plan.shown}, lines {', '.join(plan.lines)}.")
    w.comment("Generated by: " + " ".join(command))
    w.comment("")
    w.comment(f"Why it looks like this on Asterisk {plan.shown}:")
    if plan.legacy:
        w.comment(
            "- Arguments are separated by '|' (from 1.6 on it is ',').",
            "- The answered hook is Dial's M() option, a Macro: U() (Gosub) arrives in 1.6.",
        )
    else:
        w.comment("- Arguments are separated by ',' ('|' only worked on 1.2/1.4).")
        reason = (
            "Macro and M() were removed in 21"
            if plan.version >= (21,)
            else "Macro is deprecated, unbuilt by default from 16, gone in 21"
        )
        w.comment(f"- The answered hook is Dial's U() option, a Gosub ({reason}).")
    _why_events(w, plan)
    w.comment(
        "A line is named after the device Dial rings; the hooks find the line of a phone",
        'by its channel name, which Asterisk makes "<device>-<suffix>".',
    )
    w.blank()


def _why_events(w: _Writer, plan: _Plan) -> None:
    if plan.handler:
        w.comment(
            "- IDLE comes from a hangup handler (11+): it runs when the channel hangs up,",
            "  whatever context it is in by then.",
        )
    else:
        w.comment("- IDLE comes from the 'h' extension, run when the caller's channel hangs up.")
    w.comment(
        "  Without IDLE the original AstTapi driver leaked the call; tapievent frees it",
        "  at Hangup but reports 'missing-idle'.",
    )
    if plan.own_uid:
        w.comment(
            "- 1.4-1.8 UserEvents carry no Uniqueid header: every event names its call",
            "  with [~${UNIQUEID}] (the hooks with [~${ARG1}], the caller's id).",
        )
    else:
        w.comment(
            "- UserEvents carry the channel's Uniqueid, so the caller's own events need no",
            "  [~...]; the hooks run on another channel and name the call [~${ARG1}].",
        )
    if plan.version >= (1, 4):
        w.comment(
            "- The caller chooses the caller id: ${QUOTE(...)} keeps a separator or '\"'",
            "  in it from splitting the UserEvent and forging a TAPIEVENT.",
        )
    else:
        w.comment("- 1.2's UserEvent keeps its body whole, so the caller id needs no quoting.")
    if plan.json_events:
        w.comment(
            "- 12+ UserEvent fails on a caller id that is not UTF-8 (a Latin-1 name from an",
            "  ISDN trunk) and that hangs the caller up: TryExec() keeps the call, and",
            "  tapievent then takes the caller id from the channel itself (the NEWCALL's",
            "  CallerIDNum/CallerIDName), bytes intact. The name is quoted on its own, as",
            "  CALLERID(all) does not escape a '\"' inside it.",
        )


def _line_tests(plan: _Plan) -> list[tuple[int, str, str]]:
    """(index, line, dialplan test that the current channel is that line's phone)."""
    out = []
    for index, line in enumerate(plan.lines, 1):
        prefix = f"{line}-"
        out.append((index, line, f'$["${{CHANNEL:0:{len(prefix)}}}" = "{prefix}"]'))
    return out


def _inbound(w: _Writer, plan: _Plan) -> None:
    exten = plan.exten
    w.context(plan.context)
    w.comment(
        f"Inbound calls: route them to {exten}@{plan.context} (or include => {plan.context})."
    )
    first = "1"
    if plan.handler:
        w.step(exten, first, w.app("Set", f"CHANNEL(hangup_handler_push)={_IDLE_HANDLER},s,1"))
        first = "n"
    w.comment("Every line of the ring group sees the call; then who calls, then OFFERING.")
    for line in plan.lines:
        w.step(exten, first, w.event(plan.own, NewCallCommand(line)))
        first = "n"
    offering = w.event(plan.own, CallStateCommand(LineCallState.OFFERING))
    if plan.json_events:
        _guarded_caller_id(w, plan)
        w.step(exten, "n", offering)
    else:
        w.step(exten, "n", w.event(plan.own, SetCallerIdCommand("${CALLERID(all)}")))
        w.step(exten, "n", offering)
    ring = "&".join(plan.lines)
    hook = w.app("Dial", ring, str(plan.ring_seconds), f"{plan.option}({_HOOK}^${{UNIQUEID}})")
    w.step(exten, "n", hook)
    w.step(exten, "n", "Hangup()")
    if not plan.handler:
        w.comment("The caller's channel hung up: IDLE releases the call. Never leave it out.")
        w.step("h", "1", w.event(plan.own, CallStateCommand(LineCallState.IDLE)))
    w.blank()


def _guarded_caller_id(w: _Writer, plan: _Plan) -> None:
    """SET CALLERID that keeps the caller's name exact and cannot hang the caller up (12+).

    ``${CALLERID(all)}`` does not escape a ``"`` or ``\\`` inside the name, so
    the name is quoted on its own (``QUOTE`` writes exactly the quoted-name
    syntax a caller id is read with) and the number follows in ``<...>``.
    TryExec runs the UserEvent and only sets TRYSTATUS when it fails (a name
    that is not UTF-8). It also expands its argument a second time, so the
    caller id must appear only in that second expansion (a name holding
    ``${...}`` would otherwise run): every ``$`` of the event is written
    ``${TAPI_DOLLAR}``, which the first expansion turns into a plain ``$``.

    When it fails, no second event is sent: the next command (OFFERING) tells
    the tracker no SET CALLERID is coming, and it gives every line the caller
    id of the channel's own ``CallerIDNum``/``CallerIDName`` headers on the
    NEWCALL instead, with the name's bytes as the trunk sent them (a fallback
    with the printable ASCII would have hidden them).
    """
    exten = plan.exten
    name, number = f"${{{NAME_VARIABLE}}}", f"${{{NUMBER_VARIABLE}}}"
    untrusted = (NAME_VARIABLE, NUMBER_VARIABLE)
    caller = SetCallerIdCommand(f"{name} <{number}>")
    event = render.to_dialplan(TapiEvent(plan.own, caller), plan.version, untrusted=untrusted)
    w.comment(
        "The name is quoted on its own: CALLERID(all) leaves a '\"' in it unescaped.",
        "UserEvent fails on a caller id that is not UTF-8 and would hang the caller up.",
        "TryExec keeps the call; it expands its argument once more, so the event is",
        "written with ${TAPI_DOLLAR} for '$' and the caller id is expanded only once.",
        "If it fails, tapievent shows the caller id of the channel itself, bytes intact.",
    )
    w.step(exten, "n", w.app("Set", f"{DOLLAR_VARIABLE}=$"))
    w.step(exten, "n", w.app("Set", f"{NAME_VARIABLE}=${{QUOTE(${{CALLERID(name)}})}}"))
    w.step(exten, "n", w.app("Set", f"{NUMBER_VARIABLE}=${{CALLERID(num)}}"))
    w.step(exten, "n", f"TryExec({defer_expansion(event)})")


def defer_expansion(call: str) -> str:
    """``call`` written so that one dialplan expansion gives ``call`` back.

    Used inside ``TryExec()``, which expands its argument again: references
    then run once, in TryExec, on the values they had been written for.
    """
    return call.replace("$", "${" + DOLLAR_VARIABLE + "}")


def _connected_hook(w: _Writer, plan: _Plan) -> None:
    w.context(f"macro-{_HOOK}" if plan.legacy else _HOOK)
    w.comment(
        f"Dial's {plan.option}() runs this on the phone that answered, before the call is bridged.",
        "ARG1 is the caller's ${UNIQUEID} (Dial expands its options on the caller's channel).",
        'CONNECTED goes to the line that answered, HANGUP ("answered elsewhere") to the rest.',
    )
    for index, _line, test in _line_tests(plan):
        w.step("s", "1" if index == 1 else "n", w.app("GotoIf", f"{test}?line{index}", "1"))
    if not plan.legacy:
        w.step("s", "n", "Return()")
    for index, line, _test in _line_tests(plan):
        call = TargetSpec(unique_id="${ARG1}", include=(line,))
        others = TargetSpec(unique_id="${ARG1}", exclude=(line,))
        w.step(f"line{index}", "1", w.event(call, CallStateCommand(LineCallState.CONNECTED)))
        w.step(f"line{index}", "n", w.event(others, HangupCommand()))
        if not plan.legacy:
            w.step(f"line{index}", "n", "Return()")
    w.blank()


def _outbound(w: _Writer, plan: _Plan) -> None:
    w.context(plan.outbound_context)
    w.comment(
        "Click-to-dial: tapievent's make_call() originates Channel=<the line's device>,",
        f"Context={plan.outbound_context}, Exten=<number>. When the phone answers, its channel",
        "runs this: NEWCALL for its line (tapievent recognises its own call and does not",
        "report it as new), then the number is dialled.",
    )
    out = "_X."
    first = "1"
    if plan.handler:
        w.step(out, first, w.app("Set", f"CHANNEL(hangup_handler_push)={_IDLE_HANDLER},s,1"))
        first = "n"
    for index, _line, test in _line_tests(plan):
        w.step(out, first, w.app("GotoIf", f"{test}?line{index}"))
        first = "n"
    w.comment("Not the phone of a TAPI line: refuse.")
    w.step(out, "n", "Hangup()")
    for index, line in enumerate(plan.lines, 1):
        w.step(out, f"n(line{index})", w.event(plan.own, NewCallCommand(line)))
        if index < len(plan.lines):
            w.step(out, "n", w.app("Goto", "dial"))
    dial = w.app("Dial", plan.trunk, "", f"{plan.option}({_ANSWERED}^${{UNIQUEID}})")
    w.step(out, "n(dial)", dial)
    w.step(out, "n", "Hangup()")
    if not plan.handler:
        w.comment("The line's channel hung up: IDLE releases the call.")
        w.step("h", "1", w.event(plan.own, CallStateCommand(LineCallState.IDLE)))
    w.blank()


def _answered_and_idle(w: _Writer, plan: _Plan) -> None:
    w.context(f"macro-{_ANSWERED}" if plan.legacy else _ANSWERED)
    w.comment("Runs on the called party's channel when it answers: the line's call is connected.")
    w.step(
        "s",
        "1",
        w.event(TargetSpec(unique_id="${ARG1}"), CallStateCommand(LineCallState.CONNECTED)),
    )
    if not plan.legacy:
        w.step("s", "n", "Return()")
    if plan.handler:
        w.blank()
        w.context(_IDLE_HANDLER)
        w.comment("The hangup handler: IDLE for the channel that hangs up, so no call is leaked.")
        w.step("s", "1", w.event(TargetSpec(), CallStateCommand(LineCallState.IDLE)))
        w.step("s", "n", "Return()")
