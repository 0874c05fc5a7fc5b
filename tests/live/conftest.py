"""Fixtures of the live suite: real Asterisk 22 and 18, one instance per version.

Every test here carries the ``live`` marker (``pytest -m "not live"`` leaves
them out). Without the kit (``../shared/asterisk``) they skip with one reason;
with ``CI`` set they fail instead, so CI cannot lose them silently.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from .kit import KIT, VERSIONS, Instance, KitMissing, build
from .trunk import Trunk

HERE = Path(__file__).parent
_instances: dict[str, Instance] = {}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).is_relative_to(HERE):
            item.add_marker(pytest.mark.live)


def _versions() -> list[str]:
    wanted = os.environ.get("TAPIEVENT_LIVE_VERSIONS")
    return wanted.split(",") if wanted else list(VERSIONS)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"live suite: {reason} (CI is set, so this fails instead of skipping)")
    pytest.skip(f"live suite: {reason}")


def _instance(version: str) -> Instance:
    if version not in _instances:
        if not (KIT / "run.sh").is_file():
            _unavailable(f"no Asterisk kit at {KIT}")
        try:
            prefix = build(version)
        except KitMissing as exc:
            _unavailable(str(exc))
        inst = Instance(version, prefix)
        inst.start()
        _instances[version] = inst
    return _instances[version]


@pytest.fixture(scope="session", params=_versions())
def asterisk(request: pytest.FixtureRequest) -> Instance:
    """The running Asterisk of one version (shared by the whole session)."""
    return _instance(str(request.param))


@pytest.fixture(scope="session", autouse=True)
def _stop_instances() -> Iterator[None]:
    yield
    for inst in _instances.values():
        inst.stop()
        inst.remove()
    _instances.clear()


@pytest.fixture
def trunk(asterisk: Instance) -> Iterator[Trunk]:
    t = Trunk(asterisk.port)
    yield t
    t.close()
