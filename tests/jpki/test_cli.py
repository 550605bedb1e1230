"""`kofu jpki export|show|revoke` and `kofu serve jpki`, run as an operator would."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from typer.testing import CliRunner

from kofu.bootstrap import Container
from kofu.cli import jpki as jpki_cli
from kofu.cli import serve as serve_cli
from kofu.jpki.validate import load_trust_roots

from .conftest import BIRTH, now_utc

runner = CliRunner()
cli = typer.Typer()
cli.add_typer(jpki_cli.app, name="jpki")
cli.add_typer(serve_cli.app, name="serve")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KOFU_HOME", str(tmp_path))
    monkeypatch.delenv("KOFU_DATABASE_URL", raising=False)
    return tmp_path


def test_export_show_revoke(home: Path, card_key: rsa.RSAPrivateKey) -> None:
    c = Container()
    authority = jpki_cli.authority(c)
    cert = authority.issue_auth_certificate(card_key.public_key(), birth_date=BIRTH, issued_at=now_utc())
    serial = format(cert.serial_number, "x")
    c.engine.dispose()
    assert (home / "keys" / "jpki" / "auth" / "key.pem").exists()

    out = home / "export"
    result = runner.invoke(cli, ["jpki", "export", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["auth-ca.pem", "auth.crl.pem", "sign-ca.pem", "sign.crl.pem"]
    assert load_trust_roots(out) == authority.trust_roots
    assert len(x509.load_pem_x509_crl((out / "auth.crl.pem").read_bytes())) == 0

    shown = runner.invoke(cli, ["jpki", "show", serial, "--json"])
    assert shown.exit_code == 0, shown.output
    info = json.loads(shown.output)
    assert info["status"] == "good" and info["kind"] == "auth" and info["serial"] == serial.upper()
    assert info["subject"].startswith("CN=") and info["revoked_at"] is None

    revoked = runner.invoke(cli, ["jpki", "revoke", serial, "--reason", "loss", "--at", "2026-01-05T09:00"])
    assert revoked.exit_code == 0, revoked.output
    info = json.loads(runner.invoke(cli, ["jpki", "show", serial, "--json"]).output)
    assert info["status"] == "revoked" and info["reason"] == "loss" and info["crl_reason"] == "keyCompromise"
    assert info["revoked_at"] == "2026-01-05T00:00:00+00:00"

    again = runner.invoke(cli, ["jpki", "revoke", serial, "--reason", "death"])
    assert again.exit_code == 2 and "already revoked" in again.output
    missing = runner.invoke(cli, ["jpki", "show", "ABCDEF"])
    assert missing.exit_code == 2 and "no JPKI certificate" in missing.output
    bad_reason = runner.invoke(cli, ["jpki", "revoke", serial, "--reason", "bored"])
    assert bad_reason.exit_code != 0

    runner.invoke(cli, ["jpki", "export", "--out", str(out)])
    assert len(x509.load_pem_x509_crl((out / "auth.crl.pem").read_bytes())) == 1


def test_serve_jpki_is_a_subcommand() -> None:
    result = runner.invoke(cli, ["serve", "jpki", "--help"])
    assert result.exit_code == 0 and "--port" in result.output and "--host" in result.output
