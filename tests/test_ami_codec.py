"""The AMI codec: framing rules of every Asterisk version, limits, encoders.

Example tests pin the wire shapes of ami-versions.md (1.2 to 22); property
tests check the promises that must hold for any input: chunking never
matters, limits always hold, the encoder never lets a line break through,
and encode -> decode round-trips.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from docs_examples import run_python_blocks
from hypothesis import given
from hypothesis import strategies as st

from tapievent.ami_codec import (
    LEGACY_MAX_HEADER_LINES,
    LEGACY_MAX_LINE_BYTES,
    NEED_DATA,
    Action,
    AMIDecoder,
    Banner,
    Frame,
    FrameTooLarge,
    LimitExceeded,
    LineTooLong,
    LocalProtocolError,
    Message,
    MissingEndMarker,
    RemoteProtocolError,
    TooManyHeaders,
    TruncatedFrame,
    c_unescape,
    encode_action,
    encode_banner,
    encode_message,
    unescape_message,
)
from tapievent.testing import strategies as ami_st

Outcome = Frame | tuple[str, int, str]


def feed(
    data: bytes,
    sizes: Sequence[int],
    dec: AMIDecoder,
    keep: Callable[[Frame], object],
    error: Callable[[tuple[str, int, str]], object],
) -> None:
    """Feed ``data`` in reads of ``sizes`` (cycled; whole if empty), then EOF.

    Each frame goes to ``keep`` and each error to ``error`` as ``(class name,
    offset, message)``, in stream order, so a test can compare what two
    chunkings produced, errors included.
    """

    def pull() -> None:
        while True:
            try:
                frame = dec.next_frame()
            except (LimitExceeded, TruncatedFrame, MissingEndMarker) as exc:
                error((type(exc).__name__, exc.offset, str(exc)))
                continue
            if frame is NEED_DATA:
                return
            assert isinstance(frame, (Banner, Message))
            keep(frame)

    sizes = list(sizes) or [max(len(data), 1)]
    i = k = 0
    while i < len(data):
        size = sizes[k % len(sizes)]
        k += 1
        dec.receive_data(data[i : i + size])
        i += size
        pull()
    dec.receive_eof()
    pull()
    assert dec.closed
    assert dec.next_frame() is NEED_DATA


def decode_all(
    data: bytes, sizes: Sequence[int] = (), decoder: AMIDecoder | None = None
) -> list[Outcome]:
    """Frames and errors, in order, for reads of ``sizes`` (see :func:`feed`)."""
    out: list[Outcome] = []
    dec = decoder if decoder is not None else AMIDecoder()
    feed(data, sizes, dec, out.append, out.append)
    return out


def messages(data: bytes, **limits: int) -> list[Message]:
    out = decode_all(data, decoder=AMIDecoder(**limits))
    assert all(isinstance(m, Message) for m in out), out
    return [m for m in out if isinstance(m, Message)]


def one(data: bytes) -> Message:
    (message,) = messages(data)
    return message


# -- banner --------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "version"),
    [
        (b"Asterisk Call Manager/1.0", (1, 0)),  # 1.2 and 1.4
        (b"Asterisk Call Manager/1.1", (1, 1)),  # 1.6 / 1.8
        (b"Asterisk Call Manager/2.10.6", (2, 10, 6)),  # 13.35
        (b"Asterisk Call Manager/11.0.0", (11, 0, 0)),  # 22
    ],
)
def test_banner_versions_and_no_blank_line_after_it(line: bytes, version: tuple[int, ...]) -> None:
    out = decode_all(line + b"\r\nResponse: Success\r\nMessage: ok\r\n\r\n")
    assert out == [
        Banner(version, line.decode()),
        Message((("Response", "Success"), ("Message", "ok"))),
    ]


def test_banner_only_stream_then_clean_eof() -> None:
    assert decode_all(b"Asterisk Call Manager/11.0.0\r\n") == [
        Banner((11, 0, 0), "Asterisk Call Manager/11.0.0")
    ]


def test_banner_without_number_has_empty_version() -> None:
    assert decode_all(b"Asterisk Call Manager/x\r\n") == [Banner((), "Asterisk Call Manager/x")]


def test_stream_joined_mid_way_decodes_messages_without_banner() -> None:
    # A capture cut anywhere: the first partial frame is kept as a message.
    out = decode_all(b"Uniqueid: 1.2\r\n\r\nEvent: Hangup\r\nUniqueid: 1.2\r\n\r\n")
    assert out == [
        Message((("Uniqueid", "1.2"),)),
        Message((("Event", "Hangup"), ("Uniqueid", "1.2"))),
    ]


def test_banner_text_later_in_the_stream_is_an_ordinary_line() -> None:
    out = decode_all(b"Event: X\r\n\r\nAsterisk Call Manager/1.0\r\n\r\n")
    assert out[1] == Message((("", "Asterisk Call Manager/1.0"),))


# -- line and header rules -------------------------------------------------


def test_header_rules_name_stripped_one_space_removed_value_verbatim() -> None:
    m = one(
        b"Event: X\r\n"
        b"Name:value\r\n"  # no space (ReportBlock: on 1.8.32)
        b"Two:  two spaces\r\n"  # ListCommands on 22: one space stays
        b" Lead: x\r\n"  # leading blank in a UserEvent body key (1.6-11)
        b"Trail : y \r\n"
        b"Empty:\r\n"
        b"AccountCode: \r\n"
        b"Colon: a: b:c\r\n"
        b"no colon here\r\n"
        b" X-Injected: yes\r\n"
        b"\r\n"
    )
    assert m.headers == (
        ("Event", "X"),
        ("Name", "value"),
        ("Two", " two spaces"),
        ("Lead", "x"),
        ("Trail", "y "),
        ("Empty", ""),
        ("AccountCode", ""),
        ("Colon", "a: b:c"),
        ("", "no colon here"),
        ("X-Injected", "yes"),
    )


def test_crlf_bare_lf_and_mixed_endings_give_the_same_message() -> None:
    crlf = b"Event: X\r\nA: 1\r\nB: 2\r\n\r\n"
    expected = Message((("Event", "X"), ("A", "1"), ("B", "2")))
    for data in (
        crlf,
        crlf.replace(b"\r\n", b"\n"),
        b"Event: X\r\nA: 1\nB: 2\r\n\n",  # a frame ending \r\n\n (CoreShowChannelMap, 18.19)
        b"Event: X\nA: 1\r\nB: 2\n\r\n",
    ):
        assert messages(data) == [expected], data


def test_stray_cr_inside_a_line_is_kept() -> None:
    assert one(b"Event: X\r\nA: 1\r2\r\n\r\n").get("A") == "1\r2"


def test_runs_of_blank_lines_give_no_empty_frames() -> None:
    data = b"\r\n\r\nEvent: A\r\n\r\n\r\n\n\r\n\nEvent: B\r\n\r\n\r\n"
    assert [m.event for m in messages(data)] == ["A", "B"]


def test_repeated_headers_kept_in_order_and_lookups_case_insensitive() -> None:
    m = one(
        b"Event: Newchannel\r\nUniqueID: 1.1\r\nChanVariable: a=1\r\n"
        b"ChanVariable: b=2\r\nchanvariable: c=3\r\n\r\n"
    )
    assert m.get_all("ChanVariable") == ("a=1", "b=2", "c=3")
    assert m.get("UNIQUEID") == m.get("Uniqueid") == "1.1"
    assert "uniqueid" in m and "Linkedid" not in m and 3 not in m
    assert m.get("Linkedid", "none") == "none"


def test_originate_response_is_an_event_not_a_response() -> None:
    m = one(
        b"Event: OriginateResponse\r\nPrivilege: call,all\r\nActionID: o-1\r\n"
        b"Response: Failure\r\nUniqueid: <unknown>\r\n\r\n"
    )
    assert m.is_event and not m.is_response
    assert m.action_id == "o-1" and m.response == "Failure"


def test_output_headers_of_14_and_later() -> None:
    lines = [f"Output: line {i}".encode() for i in range(14)]
    m = one(
        b"Response: Success\r\nMessage: Command output follows\r\n"
        + b"\r\n".join(lines)
        + b"\r\n\r\n"
    )
    assert m.output is None
    assert m.output_lines == tuple(f"line {i}" for i in range(14))


# -- legacy Response: Follows ---------------------------------------------------


def test_follows_body_with_blank_lines_colons_and_marker_on_its_own_line() -> None:
    body = b"Name: not a header\n\nlast line\n"
    data = (
        b"Asterisk Call Manager/1.1\r\n"
        b"Response: Follows\r\nPrivilege: Command\r\nActionID: c1\r\n"
        + body
        + b"--END COMMAND--\r\n\r\n"
        b"Event: Next\r\n\r\n"
    )
    out = decode_all(data)
    assert out[1] == Message(
        (("Response", "Follows"), ("Privilege", "Command"), ("ActionID", "c1")),
        body.decode(),
    )
    assert isinstance(out[1], Message)
    assert out[1].output_lines == ("Name: not a header", "", "last line")
    assert out[2] == Message((("Event", "Next"),))


def test_follows_marker_glued_to_the_last_output_line() -> None:
    m = one(
        b"Response: Follows\r\nPrivilege: Command\r\nNo such command 'x'--END COMMAND--\r\n\r\n"
    )
    assert m.output == "No such command 'x'"
    assert m.get("Privilege") == "Command" and len(m) == 2


def test_follows_with_empty_output_and_bare_lf_marker() -> None:
    m = one(b"Response: Follows\r\nPrivilege: Command\r\n--END COMMAND--\n\n")
    assert m.output == ""


def test_follows_marker_not_at_line_end_does_not_end_the_body() -> None:
    m = one(
        b"Response: Follows\r\nPrivilege: Command\r\na --END COMMAND-- b\n--END COMMAND--\r\n\r\n"
    )
    assert m.output == "a --END COMMAND-- b\n"


def test_response_follows_only_on_the_first_line_switches_mode() -> None:
    m = one(b"Event: X\r\nResponse: Follows\r\n\r\n")
    assert m.output is None and m.response == "Follows"


# -- old versions ---------------------------------------------------------------


def test_asterisk_1_2_userevent_with_raw_body_line() -> None:
    data = (
        b"Asterisk Call Manager/1.0\r\n"
        b"Event: UserEventTAPI\r\nPrivilege: user,all\r\nChannel: SIP/100-0a1b\r\n"
        b"Uniqueid: 1700000000.42\r\n"
        b"TAPIEVENT: [~1700000000.42&line&!other] LINE_CALLSTATE LINECALLSTATE_CONNECTED\r\n"
        b"\r\n"
    )
    banner, m = decode_all(data)
    assert banner == Banner((1, 0), "Asterisk Call Manager/1.0")
    assert isinstance(m, Message) and m.event == "UserEventTAPI"
    assert (
        m.get("tapievent") == "[~1700000000.42&line&!other] LINE_CALLSTATE LINECALLSTATE_CONNECTED"
    )


def test_asterisk_1_2_body_without_colon_and_1_4_0_extra_empty_line() -> None:
    data = (
        b"Event: UserEventTAPI\r\nChannel: SIP/1\r\nUniqueid: 1.1\r\nLINE_NEWCALL line_1|x\r\n\r\n"
        b"Event: UserEvent\r\nUserEvent: TAPI\r\nTAPIEVENT: LINE_NEWCALL l\r\n\r\n\r\n"
    )
    a, b = messages(data)
    assert a.headers[-1] == ("", "LINE_NEWCALL line_1|x")
    assert b.get("UserEvent") == "TAPI"


def test_latin1_bytes_survive_and_reencode_byte_exact() -> None:
    data = b"Event: Newchannel\r\nCallerIDName: M\xfcller \xe9\r\n\r\n"
    m = one(data)
    assert m.get("CallerIDName") == "M\udcfcller \udce9"
    assert encode_message(m) == data


def test_multibyte_utf8_split_across_reads_is_decoded_per_frame() -> None:
    data = "Event: X\r\nCallerIDName: Zoë 名前\r\n\r\n".encode()
    assert (
        decode_all(data, [1])
        == decode_all(data)
        == [Message((("Event", "X"), ("CallerIDName", "Zoë 名前")))]
    )


# -- limits and errors ----------------------------------------------------------


def test_oversized_frame_one_error_then_next_frame_survives() -> None:
    big = b"Event: Big\r\n" + b"X: " + b"y" * 300 + b"\r\n\r\n"
    data = b"Event: A\r\n\r\n" + big + b"Event: B\r\n\r\n"
    for sizes in ([], [1], [7, 3]):
        out = decode_all(data, sizes, AMIDecoder(max_frame_bytes=100))
        assert out[0] == Message((("Event", "A"),))
        assert out[1][0] == "FrameTooLarge" and out[1][1] == 12  # type: ignore[index]
        assert out[2] == Message((("Event", "B"),))
        assert len(out) == 3


def test_limit_errors_carry_name_value_and_offset() -> None:
    dec = AMIDecoder(max_headers=2, max_line_bytes=10)
    dec.receive_data(
        b"Event: A\r\n\r\nEvent: B\r\nA: 1\r\nB: 2\r\n\r\nEvent: C\r\nLong: 12345678\r\n\r\n"
    )
    assert dec.next_frame() == Message((("Event", "A"),))
    with pytest.raises(TooManyHeaders) as too_many:
        dec.next_frame()
    assert (too_many.value.limit_name, too_many.value.limit) == ("max_headers", 2)
    assert too_many.value.offset == 12 + 10 + 6  # the third line of the frame
    with pytest.raises(LineTooLong) as too_long:
        dec.next_frame()
    assert too_long.value.limit_name == "max_line_bytes"
    assert too_long.value.offset == 12 + 24 + 10  # the line after "Event: C"
    assert "offset 46" in str(too_long.value)
    assert isinstance(too_long.value, RemoteProtocolError)
    assert dec.next_frame() is NEED_DATA


def test_oversized_frame_is_dropped_as_it_arrives() -> None:
    dec = AMIDecoder(max_frame_bytes=1000)
    dec.receive_data(b"Event: Flood\r\nX: ")
    with pytest.raises(FrameTooLarge):
        for _ in range(10):
            dec.receive_data(b"z" * 500)
            dec.next_frame()
    for _ in range(1000):
        dec.receive_data(b"z" * 500)
        assert dec.next_frame() is NEED_DATA
        assert dec.buffered <= 2
    dec.receive_data(b"\r\n\r\nEvent: After\r\n\r\n")
    assert dec.next_frame() == Message((("Event", "After"),))


def test_oversized_follows_body_resyncs_at_its_marker_line() -> None:
    data = (
        b"Response: Follows\r\nPrivilege: Command\r\n"
        + b"row\n\n" * 100
        + b"--END COMMAND--\r\n\r\nEvent: After\r\n\r\n"
    )
    out = decode_all(data, [5], AMIDecoder(max_frame_bytes=200))
    assert len(out) == 2
    assert isinstance(out[0], tuple) and out[0][:2] == ("FrameTooLarge", 0)
    assert out[1] == Message((("Event", "After"),))


def test_truncated_frame_at_eof_names_its_offset_and_closes() -> None:
    out = decode_all(b"Event: A\r\n\r\nEvent: B\r\nUniq")
    assert out == [
        Message((("Event", "A"),)),
        ("TruncatedFrame", 12, out[1][2]),  # type: ignore[index]
    ]


def test_partial_banner_at_eof_is_truncated_and_empty_stream_is_clean() -> None:
    (truncated,) = decode_all(b"Asterisk Call Man")
    assert isinstance(truncated, tuple) and truncated[:2] == ("TruncatedFrame", 0)
    assert decode_all(b"") == []
    assert decode_all(b"Event: A\r\n\r\n\r\n") == [Message((("Event", "A"),))]


def test_data_after_eof_is_a_caller_error() -> None:
    dec = AMIDecoder()
    dec.receive_eof()
    with pytest.raises(LocalProtocolError):
        dec.receive_data(b"x")


@pytest.mark.parametrize("bad", [0, -1, True, 1.5])
def test_limits_must_be_positive_ints(bad: object) -> None:
    with pytest.raises(ValueError, match="max_headers"):
        AMIDecoder(max_headers=bad)  # type: ignore[arg-type]


class CountingBytes(bytearray):
    """A receive buffer that counts the bytes every search and copy spans.

    Installed by the linearity tests only, so the decoder's hot path carries
    no counter: ``examined`` is what the C-level searches (find, rfind,
    count, index) and slice copies the decoder asks for cover.
    """

    examined = 0

    def _span(self, start: int | None, end: int | None, found: int = -1, width: int = 0) -> None:
        n = len(self)
        lo = 0 if start is None else min(max(start + n if start < 0 else start, 0), n)
        hi = n if end is None else min(max(end + n if end < 0 else end, 0), n)
        if found >= 0:
            hi = min(hi, found + width)
        self.examined += max(0, hi - lo)

    def find(self, sub: bytes, start: int | None = None, end: int | None = None) -> int:  # type: ignore[override]
        found = super().find(sub, start, end)
        self._span(start, end, found, len(sub))
        return found

    def rfind(self, sub: bytes, start: int | None = None, end: int | None = None) -> int:  # type: ignore[override]
        found = super().rfind(sub, start, end)
        self._span(start if found < 0 else found, end)
        return found

    def count(self, sub: bytes, start: int | None = None, end: int | None = None) -> int:  # type: ignore[override]
        self._span(start, end)
        return super().count(sub, start, end)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, slice):
            self._span(key.start, key.stop)
        return super().__getitem__(key)


def counting_decoder(**limits: int) -> tuple[AMIDecoder, CountingBytes]:
    dec = AMIDecoder(**limits)
    counter = CountingBytes()
    dec._buffer.data = counter
    return dec, counter


def test_counting_buffer_counts_what_a_rescanning_search_would_cost() -> None:
    # The probe itself can fail: searching a whole buffer again per byte is
    # quadratic, and the count says so.
    data = CountingBytes(b"x" * 1000)
    for i in range(1000):
        data.find(b"\n\r\n", 0)
        assert data.examined == 1000 * (i + 1)


@pytest.mark.parametrize(
    "frame_of",
    [
        lambda size: (
            b"Event: Big\r\n"
            + b"".join(b"H%d: %s\r\n" % (i, b"v" * 40) for i in range(size // 46))
            + b"\r\n"
        ),
        lambda size: (
            b"Event: Big\n"
            + b"".join(b"H%d: %s\n" % (i, b"v" * 40) for i in range(size // 46))
            + b"\n"
        ),
        lambda size: (
            b"Response: Follows\r\nPrivilege: Command\r\n"
            + b"row\n\n" * (size // 5)
            + b"--END COMMAND--\r\n\r\n"
        ),
    ],
    ids=["crlf", "bare-lf", "follows"],
)
def test_one_byte_reads_are_linear_no_rescanning(frame_of: Callable[[int], bytes]) -> None:
    # Fed one byte per read, the decoder must cost a small constant per
    # byte, the same for a 1 KiB and a 64 KiB frame. A decoder that
    # re-searched what it already searched would examine O(frame length)
    # bytes per read.
    for size in (1024, 65536):
        frame = frame_of(size)
        dec, counter = counting_decoder(max_headers=100_000)
        got = []
        for i in range(len(frame)):
            dec.receive_data(frame[i : i + 1])
            if (frame_out := dec.next_frame()) is not NEED_DATA:
                got.append(frame_out)
        assert len(got) == 1 and isinstance(got[0], Message)
        assert counter.examined <= 24 * len(frame), (size, counter.examined / len(frame))


@pytest.mark.parametrize(
    "unit",
    [
        b"Event: A\r\nUniqueid: 1\r\n\r\nEvent: B\n\n",
        b"Event: A\n\n",  # issue 15 #8: quadratic with no CRLF blank line ahead
        b"Event: A\r\nX: a: b\r\n\r\n",  # the batch declines these frames
        b"Response: Follows\r\nPrivilege: Command\r\nx\n--END COMMAND--\r\n\r\n",
    ],
    ids=["mixed", "bare-lf", "declined", "follows"],
)
def test_one_large_read_of_many_frames_is_linear(unit: bytes) -> None:
    # Frames received together are cut in batches; a frame the batch
    # cannot vouch for ends it. The frames after it must not be searched
    # again by every later frame or batch.
    for count in (100, 3000):
        stream = unit * count
        dec, counter = counting_decoder()
        dec.receive_data(stream)
        frames = []
        while (frame := dec.next_frame()) is not NEED_DATA:
            frames.append(frame)
        assert len(frames) == count * unit.count(b"\n\n") + count * unit.count(b"\n\r\n")
        assert counter.examined <= 12 * len(stream), (count, counter.examined / len(stream))


_FRAMING_TOKENS = st.sampled_from(
    [
        b"\r\n",
        b"\n",
        b"\r",
        b"\r\n\r\n",
        b"\n\r\n",
        b"\r\n\r\n\r\n",
        b"Event: X",
        b"Uniqueid: 7",
        b"A: 1",
        b": ",
        b":",
        b" ",
        b"x",
        b"\xff",
        b"Response: Follows\r\n",
        b"response: follows",
        b"--END COMMAND--",
    ]
)


def decode_with_offsets(data: bytes, sizes: Sequence[int], **limits: int) -> list[object]:
    """Frames, errors and the decoder's ``offset`` after each, for reads of ``sizes``."""
    dec = AMIDecoder(**limits)
    out: list[object] = []
    feed(data, sizes, dec, lambda frame: out.append((frame, dec.offset)), out.append)
    return out


