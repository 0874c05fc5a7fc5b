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
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Sequence

import attrs

from ._findings import ERROR, WARNING, Finding
from ._steps import Category, Priority, Var, build

__all__ = [
    "Context",
    "Dialplan",
    "FileLoader",
    "IncludeError",
    "IncludeLoader",
    "Priority",
    "parse_dialplan",
    "read_dialplan",
]

# config.c reads lines into an 8192-byte buffer; a line that fills it is skipped.
_LINE_BUFFER = 8192
# config.c: MAX_NESTED_COMMENTS.
_MAX_NESTED_COMMENTS = 128
# config.c: MAX_INCLUDE_LEVEL (the top file counts as level 1).
_MAX_INCLUDE_LEVEL = 10
# Bounds for this reader, so a glob include cannot make it read the disk dry.
MAX_FILES = 256
MAX_TOTAL_BYTES = 32 * 1024 * 1024


class IncludeError(Exception):
    """An include loader could not read a file it found; the message says why."""


#: ``loader(name) -> [(file name, text), ...]``: the files an ``#include``
#: argument names (several for a glob, none when nothing matched). Raises
#: :class:`IncludeError` for a file that exists but cannot be read.
IncludeLoader = Callable[[str], Sequence[tuple[str, str]]]


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


# --------------------------------------------------------------------------- pass 1: config.c


def _strip(chars: list[str], cols: list[int]) -> tuple[list[str], list[int]]:
    """``ast_strip``: drop leading and trailing bytes below 33 (blanks, controls)."""
    start, end = 0, len(chars)
    while start < end and ord(chars[start]) < 33:
        start += 1
    while end > start and ord(chars[end - 1]) < 33:
        end -= 1
    return chars[start:end], cols[start:end]


