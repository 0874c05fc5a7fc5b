"""tapievent.recording: the loopback proxy and the client hook that write corpus captures."""

from __future__ import annotations

import itertools
import socket
import threading
from pathlib import Path

from tapievent.recording import RecordingProxy

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
REPLY = b"Response: Success\r\nMessage: Authentication accepted\r\n\r\n"


def _server() -> tuple[socket.socket, threading.Thread]:
    """A one-shot peer: banner, then one reply per message, in two writes."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.sendall(BANNER)
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(4096)
            conn.sendall(REPLY[:10])
            conn.sendall(REPLY[10:])

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener, thread


def _talk(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"Action: Login\r\nUsername: tapi\r\nSecret: hunter2\r\n\r\n")
        got = b""
        while not got.endswith(b"\r\n\r\n"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            got += chunk
        return got


def test_records_the_bytes_chunks_and_masked_writes(tmp_path: Path) -> None:
    listener, thread = _server()
    with listener, RecordingProxy(listener.getsockname()[1]) as proxy:
        got = _talk(proxy.port)
        thread.join(5)
    assert got == BANNER + REPLY
    (rec,) = proxy.recordings
    assert bytes(rec.received) == BANNER + REPLY
    # the chunks tile the bytes exactly, in order
    offsets = [(offset, length) for _, offset, length in rec.chunks]
    assert offsets[0][0] == 0 and sum(length for _, length in offsets) == len(rec.received)
    assert all(a + la == b for (a, la), (b, _) in itertools.pairwise(offsets))
    rec.save(tmp_path, "x")
    assert (tmp_path / "x.ami").read_bytes() == BANNER + REPLY
    tsv = (tmp_path / "x.timing.tsv").read_text().splitlines()
    assert tsv[0] == "t_s\toffset\tlength" and len(tsv) == len(rec.chunks) + 1
    sent = (tmp_path / "x.sent.txt").read_text()
    assert "hunter2" not in sent and "Secret: ********\\r\\n" in sent


def test_banner_rewrite_reaches_the_client_not_the_recording() -> None:
    listener, thread = _server()
    with (
        listener,
        RecordingProxy(listener.getsockname()[1], banner=b"Asterisk Call Manager/2.4.0") as proxy,
    ):
        got = _talk(proxy.port)
        thread.join(5)
    assert got == b"Asterisk Call Manager/2.4.0\r\n" + REPLY
    assert bytes(proxy.recordings[0].received) == BANNER + REPLY
