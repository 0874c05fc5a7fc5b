"""Fuzz the TAPIEVENT grammar: ``parse`` raises only its syntax error, ``extract`` nothing.

Run (see fuzz/README.md)::

    python fuzz/fuzz_grammar.py fuzz/corpus/grammar -max_total_time=120

Each input is text after ``TAPIEVENT:`` (UTF-8 with surrogate escapes, as
the decoder produces it). ``parse`` must return an event or raise
``TapiEventSyntaxError``; the same text inside a UserEvent of each shape
Asterisk writes (1.2 ``UserEventTAPI``, 1.4-11 ``UserEvent: TAPI``, 12+
with a channel snapshot) must make ``extract`` return a result or a
diagnostic, never raise.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

try:  # atheris instruments the code under test as it is imported
    import atheris  # type: ignore[import-untyped,import-not-found,unused-ignore]
except ImportError:  # the seed replay (tests/test_fuzz_seeds.py) needs no atheris
    atheris = None

if atheris is not None and __name__ == "__main__":
    with atheris.instrument_imports(include=["tapievent"]):
        from tapievent import grammar
        from tapievent.ami_codec import Message
else:
    from tapievent import grammar
    from tapievent.ami_codec import Message


def _frames(text: str) -> list[Message]:
    return [
        Message((("Event", "UserEventTAPI"), ("Uniqueid", "1.1"), ("TAPIEVENT", text))),
        Message((("Event", "UserEvent"), ("UserEvent", "TAPI"), ("TAPIEVENT", text))),
        Message(
            (
                ("Event", "UserEvent"),
                ("Channel", "PJSIP/100-1"),
                ("Uniqueid", "1.2"),
                ("UserEvent", "TAPI"),
                ("TAPIEVENT", text),
            )
        ),
        Message((("Event", "UserEvent"), ("UserEvent", "TAPI,TAPIEVENT: " + text))),
    ]


def test_one_input(raw: bytes) -> None:
    text = raw.decode("utf-8", "surrogateescape")
    if "\r" in text or "\n" in text:
        text = text.replace("\r", "").replace("\n", "")  # one header value: no line breaks
    with contextlib.suppress(grammar.TapiEventSyntaxError):  # its only allowed error
        grammar.parse_tapievent(text)
    for message in _frames(text):
        grammar.extract_tapievent(message)


def main() -> None:
    if atheris is None:
        sys.exit("atheris is not installed: pip install atheris (see fuzz/README.md)")
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
