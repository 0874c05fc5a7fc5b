"""Find the TAPI event in an AMI message of any Asterisk version (protocol.md sections 3-5).

:func:`extract_tapievent` recognises a TAPI UserEvent, finds its TAPIEVENT
body and says where its call key comes from. Only the headers in the
positions Asterisk itself writes them count (ami-versions.md 2.1, 2.2):

* 1.2: ``Event: UserEventTAPI``, ``Channel``, ``Uniqueid``, then the body.
* 1.4-1.8: ``UserEvent: TAPI``, then one line per argument, no Uniqueid.
* 10/11: ``UserEvent: TAPI``, ``Uniqueid``, then the arguments.
* 12+: the channel snapshot (with ``CallerIDName`` before ``Uniqueid``), then
  ``UserEvent: TAPI``, then ``key: value`` per argument.

So a body counts only after ``UserEvent:``, and the call key is the
``Uniqueid`` before it (12+), right after it (10/11), or before the body
(1.2). On Asterisk 12.0 to 13.4 (AMI 2.0.0 to 2.7.x) the snapshot's
``CallerIDName``, ``ConnectedLineName`` and ``ChanVariable`` values are not
escaped (``13.4.0:main/manager_channels.c``; escaping came with 13.5,
commit f5d5aa67dc), so a caller name holding ``\\r\\n`` adds header lines
before Asterisk's own ``Uniqueid`` and ``UserEvent:``. There, and when the
AMI version is not known, a frame with two ``UserEvent:`` headers or two
``Uniqueid`` headers before ``UserEvent:`` cannot be read safely -- either
copy may be the forged one -- and yields a ``forged-header`` diagnostic
instead of an event. What no rule inside one frame can stop: a name holding
a blank line ends Asterisk's frame early and makes a whole frame of its own
(docs/protocol.md section 6).
"""

from __future__ import annotations

import re
from typing import Final

import attrs

from ._diagnostics import DiagnosticCode
from ._events import Diagnostic
from ._lexical import WSP
from ._parse import TapiEventSyntaxError, parse_tapievent
from ._values import ExtractedEvent
from .ami_codec import Message

__all__ = ["extract_tapievent"]

_FIRST_SNAPSHOT_AMI: Final = (2,)
"""Asterisk 12.0 (AMI 2.0.0): the first with a channel snapshot on UserEvents."""
_FIRST_ESCAPED_AMI: Final = (2, 8)
"""Asterisk 13.5 (AMI 2.8.0): the first that C-escapes names in the snapshot."""

_TAPIEVENT_WORD: Final = re.compile(r"[ \t]*TAPIEVENT(?=[ \t]|\Z)", re.IGNORECASE)
_TAPIEVENT_COLON: Final = re.compile(r"[ \t]*TAPIEVENT[ \t]*:", re.IGNORECASE)

_EMPTY_BODY: Final = (
    "a TAPI UserEvent without a TAPIEVENT body: write UserEvent(TAPI,TAPIEVENT: <command>)"
)
_LEGACY: Final = (
    "UserEvent(TAPI|...) uses the pipe separator of Asterisk 1.2/1.4; "
    "from 1.6 on write UserEvent(TAPI,TAPIEVENT: ...)"
)
_MISSING_COLON: Final = (
    "no colon after TAPIEVENT: write 'TAPIEVENT: ...'; Asterisk 12 and later "
    "silently drop a UserEvent argument without a colon"
)
_MISPLACED: Final = (
    "{count} TAPIEVENT line{s} before 'UserEvent:', where Asterisk never writes one, "
    "ignored: a caller name with line breaks (Asterisk 12.0-13.4) forged {them}"
)
_AMBIGUOUS: Final = (
    "{count} '{name}' headers before the body, where Asterisk writes one: a caller name "
    "with line breaks (Asterisk 12.0-13.4) forged the others, and which is Asterisk's "
    "cannot be told, so the event was dropped"
)


