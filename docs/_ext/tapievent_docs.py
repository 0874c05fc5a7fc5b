"""Sphinx directives that build tables from the code, so the site cannot drift from it.

``diagnostics-table`` renders every :class:`tapievent.DiagnosticCode` with its
meaning and what to do about it; ``exported-data`` documents the constants and
type aliases ``tapievent`` re-exports (autodoc would leave them out).

Docstrings name classes where they are defined (``tapievent.session.ActionResult``)
while the reference documents them where users import them (``tapievent.ActionResult``,
from ``tapievent.__all__``); :func:`_resolve_reexport` links the one to the other, so
a reference that is still broken after that is a real error of the build.
:func:`_resolve_in_scope` resolves a short name (``Step``) in the module the
docstring was written in.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.addnodes import pending_xref
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.pycode import ModuleAnalyzer
from sphinx.util.docutils import SphinxDirective

import tapievent
from tapievent._diagnostics import DiagnosticCode


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> nodes.table:
    table = nodes.table()
    group = nodes.tgroup(cols=len(header))
    table += group
    for _ in header:
        group += nodes.colspec(colwidth=1)
    head = nodes.thead()
    group += head
    body = nodes.tbody()
    group += body
    for target, cells in ((head, [header]), (body, rows)):
        for cells_row in cells:
            row = nodes.row()
            for text in cells_row:
                entry = nodes.entry()
                entry += nodes.paragraph(text=text)
                row += entry
            target += row
    return table


class DiagnosticsTable(SphinxDirective):
    """Every diagnostic code, its meaning and the action it asks for."""

    def run(self) -> list[nodes.Node]:
        rows = [(member.value, member.meaning, member.action) for member in DiagnosticCode]
        return [_table(("code", "what happened", "what to do"), rows)]


def _resolve_reexport(
    app: Sphinx, env: BuildEnvironment, node: pending_xref, contnode: nodes.TextElement
) -> nodes.Element | None:
    """Resolve ``tapievent.<module>.<Name>[.attr]`` as ``tapievent.<Name>[.attr]``."""
    if node.get("refdomain") != "py":
        return None
    parts = str(node["reftarget"]).split(".")
    if parts[0] != "tapievent":
        return None
    exported = set(getattr(tapievent, "__all__", ()))
    for i in range(1, len(parts)):
        if parts[i] in exported:
            target = ".".join(["tapievent", *parts[i:]])
            domain = env.get_domain("py")
            return domain.resolve_xref(
                env, node["refdoc"], app.builder, node["reftype"], target, node, contnode
            )
    return None


def _exported_data_sources() -> dict[str, str]:
    """Exported constant or type alias -> the module it is imported from.

    Read from ``tapievent/__init__.py`` itself: autodoc finds the docstring of
    a module-level assignment (the string after it) only in the module that
    makes the assignment, so a re-exported constant would otherwise be left
    out of the reference as undocumented.
    """
    init = Path(inspect.getfile(tapievent))
    out = {}
    for node in ast.parse(init.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            for alias in node.names:
                name = alias.asname or alias.name
                value = getattr(tapievent, name, None)
                if name in tapievent.__all__ and not isinstance(
                    value, (type, types.FunctionType, types.ModuleType)
                ):
                    out[name] = f"tapievent.{node.module}"
    return out


def _assignment_doc(module: str, name: str) -> list[str] | None:
    """The docstring after ``name = ...``, followed through re-exports to where it is assigned."""
    analyzer = ModuleAnalyzer.for_module(module)
    doc = analyzer.find_attr_docs().get(("", name))
    if doc:
        return list(doc)
    source = Path(inspect.getfile(importlib.import_module(module)))
    package = module if source.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.parse(source.read_text(encoding="utf-8")).body:
        if (
            isinstance(node, ast.ImportFrom)
            and node.level
            and node.module
            and any((alias.asname or alias.name) == name for alias in node.names)
        ):
            base = importlib.util.resolve_name("." * node.level + node.module, package)
            return _assignment_doc(base, name)
    return None


class ExportedData(SphinxDirective):
    """Every constant and type alias of ``tapievent.__all__``, with its docstring.

    autodoc lists module data only when the documented module itself holds
    the docstring of the assignment; ``tapievent`` only imports these, so
    they are written here as ``py:data`` entries from the string that
    follows each assignment in the module that makes it.
    """

    def run(self) -> list[nodes.Node]:
        lines = []
        for name, source in _exported_data_sources().items():
            doc = _assignment_doc(source, name)
            if not doc:
                raise self.error(f"tapievent.{name} has no docstring in {source}")
            lines += [f".. py:data:: {name}", "   :module: tapievent", ""]
            lines += [f"   {line}" if line else "" for line in doc]
            lines.append("")
        return self.parse_text_to_nodes("\n".join(lines))


def _scopes(node: pending_xref) -> list[types.ModuleType]:
    """The modules whose names a docstring's short reference may mean.

    The module the object is documented in, and the module its class is
    defined in: ``:class:`Step``` in the docstring of ``tapievent.Supervisor``
    means what ``Step`` means in ``tapievent.supervisor``, where it was written.
    """
    scopes: list[types.ModuleType] = []
    module_name = node.get("py:module")
    if not module_name or not str(module_name).startswith("tapievent"):
        return scopes
    module = importlib.import_module(str(module_name))
    scopes.append(module)
    owner: object = module
    for part in str(node.get("py:class") or "").split("."):
        owner = getattr(owner, part, None) if part else owner
    defined_in = getattr(owner, "__module__", None)
    if isinstance(defined_in, str) and defined_in != module.__name__:
        scopes.append(importlib.import_module(defined_in))
    return scopes


def _documented_name(module: types.ModuleType, name: str) -> str:
    """Where the object ``module.name`` is documented: re-exported, defined, or that module."""
    value = getattr(module, name)
    if name in tapievent.__all__ and getattr(tapievent, name) is value:
        return f"tapievent.{name}"
    if isinstance(value, type) or inspect.isfunction(value):
        return f"{value.__module__}.{value.__qualname__}"
    return f"{module.__name__}.{name}"


def _resolve_in_scope(
    app: Sphinx, env: BuildEnvironment, node: pending_xref, contnode: nodes.TextElement
) -> nodes.Element | None:
    """Resolve a short reference (``Step``, ``Supervisor.failed``) as Python would.

    Only the first dotted part is looked up, in the namespaces of
    :func:`_scopes`, and only to an object that module really holds, so a
    name that is not there stays a broken reference.
    """
    if node.get("refdomain") != "py":
        return None
    first, *rest = str(node["reftarget"]).lstrip("~.").split(".")
    domain = env.get_domain("py")
    for module in _scopes(node):
        if first and hasattr(module, first):
            target = ".".join([_documented_name(module, first), *rest])
            found = domain.resolve_xref(
                env, node["refdoc"], app.builder, node["reftype"], target, node, contnode
            )
            if found is not None:
                return found
    return None


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("diagnostics-table", DiagnosticsTable)
    app.add_directive("exported-data", ExportedData)
    app.connect("missing-reference", _resolve_reexport)
    app.connect("missing-reference", _resolve_in_scope)
    return {"parallel_read_safe": True, "version": "1"}