@given(
    st.lists(_FRAMING_TOKENS, max_size=60).map(b"".join),
    st.integers(1, 6),
    st.integers(1, 80),
)
def test_batched_frames_equal_frames_cut_one_by_one(
    data: bytes, max_headers: int, max_line: int
) -> None:
    # Received at once, frames are cut in batches; one byte per read, one by
    # one. Blank-line runs, bare LFs, stray CRs, Follows replies and limits
    # must give the same frames, errors and offsets either way.
    for limits in (
        {"max_headers": max_headers, "max_line_bytes": max_line, "max_frame_bytes": 3 * max_line},
        {},
    ):
        whole = decode_with_offsets(data, [max(len(data), 1)], **limits)
        assert decode_with_offsets(data, [1], **limits) == whole
        assert decode_with_offsets(data, [7], **limits) == whole


# -- encoders -------------------------------------------------------------------


def test_encode_action_layout() -> None:
    raw = encode_action(
        "Originate",
        [("Channel", "Local/bob@phones"), ("Variable", "A=1"), ("Variable", "B=2")],
        action_id="o-1",
    )
    assert raw == (
        b"Action: Originate\r\nActionID: o-1\r\nChannel: Local/bob@phones\r\n"
        b"Variable: A=1\r\nVariable: B=2\r\n\r\n"
    )
    assert encode_action("Ping", {"X": "y"}) == b"Action: Ping\r\nX: y\r\n\r\n"
    action = Action("Ping", (("X", "y"),), "p-1")
    assert (
        action.to_bytes()
        == encode_action(action)
        == b"Action: Ping\r\nActionID: p-1\r\nX: y\r\n\r\n"
    )
    assert encode_action(action, action_id="p-2").startswith(b"Action: Ping\r\nActionID: p-2\r\n")


