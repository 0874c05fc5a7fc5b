"""Issue 15's codec defects, one test each; every one failed before its fix.

#2 a ``str`` subclass put a second action on the wire; #3 malformed
``Action.headers`` leaked ``ValueError`` or wrote ``I: d``; #7 one stray
``Response: Follows`` hid every frame after it; #8 bare-LF frames were
quadratic; #14 ``encode_message`` wrote frames that did not decode back.
"""

from __future__ import annotations

import pytest
from test_ami_codec import counting_decoder, decode_all

from tapievent.ami_codec import (
    NEED_DATA,
    Action,
    AMIDecoder,
    Banner,
    FrameTooLarge,
    LocalProtocolError,
    Message,
    MissingEndMarker,
    encode_action,
    encode_message,
)

# -- #2: encode through str itself ------------------------------------------------


class Sneaky(str):
    """Looks clean to every check, writes a second action when encoded."""

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return b"x\r\n\r\nAction: Hangup\r\nChannel: PJSIP/victim"

    def __str__(self) -> str:
        return "x\r\nAction: Hangup"

    def __contains__(self, item: object) -> bool:
        return False

    def strip(self, chars: str | None = None) -> str:
        return str(self)


@pytest.mark.parametrize("where", ["name", "header name", "header value", "action id"])
def test_a_str_subclass_cannot_change_the_bytes_on_the_wire(where: str) -> None:
    clean = Sneaky("Ping")
    args: dict[str, object] = {"action": "Ping", "headers": [("X", "y")], "action_id": None}
    if where == "name":
        args["action"] = clean
    elif where == "header name":
        args["headers"] = [(Sneaky("X"), "y")]
    elif where == "header value":
        args["headers"] = [("X", clean)]
    else:
        args["action_id"] = clean
    raw = encode_action(**args)  # type: ignore[arg-type]
    assert b"Hangup" not in raw and raw.count(b"\r\n\r\n") == 1
    assert raw.endswith(b"\r\n\r\n")


def test_a_str_subclass_in_a_server_message_is_encoded_as_its_characters() -> None:
    message = Message(((Sneaky("Event"), Sneaky("A")),))
    assert encode_message(message) == b"Event: A\r\n\r\n"


# -- #3: Action.headers validated --------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Channel": "PJSIP/1"},  # a dict
        (("Channel", "PJSIP/1", "extra"),),  # a 3-tuple
        ("Id",),  # a 2-character string item: was written as "I: d"
        (("Channel",),),
        (["Channel", "PJSIP/1"],),  # a list is not a pair
        ((1, "x"),),
        (("X", None),),
        42,
    ],
)
def test_malformed_action_headers_are_a_local_protocol_error(headers: object) -> None:
    action = Action("Originate", headers)  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError) as info:
        action.to_bytes()
    assert "header" in str(info.value).lower()


def test_well_formed_action_headers_still_encode() -> None:
    action = Action("Originate", (("Channel", "PJSIP/1"), ("Variable", "A=1")), "o-1")
    assert action.to_bytes() == (
        b"Action: Originate\r\nActionID: o-1\r\nChannel: PJSIP/1\r\nVariable: A=1\r\n\r\n"
    )


# -- #7: one stray Response: Follows ---------------------------------------------------

_STRAY = b"Response: Follows\r\nPrivilege: Command\r\nActionID: c-1\r\n\r\n"
_GOOD = b"".join(b"Event: Newexten\r\nUniqueid: 1.%d\r\n\r\n" % i for i in range(20_000))


@pytest.mark.parametrize("sizes", [[], [4096], [1]], ids=["whole", "4k", "1-byte"])
def test_stray_follows_costs_only_itself_on_an_old_server(sizes: list[int]) -> None:
    # Asterisk 13 (AMI 2.x) sends Follows replies, always ending with the
    # marker line; one without it must not swallow the 20,000 events after.
    good = _GOOD if sizes != [1] else _GOOD[: _GOOD.index(b"Uniqueid: 1.200\r\n\r\n") + 19]
    data = b"Asterisk Call Manager/2.10.6\r\n" + _STRAY + good
    out = decode_all(data, sizes)
    assert out[0] == Banner((2, 10, 6), "Asterisk Call Manager/2.10.6")
    assert isinstance(out[1], tuple) and out[1][0] == "MissingEndMarker"
    assert out[1][1] == len(b"Asterisk Call Manager/2.10.6\r\n")
    events = [m for m in out[2:] if isinstance(m, Message)]
    assert len(events) == len(out) - 2
    assert len(events) == (20_000 if sizes != [1] else 201)


