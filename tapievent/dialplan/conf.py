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

_NOT_CONTEXTS = ("general", "globals")
_IGNORED_STATEMENTS = ("ignorepat", "switch", "lswitch", "eswitch")


class IncludeError(Exception):
    """An include loader could not read a file it found; the message says why."""


#: ``loader(name) -> [(file name, text), ...]``: the files an ``#include``
#: argument names (several for a glob, none when nothing matched). Raises
#: :class:`IncludeError` for a file that exists but cannot be read.
IncludeLoader = Callable[[str], Sequence[tuple[str, str]]]


@attrs.frozen(slots=True)
class Priority:
    """One dialplan step, ``exten => extension,priority,app(data)``.

    ``column`` is where the application name starts. ``data_columns[i]`` is
    the file column of ``data[i]`` (escapes such as ``\\;`` make the two
    differ), so a checker can point into the argument text. ``shadowed`` is
    True when an earlier line already took this priority: Asterisk ignores
    this one.
    """

    context: str
    extension: str
    priority: int
    app: str
    data: str
    file: str
    line: int
    column: int
    label: str | None = None
    cid_match: str | None = None
    shadowed: bool = False
    data_columns: tuple[int, ...] = attrs.field(default=(), eq=False, repr=False)

    def column_of(self, offset: int) -> int:
        """File column of character ``offset`` of ``data`` (clamped to the text)."""
        if not self.data_columns:
            return self.column
        if offset < 0:
            return self.data_columns[0]
        if offset >= len(self.data_columns):
            return self.data_columns[-1] + 1 + offset - len(self.data_columns)
        return self.data_columns[offset]


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


@attrs.define(slots=True)
class _Var:
    name: str
    value: str
    value_columns: list[int]
    file: str
    line: int


@attrs.define(slots=True)
class _Category:
    name: str
    file: str
    line: int
    template: bool = False
    variables: list[_Var] = attrs.Factory(list)


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
        self.categories: list[_Category] = []
        self.current: _Category | None = None
        self.findings: list[Finding] = []
        self.files: list[str] = []
        self.total_bytes = 0
        self.implicit: _Category | None = None
        self.stopped = False

    def report(self, file: str, line: int, col: int, severity: str, code: str, msg: str) -> None:
        self.findings.append(Finding(file, line, col, severity, code, msg))

    def find_category(self, name: str) -> _Category | None:
        found = None
        for category in self.categories:
            if category.name.lower() == name.lower():
                found = category
        return found

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

        def find(start: int) -> int:
            i = start
            while i < len(b) and b[i] != "\0":
                if b[i] == ";":
                    return i
                i += 1
            return -1

        process: int | None = None if comment else 0
        new = 0
        while True:
            p = find(new)
            if p < 0:
                break
            if p > new and b[p - 1] == "\\":
                # An escaped semicolon is text; the backslash goes.
                del b[p - 1]
                del c[p - 1]
                new = p
            elif get(p + 1) == "-" and get(p + 2) == "-" and get(p + 3) != "-":
                if comment < _MAX_NESTED_COMMENTS:
                    b[p] = "\0"
                    new = p + 3
                    comment += 1
                    nest.append(lineno)
                else:
                    self.report(
                        name,
                        lineno,
                        c[p],
                        ERROR,
                        "comment-nesting",
                        f"more than {_MAX_NESTED_COMMENTS} nested ';--' comments",
                    )
                    new = p + 1
            elif p >= new + 2 and b[p - 1] == "-" and b[p - 2] == "-":
                comment -= 1
                if nest:
                    nest.pop()
                new = p + 1
                if comment == 0:
                    if process is not None:
                        old = process
                        while old < len(b) and b[old] != "\0":
                            old += 1
                        end = new
                        while end < len(b) and b[end] != "\0":
                            end += 1
                        b[old:] = b[new:end]
                        c[old:] = c[new:end]
                        new = old
                    else:
                        process = new
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
        category: _Category | None,
        name: str,
        lineno: int,
        stack: tuple[str, ...],
    ) -> _Category | None:
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
                self.implicit = _Category("", name, lineno)
                self.categories.append(self.implicit)
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
            previous = [v for v in category.variables if v.name == var_name]
            if previous:
                target = previous[-1]
                target.value = (target.value + value).rstrip(_BLANKS)
                target.value_columns = (target.value_columns + value_cols)[: len(target.value)]
                return category
        category.variables.append(_Var(var_name, value, value_cols, name, lineno))
        return category

    def _header(
        self,
        text: str,
        cols: list[int],
        category: _Category | None,
        name: str,
        lineno: int,
    ) -> _Category | None:
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
            return category
        cat_name = text[1:close]
        new: _Category | None = _Category(cat_name, name, lineno)
        result: _Category | None = new
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
                        existing.variables.extend(new.variables)
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
                    result.variables.extend(
                        _Var(v.name, v.value, list(v.value_columns), v.file, v.line)
                        for v in base.variables
                    )
        if new is not None:
            self.categories.append(new)
        self.current = result
        return result

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


