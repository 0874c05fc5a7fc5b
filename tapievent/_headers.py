"""Header lines to ``(name, value)`` pairs: the general rule, and a batch of frames at once.

The rule (docs/ami.md, "Lines and headers"): a line ends at LF and loses one
CR before it; its name is the text up to the first colon with blanks
(space, tab) stripped; one space after the colon is removed and the rest
of the value is kept verbatim; a line without a colon is a header with
an empty name and the whole line as its value.

:func:`parse_lines` applies it line by line and is the reference.
:func:`split_batch` does the same work for many ordinary frames with a few
C-level string operations over all of them, which is what makes the decoder
faster than a hand-written split-and-dict loop; it declines (returns
``None``) whenever its shortcut might not give exactly what
:func:`parse_lines` gives, and ``tests/test_ami_headers.py`` proves the two
equal on generated input.
"""

from __future__ import annotations

from itertools import repeat
from operator import itemgetter
from typing import Final

from ._message import ASCII_LOWER, Message

__all__ = ["parse_lines", "split_batch", "split_line"]

_NAME: Final = itemgetter(0)
_SEP: Final = itemgetter(1)
_VALUE: Final = itemgetter(2)


def split_line(line: str) -> tuple[str, str]:
    """One header line (without its line ending) as ``(name, value)``."""
    name, sep, value = line.partition(":")
    if not sep:
        return ("", line)
    if value[:1] == " ":
        value = value[1:]
    return (name.strip(" \t"), value)


def parse_lines(text: str) -> tuple[tuple[str, str], ...]:
    """The headers of one frame's text, its last line ending removed.

    Lines end in LF, most in CRLF; each loses one CR before its LF (a stray
    CR elsewhere is kept).
    """
    lines = [line[:-1] if line[-1:] == "\r" else line for line in (text + "\r").split("\n")]
    return tuple(map(split_line, lines))


# Stands for the blank line between two frames of a batch, as a header line
# of its own; a batch holding a NUL is not cut this way.
_BOUNDARY: Final = "\r\n\x00: \x00\r\n"
_FRAME_END: Final = "\x00"


def split_batch(text: str) -> list[Message] | None:
    """The messages of ``text``: ordinary CRLF frames joined by one blank line each.

    ``text`` is what lies between the first byte of the first frame and the
    CRLF that ends the last line of the last one, decoded. Returns ``None``
    when the text is not exactly that (a bare LF, a blank-line run, an
    empty frame, a NUL) or when a line needs more than the shortcuts do
    (no ``": "``, a colon or blank in its name): the caller then uses
    :func:`parse_lines` per frame.

    Each blank line between frames is first replaced by a pseudo header
    line ``"\x00: \x00"``, so the whole batch is one list of lines. Then
    the name of each line is the text before its first ``": "`` and the
    value everything after it, which is the general rule exactly when every
    line has a ``": "`` and no name holds a colon or an edge blank (both
    checked over the whole batch at once).
    """
    if (
        not text
        or text[:2] == "\r\n"
        or text[-2:] == "\r\n"
        or "\r\n\r\n\r\n" in text
        or _FRAME_END in text
    ):
        return None  # an empty frame (blank lines the decoder skips), or a NUL
    marked = text.replace("\r\n\r\n", _BOUNDARY)
    breaks = marked.count("\r\n")
    if marked.count("\n") != breaks:
        return None  # a bare LF: its line and frame ends differ
    # One ": " per line on average: try the cheaper split; more: some value
    # holds one (Newexten AppData), so partition each line.
    if marked.count(": ") == breaks + 1:
        columns = _split_pieces(marked, breaks)
    else:
        columns = _split_partitions(marked)
    if columns is None:
        return None
    names, values = columns
    joined = "\n".join(names)
    if ":" in joined or " " in joined or "\t" in joined:
        return None  # a name the general rule would cut or strip differently
    folded = (joined.lower() if joined.isascii() else joined.translate(ASCII_LOWER)).split("\n")
    return _messages(names, values, folded)


def _split_pieces(marked: str, breaks: int) -> tuple[list[str], list[str]] | None:
    """Names and values when every line holds exactly one ``": "``.

    Each CRLF becomes ``": \n: "`` and the text is split on ``": "``, which
    gives name, value, ``"\n"``, name, value, ... When the pieces follow
    that pattern exactly (every third one a line break, as many as there
    are CRLFs) each line held exactly one ``": "``.
    """
    pieces = marked.replace("\r\n", ": \n: ").split(": ")
    if len(pieces) != 3 * breaks + 2 or pieces[2::3].count("\n") != breaks:
        return None
    return pieces[0::3], pieces[1::3]


def _split_partitions(marked: str) -> tuple[list[str], list[str]] | None:
    """Names and values when every line holds at least one ``": "`` (values may hold more)."""
    triples = list(map(str.partition, marked.split("\r\n"), repeat(": ")))
    if "" in map(_SEP, triples):
        return None
    return list(map(_NAME, triples)), list(map(_VALUE, triples))


def _messages(names: list[str], values: list[str], folded: list[str]) -> list[Message]:
    # Frame k is lines [i, j) with names[j] the pseudo line (or j the end).
    count = len(names)
    pairs = list(zip(names, values, strict=True))
    make = Message
    out: list[Message] = []
    append = out.append
    index = names.index
    i = 0
    while True:
        try:
            j = index(_FRAME_END, i)
        except ValueError:
            j = count
        append(make(tuple(pairs[i:j]), None, _keys=tuple(folded[i:j])))
        if j == count:
            return out
        i = j + 1


def message_from_text(text: str) -> Message:
    """The message of one frame's text by the general rule."""
    return Message(parse_lines(text))
