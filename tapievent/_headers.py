"""Header lines to ``(name, value)`` pairs: the general rule, and a batch of frames at once.

The rule (docs/ami.md, "Lines and headers"): a line ends at LF and loses one
CR before it; its name is the text up to the first colon with blanks
(space, tab) stripped; one space after the colon is removed and the rest
of the value is kept verbatim; a line without a colon is a header with
an empty name and the whole line as its value.

:func:`parse_lines` applies it line by line and is the reference.
:func:`split_batch` does the same work for many ordinary frames with one
``partition(": ")`` per line and the checks that make it exact done once
per batch; it declines (returns ``None``) whenever its shortcut might not
give exactly what :func:`parse_lines` gives, and ``tests/test_ami_headers.py``
proves the two equal on generated input.
"""

from __future__ import annotations

from typing import Final

from ._message import ASCII_LOWER, INDEX_ESCAPE, Message, make_message

__all__ = ["parse_lines", "split_batch", "split_line"]


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


# Ends each frame's names in the names of a batch (see split_batch); a
# batch holding a NUL is not cut this way.
_FRAME_END: Final = "\x00"


def split_batch(text: str) -> list[Message] | None:
    """The messages of ``text``: ordinary CRLF frames joined by one blank line each.

    ``text`` is what lies between the first byte of the first frame and the
    CRLF that ends the last line of the last one, decoded. Returns ``None``
    when the text is not exactly that (a bare LF, a blank-line run, an
    empty frame, a NUL) or when a line needs more than the shortcut does
    (no ``": "``, a colon or blank in its name): the caller then uses
    :func:`parse_lines` per frame.

    The shortcut: a line's name is the text before its first ``": "`` and
    its value everything after it (one ``partition`` per line, which on
    CPython 3.11+ beats any C-level split of the whole batch: see
    benchmarks/README.md). That is the general rule exactly when every line
    has a ``": "`` and no name holds a colon or a blank, which is checked
    for the whole batch at once on its names joined, the same string whose
    folded form becomes each message's lookup index.
    """
    if _FRAME_END in text:
        return None  # a NUL would end a frame's names
    headers: list[tuple[tuple[str, str], ...]] = []
    names: list[str] = []  # every frame's names, each frame's followed by _FRAME_END
    add_name = names.append
    for frame in text.split("\r\n\r\n"):
        pairs: list[tuple[str, str]] = []
        add_pair = pairs.append
        for line in frame.split("\r\n"):
            name, sep, value = line.partition(": ")
            if not sep:
                return None  # no ": " (an empty line too): the general rule decides
            add_pair((name, value))
            add_name(name)
        headers.append(tuple(pairs))
        add_name(_FRAME_END)
    # The splits used len(names) - 2 CRLFs (one per line but a frame's last,
    # two per blank line); any other LF is a bare one, which ends a line.
    if text.count("\n") != len(names) - 2:
        return None
    joined = "\n".join(names)
    if ":" in joined or " " in joined or "\t" in joined or INDEX_ESCAPE in joined:
        return None  # a name the general rule would cut or strip, or index differently
    folded = joined.lower() if joined.isascii() else joined.translate(ASCII_LOWER)
    # "\n" a "\n" b "\n" NUL "\n" c "\n" NUL: frame k's index is the k-th piece
    # between NULs, "\n" name "\n" ... name "\n" (the last piece is empty).
    indexes = f"\n{folded}".split(_FRAME_END)
    return list(map(make_message, headers, indexes[:-1]))


def message_from_text(text: str) -> Message:
    """The message of one frame's text by the general rule."""
    return Message(parse_lines(text))