@pytest.mark.parametrize(
    ("action", "headers", "action_id", "fragment"),
    [
        ("Ping\r\nAction: Hangup", (), None, "Action name"),
        ("", (), None, "empty"),
        ("Ping", [("X", "a\nAction: Hangup")], None, "'X' value"),
        ("Ping", [("X", "a\x00")], None, "'X' value"),
        ("Ping", [("X\r", "a")], None, "header 0 name"),
        ("Ping", [("A:B", "a")], None, "colon"),
        ("Ping", [("", "a")], None, "empty"),
        ("Ping", [(" X", "a")], None, "blanks"),
        ("Ping", [("action", "Hangup")], None, "second 'Action'"),
        ("Ping", [("ActionID", "a")], "b", "twice"),
        ("Ping", (), "id\r\n", "ActionID"),
        ("Ping", [("X", "\ud800")], None, "cannot be encoded"),
    ],
)
def test_encode_action_rejects_injection_and_says_where(
    action: str, headers: list[tuple[str, str]], action_id: str | None, fragment: str
) -> None:
    with pytest.raises(LocalProtocolError) as info:
        encode_action(action, headers, action_id)
    assert fragment in str(info.value)


def test_legacy_limits_lines_and_header_count() -> None:
    fits = "v" * (LEGACY_MAX_LINE_BYTES - len("Data: ") - 2)
    assert len(encode_action("Ping", [("Data", fits)], legacy_limits=True).split(b"\r\n")[1]) == 253
    with pytest.raises(LocalProtocolError, match="'Data' is 256 bytes"):
        encode_action("Ping", [("Data", fits + "v")], legacy_limits=True)
    encode_action("Ping", [("Data", fits + "v")])  # fine without the 1.2 limits
    many = [("Variable", f"v{i}=1") for i in range(LEGACY_MAX_HEADER_LINES - 2)]
    encode_action("Originate", many, "id", legacy_limits=True)
    with pytest.raises(LocalProtocolError, match="80 lines"):
        encode_action("Originate", [*many, ("X", "y")], "id", legacy_limits=True)


