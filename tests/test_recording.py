"""tapievent.recording: the loopback proxy and the client hook that write corpus captures."""

from __future__ import annotations

import itertools
import socket
import threading
from pathlib import Path

import pytest

from tapievent.recording import CaptureWriter, RecordingProxy
from tapievent.testing import FakeAsterisk
from tapievent.transports import blocking

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


def test_the_on_receive_hook_sees_every_byte_and_each_connection_end() -> None:
    chunks: list[bytes] = []
    with FakeAsterisk.start_in_thread() as server:
        client = blocking.connect(
            "127.0.0.1", server.port, username="tapi", secret="tapisecret",
            on_receive=chunks.append, reconnect=False,
        )  # fmt: skip
        client.close()
    data = b"".join(chunks)
    assert data.startswith(b"Asterisk Call Manager/11.0.0\r\n")
    assert b"Authentication accepted" in data
    assert b"tapisecret" not in data
    assert chunks[-1] == b""  # the end of the connection


def test_capture_writer_names_each_connection_and_survives_a_full_disk(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ticks = iter([10.0, 10.5, 20.0, 21.25])
    writer = CaptureWriter(tmp_path / "cap", clock=lambda: next(ticks))
    writer(BANNER)
    writer(REPLY)
    writer(b"")
    writer(b"")  # said twice (EOF, then the transport's drop): still one end
    writer(BANNER)
    writer(REPLY)
    writer.close()
    assert writer.captures == [tmp_path / "cap", tmp_path / "cap-2"]
    assert (tmp_path / "cap").read_bytes() == BANNER + REPLY
    assert (tmp_path / "cap-2.timing.tsv").read_text() == (
        f"t_s\toffset\tlength\n0.000000\t0\t{len(BANNER)}\n1.250000\t{len(BANNER)}\t{len(REPLY)}\n"
    )
    full = CaptureWriter(tmp_path / "full.ami", clock=lambda: 0.0)
    assert full._ami is not None
    full._ami.close()
    full._ami = open("/dev/full", "wb", buffering=0)  # noqa: SIM115 - the disk is full
    full(BANNER)  # logged, not raised: the client goes on
    full(REPLY)
    full.close()
    assert [r.getMessage().rsplit(": ", 1)[1] for r in caplog.records] == [
        "No space left on device"
    ]
