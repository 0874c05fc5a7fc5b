"""The TAPI model: constants pinned to tapi.h, value types that refuse the unwritable.

The constant tables are read from the research notes copied into the suite
(tests/data/spec/tapi-constants.md, section 1), so a typo in either the
enums or the notes fails here, in both directions: every name the notes
give for a modelled family exists with that number, and every member of a
modelled family is in the notes.
"""

from __future__ import annotations

import enum
import re
from pathlib import Path

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tapievent import model
from tapievent.model import (
    CallerId,
    CallStateCommand,
    HangupCommand,
    LineBusyMode,
    LineCallState,
    LineConnectedMode,
    LineDisconnectMode,
    LineError,
    NewCallCommand,
    SetCallerIdCommand,
    TapiEvent,
    TapiMessage,
    TargetSpec,
    UnknownCommand,
)

SPEC = Path(__file__).parent / "data" / "spec" / "tapi-constants.md"

# Constant families the notes list and the model covers, by tapi.h prefix.
FAMILIES: dict[str, type[enum.Enum]] = {
    prefix: family for family, prefix in model.CONSTANT_PREFIXES.items() if prefix
}

_VALUE = r"(?:0x[0-9A-Fa-f]+|\d+)"
_PAIR = re.compile(rf"\b([A-Z][A-Z0-9_]*?)\s+({_VALUE})\b")


def _section_one() -> str:
    text = SPEC.read_text(encoding="utf-8")
    return text[text.index("## 1. ") : text.index("## 2. ")]


def _clean(text: str) -> str:
    return text.replace("*", "").replace("`", "")


def doc_constants() -> dict[str, int]:
    """Every ``PREFIX_NAME -> value`` the notes' section 1 states, for modelled prefixes.

    Three shapes occur: grid tables under a heading naming the family
    (``### 1.3 LINEDISCONNECTMODE_`` then ``| NORMAL 0x1 | ...``), bullets
    (``* LINECALLORIGIN_: OUTBOUND 0x1, ...``, possibly continued on the
    next lines and several per line separated by ``·``), and two-column
    tables of full names (messages, LINEERR_).
    """
    found: dict[str, int] = {}

    def add(name: str, value: str) -> None:
        number = int(value, 0)
        assert found.setdefault(name, number) == number, f"{name} given twice"

    section = _section_one()
    # Join bullet continuation lines (indented by two spaces) to their bullet.
    section = re.sub(r"\n  (?=\S)", " ", section)
    heading_family: str | None = None
    for raw in section.splitlines():
        line = _clean(raw).strip()
        if line.startswith("###"):
            match = re.search(r"\b([A-Z]+_)(?:\s|$)", line)
            heading_family = match.group(1) if match and match.group(1) in FAMILIES else None
            continue
        if line.startswith("|") and not set(line) <= set("|- "):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if re.fullmatch(r"[A-Z][A-Z_ /.]*", cells[0]) and len(cells) >= 2:
                _two_column_row(cells[0], cells[1], add)
            elif heading_family is not None:
                for cell in cells:
                    for name, value in _PAIR.findall(cell):
                        add(heading_family + name, value)
            continue
        if raw.startswith("* "):
            for segment in line.split("·"):
                match = re.match(r".*?\b([A-Z]+_)(?:\s*\([^)]*\))?:?\s+(.*)$", segment)
                if match and match.group(1) in FAMILIES:
                    for name, value in _PAIR.findall(match.group(2)):
                        add(match.group(1) + name, value)
    return found


def _two_column_row(names: str, values: str, add: object) -> None:
    assert callable(add)
    values = re.sub(r"\(0x[0-9A-Fa-f]+\)", "", values).strip()
    if ".." in names:  # LINE_AGENTSESSIONSTATUS..LINE_DEVSPECIFICEX | 27..34
        first, last = names.split("..")
        low, high = values.split("..")
        add(first, low)
        add(last, high)
        return
    name_list = [n.strip() for n in names.split("/")]
    value_list = [v.strip() for v in values.split("/")]
    if len(name_list) != len(value_list) or not all(re.fullmatch(_VALUE, v) for v in value_list):
        return
    # "PHONE_BUTTON / CLOSE / DEVSPECIFIC": later names share the first's prefix.
    prefix = name_list[0].split("_")[0] + "_"
    for name, value in zip(name_list, value_list, strict=True):
        add(name if "_" in name else prefix + name, value)


def model_constants() -> dict[str, int]:
    out: dict[str, int] = {}
    for family, prefix in model.CONSTANT_PREFIXES.items():
        for name, member in family.__members__.items():
            out[prefix + name] = int(member.value)
    return out


