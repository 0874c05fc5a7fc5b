"""The loopback link's authentication: a shim without the per-install token is refused.

On a shared RDS/Citrix machine any user can connect to 127.0.0.1:5070; only a
hello carrying ``LinkToken`` (readable by the service accounts and
administrators alone) gets a session.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import sys
from pathlib import Path

import pytest
from test_cli import one_clean_error_line, tapievent
from test_tsp_bridge import FakePort
from tsp_shim import Shim

from tapievent.testing import FakeAsterisk
from tapievent.tsp import Bridge
from tapievent.tsp.config import ConfigError, parse_config
from tapievent.tsp.protocol import Hello, parse_request
from tapievent.tsp.registry import TspSettings, bridge_config
from tapievent.tsp.service import run_bridge

TOKEN = "5f1c" * 16


async def _hello(bridge: Bridge, **extra: object) -> tuple[dict[str, object], bytes]:
    shim = Shim(*await asyncio.open_connection("127.0.0.1", bridge.port))
    await shim.send(type="hello", shim="test", tspi_version=0x20002, lines=["bob"], **extra)
    first = await shim.recv()
    await shim.send(type="make_call", id=1, line="bob", destination="100")
    rest = await asyncio.wait_for(shim.reader.read(), 5) if first["type"] == "error" else b""
    shim.writer.close()
    return first, rest


@pytest.mark.parametrize("extra", [{}, {"token": "guess"}, {"token": TOKEN[:-1]}])
def test_a_hello_without_the_token_is_refused_and_the_link_closed(
    extra: dict[str, object],
) -> None:
    async def scenario() -> None:
        port = FakePort()
        bridge = Bridge(port, port=0, link_token=TOKEN)
        await bridge.start()
        first, rest = await _hello(bridge, **extra)
        assert first == {
            "v": 1,
            "type": "error",
            "message": "hello refused: wrong or missing link token",
        }
        assert rest == b""  # closed: the make_call after it was never served
        assert port.log == []
        await bridge.close()

    asyncio.run(scenario())


def test_the_right_token_gets_a_session() -> None:
    async def scenario() -> None:
        port = FakePort()
        bridge = Bridge(port, port=0, link_token=TOKEN)
        await bridge.start()
        first, _ = await _hello(bridge, token=TOKEN)
        assert first == {"v": 1, "type": "welcome", "in_service": True}
        await bridge.close()

    asyncio.run(scenario())


def test_the_token_comes_from_the_key_and_stays_out_of_reprs() -> None:
    config = bridge_config(TspSettings(username="tapi", link_token=TOKEN), "secret")
    assert config.link_token == TOKEN
    assert TOKEN not in repr(config)
    assert TOKEN not in repr(TspSettings(link_token=TOKEN))
    hello = parse_request(
        {"v": 1, "type": "hello", "shim": "x", "tspi_version": 1, "lines": [], "token": TOKEN}
    )
    assert isinstance(hello, Hello) and hello.token == TOKEN and TOKEN not in repr(hello)


# ---------------------------------------------------------------------- the INI file (--config)
# Issue 16's defect: run with --config the bridge accepted any local shim, because only
# --registry set a token. The INI file must now name one, or opt out loudly.


def _ini(ami_port: int = 5038, link: str = "") -> str:
    return (
        f"[ami]\nhost = 127.0.0.1\nport = {ami_port}\nusername = tapi\nsecret = tapisecret\n\n"
        "[bridge]\nlines = Local/bob\nport = 0\n\n"
        "[dial]\ncontext = tapi-outbound\n" + (f"\n[link]\n{link}\n" if link else "")
    )


def _token_file(tmp_path: Path, mode: int = 0o600, token: str = TOKEN) -> Path:
    path = tmp_path / "link-token"
    path.write_text(token + "\n", encoding="utf-8")
    path.chmod(mode)
    return path


def _subdir(tmp_path: Path, name: str) -> Path:
    (tmp_path / name).mkdir()
    return tmp_path / name


def test_an_ini_without_a_link_token_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"<config>: no link token: set \[link\] token_"):
        parse_config(_ini())


def test_the_cli_refuses_to_start_from_an_ini_without_a_link_token(tmp_path: Path) -> None:
    # Before the fix this bridge started (and retried its AMI host for ever).
    path = tmp_path / "bridge.ini"
    path.write_text(_ini(ami_port=1), encoding="utf-8")
    done = tapievent("tsp-bridge", "--config", str(path))
    assert done.returncode == 2
    line = one_clean_error_line(done.stderr)
    assert line.startswith(f"tapievent tsp-bridge: {path}: no link token: set [link] token_")
    assert "insecure_no_link_token" in line


@pytest.mark.skipif(os.name == "nt", reason="POSIX file modes")
def test_the_token_file_is_read_only_when_its_owner_alone_can_read_it(tmp_path: Path) -> None:
    path = _token_file(tmp_path)
    config = parse_config(_ini(link=f"token_file = {path}"))
    assert config.link_token == TOKEN
    assert TOKEN not in repr(config)
    for mode in (0o640, 0o604, 0o620):
        path.chmod(mode)
        with pytest.raises(ConfigError, match=rf"token_file {path} .*mode 0o{mode:o}.*chmod 600"):
            parse_config(_ini(link=f"token_file = {path}"))


@pytest.mark.parametrize(
    ("link", "error"),
    [
        ("token_file = {missing}", r"\[link\] token_file {missing} cannot be read"),
        ("token_file = {short}", r"has 20 characters; a link token needs at least 32"),
        ("token = " + TOKEN, r"\[link\] token is not read: .* token_file"),
        (
            "token_file = {good}\ninsecure_no_link_token = yes",
            r"set only one of token_from_registry, token_file and insecure_no_link_token",
        ),
        ("insecure_no_link_token = maybe", r"\[link\] insecure_no_link_token must be yes or no"),
    ],
)
def test_link_token_mistakes_are_named(tmp_path: Path, link: str, error: str) -> None:
    paths = {
        "missing": tmp_path / "nope",
        "short": _token_file(_subdir(tmp_path, "short"), token="x" * 20),
        "good": _token_file(tmp_path),
    }
    text = link.format(**paths)
    with pytest.raises(ConfigError, match=error.format(**paths)):
        parse_config(_ini(link=text))


def test_token_from_registry_is_the_installers_link_token() -> None:
    config = parse_config(_ini(link="token_from_registry = yes"), registry_token=lambda: TOKEN)
    assert config.link_token == TOKEN
    with pytest.raises(ConfigError, match=r"LinkToken .* is empty"):
        parse_config(_ini(link="token_from_registry = yes"), registry_token=lambda: "")
    if sys.platform != "win32":
        with pytest.raises(ConfigError, match="reads the Windows registry"):
            parse_config(_ini(link="token_from_registry = yes"))


def test_a_bridge_started_from_an_ini_refuses_a_shim_without_its_token(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with FakeAsterisk() as pbx:
            link = f"token_file = {_token_file(tmp_path)}"
            config = parse_config(_ini(pbx.port, link))
            started: asyncio.Future[Bridge] = asyncio.get_running_loop().create_future()
            runner = asyncio.ensure_future(run_bridge(config, ready=started.set_result))
            bridge = await asyncio.wait_for(started, 10)
            first, rest = await _hello(bridge)
            assert first["message"] == "hello refused: wrong or missing link token"
            assert rest == b""
            first, _ = await _hello(bridge, token=TOKEN)
            assert first["type"] == "welcome"
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)

    asyncio.run(asyncio.wait_for(scenario(), 20))


def test_the_explicit_opt_out_accepts_any_shim_and_says_so_loudly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        async with FakeAsterisk() as pbx:
            config = parse_config(_ini(pbx.port, "insecure_no_link_token = yes"))
            assert config.link_token is None
            started: asyncio.Future[Bridge] = asyncio.get_running_loop().create_future()
            runner = asyncio.ensure_future(run_bridge(config, ready=started.set_result))
            bridge = await asyncio.wait_for(started, 10)
            first, _ = await _hello(bridge)
            assert first["type"] == "welcome"
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)

    with caplog.at_level(logging.WARNING, logger="tapievent.tsp"):
        asyncio.run(asyncio.wait_for(scenario(), 20))
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("NO LINK TOKEN" in r.getMessage() for r in loud), loud


def test_a_token_file_of_another_user_is_refused() -> None:
    # The owner check, on the file's status as the bridge sees it (no chown needed).
    from tapievent.tsp.config import _check_owner_only

    other = os.geteuid() + 12345
    info = os.stat_result((stat.S_IFREG | 0o600, 0, 0, 1, other, 0, 0, 0, 0, 0))
    with pytest.raises(ConfigError, match=rf"belongs to uid {other}, not to the bridge's user"):
        _check_owner_only("f", info)
    directory = os.stat_result((stat.S_IFDIR | 0o700, 0, 0, 1, os.geteuid(), 0, 0, 0, 0, 0))
    with pytest.raises(ConfigError, match="is not a regular file"):
        _check_owner_only("f", directory)
    _check_owner_only("f", os.stat_result((stat.S_IFREG | 0o400, 0, 0, 1, 0, 0, 0, 0, 0, 0)))
