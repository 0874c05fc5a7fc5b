"""docs/dialplan-guide.md on real servers: its dialplans for 18 and 22 load and run.

* The generated dialplan for 12-20 (``--asterisk 13``) runs on 18, the one for
  21+ (``--asterisk 22``) on 22: loaded as the whole dialplan of a fresh
  instance, an inbound call (a plain and a Latin-1 caller) gives NEWCALL on
  both lines, the caller id, OFFERING and IDLE. The guide's lines are PJSIP
  phones, which these servers do not have: Dial fails and the call ends, as
  on a PBX whose phones are all offline.
* Every ``ini lint --asterisk 22`` example is loaded into 22 and 18, and the
  warnings Asterisk's loader gives are exactly the loader findings of lint.
"""

from __future__ import annotations

import asyncio
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from tapievent.model import CallerId
from tapievent.transports.aio import connect

from .calls import Seen, follow
from .kit import SECRET, USER, Instance
from .lint_agreement import agreement, table
from .trunk import Trunk

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "dialplan-guide.md"
_FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def blocks(kind: str) -> list[tuple[list[str], str]]:
    text = GUIDE.read_text(encoding="utf-8")
    return [
        (shlex.split(m.group(1))[1:], m.group(2))
        for m in _FENCE.finditer(text)
        if m.group(1).startswith(f"ini {kind} ")
    ]


def _generated_for(major: int) -> tuple[list[str], str]:
    wanted = "13" if major < 21 else "22"
    (found,) = [(args, body) for args, body in blocks("dialplan") if args[2] == wanted]
    return found


@pytest.fixture
def fresh(asterisk: Instance) -> Iterator[Instance]:
    """An instance of the same version with nothing but the test's dialplan."""
    inst = Instance(asterisk.version, asterisk.prefix)
    inst.start()
    yield inst
    inst.stop()
    inst.remove()


def test_the_guides_generated_dialplan_runs(fresh: Instance) -> None:
    args, body = _generated_for(fresh.major)
    lines = [args[i + 1] for i, a in enumerate(args) if a == "--line"]
    (fresh.etc / "ringgroup.conf").write_text(body)
    log = fresh.reload()
    assert "WARNING" not in log and "ERROR" not in log, log

    async def run() -> Seen:
        trunk = Trunk(fresh.port)
        try:
            async with connect(
                "127.0.0.1", fresh.port, username=USER, secret=SECRET, lines=lines,
                reconnect=False,
            ) as client:  # fmt: skip
                trunk.call('"Guide Reader" <1301>')
                trunk.call(b'"J\xf6rg M\xfcller" <1302>')
                return await follow(client, 2, timeout=15)
        finally:
            trunk.close()

    seen = asyncio.run(run())
    latin1 = "Jörg Müller".encode("latin-1").decode("utf-8", "surrogateescape")
    for number, name in (("1301", "Guide Reader"), ("1302", latin1)):
        call = seen.by_number(number)
        assert call.caller_ids()[0] == CallerId(name, number)
        for line in lines:
            assert call.states(line) == ["OFFERING", "IDLE"], (number, call)
    assert fresh.wait_no_channels() == []


def test_the_guides_lint_examples_load_as_lint_says(fresh: Instance) -> None:
    examples = blocks("lint")
    assert len(examples) >= 3
    sources = [(f"guide-lint-{i}", body.encode()) for i, (_, body) in enumerate(examples)]
    theirs, ours = agreement(fresh, sources)
    assert theirs == ours, table(theirs, ours)
    assert theirs  # the examples do have loader problems (no context, a taken priority)