def test_encode_message_and_banner_round_trip_byte_exact() -> None:
    data = Path(__file__).parent / "data" / "asterisk-22.10.1" / "04-misc-actions.ami"
    raw = data.read_bytes()
    frames = decode_all(raw)
    rebuilt = b"".join(
        encode_banner(f) if isinstance(f, Banner) else encode_message(f)  # type: ignore[arg-type]
        for f in frames
    )
    assert rebuilt == raw
    assert Banner.from_version((11, 0, 0)).to_bytes() == b"Asterisk Call Manager/11.0.0\r\n"
    assert encode_banner((1, 0)) == b"Asterisk Call Manager/1.0\r\n"


def test_encode_message_empty_names_and_follows() -> None:
    m = Message((("", "no colon"), ("", "a:b"), ("", ""), ("", " lead")))
    assert encode_message(m) == b"no colon\r\n: a:b\r\n: \r\n lead\r\n\r\n"
    assert one(encode_message(m)) == m
    follows = Message((("Response", "Follows"), ("Privilege", "Command")), "x\n\ny")
    raw = follows.to_bytes()
    assert raw == b"Response: Follows\r\nPrivilege: Command\r\nx\n\ny--END COMMAND--\r\n\r\n"
    assert one(raw) == follows


@pytest.mark.parametrize(
    "message",
    [
        Message(()),
        Message((("Event", "a\r\nb"),)),
        Message((("A:B", "x"),)),
        Message((("Response", "Follows"),)),
        Message((("Response", "Success"),), "body"),
        Message((("Response", "Follows"),), "a\n--END COMMAND--\nb"),
        Message((("Response", "Follows"),), "Key: v\r\nrest\n"),
    ],
)
def test_encode_message_rejects_what_would_not_decode_back(message: Message) -> None:
    with pytest.raises(LocalProtocolError):
        encode_message(message)


