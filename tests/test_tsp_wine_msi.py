"""The x64 MSI (built on Linux with wixl) installed and removed by Wine's msiexec.

Checks what lands where: tapievent.tsp in System32 and never SysWOW64 (every
component 64-bit), the bridge service registered, the configuration defaults
in HKLM, and the two code steps run by msiexec: the Python prerequisite check
names what is missing (there is no Windows Python here) and lineAddProvider is
called and its refusal handled (Wine's tapi32 answers LINEERR_OPERATIONFAILED).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from tsp_wine import TSP, make_build, make_wine_env

KEY = "HKLM\\Software\\tapievent\\TSP"
SERVICE_KEY = "HKLM\\System\\CurrentControlSet\\Services\\tapievent-bridge"
MSIDBCOMPONENTATTRIBUTES64BIT = 0x100
LINEERR_OPERATIONFAILED = 0x80000048


@pytest.fixture(scope="module")
def msi() -> Path:
    make_build()
    for tool, package in (("wixl", "wixl"), ("msiinfo", "msitools")):
        if not shutil.which(tool):
            text = f"the MSI test needs {tool} (Debian package {package})"
            if os.environ.get("CI"):
                pytest.fail(text + " -- CI must install it (.ci/run does)")
            pytest.skip(text)
    done = subprocess.run(
        ["make", "-C", str(TSP), "msi"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return TSP / "build" / "tapievent.msi"


def _wine(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Output through a file: services msiexec starts inherit (and keep) a pipe."""
    with tempfile.TemporaryFile("w+") as out:
        done = subprocess.run(
            ["wine", *args],
            env=env,
            stdout=out,
            stderr=subprocess.DEVNULL,
            timeout=120,
            check=False,
        )
        out.seek(0)
        return subprocess.CompletedProcess(done.args, done.returncode, out.read(), "")


def test_every_component_is_64_bit(msi: Path) -> None:
    table = subprocess.run(
        ["msiinfo", "export", str(msi), "Component"], capture_output=True, text=True, check=True
    ).stdout.splitlines()[3:]
    rows = {row.split("\t")[0]: row.split("\t") for row in table}
    assert set(rows) == {"Provider", "BridgeService", "SetupTool", "Defaults"}
    assert all(int(row[3]) & MSIDBCOMPONENTATTRIBUTES64BIT for row in rows.values())
    assert rows["Provider"][2] == "System64Folder"


def test_msiexec_installs_and_removes_provider_service_and_defaults(msi: Path) -> None:
    env = make_wine_env()
    drive = Path(env["WINEPREFIX"]) / "drive_c"
    log = drive / "ProgramData" / "tapievent" / "setup.log"
    log.unlink(missing_ok=True)
    _wine(env, "reg", "delete", KEY, "/v", "LinkToken", "/f")  # a fresh install makes one
    assert _wine(env, "msiexec", "/i", str(msi), "/qn").returncode == 0
    try:
        assert (drive / "windows" / "system32" / "tapievent.tsp").is_file()
        assert not (drive / "windows" / "syswow64" / "tapievent.tsp").exists()
        assert (drive / "Program Files" / "tapievent" / "tapievent-bridge.exe").is_file()
        service = _wine(env, "reg", "query", SERVICE_KEY).stdout
        assert "tapievent-bridge.exe run" in service and "LocalService" in service
        defaults = _wine(env, "reg", "query", KEY).stdout
        assert "BridgeCommand" in defaults and "tsp-bridge" in defaults
        token = re.search(r"LinkToken\s+REG_SZ\s+(\S+)", defaults)
        assert token and re.fullmatch("[0-9a-f]{64}", token.group(1))
        steps = log.read_text()
        assert "link token made" in steps
        assert "prerequisite missing: Python 3.10 or later with tapievent[tsp]" in steps
        assert f"lineAddProvider(tapievent.tsp) = 0x{LINEERR_OPERATIONFAILED:08X}" in steps
    finally:
        removed = _wine(env, "msiexec", "/x", str(msi), "/qn")
    assert removed.returncode == 0
    assert not (drive / "windows" / "system32" / "tapievent.tsp").exists()
    assert not (drive / "Program Files" / "tapievent").exists()
    assert _wine(env, "reg", "query", SERVICE_KEY).returncode != 0
    assert "BridgeCommand" not in _wine(env, "reg", "query", KEY).stdout
    assert "lineRemoveProvider: no provider id stored" in log.read_text()
