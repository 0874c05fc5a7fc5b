"""``tapievent call``'s exit status says how the call went, for scripts (docs/cli.md)."""

from __future__ import annotations

import re
import signal

import pytest
from test_cli import connection, in_order, one_clean_error_line, running, tapievent

from tapievent.testing import FakeAsterisk, ThreadedFakeAsterisk


def _call_args(server: ThreadedFakeAsterisk, number: str) -> list[str]:
    return ["call", *connection(server), "--line", "line_1", number,
            "--context", "outbound", "--channel", "Local/bob@phones-originate"]  # fmt: skip


@pytest.mark.parametrize(
    ("number", "status", "said"),
    [
        ("95551234", 0, None),
        ("busy", 3, "tapievent call: not answered: busy"),
        ("noanswer", 4, "tapievent call: not answered"),
        (
            "nosuch",
            5,
            "tapievent call: error: Asterisk refused the call: Originate failed: "
            "Extension does not exist.",
        ),
    ],
)
def test_the_exit_status_is_how_the_call_ended(number: str, status: int, said: str | None) -> None:
    with FakeAsterisk.start_in_thread(missing_extensions=("nosuch",)) as server:
        done = tapievent(*_call_args(server, number))
    assert done.returncode == status, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stdout.splitlines()
    if status == 5:
        assert lines == []  # refused before anything rang
    else:
        # The IDLE, then the call's record, which says the same as the status.
        disposition = {0: "answered", 3: "busy", 4: "no-answer"}[status]
        assert re.search(r"line_1 +CALLSTATE +IDLE", lines[-2])  # after the event's time
        assert re.search(rf"line_1 +RECORD +{disposition}, application", lines[-1])
    if status == 0:
        in_order(lines, [r"CALLSTATE +CONNECTED", r"CALLSTATE +IDLE"])
    else:
        assert not any(re.search(r"CALLSTATE +CONNECTED", line) for line in lines)
    notes = [n for n in done.stderr.splitlines() if not n.startswith("calling ")]
    assert notes == ([] if said is None else [said])


def test_busy_and_no_answer_come_from_the_originate_response() -> None:
    with FakeAsterisk.start_in_thread() as server:
        busy = tapievent(*_call_args(server, "busy"), "--format", "json")
        late = tapievent(*_call_args(server, "noanswer"), "--format", "json")
    assert '"mode_name": "BUSY"' in busy.stdout
    assert '"mode_name": "NOANSWER"' in late.stdout


def test_a_lost_connection_before_the_end_is_its_own_status() -> None:
    with (
        FakeAsterisk.start_in_thread(call_duration=None) as server,
        running(*_call_args(server, "95551234")) as (process, out, err),
    ):
        out.until(r"CALLSTATE +CONNECTED")
        server.call(server.fake.kill)
        assert process.wait(20) == 6
        err.until("lost before the call ended")
        # Besides the transport's own WARNING log line (--log-level ERROR hides it):
        said = [e for e in err.seen if not e.startswith("calling") and " WARNING " not in e]
        line = one_clean_error_line("\n".join(said))
    assert line.startswith(f"tapievent call: error: the connection to 127.0.0.1:{server.port} was")
    assert line.endswith("lost before the call ended (it may still be up)")


def test_ctrl_c_during_the_call_is_130_not_success() -> None:
    with (
        FakeAsterisk.start_in_thread(call_duration=None) as server,
        running(*_call_args(server, "95551234")) as (process, out, _),
    ):
        out.until(r"CALLSTATE +CONNECTED")
        process.send_signal(signal.SIGINT)
        assert process.wait(20) == 130
