"""The tapievent/v1 MQTT scheme: topic escaping, text in JSON, event payloads, requests."""

from __future__ import annotations

import json
import pathlib
import re
import shlex

import pytest
from docs_examples import DOCS, blocks, run_python_blocks
from hypothesis import given
from hypothesis import strategies as st

from tapievent import (
    CallerId,
    CallInfo,
    CallState,
    Diagnostic,
    LineCallInfoState,
    LineCallOrigin,
    LineCallState,
    LineDevState,
    LineDevStateFlag,
    NewCall,
)
from tapievent.cli import build_parser
from tapievent.cli import gateway as gateway_cli
from tapievent.gateway.requests import RecentRequests, RequestRefused, parse_request
from tapievent.gateway.scheme import (
    Presence,
    RequestError,
    SchemeError,
    Topics,
    call_from_payload,
    call_payload,
    decode_text,
    encode_text,
    escape_level,
    event_from_payload,
    event_payload,
    handle_from_payload,
    handle_payload,
    line_presence,
    unescape_level,
)
from tapievent.testing.strategies import header_values, line_names, unique_ids
from tapievent.tracker import CallHandle, TrackedCall

# Any text the codec can hand over: Unicode plus surrogate escapes of undecodable bytes.
amitext = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"]), min_size=1),
    st.binary(min_size=1).map(lambda b: b.decode("utf-8", "surrogateescape")),
    header_values().filter(bool),
)


@given(amitext)
def test_escape_level_is_reversible_and_topic_safe(name: str) -> None:
    level = escape_level(name)
    assert unescape_level(level) == name
    assert not set(level) & set("/+#\0%") - {"%"}
    assert level.isascii() and level
    # Every % starts an escape: a level never holds a wildcard or separator.
    assert "/" not in level and "+" not in level and "#" not in level


def test_escape_level_examples() -> None:
    assert escape_level("Local/bob") == "Local%2Fbob"
    assert escape_level("PJSIP/201") == "PJSIP%2F201"
    assert escape_level("a+b#c%") == "a%2Bb%23c%25"
    assert escape_level("Zoë") == "Zo%C3%AB"
    assert escape_level("caf\udce9") == "caf%E9"  # a Latin-1 byte the codec kept


@pytest.mark.parametrize(
    "level",
    ["", "Local/bob", "a%2fb", "%41", "a+b", "%", "%2", "%zz", "a b"],
)
def test_unescape_level_refuses_non_canonical(level: str) -> None:
    with pytest.raises(SchemeError):
        unescape_level(level)


@given(st.text(max_size=20))
def test_unescape_level_accepts_only_what_escape_writes(level: str) -> None:
    try:
        name = unescape_level(level)
    except SchemeError:
        return
    assert escape_level(name) == level


@given(amitext)
def test_text_survives_json(text: str) -> None:
    encoded = encode_text(text)
    wire = json.dumps(encoded, ensure_ascii=False).encode("utf-8")  # valid UTF-8 JSON
    assert decode_text(json.loads(wire.decode("utf-8"))) == text


def test_undecodable_caller_name_example() -> None:
    name = b"Ren\xe9".decode("utf-8", "surrogateescape")
    assert encode_text(name) == {"text": "Ren\ufffd", "bytes": "UmVu6Q=="}
    assert encode_text("René") == "René"


@pytest.mark.parametrize("bad", [3, None, {"text": "x"}, {"bytes": "!!"}])
def test_decode_text_refuses(bad: object) -> None:
    with pytest.raises(SchemeError):
        decode_text(bad, "caller_id.name")


