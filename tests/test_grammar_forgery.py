"""Caller names that forge header lines on Asterisk 12.0-13.4 (issue 15 #1).

Those releases write ``CallerIDName`` and ``ConnectedLineName`` into a
UserEvent's channel snapshot without escaping, and the snapshot comes before
Asterisk's own ``Uniqueid:`` and ``UserEvent:`` lines. A caller who can put
``\\r\\n`` into their name can therefore add any header line there. The
frames below are what each release really writes for such a caller
(tests/asterisk_args.py ``snapshot_userevent``, from
main/manager_channels.c at each tag), decoded by tapievent's own decoder.
Every attack must fail to touch the victim's call, with the version from
the banner and without one; 13.5+ escapes the names, so there the same
names are harmless text.
"""

from __future__ import annotations

import asterisk_args as ast_model
import pytest

from tapievent import CallTracker
from tapievent._diagnostics import DiagnosticCode
from tapievent.ami_codec import Banner, Message
from tapievent.grammar import extract_tapievent
from tapievent.model import (
    CallState,
    Diagnostic,
    ExtractedEvent,
    NewCall,
    NewCallCommand,
)

VICTIM = "1700000000.7"
MALLORY = "1700000000.42"
IDLE = "LINE_CALLSTATE LINECALLSTATE_IDLE"

# The releases whose snapshot names are not escaped, each snapshot shape once.
UNESCAPED = [(12, 0), (12, 8), (13, 0), (13, 2), (13, 4)]


def _tail(release: tuple[int, int], uniqueid: str) -> str:
    """The snapshot lines after CallerIDName, as Asterisk writes them for ``release``."""
    lines = ["ConnectedLineNum: 200", "ConnectedLineName: <unknown>"]
    if release >= (13, 2):
        lines.append("Language: en")
    lines += ["AccountCode: ", "Context: from-internal", "Exten: 200", "Priority: 3"]
    lines.append(f"Uniqueid: {uniqueid}")
    return "\r\n".join(lines)


def _attacks(release: tuple[int, int]) -> dict[str, str]:
    """Caller names that forge lines, from the issue's two to a full replica."""
    return {
        "tapievent": f"Mallory\r\nTAPIEVENT: [~{VICTIM}] {IDLE}",
        "uniqueid": f"Mallory\r\nUniqueid: {VICTIM}",
        "userevent": f"Mallory\r\nUniqueid: {VICTIM}\r\nUserEvent: TAPI\r\nTAPIEVENT: {IDLE}",
        "replica": f"Mallory\r\n{_tail(release, VICTIM)}\r\nUserEvent: TAPI\r\n"
        f"TAPIEVENT: [~{VICTIM}] {IDLE}",
    }


def _frame(release: tuple[int, int], **names: str) -> Message:
    payload = ast_model.snapshot_userevent(
        release, ["TAPIEVENT: LINE_NEWCALL sip/mallory"], uniqueid=MALLORY, **names
    )
    (message,) = ast_model.decode_bytes(payload)
    return message


def _safe(result: ExtractedEvent | Diagnostic | None) -> bool:
    """Nothing about the victim: Mallory's own event with Mallory's key, or a diagnostic."""
    if isinstance(result, Diagnostic):
        return result.code is DiagnosticCode.FORGED_HEADER and result.call_key is None
    assert isinstance(result, ExtractedEvent)
    return result.event.command == NewCallCommand("sip/mallory") and result.call_key == MALLORY


@pytest.mark.parametrize("release", UNESCAPED)
@pytest.mark.parametrize("attack", ["tapievent", "uniqueid", "userevent", "replica"])
@pytest.mark.parametrize("field", ["caller_name", "connected_name"])
@pytest.mark.parametrize("known", [True, False], ids=["banner", "no-banner"])
def test_a_forging_name_never_reaches_another_call(
    release: tuple[int, int], attack: str, field: str, known: bool
) -> None:
    message = _frame(release, **{field: _attacks(release)[attack]})
    ami_version = ast_model.SNAPSHOT_AMI[release] if known else None
    result = extract_tapievent(message, ami_version=ami_version)
    assert _safe(result), result


