"""Hypothesis strategies for fuzzing code that consumes or produces AMI.

Import this module from tests only: it needs ``hypothesis`` (the ``test``
extra), which is not a runtime dependency, so ``tapievent`` itself never
imports it. Every strategy draws values the real codec accepts, so a
downstream project can feed them to its own code::

    from hypothesis import given
    from tapievent.testing import strategies as ami_st

    @given(ami_st.messages())
    def test_my_handler_never_crashes(message):
        my_handler(message)

The shapes follow ``docs/ami.md``: text is what the decoder produces (UTF-8,
with undecodable bytes as surrogate escapes), names never hold a colon, a
line break or edge blanks, values never hold a line break.
"""

from __future__ import annotations

import itertools

from hypothesis import strategies as st

from ..ami_codec import Banner, Message, encode_banner, encode_message

__all__ = [
    "action_names",
    "ami_streams",
    "banners",
    "chunkings",
    "header_lists",
    "header_names",
    "header_values",
    "messages",
]

_NO_BREAKS = st.characters(blacklist_characters="\r\n\x00", max_codepoint=0x2FFF)


def _from_bytes(data: bytes) -> str:
    # The decoder's text: valid UTF-8 as characters, any other byte as a
    # surrogate escape. Drawing bytes (e.g. a Latin-1 caller name) and
    # decoding them is the only way to get escapes that re-encode exactly.
    return data.decode("utf-8", "surrogateescape")


def header_names() -> st.SearchStrategy[str]:
    """Header names: non-empty, no colon, no CR/LF/NUL, no leading/trailing blanks."""
    common = st.sampled_from(
        [
            "Event",
            "Response",
            "ActionID",
            "Uniqueid",
            "UniqueID",
            "Channel",
            "Variable",
            "ChanVariable",
            "Output",
            "CallerIDName",
            "UserEvent",
            "TAPIEVENT",
            "Privilege",
        ]
    )
    free = (
        st.text(_NO_BREAKS, min_size=1, max_size=16)
        .map(lambda s: s.replace(":", "").strip(" \t"))
        .filter(bool)
    )
    return st.one_of(common, free)


def header_values() -> st.SearchStrategy[str]:
    """Header values: any text without CR, LF or NUL, surrogate escapes included."""
    raw = st.binary(max_size=24).map(
        lambda b: _from_bytes(b.replace(b"\r", b"").replace(b"\n", b"").replace(b"\x00", b""))
    )
    return st.one_of(st.text(_NO_BREAKS, max_size=24), raw)


def action_names() -> st.SearchStrategy[str]:
    """Action names: real ones and arbitrary non-empty text without line breaks."""
    return st.one_of(
        st.sampled_from(["Login", "Ping", "Originate", "Command", "Events", "Logoff", "Hangup"]),
        st.text(_NO_BREAKS, min_size=1, max_size=16),
    )


def header_lists(max_size: int = 8) -> st.SearchStrategy[list[tuple[str, str]]]:
    """Ordered ``(name, value)`` lists for ``encode_action``; names may repeat."""
    return st.lists(st.tuples(header_names(), header_values()), max_size=max_size)


def _plain_message() -> st.SearchStrategy[Message]:
    pair = st.one_of(
        st.tuples(header_names(), header_values()),
        st.tuples(st.just(""), header_values()),  # colon-less lines
    )

    def valid(pairs: list[tuple[str, str]]) -> bool:
        name, value = pairs[0]
        return not (name.lower() == "response" and value.lower() == "follows") and not (
            name == "" and value.startswith("Asterisk Call Manager")
        )

    return (
        st.lists(pair, min_size=1, max_size=10)
        .filter(valid)
        .map(lambda pairs: Message(tuple(pairs)))
    )