def names_forgeable(ami_version: tuple[int, ...] | None) -> bool:
    """Whether a caller's name can add header lines before ``UserEvent:`` on this server.

    True for AMI 2.0.0 up to 2.7.x (Asterisk 12.0-13.4), and when the version
    is not known (no banner seen, or one without a number): then the
    extractor must assume the worst.
    """
    if not ami_version:
        return True
    return _FIRST_SNAPSHOT_AMI <= ami_version < _FIRST_ESCAPED_AMI


@attrs.frozen(slots=True)
class _Body:
    text: str
    index: int  # header position, -1 for the legacy UserEvent value
    missing_colon: bool


def _folded(name: str) -> str:
    return name.strip(WSP).lower()


def _body_of(name: str, value: str, index: int) -> _Body | None:
    """The TAPIEVENT body header ``index`` carries, if any."""
    folded = name.strip(WSP)
    if folded and folded[:9].upper() != "TAPIEVENT":
        return None  # the common case: a snapshot or other body header
    if folded.upper() == "TAPIEVENT":
        return _Body(value, index, False)
    if folded == "":
        # A line without a colon (kept by 1.4-11): "TAPIEVENT [..] ...".
        word = _TAPIEVENT_WORD.match(value)
        return None if word is None else _Body(value[word.end() :], index, True)
    # The colon came later in the line ("TAPIEVENT SET CALLERID a:b"): the
    # decoder cut the line there; put it back together.
    word = _TAPIEVENT_WORD.match(folded)
    return None if word is None else _Body(folded[word.end() :] + ":" + value, index, True)


def _legacy_body(legacy: str) -> _Body | None:
    colon = _TAPIEVENT_COLON.match(legacy)
    if colon is not None:
        return _Body(legacy[colon.end() :], -1, False)
    word = _TAPIEVENT_WORD.match(legacy)
    return None if word is None else _Body(legacy[word.end() :], -1, True)


def _bodies(message: Message, legacy: str | None) -> list[_Body]:
    """Every TAPIEVENT body of ``message`` in wire order."""
    out = []
    if legacy is not None:
        body = _legacy_body(legacy)
        if body is not None:
            out.append(body)
    for index, (name, value) in enumerate(message.headers):
        body = _body_of(name, value, index)
        if body is not None:
            out.append(body)
    return out


@attrs.frozen(slots=True)
class _Shape:
    """Where Asterisk's own lines are in one TAPI UserEvent."""

    anchor: int  # index of the UserEvent: header, -1 on 1.2 (Event: UserEventTAPI)
    legacy: str | None  # the body inside a 1.6+ "UserEvent: TAPI|TAPIEVENT: ..." value


def _shape(message: Message, event: str, forgeable: bool) -> _Shape | Diagnostic | None:
    """The shape of a TAPI UserEvent, ``None`` for any other message, or a Diagnostic
    when forged ``UserEvent:`` lines leave Asterisk's own one unknown."""
    event_name = event.strip(WSP).lower()
    if event_name == "usereventtapi":  # Asterisk 1.2
        return _Shape(-1, None)
    if event_name != "userevent":
        return None
    anchors = [
        (i, v.strip(WSP)) for i, (n, v) in enumerate(message.headers) if _folded(n) == "userevent"
    ]
    tapi = [(i, v) for i, v in anchors if v.lower() == "tapi" or v[:5].lower() == "tapi|"]
    if not tapi:
        return None
    if forgeable and len(anchors) > 1:
        text = _AMBIGUOUS.format(count=len(anchors), name="UserEvent")
        return Diagnostic(DiagnosticCode.FORGED_HEADER, text, None, message)
    index, name = anchors[0]
    if (index, name) != tapi[0]:
        return None  # Asterisk's own UserEvent: names another event
    return _Shape(index, name[5:] if name[:5].lower() == "tapi|" else None)