caller_ids = st.none() | st.builds(
    CallerId,
    st.none() | header_values(),
    st.none() | st.text("0123456789*#+", min_size=1, max_size=12),
)
events = st.one_of(
    st.builds(
        NewCall, line_names(), unique_ids(), st.sampled_from(list(LineCallOrigin)), caller_ids
    ),
    st.builds(
        CallState,
        line_names(),
        unique_ids(),
        st.sampled_from(list(LineCallState)),
        st.integers(0, 0xFFFFFFFF),
        st.booleans(),
    ),
    st.builds(
        CallInfo,
        line_names(),
        unique_ids(),
        st.builds(LineCallInfoState, st.integers(1, 0xFFFFFFF)),
        caller_ids,
    ),
    st.builds(LineDevState, st.none() | line_names(), st.sampled_from(list(LineDevStateFlag))),
    st.builds(Diagnostic, st.sampled_from(["missing-idle", "x"]), amitext, st.none() | amitext),
)


@given(events)
def test_event_payload_round_trip(event: object) -> None:
    wire = json.dumps(event_payload(event), ensure_ascii=False).encode("utf-8")  # type: ignore[arg-type]
    assert event_from_payload(json.loads(wire)) == event


def test_event_payload_example() -> None:
    event = NewCall("Local/bob", "1.2", LineCallOrigin.INBOUND, CallerId("Carol", "5550300"))
    assert event_payload(event) == {
        "event": "NewCall",
        "line": "Local/bob",
        "call_key": "1.2",
        "origin": "INBOUND",
        "caller_id": {"name": "Carol", "number": "5550300"},
    }


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"event": "Nope"},
        {"event": "CallState", "line": "a", "call_key": "k", "state": "SLEEPING"},
        {"event": "CallState", "line": "a", "call_key": "k", "state": 256, "mode": "0"},
        {"event": "NewCall", "line": 5, "call_key": "k", "origin": 1},
    ],
)
def test_event_from_payload_refuses(payload: dict[str, object]) -> None:
    with pytest.raises(SchemeError):
        event_from_payload(payload)


calls = st.builds(
    lambda key, lines, states, cid, action: TrackedCall(
        key,
        tuple(lines),
        tuple(states[: len(lines)] + [None] * (len(lines) - len(states))),
        cid,
        LineCallOrigin.INBOUND,
        None,
        action,
    ),
    unique_ids(),
    st.lists(line_names(), max_size=3),
    st.lists(st.none() | st.sampled_from(list(LineCallState)), max_size=3),
    caller_ids,
    st.none() | unique_ids(),
)


@given(calls)
def test_call_payload_round_trip(call: TrackedCall) -> None:
    assert call_from_payload(json.loads(json.dumps(call_payload(call)))) == call


@given(st.builds(CallHandle, unique_ids(), line_names(), unique_ids(), st.none() | unique_ids()))
def test_handle_payload_round_trip(handle: CallHandle) -> None:
    assert handle_from_payload(json.loads(json.dumps(handle_payload(handle)))) == handle


def _call(line: str, state: LineCallState | None, action_id: str | None = None) -> TrackedCall:
    return TrackedCall("k", (line,), (state,), None, LineCallOrigin.UNKNOWN, None, action_id)


def test_presence() -> None:
    bob = "Local/bob"
    assert line_presence(bob, [], in_service=True) is Presence.IDLE
    assert line_presence(bob, [_call(bob, None)], in_service=True) is Presence.RINGING
    assert line_presence(bob, [_call(bob, None, "a1")], in_service=True) is Presence.DIALING
    assert (
        line_presence(bob, [_call(bob, LineCallState.OFFERING)], in_service=True)
        is Presence.RINGING
    )
    both = [_call(bob, LineCallState.OFFERING), _call(bob, LineCallState.CONNECTED)]
    assert line_presence(bob, both, in_service=True) is Presence.CONNECTED
    assert line_presence(bob, [_call(bob, LineCallState.IDLE)], in_service=True) is Presence.IDLE
    assert line_presence(bob, [_call("Local/al", LineCallState.CONNECTED)], in_service=True) is (
        Presence.IDLE
    )
    assert line_presence(bob, both, in_service=False) is Presence.OUT_OF_SERVICE


