"""Every seed of the fuzz corpora through its harness: the harnesses stay runnable.

``fuzz/`` holds atheris harnesses; this replays their seed inputs with the
same checks (no atheris needed), and one input per harness that must fail
its check, so a harness that checks nothing would be noticed.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

FUZZ = Path(__file__).resolve().parent.parent / "fuzz"


def harness(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"fuzz_{name}", FUZZ / f"fuzz_{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["decoder", "grammar"])
def test_every_seed_passes_its_harness(name: str) -> None:
    module = harness(name)
    seeds = sorted((FUZZ / "corpus" / name).iterdir())
    assert len(seeds) >= 10
    for seed in seeds:
        module.test_one_input(seed.read_bytes())


def test_decoder_harness_checks_something(monkeypatch: pytest.MonkeyPatch) -> None:
    # A decoder whose frames depend on the read size must be caught.
    module = harness("decoder")
    real = module.AMIDecoder

    class Broken(real):  # type: ignore[misc,valid-type]
        def receive_data(self, data: bytes) -> None:
            super().receive_data(data[:1])

    monkeypatch.setattr(module, "AMIDecoder", Broken)
    with pytest.raises(AssertionError):
        module.test_one_input(b"\x00Event: A\r\n\r\nEvent: B\r\n\r\n")