# -- C escapes --------------------------------------------------------------------


def test_c_unescape_reverses_asterisk_escaping() -> None:
    assert c_unescape(r"O\'Neil \"Bobby\", Jr.") == 'O\'Neil "Bobby", Jr.'
    assert c_unescape(r"a\\b\n\t\?") == "a\\b\n\t?"
    assert c_unescape("plain") == "plain"
    assert c_unescape("keep \\x and trailing \\") == "keep \\x and trailing \\"


def test_unescape_message_touches_only_escaped_headers() -> None:
    m = Message(
        (
            ("Event", "DialBegin"),
            ("CallerIDName", r"O\'Neil"),
            ("DestConnectedLineName", r"\"B\""),
            ("ChanVariable", r"X=a\\b"),
            ("Exten", r"a\'b"),
        )
    )
    u = unescape_message(m)
    assert u.get("CallerIDName") == "O'Neil"
    assert u.get("DestConnectedLineName") == '"B"'
    assert u.get("ChanVariable") == "X=a\\b"
    assert u.get("Exten") == r"a\'b"
    assert m.unescaped("CallerIDName") == "O'Neil" and m.unescaped("Nope") is None
    orig = Message((("Event", "OriginateResponse"), ("CallerIDName", r"a\'b")))
    assert unescape_message(orig) is orig


