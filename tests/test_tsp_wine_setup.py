"""Phone and Modem (telephon.cpl) applied to the built DLL, under Wine.

telephon.cpl offers a ``.tsp`` under Add only when it exports
``TSPI_providerInstall``, enables Remove and Configure only for
``TSPI_providerRemove`` / ``TSPI_providerConfig``, and names it by the version
resource's ``FileDescription``. ``cpl_probe.exe`` applies exactly those rules
(GetProcAddress and the version APIs, as the control panel does) to every
``.tsp`` of a directory.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from tsp_wine import Harness, make_build, make_wine_env, windows_path

DESCRIPTION = "tapievent TAPI service provider for Asterisk"
KEY = "HKLM\\Software\\tapievent\\TSP"


@pytest.fixture(scope="module")
def build() -> Path:
    return make_build()


@pytest.fixture(scope="module")
def wine_env() -> dict[str, str]:
    return make_wine_env()


def test_phone_and_modem_lists_the_provider_with_remove_configure_and_its_name(
    build: Path, wine_env: dict[str, str], tmp_path: Path
) -> None:
    shutil.copy(build / "tapievent.tsp", tmp_path / "tapievent.tsp")
    # A control: a module without the provider exports is not offered.
    shutil.copy(build / "tsp_harness.exe", tmp_path / "notaprovider.tsp")
    done = subprocess.run(
        ["wine", str(build / "cpl_probe.exe"), windows_path(tmp_path)],
        env=wine_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    shown = {row["file"]: row for row in map(json.loads, done.stdout.splitlines())}
    ours = shown["tapievent.tsp"]
    assert (ours["loaded"], ours["listed"], ours["remove"], ours["configure"]) == (1, 1, 1, 1)
    assert ours["description"] == DESCRIPTION
    assert shown["notaprovider.tsp"]["listed"] == 0


def _reg_query(env: dict[str, str], name: str) -> str:
    done = subprocess.run(
        ["wine", "reg", "query", KEY, "/v", name], env=env, capture_output=True, text=True
    )
    return done.stdout if done.returncode == 0 else ""


def test_add_writes_the_default_configuration_and_keeps_an_existing_one(
    build: Path, wine_env: dict[str, str]
) -> None:
    subprocess.run(["wine", "reg", "delete", KEY, "/f"], env=wine_env, capture_output=True)
    harness = Harness(build, wine_env, [])
    try:
        assert harness.cmd("install")["result"] == 0
    finally:
        harness.close()
    assert "0x13ce" in _reg_query(wine_env, "BridgePort")  # 5070
    assert "line_1" in _reg_query(wine_env, "Lines")
    # Adding it again (or after the MSI wrote the lines) keeps what is there.
    harness = Harness(build, wine_env, ["--reg-multi", "Lines=PJSIP/bob"])
    try:
        assert harness.cmd("install")["result"] == 0
        assert harness.cmd("remove")["result"] == 0  # Remove keeps the configuration
    finally:
        harness.close()
    assert "PJSIP/bob" in _reg_query(wine_env, "Lines")
    assert "127.0.0.1" in _reg_query(wine_env, "BridgeHost")