# --------------------------------------------------------------------------- pass 2: pbx_config.c


def _pbx_strsep(value: str, start: int) -> tuple[int, int | None]:
    """pbx_config's ``pbx_strsep(",")``: end of the field and start of the rest.

    Brackets protect commas (``_[1,2]X``) and a backslash protects the next
    character.
    """
    square = 0
    i = start
    while i < len(value):
        ch = value[i]
        if ch == "[":
            square += 1
        elif ch == "]":
            if square:
                square -= 1
        elif ch == "\\":
            i += 1
        elif ch == "," and not square:
            return i, i + 1
        i += 1
    return len(value), None


def _leading_int(text: str) -> int | None:
    """``sscanf("%d")``: optional blanks, an optional sign, then digits."""
    i = 0
    while i < len(text) and text[i] in " \t\n\r\v\f":
        i += 1
    j = i
    if j < len(text) and text[j] in "+-":
        j += 1
    k = j
    while k < len(text) and text[k].isascii() and text[k].isdigit():
        k += 1
    if k == j:
        return None
    return int(text[i:k])


def _atoi(text: str) -> int:
    value = _leading_int(text)
    return 0 if value is None else value


@attrs.define(slots=True)
class _ContextBuilder:
    name: str
    file: str
    line: int
    priorities: list[Priority] = attrs.Factory(list)
    includes: list[str] = attrs.Factory(list)
    taken: dict[tuple[str, str | None, int], Priority] = attrs.Factory(dict)
    labels: dict[tuple[str, str | None, str], int] = attrs.Factory(dict)


def _build_contexts(reader: _Reader) -> list[_ContextBuilder]:
    contexts: dict[str, _ContextBuilder] = {}
    for category in reader.categories:
        if category.template or category.name.lower() in _NOT_CONTEXTS:
            continue
        key = category.name.lower()
        builder = contexts.get(key)
        if builder is None:
            builder = _ContextBuilder(category.name, category.file, category.line)
            contexts[key] = builder
        _fill_context(reader, builder, category)
    return list(contexts.values())


