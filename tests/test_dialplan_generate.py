"""tapievent.dialplan.generate: right for each version, built on to_dialplan, lint-clean."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tapievent import grammar
from tapievent.dialplan import render
from tapievent.dialplan.conf import parse_dialplan
from tapievent.dialplan.generate import (
    DOLLAR_VARIABLE,
    SUPPORTED_VERSIONS,
    DialplanError,
    defer_expansion,
    generate,
)
from tapievent.dialplan.lint import lint

LINES = ["PJSIP/bob", "PJSIP/bobbett"]


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_generated_dialplan_passes_lint_for_its_version(version: str) -> None:
    text = generate(version, LINES)
    assert lint(text, render.asterisk_version(version)) == []


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_every_userevent_is_exactly_what_to_dialplan_renders(version: str) -> None:
    # No string template: each UserEvent re-renders identically from its parsed event.
    dp = parse_dialplan(generate(version, LINES))
    events = [p for p in dp.priorities() if p.app == "UserEvent"]
    assert len(events) >= 10
    for step in events:
        call = f"UserEvent({step.data})"
        body = call[len("UserEvent(TAPI,TAPIEVENT: ") : -1]
        # Undo the escaping for the version's splitter to get the event text back.
        event = grammar.parse_tapievent(re.sub(r"\\(.)", r"\1", body))
        assert render.to_dialplan(event, version) == call


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_version_specific_choices(version: str) -> None:
    v = render.asterisk_version(version)
    text = generate(version, LINES)
    steps = parse_dialplan(text).priorities()
    dials = [p.data for p in steps if p.app == "Dial"]
    userevents = [p.data for p in steps if p.app == "UserEvent"]
    if v < (1, 6):
        assert all(
            d.endswith("M(tapi-connected^${UNIQUEID})") or "M(tapi-answered" in d for d in dials
        )
        assert "[macro-tapi-connected]" in text and "Return()" not in text
        assert all(u.startswith("TAPI|") for u in userevents)
    else:
        assert all("U(tapi-" in d and "M(" not in d for d in dials)
        assert "[tapi-connected]" in text and "Return()" in text
        assert all(u.startswith("TAPI,") for u in userevents)
    assert ("exten => h,1," in text) == (v < (11,))
    assert ("hangup_handler_push" in text) == (v >= (11,))
    with_uid = [u for u in userevents if "[~" in u]
    if (1, 4) <= v < (10,):
        assert with_uid == userevents
    else:
        assert all("${ARG1}" in u for u in with_uid)
    quoted = [u for u in userevents if "SET CALLERID" in u]
    guarded = [p.data for p in steps if p.app == "TryExec"]
    if v >= (12,):
        # 12+: the name quoted on its own, the event under TryExec (expanded
        # there only) and no second SET CALLERID: when it fails, the tracker
        # takes the caller id from the channel's own headers, bytes intact.
        event = (
            "TAPI,TAPIEVENT: SET CALLERID ${QUOTE(${TAPI_CALLER_NAME})} "
            "<${QUOTE(${TAPI_CALLER_NUM})}>"
        )
        assert guarded == [defer_expansion(f"UserEvent({event})")]
        assert quoted == []
        assert "FILTER(" not in text
        return
    assert guarded == []
    assert quoted == [
        ("TAPI|TAPIEVENT: " if v < (1, 6) else "TAPI,TAPIEVENT: ")
        + ("[~${UNIQUEID}] " if (1, 4) <= v < (10,) else "")
        + (
            "SET CALLERID ${CALLERID(all)}"
            if v < (1, 4)
            else "SET CALLERID ${QUOTE(${CALLERID(all)})}"
        )
    ]


@given(st.text(alphabet="${}[]()aZ,\\", max_size=40))
def test_defer_expansion_leaves_only_the_dollar_variable(text: str) -> None:
    deferred = defer_expansion(text)
    # One expansion turns each ${TAPI_DOLLAR} into '$' and nothing else runs:
    # the deferred text holds no other reference.
    assert deferred.replace("${" + DOLLAR_VARIABLE + "}", "$") == text
    rest = deferred.replace("${" + DOLLAR_VARIABLE + "}", "")
    assert "$" not in rest


def test_options_reach_the_output() -> None:
    text = generate(
        "13",
        ["SIP/100"],
        context="from-trunk",
        exten="_0X.",
        outbound_context="click",
        trunk="IAX2/provider/${EXTEN}",
    )
    assert "[from-trunk]\n" in text and "exten => _0X.,1," in text
    assert (
        "[click]\n" in text and "Dial(IAX2/provider/${EXTEN},,U(tapi-answered^${UNIQUEID}))" in text
    )
    assert lint(text, (13,)) == []
    assert "Dial(SIP/trunk/${EXTEN}||M(" in generate("1.4", ["SIP/100"])
    assert "Dial(PJSIP/x/${EXTEN}," in generate("22", ["SIP/100"], trunk="PJSIP/x")


@pytest.mark.parametrize(
    ("lines", "kwargs", "message"),
    [
        ([], {}, "at least one line"),
        (["bob"], {}, "line 'bob' is not allowed"),
        (["SIP/a,b"], {}, "line 'SIP/a,b' is not allowed"),
        (["SIP/a;b"], {}, "not allowed"),
        (["SIP/a", "SIP/a"], {}, "once"),
        (["SIP/a"], {"context": "x y"}, "context 'x y'"),
        (["SIP/a"], {"context": "tapi-idle"}, "must differ"),
        (["SIP/a"], {"exten": "1,2"}, "extension"),
        (["SIP/a"], {"trunk": "SIP/x;y"}, "trunk"),
        (["SIP/a"], {"ring_seconds": 0}, "ring_seconds"),
    ],
)
def test_bad_input_is_refused_clearly(
    lines: list[str], kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(DialplanError, match=re.escape(message)):
        generate("22", lines, **kwargs)  # type: ignore[arg-type]


def test_unknown_version_is_refused() -> None:
    with pytest.raises(DialplanError):
        generate("9", LINES)


line_names = st.from_regex(r"(PJSIP|SIP|IAX2|DAHDI)/[A-Za-z0-9_.@:+=-]{1,12}", fullmatch=True)


@given(
    st.lists(line_names, min_size=1, max_size=4, unique=True), st.sampled_from(SUPPORTED_VERSIONS)
)
def test_any_valid_lines_give_a_clean_dialplan(lines: list[str], version: str) -> None:
    assert lint(generate(version, lines), render.asterisk_version(version)) == []
