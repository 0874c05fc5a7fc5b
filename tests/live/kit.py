"""Real Asterisk instances for the live suite, built and run with ``../shared/asterisk``.

The kit (``build.sh``, ``run.sh`` and the source tarballs) lives next to the
clone, in ``../shared/asterisk``; the builds are cached outside the clone in
``${TAPIEVENT_ASTERISK_CACHE:-$HOME/.cache/tapievent}/asterisk-VERSION``
(``build.sh`` is a no-op when the prefix is already built), so CI on the same
machine builds once. Every instance gets its own short temp DIR (the control
socket path must fit in 107 bytes), free loopback ports and configs written
here: a full-rights manager user, a ``read=call`` user, a TLS listener with a
certificate made by the ``openssl`` command, and the dialplan under test.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KIT = Path(os.environ.get("TAPIEVENT_ASTERISK_KIT", ROOT.parent / "shared" / "asterisk"))
CACHE = Path(
    os.environ.get("TAPIEVENT_ASTERISK_CACHE", Path.home() / ".cache" / "tapievent")
).expanduser()
VERSIONS = ("22.10.1", "18.26.4")

USER, SECRET = "tapi", "tapisecret"
CALL_USER, CALL_SECRET = "callonly", "callsecret"
#: The ring group of the dialplan under test: Local channels stand in for phones.
LINES = ("Local/bob@phones", "Local/bobbett@phones")
TRUNK = "Local/${EXTEN}@far"

MODULES = (
    "pbx_config",
    "app_dial",
    "app_userevent",
    "app_stack",
    "app_verbose",
    "app_originate",
    "app_echo",
    "app_exec",
    "app_softhangup",
    "app_senddtmf",
    "app_chanisavail",
    "func_callerid",
    "func_channel",
    "func_strings",
    "func_logic",
    "func_global",
    "func_cut",
    "func_math",
    "func_hangupcause",
    "func_dialplan",
    "bridge_simple",
    "bridge_native_rtp",
    "bridge_softmix",
    "bridge_holding",
    "bridge_builtin_features",
    "bridge_builtin_interval_features",
    "res_timing_timerfd",
    "codec_ulaw",
    "codec_alaw",
    "res_clioriginate",
)

# The emulated phones. ACT_<name> (inherited from the caller with '__') says
# what the phone does: answer (default), ring, busy, congest, noanswer (rings,
# then gives up with cause 19 as a phone's own no-answer timer does). RING is
# how long an answering phone rings first (default 0.3 s), TALK how long it
# stays on the line.
PHONES = r"""
[phones]
exten => _[a-z].,1,NoOp(phone ${EXTEN}: ${ACT_${EXTEN}})
 same => n,GotoIf($["${ACT_${EXTEN}}" = "busy"]?busy)
 same => n,GotoIf($["${ACT_${EXTEN}}" = "congest"]?congest)
 same => n,Ringing()
 same => n,GotoIf($["${ACT_${EXTEN}}" = "ring"]?ring)
 same => n,GotoIf($["${ACT_${EXTEN}}" = "noanswer"]?noanswer)
 same => n,Wait(${IF($["${RING}" = ""]?0.3:${RING})})
 same => n,Answer()
 same => n,Wait(${IF($["${TALK}" = ""]?1:${TALK})})
 same => n,Hangup()
 same => n(ring),Wait(20)
 same => n,Hangup()
 same => n(noanswer),Wait(1)
 same => n,Hangup(19)
 same => n(busy),Busy(2)
 same => n(congest),Congestion(2)

; The far end of click-to-dial (the trunk is Local/${EXTEN}@far).
[far]
exten => _555XXXX,1,Ringing()
 same => n,Wait(0.3)
 same => n,Answer()
 same => n,Wait(${IF($["${TALK}" = ""]?1:${TALK})})
 same => n,Hangup()
exten => 5550486,1,Busy(2)

; Where redirect() sends a live call.
[parking]
exten => 700,1,Answer()
 same => n,UserEvent(TAPI-TEST,Where: parked)
 same => n,Wait(1)
 same => n,Hangup()
"""


class KitMissing(Exception):
    """The Asterisk kit is not next to the clone."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with the openssl command."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("the openssl command is needed for the AMI TLS listener")
    cert, key = directory / "ami.pem", directory / "ami.key"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


def build(version: str) -> Path:
    """The installed prefix of ``version``, built by the kit's build.sh if needed."""
    if not (KIT / "build.sh").is_file():
        raise KitMissing(f"no Asterisk kit at {KIT} (build.sh, run.sh, source tarballs)")
    prefix = CACHE / f"asterisk-{version}"
    CACHE.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["bash", str(KIT / "build.sh"), version, str(prefix)],
        capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"build.sh {version} failed:\n{done.stderr[-3000:]}")
    return prefix


