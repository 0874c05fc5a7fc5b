"""docs/dialplan-guide.md cannot rot: every block in it is regenerated or re-linted here.

* ```ini dialplan ARGS``` blocks must be exactly what ``tapievent dialplan ARGS`` prints;
* ```ini lint ARGS``` blocks are linted as ``example.conf`` and the ```text``` block right
  after must be exactly what ``tapievent lint example.conf ARGS`` prints;
* ```python``` blocks run (tests/docs_examples.py).
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from docs_examples import DOCS, run_python_blocks

from tapievent._diagnostics import DiagnosticCode
from tapievent.cli import build_parser
from tapievent.dialplan.lint import CODES

PAGE = "dialplan-guide.md"
_FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def fenced() -> list[tuple[int, str, str]]:
    text = (DOCS / PAGE).read_text(encoding="utf-8")
    return [
        (text.count("\n", 0, m.start()) + 1, m.group(1).strip(), m.group(2))
        for m in _FENCE.finditer(text)
    ]


def tapievent(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tapievent", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
    )


BLOCKS = fenced()
DIALPLAN = [(line, info, body) for line, info, body in BLOCKS if info.startswith("ini dialplan ")]
LINT = [
    (line, info, body, BLOCKS[i + 1])
    for i, (line, info, body) in enumerate(BLOCKS)
    if info.startswith("ini lint")
]


def test_the_guide_has_every_kind_of_block() -> None:
    infos = [info.split()[0] if info else "" for _, info, _ in BLOCKS]
    assert set(infos) == {"ini", "text", "python"}, infos
    # One generated dialplan per generation: 1.2/1.4, 1.6-11, 12-20, 21+.
    versions = [shlex.split(info)[3] for _, info, _ in DIALPLAN]
    assert versions == ["1.4", "1.8", "13", "22"]
    assert len(LINT) >= 3
    # No block escapes checking: every ini block is regenerated or linted, and
    # every text block is the output of the lint block before it.
    for i, (line, info, _) in enumerate(BLOCKS):
        if info.startswith("ini"):
            assert info.split()[1] in ("dialplan", "lint"), f"docs/{PAGE}:{line}: {info!r}"
        if info == "text":
            assert BLOCKS[i - 1][1].startswith("ini lint"), f"docs/{PAGE}:{line}"


def test_the_monitor_command_and_its_diagnostics_exist() -> None:
    text = (DOCS / PAGE).read_text(encoding="utf-8")
    section = text[text.index("## Debugging with `tapievent monitor`") :]
    (command,) = re.findall(r"`(tapievent monitor [^`]*)`", section)
    args = build_parser().parse_args(shlex.split(command)[1:])
    assert args.command == "monitor"
    named = re.findall(r"`([a-z]+(?:-[a-z]+)+)`", section)
    assert len(named) >= 6
    # Every code lives in the one enum (tapievent/_diagnostics.py).
    known = {code.value for code in DiagnosticCode}
    for code in named:
        assert code in known, code


@pytest.mark.parametrize(("line", "info", "body"), DIALPLAN, ids=[str(b[0]) for b in DIALPLAN])
def test_dialplan_blocks_are_the_generators_output(line: int, info: str, body: str) -> None:
    result = tapievent(shlex.split(info)[1:])
    assert result.returncode == 0, result.stderr
    assert body == result.stdout, f"docs/{PAGE}:{line}: regenerate with `tapievent {info[4:]}`"


@pytest.mark.parametrize(("line", "info", "body", "following"), LINT, ids=[str(b[0]) for b in LINT])
def test_lint_blocks_show_exactly_the_findings(
    line: int, info: str, body: str, following: tuple[int, str, str], tmp_path: Path
) -> None:
    (tmp_path / "example.conf").write_text(body, encoding="utf-8")
    result = tapievent(["lint", "example.conf", *shlex.split(info)[2:]], cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert following[1] == "text", f"docs/{PAGE}:{line}: a ```text block must follow"
    assert following[2] == result.stdout


def test_every_lint_code_is_in_the_guide() -> None:
    text = (DOCS / PAGE).read_text(encoding="utf-8")
    for code in CODES:
        assert f"| `{code}` |" in text


def test_python_examples_run(tmp_path: Path) -> None:
    assert run_python_blocks(PAGE, tmp_path) == 1
