"""The one TSP configuration, as the bridge reads it from the registry.

The Configure dialog of ``tapievent.tsp`` writes everything to
``HKLM\\Software\\tapievent\\TSP``; the DLL reads the same key, and so does the
bridge: on Windows straight from the registry (:func:`read_windows_registry`),
elsewhere, and in the Wine tests, from a ``reg export`` file
(:func:`parse_reg_export`). The manager secret is only ever a DPAPI blob
(``AmiSecret``); :func:`unprotect` turns it back into text on Windows, in the
service account that runs the bridge, and the text never reaches a repr or log.
"""

from __future__ import annotations

import sys
from typing import TypeVar

import attrs

from .bridge import DialSettings
from .config import BridgeConfig, ConfigError

__all__ = [
    "RegistryError",
    "TspSettings",
    "bridge_config",
    "parse_reg_export",
    "read_windows_registry",
    "unprotect",
]

KEY = r"Software\tapievent\TSP"
_HEADERS = ("Windows Registry Editor Version 5.00", "REGEDIT4")


class RegistryError(ConfigError):
    """The exported configuration is unreadable or a value is wrong (the message says which)."""


@attrs.frozen(slots=True, repr=False)
class TspSettings:
    """The values of the key; ``secret_blob`` is the DPAPI blob, never shown."""

    ami_host: str = "127.0.0.1"
    ami_port: int = 5038
    tls: bool = False
    username: str = ""
    secret_blob: bytes = b""
    user_channel: str = ""
    lines: tuple[str, ...] = ("line_1",)
    bridge_host: str = "127.0.0.1"
    bridge_port: int = 5070
    link_token: str = attrs.field(default="", repr=False)

    def __repr__(self) -> str:
        return (
            f"TspSettings(ami={self.ami_host}:{self.ami_port}, tls={self.tls}, "
            f"user={self.username!r}, channel={self.user_channel!r}, lines={self.lines!r})"
        )


Value = str | int | bytes | tuple[str, ...]
T = TypeVar("T")


def parse_reg_export(data: bytes) -> TspSettings:
    """Read the TSP key out of a ``reg export`` file (UTF-16 with BOM, or REGEDIT4 ANSI)."""
    text = data.decode("utf-16") if data[:2] in (b"\xff\xfe", b"\xfe\xff") else data.decode("utf-8")
    # split("\n"), not splitlines(): a value may hold U+0085 or U+2028, which are no line ends here
    lines = text.replace("\r\n", "\n").replace("\\\n", "").split("\n")
    if not lines or lines[0].strip().lstrip("\ufeff") not in _HEADERS:
        raise RegistryError("not a registry export (no 'Windows Registry Editor' header)")
    values: dict[str, Value] = {}
    in_key = False
    for number, line in enumerate(lines[1:], start=2):
        line = line.strip()
        if line.startswith("["):
            in_key = line[1:-1].lower().endswith(KEY.lower())
        elif in_key and line.startswith('"'):
            name, value = _value(line, number)
            values[name] = value
    return _settings(values)


