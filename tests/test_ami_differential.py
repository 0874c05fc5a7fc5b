"""The decoder against a deliberately simple reference decoder written from docs/ami.md.

The reference reads the whole stream at once, with plain ``find`` and
``split`` and no state between calls: it is slow and obviously follows the
documented rules. Any stream, cut into any reads, must give the decoder's
frames and errors exactly as the reference gives them.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from test_ami_codec import decode_all

from tapievent.ami_codec import Banner, Message
from tapievent.testing import strategies as ami_st

Outcome = Banner | Message | tuple[str, int]

BANNER = b"Asterisk Call Manager"
MARKER = b"--END COMMAND--"


def header(line: bytes) -> tuple[str, str]:
    # docs/ami.md "Lines and headers": name up to the first colon, blanks
    # stripped; one space after the colon removed; no colon: empty name.
    text = line.decode("utf-8", "surrogateescape")
    if ":" not in text:
        return ("", text)
    name, value = text.split(":", 1)
    return (name.strip(" \t"), value[1:] if value.startswith(" ") else value)


def lines_of(frame: bytes) -> list[bytes]:
    # Lines end in LF and lose one CR before it.
    return [line[:-1] if line.endswith(b"\r") else line for line in frame.split(b"\n")]


def follows(frame: bytes) -> Message:
    # docs/ami.md "Command output": the first line, then the CRLF lines with
    # a colon are headers; the output runs from the first other line to the
    # marker, which ends the last line.
    body_at = frame.index(b"\n") + 1
    headers = [header(frame[: body_at - 1].rstrip(b"\r"))]
    while True:
        end = frame.find(b"\n", body_at)
        line = frame[body_at:end]
        if not (line.endswith(b"\r") and b":" in line and not line[:-1].endswith(MARKER)):
            break
        headers.append(header(line[:-1]))
        body_at = end + 1
    body = frame[body_at:]
    body = body[:-2] if body.endswith(b"\r\n") else body[:-1]
    return Message(tuple(headers), body[: -len(MARKER)].decode("utf-8", "surrogateescape"))


def marker_line_end(data: bytes, start: int) -> int:
    # Just past the first line that ends with the marker, or -1.
    at = start
    while (k := data.find(MARKER, at)) >= 0:
        e = k + len(MARKER)
        if data[e : e + 1] == b"\n":
            return e + 1
        if data[e : e + 2] == b"\r\n":
            return e + 2
        at = k + 1
    return -1


def reference(data: bytes) -> list[Outcome]:
    out: list[Outcome] = []
    i = 0
    legacy = True  # Follows replies exist before AMI 3 (Asterisk 14)
    # docs/ami.md "The banner": the first line, when the stream starts with
    # the prefix (a stream that stops inside the prefix is an unfinished frame).
    if data and (data.startswith(BANNER) or BANNER.startswith(data[: len(BANNER)])):
        lf = data.find(b"\n")
        if lf < 0 or not data.startswith(BANNER):
            return [("TruncatedFrame", 0)]
        line = data[: lf - 1] if data[lf - 1 : lf] == b"\r" else data[:lf]
        banner = Banner.from_line(line.decode("utf-8", "surrogateescape"))
        out.append(banner)
        legacy = banner.version < (3,)
        i = lf + 1
    while True:
        while data[i : i + 1] == b"\n" or data[i : i + 2] == b"\r\n":
            i += 1 if data[i : i + 1] == b"\n" else 2
        rest = data[i:]
        if rest in (b"", b"\r"):
            return out
        first = rest.split(b"\n", 1)[0].lower()
        if legacy and b"\n" in rest and first in (b"response: follows", b"response: follows\r"):
            end = marker_line_end(data, i)
            blank = data.find(b"\n\r\n", i)
            if blank >= 0 and (end < 0 or blank < end - 1):
                out.append(("MissingEndMarker", i))
                i = blank + 3
                continue
            if end < 0:
                return [*out, ("TruncatedFrame", i)]
            out.append(follows(data[i:end]))
            i = end
            continue
        ends = [k for k in (data.find(b"\n\r\n", i), data.find(b"\n\n", i)) if k >= 0]
        if not ends:  # the stream ends inside a frame, unless only CRs and LFs are left
            return [*out, ("TruncatedFrame", i)] if rest.strip(b"\r\n") else out
        end = min(ends)
        out.append(Message(tuple(header(line) for line in lines_of(data[i:end]))))
        i = end + (3 if data[end : end + 3] == b"\n\r\n" else 2)


def decoded(data: bytes, sizes: list[int]) -> list[Outcome]:
    return [x[:2] if isinstance(x, tuple) else x for x in decode_all(data, sizes)]


_TOKENS = st.sampled_from(
    [
        b"\r\n",
        b"\n",
        b"\r",
        b"\r\n\r\n",
        b"\n\r\n",
        b"Event: X",
        b"Uniqueid: 7",
        b"A: 1",
        b": ",
        b":",
        b" ",
        b"x",
        b"\xff",
        b"\xc3",
        b"\x00",
        b"Response: Follows\r\n",
        b"response: follows\n",
        b"--END COMMAND--",
        b"Asterisk Call Manager/1.0\r\n",
    ]
)
_HEADS = st.sampled_from(
    [b"", b"Asterisk Call Manager/1.0\r\n", b"Asterisk Call Manager/11.0.0\n", b"Asterisk Call"]
)


@given(_HEADS, st.lists(_TOKENS, max_size=50).map(b"".join), st.data())
def test_decoder_equals_reference_on_token_streams(
    head: bytes, body: bytes, data: st.DataObject
) -> None:
    stream = head + body
    chunks = data.draw(ami_st.chunkings(stream))
    want = reference(stream)
    assert decoded(stream, []) == want
    assert decoded(stream, [len(c) for c in chunks] or [1]) == want
    assert decoded(stream, [1]) == want


@given(ami_st.ami_streams(), st.data())
def test_decoder_equals_reference_on_generated_ami(stream: bytes, data: st.DataObject) -> None:
    chunks = data.draw(ami_st.chunkings(stream))
    want = reference(stream)
    assert decoded(stream, [len(c) for c in chunks] or [1]) == want


def test_reference_on_the_documented_examples() -> None:
    # The reference itself reads the docs' shapes as the docs say.
    assert reference(b"Asterisk Call Manager/1.1\r\nEvent: A\r\nB:c\n\n") == [
        Banner((1, 1), "Asterisk Call Manager/1.1"),
        Message((("Event", "A"), ("B", "c"))),
    ]
    reply = b"Response: Follows\r\nPrivilege: Command\r\nx\n\ny--END COMMAND--\r\n\r\n"
    assert reference(reply) == [
        Message((("Response", "Follows"), ("Privilege", "Command")), "x\n\ny")
    ]
    assert reference(b"Event: A\r\n\r\nEvent: B") == [
        Message((("Event", "A"),)),
        ("TruncatedFrame", 12),
    ]
