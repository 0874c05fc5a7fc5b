"""The package's promises that are not about one module."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import tapievent

IO_MODULES = ("socket", "asyncio", "threading", "selectors", "ssl", "time")
CORE = Path(tapievent.__file__).parent


def test_import_tapievent_loads_no_io_module() -> None:
    # The core is sans-IO: importing tapievent must not drag in sockets,
    # event loops or threads, so any runtime (or a fuzzer) can embed it.
    # attrs, our one dependency, imports threading itself, so the baseline
    # is "after import attrs".
    code = (
        "import sys, attrs\n"
        f"watch = {IO_MODULES!r}\n"
        "before = {m for m in watch if m in sys.modules}\n"
        "import tapievent\n"
        "print(','.join(sorted(m for m in watch if m in sys.modules and m not in before)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""


def test_core_modules_do_not_import_io_or_clocks() -> None:
    # Stronger than the runtime check: the core's source names none of them.
    offenders = []
    # The command line, the transports and the testing server are the I/O
    # edges; everything else at the top level is core.
    edges = {"cli.py", "__main__.py", "testing.py"}
    for path in sorted(CORE.glob("*.py")):
        if path.name in edges or path.name.startswith("_cmd_"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [f"{path.name}:{n}" for n in names if n.split(".")[0] in IO_MODULES]
    assert offenders == []
