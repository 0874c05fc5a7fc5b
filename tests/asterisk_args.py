"""A model of what Asterisk does with a ``UserEvent(...)`` line, per version.

Tests use it to check ``dialplan.render.to_dialplan`` the way Asterisk would run
it, from the ``extensions.conf`` text to the AMI bytes a client receives
(ami-versions.md sections 2.1-2.4; splitter and QUOTE() behaviour read from
Asterisk's main/app.c, funcs/func_strings.c, main/config.c and
pbx/pbx_config.c):

1. the config reader: ``\\;`` becomes ``;``, an unescaped ``;`` starts a comment;
2. pbx_config takes the text between the first ``(`` and the last ``)``; on
   1.2/1.4 it also drops ``\\`` (escaping the next character) and ``'``
   (toggling a quote) and turns unquoted ``,`` into ``|``;
3. at run time ``${...}`` is substituted (nested references first; QUOTE()
   modelled; any other reference is looked up in a dict of values);
4. the result is split into arguments: 1.2's UserEvent at the first ``|``
   only; 1.4+ with ``__ast_app_separate_args`` (``|`` on 1.4, ``,`` from 1.6;
   ``"`` toggles and is removed, ``\\`` escapes the next character and is
   removed, ``( )`` protect, from 1.8 ``[ ]`` protect; quote/paren/bracket
   state carries over from argument to argument; at most 101 arguments, the
   last one holding the unsplit rest);
5. the event is rendered as that version writes it: 1.2 ``Event:
   UserEvent<name>`` + Channel + Uniqueid + the body line; 1.4-1.8 one line per
   argument and no Uniqueid; 10/11 the same plus ``Uniqueid:``; 12+ the
   channel snapshot, then ``key: value`` only for arguments with a colon
   (value stripped, key kept, last duplicate wins);
6. the bytes are decoded with tapievent's own AMIDecoder.
"""

from __future__ import annotations

from collections.abc import Mapping

from tapievent.ami_codec import NEED_DATA, AMIDecoder, Message
from tapievent.dialplan.generate import SUPPORTED_VERSIONS

# One release per line whose UserEvent rendering differs, plus a few more: the
# releases the dialplan generator supports, so both are tested on the same set.
VERSIONS: tuple[str, ...] = SUPPORTED_VERSIONS

BANNERS: Mapping[str, str] = {
    "1.2": "1.0",
    "1.4": "1.0",
    "1.6": "1.1",
    "1.8": "1.1",
    "10": "1.2",
    "11": "1.3",
    "12": "2.0.0",
    "13": "2.5.0",
    "16": "5.0.0",
    "18": "7.0.0",
    "20": "9.0.0",
    "21": "10.0.0",
    "22": "11.0.0",
    "23": "12.0.0",
}

UNIQUEID = "1700000000.42"
CHANNEL = "SIP/100-00000001"
_C_SPACE = " \t\n\v\f\r"


def line_of(version: str) -> tuple[int, int]:
    parts = [int(p) for p in version.split(".")]
    return (parts[0], parts[1]) if parts[0] == 1 else (parts[0], 0)


# --------------------------------------------------------------------------- load time