def _modelled(name: str) -> bool:
    if name == "TSPI_MESSAGE_BASE":
        return False
    if name.startswith(("LINE_", "PHONE_")):
        return True
    return any(name.startswith(prefix) for prefix in FAMILIES)


def test_the_notes_yield_every_family_we_model() -> None:
    doc = doc_constants()
    families_in_doc = {p for p in FAMILIES if any(n.startswith(p) for n in doc)}
    assert families_in_doc == set(FAMILIES)
    # Spot checks that the reader really read the tables.
    assert doc["LINE_NEWCALL"] == 500
    assert doc["LINECALLSTATE_UNKNOWN"] == 0x8000
    assert doc["LINEDISCONNECTMODE_CANCELLED"] == 0x80000
    assert doc["LINECALLINFOSTATE_CALLDATA"] == 0x40000000
    assert doc["LINEDEVSTATE_REMOVED"] == 0x1000000
    assert doc["LINEERR_SERVICE_NOT_RUNNING"] == 0x80000061
    assert doc["PHONE_STATE"] == 18
    assert doc["LINE_DEVSPECIFICEX"] == 34


def test_every_documented_constant_exists_with_its_number() -> None:
    ours = model_constants()
    doc = {n: v for n, v in doc_constants().items() if _modelled(n)}
    missing = {n: v for n, v in doc.items() if ours.get(n) != v}
    assert missing == {}


def test_every_modelled_constant_is_documented() -> None:
    doc = doc_constants()
    # The TAPI 3.x message ids 28..33 sit inside the notes' "27..34" range row.
    ranged = {n for n, v in model_constants().items() if n.startswith("LINE_") and 27 < v < 34}
    undocumented = {
        n: v for n, v in model_constants().items() if n not in ranged and doc.get(n) != v
    }
    assert undocumented == {}


def test_message_ids_are_the_tspi_numbers() -> None:
    assert TapiMessage.LINE_NEWCALL == model.TSPI_MESSAGE_BASE == 500
    assert model.LineMessage is TapiMessage
    assert (TapiMessage.LINE_CALLSTATE, TapiMessage.LINE_CALLINFO) == (2, 1)
    assert int(TapiMessage.LINE_LINEDEVSTATE) == 8


def test_lineerr_values_are_unsigned_and_convert_to_long() -> None:
    assert int(LineError.OPERATIONFAILED) == 0x80000048
    assert LineError.OPERATIONFAILED.as_long() == 0x80000048 - 2**32
    assert all(-(2**31) <= e.as_long() < 0 for e in LineError)


def test_every_call_state_is_a_single_bit_and_there_are_sixteen() -> None:
    values = [m.value for m in LineCallState.__members__.values()]
    assert len(values) == 16
    assert all(v & (v - 1) == 0 for v in values)


def test_mode_families_per_state() -> None:
    assert model.mode_family(LineCallState.DISCONNECTED) is LineDisconnectMode
    assert model.mode_family(LineCallState.CONNECTED) is LineConnectedMode
    assert model.mode_family(LineCallState.BUSY) is LineBusyMode
    assert model.mode_family(LineCallState.IDLE) is None
    assert set(model.CALL_STATE_MODE_FAMILIES) == {
        LineCallState.OFFERING,
        LineCallState.DIALTONE,
        LineCallState.BUSY,
        LineCallState.SPECIALINFO,
        LineCallState.CONNECTED,
        LineCallState.DISCONNECTED,
    }


def test_constant_names_and_lookup() -> None:
    assert model.constant_name(LineDisconnectMode.BUSY) == "LINEDISCONNECTMODE_BUSY"
    assert model.constant_name(TapiMessage.LINE_NEWCALL) == "LINE_NEWCALL"
    assert model.lookup_constant(LineBusyMode, "linebusymode_trunk") is LineBusyMode.TRUNK
    assert model.lookup_constant(LineBusyMode, "TRUNK") is None
    assert model.lookup_constant(LineBusyMode, "LINEDISCONNECTMODE_BUSY") is None
    with pytest.raises(ValueError, match="single"):
        model.constant_name(LineDisconnectMode.BUSY | LineDisconnectMode.NORMAL)


# --------------------------------------------------------------------------- caller id