def _header_key(
    message: Message, anchor: int, body_index: int, forgeable: bool
) -> str | Diagnostic | None:
    """The ``Uniqueid`` Asterisk itself put on the event, if any.

    Only a header in the position Asterisk writes it counts -- before the
    ``UserEvent:`` header (12+ snapshot), right after it (10/11), or before
    the body line (1.2) -- so a ``Uniqueid:`` forged through the body by a
    caller id (section 6) is not taken for the call key. Where names are
    forgeable, two before ``UserEvent:`` are a Diagnostic: either may be
    the caller's.
    """
    headers = message.headers
    limit = anchor if anchor >= 0 else body_index
    before = [i for i in range(limit) if _folded(headers[i][0]) == "uniqueid"]
    if forgeable and anchor >= 0 and len(before) > 1:
        text = _AMBIGUOUS.format(count=len(before), name="Uniqueid")
        return Diagnostic(DiagnosticCode.FORGED_HEADER, text, None, message)
    if before:
        chosen = before[0]
    elif (
        anchor >= 0 and anchor + 1 < len(headers) and _folded(headers[anchor + 1][0]) == "uniqueid"
    ):
        chosen = anchor + 1
    else:
        return None
    return headers[chosen][1].strip(WSP) or None


def extract_tapievent(
    message: Message, *, ami_version: tuple[int, ...] | None = None
) -> ExtractedEvent | Diagnostic | None:
    """Recognise a TAPI event in an AMI message of any Asterisk version.

    ``ami_version`` is the AMI version of the server's banner
    (the ``version`` of a :class:`~tapievent.Banner`), ``None`` when unknown; it
    says whether caller names can forge header lines (Asterisk 12.0-13.4).
    Unknown is treated as "they can", which refuses only frames no Asterisk
    writes on its own.

    Returns ``None`` when ``message`` is not a TAPI UserEvent, an
    :class:`~tapievent.model.ExtractedEvent` when it carries a valid
    TAPIEVENT (with non-fatal diagnostics ``legacy-syntax``,
    ``missing-colon``, ``duplicate-tapievent``, ``forged-header``), or a
    :class:`~tapievent.model.Diagnostic` ``empty-body`` / ``syntax-error`` /
    ``forged-header`` when it is a TAPI event that cannot be used. Never raises.
    """
    event = message.get("Event")
    if event is None:
        return None
    forgeable = names_forgeable(ami_version)
    if event == "UserEvent":
        result = _fast_extract(message)
        if result is not False:
            return result  # type: ignore[return-value]
    return _general_extract(message, event, forgeable)


def _second(text: str, needle: str, first: int, end: int) -> bool:
    """Whether ``needle`` occurs again in ``text[first + 1:end]`` (overlaps included)."""
    return text.find(needle, first + 1, end) >= 0


def _fast_extract(message: Message) -> ExtractedEvent | Diagnostic | bool | None:
    """The common 10+ shape in one pass of C-level operations, or False.

    Applies when every header name is plain ASCII without blanks, exactly one
    name starts with ``TAPIEVENT`` (ignoring case), it is ``TAPIEVENT`` itself
    and comes after the one ``UserEvent: TAPI``, and at most one ``Uniqueid``
    precedes that. Then _bodies finds that one body, with no diagnostic, and
    the rules of _header_key reduce to index arithmetic on the folded names;
    anything else (False) goes through the general code below.
    """
    headers = message.headers
    if not headers:
        return False
    # "\nname\nname\n...\n": a name is found with one find() and its index
    # is the number of "\n" before it.
    joined = "\n" + "\n".join([name for name, _ in headers]) + "\n"
    if not joined.isascii():
        return False
    folded = joined.lower()
    if (
        " " in folded
        or "\t" in folded
        or "\n\n" in folded  # a colon-less line (empty name)
        or folded.count("\n") != len(headers) + 1  # a line break inside a name
        or folded.count("\ntapievent") != 1
    ):
        return False
    body_at = folded.find("\ntapievent\n")
    userevent_at = folded.find("\nuserevent\n")
    if body_at < userevent_at or userevent_at < 0:
        return False
    uniqueid_at = folded.find("\nuniqueid\n", 0, userevent_at + 1)
    if _second(folded, "\nuserevent\n", userevent_at, len(folded)) or (
        uniqueid_at >= 0 and _second(folded, "\nuniqueid\n", uniqueid_at, userevent_at + 1)
    ):
        return False
    userevent_index = folded.count("\n", 0, userevent_at)
    name = headers[userevent_index][1]
    if name != "TAPI" and name.strip(WSP).lower() != "tapi":
        return False
    if uniqueid_at < 0 and folded.startswith("uniqueid\n", userevent_at + 11):
        uniqueid_at = userevent_at + 10  # right after UserEvent: (10/11)
    header_key = None
    if uniqueid_at >= 0:
        header_key = headers[folded.count("\n", 0, uniqueid_at)][1].strip(WSP) or None
    return _result(message, headers[folded.count("\n", 0, body_at)][1], header_key, [])