# -- properties ---------------------------------------------------------------------


@given(ami_st.header_lists(), ami_st.action_names(), st.one_of(st.none(), ami_st.header_values()))
def test_encode_action_then_decode_round_trips(
    headers: list[tuple[str, str]], name: str, action_id: str | None
) -> None:
    headers = [(n, v) for n, v in headers if n.lower() not in ("action", "actionid")]
    raw = encode_action(name, headers, action_id)
    expected = [("Action", name)]
    if action_id is not None:
        expected.append(("ActionID", action_id))
    assert one(raw).headers == tuple(expected + headers)


@given(ami_st.messages())
def test_encode_message_then_decode_round_trips(message: Message) -> None:
    assert one(encode_message(message)) == message


@given(st.binary(max_size=400), st.lists(st.integers(1, 50), min_size=1, max_size=8))
def test_arbitrary_bytes_raise_only_decoder_errors_and_chunking_does_not_matter(
    data: bytes, sizes: list[int]
) -> None:
    limits = {"max_frame_bytes": 120, "max_headers": 6, "max_line_bytes": 40}
    whole = decode_all(data, (), AMIDecoder(**limits))
    assert decode_all(data, sizes, AMIDecoder(**limits)) == whole
    assert decode_all(data, [1], AMIDecoder(**limits)) == whole


