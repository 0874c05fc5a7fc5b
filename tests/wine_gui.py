"""A private X display for Wine GUI tests: Xvfb, xdotool and ImageMagick.

The Configure dialog is tested by typing into it as an administrator would.
Each test gets its own Xvfb (``-displayfd`` picks a free display number, so
parallel runs never collide); windows are found by title with ``xdotool``.
Under CI (``CI`` set) a missing tool fails; elsewhere it skips, naming the
Debian package, as ``tsp_wine`` does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

GUI_TOOLS = {
    "Xvfb": "xvfb",
    "xdotool": "xdotool",
    "import": "imagemagick",
    "convert": "imagemagick",
}
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


def require_gui_tools() -> None:
    missing = [
        f"{tool} (Debian package {pkg})"
        for tool, pkg in GUI_TOOLS.items()
        if not shutil.which(tool)
    ]
    if missing:
        text = "the dialog tests need " + ", ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(text + " -- CI must install them (.ci/run does)")
        pytest.skip(text)


@contextmanager
def x_display() -> Iterator[str]:
    """Start Xvfb on a free display and yield its name (``:N``)."""
    require_gui_tools()
    read, write = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", "800x600x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    try:
        with os.fdopen(read) as pipe:
            number = pipe.readline().strip()
        assert number, "Xvfb did not report a display"
        yield ":" + number
    finally:
        server.terminate()
        server.wait(timeout=10)


class Screen:
    """xdotool and ImageMagick on one display."""

    def __init__(self, display: str) -> None:
        self.env = dict(os.environ, DISPLAY=display)

    def _run(self, *args: str) -> str:
        done = subprocess.run(
            args, env=self.env, capture_output=True, text=True, timeout=30, check=False
        )
        return done.stdout

    def find(self, title: str, timeout: float = 40.0) -> str:
        """The id of the first window whose title is ``title`` (waits for it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self._run("xdotool", "search", "--onlyvisible", "--name", f"^{title}$").split()
            if found:
                time.sleep(1.0)  # mapped is not yet ready for keys: let the dialog settle
                return found[0]
            time.sleep(0.5)
        raise AssertionError(f"no window titled {title!r} within {timeout} s")

    def gone(self, title: str, timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._run("xdotool", "search", "--name", f"^{title}$").split():
                return True
            time.sleep(0.3)
        return False

    def focus(self, window: str) -> None:
        self._run("xdotool", "windowfocus", "--sync", window)

    def type(self, text: str) -> None:
        self._run("xdotool", "type", "--delay", "15", text)

    def key(self, *keys: str) -> None:
        self._run("xdotool", "key", "--delay", "40", *keys)

    def screenshot(self, window: str, path: Path) -> Path:
        """The window as PNG at ``path``, and a copy under tests/artifacts/."""
        self._run("import", "-window", window, str(path))
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.copy(path, ARTIFACTS / path.name)
        return path

    def colours(self, path: Path) -> int:
        """Distinct colours in the image: a blank or uniform window has one or two."""
        return int(self._run("convert", str(path), "-format", "%k", "info:").strip() or 0)

    def size(self, path: Path) -> tuple[int, int]:
        width, height = self._run("identify", "-format", "%w %h", str(path)).split()
        return int(width), int(height)
