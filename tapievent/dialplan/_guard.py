"""Caller data in UserEvent on Asterisk 12+: the ``TryExec`` guard and its pitfall.

From 12 on ``UserEvent`` builds a JSON object from its arguments; a value
that is not valid UTF-8 makes the application fail and the channel hang up.
``TryExec(UserEvent(...))`` keeps the call (it only sets ``TRYSTATUS``) but
expands its argument a second time, so caller data written straight into it
is expanded twice. The safe form writes each ``$`` as a variable holding a
plain ``$`` (``Set(TAPI_DOLLAR=$)``, as ``tapievent dialplan`` does): the
first expansion rebuilds the call and TryExec's own expands it once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import attrs

from ._args import iter_refs
from .conf import Priority

_SET_DOLLAR = re.compile(r"\s*([A-Za-z0-9_]+)\s*=\s*\$\s*\Z")


def dollar_variables(steps: Iterable[Priority]) -> frozenset[str]:
    """Names the dialplan sets to a plain ``$`` (``Set(NAME=$)``), upper-cased."""
    names = set()
    for step in steps:
        if step.app.lower() == "set" and (match := _SET_DOLLAR.match(step.data)):
            names.add(match.group(1).upper())
    return frozenset(names)


def first_expansion_refs(step: Priority, names: frozenset[str]) -> list[tuple[int, str]]:
    """(offset, name) of the ``names`` referenced in ``step.data`` as written."""
    return [(r.offset, r.name) for r in iter_refs(step.data) if r.name.upper() in names]


def resolve(data: str, dollars: frozenset[str]) -> str:
    """``data`` after the first expansion, for the parts a linter can know: each
    ``${V}`` of a variable holding ``$`` becomes ``$``."""
    if not dollars:
        return data
    pattern = re.compile(r"\$\{(" + "|".join(map(re.escape, sorted(dollars))) + r")\}", re.I)
    return pattern.sub("$", data)


def inner_user_event(step: Priority, dollars: frozenset[str]) -> Priority | None:
    """The ``UserEvent`` a ``TryExec`` step runs, as a step of its own, or None.

    Its columns are the TryExec's (the text moved when ``${TAPI_DOLLAR}``
    became ``$``).
    """
    text = resolve(step.data, dollars).strip()
    name, paren, rest = text.partition("(")
    if not paren or name.strip().lower() != "userevent":
        return None
    end = rest.rfind(")")
    inner = rest[:end] if end >= 0 else rest
    return attrs.evolve(step, app="UserEvent", data=inner, data_columns=())
