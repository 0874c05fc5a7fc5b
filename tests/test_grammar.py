"""The TAPIEVENT grammar: parse/format, extract from AMI, and to_dialplan.

The dialplan side is checked against a model of Asterisk itself
(tests/asterisk_args.py): a generated ``UserEvent(...)`` line is read,
substituted and split the way each Asterisk version does it, rendered as
that version's AMI bytes, decoded by tapievent's decoder, and extracted.
The model is in turn checked against what a real Asterisk 22 did
(tests/data/asterisk-22.10.1/README.md).
"""

from __future__ import annotations

import re
from pathlib import Path

import asterisk_args as ast_model
import attrs
import pytest
from docs_examples import run_python_blocks
from hypothesis import assume, given
from hypothesis import strategies as st

import tapievent
from tapievent import grammar
from tapievent.ami_codec import NEED_DATA, AMIDecoder, Message
from tapievent.grammar import (
    DIALSTATUS_MODES,
    DialplanError,
    TapiEventSyntaxError,
    asterisk_version,
    extract,
    parse,
    to_dialplan,
)
from tapievent.model import (
    CallStateCommand,
    Command,
    Diagnostic,
    ExtractedEvent,
    HangupCommand,
    LineBusyMode,
    LineCallState,
    LineConnectedMode,
    LineDialToneMode,
    LineDisconnectMode,
    LineOfferingMode,
    LineSpecialInfo,
    NewCallCommand,
    SetCallerIdCommand,
    TapiEvent,
    TargetSpec,
    UnknownCommand,
)
from tapievent.testing.strategies import line_names, messages, tapi_events, tapievent_texts

DATA = Path(__file__).parent / "data" / "asterisk-22.10.1"
S = LineCallState


def ev(command: object, spec: TargetSpec | None = None) -> TapiEvent:
    assert not isinstance(command, str)
    return TapiEvent(spec or TargetSpec(), command)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- parse


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("LINE_NEWCALL line_1", ev(NewCallCommand("line_1"))),
        ("line_newcall Local/bob", ev(NewCallCommand("Local/bob"))),
        (
            "[~1795667804.1&sip/bob] LINE_CALLSTATE LINECALLSTATE_CONNECTED",
            ev(CallStateCommand(S.CONNECTED), TargetSpec("1795667804.1", ("sip/bob",))),
        ),
        (
            "[~1795667804.1&!sip/bob] LINE_CALLSTATE LINECALLSTATE_HANGUP",
            ev(HangupCommand(), TargetSpec("1795667804.1", (), ("sip/bob",))),
        ),
        (
            "[!c&a&~id&b] Line_CallState linecallstate_idle",
            ev(CallStateCommand(S.IDLE), TargetSpec("id", ("a", "b"), ("c",))),
        ),
        ("[] LINE_NEWCALL x", ev(NewCallCommand("x"))),
        ("  \t[a]LINE_NEWCALL x \t ", ev(NewCallCommand("x"), TargetSpec(None, ("a",)))),
        ("[~~odd] LINE_NEWCALL x", ev(NewCallCommand("x"), TargetSpec("~odd"))),
        ("[CaSe] LINE_NEWCALL CaSe", ev(NewCallCommand("CaSe"), TargetSpec(None, ("CaSe",)))),
        (
            'SET CALLERID "Alice Caller" <5550100>',
            ev(SetCallerIdCommand('"Alice Caller" <5550100>')),
        ),
        ("set callerid  Smith,  Bob \t<1>  ", ev(SetCallerIdCommand("Smith,  Bob \t<1>"))),
        ("SET CALLERID", ev(SetCallerIdCommand(""))),
        ("SET\tCALLERID x", ev(SetCallerIdCommand("x"))),
        ("SET FOO bar", ev(UnknownCommand("SET FOO bar"))),
        ("SET", ev(UnknownCommand("SET"))),
        ("LINE_CALLINFO   x", ev(UnknownCommand("LINE_CALLINFO   x"))),
        ("[a] ] odd", ev(UnknownCommand("] odd"), TargetSpec(None, ("a",)))),
        (
            "LINE_CALLSTATE LINECALLSTATE_DISCONNECTED LINEDISCONNECTMODE_BUSY",
            ev(CallStateCommand(S.DISCONNECTED, LineDisconnectMode.BUSY)),
        ),
        (
            "LINE_CALLSTATE LINECALLSTATE_DISCONNECTED congestion",
            ev(CallStateCommand(S.DISCONNECTED, LineDisconnectMode.CONGESTION)),
        ),
        ("LINE_CALLSTATE LINECALLSTATE_BUSY 0x4", ev(CallStateCommand(S.BUSY, 4))),
        ("LINE_CALLSTATE LINECALLSTATE_IDLE 0", ev(CallStateCommand(S.IDLE, 0))),
        (
            "LINE_CALLSTATE LINECALLSTATE_DISCONNECTED 4294967295",
            ev(CallStateCommand(S.DISCONNECTED, 0xFFFFFFFF)),
        ),
    ],
)
def test_parse(text: str, expected: TapiEvent) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("state", "family", "prefix"),
    [
        (S.DISCONNECTED, LineDisconnectMode, "LINEDISCONNECTMODE_"),
        (S.CONNECTED, LineConnectedMode, "LINECONNECTEDMODE_"),
        (S.BUSY, LineBusyMode, "LINEBUSYMODE_"),
        (S.OFFERING, LineOfferingMode, "LINEOFFERINGMODE_"),
        (S.DIALTONE, LineDialToneMode, "LINEDIALTONEMODE_"),
        (S.SPECIALINFO, LineSpecialInfo, "LINESPECIALINFO_"),
    ],
)
def test_every_mode_name_of_a_state_parses_and_formats(
    state: LineCallState, family: type[LineDisconnectMode], prefix: str
) -> None:
    for name, member in family.__members__.items():
        text = f"LINE_CALLSTATE LINECALLSTATE_{state.name} {prefix}{name}"
        assert parse(text.lower()) == ev(CallStateCommand(state, member))
        assert grammar.format(parse(text)) == text


def test_dialstatus_words_map_to_disconnect_modes() -> None:
    assert dict(DIALSTATUS_MODES) == {
        "ANSWER": LineDisconnectMode.NORMAL,
        "BUSY": LineDisconnectMode.BUSY,
        "NOANSWER": LineDisconnectMode.NOANSWER,
        "CONGESTION": LineDisconnectMode.CONGESTION,
        "CHANUNAVAIL": LineDisconnectMode.UNREACHABLE,
        "CANCEL": LineDisconnectMode.CANCELLED,
        "DONTCALL": LineDisconnectMode.REJECT,
        "TORTURE": LineDisconnectMode.REJECT,
        "INVALIDARGS": LineDisconnectMode.BADADDRESS,
    }
    for word, mode in DIALSTATUS_MODES.items():
        event = parse(f"LINE_CALLSTATE LINECALLSTATE_DISCONNECTED {word}")
        assert grammar.format(event).endswith(" LINEDISCONNECTMODE_" + mode.name)  # type: ignore[operator]


