"""The lexical rules of the TAPIEVENT text (tapievent._lexical), shared by values and parser.

The fast path's ASCII patterns must be subsets of the general rules they
shorten: a text the pattern takes is a text the general rule takes, so the
fast path can skip the general checks without building a value the
validators would refuse.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tapievent import _lexical as lexical


@given(st.from_regex(re.compile(lexical.FAST_ID), fullmatch=True))
def test_fast_ids_are_unique_ids(text: str) -> None:
    assert lexical.unique_id_problem(text) is None


@given(st.from_regex(re.compile(lexical.FAST_LINE), fullmatch=True))
def test_fast_lines_are_line_names(text: str) -> None:
    assert lexical.line_problem(text) is None


@given(st.from_regex(re.compile(lexical.FAST_REST), fullmatch=True))
def test_fast_callerid_texts_keep_their_edges(text: str) -> None:
    assert lexical.edge_blank_problem(text, "text") is None


@given(st.text(max_size=20))
def test_control_problem_is_the_control_class(text: str) -> None:
    expected = next(
        (i for i, ch in enumerate(text) if (ord(ch) < 32 and ch != "\t") or ch == "\x7f"), None
    )
    assert lexical.control_problem(text) == expected


@pytest.mark.parametrize(
    ("line", "index", "words"),
    [
        ("", 0, "empty line name"),
        ("a b", 1, "blank"),
        ("a&b", 1, "'&'"),
        ("~a", 0, "unique id"),
        ("!a", 0, "excluded line"),
        ("a\x00", 1, "U+0000"),
    ],
)
def test_line_problems_say_where_and_why(line: str, index: int, words: str) -> None:
    problem = lexical.line_problem(line)
    assert problem is not None and problem[0] == index and words in problem[1]


def test_words_and_split_words_agree() -> None:
    text = " LINE_CALLSTATE\t LINECALLSTATE_IDLE  0x1 "
    assert [w for _, w in lexical.words(text, 0, len(text))] == lexical.split_words(text)
    assert lexical.words(text, 0, len(text))[0] == (1, "LINE_CALLSTATE")


def test_the_vocabulary_covers_every_state_and_mode() -> None:
    assert len(lexical.STATES) == 16
    assert lexical.state_name(lexical.STATES["IDLE"]) == "LINECALLSTATE_IDLE"
    state, value = lexical.MODE_NAMES["LINEDISCONNECTMODE_BUSY"]
    assert lexical.MODE_TEXT[(state, value)] == "LINEDISCONNECTMODE_BUSY"
