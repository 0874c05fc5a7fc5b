"""Pass 2 of reading extensions.conf: categories become contexts (``pbx_config.c``).

A category's lines are kept as *pieces*: its own lines and, for each
template it inherits, a reference to that template's piece list and how
many lines it had then. Asterisk copies the inherited lines; sharing them
keeps a chain of templates linear in its input (a chain of 1,600 templates
used to copy 1.3 million lines). The lines of a category are only expanded
when it becomes a context, and that expansion is bounded by
:data:`MAX_EXPANDED_LINES` for the whole read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import attrs

from ._findings import ERROR, WARNING

__all__ = ["MAX_EXPANDED_LINES", "Category", "ContextBuilder", "Priority", "Var", "build"]

_BLANKS = "".join(chr(i) for i in range(33))
_NOT_CONTEXTS = ("general", "globals")
_IGNORED_STATEMENTS = ("ignorepat", "switch", "lswitch", "eswitch")
#: Lines (own plus inherited) all contexts of one read may expand to.
MAX_EXPANDED_LINES = 1_000_000

Report = Callable[[str, int, int, str, str, str], None]


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


@attrs.define(slots=True)
class Var:
    name: str
    value: str
    value_columns: list[int]
    file: str
    line: int


@attrs.define(slots=True, eq=False)
class _Inherited:
    """The first ``count`` lines of a template's piece list, shared, not copied."""

    pieces: list[Var | _Inherited]
    count: int


@attrs.define(slots=True, eq=False)
class Category:
    """A ``[name]`` section. Its piece list only ever grows at the end while
    another category may share it (``shared``), so a shared prefix never
    changes; a line edited in place (``name +=``) first gets a private copy."""

    name: str
    file: str
    line: int
    template: bool = False
    pieces: list[Var | _Inherited] = attrs.Factory(list)
    size: int = 0
    shared: bool = False
    # The last own line of each name, valid while no inherited line came after.
    last: dict[str, Var] | None = attrs.Factory(dict)

    def add(self, var: Var) -> None:
        self.pieces.append(var)
        self.size += 1
        if self.last is not None:
            self.last[var.name] = var

    def inherit(self, base: Category) -> None:
        """Take ``base``'s lines as they are now (Asterisk copies them)."""
        if base.size:
            base.shared = True
            self.pieces.append(_Inherited(base.pieces, base.size))
            self.size += base.size
            self.last = None

    def absorb(self, other: Category) -> None:
        """``[name](+)``: the new section's lines join this category."""
        self.pieces.extend(other.pieces)
        self.size += other.size
        self.last = None

    def variables(self) -> Iterator[Var]:
        """Own and inherited lines in order (iterative: chains can be deep)."""
        stack: list[tuple[list[Var | _Inherited], int, int]] = [(self.pieces, 0, self.size)]
        while stack:
            pieces, i, left = stack.pop()
            while i < len(pieces) and left > 0:
                piece = pieces[i]
                i += 1
                if isinstance(piece, Var):
                    left -= 1
                    yield piece
                    continue
                take = min(piece.count, left)
                stack.append((pieces, i, left - take))
                stack.append((piece.pieces, 0, take))
                break

    def last_named(self, name: str) -> Var | None:
        """The category's own copy of its last ``name`` line, for ``name +=``.

        O(1) for a category of own lines nobody inherited; otherwise the
        lines are copied once into a private list (as Asterisk holds them).
        """
        if self.last is not None and not self.shared:
            return self.last.get(name)
        lines = list(self.variables())
        index = max((i for i, v in enumerate(lines) if v.name == name), default=None)
        if index is None:
            return None
        # Private copies, so the lines other categories share stay as they were.
        copies = [Var(v.name, v.value, list(v.value_columns), v.file, v.line) for v in lines]
        self.pieces, self.shared = list(copies), False
        self.last = {v.name: v for v in copies}
        return copies[index]


