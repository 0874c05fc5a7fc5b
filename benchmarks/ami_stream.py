"""A synthetic AMI stream, as an Asterisk 20 server sends it, in two mixes.

Importable by every benchmark (codec, tracker): ``generate_stream(frames,
seed, mix=...)`` returns the bytes of one connection: the Asterisk 20 banner
(9.0.0), the login reply, ``FullyBooted``, then calls interleaved the way a
busy PBX interleaves them (up to 8 at a time), plus about 2% action replies
(``Ping``, ``Command`` with ``Output:`` lines, 14+ layout).

``mix="realistic"`` (the default) is what a real Asterisk sends per call.
Each call is the 123 frames of the ring-group call in the real capture
``tests/data/asterisk-22.10.1/12-scenario7-ringgroup.ami`` (frames 4-126:
everything between the Originate that starts the call and the Logoff), with
the unique ids, channel numbers, bridge id, ActionID and caller renamed per
call. Counted in that capture, one call is::

    VarSet 36, Newexten 24, UserEvent 7 (all TAPI), Newstate 7,
    Newchannel 6, NewCallerid 6, NewConnectedLine 6, Hangup 6,
    LocalBridge 3, DialBegin 3, DialState 3, DialEnd 3, HangupRequest 3,
    SoftHangupRequest 3, BridgeEnter 2, BridgeLeave 2, BridgeCreate 1,
    BridgeDestroy 1, OriginateResponse 1                       = 123 frames

so TAPI UserEvents are 7 / 123 = 5.7% of a call's frames. The other real
captures agree: 5 of 125 events in 05 (one inbound call, 4.0%), 14 of 298
in 09 (four calls, 4.7%). :func:`mix_counts` recounts both the capture and a
generated stream, so a benchmark can print the figures it ran on.

``mix="tapi-heavy"`` is the earlier synthetic call: 15 frames of which 5 are
TAPI UserEvents (a third of the stream), each with a ``[~id&line]`` target:
``Newchannel`` of the trunk, a ``VarSet``, ``LINE_NEWCALL``, ``SET
CALLERID``, OFFERING, ``Newchannel`` of the phone, ``DialBegin``,
``Newstate`` Ringing, ``VarSet`` DIALSTATUS, ``DialEnd``, ``Newstate`` Up,
CONNECTED, the phone's ``Hangup``, IDLE, the trunk's ``Hangup``. It is kept
as a stress mix for the TAPI path; no real dialplan produces it.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path

__all__ = ["BANNER", "CAPTURE", "MIXES", "generate_stream", "mix_counts"]

CAPTURE = (
    Path(__file__).resolve().parent.parent
    / "tests/data/asterisk-22.10.1/12-scenario7-ringgroup.ami"
)
MIXES = ("realistic", "tapi-heavy")

BANNER = b"Asterisk Call Manager/9.0.0\r\n"
EPOCH = 1795667804
LINES = ("PJSIP/bob", "PJSIP/bobbett", "PJSIP/carol", "PJSIP/dave", "PJSIP/erin")
NAMES = ("Alice Caller", "M\xfcller GmbH", "O\\'Neil", "Smith, Bob", "Zo\xeb", "<unknown>")


def _frame(pairs: list[tuple[str, str]]) -> bytes:
    return ("".join(f"{n}: {v}\r\n" for n, v in pairs) + "\r\n").encode("utf-8")


def _snapshot(
    prefix: str,
    chan: str,
    state: int,
    desc: str,
    num: str,
    name: str,
    context: str,
    exten: str,
    prio: int,
    uid: str,
    linked: str,
) -> list[tuple[str, str]]:
    return [
        (f"{prefix}Channel", chan),
        (f"{prefix}ChannelState", str(state)),
        (f"{prefix}ChannelStateDesc", desc),
        (f"{prefix}CallerIDNum", num),
        (f"{prefix}CallerIDName", name),
        (f"{prefix}ConnectedLineNum", "<unknown>"),
        (f"{prefix}ConnectedLineName", "<unknown>"),
        (f"{prefix}Language", "en"),
        (f"{prefix}AccountCode", ""),
        (f"{prefix}Context", context),
        (f"{prefix}Exten", exten),
        (f"{prefix}Priority", str(prio)),
        (f"{prefix}Uniqueid", uid),
        (f"{prefix}Linkedid", linked),
    ]


def _event(name: str, privilege: str, body: list[tuple[str, str]]) -> bytes:
    return _frame([("Event", name), ("Privilege", privilege), *body])


def _heavy_call(rng: random.Random, n: int, counter: Iterator[int]) -> Iterator[bytes]:
    """The 15 frames of one synthetic TAPI-heavy inbound call."""
    uid = f"{EPOCH + n // 50}.{next(counter)}"
    puid = f"{EPOCH + n // 50}.{next(counter)}"
    line = rng.choice(LINES)
    num = f"555{rng.randrange(10000):04d}"
    name = rng.choice(NAMES)
    trunk = f"PJSIP/trunk-{n:08x}"
    phone = f"{line}-{n:08x}"

    def trunk_snap(state: int, desc: str, prio: int) -> list[tuple[str, str]]:
        return _snapshot("", trunk, state, desc, num, name, "inbound", "100", prio, uid, uid)

    def phone_snap(prefix: str, state: int, desc: str) -> list[tuple[str, str]]:
        return _snapshot(prefix, phone, state, desc, "100", name, "phones", "s", 1, puid, uid)

    def tapi(body: str, prio: int) -> bytes:
        return _event(
            "UserEvent",
            "user,all",
            [*trunk_snap(4, "Ring", prio), ("UserEvent", "TAPI"), ("TAPIEVENT", body)],
        )

    yield _event("Newchannel", "call,all", trunk_snap(0, "Down", 1))
    yield _event(
        "VarSet",
        "dialplan,all",
        [*trunk_snap(4, "Ring", 1), ("Variable", "__TAPI_LINE"), ("Value", line)],
    )
    yield tapi(f"[~{uid}] LINE_NEWCALL {line}", 2)
    yield tapi(f'[~{uid}] SET CALLERID "{name}" <{num}>', 3)
    yield tapi(f"[~{uid}&{line}] LINE_CALLSTATE LINECALLSTATE_OFFERING", 4)
    yield _event("Newchannel", "call,all", phone_snap("", 0, "Down"))
    yield _event(
        "DialBegin",
        "call,all",
        [*trunk_snap(4, "Ring", 5), *phone_snap("Dest", 0, "Down"), ("DialString", line)],
    )
    yield _event("Newstate", "call,all", phone_snap("", 5, "Ringing"))
    yield _event(
        "VarSet",
        "dialplan,all",
        [*trunk_snap(4, "Ring", 5), ("Variable", "DIALSTATUS"), ("Value", "ANSWER")],
    )
    yield _event(
        "DialEnd",
        "call,all",
        [*trunk_snap(4, "Ring", 5), *phone_snap("Dest", 6, "Up"), ("DialStatus", "ANSWER")],
    )
    yield _event("Newstate", "call,all", trunk_snap(6, "Up", 5))
    yield _event(
        "UserEvent",
        "user,all",
        [
            *phone_snap("", 6, "Up"),
            ("UserEvent", "TAPI"),
            ("TAPIEVENT", f"[~{uid}&{line}] LINE_CALLSTATE LINECALLSTATE_CONNECTED"),
        ],
    )
    yield _event(
        "Hangup",
        "call,all",
        [*phone_snap("", 6, "Up"), ("Cause", "16"), ("Cause-txt", "Normal Clearing")],
    )
    yield tapi(f"[~{uid}] LINE_CALLSTATE LINECALLSTATE_IDLE", 1)
    yield _event(
        "Hangup",
        "call,all",
        [*trunk_snap(6, "Up", 1), ("Cause", "16"), ("Cause-txt", "Normal Clearing")],
    )


# The capture's own ids, renamed per generated call.
_UIDS = tuple(f"1795669868.{k}" for k in range(16, 22))
_CHANNEL_SUFFIXES = ("-00000008", "-00000009", "-0000000a")
_BRIDGE = "f08159fd-d16a-42cd-85af-2eca43ddf739"
_CALLER_NAME = "Alice Caller"
_CALLER_NUM = "5550100"
_ACTION_ID = "ActionID: rg-1"


@lru_cache(maxsize=1)
def _template() -> tuple[tuple[str, ...], re.Pattern[str]]:
    """Frames 4-126 of capture 12 (one ring-group call) and the renaming pattern."""
    frames = [f for f in CAPTURE.read_bytes().split(b"\r\n\r\n") if f.strip()]
    call = tuple(f.decode("utf-8") + "\r\n\r\n" for f in frames[4:127])
    assert len(call) == 123 and call[0].startswith("Event: Newchannel"), "capture changed"
    keys = (*_UIDS, *_CHANNEL_SUFFIXES, _BRIDGE, _CALLER_NAME, _CALLER_NUM, _ACTION_ID)
    return call, re.compile("|".join(re.escape(k) for k in keys))


def _realistic_call(rng: random.Random, n: int, counter: Iterator[int]) -> Iterator[bytes]:
    """The 123 frames of capture 12's ring-group call, renamed for call ``n``."""
    frames, pattern = _template()
    epoch = EPOCH + n // 50
    names: dict[str, str] = {uid: f"{epoch}.{next(counter)}" for uid in _UIDS}
    names.update({sfx: f"-{3 * n + i:08x}" for i, sfx in enumerate(_CHANNEL_SUFFIXES)})
    names[_BRIDGE] = f"{n:08x}{_BRIDGE[8:]}"
    names[_CALLER_NAME] = rng.choice(NAMES[:-1])
    names[_CALLER_NUM] = f"555{rng.randrange(10000):04d}"
    names[_ACTION_ID] = f"ActionID: rg-{n}"

    def rename(match: re.Match[str]) -> str:
        return names[match.group()]

    for frame in frames:
        yield pattern.sub(rename, frame).encode("utf-8")


