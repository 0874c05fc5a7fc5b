"""Pass 1 of reading extensions.conf: text into categories (``main/config.c``).

Kept apart from :mod:`tapievent.dialplan.conf` (the public face, which
documents both passes) and from the comment loop (:mod:`._comments`): this
module reads one line at a time once its comments are gone and decides
what it is -- a ``[category]`` header with its template options, a
``#include``-like directive, or a ``name = value`` variable -- reporting a
:class:`~tapievent.dialplan._findings.Finding` where Asterisk would refuse
or ignore the line, and carrying on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ._comments import BLANKS, CommentState, strip_blanks, strip_comments
from ._findings import ERROR, WARNING, Finding
from ._steps import Category, Var

__all__ = [
    "MAX_FILES",
    "MAX_TOTAL_BYTES",
    "ConfigReader",
    "IncludeError",
    "IncludeLoader",
]

# config.c reads lines into an 8192-byte buffer; a line that fills it is skipped.
_LINE_BUFFER = 8192
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


class ConfigReader:
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
        """Read the file ``name`` (``text``), included through ``stack``."""
        if self.stopped or not self._admit(name, text, stack):
            return
        stack = (*stack, name)
        comments = CommentState(name, self.report)
        # config.c: each file starts in the category that is current now, and
        # an #include does not change the including file's category.
        category = self.current
        lines = text.split("\n")
        for index, raw in enumerate(lines):
            lineno = index + 1
            cleaned = self._clean(raw, index == len(lines) - 1, comments, lineno)
            if cleaned is None:
                continue
            category = self._line(*cleaned, category, name, lineno, stack)
            if self.stopped:
                return
        comments.finish()

    def _admit(self, name: str, text: str, stack: tuple[str, ...]) -> bool:
        """Whether ``name`` still fits the bounds; when not, say so and stop reading."""
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
            return False
        self.files.append(name)
        self.total_bytes += size
        return True

    def _clean(
        self, raw: str, last: bool, comments: CommentState, lineno: int
    ) -> tuple[list[str], list[int]] | None:
        """One raw line as config.c sees it: its text and columns, or ``None`` to skip it."""
        length = len(raw.encode("utf-8", "surrogateescape")) + (0 if last else 1)
        if length >= _LINE_BUFFER - 1:
            self.report(
                comments.file,
                lineno,
                1,
                WARNING,
                "line-too-long",
                f"line is {length} bytes; Asterisk skips lines of {_LINE_BUFFER - 1} bytes or more",
            )
            return None
        if "\0" in raw:
            # fgets reads it, but every C string function stops at the NUL.
            raw = raw[: raw.index("\0")]
        kept = strip_comments(list(raw), list(range(1, len(raw) + 1)), comments, lineno)
        if kept is None:
            return None
        line_chars, line_cols = strip_blanks(*kept)
        return (line_chars, line_cols) if line_chars else None

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
            category = self._implicit_category(name, lineno, cols[0])
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
        self._variable(text, chars, cols, start, category, name, lineno)
        return category

    def _implicit_category(self, name: str, lineno: int, col: int) -> Category:
        """The category a line before any ``[context]`` is read in (reported once)."""
        if self.implicit is None:
            self.report(
                name,
                lineno,
                col,
                ERROR,
                "no-context",
                "line before any [context]: Asterisk refuses to load this file "
                "(checking it anyway as if it were in one context)",
            )
            self.implicit = Category("", name, lineno)
            self.add_category(self.implicit)
        self.current = self.implicit
        return self.implicit

    def _variable(
        self, text: str, chars: list[str], cols: list[int], start: int, category: Category,
        name: str, lineno: int,
    ) -> None:  # fmt: skip
        """``name = value``, ``name => value`` or ``name += value`` into ``category``."""
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
            return
        append = eq > start and text[eq - 1] == "+"
        value_start = eq + 1
        if not append and value_start < len(text) and text[value_start] == ">":
            value_start += 1
        var_name = text[start : eq - 1 if append else eq].strip(BLANKS)
        value_chars, value_cols = strip_blanks(chars[value_start:], cols[value_start:])
        if not var_name:
            self.report(
                name,
                lineno,
                cols[0],
                WARNING,
                "no-name",
                "nothing before '='; Asterisk ignores this line",
            )
            return
        value = "".join(value_chars)
        if append:
            target = category.last_named(var_name)
            if target is not None:
                target.value = (target.value + value).rstrip(BLANKS)
                target.value_columns = (target.value_columns + value_cols)[: len(target.value)]
                return
        category.add(Var(var_name, value, value_cols, name, lineno))

    # ---------------------------------------------------------------- headers

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
            broken = Category(text[1:].strip(BLANKS), name, lineno)
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
            assert new is not None
            new, result = self._options(rest[1:end], cols, close, new, lineno)
        if new is not None:
            self.add_category(new)
        self.current = result
        return result

    def _options(
        self, options: str, cols: list[int], close: int, new: Category, lineno: int
    ) -> tuple[Category | None, Category]:
        """Apply ``[name](options)``: ``!`` (a template), ``+`` (add to), template names.

        Returns the category still to add (``None`` once ``+`` merged it into
        an earlier one) and the category the following lines go into.
        """
        pending: Category | None = new
        result = new
        for option in options.split(","):
            option_col = cols[close + 2 + options.find(option)] if option else cols[close]
            if option == "!":
                result.template = True
            elif option.startswith("+"):
                existing = self._known(new.name, option_col, new.file, lineno, added=True)
                if existing is None:
                    continue
                if pending is not None:
                    existing.template = existing.template or pending.template
                    existing.absorb(pending)
                    pending = None
                result = existing
            else:
                base = self._known(option, option_col, new.file, lineno, added=False)
                if base is not None:
                    result.inherit(base)
        return pending, result

    def _known(self, wanted: str, col: int, name: str, lineno: int, added: bool) -> Category | None:
        """The earlier category ``wanted`` that ``(+)`` or a template option names."""
        found = self.find_category(wanted)
        if found is None:
            message = (
                f"[{wanted}](+) adds to a context that does not exist yet; "
                if added
                else f"template {wanted!r} is not defined above this line; "
            )
            self.report(
                name,
                lineno,
                col,
                ERROR,
                "unknown-template",
                message + "Asterisk refuses to load this file",
            )
        return found

    # ---------------------------------------------------------------- directives

    def _directive(
        self, text: str, cols: list[int], name: str, lineno: int, stack: tuple[str, ...]
    ) -> None:
        end = 1
        while end < len(text) and ord(text[end]) > 32:
            end += 1
        word = text[1:end]
        argument = text[end:].strip(BLANKS)
        lower = word.lower()
        problem = None
        if lower not in ("include", "tryinclude", "exec"):
            problem = "unknown-directive", f"unknown directive '#{word}'; Asterisk ignores it"
        elif not argument:
            problem = "unknown-directive", f"'#{word}' needs an argument; Asterisk ignores it"
        elif lower == "exec":
            problem = "exec-not-checked", "#exec output is not checked: lint does not run programs"
        if problem is not None:
            self.report(name, lineno, cols[0], WARNING, *problem)
            return
        if argument[0] in '"<':
            closing = ">" if argument[0] == "<" else '"'
            if len(argument) > 1 and argument.endswith(closing):
                argument = argument[1:-1]
        self._include(lower == "include", argument, cols[0], name, lineno, stack)

    def _include(
        self, required: bool, argument: str, col: int, name: str, lineno: int,
        stack: tuple[str, ...],
    ) -> None:  # fmt: skip
        """``#include`` (``required``) or ``#tryinclude`` of ``argument``."""
        if len(stack) >= _MAX_INCLUDE_LEVEL:
            self.report(
                name,
                lineno,
                col,
                ERROR,
                "include-depth",
                f"#include nested more than {_MAX_INCLUDE_LEVEL} levels deep; "
                "Asterisk refuses to load this file",
            )
            return
        try:
            found = list(self.loader(argument)) if self.loader is not None else []
        except IncludeError as exc:
            self.report(name, lineno, col, ERROR, "include-unreadable", str(exc))
            return
        if not found:
            if required:
                self.report(
                    name,
                    lineno,
                    col,
                    ERROR,
                    "include-not-found",
                    f"#include {argument!r}: no such file (or not a regular file); Asterisk "
                    "refuses to load this file (use #tryinclude for an optional file)",
                )
            return
        self._load_included(found, argument, col, name, lineno, stack)

    def _load_included(
        self, found: list[tuple[str, str]], argument: str, col: int, name: str,
        lineno: int, stack: tuple[str, ...],
    ) -> None:  # fmt: skip
        for file_name, file_text in found:
            if file_name in stack:
                loop = " -> ".join((*stack[stack.index(file_name) :], file_name))
                self.report(
                    name,
                    lineno,
                    col,
                    ERROR,
                    "include-cycle",
                    f"#include {argument!r} reads {file_name!r} again while it is still being "
                    f"read ({loop}): an endless loop Asterisk stops with an error",
                )
                continue
            self.load(file_name, file_text, stack)
