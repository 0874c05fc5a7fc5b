"""The README's promises: its two set-up commands and its example."""

from __future__ import annotations

import re
from pathlib import Path

from docs_examples import run_python_blocks

ROOT = Path(__file__).resolve().parent.parent


def _sh_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [b.strip() for b in re.findall(r"^```sh\n(.*?)^```", text, re.MULTILINE | re.DOTALL)]


def test_readme_has_exactly_two_setup_commands() -> None:
    blocks = _sh_blocks()
    assert len(blocks) == 2
    assert all("\n" not in b for b in blocks)
    assert blocks[0].endswith("tapievent demo")
    assert blocks[1].endswith("python -m pytest")


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    test_command = _sh_blocks()[1]
    ci_lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert test_command in ci_lines


def test_readme_python_example_runs(tmp_path: Path) -> None:
    assert run_python_blocks("../README.md", tmp_path) == 1


def test_every_docs_page_with_python_examples_is_run_by_a_test() -> None:
    # The docs promise that every example runs in the suite: a new page with
    # python blocks must be wired to run_python_blocks (or its own runner).
    tests_text = "\n".join(
        p.read_text(encoding="utf-8") for p in (ROOT / "tests").glob("test_*.py")
    )
    for page in sorted((ROOT / "docs").glob("*.md")):
        if "```python" in page.read_text(encoding="utf-8"):
            assert f'"{page.name}"' in tests_text, f"no test runs the examples of {page.name}"
