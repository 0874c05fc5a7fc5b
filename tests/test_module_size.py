"""The package's size rule, as a guard: no module under ``tapievent/`` over 600 lines.

Issue 10 asks for a core a newcomer can read, modelled on h11 (whose
largest module is 659 lines): a module is cut by job at about 500 lines,
and this guard fails well before a file grows into two jobs unnoticed. It
names every file over the limit with its length, so the failure says what
to split. Modules are found by walking the package, so a new one is
covered without touching this file.
"""

from __future__ import annotations

from pathlib import Path

import tapievent

PACKAGE = Path(tapievent.__file__).parent
MAX_LINES = 600


def line_count(path: Path) -> int:
    """Lines as ``wc -l`` counts them (a last line without a newline counts too)."""
    return len(path.read_text(encoding="utf-8").splitlines())


def oversized(root: Path, limit: int = MAX_LINES) -> list[str]:
    """``file: N lines (limit L)`` for every ``.py`` under ``root`` longer than ``limit``."""
    return [
        f"{path.relative_to(root.parent).as_posix()}: {count} lines (limit {limit})"
        for path in sorted(root.rglob("*.py"))
        if (count := line_count(path)) > limit
    ]


def test_no_module_of_the_package_is_over_600_lines() -> None:
    assert oversized(PACKAGE) == []


def test_the_guard_sees_the_package_and_names_a_long_file(tmp_path: Path) -> None:
    # It looks at the real modules (not at nothing) ...
    assert len(list(PACKAGE.rglob("*.py"))) > 50
    assert line_count(PACKAGE / "session.py") > 100
    # ... and reports a file one line over the limit by name and length,
    # while one at the limit passes.
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "at_limit.py").write_text("x = 1\n" * MAX_LINES, encoding="utf-8")
    (package / "sub" / "long.py").write_text("x = 1\n" * (MAX_LINES + 1), encoding="utf-8")
    assert oversized(package) == [f"pkg/sub/long.py: {MAX_LINES + 1} lines (limit {MAX_LINES})"]
