"""tapievent.dialplan.conf reads extensions.conf as Asterisk's config.c + pbx_config.c do."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from tapievent.dialplan.conf import (
    MAX_FILES,
    Dialplan,
    FileLoader,
    IncludeError,
    parse_dialplan,
    read_dialplan,
)

DATA = Path(__file__).parent / "data"
REAL = DATA / "asterisk-22.10.1" / "extensions.conf"


def steps(dp: Dialplan, context: str) -> list[tuple[str, int, str, str]]:
    found = dp.context(context)
    assert found is not None
    return [(p.extension, p.priority, p.app, p.data) for p in found.priorities]


def codes(dp: Dialplan) -> list[tuple[str, int, int, str]]:
    return [(f.file, f.line, f.column, f.code) for f in dp.findings]


# --------------------------------------------------------------------------- the real file


def test_real_extensions_conf_contexts_and_positions() -> None:
    dp = read_dialplan(str(REAL))
    assert dp.findings == ()
    assert [c.name for c in dp.contexts] == [
        "tapi",
        "inbound",
        "inbound-noh",
        "inbound-cid",
        "outbound",
        "phones",
        "phones-originate",
        "inbound-rg",
        "tapi-rg",
    ]
    tapi = dp.context("tapi")
    assert tapi is not None
    first = tapi.priorities[0]
    assert (first.extension, first.priority, first.app, first.line, first.column) == (
        "s",
        1,
        "UserEvent",
        12,
        14,
    )
    # `exten => s,1,UserEvent(` is 23 characters: the data starts in column 24.
    assert first.column_of(0) == 24
    assert first.data.startswith("TAPI,TAPIEVENT: [~${ARG1}&sip/bob]")
    # `same =>` continues the extension and counts priorities with n.
    assert steps(dp, "tapi")[1:] == [
        (
            "s",
            2,
            "UserEvent",
            "TAPI,TAPIEVENT: [~${ARG1}&!sip/bob] LINE_CALLSTATE LINECALLSTATE_HANGUP",
        ),
        ("s", 3, "Return", ""),
    ]
    inbound = dp.context("inbound")
    assert inbound is not None
    assert inbound.extensions() == ("100", "200", "201", "202", "dialstatus", "h")
    labelled = [p for p in inbound.priorities if p.label]
    assert [(p.extension, p.priority, p.label, p.line) for p in labelled] == [
        ("dialstatus", 5, "busy", 45)
    ]
    assert dp.context("general") is None and dp.context("globals") is None
    assert dp.files == (str(REAL),)


# --------------------------------------------------------------------------- comments


def test_semicolon_comment_and_escaped_semicolon_keep_columns() -> None:
    text = "[c]\nexten => s,1,NoOp(a\\;b) ; trailing comment\n"
    dp = parse_dialplan(text)
    (step,) = dp.priorities()
    assert step.data == "a;b"
    # The backslash is gone, but 'b' is still where it was in the file.
    assert [step.column_of(i) for i in range(3)] == [19, 21, 22]


def test_block_comments_nest_and_span_lines() -> None:
    text = (
        "[c]\n"
        "exten => s,1,NoOp(one) ;-- a block\n"
        "exten => s,2,NoOp(hidden) ;-- nested --;\n"
        "still hidden --; exten => s,2,NoOp(two)\n"
        "exten => s,3,NoOp(x;---not a block)\n"
        "exten => s,4,NoOp(four)\n"
    )
    dp = parse_dialplan(text)
    assert steps(dp, "c") == [
        ("s", 1, "NoOp", "one"),
        ("s", 2, "NoOp", "two"),
        # ';---' is an ordinary comment: the line ends there and ')' is missing.
        ("s", 3, "NoOp", "x"),
        ("s", 4, "NoOp", "four"),
    ]
    assert codes(dp) == [("extensions.conf", 5, 18, "missing-paren")]
    two = dp.priorities()[1]
    assert (two.line, two.column) == (4, 31)


def test_unterminated_block_comment_and_stray_end_are_reported() -> None:
    dp = parse_dialplan("[c]\nexten => s,1,NoOp(a)\n;-- open\nexten => s,2,NoOp(b)\n")
    assert steps(dp, "c") == [("s", 1, "NoOp", "a")]
    assert codes(dp) == [("extensions.conf", 3, 1, "unterminated-comment")]
    # config.c decrements its nesting counter below zero on a stray '--;'
    # and then skips every following line of the file.
    dp = parse_dialplan("[c]\nexten => s,1,NoOp(a--;)\nexten => s,2,NoOp(b)\n")
    assert steps(dp, "c") == [("s", 1, "NoOp", "a--;")]
    assert [(f.line, f.code) for f in dp.findings] == [(2, "stray-comment-end")]


# --------------------------------------------------------------------------- statements


def test_priorities_n_same_plus_labels_and_hints() -> None:
    text = (
        "[c]\n"
        "exten => 100,hint,SIP/100\n"
        "exten => 100,1,NoOp(one)\n"
        "same => n(again),NoOp(two)\n"
        "same => n+2,NoOp(five)\n"
        "exten => 100,s,NoOp(still five)\n"
        "exten => 100,again+10,NoOp(twelve)\n"
        "exten => 100,next,NoOp(thirteen)\n"
        "exten = 101,1,NoOp(equals works too)\n"
    )
    dp = parse_dialplan(text)
    assert [(e, p) for e, p, _, _ in steps(dp, "c")] == [
        ("100", 1),
        ("100", 2),
        ("100", 5),
        ("100", 5),
        ("100", 12),
        ("100", 13),
        ("101", 1),
    ]
    assert [f.code for f in dp.findings] == ["duplicate-priority"]
    assert dp.priorities()[3].shadowed is True


def test_duplicate_priority_keeps_the_first_like_asterisk() -> None:
    text = "[c]\nexten => s,1,NoOp(a)\nexten => s,1,NoOp(b)\nexten => s,n,NoOp(c)\n"
    dp = parse_dialplan(text)
    assert [(p.priority, p.data, p.shadowed) for p in dp.priorities()] == [
        (1, "a", False),
        (1, "b", True),
        (2, "c", False),
    ]
    (finding,) = dp.findings
    assert (finding.line, finding.column, finding.severity) == (3, 12, "error")
    assert "already has priority 1 at line 2" in finding.message


def test_bad_priorities_and_same_without_exten() -> None:
    text = (
        "[c]\n"
        "same => 1,NoOp(nothing before)\n"
        "exten => s,n,NoOp(n first)\n"
        "exten => s,0,NoOp(zero)\n"
        "exten => s,nolabel,NoOp(unknown label)\n"
        "exten => s,1(open,NoOp(label without paren)\n"
        "exten => s,1,NoOp(fine)\n"
    )
    dp = parse_dialplan(text)
    assert steps(dp, "c") == [("s", 1, "NoOp", "fine")]
    assert [(f.line, f.column, f.code) for f in dp.findings] == [
        (2, 9, "same-without-exten"),
        (3, 12, "bad-priority"),
        (4, 12, "bad-priority"),
        (5, 12, "bad-priority"),
        (6, 12, "bad-priority"),
    ]


def test_patterns_caller_id_match_and_application_forms() -> None:
    text = (
        "[c]\n"
        "exten => _[1,2]XX,1,NoOp(bracket keeps the comma)\n"
        "exten => 100/5551234,1,Dial(SIP/a,20,U(s^${X}))\n"
        "exten => 101,1,Hangup\n"
        "exten => 102,1,${APP}(not split)\n"
        "exten => 103,1, Answer()\n"
    )
    dp = parse_dialplan(text)
    got = [(p.extension, p.cid_match, p.app, p.data) for p in dp.priorities()]
    assert got == [
        ("_[1,2]XX", None, "NoOp", "bracket keeps the comma"),
        ("100", "5551234", "Dial", "SIP/a,20,U(s^${X})"),
        ("101", None, "Hangup", ""),
        ("102", None, "${APP}(not split)", ""),
        ("103", None, "Answer", ""),
    ]
    assert dp.findings == ()


def test_statements_other_than_exten() -> None:
    text = (
        "[general]\nstatic=yes\n[globals]\nTRUNK=SIP/x\n"
        "[c]\ninclude => other\nignorepat => 9\nswitch => IAX2/x\nbogus => 1\nno equals sign\n"
        "[other]\nexten => h,1,NoOp()\n"
    )
    dp = parse_dialplan(text)
    c = dp.context("c")
    assert c is not None and c.includes == ("other",)
    assert [(f.line, f.code, f.severity) for f in dp.findings] == [
        (9, "unknown-statement", "warning"),
        (10, "no-equals", "warning"),
    ]


def test_lines_before_any_context_are_checked_in_one_unnamed_context() -> None:
    dp = parse_dialplan("exten => s,1,NoOp(a)\nexten => h,1,NoOp(b)\n")
    assert [c.name for c in dp.contexts] == [""]
    assert [(f.line, f.code, f.severity) for f in dp.findings] == [(1, "no-context", "error")]
    assert len(dp.priorities()) == 2


def test_contexts_with_the_same_name_merge_and_restart_n() -> None:
    text = "[c]\nexten => s,1,NoOp(a)\n[d]\n[C]\nexten => t,1,NoOp(b)\nsame => n,NoOp(c)\n"
    dp = parse_dialplan(text)
    assert steps(dp, "c") == [("s", 1, "NoOp", "a"), ("t", 1, "NoOp", "b"), ("t", 2, "NoOp", "c")]


# --------------------------------------------------------------------------- templates


def test_templates_are_not_contexts_and_are_copied_first() -> None:
    text = (
        "[tpl](!)\n"
        "exten => h,1,NoOp(from the template)\n"
        "[ctx](tpl)\n"
        "exten => s,1,NoOp(own)\n"
        "[ctx](+)\n"
        "exten => s,2,NoOp(appended)\n"
        "[bad](missing)\n"
        "[nope](+)\n"
    )
    dp = parse_dialplan(text)
    # Asterisk refuses the file; the reader goes on with the header as written.
    assert [c.name for c in dp.contexts] == ["ctx", "bad", "nope"]
    assert steps(dp, "ctx") == [
        ("h", 1, "NoOp", "from the template"),
        ("s", 1, "NoOp", "own"),
        ("s", 2, "NoOp", "appended"),
    ]
    # The copied step still says where it was written.
    assert dp.priorities()[0].line == 2
    assert [(f.line, f.column, f.code) for f in dp.findings] == [
        (7, 7, "unknown-template"),
        (8, 8, "unknown-template"),
    ]


def test_bad_headers() -> None:
    dp = parse_dialplan("[open\n[c](!\nexten => s,1,NoOp()\n")
    # Asterisk refuses the file at line 1; the reader goes on as if '[open]'
    # were closed, so the lines after it are checked in a context of their own
    # (not reported as outside any context, nor merged into an earlier one).
    assert [(f.line, f.code) for f in dp.findings] == [(1, "bad-context"), (2, "bad-context")]
    assert [c.name for c in dp.contexts] == ["open"]


# --------------------------------------------------------------------------- includes


def test_include_relative_to_the_config_dir_glob_and_category_scope(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.conf").write_text("exten => s,2,NoOp(from a)\n[x]\n")
    (tmp_path / "sub" / "b.conf").write_text("exten => t,1,NoOp(from b)\n")
    main = tmp_path / "extensions.conf"
    main.write_text(
        '[c]\nexten => s,1,NoOp(main)\n#include "sub/*.conf"\nexten => s,3,NoOp(after)\n'
    )
    dp = read_dialplan(str(main))
    assert dp.findings == ()
    # a.conf continues [c]; its [x] does not change the including file's context,
    # but b.conf (read after a.conf) starts in [x], the category current then.
    assert steps(dp, "c") == [
        ("s", 1, "NoOp", "main"),
        ("s", 2, "NoOp", "from a"),
        ("s", 3, "NoOp", "after"),
    ]
    assert steps(dp, "x") == [("t", 1, "NoOp", "from b")]
    assert dp.priorities()[1].file == str(tmp_path / "sub" / "a.conf")


def test_include_missing_tryinclude_cycle_and_depth(tmp_path: Path) -> None:
    (tmp_path / "loop.conf").write_text("#include loop.conf\n")
    main = tmp_path / "extensions.conf"
    main.write_text("[c]\n#include nothere.conf\n#tryinclude nothere.conf\n#include <loop.conf>\n")
    dp = read_dialplan(str(main))
    assert [(Path(f.file).name, f.line, f.code) for f in dp.findings] == [
        ("extensions.conf", 2, "include-not-found"),
        ("loop.conf", 1, "include-cycle"),
    ]
    for i in range(12):
        (tmp_path / f"d{i}.conf").write_text(f"#include d{i + 1}.conf\n")
    deep = read_dialplan(str(tmp_path / "d0.conf"))
    assert [(Path(f.file).name, f.code) for f in deep.findings] == [("d9.conf", "include-depth")]


def test_include_loader_errors_and_unknown_directives() -> None:
    def loader(name: str) -> list[tuple[str, str]]:
        raise IncludeError(f"cannot read {name!r}: permission denied")

    dp = parse_dialplan(
        "[c]\n#include secret.conf\n#exec /bin/true\n#frobnicate x\n#include\n", loader=loader
    )
    assert [(f.line, f.code) for f in dp.findings] == [
        (2, "include-unreadable"),
        (3, "exec-not-checked"),
        (4, "unknown-directive"),
        (5, "unknown-directive"),
    ]
    assert "permission denied" in dp.findings[0].message


def test_file_loader_reads_latin1_bytes_without_failing(tmp_path: Path) -> None:
    (tmp_path / "x.conf").write_bytes(b"[c]\nexten => s,1,NoOp(M\xfcller)\n")
    found = FileLoader(str(tmp_path))("x.conf")
    dp = parse_dialplan(found[0][1], found[0][0])
    assert dp.priorities()[0].data == "M\udcfcller"


def test_too_many_files_stops_with_a_finding() -> None:
    def loader(name: str) -> list[tuple[str, str]]:
        return [(f"f{i}.conf", "") for i in range(MAX_FILES + 5)]

    dp = parse_dialplan("[c]\n#include *.conf\n", loader=loader)
    assert [f.code for f in dp.findings] == ["too-large"]
    assert len(dp.files) == MAX_FILES


# --------------------------------------------------------------------------- odd input


def test_long_lines_nul_bytes_and_escapes() -> None:
    long = "exten => s,2,NoOp(" + "x" * 9000 + ")"
    text = f"[c]\nexten => s,1,NoOp(a\0ignored)\n{long}\n\\\n\\=x=1\n"
    dp = parse_dialplan(text)
    assert steps(dp, "c") == [("s", 1, "NoOp", "a")]
    assert [(f.line, f.code) for f in dp.findings] == [
        (2, "missing-paren"),
        (3, "line-too-long"),
        (4, "invalid-escape"),
        (5, "unknown-statement"),
    ]


def test_crlf_line_endings_are_blanks() -> None:
    dp = parse_dialplan("[c]\r\nexten => s,1,NoOp(a)\r\n")
    assert steps(dp, "c") == [("s", 1, "NoOp", "a")]


conf_alphabet = st.sampled_from(
    [*"[]()!+#;-\\=>,|$ {}\"'\t\n\r\0", "exten", "same", "n", "1", "hint", "include", "s"]
)


@given(st.lists(st.one_of(conf_alphabet, st.text(max_size=5)), max_size=80).map("".join))
def test_reader_never_raises_and_positions_stay_in_the_text(text: str) -> None:
    files = {"a.conf": text, "b.conf": "[x]\n" + text}

    def loader(name: str) -> list[tuple[str, str]]:
        return [(k, v) for k, v in files.items() if k.startswith(name[:1])]

    dp = parse_dialplan("[c]\n#include a\n" + text + "\n#include b\n", loader=loader)
    lines = text.count("\n") + 5
    for finding in dp.findings:
        assert 1 <= finding.line <= lines
        assert finding.column >= 1
        assert finding.severity in ("error", "warning")
    for step in dp.priorities():
        assert step.priority >= 1
        assert len(step.data_columns) == len(step.data)


def _template_chain(count: int) -> str:
    """``count`` templates, each inheriting the one before, and one context using the last."""
    lines = ["[t0](!)", "exten => s,1,NoOp(0)"]
    for i in range(1, count):
        lines += [f"[t{i}](!,t{i - 1})", f"exten => s,{i + 1},NoOp({i})"]
    lines += [f"[ctx](t{count - 1})", ""]
    return "\n".join(lines)


def _peak_bytes(text: str) -> tuple[int, int]:
    tracemalloc.start()
    try:
        dialplan = parse_dialplan(text)
        return tracemalloc.get_traced_memory()[1], len(dialplan.priorities())
    finally:
        tracemalloc.stop()


def test_a_template_chain_costs_memory_linear_in_its_input() -> None:
    # Issue 15 #11: each template copied every inherited line, so 1,600 chained
    # templates took 315 MiB (quadratic). Four times the input may now cost
    # about four times the memory, not sixteen.
    small, small_steps = _peak_bytes(_template_chain(300))
    big, big_steps = _peak_bytes(_template_chain(1200))
    assert (small_steps, big_steps) == (300, 1200)  # ctx has every inherited step
    assert big < 7 * small, (small, big)


def test_inherited_lines_stay_as_they_were_when_a_template_changes_later() -> None:
    # Asterisk copies a template's lines at the inheriting line: a later
    # [t](+) section and a 'name +=' on the template reach only later copies.
    text = (
        "[t](!)\nexten => s,1,Set(x=a\n[c](t)\n[t](+)\nexten += b)\nexten => s,2,NoOp(z)\n[e](t)\n"
    )
    dialplan = parse_dialplan(text)
    c, e = dialplan.context("c"), dialplan.context("e")
    assert c is not None and e is not None
    assert [(p.priority, p.data) for p in c.priorities] == [(1, "x=a")]
    assert [(p.priority, p.data) for p in e.priorities] == [(1, "x=ab"), (2, "z")]


def test_autohints_is_a_context_statement() -> None:
    # pbx_config.c reads 'autohints = yes' in a context since Asterisk 13.
    dialplan = parse_dialplan("[phones]\nautohints = yes\nexten => 100,1,NoOp()\n")
    assert dialplan.findings == ()