def _follows_message() -> st.SearchStrategy[Message]:
    line = st.text(st.characters(blacklist_characters="\r\n", max_codepoint=0x2FFF), max_size=20)
    body = st.lists(line, max_size=5).map(lambda lines: "".join(x + "\n" for x in lines))
    glued = st.tuples(body, line).map(lambda t: t[0] + t[1])
    output = st.one_of(body, glued).filter(lambda text: "--END COMMAND--" not in text)
    action_id = st.one_of(
        st.none(), header_values().filter(lambda v: not v.endswith("--END COMMAND--"))
    )

    def build(args: tuple[str | None, str]) -> Message:
        aid, out = args
        headers = [("Response", "Follows"), ("Privilege", "Command")]
        if aid is not None:
            headers.append(("ActionID", aid))
        return Message(tuple(headers), out)

    return st.tuples(action_id, output).map(build)


def messages() -> st.SearchStrategy[Message]:
    """Messages that :func:`~tapievent.ami_codec.encode_message` can write and the
    decoder reads back equal: events, responses, orphan lines, legacy
    ``Response: Follows`` replies with a body."""
    return st.one_of(_plain_message(), _plain_message(), _follows_message())


def banners() -> st.SearchStrategy[Banner]:
    """Banners of real AMI versions (1.0 for Asterisk 1.2/1.4 up to 12.0.0 for 23)."""
    return st.sampled_from(
        [(1, 0), (1, 1), (1, 2), (1, 3), (2, 0, 0), (2, 10, 6), (5, 0, 5), (9, 0, 0), (11, 0, 0)]
    ).map(Banner.from_version)


def ami_streams(*, bare_lf: bool = True) -> st.SearchStrategy[bytes]:
    """Raw server streams: an optional banner, then messages, with stray blank
    lines between them and (if ``bare_lf``) some frames using bare LF."""

    def frame(args: tuple[Message, bool, int]) -> bytes:
        message, lf, blanks = args
        raw = encode_message(message)
        if lf:
            raw = raw.replace(b"\r\n", b"\n")
        return raw + b"\r\n" * blanks

    frames = st.lists(
        st.tuples(messages(), st.booleans() if bare_lf else st.just(False), st.integers(0, 2)).map(
            frame
        ),
        max_size=6,
    )
    head = st.one_of(st.just(b""), banners().map(encode_banner))
    return st.tuples(head, frames).map(lambda t: t[0] + b"".join(t[1]))


def chunkings(data: bytes) -> st.SearchStrategy[list[bytes]]:
    """Ways to split ``data`` into non-empty reads, as a socket may deliver it."""
    if not data:
        return st.just([])
    cuts = st.lists(st.integers(1, len(data) - 1), unique=True, max_size=min(len(data) - 1, 40))

    def split(points: list[int]) -> list[bytes]:
        edges = [0, *sorted(points), len(data)]
        return [data[a:b] for a, b in itertools.pairwise(edges)]

    return cuts.map(split) if len(data) > 1 else st.just([data])


# --- TAPIEVENT grammar strategies (owned by the grammar helper) ---
# Everything below draws TAPIEVENT values and text (tapievent.grammar): valid
# values for round trips, and messy text for "parse raises nothing but its
# own error" properties.

from .._lexical import line_problem, split_words, unique_id_problem  # noqa: E402
from ..model import (  # noqa: E402 - this section is maintained separately
    CALL_STATE_MODE_FAMILIES,
    CallStateCommand,
    Command,
    HangupCommand,
    LineCallState,
    NewCallCommand,
    SetCallerIdCommand,
    TapiEvent,
    TargetSpec,
    UnknownCommand,
)

__all__ += [
    "line_names",
    "tapi_commands",
    "tapi_events",
    "tapievent_texts",
    "target_specs",
    "unique_ids",
]

# Printable, no blanks, none of '&', '[', ']': what a line or unique id may hold.
_NAME_CHARS = st.characters(
    min_codepoint=0x21,
    max_codepoint=0x2FF,
    exclude_categories=["Cc", "Zs", "Zl", "Zp"],
    exclude_characters="&[]\x85\xa0",
)
_TEXT_CHARS = st.characters(
    min_codepoint=0x20, max_codepoint=0x2FF, exclude_categories=["Cc"]
) | st.sampled_from("\t\"',|\\;()[]${}<>")


def line_names(max_size: int = 12) -> st.SearchStrategy[str]:
    """Valid line names: ``line_1``, ``sip/bob``, ``Local/bob``, and odder ones."""
    return st.one_of(
        st.sampled_from(["line_1", "sip/bob", "Local/bob", "Local/bobbett", "SIP/100"]),
        st.text(_NAME_CHARS, min_size=1, max_size=max_size).filter(
            lambda s: line_problem(s) is None
        ),
    )