@given(ami_st.ami_streams(), st.data())
def test_chunking_invariance_on_ami_streams(stream: bytes, data: st.DataObject) -> None:
    whole = decode_all(stream)
    chunks = data.draw(ami_st.chunkings(stream))
    assert decode_all(stream, [len(c) for c in chunks]) == whole
    assert not any(isinstance(x, tuple) for x in whole)


@given(
    st.lists(ami_st.messages(), min_size=1, max_size=6),
    st.integers(20, 300),
    st.integers(1, 8),
    st.integers(5, 120),
    st.lists(st.integers(1, 64), min_size=1, max_size=5),
)
def test_limits_hold_and_good_frames_survive(
    msgs: list[Message], max_frame: int, max_headers: int, max_line: int, sizes: list[int]
) -> None:
    limits = {"max_frame_bytes": max_frame, "max_headers": max_headers, "max_line_bytes": max_line}
    encoded = [encode_message(m) for m in msgs]
    out = decode_all(b"".join(encoded), sizes, AMIDecoder(**limits))
    # One outcome per frame: the frame itself when it fits, else exactly one error.
    assert len(out) == len(msgs)
    offset = 0
    for raw, message, got in zip(encoded, msgs, out, strict=True):
        body = raw[:-2]  # the frame without its blank line
        lines = body.split(b"\n")[:-1]
        headers = len(lines) if message.output is None else len(message.headers)
        fits = (
            len(body) <= max_frame
            and headers <= max_headers
            and all(len(line.rstrip(b"\r")) <= max_line for line in lines)
        )
        if fits:
            assert got == message
        else:
            assert isinstance(got, tuple) and got[1] >= offset and got[1] < offset + len(raw)
        offset += len(raw)


# The bytes "Asterisk Call Manager" are held until the first line can be told
# apart from a message line, whatever the limits: the only fixed allowance.
_BANNER_HOLD = len(b"Asterisk Call Manager") + 3


@given(
    st.lists(
        _FRAMING_TOKENS
        | st.sampled_from([b"Asterisk Call Manager/1.0", b"y" * 50])
        | st.binary(max_size=40),
        max_size=60,
    ).map(b"".join),
    st.lists(st.integers(1, 120), min_size=1, max_size=6),
    st.integers(1, 200),
    st.integers(1, 8),
    st.integers(1, 300),
)
def test_memory_stays_bounded_however_the_input_is_chunked(
    data: bytes, sizes: list[int], max_frame: int, max_headers: int, max_line: int
) -> None:
    # After every read is drained to NEED_DATA the decoder holds at most one
    # unfinished frame (<= max_frame_bytes) plus the read just handed over,
    # even when max_line_bytes is larger than max_frame_bytes.
    dec = AMIDecoder(max_frame_bytes=max_frame, max_headers=max_headers, max_line_bytes=max_line)
    i = k = 0
    while i < len(data):
        chunk = data[i : i + sizes[k % len(sizes)]]
        k += 1
        i += len(chunk)
        dec.receive_data(chunk)
        while True:
            try:
                frame = dec.next_frame()
            except (LimitExceeded, TruncatedFrame, MissingEndMarker):
                continue
            if frame is NEED_DATA:
                break
        assert dec.buffered <= max_frame + len(chunk) + _BANNER_HOLD, (dec.buffered, i)


