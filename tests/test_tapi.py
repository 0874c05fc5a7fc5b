"""tapi.h constants (tapievent._tapi), pinned to the numbers of tapi.h and tspi.h.

The constant tables are read from the research notes copied into the suite
(tests/data/spec/tapi-constants.md, section 1), so a typo in either the
enums or the notes fails here, in both directions: every name the notes
give for a modelled family exists with that number, and every member of a
modelled family is in the notes.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tapievent import _tapi as tapi
from tapievent._tapi import (
    LineBusyMode,
    LineCallState,
    LineConnectedMode,
    LineDisconnectMode,
    LineError,
    TapiMessage,
)

SPEC = Path(__file__).parent / "data" / "spec" / "tapi-constants.md"

# Constant families the notes list and the model covers, by tapi.h prefix.
FAMILIES: dict[str, type[enum.Enum]] = {
    prefix: family for family, prefix in tapi.CONSTANT_PREFIXES.items() if prefix
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
        elif line.startswith("|") and not set(line) <= set("|- "):
            _table_row(line, heading_family, add)
        elif raw.startswith("* "):
            _bullet(line, add)
    return found


def _table_row(line: str, heading_family: str | None, add: Callable[[str, str], None]) -> None:
    """A two-column row of full names, or a grid row of the family under the heading."""
    cells = [c.strip() for c in line.strip("|").split("|")]
    if re.fullmatch(r"[A-Z][A-Z_ /.]*", cells[0]) and len(cells) >= 2:
        _two_column_row(cells[0], cells[1], add)
    elif heading_family is not None:
        for cell in cells:
            for name, value in _PAIR.findall(cell):
                add(heading_family + name, value)


def _bullet(line: str, add: Callable[[str, str], None]) -> None:
    """``* PREFIX_: NAME value, ...`` segments, several per line separated by ``·``."""
    for segment in line.split("·"):
        match = re.match(r".*?\b([A-Z]+_)(?:\s*\([^)]*\))?:?\s+(.*)$", segment)
        if match and match.group(1) in FAMILIES:
            for name, value in _PAIR.findall(match.group(2)):
                add(match.group(1) + name, value)


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
    for family, prefix in tapi.CONSTANT_PREFIXES.items():
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
    assert TapiMessage.LINE_NEWCALL == tapi.TSPI_MESSAGE_BASE == 500
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
    assert tapi.mode_family(LineCallState.DISCONNECTED) is LineDisconnectMode
    assert tapi.mode_family(LineCallState.CONNECTED) is LineConnectedMode
    assert tapi.mode_family(LineCallState.BUSY) is LineBusyMode
    assert tapi.mode_family(LineCallState.IDLE) is None
    assert set(tapi.CALL_STATE_MODE_FAMILIES) == {
        LineCallState.OFFERING,
        LineCallState.DIALTONE,
        LineCallState.BUSY,
        LineCallState.SPECIALINFO,
        LineCallState.CONNECTED,
        LineCallState.DISCONNECTED,
    }


def test_constant_names_and_lookup() -> None:
    assert tapi.constant_name(LineDisconnectMode.BUSY) == "LINEDISCONNECTMODE_BUSY"
    assert tapi.constant_name(TapiMessage.LINE_NEWCALL) == "LINE_NEWCALL"
    assert tapi.lookup_constant(LineBusyMode, "linebusymode_trunk") is LineBusyMode.TRUNK
    assert tapi.lookup_constant(LineBusyMode, "TRUNK") is None
    assert tapi.lookup_constant(LineBusyMode, "LINEDISCONNECTMODE_BUSY") is None
    with pytest.raises(ValueError, match="single"):
        tapi.constant_name(LineDisconnectMode.BUSY | LineDisconnectMode.NORMAL)