@pytest.mark.parametrize(
    ("text", "column", "words"),
    [
        ("[a&&b] LINE_NEWCALL x", 3, "empty target"),
        ("[&a] LINE_NEWCALL x", 2, "extra '&'"),
        ("[a&] LINE_NEWCALL x", 3, "extra '&'"),
        ("[~1.2&sip/bob LINE_CALLSTATE x", 1, "unclosed '['"),
        ("[a[b] LINE_NEWCALL x", 3, "'[' inside"),
        ("[~a&~b] LINE_NEWCALL x", 5, "second '~'"),
        ("[a&!a] LINE_NEWCALL x", 4, "both included and excluded"),
        ("[!a&a] LINE_NEWCALL x", 5, "both included and excluded"),
        ("[~] LINE_NEWCALL x", 3, "empty unique id"),
        ("[!] LINE_NEWCALL x", 3, "empty line name"),
        ("[!!a] LINE_NEWCALL x", 3, "starts with '!'"),
        ("[a b] LINE_NEWCALL x", 3, "blank inside the spec"),
        ("[a] [b] LINE_NEWCALL x", 5, "second spec"),
        ("[~x]", 5, "no command after the spec"),
        ("", 1, "no command"),
        ("   ", 4, "no command"),
        ("LINE_NEWCALL", 13, "needs a line name"),
        ("LINE_NEWCALL  ", 13, "needs a line name"),
        ("LINE_NEWCALL line_1 (via AMI UserEvent action)", 21, "one word"),
        ("LINE_NEWCALL a&b", 15, "'&'"),
        ("LINE_NEWCALL ~a", 14, "starts with '~'"),
        ("LINE_CALLSTATE", 15, "needs a state"),
        ("LINE_CALLSTATE CONNECTED", 16, "write LINECALLSTATE_CONNECTED"),
        ("LINE_CALLSTATE LINECALLSTATE_RINGING", 16, "unknown state"),
        ("LINE_CALLSTATE LINECALLSTATE_HANGUP 1", 37, "takes no mode"),
        ("LINE_CALLSTATE LINECALLSTATE_BUSY 1 2", 37, "at most one mode"),
        (
            "LINE_CALLSTATE LINECALLSTATE_CONNECTED LINEBUSYMODE_STATION",
            40,
            "not a mode of LINECALLSTATE_CONNECTED: use LINECONNECTEDMODE_*",
        ),
        ("LINE_CALLSTATE LINECALLSTATE_BUSY BUSY", 35, "unknown mode 'BUSY'"),
        ("LINE_CALLSTATE LINECALLSTATE_IDLE LINEBUSYMODE_TRUNK", 35, "takes no mode constant"),
        ("LINE_CALLSTATE LINECALLSTATE_IDLE NORMAL", 35, "takes no mode constant"),
        ("LINE_CALLSTATE LINECALLSTATE_DISCONNECTED 0x100000000", 43, "32 bits"),
        ("LINE_CALLSTATE LINECALLSTATE_DISCONNECTED 99999999999999999999", 43, "32 bits"),
        ("LINE_CALLSTATE LINECALLSTATE_DISCONNECTED -1", 43, "unknown mode"),
        ("SET CALLERID a\r\nEvent: forged", 15, "U+000D"),
        ("LINE_NEWCALL a\x00", 15, "U+0000"),
    ],
)
def test_syntax_errors_name_the_column(text: str, column: int, words: str) -> None:
    with pytest.raises(TapiEventSyntaxError) as info:
        parse(text)
    error = info.value
    assert (error.column, error.text) == (column, text)
    assert words in error.reason
    assert str(error) == f"{error.reason} (column {column})"
    assert isinstance(error, ValueError) and isinstance(error, tapievent.ProtocolError)


def test_syntax_error_pickles() -> None:
    import pickle

    with pytest.raises(TapiEventSyntaxError) as info:
        parse("[a&&b] X")
    copy = pickle.loads(pickle.dumps(info.value))
    assert (copy.reason, copy.text, copy.column) == (
        "empty target in spec: remove the extra '&'",
        "[a&&b] X",
        3,
    )


@pytest.mark.parametrize(
    ("event", "text"),
    [
        (ev(NewCallCommand("line_1")), "LINE_NEWCALL line_1"),
        (
            ev(HangupCommand(), TargetSpec("1.2", ("a", "b"), ("c",))),
            "[~1.2&a&b&!c] LINE_CALLSTATE LINECALLSTATE_HANGUP",
        ),
        (ev(CallStateCommand(S.IDLE, 0x1F)), "LINE_CALLSTATE LINECALLSTATE_IDLE 0x1F"),
        (
            ev(CallStateCommand(S.DISCONNECTED, 0x3)),
            "LINE_CALLSTATE LINECALLSTATE_DISCONNECTED 0x3",
        ),
        (
            ev(CallStateCommand(S.DISCONNECTED, LineDisconnectMode.PICKUP)),
            "LINE_CALLSTATE LINECALLSTATE_DISCONNECTED LINEDISCONNECTMODE_PICKUP",
        ),
        (ev(SetCallerIdCommand("")), "SET CALLERID"),
        (ev(SetCallerIdCommand("a  b")), "SET CALLERID a  b"),
        (ev(UnknownCommand("FOO\tbar")), "FOO\tbar"),
        (ev(NewCallCommand("x"), TargetSpec()), "LINE_NEWCALL x"),
    ],
)
def test_format_is_canonical(event: TapiEvent, text: str) -> None:
    assert grammar.format(event) == text
    assert parse(text) == event


@given(tapi_events())
def test_parse_inverts_format(event: TapiEvent) -> None:
    text = grammar.format(event)
    assert parse(text) == event
    assert grammar.format(parse(text)) == text  # canonical text is a fixed point


@given(tapievent_texts())
def test_parse_raises_only_its_own_error(text: str) -> None:
    try:
        event = parse(text)
    except TapiEventSyntaxError as error:
        assert 1 <= error.column <= len(text) + 1
        return
    assert parse(grammar.format(event)) == event


# --------------------------------------------------------------------------- extract


def _userevent(*body: tuple[str, str], uniqueid: str | None = "1.5") -> Message:
    headers = [("Event", "UserEvent"), ("Privilege", "user,all"), ("UserEvent", "TAPI")]
    if uniqueid is not None:
        headers.append(("Uniqueid", uniqueid))  # the 10/11 position
    return Message(tuple(headers) + body)


def test_extract_each_version_shape() -> None:
    # 1.2: Event: UserEventTAPI, Channel, Uniqueid, then the raw body line.
    v12 = Message.from_pairs(
        ("Event", "UserEventTAPI"),
        ("Privilege", "user,all"),
        ("Channel", "SIP/100-0a1b"),
        ("Uniqueid", "1700000000.42"),
        ("TAPIEVENT", "[~1700000000.42&line&!other] LINE_CALLSTATE LINECALLSTATE_CONNECTED"),
    )
    result = extract(v12)
    assert isinstance(result, ExtractedEvent)
    assert result.event == ev(
        CallStateCommand(S.CONNECTED), TargetSpec("1700000000.42", ("line",), ("other",))
    )
    assert (result.call_key, result.key_source, result.diagnostics) == ("1700000000.42", "spec", ())
    assert result.frame is v12

    # 1.4-1.8: no Uniqueid at all, so only ~ gives a key.
    v14 = _userevent(("TAPIEVENT", "LINE_NEWCALL line_1"), uniqueid=None)
    result = extract(v14)
    assert isinstance(result, ExtractedEvent)
    assert (result.call_key, result.key_source) == (None, None)

    # 10/11: Uniqueid right after UserEvent.
    result = extract(_userevent(("TAPIEVENT", "LINE_NEWCALL line_1")))
    assert isinstance(result, ExtractedEvent)
    assert (result.call_key, result.key_source) == ("1.5", "header")

    # Header names are stripped and case-insensitive, values too.
    result = extract(
        Message.from_pairs(
            ("Event", "UserEvent"), ("UserEvent", " tapi "), (" TAPIEVENT", " LINE_NEWCALL a ")
        )
    )
    assert isinstance(result, ExtractedEvent) and result.event == ev(NewCallCommand("a"))


def test_extract_ignores_other_events() -> None:
    assert extract(Message.from_pairs(("Response", "Success"))) is None
    assert extract(Message.from_pairs(("Event", "Hangup"), ("Uniqueid", "1.2"))) is None
    assert extract(Message.from_pairs(("Event", "UserEvent"), ("UserEvent", "Other"))) is None
    assert extract(Message.from_pairs(("Event", "UserEvent"))) is None
    assert extract(Message.from_pairs(("Event", "UserEventTAPIX"))) is None
    assert extract(Message.from_pairs(("Event", "UserEvent"), ("UserEvent", "TAPIX|y"))) is None


def test_extract_legacy_pipe_syntax_on_16_plus() -> None:
    message = Message.from_pairs(
        ("Event", "UserEvent"),
        ("Uniqueid", "9.9"),
        ("UserEvent", "TAPI|TAPIEVENT: LINE_NEWCALL line_1"),
    )
    result = extract(message)
    assert isinstance(result, ExtractedEvent)
    assert result.event == ev(NewCallCommand("line_1"))
    assert [d.code for d in result.diagnostics] == ["legacy-syntax"]
    assert result.call_key == result.diagnostics[0].call_key == "9.9"


def test_extract_first_tapievent_wins_over_forged_ones() -> None:
    message = _userevent(
        ("TAPIEVENT", "SET CALLERID Evil"),
        ("TAPIEVENT", "LINE_NEWCALL forged"),
        ("TAPIEVENT", "LINE_NEWCALL forged2"),
    )
    result = extract(message)
    assert isinstance(result, ExtractedEvent)
    assert result.event == ev(SetCallerIdCommand("Evil"))
    (diagnostic,) = result.diagnostics
    assert diagnostic.code == "duplicate-tapievent" and "2 more" in diagnostic.message
    assert "QUOTE" in diagnostic.message