@attrs.define(slots=True)
class ContextBuilder:
    name: str
    file: str
    line: int
    priorities: list[Priority] = attrs.Factory(list)
    includes: list[str] = attrs.Factory(list)
    taken: dict[tuple[str, str | None, int], Priority] = attrs.Factory(dict)
    labels: dict[tuple[str, str | None, str], int] = attrs.Factory(dict)
    last_extension: str = ""
    last_priority: int = -2


def build(categories: list[Category], report: Report) -> list[ContextBuilder]:
    """The contexts of ``categories`` (templates and [general]/[globals] are none)."""
    contexts: dict[str, ContextBuilder] = {}
    budget = MAX_EXPANDED_LINES
    for category in categories:
        if category.template or category.name.lower() in _NOT_CONTEXTS:
            continue
        key = category.name.lower()
        builder = contexts.get(key)
        if builder is None:
            builder = ContextBuilder(category.name, category.file, category.line)
            contexts[key] = builder
        if category.size > budget:
            report(
                category.file, category.line, 1, ERROR, "too-many-lines",
                f"context {category.name!r} expands to {category.size} lines with its "
                f"templates, more than the {MAX_EXPANDED_LINES} this checker reads in all; "
                "its lines are not checked",
            )  # fmt: skip
            budget = 0
            continue
        budget -= category.size
        for var in category.variables():
            _statement(builder, var, _reporter(report, var))
    return list(contexts.values())


StepReport = Callable[..., None]


def _reporter(report: Report, var: Var) -> StepReport:
    def say(severity: str, code: str, msg: str, offset: int = 0) -> None:
        col = var.value_columns[offset] if offset < len(var.value_columns) else 1
        report(var.file, var.line, col, severity, code, msg)

    return say


def _statement(builder: ContextBuilder, var: Var, report: StepReport) -> None:
    """One line of a context: a step, an include, or something Asterisk ignores."""
    lower = var.name.lower()
    value = var.value
    rest: int | None
    if lower.startswith("same"):
        if not builder.last_extension:
            report(
                ERROR, "same-without-exten",
                "'same =>' needs an 'exten =>' line before it in this context; "
                "Asterisk ignores this line",
            )  # fmt: skip
            return
        extension, rest = builder.last_extension, 0
    elif lower == "exten":
        end, rest = _pbx_strsep(value, 0)
        extension = value[:end]
        builder.last_extension = extension
    elif lower == "include":
        if value in builder.includes:
            report(
                WARNING, "include-twice",
                f"context {value!r} is already included here; Asterisk ignores this line",
            )  # fmt: skip
            return
        builder.includes.append(value)
        return
    elif lower in _IGNORED_STATEMENTS or lower == "autohints":
        return  # autohints: a context option since Asterisk 13 (pbx_config.c)
    else:
        report(
            WARNING, "unknown-statement",
            f"'{var.name}' is not a dialplan statement (exten, same, include, ...); "
            "Asterisk ignores this line",
        )  # fmt: skip
        return
    _step(builder, var, extension, rest, report)


def _step(
    builder: ContextBuilder, var: Var, extension: str, rest: int | None, report: StepReport
) -> None:
    value = var.value
    cid: str | None = None
    if "/" in extension:
        extension, cid = extension.split("/", 1)
    if rest is None:
        pri_text, pri_start = "", len(value)
    else:
        comma = value.find(",", rest)
        pri_start = rest
        if comma < 0:
            pri_text, rest = value[rest:], None
        else:
            pri_text, rest = value[rest:comma], comma + 1
    pri_offset = pri_start + (len(pri_text) - len(pri_text.lstrip(_BLANKS)))
    parsed = _priority(builder, extension, cid, pri_text.strip(_BLANKS), pri_offset, report)
    if parsed is None:
        return
    number, label = parsed
    app, data, data_cols, app_col = _application(var, rest, report)
    if extension in ("_.", "_!"):
        report(
            WARNING, "pattern-catch-all",
            f"extension '{extension}' also matches the h, i, t and other special extensions; "
            f"Asterisk warns about it (write '_X{extension[1]}')",
        )  # fmt: skip
    key = (extension, cid, number)
    earlier = builder.taken.get(key)
    step = Priority(
        context=builder.name, extension=extension, priority=number, app=app, data=data,
        file=var.file, line=var.line, column=app_col, label=label, cid_match=cid,
        shadowed=earlier is not None, data_columns=tuple(data_cols),
    )  # fmt: skip
    if earlier is not None:
        where = f"line {earlier.line}" if earlier.file == var.file else (
            f"{earlier.file}:{earlier.line}")  # fmt: skip
        report(
            ERROR, "duplicate-priority",
            f"extension {extension!r} already has priority {number} at {where}; "
            "Asterisk keeps that one and ignores this line",
            pri_offset,
        )  # fmt: skip
    else:
        builder.taken[key] = step
        if label:
            builder.labels.setdefault((extension, cid, label), number)
    builder.priorities.append(step)


