"""How Asterisk splits an application's argument text, modelled statically.

At run time Asterisk first substitutes every ``${...}`` / ``$[...]`` in the
argument text, then splits the result into arguments. A checker only has
the text as written, so here each variable reference is one opaque unit
(what it will expand to is unknown) and only the literal characters are
split, with the rules of ami-versions.md section 2.3:

* 1.2 and 1.4 (``pbx_config`` at load time): an unescaped ``,`` outside
  single quotes becomes ``|``; ``\\`` and ``'`` are removed. Then 1.2's
  UserEvent splits at the first ``|`` only, while 1.4 splits every ``|``
  like 1.6+ splits ``,``.
* 1.6 and later: ``,`` separates; ``"`` toggles quoting and is removed;
  ``\\`` protects the next character and is removed; ``( )`` protect; from
  1.8 ``[ ]`` protect too.

Every piece of text keeps the offset of each of its characters in the
original argument text, so a finding can point at the right file column.
"""

from __future__ import annotations

from collections.abc import Iterator

import attrs

from .render import reference_end

__all__ = ["Arg", "VarRef", "iter_refs", "split_args", "split_first"]


@attrs.frozen(slots=True)
class Arg:
    """One argument after splitting: its text and, per character, its offset in the data."""

    text: str
    offsets: tuple[int, ...] = attrs.field(eq=False, repr=False)
    start: int = attrs.field(eq=False)

    def offset_of(self, index: int) -> int:
        """Offset in the original data of ``text[index]`` (past the end: extrapolated)."""
        if not self.offsets:
            return self.start
        if index < len(self.offsets):
            return self.offsets[max(index, 0)]
        return self.offsets[-1] + 1 + index - len(self.offsets)

    def sub(self, begin: int, end: int | None = None) -> Arg:
        """The part ``text[begin:end]`` with its offsets."""
        stop = len(self.text) if end is None else end
        return Arg(self.text[begin:stop], self.offsets[begin:stop], self.offset_of(begin))


def _ref_end(data: str, i: int) -> int:
    """End (exclusive) of the reference starting at ``data[i]``, as the grammar
    reads it; an unterminated reference runs to the end of the text."""
    end = reference_end(data, i)
    return len(data) if end is None else end


def _units(data: str) -> Iterator[tuple[int, int]]:
    """Split ``data`` into units: one character, or one whole variable reference."""
    i = 0
    while i < len(data):
        if data[i] == "$" and i + 1 < len(data) and data[i + 1] in "{[":
            end = _ref_end(data, i)
            yield i, end
            i = end
        else:
            yield i, i + 1
            i += 1


def _legacy_load(data: str) -> tuple[str, list[int]]:
    """1.2/1.4 pbx_config: ``,`` -> ``|`` outside ``'...'``; ``\\`` and ``'`` dropped."""
    out: list[str] = []
    offsets: list[int] = []
    escape = False
    quoted = False
    for start, end in _units(data):
        if end - start > 1:
            out.extend(data[start:end])
            offsets.extend(range(start, end))
            continue
        ch = data[start]
        if escape:
            escape = False
        elif ch == "\\":
            escape = True
            continue
        elif ch == "'":
            quoted = not quoted
            continue
        elif ch == "," and not quoted:
            ch = "|"
        out.append(ch)
        offsets.append(start)
    return "".join(out), offsets


def split_args(data: str, version: tuple[int, ...], limit: int = 100) -> list[Arg]:
    """Split application argument text as Asterisk ``version`` would.

    ``limit`` is the most arguments (UserEvent takes 100 extra): past it the
    remainder stays unsplit in the last one.
    """
    if version < (1, 6):
        text, base = _legacy_load(data)
        delimiter = "|"
    else:
        text, base = data, list(range(len(data)))
        delimiter = ","
    brackets = version >= (1, 8)
    # 1.2's splitter knows parentheses only; quotes and backslashes are text.
    quoting = version >= (1, 4)
    args: list[Arg] = []
    chars: list[str] = []
    offsets: list[int] = []
    start = 0
    paren = bracket = 0
    quote = False
    escape = False
    for ustart, uend in _units(text):
        if uend - ustart > 1:
            chars.extend(text[ustart:uend])
            offsets.extend(base[ustart:uend])
            continue
        ch = text[ustart]
        if escape:
            escape = False
        elif ch == "(":
            paren += 1
        elif ch == ")":
            paren = max(paren - 1, 0)
        elif brackets and ch == "[":
            bracket += 1
        elif brackets and ch == "]":
            bracket = max(bracket - 1, 0)
        elif quoting and ch == '"':
            quote = not quote
            continue
        elif quoting and ch == "\\":
            escape = True
            continue
        elif ch == delimiter and not paren and not quote and not bracket and len(args) < limit:
            args.append(Arg("".join(chars), tuple(offsets), start))
            chars, offsets = [], []
            start = base[ustart] + 1
            continue
        chars.append(ch)
        offsets.append(base[ustart])
    args.append(Arg("".join(chars), tuple(offsets), start))
    return args