def test_extract_colon_less_body_lines() -> None:
    # 1.4-11 keep "TAPIEVENT [..] ..." as a line without a colon.
    result = extract(
        _userevent(("", "TAPIEVENT [~1.2&sip/bob] LINE_CALLSTATE LINECALLSTATE_CONNECTED"))
    )
    assert isinstance(result, ExtractedEvent)
    assert result.event.spec == TargetSpec("1.2", ("sip/bob",))
    assert [d.code for d in result.diagnostics] == ["missing-colon"]
    # ... and when a colon comes later in the line, the decoder cut there.
    result = extract(_userevent(("TAPIEVENT SET CALLERID a", "b")))
    assert isinstance(result, ExtractedEvent)
    assert result.event == ev(SetCallerIdCommand("a:b"))
    assert [d.code for d in result.diagnostics] == ["missing-colon"]
    # A colon-less line that merely mentions TAPIEVENT later is not a body.
    assert isinstance(extract(_userevent(("", "xTAPIEVENT y"))), Diagnostic)


def test_extract_diagnoses_unusable_tapi_events() -> None:
    empty = extract(_userevent())
    assert isinstance(empty, Diagnostic) and empty.code == "empty-body"
    assert empty.call_key == "1.5"
    blank = extract(_userevent(("TAPIEVENT", "  ")))
    assert isinstance(blank, Diagnostic) and blank.code == "empty-body"
    bad = extract(_userevent(("TAPIEVENT", "[a&&b] LINE_NEWCALL x")))
    assert isinstance(bad, Diagnostic) and bad.code == "syntax-error"
    assert "column 3" in bad.message and "extra '&'" in bad.message
    assert bad.frame is not None


def test_extract_uses_only_the_uniqueid_asterisk_wrote() -> None:
    # 12+: the snapshot's Uniqueid precedes UserEvent; a body "Uniqueid" from
    # an unquoted caller id comes after it and is not the key.
    snapshot = Message.from_pairs(
        ("Event", "UserEvent"),
        ("Uniqueid", "real.1"),
        ("UserEvent", "TAPI"),
        ("TAPIEVENT", "LINE_NEWCALL a"),
        ("Uniqueid", "forged.2"),
    )
    result = extract(snapshot)
    assert isinstance(result, ExtractedEvent) and result.call_key == "real.1"
    # 1.4-1.8 have no Uniqueid: one that is not next to UserEvent is forged.
    forged = Message.from_pairs(
        ("Event", "UserEvent"),
        ("UserEvent", "TAPI"),
        ("TAPIEVENT", "LINE_NEWCALL a"),
        ("Uniqueid", "forged.2"),
    )
    result = extract(forged)
    assert isinstance(result, ExtractedEvent) and result.call_key is None


_tapi_shaped = st.builds(
    lambda pre, name, body: Message((*pre, ("UserEvent", name), *body)),
    st.lists(st.tuples(st.sampled_from(["Event", "Uniqueid", "x"]), st.text(max_size=8))),
    st.sampled_from(["TAPI", "tapi", "TAPI|", "TAPI|TAPIEVENT", "TAPI|TAPIEVENT:"])
    | st.text(max_size=12),
    st.lists(
        st.tuples(
            st.sampled_from(["TAPIEVENT", "", "TAPIEVENT x", " tapievent ", "Uniqueid"])
            | st.text(max_size=8),
            tapievent_texts(),
        ),
        max_size=4,
    ),
).map(lambda m: Message((("Event", "UserEvent"), *m.headers)))


@given(messages() | _tapi_shaped)
def test_extract_never_raises(message: Message) -> None:
    result = extract(message)
    assert result is None or isinstance(result, ExtractedEvent | Diagnostic)


# --------------------------------------------------------------------------- the corpus


def _frames(path: Path) -> list[Message]:
    decoder = AMIDecoder()
    decoder.receive_data(path.read_bytes())
    decoder.receive_eof()
    out = []
    while (frame := decoder.next_frame()) is not NEED_DATA:
        if isinstance(frame, Message):
            out.append(frame)
    return out


# Canonical text of every TAPI UserEvent a capture holds, in order; "!code"
# for a diagnostic. The wire text is canonical already except where noted.
CORPUS = {
    "04-misc-actions.ami": ["!syntax-error"],  # "LINE_NEWCALL line_1 (via AMI UserEvent action)"
    "05-scenario1-inbound.ami": [
        "LINE_NEWCALL line_1",
        "SET CALLERID Alice Caller <5550100>",
        "[~1795667804.1&sip/bob] LINE_CALLSTATE LINECALLSTATE_CONNECTED",
        "[~1795667804.1&!sip/bob] LINE_CALLSTATE LINECALLSTATE_HANGUP",
        "LINE_CALLSTATE LINECALLSTATE_IDLE",
    ],
    "06a-scenario2-outbound.ami": [
        "LINE_NEWCALL line_1",
        "[~1795667810.6&sip/bob] LINE_CALLSTATE LINECALLSTATE_CONNECTED",
        "[~1795667810.6&!sip/bob] LINE_CALLSTATE LINECALLSTATE_HANGUP",
        "LINE_CALLSTATE LINECALLSTATE_IDLE",
    ],
    "06b-scenario2-outbound-channelid.ami": [
        "LINE_NEWCALL line_1",
        "[~tapi-out-0001&sip/bob] LINE_CALLSTATE LINECALLSTATE_CONNECTED",
        "[~tapi-out-0001&!sip/bob] LINE_CALLSTATE LINECALLSTATE_HANGUP",
        "LINE_CALLSTATE LINECALLSTATE_IDLE",
        "LINE_NEWCALL line_1",
        "[~tapi-out-0002&sip/bob] LINE_CALLSTATE LINECALLSTATE_CONNECTED",
        "[~tapi-out-0002&!sip/bob] LINE_CALLSTATE LINECALLSTATE_HANGUP",
        "LINE_CALLSTATE LINECALLSTATE_IDLE",
    ],
    "07-scenario3-no-h-extension.ami": [
        "LINE_NEWCALL line_1",
        "SET CALLERID Carol <5550300>",
        "[~1795667830.20&sip/bob] LINE_CALLSTATE LINECALLSTATE_CONNECTED",
        "[~1795667830.20&!sip/bob] LINE_CALLSTATE LINECALLSTATE_HANGUP",
    ],
    "09-scenario5-busy-noanswer.ami": [
        "LINE_NEWCALL line_1",
        "SET CALLERID Dave <5550400>",
        "LINE_CALLSTATE LINECALLSTATE_BUSY",
        "LINE_CALLSTATE LINECALLSTATE_IDLE",
        "LINE_NEWCALL line_1",
        "SET CALLERID Dave <5550400>",
        # wire: "LINECALLSTATE_DISCONNECTED NOANSWER" (from ${DIALSTATUS})
        "LINE_CALLSTATE LINECALLSTATE_DISCONNECTED LINEDISCONNECTMODE_NOANSWER",
        "LINE_CALLSTATE LINECALLSTATE_IDLE",
        "LINE_NEWCALL line_1",
        "LINE_CALLSTATE LINECALLSTATE_DISCONNECTED LINEDISCONNECTMODE_CONGESTION",
        "LINE_CALLSTATE LINECALLSTATE_IDLE",
        "LINE_NEWCALL line_1",
        "LINE_CALLSTATE LINECALLSTATE_BUSY",
        "LINE_CALLSTATE LINECALLSTATE_IDLE",
    ],
    "12-scenario7-ringgroup.ami": [
        "LINE_NEWCALL Local/bob",
        "LINE_NEWCALL Local/bobbett",
        'SET CALLERID "Alice Caller" <5550100>',
        "LINE_CALLSTATE LINECALLSTATE_OFFERING",
        "[~1795669868.17&Local/bob] LINE_CALLSTATE LINECALLSTATE_CONNECTED",
        "[~1795669868.17&!Local/bob] LINE_CALLSTATE LINECALLSTATE_HANGUP",
        "LINE_CALLSTATE LINECALLSTATE_IDLE",
    ],
}


def test_every_capture_is_covered() -> None:
    with_tapi = {p.name for p in DATA.glob("*.ami") if b"UserEvent: TAPI" in p.read_bytes()}
    assert with_tapi == set(CORPUS)
    assert sum(len(v) for v in CORPUS.values()) == 43


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_userevents(name: str) -> None:
    got = []
    for message in _frames(DATA / name):
        result = extract(message)
        if result is None:
            continue
        if isinstance(result, Diagnostic):
            got.append("!" + result.code)
            continue
        got.append(grammar.format(result.event))
        assert result.diagnostics == ()
        header = message.get("Uniqueid")
        if result.event.spec.unique_id is not None:
            assert (result.call_key, result.key_source) == (result.event.spec.unique_id, "spec")
        else:
            assert (result.call_key, result.key_source) == (header, "header")
        wire = message.get("TAPIEVENT")
        assert wire is not None
        if "NOANSWER" not in wire and "CONGESTION" not in wire:
            assert grammar.format(result.event) == wire  # the wire text is canonical
    assert got == CORPUS[name]


