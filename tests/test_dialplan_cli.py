"""``tapievent lint`` and ``tapievent dialplan`` as a user runs them: subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tapievent.dialplan.generate import generate

HERE = Path(__file__).parent
REAL = HERE / "data" / "asterisk-22.10.1" / "extensions.conf"
CORPUS = HERE / "dialplans"


def tapievent(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tapievent", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
    )


def test_lint_clean_file_exits_0_silently(tmp_path: Path) -> None:
    conf = tmp_path / "extensions.conf"
    conf.write_text(generate("20", ["PJSIP/bob"]))
    result = tapievent("lint", str(conf), "--asterisk", "20")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_lint_findings_exit_1_like_a_compiler() -> None:
    result = tapievent("lint", "--asterisk", "22", str(REAL))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 27
    assert lines[0] == (
        f"{REAL}:12:50: warning: unregistered-line: no LINE_NEWCALL in these files registers "
        "line 'sip/bob', so this event reaches no line through it "
        "(registered: Local/bob, Local/bobbett, line_1)"
    )
    assert result.stderr == ""


def test_lint_json_format() -> None:
    result = tapievent("lint", "--format", "json", "--asterisk", "1.2", str(CORPUS / "seed.conf"))
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert [(d["line"], d["column"], d["code"]) for d in data] == [
        (1, 1, "no-context"),
        (3, 12, "duplicate-priority"),
        (4, 12, "duplicate-priority"),
        (7, 12, "duplicate-priority"),
        (13, 20, "duplicate-priority"),
    ]
    assert set(data[0]) == {"file", "line", "column", "severity", "code", "message"}
    assert data[0]["severity"] == "error"


def test_lint_default_version_is_the_newest() -> None:
    result = tapievent("lint", str(CORPUS / "macro.conf"))
    assert [line.split(": ")[2] for line in result.stdout.splitlines()] == [
        "macro-removed",
        "macro-removed",
    ]


def test_unreadable_input_exits_2_without_a_traceback(tmp_path: Path) -> None:
    missing = tapievent("lint", str(tmp_path / "nope.conf"))
    assert missing.returncode == 2
    assert (
        missing.stderr
        == f"tapievent lint: cannot read {tmp_path / 'nope.conf'}: No such file or directory\n"
    )
    directory = tapievent("lint", str(tmp_path))
    assert directory.returncode == 2 and "Traceback" not in directory.stderr
    assert directory.stderr.startswith(f"tapievent lint: cannot read {tmp_path}")
    bad_version = tapievent("lint", "--asterisk", "9", str(REAL))
    assert bad_version.returncode == 2
    assert bad_version.stderr == "tapievent lint: there is no Asterisk '9': after 1.8 came 10\n"


def test_a_file_that_cannot_be_opened_exits_2(tmp_path: Path) -> None:
    conf = tmp_path / "secret.conf"
    conf.write_text("[c]\n")
    conf.chmod(0)
    if os.access(conf, os.R_OK):
        # root reads any file whatever its mode: a path through a regular
        # file is the unopenable input left to it.
        target, reason = conf / "x.conf", "Not a directory"
    else:
        target, reason = conf, "Permission denied"
    result = tapievent("lint", str(target))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"tapievent lint: cannot read {target}: {reason}\n"


def test_include_loops_and_directories_are_findings(tmp_path: Path) -> None:
    (tmp_path / "a.conf").write_text('[c]\n#include "b.conf"\n')
    (tmp_path / "b.conf").write_text('#include "a.conf"\n')
    (tmp_path / "d").mkdir()
    (tmp_path / "dir.conf").write_text("[c]\n#include d\n")
    # Spelled './a.conf', the loop is still caught at its first repeat.
    result = tapievent("lint", "./a.conf", cwd=tmp_path)
    assert (result.returncode, result.stderr) == (1, "")
    assert result.stdout == (
        "b.conf:1:1: error: include-cycle: #include 'a.conf' reads 'a.conf' again while it is "
        "still being read (a.conf -> b.conf -> a.conf): an endless loop Asterisk stops with an "
        "error\n"
    )
    result = tapievent("lint", "dir.conf", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.startswith(
        "dir.conf:2:1: error: include-not-found: #include 'd': no such file (or not a regular file)"
    )


def test_a_huge_line_is_one_warning(tmp_path: Path) -> None:
    conf = tmp_path / "huge.conf"
    conf.write_text("[c]\nexten => s,1,UserEvent(TAPI,TAPIEVENT: " + "x" * 2_000_000 + ")\n")
    result = tapievent("lint", str(conf))
    assert (result.returncode, result.stderr) == (1, "")
    assert result.stdout == (
        f"{conf}:2:1: warning: line-too-long: line is 2000041 bytes; Asterisk skips lines of "
        "8191 bytes or more\n"
    )


def test_odd_bytes_give_findings_not_tracebacks(tmp_path: Path) -> None:
    conf = tmp_path / "odd.conf"
    conf.write_bytes(b"\xff\xfe[c\x00]\nexten => s,\xe9,UserEvent(TAPI,TAPIEVENT: \xff)\n;--\n")
    result = tapievent("lint", str(conf))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    codes = [line.split(": ")[2] for line in result.stdout.splitlines()]
    assert codes == ["no-context", "no-equals", "bad-priority", "unterminated-comment"]
    as_json = tapievent("lint", "--format", "json", str(conf))
    assert [d["code"] for d in json.loads(as_json.stdout)] == codes


def test_dialplan_prints_the_generators_text() -> None:
    result = tapievent("dialplan", "--asterisk", "11", "--line", "SIP/100", "--line", "SIP/101")
    assert result.returncode == 0
    assert result.stdout == generate("11", ["SIP/100", "SIP/101"])
    custom = tapievent(
        "dialplan",
        "--asterisk",
        "1.6",
        "--line",
        "SIP/100",
        "--context",
        "from-pstn",
        "--exten",
        "_X.",
        "--outbound-context",
        "c2d",
        "--trunk",
        "DAHDI/g1/${EXTEN}",
    )
    assert custom.stdout == generate(
        "1.6",
        ["SIP/100"],
        context="from-pstn",
        exten="_X.",
        outbound_context="c2d",
        trunk="DAHDI/g1/${EXTEN}",
    )


def test_dialplan_refuses_bad_input_with_exit_2() -> None:
    result = tapievent("dialplan", "--asterisk", "22", "--line", "PJSIP/a,b")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        "tapievent dialplan: line 'PJSIP/a,b' is not allowed here (e.g. PJSIP/bob or SIP/100)\n"
    )
    missing = tapievent("dialplan", "--asterisk", "22")
    assert missing.returncode == 2 and "--line" in missing.stderr
