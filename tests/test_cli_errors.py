"""What a user can type or feed the command line ends in one error line, never a traceback.

Run as subprocesses, like test_cli.py (issue 15 #13, issue 13's rough edges).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from docs_examples import run_python_blocks
from test_cli import (
    CAPTURES,
    TIMEOUT,
    Lines,
    command,
    env,
    one_clean_error_line,
    tapievent,
)

from tapievent.testing import FakeAsterisk, ThreadedFakeAsterisk

# A caller name from a legacy trunk: Latin-1 bytes, not UTF-8.
LATIN1_NAME = b"\xc2\xe8\xf2 M\xfcller"


@pytest.fixture
def server() -> Iterator[ThreadedFakeAsterisk]:
    with FakeAsterisk.start_in_thread() as handle:
        yield handle


def call_args(server: ThreadedFakeAsterisk, **override: str) -> list[str]:
    options = {
        "--user": "tapi",
        "--line": "line_1",
        "--context": "outbound",
        "--channel": "Local/bob@phones-originate",
        **override,
    }
    out = ["call", "--host", server.host, "--port", str(server.port)]
    for name, value in options.items():
        out += [name, value]
    return [*out, "95551234"]


@pytest.mark.parametrize("port", ["99999", "-1", "0", "65536", "http"])
def test_a_port_out_of_range_is_refused_by_the_parser(port: str) -> None:
    done = tapievent("monitor", "--host", "127.0.0.1", "--user", "tapi", f"--port={port}")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    last = done.stderr.splitlines()[-1]
    assert last.startswith("tapievent monitor: error: argument --port: ")
    assert "1-65535" in last or "not a port number" in last


@pytest.mark.parametrize("option", ["--user", "--caller-id", "--context", "--line", "--channel"])
@pytest.mark.parametrize("breaker", ["\r\n", "\n", "\r"])
def test_a_line_break_in_an_action_value_is_refused_before_connecting(
    server: ThreadedFakeAsterisk, option: str, breaker: str
) -> None:
    value = f"x{breaker}Action: Originate"
    done = tapievent(*call_args(server, **{option: value}))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    last = done.stderr.splitlines()[-1]
    assert last == f"tapievent call: error: argument {option}: must not contain CR, LF or NUL"
    assert server.fake.connections == 0


@pytest.mark.parametrize("secret", ["tapi\r\nAction: Originate", "tapi\nsecret", "tapi\rx"])
def test_a_secret_holding_a_line_break_is_one_line_that_does_not_show_it(
    server: ThreadedFakeAsterisk, secret: str
) -> None:
    done = tapievent(*call_args(server), secret=secret)
    assert done.returncode == 2
    line = one_clean_error_line(done.stderr)
    assert line == (
        "tapievent call: error: the secret holds a CR, LF or NUL, which an AMI header cannot carry"
    )
    assert "Originate" not in done.stderr and "tapi\r" not in done.stderr
    assert server.fake.connections == 0


def latin1_capture(tmp_path: Path) -> Path:
    data = (CAPTURES / "05-scenario1-inbound.ami").read_bytes()
    assert b"Alice Caller" in data
    path = tmp_path / "latin1.ami"
    path.write_bytes(data.replace(b"Alice Caller", LATIN1_NAME))
    return path


def run_bytes(args: list[str], encoding: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*command(), *args],
        capture_output=True,
        timeout=TIMEOUT,
        env={**env(), "PYTHONIOENCODING": encoding},
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("encoding", ["cp1252", "utf-8", "ascii", "utf-8:strict"])
def test_replay_of_a_latin1_caller_name_prints_its_bytes_as_escapes(
    tmp_path: Path, encoding: str
) -> None:
    done = run_bytes(["replay", str(latin1_capture(tmp_path)), "--line", "line_1"], encoding)
    assert done.returncode == 0, done.stderr
    assert b"Traceback" not in done.stderr
    lines = done.stdout.decode("ascii").splitlines()  # the escapes are ASCII
    callinfo = next(line for line in lines if "CALLINFO" in line)
    assert callinfo.split(" caller id ")[1].startswith('"\\xc2\\xe8\\xf2 M\\xfcller" <5550100>')
    assert any("IDLE" in line for line in lines)


@pytest.mark.parametrize("encoding", ["cp1252", "utf-8", "ascii"])
def test_replay_json_is_valid_utf8_and_gives_the_exact_bytes_back(
    tmp_path: Path, encoding: str
) -> None:
    path = latin1_capture(tmp_path)
    done = run_bytes(["replay", str(path), "--line", "line_1", "--format", "json"], encoding)
    assert done.returncode == 0, done.stderr
    text = done.stdout.decode("utf-8")  # strict: raises if not UTF-8
    events = [json.loads(line) for line in text.splitlines()]
    names = [e["caller_id"]["name"] for e in events if e["event"] == "CallInfo"]
    assert names == [LATIN1_NAME.decode("utf-8", "surrogateescape")]
    # The documented way back to the bytes on the wire (docs/cli.md).
    assert names[0].encode("utf-8", "surrogateescape") == LATIN1_NAME
    assert '"\\udcc2\\udce8\\udcf2 M\\udcfcller"' in text


def test_a_name_that_is_not_latin1_is_escaped_on_a_cp1252_terminal(tmp_path: Path) -> None:
    data = (CAPTURES / "05-scenario1-inbound.ami").read_bytes()
    path = tmp_path / "cyrillic.ami"
    path.write_bytes(data.replace(b"Alice Caller", "Иван".encode()))
    done = run_bytes(["replay", str(path), "--line", "line_1"], "cp1252")
    assert done.returncode == 0, done.stderr
    assert b'"\\u0418\\u0432\\u0430\\u043d" <5550100>' in done.stdout


def test_the_caller_id_check_does_not_refuse_ordinary_values(server: ThreadedFakeAsterisk) -> None:
    done = tapievent(*call_args(server, **{"--caller-id": '"Bob Ünal" <201>'}))
    assert done.returncode == 0, done.stderr
    originate = next(a for a in server.fake.actions if a.get("Action") == "Originate")
    assert originate.get("CallerID") == '"Bob Ünal" <201>'


def test_lint_prints_a_file_name_that_is_not_utf8_with_escapes(tmp_path: Path) -> None:
    conf = tmp_path / os.fsdecode(b"caf\xe9.conf")
    conf.write_bytes(b"[in]\nexten => s,1,UserEvent(TAPI,TAPIEVENT: LINE_BOGUS)\n")
    done = run_bytes(["lint", str(conf)], "ascii")
    assert b"Traceback" not in done.stderr
    assert done.returncode == 1, done.stderr
    assert done.stdout.startswith(os.fsencode(tmp_path) + b"/caf\\xe9.conf:2:")


def test_cli_docs_examples_run(tmp_path: Path) -> None:
    assert run_python_blocks("cli.md", tmp_path) == 1


def test_monitor_of_a_latin1_caller_name_prints_escapes_on_a_strict_terminal(
    server: ThreadedFakeAsterisk,
) -> None:
    name = LATIN1_NAME.decode("utf-8", "surrogateescape")
    args = ["monitor", "--host", server.host, "--port", str(server.port), "--user", "tapi"]
    with subprocess.Popen(
        [*command(), *args, "--line", "Local/bob"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        encoding="ascii",  # the escapes are ASCII; anything else fails the reader
        env={**env(), "PYTHONIOENCODING": "utf-8:strict"},
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        try:
            out, err = Lines(process.stdout), Lines(process.stderr)
            err.until("^connected")
            server.call(server.fake.inbound_call, ["Local/bob"], caller_id=f'"{name}" <555>')
            lines = out.until("IDLE")
            process.send_signal(signal.SIGINT)
            assert process.wait(TIMEOUT) == 0
        finally:
            if process.poll() is None:
                process.kill()
    callinfo = next(line for line in lines if "CALLINFO" in line)
    assert 'caller id "\\xc2\\xe8\\xf2 M\\xfcller" <555>' in callinfo


def test_replay_json_spells_a_diagnostic_code_as_documented(tmp_path: Path) -> None:
    # A line over the decoder's limit: a protocol-error diagnostic, then on.
    path = tmp_path / "long-line.ami"
    path.write_bytes(b"Event: A\r\nX: " + b"x" * 70000 + b"\r\n\r\nEvent: B\r\n\r\n")
    done = tapievent("replay", str(path), "--format", "json")
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(e["event"], e["code"]) for e in events] == [("Diagnostic", "protocol-error")]
    text = tapievent("replay", str(path))
    assert text.stdout.split()[:2] == ["diagnostic", "protocol-error:"]
