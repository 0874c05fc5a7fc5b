"""The bridge's reader of the one TSP configuration (a ``reg export`` of the key).

The reference encoder below writes the file the way ``reg export`` does
(UTF-16 with BOM, ``hex:`` lines folded with a trailing backslash), so the
property test checks the reader against an independent writer.
"""

from __future__ import annotations

import sys

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tapievent.cli import main
from tapievent.tsp.config import BridgeConfig
from tapievent.tsp.registry import RegistryError, TspSettings, bridge_config, parse_reg_export

HEADER = (
    "Windows Registry Editor Version 5.00\r\n\r\n[HKEY_LOCAL_MACHINE\\Software\\tapievent\\TSP]\r\n"
)


def _hex(data: bytes, prefix: str) -> str:
    pairs = [f"{b:02x}" for b in data]
    rows = [",".join(pairs[i : i + 20]) for i in range(0, len(pairs), 20)]
    return prefix + ",\\\r\n  ".join(rows)


def _export(s: TspSettings) -> bytes:
    def sz(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    multi = ("\0".join(s.lines) + "\0\0").encode("utf-16-le")
    rows = [
        f'"AmiHost"={sz(s.ami_host)}',
        f'"AmiPort"=dword:{s.ami_port:08x}',
        f'"AmiSecret"={_hex(s.secret_blob, "hex:")}',
        f'"AmiTls"=dword:{int(s.tls):08x}',
        f'"AmiUser"={sz(s.username)}',
        f'"Lines"={_hex(multi, "hex(7):")}',
        f'"UserChannel"={sz(s.user_channel)}',
    ]
    return ("\ufeff" + HEADER + "\r\n".join(rows) + "\r\n\r\n").encode("utf-16-le")


text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x2FF), max_size=40)
settings = st.builds(
    TspSettings,
    ami_host=text.filter(bool),
    ami_port=st.integers(1, 65535),
    tls=st.booleans(),
    username=text,
    secret_blob=st.binary(min_size=1, max_size=300),
    user_channel=text,
    lines=st.lists(text.filter(bool), min_size=1, max_size=5).map(tuple),
)


@given(settings)
def test_the_reader_gives_back_what_the_export_holds(value: TspSettings) -> None:
    assert parse_reg_export(_export(value)) == value


def test_a_missing_key_gives_the_defaults_and_secret_stays_out_of_the_repr() -> None:
    empty = parse_reg_export(("\ufeff" + HEADER).encode("utf-16-le"))
    assert empty == TspSettings()
    assert "sekrit" not in repr(TspSettings(secret_blob=b"sekrit"))


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ('"AmiPort"=dword:00010000', "'AmiPort' must be a port"),
        ('"AmiPort"="5038"', "'AmiPort' has the wrong type"),
        ('"AmiSecret"=hex:zz', "'AmiSecret' is malformed"),
        ('"AmiHost"=hex(2):41,00', "'AmiHost' has a type the TSP does not use"),
    ],
)
def test_a_wrong_value_is_named(row: str, message: str) -> None:
    with pytest.raises(RegistryError, match=message):
        parse_reg_export((HEADER + row + "\r\n").encode())


def test_not_an_export_is_refused() -> None:
    with pytest.raises(RegistryError, match="not a registry export"):
        parse_reg_export(b"[ami]\nhost=x\n")


def test_the_bridge_configuration_comes_from_the_key() -> None:
    value = TspSettings(
        username="tapi",
        user_channel="PJSIP/100",
        lines=("PJSIP/100", "PJSIP/101"),
        link_token="7a" * 32,
    )
    config = bridge_config(value, "secret")
    assert isinstance(config, BridgeConfig)
    assert config.lines == ("PJSIP/100", "PJSIP/101")
    assert config.dial.channel_for("PJSIP/101") == "PJSIP/100"
    assert (config.listen_host, config.listen_port) == ("127.0.0.1", 5070)
    assert config.tls is False
    # The dialog's TLS checkbox (AmiTls) reaches the bridge's AMI connection.
    assert bridge_config(attrs.evolve(value, tls=True), "secret").tls is True
    with pytest.raises(RegistryError, match="AmiSecret is missing"):
        bridge_config(value, "")
    with pytest.raises(RegistryError, match="AmiUser is empty"):
        bridge_config(TspSettings(), "secret")
    # Issue 16: a key without the installer's LinkToken must not serve any local shim.
    with pytest.raises(RegistryError, match="LinkToken is missing: repair the installation"):
        bridge_config(attrs.evolve(value, link_token=""), "secret")


@pytest.mark.skipif(sys.platform == "win32", reason="checks the message given off Windows")
def test_tsp_bridge_registry_off_windows_says_so_without_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["tsp-bridge", "--registry"]) == 2
    err = capsys.readouterr().err
    assert "--registry reads the Windows registry; use --config FILE elsewhere" in err
    assert "Traceback" not in err
