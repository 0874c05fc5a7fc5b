"""The package's layers, as a guard: the core is sans-IO and imports no edge.

The core is every module of ``tapievent`` outside the edges listed in
``EDGES`` below — the one place the edges are named. Modules are found by
walking the package, so a module or subpackage someone adds is covered
without touching this file: a new core module is held to the core's rules
at once, and a new edge (an MQTT gateway, say) fails here until it is added
to ``EDGES`` with the edges it may use.

Checked twice: on the source (every ``import`` in the syntax tree,
function-level and ``TYPE_CHECKING`` ones included, relative ones resolved)
and at run time (import the core in a fresh interpreter, look at
``sys.modules``).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import tapievent

PACKAGE = Path(tapievent.__file__).parent

EDGES: dict[str, frozenset[str]] = {
    # edge: the other edges it may import (every edge may import the core)
    "transports": frozenset(),
    "tsp": frozenset({"transports"}),
    "cli": frozenset({"transports", "tsp", "gateway", "history", "recording"}),
    "__main__": frozenset({"cli"}),
    "testing": frozenset(),
    "gateway": frozenset({"transports"}),
    "mqtt": frozenset({"transports", "gateway"}),
    "recording": frozenset({"transports"}),
    "history": frozenset(),
}
"""The edges of the package (runtimes, adapters, the command line, the test kit)."""

IO_MODULES = frozenset(
    {
        "socket",
        "asyncio",
        "threading",
        "selectors",
        "ssl",
        "time",
        "subprocess",
        "concurrent",
        "multiprocessing",
        "signal",
        "sqlite3",
    }
)
"""What the core never imports: it has no sockets, event loops, threads, clocks or databases."""

CORE_DEPENDENCIES = frozenset({"attrs"})
"""The core's one runtime dependency beyond the standard library."""

SANS_IO_EDGE_MODULES = ("tapievent.testing._pbx", "tapievent.testing._manager")
"""Edge modules that promise to be sans-IO too (the fake Asterisk's model)."""


def modules() -> Iterator[tuple[str, Path]]:
    """Every module of the package: (dotted name, file)."""
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def layer_of(module: str) -> str:
    """``"core"`` or the name of the edge a ``tapievent`` module belongs to."""
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in EDGES:
        return parts[1]
    return "core"


def imported(module: str, path: Path, source: str | None = None) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) for every import in the file, at any depth."""
    tree = ast.parse(source if source is not None else path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                base = node.module or ""
            else:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            yield node.lineno, base
            # ``from . import x`` may name a submodule: count ``base.x`` too.
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"


def violations(module: str, path: Path, source: str | None = None) -> list[str]:
    """What breaks the layering rules in one module, as ``module:line: reason``."""
    layer = layer_of(module)
    sans_io = layer == "core" or module in SANS_IO_EDGE_MODULES
    out = []
    for line, name in imported(module, path, source):
        where = f"{module}:{line}"
        top = name.split(".")[0]
        if top == "tapievent":
            target = layer_of(name)
            if layer == "core" and target != "core":
                out.append(f"{where}: the core imports the {target} edge ({name})")
            elif layer != "core" and target not in ("core", layer, *EDGES[layer]):
                out.append(f"{where}: {layer} may not import {target} ({name})")
        elif sans_io and top in IO_MODULES:
            out.append(f"{where}: sans-IO code imports {name}")
        elif layer == "core" and top not in sys.stdlib_module_names | CORE_DEPENDENCIES:
            out.append(f"{where}: the core imports {name}, which is not a runtime dependency")
    return out


def test_every_module_keeps_to_its_layer() -> None:
    found = [v for module, path in modules() for v in violations(module, path)]
    assert found == []


def test_discovery_sees_the_core_and_the_edges_on_disk() -> None:
    # The guard cannot pass by looking at nothing.
    layers: dict[str, set[str]] = {}
    for module, _ in modules():
        layers.setdefault(layer_of(module), set()).add(module)
    assert {"tapievent", "tapievent.ami_codec", "tapievent.tracker"} <= layers["core"]
    assert {"tapievent.testing._pbx", "tapievent.cli.replay"} <= set().union(*layers.values())
    on_disk = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    on_disk |= {p.stem for p in PACKAGE.glob("*.py")}
    assert {"transports", "cli", "testing", "tsp", "__main__"} <= on_disk & layers.keys()
    assert set(SANS_IO_EDGE_MODULES) <= layers["testing"]


def test_the_checker_finds_what_it_must() -> None:
    # A core module with a function-level socket import and a relative
    # import of the command line; an edge importing one it may not.
    core = PACKAGE / "tracker.py"
    source = "def f():\n    import socket\n    from .cli import main\n    import paho.mqtt\n"
    assert violations("tapievent.tracker", core, source) == [
        "tapievent.tracker:2: sans-IO code imports socket",
        "tapievent.tracker:3: the core imports the cli edge (tapievent.cli)",
        "tapievent.tracker:3: the core imports the cli edge (tapievent.cli.main)",
        "tapievent.tracker:4: the core imports paho.mqtt, which is not a runtime dependency",
    ]
    edge = PACKAGE / "transports" / "aio.py"
    assert violations("tapievent.transports.aio", edge, "from .. import cli\n") == [
        "tapievent.transports.aio:1: transports may not import cli (tapievent.cli)"
    ]
    model = PACKAGE / "testing" / "_pbx.py"
    assert violations("tapievent.testing._pbx", model, "import asyncio\n") == [
        "tapievent.testing._pbx:1: sans-IO code imports asyncio"
    ]


def test_importing_the_core_loads_no_edge_and_no_io_module() -> None:
    # attrs, our one dependency, imports some of the standard library
    # itself, so the baseline is "after import attrs".
    core = [m for m, _ in modules() if layer_of(m) == "core"]
    code = (
        "import importlib, json, sys, attrs\n"
        f"watch = {sorted(IO_MODULES)!r}\n"
        "before = set(sys.modules)\n"
        f"for name in {core!r}:\n"
        "    importlib.import_module(name)\n"
        "new = set(sys.modules) - before\n"
        "print(json.dumps(sorted(new)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = json.loads(done.stdout)
    assert "tapievent.tracker" in loaded  # it did import the core
    edges = [m for m in loaded if m.startswith("tapievent.") and layer_of(m) != "core"]
    io = [m for m in loaded if m.split(".")[0] in IO_MODULES]
    assert (edges, io) == ([], [])