def test_topics() -> None:
    topics = Topics("office 1")
    assert topics.events("Local/bob") == "tapievent/v1/office%201/line/Local%2Fbob/events"
    assert topics.parse_line_topic(topics.request("Local/bob", "dial")) == (
        "Local/bob",
        "request/dial",
    )
    with pytest.raises(SchemeError):
        topics.parse_line_topic("tapievent/v1/other/line/x/state")
    with pytest.raises(SchemeError):
        topics.parse_line_topic(topics.base + "/line/Local/bob/state")  # unescaped '/'


def test_parse_request() -> None:
    dial = parse_request("dial", "Local/bob", b'{"destination": "5551234"}', b"c-1")
    assert (dial.destination, dial.request_id) == ("5551234", "c-1")
    hang = parse_request("hangup", "Local/bob", b'{"call": "1.2", "id": "r9"}')
    assert (hang.call, hang.request_id) == ("1.2", "r9")
    digits = parse_request("digits", "Local/bob", b'{"action_id": "a", "digits": "12#"}')
    assert digits.digits == "12#"


@pytest.mark.parametrize(
    ("verb", "body", "error"),
    [
        ("ring", b"{}", RequestError.UNKNOWN_VERB),
        ("dial", b"not json", RequestError.BAD_REQUEST),
        ("dial", b"[1]", RequestError.BAD_REQUEST),
        ("dial", b'{"destination": "555\\r\\nAction: Logoff"}', RequestError.BAD_REQUEST),
        ("dial", b'{"destination": ""}', RequestError.BAD_REQUEST),
        ("hangup", b"{}", RequestError.BAD_REQUEST),
        ("hangup", b'{"call": "a", "action_id": "b"}', RequestError.BAD_REQUEST),
        ("hangup", b'{"call": "a\\nb"}', RequestError.BAD_REQUEST),
        ("digits", b'{"call": "a", "digits": "x"}', RequestError.BAD_REQUEST),
        ("dial", b" " * 5000, RequestError.BAD_REQUEST),
    ],
)
def test_parse_request_refuses(verb: str, body: bytes, error: RequestError) -> None:
    with pytest.raises(RequestRefused) as info:
        parse_request(verb, "Local/bob", body)
    assert info.value.error is error


@given(st.binary(max_size=300), st.sampled_from(["dial", "hangup", "transfer", "digits", "x"]))
def test_parse_request_never_crashes(body: bytes, verb: str) -> None:
    try:
        request = parse_request(verb, "Local/bob", body)
    except RequestRefused:
        return
    for value in (request.destination, request.call, request.digits, request.action_id):
        assert value is None or not set(value) & set("\r\n\0")


def test_recent_requests_is_bounded() -> None:
    recent: RecentRequests[int] = RecentRequests(3)
    for i in range(10):
        recent.put(("l", "dial", str(i)), i)
    assert len(recent) == 3
    assert recent.get(("l", "dial", "9")) == 9
    assert recent.get(("l", "dial", "0")) is None


def test_docs_mqtt_examples_run(tmp_path: pathlib.Path) -> None:
    assert run_python_blocks("mqtt.md", tmp_path) == 1


def test_docs_mqtt_gateway_command_parses() -> None:
    (command,) = [code for _, code in blocks("mqtt.md", "text") if "tapievent gateway" in code]
    args = build_parser().parse_args(shlex.split(command.replace("\\\n", " "))[1:])
    assert (args.command, args.pbx, args.lines) == (
        "gateway",
        "office",
        ["PJSIP/bob", "PJSIP/alice"],
    )
    assert args.func is gateway_cli.run


def test_docs_mqtt_names_the_shipped_examples() -> None:
    text = (DOCS / "mqtt.md").read_text(encoding="utf-8")
    for target in re.findall(r"\]\((\.\./[^)#]+)", text):
        assert (DOCS / target).resolve().exists(), target
