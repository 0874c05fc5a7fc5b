"""Run the code examples of a docs page, so the docs cannot rot.

Every fenced ```python block of a page is executed, in order, in one shared
namespace (later blocks may use names from earlier ones), with the working
directory set to a temporary folder so examples may write files. There is
no way to skip a block: an example that needs a server uses FakeAsterisk.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs"

_FENCE = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)


def blocks(page: str, language: str = "python") -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, code)`` for every fenced block of ``language`` in ``docs/page``."""
    text = (DOCS / page).read_text(encoding="utf-8")
    for match in _FENCE.finditer(text):
        if match.group(1) == language:
            line = text.count("\n", 0, match.start()) + 2
            yield line, match.group(2)


def run_python_blocks(page: str, tmp_path: Path) -> int:
    """Execute every python block of ``docs/page``; return how many ran."""
    # __file__ is the page, so an example can compare output with what the page shows.
    namespace: dict[str, object] = {"__name__": f"docs.{page}", "__file__": str(DOCS / page)}
    ran = 0
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        for line, code in blocks(page):
            compiled = compile(code, f"docs/{page}:{line}", "exec")
            exec(compiled, namespace)
            ran += 1
    finally:
        os.chdir(old)
    return ran
