"""The Configure dialog under Wine, typed into with xdotool like an administrator.

``run_config.exe`` calls the built DLL's ``TUISPI_providerConfig`` as TAPISRV
does for Phone and Modem's Configure button. The test types every field, takes
a screenshot of the filled dialog (kept in tests/artifacts/), presses OK and
checks the one configuration in HKLM: every value, and the manager secret only
as a DPAPI blob that CryptUnprotectData turns back into what was typed and that
nowhere in the registry export reads as text.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tsp_wine import make_build, make_wine_env, windows_path
from wine_gui import Screen, x_display

from tapievent.tsp.registry import parse_reg_export

KEY = "HKLM\\Software\\tapievent\\TSP"
TITLE = "tapievent TSP configuration"
REFUSED = "tapievent TSP: check the entry"
SECRET = "s3cr3t-Pass!"


@pytest.fixture(scope="module")
def build() -> Path:
    return make_build()


@pytest.fixture(scope="module")
def desktop(
    build: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[dict[str, str], Screen]]:
    """A Wine prefix of this module's own on one Xvfb display.

    Not the shared prefix: Wine binds a prefix's desktop to the display of the
    first program that needs one, so a desktop started by the headless tests
    would swallow the dialog. Creating the prefix takes about 15 s.
    """
    with x_display() as display:
        prefix = tmp_path_factory.mktemp("wine-gui")
        env = dict(make_wine_env(), WINEPREFIX=str(prefix), DISPLAY=display)
        subprocess.run(["wineboot", "-i"], env=env, capture_output=True, timeout=300, check=False)
        try:
            yield env, Screen(display)
        finally:
            subprocess.run(["wineserver", "-k"], env=env, capture_output=True, timeout=60)


@pytest.fixture
def gui(desktop: tuple[dict[str, str], Screen], build: Path) -> tuple[dict[str, str], Screen, Path]:
    env, screen = desktop
    subprocess.run(["wine", "reg", "delete", KEY, "/f"], env=env, capture_output=True)
    return env, screen, build


@pytest.fixture
def open_dialog(
    gui: tuple[dict[str, str], Screen, Path],
) -> Iterator[Callable[[], subprocess.Popen[str]]]:
    """Starts run_config.exe (the DLL's TUISPI_providerConfig); ends it if a test fails."""
    env, _, build = gui
    started: list[subprocess.Popen[str]] = []

    def start() -> subprocess.Popen[str]:
        started.append(
            subprocess.Popen(
                [
                    "wine",
                    str(build / "run_config.exe"),
                    "config",
                    windows_path(build / "tapievent.tsp"),
                ],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
        )
        return started[-1]

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)


def _fill(screen: Screen, window: str, port: str) -> None:
    """Host, port, TLS, user, secret, own phone, lines: Tab moves and selects the next field."""
    screen.focus(window)
    screen.type("pbx.example.org")
    screen.key("Tab")
    screen.type(port)
    screen.key("Tab", "space", "Tab")  # TLS on
    screen.type("tapi")
    screen.key("Tab")
    screen.type(SECRET)
    screen.key("Tab")
    screen.type("PJSIP/100")
    screen.key("Tab")
    screen.type("PJSIP/100, PJSIP/101")


def _export(env: dict[str, str], tmp_path: Path) -> bytes:
    target = tmp_path / "tsp.reg"
    done = subprocess.run(
        ["wine", "reg", "export", KEY, windows_path(target), "/y"],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0 and target.exists(), done.stderr
    return target.read_bytes()


def test_the_dialog_writes_the_one_configuration_with_the_secret_protected(
    gui: tuple[dict[str, str], Screen, Path],
    open_dialog: Callable[[], subprocess.Popen[str]],
    tmp_path: Path,
) -> None:
    env, screen, build = gui
    dialog = open_dialog()
    window = screen.find(TITLE)
    _fill(screen, window, "5039")
    shot = screen.screenshot(window, tmp_path / "configure-dialog.png")
    width, height = screen.size(shot)
    assert width > 300 and height > 200  # the dialog, not a stray 1x1 window
    assert screen.colours(shot) > 8  # text, frames, the check mark: not a blank area
    screen.key("Return")
    out, _ = dialog.communicate(timeout=60)
    assert json.loads(out) == {"result": 0}

    raw = _export(env, tmp_path)
    for form in (SECRET.encode(), SECRET.encode("utf-16-le")):
        assert form not in raw
        assert form.hex().encode() not in raw.lower()
    settings = parse_reg_export(raw)
    assert (settings.ami_host, settings.ami_port, settings.tls) == ("pbx.example.org", 5039, True)
    assert (settings.username, settings.user_channel) == ("tapi", "PJSIP/100")
    assert settings.lines == ("PJSIP/100", "PJSIP/101")
    assert settings.secret_blob and SECRET.encode() not in settings.secret_blob
    # What the bridge service does with the blob: CryptUnprotectData gives back what was typed.
    check = subprocess.run(
        ["wine", str(build / "run_config.exe"), "check-secret", SECRET],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert json.loads(check.stdout) == {"stored": 1, "match": 1}


def test_a_port_out_of_range_is_refused_and_nothing_is_written(
    gui: tuple[dict[str, str], Screen, Path],
    open_dialog: Callable[[], subprocess.Popen[str]],
    tmp_path: Path,
) -> None:
    env, screen, _ = gui
    dialog = open_dialog()
    window = screen.find(TITLE)
    _fill(screen, window, "99999")
    screen.key("Return")
    warning = screen.find(REFUSED)
    screen.screenshot(warning, tmp_path / "configure-refused.png")
    screen.key("Return")  # close the warning: the dialog stays open for a correction
    assert screen.gone(REFUSED)
    assert screen.find(TITLE) == window
    screen.focus(window)
    screen.key("Escape")
    out, _ = dialog.communicate(timeout=60)
    assert json.loads(out) == {"result": 0}  # Cancel is not an error
    query = subprocess.run(["wine", "reg", "query", KEY], env=env, capture_output=True, check=False)
    assert query.returncode != 0  # no key: nothing was written
