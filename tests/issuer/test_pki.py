"""`kofu pki init/show`: the private mTLS CA and its two certificates, private keys 0600."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from typer.testing import CliRunner

from kofu.cli import pki as pki_cli
from kofu.issuer.pki import CENTER_CN, common_name, load_certificate, mtls_files


def test_init_and_show(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KOFU_HOME", str(tmp_path))
    runner = CliRunner()
    assert runner.invoke(pki_cli.app, ["init", "--host", "issuer.example"]).exit_code == 0
    files = mtls_files(tmp_path / "keys")
    assert files.complete()
    for key in (files.ca_key, files.issuer_key, files.center_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    ca, server, client = (load_certificate(p) for p in (files.ca_cert, files.issuer_cert, files.center_cert))
    assert server.issuer == ca.subject == client.issuer
    assert common_name(client) == CENTER_CN
    assert list(client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH
    ]
    assert list(server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH
    ]
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == {"localhost", "issuer.example"}
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]

    before = files.center_cert.read_bytes()
    assert runner.invoke(pki_cli.app, ["init"]).exit_code == 0  # kept
    assert files.center_cert.read_bytes() == before
    assert runner.invoke(pki_cli.app, ["init", "--force"]).exit_code == 0  # anew
    assert files.center_cert.read_bytes() != before

    shown = runner.invoke(pki_cli.app, ["show", "--json"])
    assert shown.exit_code == 0, shown.output
    rows = json.loads(shown.output)
    assert [r["usage"] for r in rows] == ["CA", "serverAuth", "clientAuth"]
    assert "kofu-center" in runner.invoke(pki_cli.app, ["show"]).output


def test_show_without_init(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KOFU_HOME", str(tmp_path))
    result = CliRunner().invoke(pki_cli.app, ["show"])
    assert result.exit_code == 1 and "kofu pki init" in result.output
