"""``tapievent replay``'s summary line and its refusal of input that is not AMI."""

from __future__ import annotations

import json
from pathlib import Path

from test_cli import CAPTURES, one_clean_error_line, tapievent

RINGGROUP = CAPTURES / "12-scenario7-ringgroup.ami"
DIALPLANS = Path(__file__).parent / "dialplans"


def test_the_summary_goes_to_stderr_and_json_stays_pure() -> None:
    done = tapievent("replay", str(RINGGROUP), "--format", "json")
    assert done.returncode == 0
    events = [json.loads(line) for line in done.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    assert (len(kinds) - kinds.count("CallRecord"), kinds.count("CallRecord")) == (10, 2)
    assert done.stderr == "tapievent replay: 128 frames, 10 TAPI events, 1 call, 0 diagnostics\n"


def test_text_has_the_same_summary_after_the_events() -> None:
    done = tapievent("replay", str(RINGGROUP), "--line", "Local/bob")
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert len([line for line in lines if " RECORD " not in line]) == 5
    assert done.stderr == "tapievent replay: 128 frames, 5 TAPI events, 1 call, 0 diagnostics\n"


def test_diagnostics_are_counted_apart(tmp_path: Path) -> None:
    cut = tmp_path / "cut.ami"
    cut.write_bytes(RINGGROUP.read_bytes()[:-40])  # ends inside a frame
    done = tapievent("replay", str(cut), "--format", "json")
    assert done.returncode == 0
    kinds = [json.loads(line)["event"] for line in done.stdout.splitlines()]
    assert kinds.count("Diagnostic") >= 1
    diagnostics = kinds.count("Diagnostic")
    assert done.stderr.endswith(f", {diagnostics} diagnostic{'s' * (diagnostics != 1)}\n")


def test_a_capture_joined_mid_stream_is_still_ami(tmp_path: Path) -> None:
    headless = tmp_path / "headless.ami"
    headless.write_bytes(RINGGROUP.read_bytes().split(b"\r\n", 1)[1])  # no banner
    done = tapievent("replay", str(headless))
    assert done.returncode == 0
    assert done.stderr.startswith("tapievent replay: 128 frames, 10 TAPI events, 1 call")


def test_a_dialplan_is_not_a_capture(tmp_path: Path) -> None:
    conf = next(DIALPLANS.glob("*.conf"))
    done = tapievent("replay", str(conf))
    assert done.returncode == 1
    summary, warning = done.stderr.splitlines()
    assert summary.startswith("tapievent replay: 0 frames, 0 TAPI events, 0 calls, ")
    assert warning.startswith(f"tapievent replay: error: {conf} is not an AMI capture: ")
    assert "no banner and no Event: or Response: frame" in warning
    assert "Traceback" not in done.stderr


def test_empty_input_is_not_a_capture_either() -> None:
    done = tapievent("replay", "-")  # stdin is /dev/null
    assert done.returncode == 1
    assert one_clean_error_line(done.stderr.split("\n", 1)[1]).startswith(
        "tapievent replay: error: standard input is not an AMI capture"
    )
