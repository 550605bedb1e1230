"""`kofu registry import / apply / show` through Typer's CliRunner on a temp SQLite home."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kofu.cli.registry import app

from .conftest import MakeRegistry, sample_residents

runner = CliRunner()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("KOFU_HOME", str(home))
    monkeypatch.delenv("KOFU_DATABASE_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    return home


def test_import_apply_show(home: Path, tenant: str, make_registry: MakeRegistry, tmp_path: Path) -> None:
    d = make_registry()
    result = runner.invoke(app, ["import", "--tenant", tenant, str(d)])
    assert result.exit_code == 0, result.output
    assert "imported" in result.output and "5 residents" in result.output

    result = runner.invoke(app, ["import", "--tenant", tenant, str(d)])
    assert result.exit_code == 2  # not empty, no --replace

    result = runner.invoke(app, ["show", "--tenant", tenant, "R1"])
    assert result.exit_code == 0, result.output
    for text in ("加東　太郎", "世帯主", "加東　花子", "registered", "S-0001", "2024, 2025"):
        assert text in result.output

    events = tmp_path / "events.jsonl"
    (tmp_path / "seal.png").write_bytes((d / "seals" / "R1.png").read_bytes())
    lines = [
        {
            "kind": "seal-registered",
            "resident_id": "R2",
            "effective_on": "2025-03-01",
            "notified_on": "2025-03-01",
            "registration_no": "S-0200",
            "image": "seal.png",
        },
        {
            "kind": "relocation",
            "resident_id": "R1",
            "effective_on": "2025-03-02",
            "notified_on": "2025-03-05",
            "address": "兵庫県加東市新町9番地",
        },
    ]
    events.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["apply", "--tenant", tenant, str(events)])
    assert result.exit_code == 0, result.output
    assert "2 event(s) applied" in result.output and "relocation" in result.output

    result = runner.invoke(app, ["show", "--tenant", tenant, "R2"])
    assert "S-0200" in result.output and "新町9番地" in result.output

    result = runner.invoke(app, ["show", "--tenant", tenant, "NOPE"])
    assert result.exit_code == 2


def test_import_rejected_prints_problems(home: Path, tenant: str, make_registry: MakeRegistry) -> None:
    rows = sample_residents()
    rows[2]["birth_date"] = "2015-02-30"
    result = runner.invoke(app, ["import", "--tenant", tenant, str(make_registry(rows))])
    assert result.exit_code == 2
    assert "residents.csv" in result.output and "birth_date" in result.output and "4" in result.output


def test_apply_bad_file_exit_2(home: Path, tenant: str, tmp_path: Path) -> None:
    f = tmp_path / "bad.jsonl"
    f.write_text('{"kind": "death", "resident_id": "R1"}\nnot json\n', encoding="utf-8")
    result = runner.invoke(app, ["apply", "--tenant", tenant, str(f)])
    assert result.exit_code == 2
    assert "effective_on" in result.output and "not valid JSON" in result.output