def config_value(text: str) -> str:
    """What main/config.c keeps of a line: ``\\;`` -> ``;``, comment cut at ``;``."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == ";":
            if out and out[-1] == "\\":
                out[-1] = ";"
            else:
                break
        else:
            out.append(ch)
        i += 1
    return "".join(out).strip()


def process_quotes_and_slashes(data: str) -> str:
    """1.2/1.4 ``ast_process_quotes_and_slashes(data, ',', '|')``."""
    out = []
    escaped = quoted = False
    for ch in data:
        if escaped:
            out.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "'":
            quoted = not quoted
        else:
            out.append("|" if ch == "," and not quoted else ch)
    return "".join(out)


def app_data(version: str, application_call: str) -> str:
    """The data Asterisk stores for ``App(...)`` written in extensions.conf."""
    value = config_value(application_call)
    open_paren = value.index("(")
    data = value[open_paren + 1 : value.rindex(")")]
    if line_of(version) <= (1, 4):
        data = process_quotes_and_slashes(data)
    return data


# --------------------------------------------------------------------------- run time


def quote(value: str) -> str:
    """func_strings.c QUOTE(): wrap in ``"``, escape ``\\`` and ``"``."""
    if not value:
        return '""'
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def substitute(data: str, values: Mapping[str, str]) -> str:
    """pbx_substitute_variables: every ``${...}`` replaced, nested ones first.

    The extent of a reference is found in the template by counting braces, so
    substituted values never change where a reference ends. ``QUOTE(x)`` is
    evaluated; every other reference must be a key of ``values``.
    """
    out: list[str] = []
    i = 0
    while i < len(data):
        if data.startswith("${", i):
            depth = 0
            j = i + 1
            while j < len(data):
                if data[j] == "{":
                    depth += 1
                elif data[j] == "}":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            name = substitute(data[i + 2 : j], values)
            if name.startswith("QUOTE("):
                out.append(quote(name[len("QUOTE(") : name.rindex(")")]))
            else:
                out.append(values[name])
            i = j + 1
        else:
            out.append(data[i])
            i += 1
    return "".join(out)


_NESTING = {"(": ("paren", 1), ")": ("paren", -1), "[": ("bracket", 1), "]": ("bracket", -1)}


def separate_args(buf: str, delim: str, *, brackets: bool, max_args: int = 101) -> list[str]:
    """``__ast_app_separate_args(buf, delim, remove_chars=1, ...)`` (main/app.c)."""
    args: list[str] = []
    if not buf:
        return args
    depth = {"paren": 0, "bracket": 0, "quote": 0}
    i = 0
    n = len(buf)
    last_was_delim = False
    while i < n and len(args) < max_args - 1:
        current: list[str] = []
        last_was_delim = False
        while i < n:
            ch = buf[i]
            nesting = _NESTING.get(ch)
            if nesting is not None and (brackets or nesting[0] == "paren"):
                depth[nesting[0]] = max(depth[nesting[0]] + nesting[1], 0)
            elif ch == '"':
                depth["quote"] ^= 1
                i += 1
                continue
            elif ch == "\\":
                if i + 1 < n:
                    current.append(buf[i + 1])
                i += 2
                continue
            elif ch == delim and not any(depth.values()):
                i += 1
                last_was_delim = True
                break
            current.append(ch)
            i += 1
        args.append("".join(current))
    if i < n:
        args.append(buf[i:])
    elif last_was_delim:
        args.append("")
    return args


def split_userevent(version: str, data: str) -> tuple[str, list[str]]:
    """The event name and the body arguments UserEvent sees for ``data``."""
    line = line_of(version)
    if line == (1, 2):
        # "UserEvent%s" into a 512-byte buffer, then strchr(tmp, '|').
        joined = ("UserEvent" + data)[:511][len("UserEvent") :]
        name, pipe, body = joined.partition("|")
        return name, [body] if pipe else []
    delim = "|" if line == (1, 4) else ","
    args = separate_args(data, delim, brackets=line >= (1, 8))
    if not args:
        return "", []
    return args[0], args[1:]


# --------------------------------------------------------------------------- rendering


def render(version: str, name: str, body: list[str], *, uniqueid: str = UNIQUEID) -> bytes:
    """The bytes of the UserEvent as ``version`` writes it (ami-versions.md 2.4)."""
    line = line_of(version)
    lines = ["Event: UserEvent" + name if line == (1, 2) else "Event: UserEvent"]
    lines.append("Privilege: user,all")
    if line == (1, 2):
        lines += [f"Channel: {CHANNEL}", f"Uniqueid: {uniqueid}", *body]
    elif line < (12, 0):
        lines.append(f"UserEvent: {name}")
        if line >= (10, 0):
            lines.append(f"Uniqueid: {uniqueid}")
        kept = []
        size = 0
        for arg in body:
            size += len(arg.encode()) + 2
            if line == (1, 4) and size >= 2048:
                break  # 1.4's fixed 2048-byte body buffer
            kept.append(arg)
        lines += kept
    else:
        fields: dict[str, str] = {}
        for arg in body:
            key, colon, value = arg.partition(":")
            if colon:
                fields[key] = value.strip(_C_SPACE)
        name = fields.pop("eventname", name)
        lines += [
            f"Channel: {CHANNEL}",
            "ChannelState: 6",
            "ChannelStateDesc: Up",
            "CallerIDNum: 100",
            "CallerIDName: Alice",
            "ConnectedLineNum: 200",
            "ConnectedLineName: <unknown>",
        ]
        if line >= (13, 0):
            lines.append("Language: en")
        lines += [
            "AccountCode: ",
            "Context: from-internal",
            "Exten: 200",
            "Priority: 3",
            f"Uniqueid: {uniqueid}",
        ]
        if line >= (13, 0):
            lines.append(f"Linkedid: {uniqueid}")
        lines.append(f"UserEvent: {name}")
        lines += [f"{key}: {value}" for key, value in fields.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")


def decode(version: str, payload: bytes) -> list[Message]:
    """Every message tapievent's decoder reads from the banner plus ``payload``."""
    decoder = AMIDecoder()
    decoder.receive_data(f"Asterisk Call Manager/{BANNERS[version]}\r\n".encode() + payload)
    decoder.receive_eof()
    messages: list[Message] = []
    while True:
        frame = decoder.next_frame()
        if frame is NEED_DATA:
            return messages
        if isinstance(frame, Message):
            messages.append(frame)