# Every UserEvent line of the corpus dialplan, run through the Asterisk 22
# model with the values of the recorded Alice call.
ALICE = {
    "ARG1": "1795667804.1",
    "LINE": "Local/bob",
    "UNIQUEID": "1795667804.1",
    "CALLERID(all)": '"Alice Caller" <5550100>',
    "CALLERID(num)": "5550100",
    "CALLERID(name)": "Alice Caller",
    "ESCNAME": "Alice Caller",
    "DIALSTATUS": "NOANSWER",
}
EXTENSIONS = {
    "UserEvent(TAPI,TAPIEVENT: [~${ARG1}&sip/bob] LINE_CALLSTATE LINECALLSTATE_CONNECTED)": (
        "[~1795667804.1&sip/bob] LINE_CALLSTATE LINECALLSTATE_CONNECTED"
    ),
    "UserEvent(TAPI,TAPIEVENT: [~${ARG1}&!sip/bob] LINE_CALLSTATE LINECALLSTATE_HANGUP)": (
        "[~1795667804.1&!sip/bob] LINE_CALLSTATE LINECALLSTATE_HANGUP"
    ),
    "UserEvent(TAPI,TAPIEVENT: LINE_NEWCALL line_1)": "LINE_NEWCALL line_1",
    "UserEvent(TAPI,TAPIEVENT: SET CALLERID ${CALLERID(all)})": (
        "SET CALLERID Alice Caller <5550100>"  # the quotes are eaten by the splitter
    ),
    "UserEvent(TAPI,TAPIEVENT: LINE_CALLSTATE LINECALLSTATE_DISCONNECTED ${DIALSTATUS})": (
        "LINE_CALLSTATE LINECALLSTATE_DISCONNECTED LINEDISCONNECTMODE_NOANSWER"
    ),
    "UserEvent(TAPI,TAPIEVENT: LINE_CALLSTATE LINECALLSTATE_BUSY)": (
        "LINE_CALLSTATE LINECALLSTATE_BUSY"
    ),
    "UserEvent(TAPI,TAPIEVENT: LINE_CALLSTATE LINECALLSTATE_IDLE)": (
        "LINE_CALLSTATE LINECALLSTATE_IDLE"
    ),
    "UserEvent(TAPI,TAPIEVENT: SET CALLERID ${CALLERID(num)} ${CALLERID(name)})": (
        "SET CALLERID 5550100 Alice Caller"
    ),
    "UserEvent(TAPI,TAPIEVENT: SET CALLERID ${QUOTE(${CALLERID(all)})})": (
        'SET CALLERID "Alice Caller" <5550100>'
    ),
    "UserEvent(TAPI,TAPIEVENT: SET CALLERID ${CALLERID(num)} ${ESCNAME})": (
        "SET CALLERID 5550100 Alice Caller"
    ),
    'UserEvent(TAPI,"TAPIEVENT: SET CALLERID ${CALLERID(num)} ${CALLERID(name)}")': (
        "SET CALLERID 5550100 Alice Caller"
    ),
    "UserEvent(TAPI,TAPIEVENT: first,TAPIEVENT: second,Line: line_1,no colon here,"
    "X-Extra: a:b:c)": "second",  # 12+ keeps the last duplicate key itself
    "UserEvent(TAPI)": "!empty-body",
    "UserEvent(TAPI|TAPIEVENT: LINE_NEWCALL line_1)": "LINE_NEWCALL line_1 +legacy-syntax",
    "UserEvent(TAPI,TAPIEVENT: LINE_NEWCALL Local/bob)": "LINE_NEWCALL Local/bob",
    "UserEvent(TAPI,TAPIEVENT: LINE_NEWCALL Local/bobbett)": "LINE_NEWCALL Local/bobbett",
    "UserEvent(TAPI,TAPIEVENT: LINE_CALLSTATE LINECALLSTATE_OFFERING)": (
        "LINE_CALLSTATE LINECALLSTATE_OFFERING"
    ),
    "UserEvent(TAPI,TAPIEVENT: [~${ARG1}&${LINE}] LINE_CALLSTATE LINECALLSTATE_CONNECTED)": (
        "[~1795667804.1&Local/bob] LINE_CALLSTATE LINECALLSTATE_CONNECTED"
    ),
    "UserEvent(TAPI,TAPIEVENT: [~${ARG1}&!${LINE}] LINE_CALLSTATE LINECALLSTATE_HANGUP)": (
        "[~1795667804.1&!Local/bob] LINE_CALLSTATE LINECALLSTATE_HANGUP"
    ),
}


def _outcome(result: ExtractedEvent | Diagnostic | None) -> str:
    if result is None:
        return "!none"
    if isinstance(result, Diagnostic):
        return "!" + result.code
    text = grammar.format(result.event)
    return " +".join([text, *(d.code for d in result.diagnostics)])


def _userevent_calls(path: Path) -> set[str]:
    calls = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.search(r"\bUserEvent\(.*\)", line.split(";", 1)[0])
        if match:
            calls.add(match.group(0))
    return calls


def test_corpus_dialplan_lines() -> None:
    assert _userevent_calls(DATA / "extensions.conf") == set(EXTENSIONS)
    for call, expected in EXTENSIONS.items():
        (message,) = ast_model.run("22", call, ALICE)
        assert _outcome(extract(message)) == expected, call


# What a real Asterisk 22 put on the wire for caller id "Smith, Bob" <5551234>
# (tests/data/asterisk-22.10.1/README.md): the model must agree.
SMITH = {
    "CALLERID(all)": '"Smith, Bob" <5551234>',
    "CALLERID(num)": "5551234",
    "CALLERID(name)": "Smith, Bob",
    "ESCNAME": "Smith\\, Bob",  # what ${STRREPLACE(CALLERID(name),\,,\\\,)} stores
}


@pytest.mark.parametrize(
    ("call", "values", "body"),
    [
        (
            "UserEvent(TAPI,TAPIEVENT: SET CALLERID ${CALLERID(all)})",
            SMITH,
            ["TAPIEVENT: SET CALLERID Smith, Bob <5551234>"],
        ),
        (
            "UserEvent(TAPI,TAPIEVENT: SET CALLERID ${CALLERID(num)} ${CALLERID(name)})",
            SMITH,
            ["TAPIEVENT: SET CALLERID 5551234 Smith"],
        ),
        (
            "UserEvent(TAPI,TAPIEVENT: SET CALLERID ${QUOTE(${CALLERID(all)})})",
            SMITH,
            ['TAPIEVENT: SET CALLERID "Smith, Bob" <5551234>'],
        ),
        (
            "UserEvent(TAPI,TAPIEVENT: SET CALLERID ${CALLERID(num)} ${ESCNAME})",
            SMITH,
            ["TAPIEVENT: SET CALLERID 5551234 Smith, Bob"],
        ),
        (
            'UserEvent(TAPI,"TAPIEVENT: SET CALLERID ${CALLERID(num)} ${CALLERID(name)}")',
            SMITH,
            ["TAPIEVENT: SET CALLERID 5551234 Smith, Bob"],
        ),
        (
            "UserEvent(TAPI,TAPIEVENT: first,TAPIEVENT: second,Line: line_1,no colon here,"
            "X-Extra: a:b:c)",
            {},
            ["TAPIEVENT: second", "Line: line_1", "X-Extra: a:b:c"],
        ),
        ("UserEvent(TAPI)", {}, []),
        (
            "UserEvent(TAPI,TAPIEVENT: SET CALLERID ${CALLERID(num)} ${CALLERID(name)})",
            {"CALLERID(num)": "5550000", "CALLERID(name)": "Evil, X-Injected: yes"},
            ["TAPIEVENT: SET CALLERID 5550000 Evil", " X-Injected: yes"],
        ),
    ],
)
def test_model_agrees_with_real_asterisk_22(
    call: str, values: dict[str, str], body: list[str]
) -> None:
    lines = ast_model.wire("22", call, values).decode().split("\r\n")
    start = lines.index("UserEvent: TAPI") + 1
    assert lines[start:] == [*body, "", ""]


# The model's own rules, pinned to tests/data/spec/ami-versions.md 2.1-2.4, so
# that "to_dialplan output split the Asterisk way" rests on checked ground.

SPEC_DIR = Path(__file__).parent / "data" / "spec"


