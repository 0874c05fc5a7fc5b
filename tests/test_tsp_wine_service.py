"""The bridge service under Wine's service manager, supervising a stand-in bridge.

No Windows Python exists here, so BridgeCommand runs ``fake_bridge.exe``: it
records each start, beats a file while alive, and dies (exit code 9) when the
test drops crash.txt next to it. The service must start it, start it again
after it dies, and end it when the service stops.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tsp_wine import make_build, make_wine_env, windows_path

KEY = "HKLM\\Software\\tapievent\\TSP"
SERVICE = "tapievent-bridge"


@pytest.fixture(scope="module")
def build() -> Path:
    return make_build()


def _wine(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run a Wine command; its output goes through a file, not a pipe, because
    the service processes it may start inherit the handles and never close them."""
    with tempfile.TemporaryFile("w+") as out:
        done = subprocess.run(
            ["wine", *args], env=env, stdout=out, stderr=subprocess.DEVNULL, timeout=60, check=False
        )
        out.seek(0)
        return subprocess.CompletedProcess(done.args, done.returncode, out.read(), "")


def _until(predicate: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def _starts(folder: Path) -> list[str]:
    path = folder / "starts.txt"
    return path.read_text().split("\n")[:-1] if path.exists() else []


@pytest.fixture
def service(build: Path, tmp_path: Path) -> Iterator[tuple[dict[str, str], Path]]:
    env = make_wine_env()
    command = f'"{windows_path(build / "fake_bridge.exe")}" {windows_path(tmp_path)}'
    _wine(env, "reg", "add", KEY, "/v", "BridgeCommand", "/t", "REG_SZ", "/d", command, "/f")
    log = windows_path(tmp_path / "service.log")
    _wine(env, "reg", "add", KEY, "/v", "ServiceLog", "/t", "REG_SZ", "/d", log, "/f")
    assert _wine(env, str(build / "tapievent-bridge.exe"), "install").returncode == 0
    try:
        yield env, tmp_path
    finally:
        _wine(env, str(build / "tapievent-bridge.exe"), "uninstall")
        _wine(env, "reg", "delete", KEY, "/v", "BridgeCommand", "/f")
        _wine(env, "reg", "delete", KEY, "/v", "ServiceLog", "/f")


def test_the_service_restarts_a_dead_bridge_and_ends_it_when_stopped(
    service: tuple[dict[str, str], Path],
) -> None:
    env, folder = service
    assert "WIN32_OWN_PROCESS" in _wine(env, "sc", "query", SERVICE).stdout
    _wine(env, "sc", "start", SERVICE)
    assert _until(lambda: len(_starts(folder)) == 1), "the service did not start the bridge"
    (folder / "crash.txt").write_text("")  # the bridge dies with exit code 9
    assert _until(lambda: len(_starts(folder)) == 2), "the dead bridge was not started again"
    first, second = _starts(folder)
    assert first != second  # a new process
    log = (folder / "service.log").read_text()
    assert "bridge exited (code 9), restarting in 1000 ms" in log

    _wine(env, "sc", "stop", SERVICE)
    assert _until(lambda: "STOPPED" in _wine(env, "sc", "query", SERVICE).stdout)
    beat = folder / "beat.txt"
    before = beat.read_text()
    time.sleep(1.0)  # a live bridge rewrites beat.txt every 100 ms
    assert beat.read_text() == before, "the bridge outlived its service"
    assert len(_starts(folder)) == 2
    assert "service stopping: bridge ended" in (folder / "service.log").read_text()


def test_without_a_bridge_command_the_service_stops_and_says_why(
    service: tuple[dict[str, str], Path],
) -> None:
    env, folder = service
    _wine(env, "reg", "delete", KEY, "/v", "BridgeCommand", "/f")
    _wine(env, "sc", "start", SERVICE)
    assert _until(lambda: "STOPPED" in _wine(env, "sc", "query", SERVICE).stdout)
    assert _until(lambda: "no BridgeCommand" in _read(folder / "service.log"))
    assert _starts(folder) == []


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""