_CALLS: dict[str, Callable[[random.Random, int, Iterator[int]], Iterator[bytes]]] = {
    "realistic": _realistic_call,
    "tapi-heavy": _heavy_call,
}


def _reply(rng: random.Random, k: int) -> bytes:
    if rng.random() < 0.7:
        return _frame(
            [
                ("Response", "Success"),
                ("ActionID", f"ping-{k}"),
                ("Ping", "Pong"),
                ("Timestamp", f"{EPOCH + k}.{rng.randrange(10**6):06d}"),
            ]
        )
    rows = [
        f"{rng.choice(LINES)}-{i:08x}  phones  s  1  Up  Dial(PJSIP/trunk)"
        for i in range(rng.randint(1, 6))
    ]
    output = [
        "Channel              Context  Exten  Prio  State  Application",
        *rows,
        f"{len(rows)} active channels",
        f"{len(rows)} active calls",
    ]
    return _frame(
        [
            ("Response", "Success"),
            ("ActionID", f"cmd-{k}"),
            ("Message", "Command output follows"),
            *(("Output", o) for o in output),
        ]
    )


def generate_stream(frames: int = 200_000, seed: int = 0, *, mix: str = "realistic") -> bytes:
    """``frames`` AMI frames after the banner (login reply and FullyBooted included).

    ``mix`` is ``"realistic"`` (capture 12's call, 5.7% TAPI UserEvents) or
    ``"tapi-heavy"`` (a third TAPI UserEvents); see the module docstring.
    """
    make_call = _CALLS.get(mix)
    if make_call is None:
        raise ValueError(f"mix must be one of {MIXES}, not {mix!r}")
    rng = random.Random(seed)
    out = [
        BANNER,
        _frame(
            [("Response", "Success"), ("ActionID", "login"), ("Message", "Authentication accepted")]
        ),
        _event(
            "FullyBooted",
            "system,all",
            [("Uptime", "12"), ("LastReload", "12"), ("Status", "Fully Booted")],
        ),
    ]
    counter = iter(range(10**9))
    active: list[Iterator[bytes]] = []
    calls = replies = 0
    produced = 2
    while produced < frames:
        if (len(active) < 8 and rng.random() < 0.3) or not active:
            active.append(make_call(rng, calls, counter))
            calls += 1
        if rng.random() < 0.02:
            out.append(_reply(rng, replies))
            replies += 1
            produced += 1
            continue
        call = rng.choice(active)
        frame = next(call, None)
        if frame is None:
            active.remove(call)
            continue
        out.append(frame)
        produced += 1
    return b"".join(out)


def mix_counts(data: bytes) -> Counter[str]:
    """How many frames of each kind ``data`` holds: ``Event`` value, or
    ``Response:<value>``; ``UserEvent`` counted apart as ``UserEvent TAPI``."""
    counts: Counter[str] = Counter()
    for frame in data.split(b"\r\n\r\n"):
        first, _, rest = frame.partition(b"\r\n")
        if first.startswith(b"Asterisk Call Manager/"):
            first, _, rest = rest.partition(b"\r\n")
        name, _, value = first.decode("utf-8", "surrogateescape").partition(": ")
        if not name:
            continue
        if name == "Event" and value == "UserEvent" and b"\r\nUserEvent: TAPI\r\n" in frame:
            value = "UserEvent TAPI"
        counts[value if name == "Event" else f"{name}:{value}"] += 1
    return counts
