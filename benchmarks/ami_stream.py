"""A realistic synthetic AMI stream, as an Asterisk 20 server sends it.

Importable by every benchmark (codec, tracker): ``generate_stream(frames,
seed)`` returns the bytes of one connection: the banner, the login reply,
then calls interleaved the way a busy PBX interleaves them, plus the odd
action reply. The layout follows the real Asterisk 22 captures in
``tests/data/asterisk-22.10.1`` with the Asterisk 20 banner (9.0.0):

* an inbound call: ``Newchannel`` of the trunk channel, ``VarSet``s, the
  dialplan's TAPI UserEvents (``LINE_NEWCALL``, ``SET CALLERID``, OFFERING),
  ``Newchannel`` of the phone, ``DialBegin``, ``Newstate`` Ringing,
  ``DialEnd`` ANSWER, ``Newstate`` Up, CONNECTED from the ``U()`` hook on
  the phone's channel, both ``Hangup``s with the IDLE UserEvent of the
  ``h`` extension before the trunk's Hangup;
* replies: ``Ping`` (``Response: Success``, ``Ping: Pong``) and ``Command``
  with ``Output:`` lines (14+ layout).

Unique ids are ``<epoch>.<counter>`` like Asterisk's, and every TAPI
UserEvent carries the inbound channel's id (``[~id&line]`` where the
Uniqueid header is another channel's), so a tracker can follow each call.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

__all__ = ["BANNER", "generate_stream"]

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


def _call(rng: random.Random, n: int, counter: Iterator[int]) -> Iterator[bytes]:
    """The frames of one inbound call, in the order Asterisk 20 emits them."""
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


def generate_stream(frames: int = 200_000, seed: int = 0) -> bytes:
    """``frames`` AMI frames after the banner (login reply and FullyBooted included)."""
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
            active.append(_call(rng, calls, counter))
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