def _fill_context(reader: _Reader, builder: _ContextBuilder, category: _Category) -> None:
    last_extension = ""
    last_priority = -2
    for var in category.variables:
        lower = var.name.lower()
        value, cols = var.value, var.value_columns

        def report(severity: str, code: str, msg: str, offset: int = 0, v: _Var = var) -> None:
            col = v.value_columns[offset] if offset < len(v.value_columns) else 1
            reader.report(v.file, v.line, col, severity, code, msg)

        if lower.startswith("same"):
            if not last_extension:
                report(
                    ERROR,
                    "same-without-exten",
                    "'same =>' needs an 'exten =>' line before it in this context; "
                    "Asterisk ignores this line",
                )
                continue
            extension = last_extension
            rest: int | None = 0
        elif lower == "exten":
            end, rest = _pbx_strsep(value, 0)
            extension = value[:end]
            last_extension = extension
        elif lower == "include":
            builder.includes.append(value)
            continue
        elif lower in _IGNORED_STATEMENTS:
            continue
        else:
            report(
                WARNING,
                "unknown-statement",
                f"'{var.name}' is not a dialplan statement (exten, same, include, ...); "
                "Asterisk ignores this line",
            )
            continue

        cid: str | None = None
        if "/" in extension:
            extension, cid = extension.split("/", 1)
        if rest is None:
            pri_text, pri_start, rest = "", len(value), None
        else:
            comma = value.find(",", rest)
            pri_start = rest
            if comma < 0:
                pri_text, rest = value[rest:], None
            else:
                pri_text, rest = value[rest:comma], comma + 1
        pri = pri_text.strip(_BLANKS)
        pri_offset = pri_start + (len(pri_text) - len(pri_text.lstrip(_BLANKS)))
        label: str | None = None
        if "(" in pri:
            pri, _, label_part = pri.partition("(")
            if ")" not in label_part:
                report(
                    WARNING,
                    "bad-priority",
                    "label has no closing ')'; Asterisk ignores this line",
                    pri_offset,
                )
                continue
            label = label_part[: label_part.index(")")]
        plus: str | None = None
        if "+" in pri:
            pri, _, plus = pri.partition("+")
        if pri == "hint":
            # A hint is device state, not a step; it still counts as "last".
            last_priority = -1 + (_atoi(plus) if plus is not None else 0)
            continue
        if pri in ("n", "next", "s", "same"):
            if last_priority <= -2:
                report(
                    WARNING,
                    "bad-priority",
                    f"priority '{pri}' on the first line of a context; Asterisk ignores this line",
                    pri_offset,
                )
                continue
            number = last_priority + 1 if pri in ("n", "next") else last_priority
        else:
            parsed = _leading_int(pri)
            if parsed is None:
                found_label = builder.labels.get((extension, cid, pri))
                if found_label is None:
                    report(
                        WARNING,
                        "bad-priority",
                        f"invalid priority or unknown label {pri!r}; Asterisk ignores this line",
                        pri_offset,
                    )
                    continue
                parsed = found_label
            elif parsed < 1:
                report(
                    WARNING,
                    "bad-priority",
                    f"priority {pri!r} is below 1; Asterisk ignores this line",
                    pri_offset,
                )
                continue
            number = parsed
        # Application and argument: App(data), the data running to the last ')'.
        app_start = len(value) if rest is None else rest
        app_text = value[app_start:]
        data = ""
        data_cols: list[int] = []
        paren = app_text.find("(")
        if paren >= 0 and "${" not in app_text[:paren] and "$[" not in app_text[:paren]:
            app = app_text[:paren]
            data_start = app_start + paren + 1
            close = value.rfind(")", data_start)
            if close < 0:
                report(
                    WARNING,
                    "missing-paren",
                    f"no closing ')' after {app.strip(_BLANKS)}(; Asterisk passes the rest "
                    "of the line as its argument",
                    app_start + paren,
                )
                close = len(value)
            data = value[data_start:close]
            data_cols = cols[data_start:close]
        else:
            app = app_text
        skipped = len(app) - len(app.lstrip(_BLANKS))
        app = app[skipped:]
        app_col = cols[app_start + skipped] if app_start + skipped < len(cols) else 1
        if not number:
            report(
                WARNING,
                "bad-priority",
                "this priority works out to 0; Asterisk ignores this line",
                pri_offset,
            )
            continue
        if plus is not None:
            number += _atoi(plus)
        last_priority = number
        key = (extension, cid, number)
        earlier = builder.taken.get(key)
        step = Priority(
            context=builder.name,
            extension=extension,
            priority=number,
            app=app,
            data=data,
            file=var.file,
            line=var.line,
            column=app_col,
            label=label,
            cid_match=cid,
            shadowed=earlier is not None,
            data_columns=tuple(data_cols),
        )
        if earlier is not None:
            where = (
                f"line {earlier.line}"
                if earlier.file == var.file
                else f"{earlier.file}:{earlier.line}"
            )
            report(
                ERROR,
                "duplicate-priority",
                f"extension {extension!r} already has priority {number} at {where}; "
                "Asterisk keeps that one and ignores this line",
                pri_offset,
            )
        else:
            builder.taken[key] = step
            if label:
                builder.labels.setdefault((extension, cid, label), number)
        builder.priorities.append(step)


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
    builders = _build_contexts(reader)
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
