"""The far side of the test calls: a raw AMI socket that places inbound calls.

It plays a trunk, not a tapievent user, so it writes the ``Originate`` bytes
itself: a legacy ISDN trunk's Latin-1 caller name must reach Asterisk as the
bytes it is, which a ``str`` API would re-encode.
"""

from __future__ import annotations

import itertools
import socket
from collections.abc import Mapping

from .kit import SECRET, USER

_ids = itertools.count(1)


class Trunk:
    """Places calls on one Asterisk through its AMI (``Events: off``)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buffer = b""
        self._read_line()  # banner
        reply = self.send(
            [(b"Action", b"Login"), (b"Username", USER.encode()), (b"Secret", SECRET.encode()),
             (b"Events", b"off")]
        )  # fmt: skip
        assert b"Response: Success" in reply, reply

    def _read_line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("Asterisk closed the trunk's AMI connection")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def send(self, headers: list[tuple[bytes, bytes]]) -> bytes:
        """Send one action and return its response (headers as raw bytes)."""
        action_id = f"trunk-{next(_ids)}".encode()
        wire = b"".join(k + b": " + v + b"\r\n" for k, v in headers)
        assert b"\n" not in b"".join(v for _, v in headers)
        self.sock.sendall(wire + b"ActionID: " + action_id + b"\r\n\r\n")
        while True:
            block = []
            while (line := self._read_line()) != b"":
                block.append(line)
            if b"ActionID: " + action_id in block:
                return b"\r\n".join(block)

    def call(
        self,
        caller_id: bytes | str,
        *,
        exten: str = "s",
        context: str = "tapi-inbound",
        hold: float = 10,
        give_up_ms: int = 20000,
        phones: Mapping[str, str] | None = None,
        variables: Mapping[str, str] | None = None,
    ) -> bytes:
        """An inbound call: ``Local/exten@context`` runs the dialplan, its other
        half is the caller, who hangs up ``hold`` seconds after the answer, or
        after ``give_up_ms`` when nobody answers. ``phones`` says
        what each phone does (``{"bob": "answer", "bobbett": "ring"}``)."""
        cid = caller_id.encode("utf-8") if isinstance(caller_id, str) else caller_id
        headers = [
            (b"Action", b"Originate"),
            (b"Channel", f"Local/{exten}@{context}".encode()),
            (b"Application", b"Wait"),
            (b"Data", str(hold).encode()),
            (b"CallerID", cid),
            (b"Timeout", str(give_up_ms).encode()),
            (b"Async", b"true"),
        ]
        for phone, act in (phones or {}).items():
            headers.append((b"Variable", f"__ACT_{phone}={act}".encode()))
        for name, value in (variables or {}).items():
            headers.append((b"Variable", f"{name}={value}".encode()))
        reply = self.send(headers)
        assert b"Response: Success" in reply, reply
        return reply

    def close(self) -> None:
        self.sock.close()