class _Reader:
    """State of one configuration load (config.c's ``struct ast_config``)."""

    def __init__(self, loader: IncludeLoader | None) -> None:
        self.loader = loader
        self.categories: list[Category] = []
        self._by_name: dict[str, Category] = {}  # the last category of each name
        self.current: Category | None = None
        self.findings: list[Finding] = []
        self.files: list[str] = []
        self.total_bytes = 0
        self.implicit: Category | None = None
        self.stopped = False

    def report(self, file: str, line: int, col: int, severity: str, code: str, msg: str) -> None:
        self.findings.append(Finding(file, line, col, severity, code, msg))

    def find_category(self, name: str) -> Category | None:
        return self._by_name.get(name.lower())

    def add_category(self, category: Category) -> None:
        self.categories.append(category)
        self._by_name[category.name.lower()] = category

    # ---------------------------------------------------------------- one file

    def load(self, name: str, text: str, stack: tuple[str, ...]) -> None:
        if self.stopped:
            return
        size = len(text.encode("utf-8", "surrogateescape"))
        if len(self.files) >= MAX_FILES or self.total_bytes + size > MAX_TOTAL_BYTES:
            where = stack[-1] if stack else name
            self.report(
                where,
                1,
                1,
                ERROR,
                "too-large",
                f"stopped reading at {name!r}: more than {MAX_FILES} files or "
                f"{MAX_TOTAL_BYTES} bytes in total",
            )
            self.stopped = True
            return
        self.files.append(name)
        self.total_bytes += size
        stack = (*stack, name)
        comment = 0
        nest: list[int] = []
        stray_reported = False
        # config.c: each file starts in the category that is current now, and
        # an #include does not change the including file's category.
        category = self.current
        lines = text.split("\n")
        for index, raw in enumerate(lines):
            lineno = index + 1
            last = index == len(lines) - 1
            length = len(raw.encode("utf-8", "surrogateescape")) + (0 if last else 1)
            if length >= _LINE_BUFFER - 1:
                self.report(
                    name,
                    lineno,
                    1,
                    WARNING,
                    "line-too-long",
                    f"line is {length} bytes; Asterisk skips lines of "
                    f"{_LINE_BUFFER - 1} bytes or more",
                )
                continue
            if "\0" in raw:
                # fgets reads it, but every C string function stops at the NUL.
                raw = raw[: raw.index("\0")]
            chars = list(raw)
            cols = list(range(1, len(chars) + 1))
            before = comment
            text_chars, text_cols, comment = self._strip_comments(
                chars, cols, comment, nest, name, lineno
            )
            if comment < 0 <= before and not stray_reported:
                stray_reported = True
                self.report(
                    name,
                    lineno,
                    1,
                    WARNING,
                    "stray-comment-end",
                    "'--;' closes a block comment that was never opened; Asterisk then "
                    "treats the rest of this file as a comment",
                )
            if text_chars is None:
                continue
            line_chars, line_cols = _strip(text_chars, text_cols)
            if not line_chars:
                continue
            category = self._line(line_chars, line_cols, category, name, lineno, stack)
            if self.stopped:
                return
        if comment > 0:
            self.report(
                name,
                nest[-1] if nest else 1,
                1,
                WARNING,
                "unterminated-comment",
                "block comment ';--' is never closed with '--;'; the rest of the file is ignored",
            )

    def _strip_comments(
        self,
        b: list[str],
        c: list[int],
        comment: int,
        nest: list[int],
        name: str,
        lineno: int,
    ) -> tuple[list[str] | None, list[int], int]:
        """config.c's comment loop, index for index; returns the text to process."""

        def get(i: int) -> str:
            return b[i] if 0 <= i < len(b) else "\0"

        process: int | None = None if comment else 0
        new = 0
        while True:
            p = _find_semicolon(b, new)
            if p < 0:
                break
            if p > new and b[p - 1] == "\\":
                # An escaped semicolon is text; the backslash goes.
                del b[p - 1]
                del c[p - 1]
                new = p
            elif get(p + 1) == "-" and get(p + 2) == "-" and get(p + 3) != "-":
                new, comment = self._open_comment(b, c, p, comment, nest, name, lineno)
            elif p >= new + 2 and b[p - 1] == "-" and b[p - 2] == "-":
                comment -= 1
                if nest:
                    nest.pop()
                new = p + 1
                if comment == 0:
                    new, process = _after_comment(b, c, new, process)
            elif comment == 0:
                b[p] = "\0"
                break
            else:
                new = p + 1
        if process is None:
            return None, [], comment
        end = process
        while end < len(b) and b[end] != "\0":
            end += 1
        return b[process:end], c[process:end], comment

    # ---------------------------------------------------------------- one line

    def _line(
        self,
        chars: list[str],
        cols: list[int],
        category: Category | None,
        name: str,
        lineno: int,
        stack: tuple[str, ...],
    ) -> Category | None:
        text = "".join(chars)
        if text[0] == "[":
            return self._header(text, cols, category, name, lineno)
        if text[0] == "#":
            self._directive(text, cols, name, lineno, stack)
            return category
        if category is None:
            if self.implicit is None:
                self.report(
                    name,
                    lineno,
                    cols[0],
                    ERROR,
                    "no-context",
                    "line before any [context]: Asterisk refuses to load this file "
                    "(checking it anyway as if it were in one context)",
                )
                self.implicit = Category("", name, lineno)
                self.add_category(self.implicit)
            category = self.implicit
            self.current = category
        start = 0
        if text[0] == "\\":
            if len(text) < 2 or ord(text[1]) < 33:
                self.report(
                    name,
                    lineno,
                    cols[0],
                    ERROR,
                    "invalid-escape",
                    "a line starting with '\\' must escape a visible character; "
                    "Asterisk refuses to load this file",
                )
                return category
            start = 1
        eq = text.find("=", start + 1 if start else 0)
        if eq < 0:
            self.report(
                name,
                lineno,
                cols[0],
                WARNING,
                "no-equals",
                "no '=' on this line; Asterisk ignores it",
            )
            return category
        append = eq > start and text[eq - 1] == "+"
        value_start = eq + 1
        if not append and value_start < len(text) and text[value_start] == ">":
            value_start += 1
        var_name = text[start : eq - 1 if append else eq].strip(_BLANKS)
        value_chars, value_cols = _strip(chars[value_start:], cols[value_start:])
        if not var_name:
            self.report(
                name,
                lineno,
                cols[0],
                WARNING,
                "no-name",
                "nothing before '='; Asterisk ignores this line",
            )
            return category
        value = "".join(value_chars)
        if append:
            target = category.last_named(var_name)
            if target is not None:
                target.value = (target.value + value).rstrip(_BLANKS)
                target.value_columns = (target.value_columns + value_cols)[: len(target.value)]
                return category
        category.add(Var(var_name, value, value_cols, name, lineno))
        return category

    def _header(
        self,
        text: str,
        cols: list[int],
        category: Category | None,
        name: str,
        lineno: int,
    ) -> Category | None:
        close = text.find("]")
        if close < 0:
            self.report(
                name,
                lineno,
                cols[0],
                ERROR,
                "bad-context",
                "no closing ']' in the context header; Asterisk refuses to load this file",
            )
            # Go on as if the header were closed, so its lines are checked on their own.
            broken = Category(text[1:].strip(_BLANKS), name, lineno)
            self.add_category(broken)
            self.current = broken
            return broken
        cat_name = text[1:close]
        new: Category | None = Category(cat_name, name, lineno)
        result: Category | None = new
        rest = text[close + 1 :]
        if rest.startswith("("):
            end = rest.find(")")
            if end < 0:
                self.report(
                    name,
                    lineno,
                    cols[close + 1],
                    ERROR,
                    "bad-context",
                    "no closing ')' after the context options; Asterisk refuses to load this file",
                )
                return category
            for option in rest[1:end].split(","):
                option_col = cols[close + 2 + rest[1:end].find(option)] if option else cols[close]
                if option == "!":
                    assert result is not None
                    result.template = True
                elif option.startswith("+"):
                    existing = self.find_category(cat_name)
                    if existing is None:
                        self.report(
                            name,
                            lineno,
                            option_col,
                            ERROR,
                            "unknown-template",
                            f"[{cat_name}](+) adds to a context that does not exist yet; "
                            "Asterisk refuses to load this file",
                        )
                        continue
                    if new is not None:
                        existing.template = existing.template or new.template
                        existing.absorb(new)
                        new = None
                    result = existing
                else:
                    base = self.find_category(option)
                    if base is None:
                        self.report(
                            name,
                            lineno,
                            option_col,
                            ERROR,
                            "unknown-template",
                            f"template {option!r} is not defined above this line; "
                            "Asterisk refuses to load this file",
                        )
                        continue
                    assert result is not None
                    result.inherit(base)
        if new is not None:
            self.add_category(new)
        self.current = result
        return result

    def _open_comment(
        self, b: list[str], c: list[int], p: int, comment: int, nest: list[int], name: str,
        lineno: int,
    ) -> tuple[int, int]:  # fmt: skip
        """A ';--' at ``p``: one comment level deeper (up to config.c's limit)."""
        if comment < _MAX_NESTED_COMMENTS:
            b[p] = "\0"
            nest.append(lineno)
            return p + 3, comment + 1
        self.report(
            name,
            lineno,
            c[p],
            ERROR,
            "comment-nesting",
            f"more than {_MAX_NESTED_COMMENTS} nested ';--' comments",
        )
        return p + 1, comment

    def _directive(
        self, text: str, cols: list[int], name: str, lineno: int, stack: tuple[str, ...]
    ) -> None:
        end = 1
        while end < len(text) and ord(text[end]) > 32:
            end += 1
        word = text[1:end]
        argument = text[end:].strip(_BLANKS)
        lower = word.lower()
        if lower not in ("include", "tryinclude", "exec"):
            self.report(
                name,
                lineno,
                cols[0],
                WARNING,
                "unknown-directive",
                f"unknown directive '#{word}'; Asterisk ignores it",
            )
            return
        if not argument:
            self.report(
                name,
                lineno,
                cols[0],
                WARNING,
                "unknown-directive",
                f"'#{word}' needs an argument; Asterisk ignores it",
            )
            return
        if lower == "exec":
            self.report(
                name,
                lineno,
                cols[0],
                WARNING,
                "exec-not-checked",
                "#exec output is not checked: lint does not run programs",
            )
            return
        if argument[0] in '"<':
            closing = ">" if argument[0] == "<" else '"'
            if len(argument) > 1 and argument.endswith(closing):
                argument = argument[1:-1]
        if len(stack) >= _MAX_INCLUDE_LEVEL:
            self.report(
                name,
                lineno,
                cols[0],
                ERROR,
                "include-depth",
                f"#include nested more than {_MAX_INCLUDE_LEVEL} levels deep; "
                "Asterisk refuses to load this file",
            )
            return
        try:
            found = list(self.loader(argument)) if self.loader is not None else []
        except IncludeError as exc:
            self.report(name, lineno, cols[0], ERROR, "include-unreadable", str(exc))
            return
        if not found:
            if lower == "include":
                self.report(
                    name,
                    lineno,
                    cols[0],
                    ERROR,
                    "include-not-found",
                    f"#include {argument!r}: no such file (or not a regular file); Asterisk "
                    "refuses to load this file (use #tryinclude for an optional file)",
                )
            return
        self._load_included(found, argument, cols, name, lineno, stack)

    def _load_included(
        self, found: list[tuple[str, str]], argument: str, cols: list[int], name: str,
        lineno: int, stack: tuple[str, ...],
    ) -> None:  # fmt: skip
        for file_name, file_text in found:
            if file_name in stack:
                loop = " -> ".join((*stack[stack.index(file_name) :], file_name))
                self.report(
                    name,
                    lineno,
                    cols[0],
                    ERROR,
                    "include-cycle",
                    f"#include {argument!r} reads {file_name!r} again while it is still being "
                    f"read ({loop}): an endless loop Asterisk stops with an error",
                )
                continue
            self.load(file_name, file_text, stack)