def split_first(data: str, version: tuple[int, ...]) -> list[Arg]:
    """1.2 UserEvent: load-time conversion, then a split at the first ``|`` only."""
    text, base = _legacy_load(data) if version < (1, 6) else (data, list(range(len(data))))
    bar = -1
    for ustart, uend in _units(text):
        if uend - ustart == 1 and text[ustart] == "|":
            bar = ustart
            break
    if bar < 0:
        return [Arg(text, tuple(base), 0)]
    return [
        Arg(text[:bar], tuple(base[:bar]), 0),
        Arg(text[bar + 1 :], tuple(base[bar + 1 :]), base[bar] + 1),
    ]


@attrs.frozen(slots=True)
class VarRef:
    """A ``${NAME}`` or ``${FUNC(...)}`` reference found in some text.

    ``offset`` is where its ``$`` is; ``name`` is the variable or function
    name as written; ``is_function`` tells ``${CALLERID(num)}`` from
    ``${CALLERID}``; ``wrapped_by`` lists the enclosing function names,
    outermost first (``QUOTE`` for ``${QUOTE(${CALLERID(all)})}``).
    """

    offset: int
    name: str
    is_function: bool
    wrapped_by: tuple[str, ...] = ()


def _name_end(text: str, i: int) -> int:
    while i < len(text) and text[i] not in "(:}":
        i += 1
    return i


def iter_refs(text: str, base: int = 0, wrapped_by: tuple[str, ...] = ()) -> Iterator[VarRef]:
    """Every ``${...}`` reference in ``text``, nested ones included.

    A function's arguments are searched too, and so are the bare variable
    names some functions read (``STRREPLACE(CALLERID(name),...)`` reads the
    caller id without ``${``): those are reported as references wrapped by
    that function.
    """
    for start, end in _units(text):
        if end - start < 2 or text[start + 1] != "{":
            if end - start > 1:
                # $[ expression ]: look for references inside it.
                yield from iter_refs(text[start + 2 : end - 1], base + start + 2, wrapped_by)
            continue
        inner_start = start + 2
        inner_end = end - 1 if text[end - 1] == "}" else end
        name_end = _name_end(text, inner_start)
        name = text[inner_start:name_end].strip()
        is_function = name_end < inner_end and text[name_end] == "("
        yield VarRef(base + start, name, is_function, wrapped_by)
        if is_function:
            close = text.rfind(")", name_end, inner_end)
            args_end = close if close >= 0 else inner_end
            inner = text[name_end + 1 : args_end]
            inner_base = base + name_end + 1
            wrapped = (*wrapped_by, name.upper())
            yield from iter_refs(inner, inner_base, wrapped)
            if name.upper() in _READS_VARIABLE_NAMES:
                yield from _bare_function_refs(inner, inner_base, wrapped)
        elif name_end < inner_end:
            # ${VAR:offset:length} substring: the offsets may hold references.
            yield from iter_refs(text[name_end:inner_end], base + name_end, wrapped_by)


# Functions whose first argument is a variable *name* they read themselves.
_READS_VARIABLE_NAMES = frozenset(
    {"STRREPLACE", "CUT", "REPLACE", "FIELDQTY", "FIELDNUM", "LISTFILTER", "POP", "SHIFT"}
)


def _bare_function_refs(text: str, base: int, wrapped_by: tuple[str, ...]) -> Iterator[VarRef]:
    """``NAME(...)`` written without ``${`` inside such a function's arguments."""
    i = 0
    while i < len(text):
        if text[i] == "$" and i + 1 < len(text) and text[i + 1] in "{[":
            i = _ref_end(text, i)
            continue
        if text[i].isalpha() and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            j = i
            while j < len(text) and (text[j].isalnum() or text[j] == "_"):
                j += 1
            if j < len(text) and text[j] == "(":
                yield VarRef(base + i, text[i:j], True, wrapped_by)
            i = j
            continue
        i += 1