def ringgroup_dialplan(version: str) -> str:
    """What ``tapievent dialplan`` prints for the ring group, run as a user would."""
    major = version.split(".")[0]
    argv = [sys.executable, "-m", "tapievent", "dialplan", "--asterisk", major]
    for line in LINES:
        argv += ["--line", line]
    argv += ["--trunk", TRUNK]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
    return done.stdout


class Instance:
    """One running Asterisk: its ports, users, files and CLI."""

    def __init__(self, version: str, prefix: Path) -> None:
        self.version = version
        self.major = int(version.split(".")[0])
        self.prefix = prefix
        self.dir = Path(tempfile.mkdtemp(prefix=f"tapi{self.major}-", dir="/tmp"))
        assert len(str(self.dir)) <= 90
        self.etc = self.dir / "etc"
        self.etc.mkdir()
        self.port = free_port()
        self.tls_port = free_port()
        self.cert, self.key = make_certificate(self.etc)
        self.ringgroup = ringgroup_dialplan(version)
        self._write_configs()

    # ------------------------------------------------------------ configs

    def _write_configs(self) -> None:
        modules = [*MODULES, "app_macro"] if self.major < 21 else list(MODULES)
        (self.etc / "modules.conf").write_text(
            "[modules]\nautoload = no\n" + "".join(f"load => {m}.so\n" for m in modules)
        )
        (self.etc / "manager.conf").write_text(
            "[general]\nenabled = yes\nbindaddr = 127.0.0.1\n"
            f"port = {self.port}\n"
            f"tlsenable = yes\ntlsbindaddr = 127.0.0.1:{self.tls_port}\n"
            f"tlscertfile = {self.cert}\ntlsprivatekey = {self.key}\n\n"
            f"[{USER}]\nsecret = {SECRET}\nread = all\nwrite = all\n\n"
            f"[{CALL_USER}]\nsecret = {CALL_SECRET}\nread = call\nwrite = originate\n"
        )
        (self.etc / "ringgroup.conf").write_text(self.ringgroup)
        (self.etc / "phones.conf").write_text(PHONES)
        self.write_extra("")
        (self.etc / "extensions.conf").write_text(
            "[general]\nstatic = yes\nwriteprotect = yes\nclearglobalvars = no\n\n"
            "[globals]\n\n"
            '#include "ringgroup.conf"\n#include "phones.conf"\n#include "extra.conf"\n'
        )

    def write_extra(self, text: str) -> None:
        """Replace the tests' own part of the dialplan (load it with :meth:`reload`)."""
        (self.etc / "extra.conf").write_bytes(text.encode("utf-8", "surrogateescape"))

    def write_extra_bytes(self, data: bytes) -> None:
        (self.etc / "extra.conf").write_bytes(data)

    # ------------------------------------------------------------ running

    def _run(self, *args: str, timeout: float = 90) -> str:
        done = subprocess.run(
            ["bash", str(KIT / "run.sh"), *args], capture_output=True, text=True,
            timeout=timeout, errors="replace",
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"run.sh {args[0]} failed: {done.stdout}{done.stderr}")
        return done.stdout

    def start(self) -> None:
        self._run("start", str(self.prefix), str(self.dir))

    def stop(self) -> None:
        self._run("stop", str(self.prefix), str(self.dir))

    def cli(self, command: str) -> str:
        return self._run("cli", str(self.prefix), str(self.dir), command, timeout=40)

    def pid(self) -> int:
        return int((self.dir / "run" / "asterisk.pid").read_text().strip())

    def kill_hard(self) -> None:
        """kill -9 the server (a crash): no goodbye on the AMI sockets."""
        pid = self.pid()
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)

    def log_size(self) -> int:
        path = self.dir / "log" / "messages"
        return path.stat().st_size if path.exists() else 0

    def log_since(self, offset: int) -> str:
        path = self.dir / "log" / "messages"
        with path.open("rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace")

    def reload(self) -> str:
        """``dialplan reload``; returns what the loader logged meanwhile."""
        before = self.log_size()
        self.cli("dialplan reload")
        # The logger writes from its own thread: wait until the log stops growing.
        size, still, deadline = self.log_size(), 0, time.monotonic() + 5
        while still < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
            now = self.log_size()
            still = still + 1 if now == size else 0
            size = now
        return self.log_since(before)

    def channels(self) -> list[str]:
        out = self.cli("core show channels concise")
        return [line for line in out.splitlines() if "!" in line]

    def wait_no_channels(self, timeout: float = 15.0) -> list[str]:
        deadline = time.monotonic() + timeout
        left = self.channels()
        while left and time.monotonic() < deadline:
            time.sleep(0.2)
            left = self.channels()
        return left

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def start_instances(versions: Sequence[str]) -> list[Instance]:
    out = []
    for version in versions:
        inst = Instance(version, build(version))
        inst.start()
        out.append(inst)
    return out
