"""Sphinx directives that build tables from the code, so the site cannot drift from it.

``diagnostics-table`` renders every :class:`tapievent.DiagnosticCode` with its
meaning and what to do about it.

Docstrings name classes where they are defined (``tapievent.session.ActionResult``)
while the reference documents them where users import them (``tapievent.ActionResult``,
from ``tapievent.__all__``); :func:`_resolve_reexport` links the one to the other, so
a reference that is still broken after that is a real error of the build.
"""

from __future__ import annotations

from typing import Any

from docutils import nodes
from sphinx.addnodes import pending_xref
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util.docutils import SphinxDirective

import tapievent
from tapievent._diagnostics import DiagnosticCode


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> nodes.table:
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


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("diagnostics-table", DiagnosticsTable)
    app.connect("missing-reference", _resolve_reexport)
    return {"parallel_read_safe": True, "version": "1"}