def unique_ids(max_size: int = 16) -> st.SearchStrategy[str]:
    """Valid ``~`` targets: Asterisk ids (``1795667804.1``), ChannelIds, odd text."""
    return st.one_of(
        st.builds(lambda a, b: f"{a}.{b}", st.integers(0, 2**31), st.integers(0, 10**6)),
        st.sampled_from(["tapi-out-0001", "host-1700000000.42"]),
        st.text(_NAME_CHARS, min_size=1, max_size=max_size).filter(
            lambda s: unique_id_problem(s) is None
        ),
    )


@st.composite
def target_specs(draw: st.DrawFn) -> TargetSpec:
    """Specs with an optional ``~`` id and disjoint included / excluded lines."""
    unique_id = draw(st.none() | unique_ids())
    include = draw(st.lists(line_names(), max_size=3))
    exclude = draw(st.lists(line_names().filter(lambda s: s not in include), max_size=3))
    return TargetSpec(unique_id, tuple(include), tuple(exclude))


def _trimmed_text(min_size: int) -> st.SearchStrategy[str]:
    return st.text(_TEXT_CHARS, min_size=min_size, max_size=30).map(lambda s: s.strip(" \t"))


def _unknown_ok(text: str) -> bool:
    if not text or text.startswith("["):
        return False
    words = split_words(text)
    first = words[0].upper()
    return first not in ("LINE_NEWCALL", "LINE_CALLSTATE") and not (
        first == "SET" and len(words) > 1 and words[1].upper() == "CALLERID"
    )


@st.composite
def _callstates(draw: st.DrawFn) -> CallStateCommand:
    state = draw(st.sampled_from(list(LineCallState.__members__.values())))
    family = CALL_STATE_MODE_FAMILIES.get(state)
    named = st.sampled_from([int(m) for m in family.__members__.values()]) if family else st.none()
    mode = draw(st.none() | named | st.integers(0, 0xFFFFFFFF))
    return CallStateCommand(state, mode)


def tapi_commands() -> st.SearchStrategy[Command]:
    """Every kind of command, with valid fields."""
    return st.one_of(
        st.builds(NewCallCommand, line_names()),
        _callstates(),
        st.just(HangupCommand()),
        st.builds(SetCallerIdCommand, _trimmed_text(0)),
        st.builds(UnknownCommand, _trimmed_text(1).filter(_unknown_ok)),
    )


def tapi_events() -> st.SearchStrategy[TapiEvent]:
    """Valid TAPIEVENT values: ``parse(format(e)) == e`` holds for each."""
    return st.builds(TapiEvent, target_specs(), tapi_commands())


_TOKENS = st.sampled_from(
    [
        "LINE_NEWCALL",
        "line_newcall",
        "LINE_CALLSTATE",
        "LINECALLSTATE_CONNECTED",
        "linecallstate_hangup",
        "LINECALLSTATE_DISCONNECTED",
        "LINECALLSTATE_FOO",
        "LINEDISCONNECTMODE_BUSY",
        "LINEBUSYMODE_TRUNK",
        "BUSY",
        "CHANUNAVAIL",
        "0x20",
        "99999999999",
        "SET",
        "CALLERID",
        "TAPIEVENT:",
        "[",
        "]",
        "[]",
        "&",
        "&&",
        "~",
        "~1.2",
        "!",
        "!sip/bob",
        "sip/bob",
        "${UNIQUEID}",
        "<100>",
        "|",
        ",",
        "\\",
        '"',
        " ",
        "  ",
        "\t",
        "\r\n",
        "\x00",
    ]
)


def tapievent_texts() -> st.SearchStrategy[str]:
    """Messy TAPIEVENT text: grammar tokens glued with random characters."""
    return st.one_of(
        st.text(max_size=40),
        st.lists(_TOKENS | st.text(max_size=3), max_size=8).map("".join),
        st.lists(_TOKENS, max_size=6).map(" ".join),
    )
