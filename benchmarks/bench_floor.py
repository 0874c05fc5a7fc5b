"""What a decoder whose headers are ``(name, value)`` tuples must spend, against the floor.

Run: ``python benchmarks/bench_floor.py [--frames N] [--repeat R]``.

Issue 10 asks the full decode at >= 0.9x the floor of ``bench_codec.py``.
This script measures the stages of that work on the very batch texts the
decoder cuts (the benchmark stream, up to 32 KiB of whole frames each,
already decoded to ``str``), so no framing, buffer or ``next_frame`` cost
is in any row:

* **floor, per frame**: what ``harness.floor`` does per frame, on the same
  texts: split the frames and lines, one ``partition(": ")`` per line,
  a dict per frame;
* **lines only**: the frame and line splits, no header made;
* **pairs, bare loop**: the least a pure-Python decoder with tuple headers
  does: the splits, one ``partition`` per line, one ``(name, value)`` tuple
  per line and one tuple per frame; no checks, no lookup index, no
  ``Message``;
* **pairs, C-level map**: the same pairs made by ``map(str.partition)``,
  two ``itemgetter`` passes and ``zip`` over the whole batch;
* **split_batch**: the decoder's real batch cut (``tapievent._headers``),
  with its exactness checks, the folded lookup index and the messages.

Rows run interleaved, best of ``--repeat`` rounds, in CPU time; the ratio
is the floor's time over the row's (a row at 0.9x is what the target asks
of the *whole* decoder, framing included). Every row is printed.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from itertools import repeat
from operator import itemgetter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from ami_stream import generate_stream  # noqa: E402
from harness import best_of_each  # noqa: E402

from tapievent._framing import _BATCH_BYTES  # noqa: E402
from tapievent._headers import split_batch  # noqa: E402

_NAME = itemgetter(0)
_VALUE = itemgetter(2)


def batch_texts(data: bytes) -> list[str]:
    """The stream after its banner, cut into batches of whole frames as the decoder cuts them."""
    pos = data.index(b"\r\n") + 2
    texts = []
    while (end := data.rfind(b"\r\n\r\n", pos, pos + _BATCH_BYTES)) > pos:
        texts.append(data[pos:end].decode("utf-8", "surrogateescape"))
        pos = end + 4
    return texts


def floor_per_frame(texts: list[str]) -> int:
    """The floor's per-frame work: a dict of each line's partition."""
    count = 0
    for text in texts:
        for part in text.split("\r\n\r\n"):
            frame = {}
            for line in part.split("\r\n"):
                name, _, value = line.partition(": ")
                frame[name] = value
            count += 1
    return count


def lines_only(texts: list[str]) -> int:
    """The frame and line splits, nothing else."""
    count = 0
    for text in texts:
        for part in text.split("\r\n\r\n"):
            part.split("\r\n")
            count += 1
    return count


def pairs_loop(texts: list[str]) -> int:
    """One ``(name, value)`` tuple per line, a tuple per frame: nothing more."""
    count = 0
    for text in texts:
        for part in text.split("\r\n\r\n"):
            pairs: list[tuple[str, str]] = []
            add = pairs.append
            for line in part.split("\r\n"):
                name, _, value = line.partition(": ")
                add((name, value))
            tuple(pairs)
            count += 1
    return count


def pairs_map(texts: list[str]) -> int:
    """The same pairs with C-level passes over each frame's lines."""
    count = 0
    for text in texts:
        for part in text.split("\r\n\r\n"):
            triples = list(map(str.partition, part.split("\r\n"), repeat(": ")))
            tuple(zip(map(_NAME, triples), map(_VALUE, triples), strict=True))
            count += 1
    return count


def decoder_batches(texts: list[str]) -> int:
    """The decoder's batch cut: checks, pairs, index and messages."""
    count = 0
    for text in texts:
        messages = split_batch(text)
        if messages is None:
            raise SystemExit("split_batch declined a batch of the benchmark stream")
        count += len(messages)
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    texts = batch_texts(generate_stream(args.frames))
    rows: list[tuple[str, Callable[[list[str]], int]]] = [
        ("floor, per frame", floor_per_frame),
        ("lines only", lines_only),
        ("pairs, bare loop", pairs_loop),
        ("pairs, C-level map", pairs_map),
        ("split_batch", decoder_batches),
    ]
    timings = best_of_each(args.repeat, [func for _, func in rows], texts, clock=time.process_time)
    best = [seconds for seconds, _ in timings]
    counts = [count for _, count in timings]
    print(f"{len(texts)} batch texts, {counts[0]} frames; python {sys.version.split()[0]}")
    print(f"best of {args.repeat} rounds, CPU time")
    for (label, _), seconds, count in zip(rows, best, counts, strict=True):
        per_frame = seconds / max(count, 1) * 1e9
        print(f"{label:>20}: {per_frame:7.0f} ns/frame  {best[0] / seconds:5.2f}x floor")


if __name__ == "__main__":
    main()
