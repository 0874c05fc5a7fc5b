"""Throughput of the AMI decoder against a bare floor, and its 1-byte-read cost.

Run: ``python benchmarks/bench_codec.py [--frames N] [--repeat R]``.

Four decoder figures: frames (every header is split into ``(name, value)``
pairs when the frame is cut), frames plus ``is_event`` and one ``get`` per
message (what every consumer does), frames plus ``get("Event")`` and three
more lookups per event (what a tracker does), and frames with every
``(name, value)`` tuple read (the full decode; issue 10's first target).

The floor is the least a decoder can do in Python: ``bytes.split`` on the
blank line plus a dict per frame, with no limits, no bare-LF handling, no
case-insensitive lookups, no legacy ``Follows`` bodies. Both read the same
stream in 4096-byte reads in the same run, interleaved (one run of each per
round, best of the rounds), so a machine whose load changes during the run
shifts every row alike. Issue 10's targets: the full decode and the
``Event`` + 3 gets row at >= 0.9x the floor's frames/s.

The 1-byte-read figures feed one large frame a byte at a time at two sizes:
a constant cost per byte shows the decoder never re-scans what it has
already searched (a re-scanning decoder grows linearly with the size).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

# Benchmark the checkout's code, and find ami_stream next to this file.
HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from ami_stream import generate_stream  # noqa: E402
from harness import READ, best_of_each, chunked, decode_frames, floor  # noqa: E402

from tapievent import NEED_DATA, AMIDecoder, Message  # noqa: E402


def decode_and_classify(chunks: list[bytes]) -> int:
    """Decode and ask every message ``is_event`` (what any consumer does first)."""
    decoder = AMIDecoder()
    receive, next_frame = decoder.receive_data, decoder.next_frame
    count = 0
    for chunk in chunks:
        receive(chunk)
        while (frame := next_frame()) is not NEED_DATA:
            if isinstance(frame, Message) and frame.is_event:
                frame.get("Uniqueid")
            count += 1
    return count


def decode_and_look_up(chunks: list[bytes]) -> int:
    """Decode, ask every message ``Event``, and three more headers of each event."""
    decoder = AMIDecoder()
    receive, next_frame = decoder.receive_data, decoder.next_frame
    count = 0
    for chunk in chunks:
        receive(chunk)
        while (frame := next_frame()) is not NEED_DATA:
            if isinstance(frame, Message) and frame.get("Event") is not None:
                frame.get("Uniqueid")
                frame.get("Channel")
                frame.get("Linkedid")
            count += 1
    return count


def decode_all_headers(chunks: list[bytes]) -> int:
    """Decode and materialise every message's ``(name, value)`` tuple."""
    decoder = AMIDecoder()
    receive, next_frame = decoder.receive_data, decoder.next_frame
    count = 0
    for chunk in chunks:
        receive(chunk)
        while (frame := next_frame()) is not NEED_DATA:
            if isinstance(frame, Message):
                for _name, _value in frame.headers:
                    pass
            count += 1
    return count


def one_byte_cost(size: int) -> float:
    """Nanoseconds per byte to decode one ``size``-byte frame fed a byte at a time."""
    line = b"Output: " + b"x" * 56 + b"\r\n"
    frame = b"Response: Success\r\n" + line * (size // len(line)) + b"\r\n"
    bytes_ = [frame[i : i + 1] for i in range(len(frame))]
    decoder = AMIDecoder(max_headers=10**6, max_frame_bytes=10**8)
    receive, next_frame = decoder.receive_data, decoder.next_frame
    start = time.perf_counter()
    for b in bytes_:
        receive(b)
        next_frame()
    return (time.perf_counter() - start) / len(frame) * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    data = generate_stream(args.frames)
    chunks = chunked(data)
    mb = len(data) / 1e6
    print(f"stream: {args.frames} frames, {mb:.1f} MB, {len(chunks)} reads of {READ} bytes")
    print(f"python {sys.version.split()[0]}, best of {args.repeat}")

    rows = [
        ("floor: split + dict", floor, None),
        ("AMIDecoder frames", decode_frames, None),
        ("+ is_event, Uniqueid", decode_and_classify, None),
        ("+ Event and 3 gets", decode_and_look_up, 0.9),
        ("+ all header tuples", decode_all_headers, 0.9),
    ]
    timings = best_of_each(args.repeat, [func for _, func, _ in rows], chunks)
    t_floor, n_floor = timings[0]
    floor_rate = n_floor / t_floor
    for (label, _, target), (t, n) in zip(rows, timings, strict=True):
        rate = n / t
        ratio = rate / floor_rate
        verdict = (
            ""
            if target is None
            else f"  target >= {target:.1f}x: " + ("met" if ratio >= target else "NOT met")
        )
        print(
            f"{label:>22}: {rate:>10,.0f} frames/s {mb / t:7.1f} MB/s"
            f"  {ratio:5.2f}x floor  ({n} frames, {t:.2f} s){verdict}"
        )

    for size in (16 * 1024, 256 * 1024):
        print(f"1-byte reads, one {size // 1024:>3} KiB frame: {one_byte_cost(size):6.0f} ns/byte")


if __name__ == "__main__":
    main()
