"""tapievent.dialplan.lint against a corpus of real, seed and deliberately bad dialplans.

Every expectation is the exact list of (line, column, severity, code), so a
check that starts pointing elsewhere, or stops firing, fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tapievent.dialplan._args import iter_refs, split_args, split_first
from tapievent.dialplan.lint import CODES, lint, lint_paths
from tapievent.dialplan.render import asterisk_version

HERE = Path(__file__).parent
CORPUS = HERE / "dialplans"
REAL = HERE / "data" / "asterisk-22.10.1" / "extensions.conf"

Row = tuple[int, int, str, str]


def findings(path: Path, version: str) -> list[Row]:
    return [
        (f.line, f.column, f.severity, f.code)
        for f in lint_paths([str(path)], asterisk_version(version))
    ]


E, W = "error", "warning"

# The seed dialplan, verbatim from the original AstTapi description. On the
# 1.2 it was written for, only what Asterisk itself objects to: no [context]
# and three lines that re-use a taken priority (Asterisk ignores them).
SEED_12: list[Row] = [
    (1, 1, E, "no-context"),
    (3, 12, E, "duplicate-priority"),
    (4, 12, E, "duplicate-priority"),
    (7, 12, E, "duplicate-priority"),
    (13, 20, E, "duplicate-priority"),
]
# On 22 every pipe is wrong, M() is gone and ${CALLERID} expands to nothing.
SEED_22: list[Row] = [
    (1, 1, E, "no-context"),
    (1, 40, E, "pipe-separator"),
    (1, 42, E, "macro-removed"),
    (2, 28, E, "pipe-separator"),
    (3, 12, E, "duplicate-priority"),
    (3, 28, E, "pipe-separator"),
    (4, 12, E, "duplicate-priority"),
    (4, 28, E, "pipe-separator"),
    (5, 28, E, "pipe-separator"),
    (5, 53, E, "bare-callerid"),
    (6, 31, E, "macro-removed"),
    (7, 12, E, "duplicate-priority"),
    (11, 28, E, "pipe-separator"),
    (12, 36, E, "pipe-separator"),
    (13, 20, E, "duplicate-priority"),
    (13, 56, E, "pipe-separator"),
    (13, 58, E, "macro-removed"),
]
# The dialplan the Asterisk 22.10.1 captures were recorded with. Scenarios
# 1-6 name 'sip/bob' in the hook but register 'line_1' (as the original
# examples did), scenario 3 has no h extension, scenario 4 is deliberately
# wrong in every way the README lists; only 4c (QUOTE) and scenario 7 are clean.
REAL_22: list[Row] = [
    (12, 50, W, "unregistered-line"),
    (13, 49, W, "unregistered-line"),
    (20, 51, E, "unguarded-caller-event"),
    (20, 51, E, "unquoted-caller-value"),
    (26, 51, E, "unguarded-caller-event"),
    (26, 51, E, "unquoted-caller-value"),
    (32, 51, E, "unguarded-caller-event"),
    (32, 51, E, "unquoted-caller-value"),
    (53, 12, W, "missing-idle"),
    (54, 51, E, "unguarded-caller-event"),
    (54, 51, E, "unquoted-caller-value"),
    (63, 51, E, "unguarded-caller-event"),
    (63, 51, E, "unquoted-caller-value"),
    (65, 51, E, "unguarded-caller-event"),
    (65, 51, E, "unquoted-caller-value"),
    (65, 68, E, "unquoted-caller-value"),
    (67, 59, E, "unguarded-caller-event"),
    (70, 51, E, "unguarded-caller-event"),
    (70, 51, E, "unquoted-caller-value"),
    (72, 52, E, "unguarded-caller-event"),
    (72, 52, E, "unquoted-caller-value"),
    (72, 69, E, "unquoted-caller-value"),
    (74, 38, W, "unknown-command"),
    (74, 44, E, "duplicate-tapievent"),
    (75, 12, W, "empty-body"),
    (77, 26, E, "pipe-separator"),
    (136, 59, E, "unguarded-caller-event"),
]

CASES: list[tuple[str, str, list[Row]]] = [
    ("seed.conf", "1.2", SEED_12),
    ("seed.conf", "22", SEED_22),
    ("tapi-syntax.conf", "22", [(4, 55, E, "tapi-syntax")]),
    ("missing-colon.conf", "11", [(4, 38, W, "missing-colon")]),
    ("missing-colon.conf", "22", [(4, 38, E, "missing-colon")]),
    ("pipe-separator.conf", "22", [(3, 28, E, "pipe-separator"), (4, 28, E, "pipe-separator")]),
    ("pipe-separator.conf", "1.2", []),
    ("macro.conf", "1.4", [(3, 40, E, "missing-uniqueid"), (6, 40, E, "missing-uniqueid")]),
    ("macro.conf", "20", [(4, 33, W, "macro-deprecated"), (5, 14, W, "macro-deprecated")]),
    ("macro.conf", "21", [(4, 33, E, "macro-removed"), (5, 14, E, "macro-removed")]),
    ("gosub-unavailable.conf", "1.4", [(4, 30, E, "gosub-unavailable")]),
    ("gosub-unavailable.conf", "1.6", []),
    ("bare-callerid.conf", "1.2", []),
    ("bare-callerid.conf", "22", [(4, 53, E, "bare-callerid"), (4, 68, E, "bare-callerid")]),
    (
        "unquoted-caller-value.conf",
        "22",
        [
            (4, 53, E, "unguarded-caller-event"),
            (4, 53, E, "unquoted-caller-value"),
            (4, 70, E, "unquoted-caller-value"),
            (5, 54, E, "unguarded-caller-event"),
            (5, 54, E, "unquoted-caller-value"),
            (6, 61, E, "unguarded-caller-event"),
        ],
    ),
    # 11 has no JSON UserEvent, but TryExec expands twice on every version.
    (
        "unguarded-caller-event.conf",
        "11",
        [(6, 69, E, "tryexec-expands-twice"), (9, 14, E, "unquoted-caller-value")],
    ),
    (
        "unguarded-caller-event.conf",
        "22",
        [
            (5, 61, E, "unguarded-caller-event"),
            (6, 69, E, "tryexec-expands-twice"),
            (9, 14, E, "unquoted-caller-value"),
        ],
    ),
    ("missing-idle.conf", "10", [(5, 14, W, "missing-idle"), (14, 14, W, "missing-idle")]),
    ("missing-idle.conf", "11", [(5, 14, W, "missing-idle")]),
    (
        "missing-uniqueid.conf",
        "1.8",
        [(3, 40, E, "missing-uniqueid"), (6, 41, E, "missing-uniqueid")],
    ),
    ("missing-uniqueid.conf", "1.2", []),
    ("missing-uniqueid.conf", "10", []),
    (
        "unregistered-line.conf",
        "22",
        [(8, 50, W, "unregistered-line"), (9, 51, W, "unregistered-line")],
    ),
    (
        "duplicate-priority.conf",
        "22",
        [(4, 12, E, "duplicate-priority"), (5, 12, E, "duplicate-priority")],
    ),
    (
        "body-shapes.conf",
        "22",
        [
            (4, 78, E, "duplicate-tapievent"),
            (5, 14, W, "empty-body"),
            (6, 40, W, "unknown-command"),
        ],
    ),
]


@pytest.mark.parametrize(("name", "version", "expected"), CASES)
def test_corpus_gives_exactly_the_expected_findings(
    name: str, version: str, expected: list[Row]
) -> None:
    assert findings(CORPUS / name, version) == expected


def test_real_asterisk_22_dialplan() -> None:
    assert findings(REAL, "22") == REAL_22


def test_every_code_is_exercised_by_the_corpus() -> None:
    seen = {row[3] for _, _, rows in CASES for row in rows} | {row[3] for row in REAL_22}
    assert set(CODES) <= seen


def test_messages_say_what_to_do() -> None:
    by_code: dict[str, str] = {}
    for name in ("seed.conf", "tapi-syntax.conf", "unquoted-caller-value.conf"):
        for f in lint_paths([str(CORPUS / name)], (22,)):
            by_code[f.code] = by_code.get(f.code, "") + f.message + "\n"
    assert "write UserEvent(TAPI,...)" in by_code["pipe-separator"]
    assert "write Dial(devices,timeout,options)" in by_code["pipe-separator"]
    assert "${CALLERID(all)}" in by_code["bare-callerid"]
    assert "U()" in by_code["macro-removed"]
    assert "${QUOTE(${CALLERID(num)})}" in by_code["unquoted-caller-value"]
    assert "LINECALLSTATE_OFFERING" in by_code["tapi-syntax"]
    (finding,) = lint_paths([str(CORPUS / "tapi-syntax.conf")], (22,))
    assert finding.format().startswith(f"{CORPUS / 'tapi-syntax.conf'}:4:55: error: tapi-syntax: ")


def test_variables_the_grammar_cannot_judge_are_not_errors() -> None:
    # ${DIALSTATUS} becomes BUSY, NOANSWER... at run time, which the grammar accepts.
    text = (
        "[c]\nexten => s,1,UserEvent(TAPI,TAPIEVENT: LINE_NEWCALL l)\n"
        "exten => s,n,UserEvent(TAPI,TAPIEVENT: LINE_CALLSTATE LINECALLSTATE_DISCONNECTED "
        "${DIALSTATUS})\n"
        "exten => h,1,UserEvent(TAPI,TAPIEVENT: LINE_CALLSTATE LINECALLSTATE_IDLE)\n"
    )
    assert lint(text, (22,)) == []
    # ...but text around a variable is still checked.
    bad = text.replace("LINE_CALLSTATE LINECALLSTATE_DISCONNECTED", "LINE_CALLSTATE DISCONNECTED")
    assert [f.code for f in lint(bad, (22,))] == ["tapi-syntax"]


def test_computed_newcall_lines_switch_the_line_check_off() -> None:
    text = (
        "[c]\nexten => s,1,UserEvent(TAPI,TAPIEVENT: LINE_NEWCALL ${ARG3})\n"
        "exten => s,n,UserEvent(TAPI,TAPIEVENT: [sip/bob] LINE_CALLSTATE LINECALLSTATE_OFFERING)\n"
        "exten => h,1,UserEvent(TAPI,TAPIEVENT: LINE_CALLSTATE LINECALLSTATE_IDLE)\n"
    )
    assert lint(text, (22,)) == []


def test_idle_from_an_included_context_counts() -> None:
    text = (
        "[c]\ninclude => common\nexten => s,1,UserEvent(TAPI,TAPIEVENT: LINE_NEWCALL l)\n"
        "[common]\nexten => h,1,UserEvent(TAPI,TAPIEVENT: LINE_CALLSTATE LINECALLSTATE_IDLE)\n"
    )
    assert lint(text, (22,)) == []


def test_several_files_share_their_newcalls(tmp_path: Path) -> None:
    (tmp_path / "a.conf").write_text(
        "[a]\nexten => s,1,UserEvent(TAPI,TAPIEVENT: LINE_NEWCALL PJSIP/bob)\n"
        "exten => h,1,UserEvent(TAPI,TAPIEVENT: LINE_CALLSTATE LINECALLSTATE_IDLE)\n"
    )
    (tmp_path / "b.conf").write_text(
        "[b]\nexten => s,1,UserEvent(TAPI,TAPIEVENT: [~${ARG1}&PJSIP/bob] "
        "LINE_CALLSTATE LINECALLSTATE_CONNECTED)\n"
    )
    assert lint_paths([str(tmp_path / "a.conf"), str(tmp_path / "b.conf")], (22,)) == []
    # Alone, the hook file addresses a line nothing registers.
    assert [f.code for f in lint_paths([str(tmp_path / "b.conf")], (22,))] == ["unregistered-line"]
    (tmp_path / "c.conf").write_text(
        "[c]\nexten => s,1,UserEvent(TAPI,TAPIEVENT: LINE_NEWCALL PJSIP/alice)\n"
        "exten => h,1,UserEvent(TAPI,TAPIEVENT: LINE_CALLSTATE LINECALLSTATE_IDLE)\n"
    )
    paths = [str(tmp_path / "b.conf"), str(tmp_path / "c.conf")]
    assert [f.code for f in lint_paths(paths, (22,))] == ["unregistered-line"]


# --------------------------------------------------------------------------- argument splitting


def test_split_args_follows_each_versions_rules() -> None:
    data = 'TAPI,TAPIEVENT: [~${A}&x] "a,b" \\,c,(d,e),[f,g]|h'
    got = {v: [a.text for a in split_args(data, v)] for v in [(1, 2), (1, 4), (1, 6), (1, 8)]}
    assert got == {
        (1, 2): ["TAPI", 'TAPIEVENT: [~${A}&x] "a', 'b" ,c', "(d|e)", "[f", "g]", "h"],
        (1, 4): ["TAPI", "TAPIEVENT: [~${A}&x] a|b ,c", "(d|e)", "[f", "g]", "h"],
        (1, 6): ["TAPI", "TAPIEVENT: [~${A}&x] a,b ,c", "(d,e)", "[f", "g]|h"],
        (1, 8): ["TAPI", "TAPIEVENT: [~${A}&x] a,b ,c", "(d,e)", "[f,g]|h"],
    }
    # Commas inside a variable reference are not the dialplan's: they stay.
    assert [a.text for a in split_args("x,${CUT(A,-,1)},y", (22,))] == ["x", "${CUT(A,-,1)}", "y"]
    assert [a.text for a in split_first("TAPI|TAPIEVENT: a|b,c", (1, 2))] == [
        "TAPI",
        "TAPIEVENT: a|b|c",
    ]


def test_iter_refs_knows_what_wraps_a_reference() -> None:
    refs = list(
        iter_refs("${QUOTE(${CALLERID(all)})} ${CALLERID} ${STRREPLACE(CALLERID(name),a,b)}")
    )
    assert [(r.offset, r.name, r.is_function, r.wrapped_by) for r in refs] == [
        (0, "QUOTE", True, ()),
        (8, "CALLERID", True, ("QUOTE",)),
        (27, "CALLERID", False, ()),
        (39, "STRREPLACE", True, ()),
        (52, "CALLERID", True, ("STRREPLACE",)),
    ]


versions = st.sampled_from([(1, 2), (1, 4), (1, 6), (1, 8), (11,), (22,)])
arg_text = st.lists(st.sampled_from([*'ab,|"\\()[]${}: ', "${X}", "${A(b,c)}"])).map("".join)


@given(arg_text, versions)
def test_every_split_character_maps_back_to_itself(data: str, version: tuple[int, ...]) -> None:
    for arg in split_args(data, version):
        assert len(arg.offsets) == len(arg.text)
        for index, ch in enumerate(arg.text):
            original = data[arg.offset_of(index)]
            # 1.2/1.4 turn a separating ',' into '|' when loading the file.
            assert ch == original or (ch == "|" and original == ",")


@given(st.text(max_size=200), versions)
def test_lint_never_raises(text: str, version: tuple[int, ...]) -> None:
    wrapped = f"[c]\nexten => s,1,UserEvent(TAPI,TAPIEVENT: {text})\nexten => s,n,Dial({text})\n"
    for finding in lint(wrapped, version):
        assert finding.line >= 1 and finding.column >= 1
        assert finding.code in CODES or finding.code