@pytest.mark.parametrize("release", UNESCAPED)
def test_what_each_attack_yields(release: tuple[int, int]) -> None:
    ami_version = ast_model.SNAPSHOT_AMI[release]
    attacks = _attacks(release)
    # A forged TAPIEVENT before UserEvent: is ignored, and said so; the
    # caller's own event still counts, with the key Asterisk wrote.
    result = extract_tapievent(
        _frame(release, caller_name=attacks["tapievent"]), ami_version=ami_version
    )
    assert isinstance(result, ExtractedEvent)
    assert (result.call_key, result.key_source) == (MALLORY, "header")
    assert [d.code for d in result.diagnostics] == [DiagnosticCode.FORGED_HEADER]
    assert result.diagnostics[0].call_key == MALLORY
    # Two Uniqueids or two UserEvent: lines: which is Asterisk's cannot be
    # told, so there is no event at all.
    for name in ("uniqueid", "userevent", "replica"):
        result = extract_tapievent(
            _frame(release, caller_name=attacks[name]), ami_version=ami_version
        )
        assert isinstance(result, Diagnostic) and result.code is DiagnosticCode.FORGED_HEADER
        assert "dropped" in result.message, name


@pytest.mark.parametrize("attack", ["tapievent", "uniqueid", "userevent", "replica"])
def test_13_5_escapes_the_same_names_into_harmless_text(attack: str) -> None:
    for release in ((13, 5), (22, 10)):
        name = _attacks(release)[attack]
        result = extract_tapievent(
            _frame(release, caller_name=name), ami_version=ast_model.SNAPSHOT_AMI[release]
        )
        assert isinstance(result, ExtractedEvent)
        assert result.call_key == MALLORY and result.diagnostics == ()
        assert result.frame.get("CallerIDName") == ast_model.c_escape(name)


def test_known_escaping_versions_keep_the_first_userevent() -> None:
    # On 22 a second "UserEvent:" can only come after Asterisk's own (an
    # unescaped body value), so the first is Asterisk's and the event stays.
    payload = ast_model.snapshot_userevent(
        (22, 10),
        ["TAPIEVENT: SET CALLERID Mallory", "UserEvent: TAPI", f"TAPIEVENT: [~{VICTIM}] {IDLE}"],
        uniqueid=MALLORY,
    )
    (message,) = ast_model.decode_bytes(payload)
    result = extract_tapievent(message, ami_version=(11, 0, 0))
    assert isinstance(result, ExtractedEvent) and result.call_key == MALLORY
    assert [d.code for d in result.diagnostics] == [DiagnosticCode.DUPLICATE_TAPIEVENT]
    # Not knowing the version, tapievent cannot rule out a forged snapshot.
    unknown = extract_tapievent(message)
    assert isinstance(unknown, Diagnostic) and unknown.code is DiagnosticCode.FORGED_HEADER


@pytest.mark.parametrize("release", UNESCAPED)
def test_the_tracker_keeps_the_victims_call(release: tuple[int, int]) -> None:
    # The scenario end to end: the banner tells the tracker the
    # version, the victim's call is up, Mallory's name tries to end it.
    tracker = CallTracker()
    tracker.handle(Banner.from_version(ast_model.SNAPSHOT_AMI[release]))
    (victim,) = ast_model.decode_bytes(
        ast_model.snapshot_userevent(
            release, ["TAPIEVENT: LINE_NEWCALL sip/victim"], uniqueid=VICTIM
        )
    )
    assert tracker.handle(victim) == [NewCall("sip/victim", VICTIM)]
    for name in _attacks(release).values():
        events = tracker.handle(_frame(release, caller_name=name))
        ended = [e for e in events if isinstance(e, CallState) and e.call_key == VICTIM]
        assert ended == [], name
    assert VICTIM in {call.call_key for call in tracker.snapshot()}


def test_a_blank_line_in_a_name_forges_a_whole_frame() -> None:
    # What no rule inside one frame can stop (docs/protocol.md section 6): a
    # name holding a blank line ends Asterisk's frame early, and what follows
    # is a complete frame of the caller's making. Asterisk's own remainder
    # arrives as a frame without Event: and is not an event.
    forged = (
        "Mallory\r\n\r\nEvent: UserEvent\r\nPrivilege: user,all\r\n"
        f"Uniqueid: {VICTIM}\r\nUserEvent: TAPI\r\nTAPIEVENT: [~{VICTIM}] {IDLE}\r\n"
    )
    payload = ast_model.snapshot_userevent(
        (13, 4), ["TAPIEVENT: LINE_NEWCALL sip/mallory"], uniqueid=MALLORY, caller_name=forged
    )
    truncated, made_up, remainder = ast_model.decode_bytes(payload)
    assert extract_tapievent(truncated, ami_version=(2, 7, 0)) is None  # no UserEvent: line
    result = extract_tapievent(made_up, ami_version=(2, 7, 0))
    assert isinstance(result, ExtractedEvent) and result.call_key == VICTIM
    assert remainder.get("Event") is None
    assert extract_tapievent(remainder, ami_version=(2, 7, 0)) is None