def test_banner_line_is_bounded_by_max_frame_bytes_too() -> None:
    # A first line that starts like a banner but is longer than a frame may
    # be is not held until max_line_bytes: the frame rules report it.
    long_banner = b"Asterisk Call Manager/1.0" + b"x" * 100 + b"\r\n"
    data = long_banner + b"\r\nEvent: B\r\n\r\n"
    for sizes in ([], [1], [7]):
        out = decode_all(data, sizes, AMIDecoder(max_frame_bytes=50, max_line_bytes=1000))
        assert out[0][:2] == ("FrameTooLarge", 0)  # type: ignore[index]
        assert out[1:] == [Message((("Event", "B"),))]
    dec = AMIDecoder(max_frame_bytes=50, max_line_bytes=1000)
    errors = 0
    for byte in long_banner[:-2]:  # the line never ends
        dec.receive_data(bytes([byte]))
        try:
            assert dec.next_frame() is NEED_DATA
        except FrameTooLarge:
            errors += 1
        assert dec.buffered <= 52
    assert errors == 1
    # An ordinary banner still fits a frame of its own size.
    assert decode_all(b"Asterisk Call Manager/11.0.0\r\n", (), AMIDecoder(max_frame_bytes=28)) == [
        Banner((11, 0, 0), "Asterisk Call Manager/11.0.0")
    ]


@given(st.binary(max_size=60))
def test_surrogateescape_round_trip_of_any_value_bytes(value: bytes) -> None:
    value = value.replace(b"\r", b"").replace(b"\n", b"")
    raw = b"Event: X\r\nCallerIDName: " + value + b"\r\n\r\n"
    m = one(raw)
    assert m.get("CallerIDName") == value.decode("utf-8", "surrogateescape")
    assert encode_message(m) == raw


@given(ami_st.header_names(), ami_st.header_values(), st.sampled_from("\r\n\x00"), st.data())
def test_encoder_rejects_cr_lf_nul_anywhere(
    name: str, value: str, bad: str, data: st.DataObject
) -> None:
    where = data.draw(st.sampled_from(["name", "value", "action", "action_id"]))
    i = data.draw(st.integers(0, 20))
    args: tuple[str, list[tuple[str, str]], str | None]
    if where == "name":
        args = ("Ping", [(name[:i] + bad + name[i:], value)], None)
    elif where == "value":
        args = ("Ping", [(name, value[:i] + bad + value[i:])], None)
    elif where == "action":
        args = ("Ping"[:i] + bad + "Ping"[i:], [], None)
    else:
        args = ("Ping", [], value[:i] + bad + value[i:])
    with pytest.raises(LocalProtocolError):
        encode_action(*args)


def test_docs_ami_examples_run(tmp_path: Path) -> None:
    assert run_python_blocks("ami.md", tmp_path) > 0


_LOOKUP_BYTES = st.lists(
    st.sampled_from(
        [
            b"Event",
            b"event",
            b"EVENT",
            b" ",
            b"\t",
            b":",
            b": ",
            b"\r\n",
            b"\n",
            b"\r",
            b"x",
            b"Uniqueid",
            b"\xc3\xa9",
            b"\xff",
            b"\x0b",
            b"K",
        ]
    ),
    max_size=40,
).map(b"".join)


@given(
    _LOOKUP_BYTES,
    st.lists(
        st.sampled_from(
            [
                "Event",
                "event",
                " Event ",
                "EVENT",
                "Uniqueid",
                "x",
                "",
                ":",
                "Event:",
                "\u212a",
                "k",
                "é",
            ]
        ),
        max_size=6,
    ),
)
def test_lookups_on_decoded_frames_agree_with_their_parsed_headers(
    data: bytes, names: list[str]
) -> None:
    # Decoded messages answer get() from the frame bytes before splitting
    # them; that must always equal the answer from the split headers.
    lazy = [m for m in decode_all(data + b"\r\n\r\n") if isinstance(m, Message)]
    eager = [m for m in decode_all(data + b"\r\n\r\n") if isinstance(m, Message)]
    for fresh, parsed in zip(lazy, eager, strict=True):
        reference = Message(parsed.headers, parsed.output)
        queries = [*names, *(n for n, _ in reference.headers)]
        for name in queries:
            assert fresh.get(name) == reference.get(name), (name, fresh)
            assert (name in fresh) == (name in reference)
        assert fresh == reference and hash(fresh) == hash(reference)