def _wire_vectors() -> dict[str, list[str]]:
    """The example blocks of ami-versions.md 2.4, keyed by the label above each."""
    text = (SPEC_DIR / "ami-versions.md").read_text(encoding="utf-8")
    section = text[text.index("### 2.4 ") : text.index("## 3. ")]
    blocks = re.findall(r"\n([^\n`]+):\n```\n(.*?)```", section, re.S)
    out = {}
    for label, block in blocks:
        # Optional lines ([Timestamp: ...], [SystemName: ...]) are absent here.
        lines = [ln.rstrip() for ln in block.split("\n") if not ln.startswith("[")]
        out[label.split(" ")[0]] = _trimmed(lines)
    return out


def _trimmed(lines: list[str]) -> list[str]:
    """Lines without trailing blanks (Markdown drops them) or trailing empty lines."""
    lines = [ln.rstrip() for ln in lines]
    while lines and not lines[-1]:
        lines.pop()
    return lines


_VECTOR_BODY = "[~${UNIQUEID}&line&!other] LINE_CALLSTATE LINECALLSTATE_CONNECTED"


@pytest.mark.parametrize(
    ("label", "version", "separator", "uniqueid_line"),
    [
        ("1.2", "1.2", "|", False),
        ("1.4.1", "1.4", "|", False),
        ("1.4.1", "1.6", ",", False),
        ("1.4.1", "1.8", ",", False),
        # 10/11: as 1.4.1-1.8 with Uniqueid right after UserEvent (2.1).
        ("1.4.1", "10", ",", True),
        ("1.4.1", "11", ",", True),
        *(("12+", v, ",", False) for v in ("13", "16", "18", "20", "21", "22", "23")),
    ],
)
def test_model_renders_the_spec_wire_vectors(
    label: str, version: str, separator: str, uniqueid_line: bool
) -> None:
    expected = _wire_vectors()[label]
    if uniqueid_line:
        expected.insert(expected.index("UserEvent: TAPI") + 1, f"Uniqueid: {ast_model.UNIQUEID}")
    call = f"UserEvent(TAPI{separator}TAPIEVENT: {_VECTOR_BODY})"
    raw = ast_model.wire(version, call, {"UNIQUEID": ast_model.UNIQUEID})
    assert raw.endswith(b"\r\n\r\n") and not raw.endswith(b"\r\n\r\n\r\n")
    got = raw.decode().split("\r\n")
    if label == "1.2":  # the spec's example channel name differs from the model's
        got = [ln if not ln.startswith("Channel: ") else "Channel: SIP/100-0a1b" for ln in got]
    assert _trimmed(got) == expected


@pytest.mark.parametrize(
    ("version", "data", "name", "body"),
    [
        # 1.2: split at the first '|' only; quotes, backslashes, commas literal.
        ("1.2", 'TAPI|a|b "c,d" e\\f', "TAPI", ['a|b "c,d" e\\f']),
        ("1.2", "TAPI", "TAPI", []),
        # ... into a 512-byte buffer after "UserEvent": name|body cut at 502 bytes.
        ("1.2", "TAPI|" + "x" * 600, "TAPI", ["x" * 497]),
        # 1.4: '|' splits; '"' toggles and is removed; '\' escapes; ( ) protect.
        (
            "1.4",
            'TAPI|a,b|"c|d"|e\\|f|(g|h)|[i|j]',
            "TAPI",
            ["a,b", "c|d", "e|f", "(g|h)", "[i", "j]"],
        ),
        # 1.6: ',' splits; [ ] do not protect yet.
        (
            "1.6",
            'TAPI,a|b,"c,d",e\\,f,(g,h),[i,j]',
            "TAPI",
            ["a|b", "c,d", "e,f", "(g,h)", "[i", "j]"],
        ),
        # 1.8 on: [ ] protect too.
        (
            "1.8",
            'TAPI,a|b,"c,d",e\\,f,(g,h),[i,j]',
            "TAPI",
            ["a|b", "c,d", "e,f", "(g,h)", "[i,j]"],
        ),
        ("22", 'TAPI,a|b,"c,d",e\\,f,(g,h),[i,j]', "TAPI", ["a|b", "c,d", "e,f", "(g,h)", "[i,j]"]),
        # Quote state carries over to later arguments; a trailing ',' gives "".
        ("22", 'TAPI,"a,b,c', "TAPI", ["a,b,c"]),
        ("22", "TAPI,a,", "TAPI", ["a", ""]),
        # A leading blank is kept.
        ("22", "TAPI, TAPIEVENT: x", "TAPI", [" TAPIEVENT: x"]),
        # At most 101 arguments: the last one holds the unsplit rest.
        (
            "22",
            ",".join(str(i) for i in range(150)),
            "0",
            [str(i) for i in range(1, 100)] + [",".join(str(i) for i in range(100, 150))],
        ),
    ],
)
def test_model_splits_arguments_like_each_version(
    version: str, data: str, name: str, body: list[str]
) -> None:
    assert ast_model.split_userevent(version, data) == (name, body)


def test_model_config_reader_and_1_4_comma_conversion() -> None:
    # main/config.c: "\;" is a literal ';', an unescaped ';' starts a comment.
    assert ast_model.config_value("UserEvent(TAPI,a\\;b) ; note") == "UserEvent(TAPI,a;b)"
    # 1.2/1.4 pbx_config: unquoted ',' -> '|', '\\' and "'" dropped; 1.6+ keeps the text.
    call = "UserEvent(TAPI,TAPIEVENT: a\\,b 'c,d')"
    assert ast_model.app_data("1.4", call) == "TAPI|TAPIEVENT: a,b c,d"
    assert ast_model.app_data("1.2", call) == "TAPI|TAPIEVENT: a,b c,d"
    assert ast_model.app_data("1.6", call) == "TAPI,TAPIEVENT: a\\,b 'c,d'"
    # QUOTE() wraps in '"' and escapes '\\' and '"' (func_strings.c).
    assert ast_model.quote('a"b\\c') == '"a\\"b\\\\c"'
    assert ast_model.substitute("x${QUOTE(${V})}y", {"V": "1,2"}) == 'x"1,2"y'


def _body_lines(version: str, call: str) -> list[str]:
    lines = ast_model.wire(version, call, {}).decode().split("\r\n")
    return lines[lines.index("UserEvent: TAPI") + 1 :]


def test_model_renders_arguments_per_version() -> None:
    call = "UserEvent(TAPI,no colon,K : v ,K : w,eventname: Renamed)"
    # 1.6-11: every argument is a line as written (colon-less ones too).
    assert _body_lines("11", call)[:4] == [
        f"Uniqueid: {ast_model.UNIQUEID}",
        "no colon",
        "K : v ",
        "K : w",
    ]
    assert "Uniqueid: " not in ast_model.wire("1.8", call, {}).decode()
    # 12+: colon-less arguments dropped, value stripped, key kept, last one
    # wins; a body key "eventname" renames the event.
    lines = ast_model.wire("22", call, {}).decode().split("\r\n")
    assert "UserEvent: Renamed" in lines
    assert lines[lines.index("UserEvent: Renamed") + 1 :] == ["K : w", "", ""]
    # 1.4: a 2048-byte body buffer; arguments that no longer fit are dropped.
    long_call = "UserEvent(TAPI|" + "|".join(["y" * 1000] * 3) + ")"
    assert _body_lines("1.4", long_call) == ["y" * 1000, "y" * 1000, "", ""]


def test_model_pipe_on_22_is_one_event_name() -> None:
    (message,) = ast_model.run("22", "UserEvent(TAPI|TAPIEVENT: LINE_NEWCALL line_1)", {})
    assert message.get("UserEvent") == "TAPI|TAPIEVENT: LINE_NEWCALL line_1"
    assert message.headers[-1] == ("UserEvent", "TAPI|TAPIEVENT: LINE_NEWCALL line_1")


# --------------------------------------------------------------------------- the seed


SEED_VALUES = {"ARG1": "1700000000.42", "ARG3": "line_3", "CALLERID": '"Alice" <100>'}

