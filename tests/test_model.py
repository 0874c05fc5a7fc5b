"""tapievent.model: the one face of the values, by concept.

The values live in private modules by concept (``_tapi``, ``_callerid``,
``_values``, ``_events``); ``tapievent.model`` re-exports each of their
public names as the very same object, and nothing else, so a program that
imports from it sees one namespace. The concepts themselves are tested in
tests/test_tapi.py, test_callerid.py, test_values.py and test_events.py.
"""

from __future__ import annotations

import types

import pytest

from tapievent import _callerid, _events, _records, _tapi, _values, model
from tapievent._lexical import TapiEventValueError

CONCEPTS: list[types.ModuleType] = [_tapi, _callerid, _values, _events, _records]


@pytest.mark.parametrize("module", CONCEPTS, ids=lambda m: m.__name__)
def test_model_reexports_every_public_name_of_each_concept(module: types.ModuleType) -> None:
    for name in module.__all__:
        assert getattr(model, name) is getattr(module, name), name


def test_model_exports_exactly_the_concepts_and_the_value_error() -> None:
    expected = {name for module in CONCEPTS for name in module.__all__}
    assert set(model.__all__) == expected | {"TapiEventValueError"}
    assert model.TapiEventValueError is TapiEventValueError


def test_each_concept_is_its_own_module() -> None:
    # The tapi.h numbers know nothing of Asterisk or the TAPIEVENT text, and
    # the tracker's events nothing of the TAPIEVENT values.
    assert model.LineCallState.__module__ == "tapievent._tapi"
    assert model.CallerId.__module__ == "tapievent._callerid"
    assert model.TargetSpec.__module__ == "tapievent._values"
    assert model.Diagnostic.__module__ == "tapievent._events"
    borrowed = {getattr(v, "__module__", None) for v in vars(_events).values()}
    assert "tapievent._values" not in borrowed
    assert not {getattr(v, "__module__", None) for v in vars(_tapi).values()} & {
        "tapievent._values",
        "tapievent._events",
        "tapievent._callerid",
    }
