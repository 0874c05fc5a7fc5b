"""TAPIEVENT text to values and back (tapievent._parse, tapievent._format).

parse_tapievent and format_tapievent against protocol.md sections 1 and 2:
examples, every mode name, the errors with their columns, the canonical
form, and property tests that the two invert each other. Then the fast
path: it must give exactly what the general parser gives, for every text.
"""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tapievent
from tapievent import _parse
from tapievent.grammar import (
    DIALSTATUS_MODES,
    TapiEventSyntaxError,
    format_tapievent,
    parse_tapievent,
)
from tapievent.model import (
    CallStateCommand,
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
from tapievent.testing.strategies import tapi_events, tapievent_texts

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
    assert parse_tapievent(text) == expected


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
        assert parse_tapievent(text.lower()) == ev(CallStateCommand(state, member))
        assert format_tapievent(parse_tapievent(text)) == text


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
        event = parse_tapievent(f"LINE_CALLSTATE LINECALLSTATE_DISCONNECTED {word}")
        assert format_tapievent(event).endswith(" LINEDISCONNECTMODE_" + mode.name)  # type: ignore[operator]


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
        parse_tapievent(text)
    error = info.value
    assert (error.column, error.text) == (column, text)
    assert words in error.reason
    assert str(error) == f"{error.reason} (column {column})"
    assert isinstance(error, ValueError) and isinstance(error, tapievent.ProtocolError)


def test_syntax_error_pickles() -> None:
    import pickle

    with pytest.raises(TapiEventSyntaxError) as info:
        parse_tapievent("[a&&b] X")
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
    assert format_tapievent(event) == text
    assert parse_tapievent(text) == event


@given(tapi_events())
def test_parse_inverts_format(event: TapiEvent) -> None:
    text = format_tapievent(event)
    assert parse_tapievent(text) == event
    assert format_tapievent(parse_tapievent(text)) == text  # canonical text is a fixed point


@given(tapievent_texts())
def test_parse_raises_only_its_own_error(text: str) -> None:
    try:
        event = parse_tapievent(text)
    except TapiEventSyntaxError as error:
        assert 1 <= error.column <= len(text) + 1
        return
    assert parse_tapievent(format_tapievent(event)) == event


# --------------------------------------------------------------------------- fast paths
#
# parse_tapievent() and extract_tapievent() answer the common canonical shapes without the
# general parser (_parse._fast_parse, _extract._fast_extract). They must give
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
        return _parse._Parser(text).parse()
    except TapiEventSyntaxError as error:
        return (error.reason, error.column)


def _public_parse(text: str) -> TapiEvent | tuple[str, int]:
    try:
        return parse_tapievent(text)
    except TapiEventSyntaxError as error:
        return (error.reason, error.column)


@given(_near_canonical_texts() | tapievent_texts())
def test_fast_parse_agrees_with_the_general_parser(text: str) -> None:
    slow = _slow_parse(text)
    fast = _parse._fast_parse(text)
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
    text = format_tapievent(event)
    plain = text.isascii() and "\t" not in text and not text.startswith("[]")
    common = isinstance(event.command, NewCallCommand | CallStateCommand | HangupCommand)
    if isinstance(event.command, SetCallerIdCommand):
        common = True
    if plain and common:
        assert _parse._fast_parse(text) == event


def test_fast_parse_examples() -> None:
    assert _parse._fast_parse(
        "[~1.17&Local/bob&!Local/bobbett] LINE_CALLSTATE LINECALLSTATE_DISCONNECTED BUSY"
    ) == ev(
        CallStateCommand(S.DISCONNECTED, int(LineDisconnectMode.BUSY)),
        TargetSpec("1.17", ("Local/bob",), ("Local/bobbett",)),
    )
    assert _parse._fast_parse('SET CALLERID "Alice Caller" <5550100>') == ev(
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
        assert _parse._fast_parse(text) is None


def test_parse_cache_is_bounded() -> None:
    for n in range(_parse._CACHE_MAX * 2 + 7):
        assert parse_tapievent(f"LINE_NEWCALL line{n}") == ev(NewCallCommand(f"line{n}"))
        assert len(_parse._EVENTS) <= _parse._CACHE_MAX
        assert len(_parse._FAST_COMMANDS) <= _parse._CACHE_MAX
    long_line = "x" * (_parse._CACHE_TEXT_MAX + 1)
    assert parse_tapievent(f"LINE_NEWCALL {long_line}") == ev(NewCallCommand(long_line))
    assert f"LINE_NEWCALL {long_line}" not in _parse._EVENTS
    # Texts naming a call are not kept: they never come back.
    parse_tapievent("[~9.9] LINE_CALLSTATE LINECALLSTATE_IDLE")
    assert "[~9.9] LINE_CALLSTATE LINECALLSTATE_IDLE" not in _parse._EVENTS
