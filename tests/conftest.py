"""Suite-wide settings: deterministic hypothesis under CI, thorough locally."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

DATA = Path(__file__).parent / "data"

# CI must be reproducible: derandomize makes every run draw the same
# examples, and no deadline avoids flakes on a loaded 2-core machine.
settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    max_examples=200,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile("dev", deadline=None, max_examples=300)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture
def data_dir() -> Path:
    return DATA


# Suites that exercise native code or a browser rather than the Python version: CI runs them
# once, on the main Python, and deselects them on the other versions (-m "not wine and not
# browser"). Marked by file so a new test file of the suite is covered without remembering to.
_SUITE_MARKERS = (
    ("test_tsp_wine", "wine"),
    ("test_windows", "wine"),
    ("test_mqtt_screenpop", "browser"),
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        name = item.path.name
        for prefix, marker in _SUITE_MARKERS:
            if name.startswith(prefix):
                item.add_marker(marker)