# Each seed line on 1.2 (where it was written), 1.4 and 22, as outcome text.
SEED = {
    "UserEvent(TAPI|TAPIEVENT: LINE_NEWCALL line_1)": (
        "LINE_NEWCALL line_1",
        "LINE_NEWCALL line_1",
        "LINE_NEWCALL line_1 +legacy-syntax",
    ),
    "exten => s,1,UserEvent(TAPI|TAPIEVENT: [~${ARG1}&sip/bob] LINE_CALLSTATE "
    "LINECALLSTATE_CONNECTED)": (
        "[~1700000000.42&sip/bob] LINE_CALLSTATE LINECALLSTATE_CONNECTED",
        "[~1700000000.42&sip/bob] LINE_CALLSTATE LINECALLSTATE_CONNECTED",
        "[~1700000000.42&sip/bob] LINE_CALLSTATE LINECALLSTATE_CONNECTED +legacy-syntax",
    ),
    "exten => s,1,UserEvent(TAPI|TAPIEVENT: [~${ARG1}&!sip/bob] LINE_CALLSTATE "
    "LINECALLSTATE_HANGUP)": (
        "[~1700000000.42&!sip/bob] LINE_CALLSTATE LINECALLSTATE_HANGUP",
        "[~1700000000.42&!sip/bob] LINE_CALLSTATE LINECALLSTATE_HANGUP",
        "[~1700000000.42&!sip/bob] LINE_CALLSTATE LINECALLSTATE_HANGUP +legacy-syntax",
    ),
    "exten => s,1,UserEvent(TAPI|TAPIEVENT [~${ARG1}&sip/bob] LINE_CALLSTATE "
    "LINECALLSTATE_CONNECTED)": (
        "[~1700000000.42&sip/bob] LINE_CALLSTATE LINECALLSTATE_CONNECTED +missing-colon",
        "[~1700000000.42&sip/bob] LINE_CALLSTATE LINECALLSTATE_CONNECTED +missing-colon",
        "[~1700000000.42&sip/bob] LINE_CALLSTATE LINECALLSTATE_CONNECTED"
        " +legacy-syntax +missing-colon",
    ),
    "exten => s,1,UserEvent(TAPI|TAPIEVENT: LINE_NEWCALL ${ARG3})": (
        "LINE_NEWCALL line_3",
        "LINE_NEWCALL line_3",
        "LINE_NEWCALL line_3 +legacy-syntax",
    ),
    # ${CALLERID} exists on 1.2 only (removed for 1.4.0); 1.4's splitter eats the quotes.
    "exten => s,n,UserEvent(TAPI|TAPIEVENT: SET CALLERID ${CALLERID})": (
        'SET CALLERID "Alice" <100>',
        "SET CALLERID",
        "SET CALLERID +legacy-syntax",
    ),
    "exten => h,1,UserEvent(TAPI|TAPIEVENT: LINE_CALLSTATE LINECALLSTATE_IDLE)": (
        "LINE_CALLSTATE LINECALLSTATE_IDLE",
        "LINE_CALLSTATE LINECALLSTATE_IDLE",
        "LINE_CALLSTATE LINECALLSTATE_IDLE +legacy-syntax",
    ),
    "exten => _9NXXXXXX,1,UserEvent(TAPI|TAPIEVENT: LINE_NEWCALL line_1)": (
        "LINE_NEWCALL line_1",
        "LINE_NEWCALL line_1",
        "LINE_NEWCALL line_1 +legacy-syntax",
    ),
}


@pytest.mark.parametrize("line", list(SEED))
def test_seed_lines(line: str) -> None:
    call = line[line.index("UserEvent(") :]
    for version, expected in zip(("1.2", "1.4", "22"), SEED[line], strict=True):
        values = dict(SEED_VALUES, CALLERID=SEED_VALUES["CALLERID"] if version == "1.2" else "")
        (message,) = ast_model.run(version, call, values)
        assert _outcome(extract(message)) == expected, version


@pytest.mark.parametrize("line", list(SEED))
@pytest.mark.parametrize("version", ast_model.VERSIONS)
def test_seed_lines_on_every_version_with_their_call_key(line: str, version: str) -> None:
    # 1.6 to 23 all read the pipe line the same way: the whole text is the
    # UserEvent name. The call key comes from ~ when the line has one, else
    # from the Uniqueid header Asterisk writes on 1.2 and 10+ (none on 1.4-1.8).
    call = line[line.index("UserEvent(") :]
    generation = ast_model.line_of(version)
    expected = SEED[line][0 if generation == (1, 2) else 1 if generation == (1, 4) else 2]
    values = dict(SEED_VALUES, CALLERID=SEED_VALUES["CALLERID"] if version == "1.2" else "")
    (message,) = ast_model.run(version, call, values)
    result = extract(message)
    assert _outcome(result) == expected
    assert isinstance(result, ExtractedEvent)
    key: tuple[str | None, str | None]
    if "[~${ARG1}" in line:
        key = (SEED_VALUES["ARG1"], "spec")
    elif generation == (1, 2) or generation >= (10, 0):
        key = (ast_model.UNIQUEID, "header")
    else:
        key = (None, None)
    assert (result.call_key, result.key_source) == key
    assert all(d.call_key == result.call_key for d in result.diagnostics)
    assert all(d.frame is message for d in result.diagnostics)


def test_seed_colon_less_line_is_lost_on_12_plus_with_commas() -> None:
    # Rewritten with a comma, the colon-less body is dropped by Asterisk 12+:
    # tapievent can only report the empty body (lint catches it earlier).
    call = "UserEvent(TAPI,TAPIEVENT [~${ARG1}&sip/bob] LINE_CALLSTATE LINECALLSTATE_CONNECTED)"
    (message,) = ast_model.run("22", call, SEED_VALUES)
    assert _outcome(extract(message)) == "!empty-body"
    (message,) = ast_model.run("11", call, SEED_VALUES)
    assert _outcome(extract(message)).endswith("+missing-colon")


# --------------------------------------------------------------------------- to_dialplan


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("1.2", "UserEvent(TAPI|TAPIEVENT: [~${UNIQUEID}&sip/bob] SET CALLERID ${CALLERID(all)})"),
        (
            "1.4",
            "UserEvent(TAPI|TAPIEVENT: [~${UNIQUEID}&sip/bob] SET CALLERID "
            "${QUOTE(${CALLERID(all)})})",
        ),
        (
            "1.6.2",
            "UserEvent(TAPI,TAPIEVENT: [~${UNIQUEID}&sip/bob] SET CALLERID "
            "${QUOTE(${CALLERID(all)})})",
        ),
        (
            "22.10.1",
            "UserEvent(TAPI,TAPIEVENT: [~${UNIQUEID}&sip/bob] SET CALLERID "
            "${QUOTE(${CALLERID(all)})})",
        ),
    ],
)
def test_to_dialplan_examples(version: str, expected: str) -> None:
    event = parse("[~${UNIQUEID}&sip/bob] SET CALLERID ${CALLERID(all)}")
    assert to_dialplan(event, version) == expected
    assert to_dialplan(grammar.format(event), version) == expected


def test_to_dialplan_escapes_literal_text_per_version() -> None:
    event = ev(SetCallerIdCommand('a,b|c "q" \\ it\'s; done'))
    assert to_dialplan(event, "22") == (
        'UserEvent(TAPI,TAPIEVENT: SET CALLERID a\\,b|c \\"q\\" \\\\ it\'s\\; done)'
    )
    assert to_dialplan(event, "1.4") == (
        'UserEvent(TAPI|TAPIEVENT: SET CALLERID a\\,b\\\\|c \\\\"q\\\\" \\\\\\\\ it\\\'s\\; done)'
    )
    assert to_dialplan(event, "1.2") == (
        'UserEvent(TAPI|TAPIEVENT: SET CALLERID a\\,b|c "q" \\\\ it\\\'s\\; done)'
    )


def test_to_dialplan_quotes_every_caller_controlled_reference() -> None:
    text = (
        "SET CALLERID ${CALLERID(num)} ${CONNECTEDLINE(name)} ${REDIRECTING(from-num)} "
        "${CUT(CALLERID(name),\\,,1)} ${QUOTE(${CALLERID(name)})} ${MYNAME} ${EXTEN}"
    )
    out = to_dialplan(ev(SetCallerIdCommand(text)), "20", untrusted=["MYNAME"])
    assert "${QUOTE(${CALLERID(num)})}" in out
    assert "${QUOTE(${CONNECTEDLINE(name)})}" in out
    assert "${QUOTE(${REDIRECTING(from-num)})}" in out
    assert "${QUOTE(${CUT(CALLERID(name),\\,,1)})}" in out  # reference kept verbatim inside
    assert "${QUOTE(${CALLERID(name)})}" in out and "QUOTE(${QUOTE" not in out
    assert "${QUOTE(${MYNAME})}" in out and "${EXTEN}" in out and "QUOTE(${EXTEN" not in out
    unsafe = to_dialplan(ev(SetCallerIdCommand("${CALLERID(all)}")), "20", quote_untrusted=False)
    assert unsafe == "UserEvent(TAPI,TAPIEVENT: SET CALLERID ${CALLERID(all)})"


