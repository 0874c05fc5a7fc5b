"""The bridge's configuration file (INI, read with the standard library).

INI rather than TOML because ``tomllib`` needs Python 3.11 and tapievent runs
on 3.10. Every key and its default is in ``docs/tsp.md``; errors name the
section and key so an administrator can fix the file.
"""

from __future__ import annotations

import configparser
import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path

import attrs

from .bridge import DialSettings

__all__ = ["BridgeConfig", "ConfigError", "load_config", "parse_config"]


class ConfigError(ValueError):
    """The configuration file is unreadable or a value is wrong (the message says where)."""


@attrs.frozen(slots=True, repr=False)
class BridgeConfig:
    """Everything ``tapievent tsp-bridge`` needs; ``secret`` never appears in the repr."""

    ami_host: str
    ami_port: int
    username: str
    secret: str
    auth: str
    lines: tuple[str, ...]
    listen_host: str
    listen_port: int
    dial: DialSettings
    link_token: str | None = None  # the per-install secret a shim's hello must carry
    tls: bool = False
    """Speak AMI over TLS (Asterisk's ``tlsenable``); the certificate is always verified."""
    cafile: str | None = None
    """With ``tls``: trust this CA or certificate file instead of the system's store."""

    def __repr__(self) -> str:
        return (
            f"BridgeConfig(ami={self.ami_host}:{self.ami_port}, user={self.username!r}, "
            f"lines={self.lines!r}, listen={self.listen_host}:{self.listen_port})"
        )


def load_config(
    path: str | os.PathLike[str], environ: Mapping[str, str] | None = None
) -> BridgeConfig:
    """Read and check the file at ``path`` (see :func:`parse_config`)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    return parse_config(text, source=str(path), environ=environ)


def parse_config(
    text: str, *, source: str = "<config>", environ: Mapping[str, str] | None = None
) -> BridgeConfig:
    """Parse the INI text of a bridge configuration.

    The AMI secret comes from ``secret`` in ``[ami]`` or, when that key is
    absent, from the environment variable named by ``secret_env`` (default
    ``TAPIEVENT_SECRET``). The listen address must be a loopback address
    unless ``allow_remote = yes``: the shim protocol has no authentication.
    """
    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=(";",))
    try:
        parser.read_string(text, source=source)
    except configparser.Error as exc:
        raise ConfigError(f"{source}: {exc}") from None
    ini = _Ini(parser, source)
    auth = ini.get("ami", "auth", "md5")
    if auth not in ("md5", "plain"):
        raise ConfigError(f"{source}: [ami] auth must be md5 or plain, not {auth!r}")
    lines = tuple(part.strip() for part in ini.get("bridge", "lines").split(",") if part.strip())
    if not lines:
        raise ConfigError(f"{source}: [bridge] lines names no line")
    return BridgeConfig(
        ami_host=ini.get("ami", "host", "127.0.0.1"),
        ami_port=ini.get_int("ami", "port", 5038, 1, 65535),
        username=ini.get("ami", "username"),
        secret=_secret(ini, os.environ if environ is None else environ),
        auth=auth,
        lines=lines,
        listen_host=_listen(ini),
        listen_port=ini.get_int("bridge", "port", 5070, 0, 65535),
        dial=_dial(ini),
        tls=ini.get_bool("ami", "tls"),
        cafile=_cafile(ini),
    )


def _cafile(ini: _Ini) -> str | None:
    """``[ami] cafile``: checked here, so a typo is a config error and not a failed login."""
    cafile = ini.optional("ami", "cafile")
    if cafile is not None and not Path(cafile).is_file():
        raise ConfigError(f"{ini.source}: [ami] cafile {cafile} is not a readable file")
    return cafile


@attrs.frozen(slots=True)
class _Ini:
    """The parsed file and its name, so every error says where it is."""

    parser: configparser.ConfigParser
    source: str

    def get(self, section: str, key: str, default: str | None = None) -> str:
        value = self.parser.get(section, key, fallback=default)
        if value is None or not value.strip():
            raise ConfigError(f"{self.source}: [{section}] {key} is required")
        return value.strip()

    def optional(self, section: str, key: str) -> str | None:
        return self.parser.get(section, key, fallback="").strip() or None

    def get_bool(self, section: str, key: str) -> bool:
        try:
            return self.parser.getboolean(section, key, fallback=False)
        except ValueError:
            raise ConfigError(f"{self.source}: [{section}] {key} must be yes or no") from None

    def get_int(self, section: str, key: str, default: int, low: int, high: int) -> int:
        raw = self.get(section, key, str(default))
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(
                f"{self.source}: [{section}] {key} must be a number, not {raw!r}"
            ) from None
        if not low <= value <= high:
            raise ConfigError(f"{self.source}: [{section}] {key} must be between {low} and {high}")
        return value


def _secret(ini: _Ini, env: Mapping[str, str]) -> str:
    if ini.parser.has_option("ami", "secret"):
        return ini.get("ami", "secret")
    variable = ini.get("ami", "secret_env", "TAPIEVENT_SECRET")
    if not env.get(variable):
        raise ConfigError(f"{ini.source}: no [ami] secret and ${variable} is not set")
    return env[variable]


def _listen(ini: _Ini) -> str:
    """The listen address; a non-loopback one only with ``allow_remote = yes``."""
    listen = ini.get("bridge", "listen", "127.0.0.1")
    allow_remote = ini.get_bool("bridge", "allow_remote")
    try:
        loopback = ipaddress.ip_address(listen).is_loopback
    except ValueError:
        loopback = listen == "localhost"
    if not loopback and not allow_remote:
        raise ConfigError(
            f"{ini.source}: [bridge] listen={listen} is not a loopback address; the TSP protocol "
            "has no authentication, set allow_remote = yes only behind a firewall"
        )
    return listen


def _dial(ini: _Ini) -> DialSettings:
    timed = ini.optional("dial", "timeout_ms") is not None
    return DialSettings(
        context=ini.get("dial", "context", "from-internal"),
        channel=ini.get("dial", "channel", "{line}"),
        caller_id=ini.optional("dial", "caller_id"),
        transfer_context=ini.optional("dial", "transfer_context"),
        timeout_ms=ini.get_int("dial", "timeout_ms", 30000, 1000, 600000) if timed else None,
    )