def _priority(
    builder: ContextBuilder,
    extension: str,
    cid: str | None,
    pri: str,
    offset: int,
    report: StepReport,
) -> tuple[int, str | None] | None:
    """The priority number and label of a step, or None (reported) when Asterisk
    ignores the line. Updates the context's "last priority" as pbx_config does."""
    label: str | None = None
    if "(" in pri:
        pri, _, label_part = pri.partition("(")
        if ")" not in label_part:
            report(WARNING, "bad-priority", "label has no closing ')'; Asterisk ignores this line",
                   offset)  # fmt: skip
            return None
        label = label_part[: label_part.index(")")]
    plus: str | None = None
    if "+" in pri:
        pri, _, plus = pri.partition("+")
    if pri == "hint":
        # A hint is device state, not a step; it still counts as "last".
        builder.last_priority = -1 + (_atoi(plus) if plus is not None else 0)
        return None
    number = _priority_number(builder, extension, cid, pri, offset, report)
    if number is None:
        return None
    if not number:
        report(WARNING, "bad-priority", "this priority works out to 0; Asterisk ignores this line",
               offset)  # fmt: skip
        return None
    if plus is not None:
        number += _atoi(plus)
    builder.last_priority = number
    return number, label


def _priority_number(
    builder: ContextBuilder,
    extension: str,
    cid: str | None,
    pri: str,
    offset: int,
    report: StepReport,
) -> int | None:
    if pri in ("n", "next", "s", "same"):
        if builder.last_priority <= -2:
            report(
                WARNING, "bad-priority",
                f"priority '{pri}' on the first line of a context; Asterisk ignores this line",
                offset,
            )  # fmt: skip
            return None
        return builder.last_priority + 1 if pri in ("n", "next") else builder.last_priority
    parsed = _leading_int(pri)
    if parsed is None:
        found = builder.labels.get((extension, cid, pri))
        if found is None:
            report(
                WARNING, "bad-priority",
                f"invalid priority or unknown label {pri!r}; Asterisk ignores this line",
                offset,
            )  # fmt: skip
        return found
    if parsed < 1:
        report(WARNING, "bad-priority", f"priority {pri!r} is below 1; Asterisk ignores this line",
               offset)  # fmt: skip
        return None
    return parsed


def _application(var: Var, rest: int | None, report: StepReport) -> tuple[str, str, list[int], int]:
    """Application and argument: App(data), the data running to the last ')'."""
    value, cols = var.value, var.value_columns
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
                WARNING, "missing-paren",
                f"no closing ')' after {app.strip(_BLANKS)}(; Asterisk passes the rest "
                "of the line as its argument",
                app_start + paren,
            )  # fmt: skip
            close = len(value)
        data = value[data_start:close]
        data_cols = cols[data_start:close]
    else:
        app = app_text
    skipped = len(app) - len(app.lstrip(_BLANKS))
    app = app[skipped:]
    app_col = cols[app_start + skipped] if app_start + skipped < len(cols) else 1
    return app, data, data_cols, app_col


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