def test_quote_stops_the_injection_that_unquoted_text_allows() -> None:
    evil = {"CALLERID(all)": '"x" <1>,TAPIEVENT: LINE_NEWCALL forged'}
    event = ev(SetCallerIdCommand("${CALLERID(all)}"))
    for version in ("11", "22"):
        (message,) = ast_model.run(version, to_dialplan(event, version), evil)
        assert _outcome(extract(message)) == ('SET CALLERID "x" <1>,TAPIEVENT: LINE_NEWCALL forged')
    unsafe = to_dialplan(event, "22", quote_untrusted=False)
    (message,) = ast_model.run("22", unsafe, evil)
    assert _outcome(extract(message)) == "LINE_NEWCALL forged"  # 12+: last key wins
    (message,) = ast_model.run("11", unsafe, evil)
    assert _outcome(extract(message)) == "SET CALLERID x <1> +duplicate-tapievent"


def test_to_dialplan_errors() -> None:
    with pytest.raises(DialplanError, match="unterminated"):
        to_dialplan(ev(SetCallerIdCommand("${CALLERID(all)")), "22")
    with pytest.raises(TapiEventSyntaxError):
        to_dialplan("[a&&b] X", "22")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.2", (1, 2)),
        ("1.4.44", (1, 4, 44)),
        ("1.6", (1, 6)),
        ("1.8", (1, 8)),
        ("10", (10,)),
        ("11.25.3", (11, 25, 3)),
        ("22.10.1", (22, 10, 1)),
        (" 23 ", (23,)),
        ("30", (30,)),
        ((13, 38, 3), (13, 38, 3)),
    ],
)
def test_asterisk_version(text: str | tuple[int, ...], expected: tuple[int, ...]) -> None:
    assert asterisk_version(text) == expected


@pytest.mark.parametrize(
    "bad", ["", "1", "1.0", "1.3", "1.10", "2", "9.1", "x", "22.a", (), (1.2,)]
)
def test_asterisk_version_rejects_what_never_existed(bad: object) -> None:
    with pytest.raises(DialplanError):
        asterisk_version(bad)  # type: ignore[arg-type]


# Values: trusted ones are plain words; caller-controlled ones anything a
# caller id can hold (no CR/LF/NUL, valid Unicode).
_trusted = st.from_regex(r"[A-Za-z0-9._/-]{1,10}", fullmatch=True)
_caller = st.text(
    st.characters(exclude_categories=["Cs", "Cc"]) | st.sampled_from(",|\"\\()[]{};'$:<> \t"),
    max_size=30,
)
_literal = st.text(
    st.characters(exclude_categories=["Cs", "Cc"], exclude_characters="$")
    | st.sampled_from(",|\"\\()[]{};':<>"),
    min_size=1,
    max_size=20,
).map(lambda s: s.strip(" \t"))
_TRUSTED_REFS = ("${UNIQUEID}", "${ARG1}", "${LINE}")
_CALLER_REFS = (
    "${CALLERID(all)}",
    "${CALLERID(name)}",
    "${CALLERID(num)}",
    "${CONNECTEDLINE(name)}",
)


@st.composite
def _templates(draw: st.DrawFn) -> TapiEvent:
    """TapiEvents whose names and texts mix literals and dialplan references."""

    def name() -> str:
        # Literal parts carry no "$": to_dialplan reads every "${" / "$[" as a
        # dialplan reference (that is its contract), so a literal one would be a
        # different template, not a literal (see _literal above).
        literal = line_names(8).filter(lambda s: "$" not in s)
        return draw(st.sampled_from(_TRUSTED_REFS) | literal)

    spec = TargetSpec(
        draw(st.none() | st.sampled_from(_TRUSTED_REFS)),
        tuple(draw(st.lists(st.builds(name), max_size=2, unique=True))),
    )
    pieces = draw(st.lists(st.sampled_from(_CALLER_REFS) | _literal, max_size=4))
    text = " ".join(p for p in pieces if p).strip(" \t")
    choices: list[Command] = [
        SetCallerIdCommand(text),
        NewCallCommand(name()),
        CallStateCommand(S.CONNECTED),
    ]
    command = draw(st.sampled_from(choices))
    assume(spec.unique_id is None or spec.unique_id not in spec.include)
    return TapiEvent(spec, command)


def _expand(text: str, values: dict[str, str]) -> str:
    for ref, value in values.items():
        text = text.replace("${" + ref + "}", value)
    return text


@pytest.mark.parametrize("version", ast_model.VERSIONS)
@given(template=_templates(), data=st.data())
def test_to_dialplan_makes_asterisk_emit_exactly_the_event(
    version: str, template: TapiEvent, data: st.DataObject
) -> None:
    values = {ref[2:-1]: data.draw(_trusted) for ref in _TRUSTED_REFS}
    values.update({ref[2:-1]: data.draw(_caller) for ref in _CALLER_REFS})
    call = to_dialplan(template, version)
    messages = ast_model.run(version, call, values)
    assert len(messages) == 1  # no stray empty line, no split event
    result = extract(messages[0])
    intended = _expand(grammar.format(template), values)
    try:
        expected = parse(intended)
    except TapiEventSyntaxError:
        assert isinstance(result, Diagnostic) and result.code in ("syntax-error", "empty-body")
        return
    assert isinstance(result, ExtractedEvent)
    assert result.event == expected
    assert result.diagnostics == ()
    line = ast_model.line_of(version)
    has_header = line == (1, 2) or line >= (10, 0)
    if expected.spec.unique_id is not None:
        assert result.call_key == expected.spec.unique_id
    else:
        assert result.call_key == (ast_model.UNIQUEID if has_header else None)


# --------------------------------------------------------------------------- docs


def test_protocol_docs_examples_run(tmp_path: Path) -> None:
    assert run_python_blocks("protocol.md", tmp_path) >= 4


def test_public_names_are_reexported() -> None:
    assert tapievent.parse_tapievent is parse
    assert tapievent.format_tapievent is grammar.format
    assert tapievent.extract_tapievent is extract
    assert tapievent.to_dialplan is to_dialplan
    assert tapievent.TapiEventSyntaxError is TapiEventSyntaxError


# --------------------------------------------------------------------------- fast paths
#
# parse() and extract() answer the common canonical shapes without the
# general parser (grammar._fast_parse, grammar._fast_extract). They must give
# exactly what the general code gives, for every text and every message.

# Pieces that sit on every boundary the fast path draws: blanks, tabs, case,
# the spec's special characters, control and non-ASCII characters.
_TRICKY = st.sampled_from(
    [
        "",
        " ",
        "  ",
        "\t",
        "~",
        "!",
        "&",
        "[",
        "]",
        "x",
        "Local/bob",
        "1795669868.17",
        "\xe9",
        "\xa0",
        "\x85",
        "\x7f",
        "\x00",
        "\u2028",
        "0x1F",
        "12",
        "set",
        "callerid",
    ]
)
_PRINTABLE_ASCII = st.characters(min_codepoint=0x21, max_codepoint=0x7E)
_IDS = st.one_of(
    st.sampled_from(["1795669868.17", "tapi-out-0001", "1.5", "a~b", "x!"]),
    st.text(alphabet=_PRINTABLE_ASCII, min_size=1, max_size=6),
    st.sampled_from(["!x", "~x", "", "a b", "\xe9", "a]", "a&b", "\x7f"]),
)
_LINE_NAMES = st.one_of(
    st.sampled_from(["Local/bob", "Local/bobbett", "sip/bob", "line_1", "PJSIP/201", "a~!"]),
    st.text(alphabet=_PRINTABLE_ASCII, min_size=1, max_size=6),
    st.sampled_from(["!a", "~a", "", "a\tb", "M\xfcller", "a[", "\x85"]) | st.text(max_size=4),
)
_STATE_WORDS = st.one_of(
    st.sampled_from([f"LINECALLSTATE_{name}" for name in LineCallState.__members__]),
    st.sampled_from(
        [
            "LINECALLSTATE_HANGUP",
            "linecallstate_idle",
            "LINECALLSTATE_",
            "IDLE",
            "LINECALLSTATE_FOO",
            "LINECALLSTATE_idle",
        ]
    ),
)
_MODE_WORDS = st.one_of(
    st.just(""),
    st.sampled_from(
        [
            "BUSY",
            "NOANSWER",
            "busy",
            "LINEDISCONNECTMODE_BUSY",
            "LINEBUSYMODE_STATION",
            "LINECONNECTEDMODE_ACTIVE",
            "0x10",
            "0X1f",
            "16",
            "4294967296",
            "0xFFFFFFFF",
            "00000000000000016",
            "x",
        ]
    ),
    st.from_regex(r"[0-9A-Za-z_]{1,6}", fullmatch=True),
)


