"""tapievent.grammar: the face of the TAPIEVENT grammar, and protocol.md's examples.

The jobs behind it are tested per module: tests/test_grammar_parse.py
(parse and format), test_grammar_extract.py and test_grammar_forgery.py
(extract), test_grammar_work.py (linear work), test_lexical.py (the shared
character rules) and test_dialplan_render.py (to_dialplan).
"""

from __future__ import annotations

from pathlib import Path

from docs_examples import run_python_blocks

import tapievent
from tapievent import _extract, _format, _parse, grammar
from tapievent.dialplan import render


def test_protocol_docs_examples_run(tmp_path: Path) -> None:
    assert run_python_blocks("protocol.md", tmp_path) >= 4


def test_grammar_is_the_face_of_parse_format_and_extract() -> None:
    assert grammar.parse_tapievent is _parse.parse_tapievent
    assert grammar.format_tapievent is _format.format_tapievent
    assert grammar.extract_tapievent is _extract.extract_tapievent
    assert grammar.TapiEventSyntaxError is _parse.TapiEventSyntaxError
    assert grammar.DIALSTATUS_MODES is _parse.DIALSTATUS_MODES
    assert set(grammar.__all__) == {
        "DIALSTATUS_MODES",
        "TapiEventSyntaxError",
        "extract_tapievent",
        "format_tapievent",
        "parse_tapievent",
    }
    # One name per function: no aliases, and dialplan work is not grammar's.
    for gone in ("parse", "format", "extract", "extract_event", "to_dialplan"):
        assert not hasattr(grammar, gone), gone


def test_public_names_are_reexported() -> None:
    assert tapievent.parse_tapievent is grammar.parse_tapievent
    assert tapievent.format_tapievent is grammar.format_tapievent
    assert tapievent.extract_tapievent is grammar.extract_tapievent
    assert tapievent.TapiEventSyntaxError is grammar.TapiEventSyntaxError
    assert tapievent.to_dialplan is render.to_dialplan
    assert tapievent.asterisk_version is render.asterisk_version
    assert tapievent.DialplanError is render.DialplanError
    assert tapievent.CALLER_CONTROLLED is render.CALLER_CONTROLLED
