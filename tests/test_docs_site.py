"""The docs site: it builds with no warning, and the reference holds every public name.

The build is the one CI runs (``sphinx-build -q -W -n --keep-going -b html docs ...``),
into a fresh directory so that a saved environment from an earlier build cannot hide
a warning: a broken cross-reference, a page outside the table of contents or a
docstring docutils cannot read fails the suite, not only the docs job.

Sphinx is the ``docs`` extra, pinned for Python 3.11+ only. Where it is not
installed the build tests skip, except in CI (``CI`` set) on 3.11+, where a
missing Sphinx would otherwise silently drop the check.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

import tapievent

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CLI_SOURCES = sorted((ROOT / "tapievent" / "cli").glob("*.py"))


def _require_sphinx() -> None:
    if importlib.util.find_spec("sphinx") is not None:
        return
    if os.environ.get("CI") and sys.version_info >= (3, 11):
        pytest.fail("CI must install the test extra (docs packages on 3.11+): no Sphinx")
    pytest.skip("Sphinx is not installed (the docs extra, Python 3.11+)")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    _require_sphinx()
    out = tmp_path_factory.mktemp("docs") / "html"
    command = [sys.executable, "-m", "sphinx", "-q", "-W", "-n", "--keep-going"]
    result = subprocess.run(
        [*command, "-b", "html", str(DOCS), str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return result, out


def test_the_site_builds_without_a_single_warning(
    site: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    result, _ = site
    assert result.stderr == ""
    assert result.returncode == 0


def _inventory(out: Path) -> set[str]:
    """The object names of ``objects.inv`` (four text lines, then zlib)."""
    data = (out / "objects.inv").read_bytes().split(b"\n", 4)[4]
    return {line.split(" ", 1)[0] for line in zlib.decompress(data).decode().splitlines()}


def test_every_public_name_is_in_the_reference(
    site: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    # autodoc leaves out, without a warning, what it sees no docstring for
    # (a re-exported constant): the inventory is what the site really holds.
    result, out = site
    assert result.returncode == 0, result.stderr
    names = _inventory(out)
    assert [n for n in tapievent.__all__ if f"tapievent.{n}" not in names] == []


def _returned_statuses(path: Path) -> set[int]:
    """Every literal ``return N`` of the command functions in ``path``."""
    return {
        node.value.value
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Return)
        and isinstance(node.value, ast.Constant)
        and type(node.value.value) is int
    }


def test_the_exit_status_table_lists_exactly_what_the_commands_return() -> None:
    # argparse exits with 2 on bad arguments, which the table says too.
    code = set().union(*map(_returned_statuses, CLI_SOURCES)) | {2}
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    table = text[text.index("(exit-statuses)=") :].split("\n\n", 1)[0]
    documented = {int(m) for m in re.findall(r"^\| (\d+) \|", table, flags=re.MULTILINE)}
    assert documented == code
