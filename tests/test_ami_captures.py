"""Every real Asterisk 22.10.1 capture, replayed through the decoder.

Each capture is fed byte for byte in three ways: one byte per read, the
read sizes recorded when it was captured (``*.timing.tsv``), and random
read sizes; the frames must be identical every time and match counts made
independently of the decoder (the corpus README lists events and
UserEvents; responses were counted with a regex over the raw bytes).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_ami_codec import decode_all

from tapievent.ami_codec import Banner, Message, encode_banner, encode_message

CAPTURES = Path(__file__).parent / "data" / "asterisk-22.10.1"

# name: (messages, events, UserEvents, responses)
EXPECTED = {
    "00-banner": (0, 0, 0, 0),
    "01-login-plain": (5, 2, 0, 3),
    "02-login-md5": (6, 2, 0, 4),
    "03a-login-failed-secret": (2, 0, 0, 2),
    "03b-login-failed-nouser": (1, 0, 0, 1),
    "03c-login-failed-md5key": (2, 0, 0, 2),
    "04-misc-actions": (29, 9, 1, 20),
    "05-scenario1-inbound": (129, 125, 5, 4),
    "05-scenario1-inbound.callonly": (58, 56, 0, 2),
    "06a-scenario2-outbound": (104, 101, 4, 3),
    "06b-scenario2-outbound-channelid": (200, 195, 8, 5),
    "07-scenario3-no-h-extension": (120, 117, 4, 3),
    "09-scenario5-busy-noanswer": (308, 298, 14, 10),
    "12-scenario7-ringgroup": (128, 125, 7, 3),
}


def test_every_capture_has_expected_counts() -> None:
    assert sorted(p.name[: -len(".ami")] for p in CAPTURES.glob("*.ami")) == sorted(EXPECTED)


def recorded_sizes(name: str) -> list[int]:
    rows = (CAPTURES / f"{name}.timing.tsv").read_text().splitlines()[1:]
    sizes = [int(row.split("\t")[2]) for row in rows]
    offsets = [int(row.split("\t")[1]) for row in rows]
    assert offsets == [sum(sizes[:i]) for i in range(len(sizes))]  # contiguous
    return sizes


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_capture_decodes_identically_however_it_is_read(name: str) -> None:
    data = (CAPTURES / f"{name}.ami").read_bytes()
    sizes = recorded_sizes(name)
    assert sum(sizes) == len(data)
    whole = decode_all(data)
    assert decode_all(data, [1]) == whole
    assert decode_all(data, sizes) == whole
    assert whole[0] == Banner((11, 0, 0), "Asterisk Call Manager/11.0.0")
    messages = [m for m in whole[1:] if isinstance(m, Message)]
    assert len(messages) == len(whole) - 1  # no errors anywhere
    counts = (
        len(messages),
        sum(m.is_event for m in messages),
        sum(m.event == "UserEvent" for m in messages),
        sum(m.is_response for m in messages),
    )
    assert counts == EXPECTED[name]
    # Canonical CRLF framing: writing the frames back gives the capture.
    rebuilt = encode_banner(whole[0]) + b"".join(encode_message(m) for m in messages)
    assert rebuilt == data


@settings(max_examples=30)
@given(st.sampled_from(sorted(EXPECTED)), st.lists(st.integers(1, 700), min_size=1, max_size=12))
def test_capture_random_read_sizes(name: str, sizes: list[int]) -> None:
    data = (CAPTURES / f"{name}.ami").read_bytes()
    assert decode_all(data, sizes) == decode_all(data)


def frames(name: str) -> list[Message]:
    out = decode_all((CAPTURES / f"{name}.ami").read_bytes())
    return [m for m in out if isinstance(m, Message)]


def test_misc_actions_spot_checks() -> None:
    msgs = frames("04-misc-actions")
    by_id = {m.action_id: m for m in msgs if m.is_response}
    # 14+ command output: one Output header per line.
    assert by_id["cmd-2"].output_lines == (
        "Channel                                                          Location"
        "                         State   Application(Data)             ",
        "0 active channels",
        "0 active calls",
        "0 calls processed",
    )
    assert by_id["cmd-1"].output is None
    # The bare-LF request was still answered as a Ping.
    assert by_id["lf-only"].get("Ping") == "Pong"
    # Requests without Action (stray empty lines) answered without ActionID.
    no_id = [m for m in msgs if m.is_response and m.action_id is None]
    assert [m.get("Message") for m in no_id] == ["Missing action in request"] * 2
    # Event list: the ack, then the Complete event with the same ActionID.
    assert by_id["csc-1"].get("EventList") == "start"
    complete = next(m for m in msgs if m.event == "CoreShowChannelsComplete")
    assert (complete.action_id, complete.get("eventlist"), complete.get("ListItems")) == (
        "csc-1",
        "Complete",
        "0",
    )
    # A UserEvent sent by the action: no channel headers, ActionID last.
    user = next(m for m in msgs if m.event == "UserEvent")
    assert user.headers == (
        ("Event", "UserEvent"),
        ("Privilege", "user,all"),
        ("UserEvent", "TAPI"),
        ("TAPIEVENT", "LINE_NEWCALL line_1 (via AMI UserEvent action)"),
        ("ActionID", "ue-1"),
    )
    assert user.is_event and not user.is_response
    # ListCommands: two spaces after the colon keep one in the value.
    assert by_id["lc-1"].get("Originate") == " (Priv: originate,all)"
    assert by_id["logoff-1"].response == "Goodbye"


def test_inbound_userevent_exactly_as_the_corpus_readme_shows() -> None:
    newcall = next(
        m for m in frames("05-scenario1-inbound") if m.get("TAPIEVENT") == "LINE_NEWCALL line_1"
    )
    assert newcall.headers == (
        ("Event", "UserEvent"),
        ("Privilege", "user,all"),
        ("Channel", "Local/100@inbound-00000000;2"),
        ("ChannelState", "4"),
        ("ChannelStateDesc", "Ring"),
        ("CallerIDNum", "5550100"),
        ("CallerIDName", "Alice Caller"),
        ("ConnectedLineNum", "5550100"),
        ("ConnectedLineName", "Alice Caller"),
        ("Language", "en"),
        ("AccountCode", ""),
        ("Context", "inbound"),
        ("Exten", "100"),
        ("Priority", "2"),
        ("Uniqueid", "1795667804.1"),
        ("Linkedid", "1795667804.0"),
        ("UserEvent", "TAPI"),
        ("TAPIEVENT", "LINE_NEWCALL line_1"),
    )


def test_originate_response_is_classified_as_an_event() -> None:
    responses = [m for m in frames("06a-scenario2-outbound") if m.event == "OriginateResponse"]
    assert responses
    for m in responses:
        assert m.is_event and not m.is_response
        assert m.response in ("Success", "Failure") and m.action_id is not None
