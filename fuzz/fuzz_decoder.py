"""Fuzz the AMI decoder: any bytes, any chunking, only the decoder's own errors.

Run (see fuzz/README.md)::

    python fuzz/fuzz_decoder.py fuzz/corpus/decoder -max_total_time=120

Each input is split in two: its first byte picks the read size and the
limits, the rest is the stream. The harness checks what the suite checks
with hypothesis, on inputs libFuzzer grows from real captures: the same
frames and errors whole and in reads, memory bounded after every read, and
no exception other than the decoder's ``RemoteProtocolError`` subclasses.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

try:  # atheris instruments the code under test as it is imported
    import atheris  # type: ignore[import-untyped,import-not-found,unused-ignore]
except ImportError:  # the seed replay (tests/test_fuzz_seeds.py) needs no atheris
    atheris = None

if atheris is not None and __name__ == "__main__":
    with atheris.instrument_imports(include=["tapievent"]):
        from tapievent.ami_codec import (
            NEED_DATA,
            AMIDecoder,
            Banner,
            Message,
            RemoteProtocolError,
        )
else:
    from tapievent.ami_codec import (
        NEED_DATA,
        AMIDecoder,
        Banner,
        Message,
        RemoteProtocolError,
    )

_LIMITS = [
    {},
    {"max_frame_bytes": 64, "max_headers": 4, "max_line_bytes": 32},
    {"max_frame_bytes": 300, "max_headers": 16, "max_line_bytes": 600},
    {"max_frame_bytes": 4096, "max_headers": 2, "max_line_bytes": 40},
]
# Bytes the decoder may hold beyond one frame plus the read just handed over
# (an undecided banner prefix), as tests/test_ami_codec.py states it.
_BANNER_HOLD = len(b"Asterisk Call Manager") + 3


def _decode(data: bytes, size: int, limits: dict[str, int]) -> list[object]:
    decoder = AMIDecoder(**limits)
    bound = limits.get("max_frame_bytes", 256 * 1024)
    out: list[object] = []

    def pull() -> None:
        while True:
            try:
                frame = decoder.next_frame()
            except RemoteProtocolError as exc:
                out.append((type(exc).__name__, getattr(exc, "offset", None)))
                continue
            if frame is NEED_DATA:
                return
            assert isinstance(frame, (Banner, Message))
            out.append(frame)

    for i in range(0, len(data), size):
        chunk = data[i : i + size]
        decoder.receive_data(chunk)
        pull()
        assert decoder.buffered <= bound + len(chunk) + _BANNER_HOLD, decoder.buffered
    decoder.receive_eof()
    pull()
    assert decoder.closed
    return out


def test_one_input(raw: bytes) -> None:
    if not raw:
        return
    choice, data = raw[0], raw[1:]
    limits = _LIMITS[choice % len(_LIMITS)]
    size = 1 + (choice >> 2) % 17
    whole = _decode(data, max(len(data), 1), limits)
    assert _decode(data, size, limits) == whole, (size, limits)
    if len(data) < 2048:
        assert _decode(data, 1, limits) == whole, limits


def main() -> None:
    if atheris is None:
        sys.exit("atheris is not installed: pip install atheris (see fuzz/README.md)")
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
