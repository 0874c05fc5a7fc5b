"""The package's promises that are not about one module.

The layering (the core is sans-IO, imports no edge) is tests/test_layering.py.
"""

from __future__ import annotations

import ast
import enum
import inspect
import itertools
import subprocess
import sys
import types
from pathlib import Path

import tapievent

INIT = Path(tapievent.__file__)


def public_names() -> set[str]:
    """What ``tapievent`` really offers: every public non-module attribute."""
    return {
        name
        for name, value in vars(tapievent).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }


def test_all_lists_exactly_what_the_package_exports() -> None:
    assert len(tapievent.__all__) == len(set(tapievent.__all__)), "a name listed twice"
    assert set(tapievent.__all__) == public_names()


def test_star_import_gives_the_same_names() -> None:
    namespace: dict[str, object] = {}
    exec("from tapievent import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(tapievent.__all__)


def _sources() -> dict[str, str]:
    """Exported name -> the module it is imported from, read from __init__.py."""
    out = {}
    for node in ast.parse(INIT.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            for alias in node.names:
                out[alias.asname or alias.name] = node.module
    return out


def _has_attribute_docstring(module: str, name: str) -> bool:
    """Whether ``name = ...`` is followed by a string (its docstring) where it is assigned.

    ``module`` is relative to the package; a name it only imports (``ami_codec``
    re-exports ``NEED_DATA`` from ``_framing``) is followed to the module that
    assigns it, which is where Sphinx reads the docstring.
    """
    path = INIT.parent / f"{module.replace('.', '/')}.py"
    if not path.exists():  # imported from a subpackage
        path = INIT.parent / module.replace(".", "/") / "__init__.py"
    body = ast.parse(path.read_text(encoding="utf-8")).body
    for statement, following in itertools.pairwise(body):
        targets: list[ast.expr] = []
        if isinstance(statement, ast.Assign):
            targets = statement.targets
        elif isinstance(statement, ast.AnnAssign):
            targets = [statement.target]
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return (
                isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
                and bool(following.value.value.strip())
            )
    for statement in body:
        if (
            isinstance(statement, ast.ImportFrom)
            and statement.level
            and statement.module
            and any((alias.asname or alias.name) == name for alias in statement.names)
        ):
            package = module.rpartition(".")[0] if path.name != "__init__.py" else module
            parts = package.split(".") if package else []
            base = parts[: len(parts) - (statement.level - 1)]
            return _has_attribute_docstring(".".join([*base, statement.module]), name)
    return False


def _own_docstring(value: object) -> str | None:
    if isinstance(value, type):
        doc = vars(value).get("__doc__")
        if issubclass(value, enum.Enum) and doc == inspect.getdoc(enum.Enum):
            return None  # the doc enum gives a class that has none
        return doc if isinstance(doc, str) else None
    if isinstance(value, (types.FunctionType, types.BuiltinFunctionType)):
        return value.__doc__
    return None


def test_every_exported_name_has_a_docstring() -> None:
    # Classes and functions carry their own; constants and type aliases
    # have the string that follows their assignment (what Sphinx reads).
    sources = _sources()
    missing = []
    for name in tapievent.__all__:
        value = getattr(tapievent, name)
        documented = _own_docstring(value) is not None or (
            not isinstance(value, (type, types.FunctionType))
            and _has_attribute_docstring(sources[name], name)
        )
        if not documented:
            missing.append(name)
    assert missing == []


def test_the_docstring_draws_the_data_path_in_the_order_of_the_exports() -> None:
    # A newcomer who opens __init__.py sees the stages, then the names in
    # the same order.
    doc = tapievent.__doc__ or ""
    stages = ["ami_codec", "session", "grammar", "tracker"]
    assert [doc.index(s) for s in stages] == sorted(doc.index(s) for s in stages)
    order = tapievent.__all__
    firsts = ["AMIDecoder", "AMISession", "extract_tapievent", "CallTracker", "NewCall"]
    assert [order.index(n) for n in firsts] == sorted(order.index(n) for n in firsts)


def test_importing_tapievent_needs_no_test_extra() -> None:
    # hypothesis (the test extra) is only for tapievent.testing.strategies.
    code = "import sys, tapievent, tapievent.testing; print('hypothesis' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    assert out == "False"
