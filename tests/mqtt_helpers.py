"""A real mosquitto for the MQTT tests: started on free loopback ports with a temp config.

Debian's mosquitto 2.0.11 (the service is not running; each test starts its
own instance and stops it). ``Mosquitto.restart()`` keeps the ports, so
clients reconnect to the same address; persistence is off, so a restart
loses every retained message, exactly the fault a gateway must repair.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

__all__ = ["RUN_AS", "Mosquitto", "free_port", "make_cert"]

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


# Started as root, mosquitto drops to the "mosquitto" user, which cannot read
# the test's private temp folder; as any other user this line changes nothing.
RUN_AS = ["user root"] if os.geteuid() == 0 else []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_cert(folder: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    """A throw-away self-signed certificate for 127.0.0.1 (cert, key)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key), "-out", str(cert),
            "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


class Mosquitto:
    """One broker process. ``port`` is plain MQTT; optional TLS and websockets ports."""

    def __init__(
        self,
        folder: pathlib.Path,
        *,
        users: dict[str, str] | None = None,
        acl: str | None = None,
        tls: bool = False,
        websockets: bool = False,
        persistence: bool = False,
    ) -> None:
        self.folder = folder
        self.port = free_port()
        self.tls_port = free_port() if tls else None
        self.ws_port = free_port() if websockets else None
        self.cafile: pathlib.Path | None = None
        lines = ["per_listener_settings false", "log_dest stderr", *RUN_AS]
        if persistence:  # sessions and retained messages survive a restart
            lines += ["persistence true", f"persistence_location {folder}/"]
        else:
            lines.append("persistence false")
        lines.append(f"allow_anonymous {'false' if users else 'true'}")
        if users:
            passwd = folder / "passwd"
            passwd.touch(mode=0o600)
            for user, password in users.items():
                subprocess.run(
                    ["mosquitto_passwd", "-b", str(passwd), user, password],
                    check=True,
                    capture_output=True,
                )
            lines.append(f"password_file {passwd}")
        if acl is not None:
            acl_file = folder / "acl"
            acl_file.write_text(acl, encoding="utf-8")
            lines.append(f"acl_file {acl_file}")
        lines.append(f"listener {self.port} 127.0.0.1")
        if tls:
            cert, key = make_cert(folder)
            self.cafile = cert
            lines += [f"listener {self.tls_port} 127.0.0.1", f"certfile {cert}", f"keyfile {key}"]
        if websockets:
            lines += [f"listener {self.ws_port} 127.0.0.1", "protocol websockets"]
        self.config = folder / "mosquitto.conf"
        self.config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        for path in folder.iterdir():
            os.chmod(path, 0o644 if path.name != "passwd" else 0o600)
        self.process: subprocess.Popen[bytes] | None = None
        self.log = folder / "mosquitto.log"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [MOSQUITTO, "-c", str(self.config)], stdout=log, stderr=log
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.log.read_text()[-2000:]}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                return
            time.sleep(0.02)
        raise RuntimeError("mosquitto did not listen within 10 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> Mosquitto:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def mosquitto(folder: pathlib.Path, **options: object) -> Iterator[Mosquitto]:
    broker = Mosquitto(folder, **options)  # type: ignore[arg-type]
    with broker:
        yield broker
