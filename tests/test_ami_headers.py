"""The batch header splitter is a fast path: it must give what the general rule gives.

``split_batch`` cuts many frames at once with C-level string operations and
declines whatever its shortcuts cannot vouch for. These tests prove that
whenever it answers, its answer equals the general rule
(``parse_lines`` per frame, the reference), and that on real traffic it
answers, so the fast path is the one that runs.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from tapievent._headers import message_from_text, parse_lines, split_batch, split_line
from tapievent._message import Message, fold

_PIECES = st.sampled_from(
    [
        "Event",
        "event",
        "Uniqueid",
        ": ",
        ":",
        " ",
        "\t",
        "\r\n",
        "\r",
        "\n",
        "\x00",
        "x",
        "AppData: TAPI,TAPIEVENT: [~1.2] LINE_NEWCALL",
        "é",
        "\udcff",
        "K",
        "\u212a",
    ]
)
_TEXT = st.lists(_PIECES, max_size=30).map("".join)


def reference(text: str) -> list[Message]:
    # The frames of a batch text by the general rule, one by one.
    return [message_from_text(frame) for frame in text.split("\r\n\r\n")]


@given(st.lists(_TEXT, min_size=1, max_size=6).map("\r\n\r\n".join))
def test_split_batch_equals_the_general_rule_whenever_it_answers(text: str) -> None:
    got = split_batch(text)
    if got is not None:
        want = reference(text)
        assert got == want
        for fast, slow in zip(got, want, strict=True):
            assert fast._index == slow._index  # the lookup index too
            for name, _ in slow.headers:
                assert fast.get(name) == slow.get(name)


@given(
    st.lists(
        st.lists(
            st.tuples(
                st.sampled_from(["Event", "Uniqueid", "UniqueID", "Channel", "K", "\u212a"]),
                st.text(st.characters(blacklist_characters="\r\n\x00"), max_size=12),
            ),
            min_size=1,
            max_size=6,
        ),
        min_size=1,
        max_size=6,
    )
)
def test_split_batch_answers_for_ordinary_frames_and_agrees(
    frames: list[list[tuple[str, str]]],
) -> None:
    # Frames as Asterisk writes them (``Name: value``): the fast path takes them.
    text = "\r\n\r\n".join("\r\n".join(f"{n}: {v}" for n, v in frame) for frame in frames)
    got = split_batch(text)
    assert got is not None
    assert got == reference(text)
    assert [m.headers for m in got] == [tuple(frame) for frame in frames]


def test_split_batch_answers_on_real_captures() -> None:
    # On the Asterisk 22 captures nearly every frame goes the fast way.
    taken = declined = 0
    for path in sorted((Path(__file__).parent / "data" / "asterisk-22.10.1").glob("*.ami")):
        raw = path.read_bytes()
        for block in raw.split(b"\r\n\r\n"):
            if not block or block.startswith(b"Asterisk Call Manager"):
                continue
            text = block.decode("utf-8", "surrogateescape")
            got = split_batch(text)
            if got is None:
                declined += 1
            else:
                taken += 1
                assert got == reference(text)
    assert taken > 20 * max(declined, 1)


def test_frames_whose_values_hold_the_separator_are_still_taken() -> None:
    # Newexten's AppData holds ": " (UserEvent(TAPI,TAPIEVENT: ...)): such a
    # frame is cut by the per-frame route, the frames around it by the batch's.
    frames = [
        "Event: Newchannel\r\nUniqueid: 1",
        "Event: Newexten\r\nAppData: TAPI,TAPIEVENT: [~1.2] LINE_NEWCALL\r\nUniqueid: 1",
        "Event: Hangup\r\nCause-txt: a: b: c\r\nUniqueid: 1",
        "Event: Newstate\r\nUniqueid: 1",
    ]
    text = "\r\n\r\n".join(frames)
    got = split_batch(text)
    assert got is not None
    assert got == reference(text)
    assert got[1].get("appdata") == "TAPI,TAPIEVENT: [~1.2] LINE_NEWCALL"
    assert got[2].headers[1] == ("Cause-txt", "a: b: c")


def test_split_batch_declines_what_it_cannot_vouch_for() -> None:
    for text in [
        "",
        "Event: A\r\n\r\n\r\nEvent: B",  # a blank-line run: no empty frame
        "Event: A\nX: 1",  # bare LF
        "Event: A\r\nName:value",  # no ": "
        "Event: A\r\nA:B: c",  # a colon in the name
        "Event: A\r\n Lead: x",  # an edge blank
        "Event: A\r\nX: \x00",  # NUL stands for the frame boundary
        "Event: A\r\nA\x01B: c",  # SOH escapes a name in the lookup index
        "Event: A: b\r\nName:value",  # a value with ": " and a line without
        "\r\nEvent: A",  # an empty first frame
        "Event: A\r\n",  # an empty last line
    ]:
        assert split_batch(text) is None, text


@given(st.text(max_size=40))
def test_parse_lines_is_split_line_per_line(text: str) -> None:
    # The reference itself, stated once more in the plainest terms.
    lines = text.split("\n")
    lines[-1] += "\r"
    assert parse_lines(text) == tuple(split_line(line.removesuffix("\r")) for line in lines)


# Names and keys from the characters the lookup index treats specially: its
# separator (LF), its escape (SOH), blanks, case (ASCII and the Kelvin sign).
_ODD_NAMES = st.text(
    st.sampled_from(["a", "A", "n", "K", "\u212a", "é", " ", "\t", "\n", "\x01", ":"]), max_size=5
)


@given(st.lists(st.tuples(_ODD_NAMES, st.sampled_from(["1", "2", ""])), max_size=6), _ODD_NAMES)
def test_get_is_the_first_header_whose_folded_name_is_the_key(
    headers: list[tuple[str, str]], key: str
) -> None:
    # The index's one find must answer what a scan of the pairs answers.
    message = Message(tuple(headers))
    assert message.get(key) == next((v for n, v in headers if fold(n) == fold(key)), None)
    for name, value in headers:
        assert message.get(name) == next(v for n, v in headers if fold(n) == fold(name))
        assert value in message.get_all(name)
    names = {fold(n) for n, _ in headers}
    assert message.is_event == ("event" in names)
    assert message.is_response == ("event" not in names and "response" in names)
