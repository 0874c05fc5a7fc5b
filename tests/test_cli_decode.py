"""``tapievent decode`` run as a user runs it: a subprocess, real files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CAPTURES = REPO / "tests" / "data" / "asterisk-22.10.1"


def decode(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tapievent", "decode", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )


def test_decode_capture_prints_one_block_per_frame() -> None:
    result = decode(str(CAPTURES / "01-login-plain.ami"))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    blocks = result.stdout.split("\n\n")
    assert len(blocks) == 1 + 5  # banner + the 5 messages of the capture
    assert blocks[0] == "Asterisk Call Manager/11.0.0"
    assert blocks[1].splitlines() == [
        "Response: Success",
        "ActionID: login",
        "Message: Authentication accepted",
    ]
    assert blocks[-1].splitlines()[0] == "Response: Goodbye"


def test_decode_example_is_the_bundled_ring_group_capture() -> None:
    result = decode("--example")
    assert result.returncode == 0, result.stderr
    expected = decode(str(CAPTURES / "12-scenario7-ringgroup.ami"))
    assert result.stdout == expected.stdout
    assert "TAPIEVENT: LINE_NEWCALL Local/bob" in result.stdout


def test_decode_bad_file_reports_offset_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ami"
    bad.write_bytes(
        b"Asterisk Call Manager/1.0\r\nEvent: A\r\nCallerIDName: M\xfcller\r\n\r\nEvent: B\r\nUniq"
    )
    result = decode(str(bad))
    assert result.returncode == 1
    assert result.stdout == "Asterisk Call Manager/1.0\n\nEvent: A\nCallerIDName: M\\xfcller\n"
    assert result.stderr.splitlines() == [
        f"{bad}: offset 61: stream ended inside a frame (14 bytes without the blank line"
        " that ends a frame)"
    ]


def test_decode_legacy_follows_body(tmp_path: Path) -> None:
    capture = tmp_path / "old.ami"
    capture.write_bytes(
        b"Asterisk Call Manager/1.1\r\nResponse: Follows\r\nPrivilege: Command\r\n"
        b"line one\n\nline: three--END COMMAND--\r\n\r\n"
    )
    result = decode(str(capture))
    assert result.returncode == 0
    assert result.stdout.split("\n\n", 1)[1] == (
        "Response: Follows\nPrivilege: Command\nline one\n\nline: three\n--END COMMAND--\n"
    )


def test_decode_unreadable_file_exits_2(tmp_path: Path) -> None:
    result = decode(str(tmp_path / "missing.ami"))
    assert result.returncode == 2
    assert "cannot read" in result.stderr and "Traceback" not in result.stderr
    result = decode(str(tmp_path))  # a directory
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_decode_into_a_closed_pipe_is_not_a_read_error(tmp_path: Path) -> None:
    # `tapievent decode big.ami | head`: the reader leaves early. That is no
    # "cannot read" failure of the capture and no traceback.
    big = tmp_path / "big.ami"
    big.write_bytes(b"Asterisk Call Manager/11.0.0\r\n" + b"Event: X\r\nA: 1\r\n\r\n" * 50_000)
    with subprocess.Popen(
        [sys.executable, "-m", "tapievent", "decode", str(big)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        assert process.stdout.read(30) == b"Asterisk Call Manager/11.0.0\n\n"
        process.stdout.close()
        stderr = process.stderr.read().decode()
        process.wait()
    assert stderr == ""  # before the fix: "cannot read big.ami: Broken pipe"
    assert process.returncode == 0