def _value(line: str, number: int) -> tuple[str, Value]:
    """One ``"Name"=...`` line: a string, ``dword:``, ``hex:`` (binary) or ``hex(7):`` (multi)."""
    end = line.find('"=', 1)
    if end < 0:
        raise RegistryError(f'line {number}: expected "name"=value')
    name, raw = line[1:end], line[end + 2 :]
    try:
        if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
            return name, raw[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        if raw.startswith("dword:"):
            return name, int(raw[6:], 16)
        if raw.startswith("hex:"):
            return name, _hex(raw[4:])
        if raw.startswith("hex(7):"):
            multi = _hex(raw[7:]).decode("utf-16-le")
            return name, tuple(part for part in multi.split("\0") if part)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RegistryError(f"line {number}: value {name!r} is malformed: {exc}") from None
    raise RegistryError(f"line {number}: value {name!r} has a type the TSP does not use")


def _hex(raw: str) -> bytes:
    return bytes.fromhex(raw.replace(",", " ").replace(" ", "")) if raw.strip() else b""


def _settings(values: dict[str, Value]) -> TspSettings:
    defaults = TspSettings()
    return TspSettings(
        ami_host=_typed(values, "AmiHost", str, defaults.ami_host),
        ami_port=_port(values, "AmiPort", defaults.ami_port),
        tls=bool(_typed(values, "AmiTls", int, 0)),
        username=_typed(values, "AmiUser", str, ""),
        secret_blob=_typed(values, "AmiSecret", bytes, b""),
        user_channel=_typed(values, "UserChannel", str, ""),
        lines=_typed(values, "Lines", tuple, defaults.lines) or defaults.lines,
        bridge_host=_typed(values, "BridgeHost", str, defaults.bridge_host),
        bridge_port=_port(values, "BridgePort", defaults.bridge_port),
        link_token=_typed(values, "LinkToken", str, ""),
    )


def _typed(values: dict[str, Value], name: str, kind: type[T], default: T) -> T:
    value = values.get(name, default)
    if not isinstance(value, kind):
        raise RegistryError(f"value {name!r} has the wrong type ({type(value).__name__})")
    return value


def _port(values: dict[str, Value], name: str, default: int) -> int:
    port = _typed(values, name, int, default)
    if not 1 <= port <= 65535:
        raise RegistryError(f"value {name!r} must be a port from 1 to 65535, not {port}")
    return port


def bridge_config(settings: TspSettings, secret: str) -> BridgeConfig:
    """The bridge's configuration from the key and the unprotected secret.

    The user's own phone, when set, is the channel Originate rings first for
    every line (AstTapi's "user channel"); otherwise each line rings itself.
    ``LinkToken``, written by the installer, is the secret a shim's hello must
    carry: the key's DACL lets only the service accounts and administrators
    read it, so another user's process cannot pose as the provider.
    """
    if not settings.username:
        raise RegistryError("AmiUser is empty: open Configure in Phone and Modem")
    if not secret:
        raise RegistryError("AmiSecret is missing: open Configure in Phone and Modem")
    if not settings.link_token:
        # Without it any local process could pose as the provider; the MSI always makes one.
        raise RegistryError("LinkToken is missing: repair the installation (the MSI makes it)")
    return BridgeConfig(
        ami_host=settings.ami_host,
        ami_port=settings.ami_port,
        username=settings.username,
        secret=secret,
        auth="md5",
        lines=settings.lines,
        listen_host=settings.bridge_host,
        listen_port=settings.bridge_port,
        dial=DialSettings(channel=settings.user_channel or "{line}"),
        link_token=settings.link_token,
        tls=settings.tls,
    )


def read_windows_registry() -> TspSettings:
    """The key itself, on Windows (what ``tsp-bridge --registry`` reads).

    The values go through the same checks as an export's, so a wrong type or
    port is named the same way.
    """
    if sys.platform != "win32":
        raise RegistryError("--registry reads the Windows registry; use --config FILE elsewhere")
    import winreg

    kinds = {winreg.REG_SZ: str, winreg.REG_DWORD: int, winreg.REG_BINARY: bytes}
    values: dict[str, Value] = {}
    try:
        with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, KEY) as key:
            for index in range(winreg.QueryInfoKey(key)[1]):
                name, data, kind = winreg.EnumValue(key, index)
                if kind == winreg.REG_MULTI_SZ:
                    values[name] = tuple(data)
                elif kind in kinds:
                    values[name] = kinds[kind](data)
    except OSError as exc:
        raise RegistryError(f"cannot read HKLM\\{KEY}: {exc}") from None
    return _settings(values)


def unprotect(blob: bytes) -> str:
    """CryptUnprotectData (Windows only): the secret the Configure dialog protected."""
    if sys.platform != "win32":
        raise RegistryError("the DPAPI secret can only be read on Windows, by the bridge's account")
    import ctypes
    from ctypes import wintypes

    class Blob(ctypes.Structure):
        _fields_ = [("cbData", wintypes.DWORD), ("pbData", ctypes.POINTER(ctypes.c_char))]

    buffer = ctypes.create_string_buffer(blob, len(blob))
    source, out = Blob(len(blob), ctypes.cast(buffer, ctypes.POINTER(ctypes.c_char))), Blob()
    crypt32, kernel32 = ctypes.windll.crypt32, ctypes.windll.kernel32
    if not crypt32.CryptUnprotectData(
        ctypes.byref(source), None, None, None, None, 1, ctypes.byref(out)
    ):
        raise RegistryError("CryptUnprotectData refused AmiSecret (another machine's blob?)")
    try:
        return ctypes.string_at(out.pbData, out.cbData).decode("utf-8")
    finally:
        kernel32.LocalFree(out.pbData)
