"""Parsing work grows linearly with the TAPIEVENT text (issue 15 #9).

Timing would make a flaky test, so the work is counted instead: the text is
a ``str`` subclass whose slices stay of that class and whose ``__eq__``
counts calls. Every comparison the parser makes between two pieces of the
text -- such as "is this excluded line one of the included ones?" -- is
then counted, whether it happens in Python code or inside a C-level ``in``.
A spec of ``n`` included and ``n`` excluded lines must cost ``O(n)``
comparisons; a list lookup per target made it ``O(n**2)``.
"""

from __future__ import annotations

from typing import SupportsIndex

from tapievent import grammar


class _Counted(str):
    """A str whose pieces are _Counted too, counting ``==`` between them."""

    comparisons = 0

    def __eq__(self, other: object) -> bool:
        _Counted.comparisons += 1
        return str.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = str.__hash__

    def __getitem__(self, key: SupportsIndex | slice) -> _Counted:
        return _Counted(str.__getitem__(self, key))

    def split(self, sep: str | None = None, maxsplit: SupportsIndex = -1) -> list[str]:
        return [_Counted(part) for part in str.split(self, sep, maxsplit)]


def _spec_text(n: int) -> _Counted:
    # Two spaces before the command: the general parser, not the fast path.
    included = "&".join(f"line{i}" for i in range(n))
    excluded = "&".join(f"!other{i}" for i in range(n))
    return _Counted(f"[~1.1&{included}&{excluded}]  LINE_CALLSTATE LINECALLSTATE_IDLE")


def _comparisons(n: int) -> int:
    text = _spec_text(n)
    _Counted.comparisons = 0
    event = grammar.parse_tapievent(text)
    assert len(event.spec.include) == len(event.spec.exclude) == n
    return _Counted.comparisons


def test_spec_parsing_compares_each_target_a_bounded_number_of_times() -> None:
    small, large = _comparisons(500), _comparisons(1000)
    # Linear: doubling the targets doubles the work (a quadratic parser makes
    # 125,000 comparisons at n=500 and four times as many at n=1000).
    assert large <= 2 * small + 100
    assert large <= 20 * 1000
