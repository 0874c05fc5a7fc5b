"""Pass 1 of reading extensions.conf, line by line: comments and blanks (``config.c``).

Kept apart from the reader of categories and directives (:mod:`._config`)
because config.c's comment loop is a small machine of its own: ``;`` ends
the text of a line, ``\\;`` is a literal semicolon (the backslash goes),
and ``;-- ... --;`` block comments nest up to 128 deep and span lines. The
loop below follows config.c index for index, so a line Asterisk cuts in
one place is cut in the same place here, and the columns of what is left
still point into the file.
"""

from __future__ import annotations

import attrs

from ._findings import ERROR, WARNING
from ._steps import Report

__all__ = ["BLANKS", "CommentState", "strip_blanks", "strip_comments"]

BLANKS = "".join(chr(i) for i in range(33))
"""What ``ast_strip`` removes around a line or a value: the bytes below 33."""

# config.c: MAX_NESTED_COMMENTS.
_MAX_NESTED_COMMENTS = 128


def strip_blanks(chars: list[str], cols: list[int]) -> tuple[list[str], list[int]]:
    """``ast_strip``: drop leading and trailing bytes below 33 (blanks, controls)."""
    start, end = 0, len(chars)
    while start < end and ord(chars[start]) < 33:
        start += 1
    while end > start and ord(chars[end - 1]) < 33:
        end -= 1
    return chars[start:end], cols[start:end]


@attrs.define
class CommentState:
    """Where one file stands in its block comments, carried from line to line.

    ``depth`` is config.c's ``comment`` counter (negative after a stray
    ``--;``, which then hides the rest of the file); ``nest`` holds the line
    of every open ``;--``.
    """

    file: str
    report: Report
    depth: int = 0
    nest: list[int] = attrs.Factory(list)
    stray_reported: bool = False

    def finish(self) -> None:
        """The file ended: say so when a block comment is still open."""
        if self.depth > 0:
            self.report(
                self.file,
                self.nest[-1] if self.nest else 1,
                1,
                WARNING,
                "unterminated-comment",
                "block comment ';--' is never closed with '--;'; the rest of the file is ignored",
            )


def strip_comments(
    chars: list[str], cols: list[int], state: CommentState, lineno: int
) -> tuple[list[str], list[int]] | None:
    """The text of one line once its comments are gone, or ``None`` inside a comment.

    ``chars`` and ``cols`` are changed in place, as config.c changes its
    buffer; the columns returned are those of the characters kept.
    """
    before = state.depth
    text_chars, text_cols = _comment_loop(chars, cols, state, lineno)
    if state.depth < 0 <= before and not state.stray_reported:
        state.stray_reported = True
        state.report(
            state.file,
            lineno,
            1,
            WARNING,
            "stray-comment-end",
            "'--;' closes a block comment that was never opened; Asterisk then "
            "treats the rest of this file as a comment",
        )
    if text_chars is None:
        return None
    return text_chars, text_cols


def _comment_loop(
    b: list[str], c: list[int], state: CommentState, lineno: int
) -> tuple[list[str] | None, list[int]]:
    """config.c's comment loop, index for index; returns the text to process."""

    def get(i: int) -> str:
        return b[i] if 0 <= i < len(b) else "\0"

    process: int | None = None if state.depth else 0
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
            new = _open_comment(b, c, p, state, lineno)
        elif p >= new + 2 and b[p - 1] == "-" and b[p - 2] == "-":
            state.depth -= 1
            if state.nest:
                state.nest.pop()
            new = p + 1
            if state.depth == 0:
                new, process = _after_comment(b, c, new, process)
        elif state.depth == 0:
            b[p] = "\0"
            break
        else:
            new = p + 1
    if process is None:
        return None, []
    end = process
    while end < len(b) and b[end] != "\0":
        end += 1
    return b[process:end], c[process:end]


def _open_comment(b: list[str], c: list[int], p: int, state: CommentState, lineno: int) -> int:
    """A ';--' at ``p``: one comment level deeper (up to config.c's limit)."""
    if state.depth < _MAX_NESTED_COMMENTS:
        b[p] = "\0"
        state.nest.append(lineno)
        state.depth += 1
        return p + 3
    state.report(
        state.file,
        lineno,
        c[p],
        ERROR,
        "comment-nesting",
        f"more than {_MAX_NESTED_COMMENTS} nested ';--' comments",
    )
    return p + 1


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
