"""What every benchmark here measures the same way: reads, the floor, best-of timing.

Kept in one place so the codec and tracker benchmarks compare against the
very same floor, read size and timing rule.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import TypeVar

from tapievent import NEED_DATA, AMIDecoder

T = TypeVar("T")

READ = 4096
"""Bytes per read, as a transport reading a socket would get them."""


def chunked(data: bytes, size: int = READ) -> list[bytes]:
    """Cut a stream into the reads a socket would deliver."""
    return [data[i : i + size] for i in range(0, len(data), size)]


def floor(chunks: list[bytes]) -> int:
    """The least a Python AMI decoder can do: split on the blank line, a dict per frame.

    No limits, no bare-LF handling, no case-insensitive lookups, no legacy
    ``Follows`` bodies: a reference cost, not a decoder.
    """
    buf = b""
    count = 0
    for chunk in chunks:
        buf += chunk
        parts = buf.split(b"\r\n\r\n")
        buf = parts.pop()
        for part in parts:
            frame = {}
            for line in part.decode("utf-8", "surrogateescape").split("\r\n"):
                name, _, value = line.partition(": ")
                frame[name] = value
            count += 1
    return count


def decode_frames(chunks: list[bytes]) -> int:
    """Frames only: what AMIDecoder costs before anyone reads a header."""
    decoder = AMIDecoder()
    receive, next_frame = decoder.receive_data, decoder.next_frame
    count = 0
    for chunk in chunks:
        receive(chunk)
        while next_frame() is not NEED_DATA:
            count += 1
    decoder.receive_eof()
    while next_frame() is not NEED_DATA:
        count += 1
    return count


def best_of(
    repeat: int, func: Callable[[list[bytes]], int], chunks: list[bytes]
) -> tuple[float, int]:
    """The fastest of ``repeat`` runs (seconds) and the frame count it returned."""
    best = float("inf")
    count = 0
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        count = func(chunks)
        best = min(best, time.perf_counter() - start)
    return best, count


def best_of_each(
    repeat: int,
    funcs: list[Callable[[T], int]],
    chunks: T,
    *,
    clock: Callable[[], float] = time.perf_counter,
) -> list[tuple[float, int]]:
    """For each function, the fastest of ``repeat`` rounds and its count.

    Rounds interleave the functions (one run of each per round), so a load
    that changes during the benchmark affects every row alike and ratios
    measured in the same run stay comparable. ``clock`` is wall time unless
    a benchmark asks for another (``time.process_time`` for CPU time).
    """
    best = [float("inf")] * len(funcs)
    counts = [0] * len(funcs)
    for _ in range(repeat):
        for i, func in enumerate(funcs):
            gc.collect()
            start = clock()
            counts[i] = func(chunks)
            best[i] = min(best[i], clock() - start)
    return list(zip(best, counts, strict=True))
