"""The provider's half of the link authentication, under Wine: its hello carries LinkToken.

The bridge's half (a hello without the token is refused) is
``tests/test_tsp_link_token.py``; the installer making the token is in
``tests/test_tsp_wine_msi.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tsp_wine import Harness, RawBridge, make_build, make_wine_env

TOKEN = "0123456789abcdef" * 4


@pytest.fixture(scope="module")
def build() -> Path:
    return make_build()


@pytest.fixture
def hello(build: Path) -> Iterator[object]:
    made: list[tuple[RawBridge, Harness]] = []

    def start(*registry: str) -> dict[str, object]:
        bridge = RawBridge()
        harness = Harness(build, make_wine_env(), bridge.registry("bob", *registry))
        made.append((bridge, harness))
        assert harness.cmd("init")["result"] == 0
        assert harness.cmd("open 0")["result"] == 0
        return bridge.accept()

    yield start
    for bridge, harness in made:
        harness.close()
        bridge.close()


def test_the_hello_carries_the_link_token_from_the_key(hello: object) -> None:
    assert callable(hello)
    sent = hello("--reg-sz", f"LinkToken={TOKEN}")
    assert sent["type"] == "hello" and sent["lines"] == ["bob"]
    assert sent["token"] == TOKEN


def test_without_a_token_in_the_key_the_hello_has_none(hello: object) -> None:
    assert callable(hello)
    assert "token" not in hello()
