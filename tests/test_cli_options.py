"""The options every command spells the same way (issue 13's rough edges), as subprocesses."""

from __future__ import annotations

import json
import re
import signal
import subprocess
from pathlib import Path

import pytest
from test_cli import CAPTURES, TIMEOUT, command, connection, env, running, tapievent

import tapievent as package
from tapievent.testing import FakeAsterisk

INBOUND = CAPTURES / "05-scenario1-inbound.ami"


def with_stdin(args: list[str], data: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*command(), *args], input=data, capture_output=True, timeout=TIMEOUT, env=env()
    )


def test_version_prints_the_package_version() -> None:
    done = tapievent("--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"tapievent {package.__version__}\n"


def test_replay_line_is_repeatable_and_does_not_swallow_the_file() -> None:
    # `--lines a FILE` used to read FILE as a second line (nargs='+').
    done = tapievent("replay", "--line", "line_1", "--line", "line_2", str(INBOUND), "--no-timing")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines and all(line.startswith("line_1 ") for line in lines)
    assert tapievent("replay", "--lines", "line_1", str(INBOUND)).returncode == 2


def test_replay_reads_standard_input_for_a_dash() -> None:
    done = with_stdin(["replay", "-", "--format", "json"], INBOUND.read_bytes())
    assert done.returncode == 0, done.stderr
    # Standard input has no timing file beside it: the same as --no-timing.
    from_file = tapievent("replay", str(INBOUND), "--format", "json", "--no-timing")
    assert done.stdout.decode() == from_file.stdout
    assert json.loads(from_file.stdout.splitlines()[0])["event"] == "NewCall"


def test_lint_reads_standard_input_for_a_dash(tmp_path: Path) -> None:
    conf = b"[in]\nexten => s,1,UserEvent(TAPI,TAPIEVENT: LINE_BOGUS)\n"
    done = with_stdin(["lint", "-"], conf)
    assert done.returncode == 1, done.stderr
    assert done.stdout.decode().startswith("<stdin>:2:")
    (tmp_path / "extensions.conf").write_bytes(conf)
    from_file = tapievent("lint", str(tmp_path / "extensions.conf"))
    assert done.stdout.decode().split(":", 1)[1] == from_file.stdout.split(":", 1)[1]
    mixed = with_stdin(["lint", "-", str(tmp_path / "extensions.conf")], conf)
    assert mixed.returncode == 2
    assert mixed.stderr.decode().strip() == (
        "tapievent lint: '-' (standard input) must be the only FILE"
    )


@pytest.mark.parametrize("command_args", [["dialplan", "--line", "PJSIP/bob"], ["lint", "x"]])
@pytest.mark.parametrize("version", ["99", "24", "24.1.0"])
def test_an_unknown_asterisk_version_is_refused_with_the_known_ones(
    command_args: list[str], version: str
) -> None:
    done = tapievent(*command_args, "--asterisk", version)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr == (
        f"tapievent {command_args[0]}: unknown Asterisk version {version!r}: "
        "tapievent knows 1.2, 1.4, 1.6, 1.8 and 10 to 23\n"
    )


def test_the_known_versions_are_still_accepted() -> None:
    for version in ("1.4", "11", "22.10.1", "23"):
        done = tapievent("dialplan", "--asterisk", version, "--line", "PJSIP/bob")
        assert done.returncode == 0, (version, done.stderr)


def test_text_columns_are_as_wide_as_the_longest_line(tmp_path: Path) -> None:
    long = "PJSIP/reception-desk-2"
    ring_group = (CAPTURES / "12-scenario7-ringgroup.ami").read_bytes()
    path = tmp_path / "long.ami"
    path.write_bytes(ring_group.replace(b"Local/bobbett", long.encode()))
    done = tapievent("replay", str(path))
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if not line.startswith("diagnostic")]
    assert {row.split()[0] for row in rows} == {"Local/bob", long}
    # Every row's kind column starts at the same place, after the longest line.
    kinds = [re.search(r" (NEWCALL|CALLINFO|CALLSTATE|RECORD) ", row) for row in rows]
    assert {kind.start() if kind else None for kind in kinds} == {len(long)}


@pytest.mark.parametrize("name", ["monitor", "call", "tsp-bridge"])
def test_every_long_running_command_has_a_log_level(name: str) -> None:
    done = tapievent(name, "--help")
    assert done.returncode == 0
    assert "--log-level" in done.stdout and "-v, --verbose" in done.stdout


def test_monitor_log_level_info_logs_the_login_on_stderr() -> None:
    with FakeAsterisk.start_in_thread() as server:
        args = ("monitor", *connection(server), "--log-level", "info")
        with running(*args) as (process, _out, err):
            seen = err.until(r"INFO tapievent\.transports\.aio: logged in to 127\.0\.0\.1")
            seen += err.until(r"^connected to ")
            assert "tapisecret" not in "\n".join(seen)
            process.send_signal(signal.SIGINT)
            assert process.wait(TIMEOUT) == 0
