"""`kofu demo-data` end to end on a temp KOFU_HOME (SQLite)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from kofu.bootstrap import Container, Settings
from kofu.cli.demo import app
from kofu.demo.showcase import CASES
from kofu.demo.tenants import MAIN_TENANT
from kofu.issuer.keys import has_tenant_keys
from kofu.issuer.tenant import TenantDirectory

runner = CliRunner()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("KOFU_DATABASE_URL", raising=False)
    monkeypatch.delenv("KOFU_TENANTS_DIR", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path / "home"


def _digest(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def test_generate_only_is_idempotent(home: Path) -> None:
    args = ["--home", str(home), "--population", "500", "--others", "60", "--today", "2025-06-15", "--no-import"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "加東市" in result.output and "showcase" in result.output
    first = _digest(home / "demo")
    assert len(TenantDirectory(home / "tenants").all()) == 18
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert _digest(home / "demo") == first
    showcase = json.loads((home / "demo" / "showcase.json").read_text(encoding="utf-8"))
    kato = [e["case"] for e in showcase if e["tenant"] == MAIN_TENANT]
    assert kato == ["eligible", *CASES]
    for entry in showcase:
        assert {"tenant", "tenant_name", "resident_id", "name", "case"} <= set(entry)
    assert not (home / "kofu.sqlite3").exists()


def test_bad_today(home: Path) -> None:
    result = runner.invoke(app, ["--home", str(home), "--today", "2025-13-01", "--no-import"])
    assert result.exit_code != 0


@pytest.mark.slow
def test_generate_and_import(home: Path) -> None:
    from kofu.registry.store import residents, seals

    args = ["--home", str(home), "--population", "500", "--others", "40", "--today", "2025-06-15"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    engine = Container(Settings(home=home)).engine

    def counts() -> tuple[int, int]:
        with engine.connect() as conn:
            r = conn.execute(select(func.count()).select_from(residents).where(residents.c.tenant == MAIN_TENANT))
            s = conn.execute(select(func.count()).select_from(seals).where(seals.c.tenant == MAIN_TENANT))
            return r.scalar_one(), s.scalar_one()

    first = counts()
    assert first[0] == 500 and first[1] > 100
    assert all(has_tenant_keys(home / "keys", code) for code in TenantDirectory(home / "tenants").codes())
    result = runner.invoke(app, args)  # idempotent: replaces with the same data
    assert result.exit_code == 0, result.output
    assert counts() == first
