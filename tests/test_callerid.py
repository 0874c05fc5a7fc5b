"""CallerId (tapievent._callerid): read and written as Asterisk's ast_callerid_parse() does."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tapievent._callerid import CallerId
from tapievent._lexical import TapiEventValueError


@pytest.mark.parametrize(
    ("text", "name", "number"),
    [
        ('"Alice Caller" <5550100>', "Alice Caller", "5550100"),
        ("Alice Caller <5550100>", "Alice Caller", "5550100"),
        ('"Smith, Bob" <5551234>', "Smith, Bob", "5551234"),
        ("Smith, Bob <5551234>", "Smith, Bob", "5551234"),  # quotes removed by 1.6+ splitting
        ("<5550100>", None, "5550100"),
        ("5550100", None, "5550100"),
        ("(555) 010-0100", None, "5550100100"),  # ast_shrink_phone_number() punctuation
        ("555.0100", None, "5550100"),
        ("5550100.", "5550100.", None),  # a trailing '.' is kept, so it is no number
        ("+49 30 1234", None, "+49301234"),
        ("*86#", None, "*86#"),
        ("Bob", "Bob", None),
        ('"Bob"', "Bob", None),
        ("  Bob  ", "Bob", None),
        ("555 1234 x", "555 1234 x", None),  # not all phone characters: a name
        ("", None, None),
        ('"" <>', None, None),
        ('"O\\"Neil \\\\ Jr" <1>', 'O"Neil \\ Jr', "1"),  # ${QUOTE()}-style escapes
        ('"Bob <home>" <1>', "Bob <home>", "1"),  # the last '<' starts the number
        ("<unknown>", None, "unknown"),
        ('"unclosed <1>', "unclosed", "1"),
    ],
)
def test_callerid_parse_like_asterisk(text: str, name: str | None, number: str | None) -> None:
    assert CallerId.parse(text) == CallerId(name, number)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (CallerId("Alice", "100"), '"Alice" <100>'),
        (CallerId(None, "100"), "100"),
        (CallerId(None, "1-00"), "<1-00>"),
        (CallerId("Bob", None), '"Bob"'),
        (CallerId("a<b", None), '"a<b" <>'),
        (CallerId('say "hi"', None), '"say \\"hi\\""'),
        (CallerId(), ""),
    ],
)
def test_callerid_format_is_canonical(value: CallerId, text: str) -> None:
    assert str(value) == value.format() == text
    assert CallerId.parse(text) == value


def test_empty_callerid_parts_mean_absent() -> None:
    assert CallerId("", "") == CallerId()


_callerid_text = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\r\n\0"), max_size=30
)


@given(
    st.builds(
        CallerId,
        st.none() | _callerid_text,
        st.none() | _callerid_text.filter(lambda s: "<" not in s and ">" not in s),
    )
)
def test_callerid_round_trip(value: CallerId) -> None:
    assert CallerId.parse(value.format()) == value


@given(st.text(max_size=60))
def test_callerid_parse_accepts_any_text(text: str) -> None:
    value = CallerId.parse(text)
    assert CallerId.parse(value.format()) == value


def test_callerid_refuses_what_no_ami_value_can_carry() -> None:
    with pytest.raises(TapiEventValueError, match="name"):
        CallerId("Mallory\r\nEvent: x", "100")
    with pytest.raises(TapiEventValueError, match="'<' or '>'"):
        CallerId("Bob", "1<2")
