"""The timing file parser of ``tapievent replay``: what the recorder writes reads back,
anything else is one TimingError (the CLI turns it into one line, status 2)."""

from __future__ import annotations

import argparse

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tapievent.cli.replay import TimingError, read_timing, start_time

_chunks = st.lists(
    st.tuples(st.floats(0, 1e6, allow_nan=False), st.integers(0, 70000)), max_size=30
)


def render(rows: list[tuple[float, int, int]]) -> str:
    # As tapievent/recording.py writes it.
    return "t_s\toffset\tlength\n" + "".join(f"{t:.6f}\t{o}\t{n}\n" for t, o, n in rows)


def rows_of(draw: list[tuple[float, int]]) -> list[tuple[float, int, int]]:
    rows, offset, last = [], 0, 0.0
    for t, n in draw:
        last = max(last, round(t, 6))
        rows.append((last, offset, n))
        offset += n
    return rows


@given(_chunks)
def test_what_the_recorder_writes_reads_back(draw: list[tuple[float, int]]) -> None:
    rows = rows_of(draw)
    size = sum(n for _, _, n in rows)
    assert read_timing(render(rows), size) == rows


@given(_chunks, st.integers(1, 10))
def test_a_file_that_does_not_cover_the_capture_is_refused(
    draw: list[tuple[float, int]], extra: int
) -> None:
    rows = rows_of(draw)
    size = sum(n for _, _, n in rows)
    with pytest.raises(TimingError, match="cover"):
        read_timing(render(rows), size + extra)


@given(st.text(max_size=200), st.integers(0, 1000))
def test_any_text_is_rows_or_one_timing_error(text: str, size: int) -> None:
    try:
        rows = read_timing(text, size)
    except TimingError:
        return
    assert sum(n for _, _, n in rows) == size


@pytest.mark.parametrize(
    ("row", "why"),
    [
        ("0.5\t0", "expected"),
        ("0.5\t0\t3\t9", "expected"),
        ("nan\t0\t3", "finite"),
        ("-1\t0\t3", "finite"),
        ("0.5\t1\t3", "offset 1, expected 0"),
        ("0.5\t0\t-3", "negative"),
    ],
)
def test_bad_rows_say_what_is_wrong(row: str, why: str) -> None:
    with pytest.raises(TimingError, match=why):
        read_timing(f"t_s\toffset\tlength\n{row}\n", 3)


def test_start_takes_posix_seconds_or_iso_8601_with_a_zone() -> None:
    assert start_time("1733137450.5") == 1733137450.5
    assert start_time("2024-12-02T11:04:10+00:00") == 1733137450.0
    assert start_time("2024-12-02T12:04:10+01:00") == 1733137450.0
    assert start_time("2024-12-02T11:04:10Z") == 1733137450.0  # Python 3.10 too
    for bad in ("2024-12-02T11:04:10", "noon", "nan", "inf", ""):
        with pytest.raises(argparse.ArgumentTypeError):
            start_time(bad)


@given(st.floats(-1e10, 1e10, allow_nan=False))
def test_start_reads_back_any_posix_seconds(value: float) -> None:
    assert start_time(repr(value)) == value