def _joint(canonical: str, *flaws: str) -> st.SearchStrategy[str]:
    # Mostly the canonical separator, sometimes a flaw.
    return st.sampled_from([canonical] * 24 + list(flaws))


@st.composite
def _near_canonical_texts(draw: st.DrawFn) -> str:
    """Texts built like real ones, with a chance of a flaw at every joint."""
    blank = _joint(" ", "  ", "\t", "", " \t")
    spec = ""
    if draw(st.booleans()):
        targets = []
        if draw(st.booleans()):
            targets.append("~" + draw(_IDS))
        for _ in range(draw(st.integers(0, 3))):
            targets.append(draw(_joint("", "!", "!", "!!", "~")) + draw(_LINE_NAMES))
        spec = draw(_joint("[", "", "[[")) + "&".join(targets) + draw(_joint("]", "", "]]"))
        spec += draw(blank)
    kind = draw(st.sampled_from(["newcall", "callstate", "callerid", "other"]))
    if kind == "newcall":
        keyword = draw(_joint("LINE_NEWCALL", "line_newcall", "LINE_NEWCALLX"))
        command = keyword + draw(blank) + draw(_LINE_NAMES)
        command += draw(_joint("", " x", "\t"))
    elif kind == "callstate":
        keyword = draw(_joint("LINE_CALLSTATE", "Line_CallState"))
        command = keyword + draw(blank) + draw(_STATE_WORDS)
        mode = draw(_MODE_WORDS)
        if mode:
            command += draw(blank) + mode
    elif kind == "callerid":
        keyword = draw(
            _joint(
                "SET CALLERID", "SET  CALLERID", "set callerid", "SET\tCALLERID", "SET CALLERIDX"
            )
        )
        rest = draw(
            st.sampled_from(
                ['"Alice Caller" <5550100>', "Smith, Bob <1>", "", "[x]", "M\xfcller", "a\tb"]
            )
            | st.text(max_size=10)
        )
        command = keyword + (draw(blank) + rest if rest else "")
    else:
        command = draw(st.lists(_TRICKY, max_size=5).map("".join))
    return draw(_joint("", " ", "\t")) + spec + command + draw(_joint("", " ", "\t", "\x00"))


def _slow_parse(text: str) -> TapiEvent | tuple[str, int]:
    try:
        return grammar._Parser(text).parse()
    except TapiEventSyntaxError as error:
        return (error.reason, error.column)


def _public_parse(text: str) -> TapiEvent | tuple[str, int]:
    try:
        return parse(text)
    except TapiEventSyntaxError as error:
        return (error.reason, error.column)


@given(_near_canonical_texts() | tapievent_texts())
def test_fast_parse_agrees_with_the_general_parser(text: str) -> None:
    slow = _slow_parse(text)
    fast = grammar._fast_parse(text)
    if fast is not None:
        # The fast path only ever answers with a value, never with an error,
        # and that value passes every check of the model's constructors.
        assert fast == slow
        attrs.validate(fast)
        attrs.validate(fast.spec)
        attrs.validate(fast.command)
    assert _public_parse(text) == slow  # cache or not, fast path or not
    assert _public_parse(text) == slow  # a second time, from the cache when cached


@given(tapi_events())
def test_fast_parse_takes_the_canonical_shapes(event: TapiEvent) -> None:
    # Not a vacuous agreement: canonical text of the three common commands
    # with ASCII names is answered by the fast path.
    text = grammar.format(event)
    plain = text.isascii() and "\t" not in text and not text.startswith("[]")
    common = isinstance(event.command, NewCallCommand | CallStateCommand | HangupCommand)
    if isinstance(event.command, SetCallerIdCommand):
        common = True
    if plain and common:
        assert grammar._fast_parse(text) == event


def test_fast_parse_examples() -> None:
    assert grammar._fast_parse(
        "[~1.17&Local/bob&!Local/bobbett] LINE_CALLSTATE LINECALLSTATE_DISCONNECTED BUSY"
    ) == ev(
        CallStateCommand(S.DISCONNECTED, int(LineDisconnectMode.BUSY)),
        TargetSpec("1.17", ("Local/bob",), ("Local/bobbett",)),
    )
    assert grammar._fast_parse('SET CALLERID "Alice Caller" <5550100>') == ev(
        SetCallerIdCommand('"Alice Caller" <5550100>')
    )
    # Each of these is left to the general parser (an error, or a shape the
    # fast path does not try).
    for text in (
        "[a&!a] LINE_NEWCALL b",
        "LINE_CALLSTATE LINECALLSTATE_FOO",
        "[] LINE_NEWCALL a",
        "line_newcall a",
        "LINE_NEWCALL  a",
        " LINE_NEWCALL a",
        "LINE_NEWCALL \xe9",
        "[a&~b] LINE_NEWCALL c",
        "LINE_CALLSTATE LINECALLSTATE_IDLE 0x100000000",
    ):
        assert grammar._fast_parse(text) is None


def test_parse_cache_is_bounded() -> None:
    for n in range(grammar._CACHE_MAX * 2 + 7):
        assert parse(f"LINE_NEWCALL line{n}") == ev(NewCallCommand(f"line{n}"))
        assert len(grammar._EVENTS) <= grammar._CACHE_MAX
        assert len(grammar._FAST_COMMANDS) <= grammar._CACHE_MAX
    long_line = "x" * (grammar._CACHE_TEXT_MAX + 1)
    assert parse(f"LINE_NEWCALL {long_line}") == ev(NewCallCommand(long_line))
    assert f"LINE_NEWCALL {long_line}" not in grammar._EVENTS
    # Texts naming a call are not kept: they never come back.
    parse("[~9.9] LINE_CALLSTATE LINECALLSTATE_IDLE")
    assert "[~9.9] LINE_CALLSTATE LINECALLSTATE_IDLE" not in grammar._EVENTS


_HEADER_NAMES = st.sampled_from(
    [
        "Event",
        "Privilege",
        "Channel",
        "Uniqueid",
        "UniqueID",
        " Uniqueid",
        "uniqueid ",
        "DestUniqueid",
        "Linkedid",
        "UserEvent",
        "userevent",
        "TAPIEVENT",
        "tapievent",
        "TAPIEVENT x",
        "TAPIEVENTX",
        " TAPIEVENT",
        "",
        "Caf\xe9",
        "ActionID",
    ]
)


@st.composite
def _userevent_messages(draw: st.DrawFn) -> Message:
    """Asterisk 10+ UserEvents, mostly in real layouts, with every kind of oddity."""
    uid = draw(st.sampled_from(["1795669868.17", " 1.5 ", "", "<null>"]))
    snapshot = [("Privilege", "user,all"), ("Channel", "Local/300@inbound-rg-00000008;2")]
    layout = draw(st.sampled_from(["12+", "10/11", "none", "random"]))
    if layout == "12+":
        headers = [*snapshot, ("Uniqueid", uid), ("Linkedid", "1.1"), ("UserEvent", "TAPI")]
    elif layout == "10/11":
        headers = [*snapshot, ("UserEvent", "TAPI"), ("Uniqueid", uid)]
    elif layout == "none":
        headers = [*snapshot, ("UserEvent", draw(st.sampled_from(["TAPI", " tapi", "TAPI|x"])))]
    else:
        headers = draw(
            st.lists(st.tuples(_HEADER_NAMES, st.sampled_from(["TAPI", uid, "x", ""])), max_size=6)
        )
    body = [("TAPIEVENT", draw(_near_canonical_texts()))]
    body += draw(st.lists(st.tuples(_HEADER_NAMES, _near_canonical_texts()), max_size=2))
    headers += body
    if draw(st.booleans()):
        headers.insert(draw(st.integers(0, len(headers))), (draw(_HEADER_NAMES), uid))
    return Message((("Event", "UserEvent"), *headers))


@given(_userevent_messages() | _tapi_shaped)
def test_fast_extract_agrees_with_the_general_extractor(message: Message) -> None:
    slow = grammar._general_extract(message, "UserEvent")
    fast = grammar._fast_extract(message)
    if fast is not False:
        assert fast == slow
        if isinstance(fast, ExtractedEvent):
            assert fast.frame is message and fast.diagnostics == ()
    assert extract(message) == slow


def test_fast_extract_takes_the_real_layouts() -> None:
    # Every UserEvent of the Asterisk 22 corpus is answered by the fast path.
    seen = 0
    for path in sorted(DATA.glob("*.ami")):
        for message in _frames(path):
            if message.get("Event") == "UserEvent" and message.get("UserEvent") == "TAPI":
                assert grammar._fast_extract(message) == grammar._general_extract(
                    message, "UserEvent"
                )
                assert grammar._fast_extract(message) is not False
                seen += 1
    assert seen >= 40