@pytest.mark.parametrize(
    ("text", "name", "number"),
    [
        ('"Alice Caller" <5550100>', "Alice Caller", "5550100"),
        ("Alice Caller <5550100>", "Alice Caller", "5550100"),
        ('"Smith, Bob" <5551234>', "Smith, Bob", "5551234"),
        ("Smith, Bob <5551234>", "Smith, Bob", "5551234"),  # quotes removed by 1.6+ splitting
        ("<5550100>", None, "5550100"),
        ("5550100", None, "5550100"),
        ("(555) 010-0100", None, "5550100100"),  # ast_shrink_phone_number() punctuation
        ("555.0100", None, "5550100"),
        ("5550100.", "5550100.", None),  # a trailing '.' is kept, so it is no number
        ("+49 30 1234", None, "+49301234"),
        ("*86#", None, "*86#"),
        ("Bob", "Bob", None),
        ('"Bob"', "Bob", None),
        ("  Bob  ", "Bob", None),
        ("555 1234 x", "555 1234 x", None),  # not all phone characters: a name
        ("", None, None),
        ('"" <>', None, None),
        ('"O\\"Neil \\\\ Jr" <1>', 'O"Neil \\ Jr', "1"),  # ${QUOTE()}-style escapes
        ('"Bob <home>" <1>', "Bob <home>", "1"),  # the last '<' starts the number
        ("<unknown>", None, "unknown"),
        ('"unclosed <1>', "unclosed", "1"),
    ],
)
def test_callerid_parse_like_asterisk(text: str, name: str | None, number: str | None) -> None:
    assert CallerId.parse(text) == CallerId(name, number)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (CallerId("Alice", "100"), '"Alice" <100>'),
        (CallerId(None, "100"), "100"),
        (CallerId(None, "1-00"), "<1-00>"),
        (CallerId("Bob", None), '"Bob"'),
        (CallerId("a<b", None), '"a<b" <>'),
        (CallerId('say "hi"', None), '"say \\"hi\\""'),
        (CallerId(), ""),
    ],
)
def test_callerid_format_is_canonical(value: CallerId, text: str) -> None:
    assert str(value) == value.format() == text
    assert CallerId.parse(text) == value


def test_empty_callerid_parts_mean_absent() -> None:
    assert CallerId("", "") == CallerId()


_callerid_text = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\r\n\0"), max_size=30
)


@given(
    st.builds(
        CallerId,
        st.none() | _callerid_text,
        st.none() | _callerid_text.filter(lambda s: "<" not in s and ">" not in s),
    )
)
def test_callerid_round_trip(value: CallerId) -> None:
    assert CallerId.parse(value.format()) == value


@given(st.text(max_size=60))
def test_callerid_parse_accepts_any_text(text: str) -> None:
    value = CallerId.parse(text)
    assert CallerId.parse(value.format()) == value


# --------------------------------------------------------------------------- value validation


@pytest.mark.parametrize(
    "build",
    [
        lambda: TargetSpec(include=("",)),
        lambda: TargetSpec(include=("a b",)),
        lambda: TargetSpec(include=("a&b",)),
        lambda: TargetSpec(exclude=("x]",)),
        lambda: TargetSpec(include=("~a",)),
        lambda: TargetSpec(include=("!a",)),
        lambda: TargetSpec(unique_id=""),
        lambda: TargetSpec(unique_id="1.2\n"),
        lambda: TargetSpec(include=("a",), exclude=("a",)),
        lambda: NewCallCommand("line 1"),
        lambda: NewCallCommand(""),
        lambda: CallStateCommand(LineCallState.IDLE | LineCallState.BUSY),
        lambda: CallStateCommand(LineCallState.DISCONNECTED, -1),
        lambda: CallStateCommand(LineCallState.DISCONNECTED, 2**32),
        lambda: SetCallerIdCommand(" Bob"),
        lambda: SetCallerIdCommand("Bob\r\nEvent: x"),
        lambda: UnknownCommand(""),
        lambda: UnknownCommand("LINE_NEWCALL x"),
        lambda: UnknownCommand("set  callerid x"),
        lambda: UnknownCommand("[x] FOO"),
        lambda: UnknownCommand("FOO "),
    ],
)
def test_values_the_grammar_cannot_write_are_refused(build: object) -> None:
    assert callable(build)
    with pytest.raises(ValueError):
        build()


def test_type_errors_name_the_field() -> None:
    with pytest.raises(TypeError, match="include"):
        TargetSpec(include=["a"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="mode"):
        CallStateCommand(LineCallState.IDLE, True)
    with pytest.raises(TypeError):
        TapiEvent(TargetSpec(), "LINE_NEWCALL a")  # type: ignore[arg-type]


def test_valid_values_build() -> None:
    spec = TargetSpec("1795667804.1", ("sip/bob",), ("Local/bobbett",))
    assert not spec.is_empty and TargetSpec().is_empty
    assert UnknownCommand("SET  FOO  bar").word == "SET"
    assert SetCallerIdCommand('"Alice" <100>').caller_id() == CallerId("Alice", "100")
    assert CallStateCommand(LineCallState.DISCONNECTED, LineDisconnectMode.BUSY).mode == 0x20
    assert attrs.evolve(spec, unique_id=None).unique_id is None
    assert HangupCommand() == HangupCommand()