_BLANKS = "".join(chr(i) for i in range(33))


def _find_semicolon(b: list[str], start: int) -> int:
    """Index of the next ';' before the end of the text (a NUL), or -1."""
    i = start
    while i < len(b) and b[i] != "\0":
        if b[i] == ";":
            return i
        i += 1
    return -1


def _after_comment(
    b: list[str], c: list[int], new: int, process: int | None
) -> tuple[int, int | None]:
    """A ';-- --;' comment closed at ``new``: join the text after it to the text
    before it (or start the text there); returns the scan and text starts."""
    if process is None:
        return new, new
    old = process
    while old < len(b) and b[old] != "\0":
        old += 1
    end = new
    while end < len(b) and b[end] != "\0":
        end += 1
    b[old:] = b[new:end]
    c[old:] = c[new:end]
    return old, process


# --------------------------------------------------------------------------- entry points


def parse_dialplan(
    text: str, file: str = "extensions.conf", *, loader: IncludeLoader | None = None
) -> Dialplan:
    """Read ``text`` (the contents of ``file``) as Asterisk reads extensions.conf.

    ``loader`` resolves ``#include`` arguments; without one every
    ``#include`` is reported as not found. Never raises on odd text: problems
    become :attr:`Dialplan.findings`.
    """
    reader = _Reader(loader)
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
