"""Read ``extensions.conf`` the way Asterisk does, keeping every position.

Asterisk reads the file in two passes, and so does this module:

1. ``main/config.c`` turns text into *categories* (``[name]``) holding
   ``name = value`` / ``name => value`` *variables*. It strips ``;``
   comments (``\\;`` is a literal semicolon, the backslash is removed),
   nested ``;-- ... --;`` block comments, follows ``#include`` /
   ``#tryinclude`` (relative names are resolved in the configuration
   directory; glob patterns allowed), and knows templates: ``[t](!)``
   declares one, ``[ctx](t)`` copies its variables first, ``[ctx](+)``
   appends to an earlier category. Lines are separated by ``\\n`` only and
   stripped of leading/trailing bytes below 33; there is no line
   continuation. A line of 8190 bytes or more is skipped.
2. ``pbx/pbx_config.c`` turns every category except ``[general]`` and
   ``[globals]`` into a *context*: ``exten => ext,prio,App(data)``,
   ``same => prio,App(data)``, priorities ``1``, ``n``/``next``,
   ``s``/``same``, ``n+2``, labels ``n(label)`` and label references,
   ``hint``, ``include =>``; ``switch``/``lswitch``/``eswitch`` and
   ``ignorepat`` are accepted and not needed here. A second step with a
   priority already taken in the same extension is *not* registered
   (Asterisk keeps the first and logs "already in use").

Where Asterisk would refuse the whole file (a line before any context, a
header without ``]``, an unknown template, a missing ``#include``), this
reader reports an error :class:`Finding` and carries on leniently, so one
run shows every problem. Nothing here raises on odd text.

The only I/O is the caller-supplied include loader; :func:`read_dialplan`
is the edge that reads files from disk.

This module is the public face of the two passes, each in a private module
with one job: ``_comments`` (config.c's comment loop, per line) and
``_config`` (lines into categories: headers, templates, directives,
variables) for pass 1, ``_steps`` (categories into contexts) for pass 2.
"""

from __future__ import annotations

import glob
import os

import attrs

from ._config import MAX_FILES, MAX_TOTAL_BYTES, ConfigReader, IncludeError, IncludeLoader
from ._findings import Finding
from ._steps import Priority, build

__all__ = [
    "MAX_FILES",
    "MAX_TOTAL_BYTES",
    "Context",
    "Dialplan",
    "FileLoader",
    "IncludeError",
    "IncludeLoader",
    "Priority",
    "parse_dialplan",
    "read_dialplan",
]


@attrs.frozen(slots=True)
class Context:
    """A dialplan context: its steps in file order and the contexts it includes."""

    name: str
    file: str
    line: int
    priorities: tuple[Priority, ...] = ()
    includes: tuple[str, ...] = ()

    def extensions(self) -> tuple[str, ...]:
        """Extension names, in first-seen order."""
        return tuple(dict.fromkeys(p.extension for p in self.priorities))


@attrs.frozen(slots=True)
class Dialplan:
    """The contexts Asterisk would build, and what went wrong reading them."""

    contexts: tuple[Context, ...]
    findings: tuple[Finding, ...]
    files: tuple[str, ...]

    def context(self, name: str) -> Context | None:
        """The context called ``name`` (context names compare case-insensitively)."""
        for context in self.contexts:
            if context.name.lower() == name.lower():
                return context
        return None

    def priorities(self) -> tuple[Priority, ...]:
        """Every step of every context, in file order per context."""
        return tuple(p for c in self.contexts for p in c.priorities)


# --------------------------------------------------------------------------- entry points


def parse_dialplan(
    text: str, file: str = "extensions.conf", *, loader: IncludeLoader | None = None
) -> Dialplan:
    """Read ``text`` (the contents of ``file``) as Asterisk reads extensions.conf.

    ``loader`` resolves ``#include`` arguments; without one every
    ``#include`` is reported as not found. Never raises on odd text: problems
    become :attr:`Dialplan.findings`.
    """
    reader = ConfigReader(loader)
    reader.load(file, text, ())
    builders = build(reader.categories, reader.report)
    contexts = tuple(
        Context(b.name, b.file, b.line, tuple(b.priorities), tuple(b.includes)) for b in builders
    )
    return Dialplan(contexts, tuple(sorted(reader.findings)), tuple(reader.files))


def _read_text(path: str) -> str:
    with open(path, "rb") as handle:
        data = handle.read(MAX_TOTAL_BYTES + 1)
    # Asterisk reads bytes; keep any non-UTF-8 byte as a lone surrogate.
    return data.decode("utf-8", "surrogateescape")


@attrs.frozen
class FileLoader:
    """Resolve ``#include`` names on disk the way Asterisk does.

    Relative names are taken from ``config_dir`` (Asterisk's
    ``astetcdir``, normally ``/etc/asterisk``), not from the including
    file's folder; :func:`read_dialplan` uses the top file's folder, which is
    the same thing for a copy of ``/etc/asterisk``. Glob patterns expand in
    sorted order, like Asterisk's ``glob()``.
    """

    config_dir: str

    def __call__(self, name: str) -> list[tuple[str, str]]:
        path = name if os.path.isabs(name) else os.path.join(self.config_dir, name)
        matches = sorted(glob.glob(path)) if glob.has_magic(path) else [path]
        found = []
        for match in matches:
            if not os.path.isfile(match):
                continue
            try:
                found.append((os.path.normpath(match), _read_text(match)))
            except OSError as exc:
                raise IncludeError(f"cannot read {match!r}: {exc.strerror or exc}") from None
        return found


def read_dialplan(path: str, *, config_dir: str | None = None) -> Dialplan:
    """Read the extensions.conf at ``path`` and everything it ``#include``\\ s.

    Raises :class:`OSError` when ``path`` itself cannot be read (the caller
    decides how to say so); problems inside it are findings.
    """
    text = _read_text(path)
    # Normalised like the names FileLoader gives included files, so that
    # './a.conf' including itself is seen as a loop at the first repeat.
    path = os.path.normpath(path)
    directory = config_dir if config_dir is not None else os.path.dirname(path) or "."
    return parse_dialplan(text, path, loader=FileLoader(directory))
