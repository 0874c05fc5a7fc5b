"""Bytes in, frame ends found: the decoder's buffer, linear in the bytes received.

AMI frames end at a blank line, written ``"\\n\\r\\n"`` (CRLF endings) or
``"\\n\\n"`` (bare LF), and a stream may mix both. Finding the first blank
line means finding the first of two needles. Searching for one and then
for the other from the same start would re-scan the whole buffer for the
second needle once per frame when it does not occur (a stream of bare-LF
frames with no CRLF blank line ahead), which is quadratic; so each needle
remembers where it was last found, or how far it is known to be absent,
and a search never covers those bytes again. One byte per read costs a
constant per byte, whatever the size of the frame.
"""

from __future__ import annotations

from typing import Final

__all__ = ["CRLF_BLANK", "LF_BLANK", "MARKER", "ReceiveBuffer"]

CRLF_BLANK: Final = b"\n\r\n"
LF_BLANK: Final = b"\n\n"
MARKER: Final = b"--END COMMAND--"


class _Needle:
    """Where ``needle`` next occurs in a buffer, remembered between searches.

    ``at`` is the first match at or after the last start asked for, or -1
    when there is none before ``clear`` (every match starts at or after it).
    """

    __slots__ = ("at", "clear", "needle")

    def __init__(self, needle: bytes) -> None:
        self.needle = needle
        self.at = -1
        self.clear = 0

    def find(self, data: bytearray, start: int) -> int:
        at = self.at
        if at >= start:
            return at  # nothing between the earlier start and ``at``
        if at < 0 and self.clear > start:
            start = self.clear
        at = data.find(self.needle, start)
        if at < 0:
            self.clear = max(start, len(data) - len(self.needle) + 1)
        self.at = at
        return at

    def shift(self, count: int) -> None:
        # The buffer lost ``count`` bytes at its front.
        self.at = self.at - count if self.at >= count else -1
        self.clear = max(0, self.clear - count)


class ReceiveBuffer:
    """The bytes received and not yet consumed, with remembered searches.

    Indexes are positions in :attr:`data`; :attr:`base` is the stream offset
    of ``data[0]``, so ``base + i`` is where byte ``i`` sits in the stream.
    """

    __slots__ = ("_crlf", "_lf", "base", "data")

    def __init__(self) -> None:
        self.data = bytearray()
        self.base = 0
        self._crlf = _Needle(CRLF_BLANK)
        self._lf = _Needle(LF_BLANK)

    def __len__(self) -> int:
        return len(self.data)

    def append(self, data: bytes) -> None:
        self.data += data

    def drop(self, count: int) -> None:
        """Forget the first ``count`` bytes (consumed or discarded)."""
        if count <= 0:
            return
        del self.data[:count]  # bytearray deletes from the front in O(1)
        self.base += count
        self._crlf.shift(count)
        self._lf.shift(count)

    def clear(self) -> None:
        self.drop(len(self.data))

    def first_blank(self, start: int) -> tuple[int, int] | None:
        """The first blank line at or after ``start``: ``(end, after)``, or ``None``.

        ``end`` is the index of the LF that ends the frame's last line (the
        frame's bytes are ``data[start:end]`` plus that LF), ``after`` the
        index just past the blank line.
        """
        data = self.data
        crlf = self._crlf.find(data, start)
        lf = self._lf.find(data, start) if crlf < 0 or crlf > start else -1
        if lf >= 0 and (crlf < 0 or lf < crlf):
            return lf, lf + 2
        if crlf >= 0:
            return crlf, crlf + 3
        return None

    def crlf_blank(self, start: int) -> int:
        """The first ``"\\n\\r\\n"`` at or after ``start`` (a CRLF blank line), or -1."""
        return self._crlf.find(self.data, start)

    def last_crlf_blank(self, start: int, stop: int) -> int:
        """The last ``"\\n\\r\\n"`` in ``data[start:stop]`` with no ``"\\n\\n"`` before it, or -1.

        Where a batch of ordinary frames can end (see ``_framing``). The
        bare-LF needle is remembered; the backward search only covers bytes
        after the last match, at most ``stop - start``.
        """
        lf = self._lf.find(self.data, start)
        if 0 <= lf < stop:
            stop = lf
        return self.data.rfind(CRLF_BLANK, start, stop)

    def marker_end(self, start: int) -> tuple[int, int]:
        """Just past the first line ending with ``--END COMMAND--`` at or after ``start``.

        Returns ``(end, resume)``: ``end`` is -1 while no such line is
        complete, and ``resume`` is where the next search must start so that
        a marker split across reads is still found and nothing is searched
        twice.
        """
        data = self.data
        n = len(data)
        while True:
            k = data.find(MARKER, start)
            if k < 0:
                return -1, max(start, n - (len(MARKER) - 1))
            e = k + len(MARKER)
            if e >= n or (data[e] == 13 and e + 1 >= n):
                return -1, k  # the line ending may still come
            if data[e] == 10:
                return e + 1, e + 1
            if data[e] == 13 and data[e + 1] == 10:
                return e + 2, e + 2
            start = k + 1

    def skip_blank_lines(self, start: int) -> int:
        """The index of the first byte at or after ``start`` that does not begin a blank line."""
        data = self.data
        n = len(data)
        while start < n:
            c = data[start]
            if c == 10:
                start += 1
            elif c == 13 and start + 1 < n and data[start + 1] == 10:
                start += 2
            else:
                break
        return start
