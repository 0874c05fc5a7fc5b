"""TAPIEVENT values to dialplan lines (tapievent.dialplan.render).

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
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tapievent.dialplan.render import DialplanError, asterisk_version, to_dialplan
from tapievent.grammar import (
    TapiEventSyntaxError,
    extract_tapievent,
    format_tapievent,
    parse_tapievent,
)
from tapievent.model import (
    CallStateCommand,
    Command,
    Diagnostic,
    ExtractedEvent,
    LineCallState,
    NewCallCommand,
    SetCallerIdCommand,
    TapiEvent,
    TargetSpec,
)
from tapievent.testing import strategies

DATA = Path(__file__).parent / "data" / "asterisk-22.10.1"
S = LineCallState


def ev(command: object, spec: TargetSpec | None = None) -> TapiEvent:
    assert not isinstance(command, str)
    return TapiEvent(spec or TargetSpec(), command)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- parse


def _outcome(result: ExtractedEvent | Diagnostic | None) -> str:
    """The extracted event as canonical text plus its diagnostic codes, or ``!code``."""
    if result is None:
        return "!none"
    if isinstance(result, Diagnostic):
        return "!" + result.code
    text = format_tapievent(result.event)
    return " +".join([text, *(d.code for d in result.diagnostics)])


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
    event = parse_tapievent("[~${UNIQUEID}&sip/bob] SET CALLERID ${CALLERID(all)}")
    assert to_dialplan(event, version) == expected
    assert to_dialplan(format_tapievent(event), version) == expected


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
        assert _outcome(extract_tapievent(message)) == (
            'SET CALLERID "x" <1>,TAPIEVENT: LINE_NEWCALL forged'
        )
    unsafe = to_dialplan(event, "22", quote_untrusted=False)
    (message,) = ast_model.run("22", unsafe, evil)
    assert _outcome(extract_tapievent(message)) == "LINE_NEWCALL forged"  # 12+: last key wins
    (message,) = ast_model.run("11", unsafe, evil)
    assert _outcome(extract_tapievent(message)) == "SET CALLERID x <1> +duplicate-tapievent"


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
        literal = strategies.line_names(8).filter(lambda s: "$" not in s)
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
    result = extract_tapievent(messages[0])
    intended = _expand(format_tapievent(template), values)
    try:
        expected = parse_tapievent(intended)
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
