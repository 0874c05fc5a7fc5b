"""The bridge's configuration file (INI, read with the standard library).

INI rather than TOML because ``tomllib`` needs Python 3.11 and tapievent runs
on 3.10. Every key and its default is in ``docs/tsp.md``; errors name the
section and key so an administrator can fix the file.
"""

from __future__ import annotations

import configparser
import ipaddress
import os
import stat
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import attrs

from .bridge import DialSettings

__all__ = ["MIN_LINK_TOKEN", "BridgeConfig", "ConfigError", "load_config", "parse_config"]

MIN_LINK_TOKEN = 32
"""The fewest characters a link token may have (the installer makes 64 hex digits)."""

_MAX_TOKEN_FILE = 4096


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
    link_token: str | None = attrs.field(default=None, repr=False)
    """The per-install secret a shim's hello must carry; ``None`` accepts any local shim."""
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
    path: str | os.PathLike[str],
    environ: Mapping[str, str] | None = None,
    *,
    registry_token: Callable[[], str] | None = None,
) -> BridgeConfig:
    """Read and check the file at ``path`` (see :func:`parse_config`)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    return parse_config(text, source=str(path), environ=environ, registry_token=registry_token)


def parse_config(
    text: str,
    *,
    source: str = "<config>",
    environ: Mapping[str, str] | None = None,
    registry_token: Callable[[], str] | None = None,
) -> BridgeConfig:
    """Parse the INI text of a bridge configuration.

    The AMI secret comes from ``secret`` in ``[ami]`` or, when that key is
    absent, from the environment variable named by ``secret_env`` (default
    ``TAPIEVENT_SECRET``). The listen address must be a loopback address
    unless ``allow_remote = yes``.

    ``[link]`` must say where the link token comes from, or opt out in so
    many words (see :func:`_link_token`): on a shared machine any user can
    connect to the loopback port, and the token is what tells the provider
    from them. ``registry_token`` returns the installer's ``LinkToken``
    (default: read from the Windows registry).
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
        link_token=_link_token(ini, registry_token or _registry_link_token),
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
            "is plain TCP (its link token travels in clear), set allow_remote = yes only behind a "
            "firewall"
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


# ---------------------------------------------------------------------- the link token


def _link_token(ini: _Ini, registry_token: Callable[[], str]) -> str | None:
    """The token ``[link]`` names: ``token_from_registry``, ``token_file``, or none at all.

    Exactly one of the three keys must be set. ``insecure_no_link_token =
    yes`` is the only way to run without a token, written in the file where
    an auditor sees it; the bridge then logs a warning at every start. A
    ``token`` written into the INI file itself is refused: it would be only
    as secret as a file that is usually readable by every administrator tool.
    """
    if ini.parser.has_option("link", "token"):
        raise ConfigError(
            f"{ini.source}: [link] token is not read: a token written here is only as secret "
            "as this file; use token_from_registry = yes or token_file = PATH"
        )
    from_registry = ini.get_bool("link", "token_from_registry")
    token_file = ini.optional("link", "token_file")
    insecure = ini.get_bool("link", "insecure_no_link_token")
    chosen = sum((from_registry, token_file is not None, insecure))
    if chosen > 1:
        raise ConfigError(
            f"{ini.source}: [link] set only one of token_from_registry, token_file and "
            "insecure_no_link_token"
        )
    if not chosen:
        raise ConfigError(
            f"{ini.source}: no link token: set [link] token_from_registry = yes (Windows: the "
            "installer's LinkToken) or token_file = PATH (a file only its owner can read); "
            "only on a machine no other user logs on to, insecure_no_link_token = yes"
        )
    if insecure:
        return None
    if token_file is not None:
        return _checked_token(ini, _read_token_file(ini, token_file), f"token_file {token_file}")
    try:
        token = registry_token()
    except ConfigError as exc:
        raise ConfigError(f"{ini.source}: [link] token_from_registry: {exc}") from None
    if not token:
        raise ConfigError(
            f"{ini.source}: [link] token_from_registry: LinkToken in "
            "HKLM\\Software\\tapievent\\TSP is empty; repair the installation (the MSI makes it)"
        )
    return _checked_token(ini, token, "LinkToken")


def _checked_token(ini: _Ini, token: str, where: str) -> str:
    if len(token) < MIN_LINK_TOKEN:
        raise ConfigError(
            f"{ini.source}: [link] {where} has {len(token)} characters; a link token needs at "
            f"least {MIN_LINK_TOKEN} (the installer makes 64 hex digits)"
        )
    return token


def _read_token_file(ini: _Ini, path: str) -> str:
    """The token in ``path``, refused unless only its owner (the bridge's user) can read it.

    Not on Windows: there a file's mode bits cannot say who may read it, and
    the provider sends the installer's LinkToken, so ``token_from_registry``
    is the setting to use.
    """
    where = f"{ini.source}: [link] token_file {path}"
    if sys.platform == "win32":
        raise ConfigError(
            f"{where}: a file's permissions are not checked on Windows; use "
            "token_from_registry = yes (the LinkToken the provider sends)"
        )
    try:
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())
            data = handle.read(_MAX_TOKEN_FILE + 1)
    except OSError as exc:
        raise ConfigError(f"{where} cannot be read: {exc.strerror or exc}") from None
    _check_owner_only(where, info)
    if len(data) > _MAX_TOKEN_FILE:
        raise ConfigError(f"{where} is longer than {_MAX_TOKEN_FILE} bytes: not a link token")
    try:
        return data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ConfigError(f"{where} is not UTF-8 text") from None


def _check_owner_only(where: str, info: os.stat_result) -> None:
    """A regular file, owned by the bridge's user (or root), no access for group or others."""
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"{where} is not a regular file")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise ConfigError(
            f"{where} can be read or changed by other users (mode 0o{mode:o}); chmod 600 it"
        )
    owner = os.geteuid()
    if info.st_uid not in (owner, 0):
        raise ConfigError(
            f"{where} belongs to uid {info.st_uid}, not to the bridge's user (uid {owner})"
        )


def _registry_link_token() -> str:
    """The installer's LinkToken from HKLM (Windows only; the key readable by admins)."""
    if sys.platform != "win32":
        raise ConfigError("it reads the Windows registry; elsewhere use token_file = PATH")
    from .registry import read_windows_registry

    return read_windows_registry().link_token
