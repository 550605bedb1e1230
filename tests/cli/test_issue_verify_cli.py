"""The operator's commands, run as a user would: kofu tenant keys/check, kofu issue, kofu verify."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kofu.bootstrap import Container
from kofu.cli.main import _register, app
from kofu.registry.model import Household, SealRegistration, SealStatus
from kofu.registry.store import RegistryStore
from tests.issuer.conftest import CHILD, HEAD, INCOME, WIFE, seal_png
from tests.issuer.factories import TENANT_TOML

runner = CliRunner()
_register()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KOFU_HOME", str(tmp_path))
    monkeypatch.delenv("KOFU_DATABASE_URL", raising=False)
    (tmp_path / "tenants").mkdir()
    (tmp_path / "tenants" / "282286.toml").write_text(TENANT_TOML, encoding="utf-8")
    engine = Container().engine  # runs the migrations, as every command does
    with engine.begin() as conn:
        reg = RegistryStore(conn)
        reg.insert_household(Household("282286", "H1", "R1", HEAD.address))
        for person in (HEAD, WIFE, CHILD):
            reg.insert_resident(person)
        reg.add_seal(
            SealRegistration("282286", "R1", "IN-1", seal_png(), HEAD.became_resident_on, SealStatus.REGISTERED)
        )
        reg.put_income(INCOME)
    engine.dispose()
    result = runner.invoke(app, ["tenant", "keys", "282286"])
    assert result.exit_code == 0, result.output
    return tmp_path


def test_issue_then_verify(home: Path) -> None:
    out = home / "out" / "j.pdf"
    args = ["issue", "--tenant", "282286", "--resident", "R1", "--type", "juminhyo", "--kind", "household"]
    result = runner.invoke(
        app, [*args, "--items", "household_head", "--at", "2026-11-25T10:00", "--out", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["ok"] and summary["fee_total"] == 250 and summary["number"] == 1
    assert out.read_bytes().startswith(b"%PDF")

    verified = runner.invoke(app, ["verify", str(out), "--json"])
    assert verified.exit_code == 0, verified.output
    verdict = json.loads(verified.output)
    assert verdict["outcome"] == "valid" and verdict["municipality"] == "加東市" and verdict["number"] == 1
    assert verdict["title"] == "住民票の写し"

    data = bytearray(out.read_bytes())
    data[data.index(b"BT") + 3] ^= 1
    (home / "bad.pdf").write_bytes(bytes(data))
    tampered = runner.invoke(app, ["verify", str(home / "bad.pdf")])
    assert tampered.exit_code == 1 and "TAMPERED" in tampered.output


def test_refusal_is_explained_in_both_languages(home: Path) -> None:
    args = ["issue", "--tenant", "282286", "--resident", "R3", "--type", "juminhyo", "--at", "2026-11-25T10:00"]
    result = runner.invoke(app, [*args, "--out", str(home / "x.pdf")])
    assert result.exit_code == 3
    assert "under-15" in result.output and "15歳未満" in result.output
    assert not (home / "x.pdf").exists()


def test_unknown_tenant_is_a_clear_error(home: Path) -> None:
    args = ["issue", "--tenant", "281000", "--resident", "R1", "--type", "juminhyo", "--out", str(home / "x.pdf")]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "281000 is not configured" in result.output


def test_verify_qr_payload_and_garbage(home: Path) -> None:
    result = runner.invoke(app, ["verify", "--qr", "KOFU1.abc.def", "--json"])
    assert result.exit_code == 1 and json.loads(result.output)["outcome"] == "unknown"


def test_system_confirmation_test_passes_then_fails_without_keys(home: Path) -> None:
    result = runner.invoke(app, ["tenant", "check", "282286"])
    assert result.exit_code == 0, result.output
    for name in ("settings", "keys", "calendar", "issue juminhyo", "issue kisai", "issue inkan", "issue shotoku"):
        assert name in result.output
    (home / "keys" / "282286" / "statement-key.pem").unlink()
    broken = runner.invoke(app, ["tenant", "check", "282286"])
    assert broken.exit_code == 1 and "FAIL" in broken.output and "no document-signing keys" in broken.output
