"""``tapievent dialplan``: print extensions.conf that raises TAPI events."""

from __future__ import annotations

import argparse
import sys

from ..dialplan.generate import SUPPORTED_VERSIONS, DialplanError, generate
from ._shared import asterisk_release


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "dialplan",
        help="print ready-to-paste extensions.conf for an Asterisk version",
        description=(
            "Print extensions.conf raising TAPI events for a ring group of LINEs: inbound calls, "
            "the answered hook (CONNECTED / answered elsewhere), IDLE at hangup, and the "
            "outbound context tapievent's click-to-dial lands in. Tested versions: "
            + ", ".join(SUPPORTED_VERSIONS)
            + "."
        ),
    )
    parser.add_argument("--asterisk", required=True, metavar="VERSION", help="e.g. 1.4, 11, 22")
    parser.add_argument(
        "--line",
        required=True,
        action="append",
        dest="lines",
        metavar="NAME",
        help="a TAPI line: the device Dial rings, e.g. PJSIP/bob (repeat for a ring group)",
    )
    parser.add_argument("--context", default="tapi-inbound", help="inbound context name")
    parser.add_argument("--exten", default="s", help="inbound extension (default: s)")
    parser.add_argument(
        "--outbound-context", default="tapi-outbound", help="context click-to-dial lands in"
    )
    parser.add_argument(
        "--trunk",
        default=None,
        help="outbound dial string with ${EXTEN} for the number (default: PJSIP/${EXTEN}@trunk, "
        "SIP/trunk/${EXTEN} before 12)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        asterisk_release(args.asterisk)
        text = generate(
            args.asterisk,
            args.lines,
            context=args.context,
            exten=args.exten,
            outbound_context=args.outbound_context,
            trunk=args.trunk,
        )
    except DialplanError as exc:
        print(f"tapievent dialplan: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    return 0