def wire(version: str, application_call: str, values: Mapping[str, str]) -> bytes:
    """From an ``extensions.conf`` application call to the bytes Asterisk sends."""
    data = substitute(app_data(version, application_call), values)
    name, body = split_userevent(version, data)
    return render(version, name, body)


def run(version: str, application_call: str, values: Mapping[str, str]) -> list[Message]:
    """From an ``extensions.conf`` application call to the messages a client decodes."""
    return decode(version, wire(version, application_call, values))


# --------------------------------------------------------------------------- snapshot by release

# The banner's AMI version of each release whose snapshot differs
# (include/asterisk/manager.h AMI_VERSION at each tag).
SNAPSHOT_AMI: Mapping[tuple[int, int], tuple[int, ...]] = {
    (12, 0): (2, 0, 0),  # 12.0-12.2: the channel-blob path, names not escaped
    (12, 8): (2, 5, 0),  # 12.3+: the multi-object blob path, names not escaped
    (13, 0): (2, 5, 0),
    (13, 2): (2, 7, 0),  # + Language
    (13, 4): (2, 7, 0),
    (13, 5): (2, 8, 0),  # + Linkedid; names C-escaped (commit f5d5aa67dc)
    (22, 10): (11, 0, 0),
}

_C_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "?": "\\?",
}


def c_escape(text: str) -> str:
    """``ast_escape_c_alloc()`` (main/utils.c), which 13.5+ applies to snapshot names."""
    return "".join(_C_ESCAPES.get(ch, ch) for ch in text)


def snapshot_userevent(
    release: tuple[int, int],
    body: list[str],
    *,
    caller_name: str = "Alice",
    connected_name: str = "<unknown>",
    uniqueid: str = UNIQUEID,
) -> bytes:
    """The bytes of a 12+ ``UserEvent(TAPI,...)`` from a channel with these names.

    ``ast_manager_build_channel_state_string_prefix()`` at each release
    (12.8.2, 13.4.0, 13.5.0, 22.10.1: main/manager_channels.c), then
    ``UserEvent: TAPI`` and the ``key: value`` body lines as given. Before
    13.5 the names go on the wire as they are, line breaks included.
    """
    escape = c_escape if release >= (13, 5) else str
    lines = [
        "Event: UserEvent",
        "Privilege: user,all",
        f"Channel: {CHANNEL}",
        "ChannelState: 6",
        "ChannelStateDesc: Up",
        "CallerIDNum: 100",
        f"CallerIDName: {escape(caller_name)}",
        "ConnectedLineNum: 200",
        f"ConnectedLineName: {escape(connected_name)}",
    ]
    if release >= (13, 2):
        lines.append("Language: en")
    lines += ["AccountCode: ", "Context: from-internal", "Exten: 200", "Priority: 3"]
    lines.append(f"Uniqueid: {uniqueid}")
    if release >= (13, 5):
        lines.append(f"Linkedid: {uniqueid}")
    lines += ["UserEvent: TAPI", *body]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def decode_bytes(payload: bytes) -> list[Message]:
    """Every message tapievent's decoder reads from ``payload`` (no banner)."""
    decoder = AMIDecoder()
    decoder.receive_data(payload)
    decoder.receive_eof()
    messages: list[Message] = []
    while (frame := decoder.next_frame()) is not NEED_DATA:
        if isinstance(frame, Message):
            messages.append(frame)
    return messages