def test_stray_follows_is_an_ordinary_response_on_asterisk_14_and_later() -> None:
    # AMI 3.0+ answers Command with Output: headers and never sends Follows.
    for banner in (b"Asterisk Call Manager/3.0.0\r\n", b"Asterisk Call Manager/11.0.0\r\n"):
        out = decode_all(banner + _STRAY + _GOOD[: _GOOD.index(b"1.20\r\n\r\n") + 8])
        assert out[1] == Message(
            (("Response", "Follows"), ("Privilege", "Command"), ("ActionID", "c-1"))
        )
        assert all(isinstance(m, Message) for m in out[1:])


def test_missing_marker_error_names_where_and_how_much() -> None:
    dec = AMIDecoder()
    dec.receive_data(_STRAY + b"Event: After\r\n\r\n")
    with pytest.raises(MissingEndMarker) as info:
        dec.next_frame()
    assert (info.value.offset, info.value.length) == (0, len(_STRAY))
    assert dec.next_frame() == Message((("Event", "After"),))
    assert dec.next_frame() is NEED_DATA


def test_oversized_stray_follows_resyncs_at_the_next_blank_crlf_line() -> None:
    # Too large to wait for: dropped as it arrives, and found again at the
    # blank line instead of at a marker that never comes.
    body = b"Response: Follows\r\nPrivilege: Command\r\n" + b"row\n" * 100 + b"\r\n"
    data = body + b"Event: After\r\n\r\n"
    for sizes in ([], [1], [7]):
        out = decode_all(data, sizes, AMIDecoder(max_frame_bytes=100))
        assert out[0][:2] == ("FrameTooLarge", 0), out  # type: ignore[index]
        assert out[1:] == [Message((("Event", "After"),))]
    with pytest.raises(FrameTooLarge):
        dec = AMIDecoder(max_frame_bytes=100)
        dec.receive_data(data)
        dec.next_frame()


# -- #8: bare-LF frames linear -----------------------------------------------------------


def test_one_read_of_bare_lf_frames_is_linear() -> None:
    # 64 KiB took 0.72 s and 128 KiB 1.8 s: every frame searched the whole
    # rest of the buffer for a CRLF blank line that never came.
    ratios = []
    for size in (16 * 1024, 128 * 1024):
        stream = b"Event: A\n\n" * (size // 10)
        dec, counter = counting_decoder()
        dec.receive_data(stream)
        count = 0
        while dec.next_frame() is not NEED_DATA:
            count += 1
        assert count == size // 10
        ratios.append(counter.examined / len(stream))
    assert ratios[1] <= 12 and ratios[1] <= 1.5 * ratios[0] + 1, ratios


# -- #14: the encoder refuses what would not decode back ----------------------------------


def test_follows_reply_with_a_colonless_header_is_refused() -> None:
    message = Message((("Response", "Follows"), ("", "bare line")), "output\n")
    with pytest.raises(LocalProtocolError, match="no name"):
        encode_message(message)
    # With a colon the empty-name header is written ": a:b" and reads back.
    ok = Message((("Response", "Follows"), ("", "a:b")), "output\n")
    assert decode_all(encode_message(ok)) == [ok]


@pytest.mark.parametrize(
    "headers",
    [
        (("", "Asterisk Call Manager/1.0"),),
        (("Asterisk Call Manager/1.0", "x"),),
        (("", "Asterisk Call Manager"),),
    ],
)
def test_a_message_that_would_read_as_the_banner_is_refused(
    headers: tuple[tuple[str, str], ...],
) -> None:
    with pytest.raises(LocalProtocolError, match="banner"):
        encode_message(Message(headers))


def test_follows_output_with_a_blank_crlf_line_is_refused() -> None:
    for output in ("a\r\n\r\nb", "\r\nb", "a\n\r\n"):
        with pytest.raises(LocalProtocolError, match="blank CRLF line"):
            encode_message(Message((("Response", "Follows"),), output))
