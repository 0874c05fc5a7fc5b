"""``tapievent lint`` says what Asterisk's own loader says, on real 22 and 18.

A fixed subset of the Asterisk testsuite's dialplans (every file the linter
flags when this test was written, plus every 40th file, flagged or not) and
our own loader cases (tests/dialplans/loader/) are loaded into a real server;
each warning of the compared kinds must be reported by both, at the same file
and line. ``python -m live.lint_agreement`` (from tests/) runs all ~1,000.
"""

from __future__ import annotations

from .kit import Instance
from .lint_agreement import _sources, agreement, own_sources, table

PREFIX = "asterisk-testsuite/tests/"
SUFFIX = "/extensions.conf"
FLAGGED = (
    "apps/confbridge/confbridge_result/configs/ast1",
    "apps/queues/redirect/configs/ast1",
    "apps/voicemail/func_vmcount/configs/ast1",
    "bridge/hold_redirect/configs/ast1",
    "channels/pjsip/dialplan_functions/pjsip_channel/configs/ast1",
    "channels/pjsip/geolocation/round-trip/gml/configs/ast1",
    "channels/pjsip/message/message_send_ami/configs/ast1",
    "channels/pjsip/qualify/call_unreachable/configs/ast1",
    "channels/pjsip/resolver/srv/failover/out_of_dialog/timeout/configs/ast1",
    "channels/pjsip/resolver/srv/failover/out_of_dialog/transport_tcp/configs/ast1",
    "channels/pjsip/resolver/srv/failover/out_of_dialog/transport_udp/configs/ast1",
    "connected_line/subroutine/configs/ast1",
    "funcs/func_jitterbuffer/configs/ast1",
    "funcs/func_push/configs/ast1",
    "pbx/manager_extensions/configs/ast1",
    "redirecting/subroutine/configs/ast1",
    "rest_api/applications/channel-subscriptions/originate_to_dialplan/non_local_channels/configs/ast1",
    "rest_api/channels/originate_to_dialplan/configs/ast1",
    "rest_api/channels/redirect/nominal/configs/ast1",
    "rest_api/channels/redirect/nominal/configs/ast2",
    "rest_api/channels/redirect/nominal/configs/ast3",
    "rest_api/channels/redirect/nominal/configs/ast4",
    "rest_api/continue/configs/ast1",
    "rest_api/events/variables/configs/ast1",
)


def _subset() -> list[tuple[str, bytes]]:
    every = _sources(None, None)
    wanted = {PREFIX + name + SUFFIX for name in FLAGGED}
    return [item for i, item in enumerate(every) if item[0] in wanted or i % 40 == 0]


def test_lint_agrees_with_the_asterisk_loader(asterisk: Instance) -> None:
    sources = _subset() + own_sources()
    assert len(sources) > 50
    # An instance of its own: the testsuite's [globals] must not leak into the others.
    inst = Instance(asterisk.version, asterisk.prefix)
    inst.start()
    try:
        theirs, ours = agreement(inst, sources)
    finally:
        inst.stop()
        inst.remove()
    assert ours == theirs, table(theirs, ours)
    # every kind the comparison knows about occurs at least once
    assert len({kind for _, _, kind in theirs}) >= 12
