"""TAPIEVENT spec parsing stays linear in the text (issue 15 #9).

Run: ``python benchmarks/bench_grammar.py [--repeat R]``.

One TAPIEVENT body of a few KB up to the size one AMI header line may carry
(64 KiB) and beyond: a spec of ``n`` included and ``n`` excluded lines,
written with two spaces before the command so the general parser runs (the
canonical single-space text takes the regular-expression fast path, printed
beside it). Each row prints microseconds per KB; a linear parser prints
about the same figure on every row, so the last column, the ratio of each
row's per-KB cost to the first row's, stays near 1. Before the fix the
general parser checked each excluded line against a list of the included
ones: 61 KB took 1.27 s, and the ratio grew with the size.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

# Benchmark the checkout's code.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tapievent import grammar

SIZES = (500, 2700, 9000)
"""Targets per group: about 10 KB, 61 KB (the issue's text) and 217 KB."""


def spec_text(n: int, separator: str) -> str:
    """A spec of ``n`` included and ``n`` excluded lines, then a command."""
    included = "&".join(f"SIP/line{i:04d}" for i in range(n))
    excluded = "&".join(f"!SIP/other{i:04d}" for i in range(n))
    return f"[~1795667804.1&{included}&{excluded}]{separator}LINE_CALLSTATE LINECALLSTATE_IDLE"


def best_seconds(text: str, repeat: int) -> float:
    """The fastest of ``repeat`` parses of ``text``."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        grammar.parse_tapievent(text)
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"python {sys.version.split()[0]}, best of {args.repeat}")
    for label, separator in (("general parser", "  "), ("fast path", " ")):
        first: float | None = None
        for n in SIZES:
            text = spec_text(n, separator)
            kb = len(text.encode()) / 1000
            per_kb = best_seconds(text, args.repeat) / kb * 1e6
            first = first or per_kb
            print(
                f"{label:>15}: {2 * n:6d} targets {kb:7.1f} KB "
                f"{per_kb:9.1f} us/KB {per_kb / first:6.2f}x the first row"
            )


if __name__ == "__main__":
    main()