def _result(
    message: Message, text: str, header_key: str | None, diagnostics: list[Diagnostic]
) -> ExtractedEvent | Diagnostic:
    """Parse the chosen body and pick the call key: the spec's ``~id``, else the header's."""
    if not text.strip(WSP):
        return Diagnostic(DiagnosticCode.EMPTY_BODY, _EMPTY_BODY, header_key, message)
    try:
        parsed = parse_tapievent(text)
    except TapiEventSyntaxError as error:
        return Diagnostic(DiagnosticCode.SYNTAX_ERROR, f"TAPIEVENT {error}", header_key, message)
    key: str | None
    if parsed.spec.unique_id is not None:
        key, source = parsed.spec.unique_id, "spec"
    elif header_key is not None:
        key, source = header_key, "header"
    else:
        return ExtractedEvent(parsed, None, None, message, tuple(diagnostics))
    if key != header_key:
        # The findings concern this event's call: give them its key (on
        # 1.4-1.8 the spec's ~uniqueid is the only key there is).
        diagnostics = [attrs.evolve(d, call_key=key) for d in diagnostics]
    return ExtractedEvent(parsed, key, source, message, tuple(diagnostics))


def _general_extract(
    message: Message, event: str, forgeable: bool
) -> ExtractedEvent | Diagnostic | None:
    # Every shape of every version, header by header (the reference that
    # _fast_extract must agree with).
    shape = _shape(message, event, forgeable)
    if not isinstance(shape, _Shape):
        return shape
    bodies = _bodies(message, shape.legacy)
    misplaced = [b for b in bodies if 0 <= b.index < shape.anchor]
    if misplaced:
        bodies = [b for b in bodies if not 0 <= b.index < shape.anchor]
    first_index = bodies[0].index if bodies else len(message.headers)
    header_key = _header_key(message, shape.anchor, first_index, forgeable)
    if isinstance(header_key, Diagnostic):
        return header_key
    diagnostics: list[Diagnostic] = []
    if misplaced:
        many = len(misplaced) > 1
        text = _MISPLACED.format(
            count=len(misplaced), s="s" if many else "", them="them" if many else "it"
        )
        diagnostics.append(Diagnostic(DiagnosticCode.FORGED_HEADER, text, header_key, message))
    if shape.legacy is not None:
        diagnostics.append(Diagnostic(DiagnosticCode.LEGACY_SYNTAX, _LEGACY, header_key, message))
    if not bodies or not bodies[0].text.strip(WSP):
        return Diagnostic(DiagnosticCode.EMPTY_BODY, _EMPTY_BODY, header_key, message)
    if bodies[0].missing_colon:
        diagnostics.append(
            Diagnostic(DiagnosticCode.MISSING_COLON, _MISSING_COLON, header_key, message)
        )
    if len(bodies) > 1:
        diagnostics.append(
            Diagnostic(
                DiagnosticCode.DUPLICATE_TAPIEVENT,
                f"{len(bodies) - 1} more TAPIEVENT bod{'y' if len(bodies) == 2 else 'ies'} "
                "after the first were ignored; extra ones come from unquoted text such as a "
                "caller id: wrap caller-controlled values in ${QUOTE(...)}",
                header_key,
                message,
            )
        )
    return _result(message, bodies[0].text, header_key, diagnostics)
