"""`kofu report` writes charts (PNG, SVG), tables (CSV, XLSX) and an HTML page."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from kofu.bootstrap import Container
from kofu.cli.report import app
from kofu.common.errors import KofuError
from kofu.demo.tenants import install_tenants
from kofu.issuer.store import IssuerStore
from kofu.reports.charts import use_japanese_font
from tests.reports.test_figures import FIXTURE, record

runner = CliRunner()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KOFU_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KOFU_DATABASE_URL", raising=False)
    monkeypatch.delenv("KOFU_TENANTS_DIR", raising=False)
    c = Container()
    install_tenants(c.settings.resolved_tenants_dir(), ["282286"])
    with c.engine.begin() as conn:
        store = IssuerStore(conn)
        for n, (jst, type_, copies, fee, status) in enumerate(FIXTURE, start=1):
            store.add(record(n, "282286", jst, type_, copies, fee, status))
    c.engine.dispose()
    return tmp_path


def test_report_writes_every_format(home: Path) -> None:
    counts = home / "window.csv"
    counts.write_text("fiscal_year,type,window_count\n2026,juminhyo,16\n", encoding="utf-8")
    out = home / "out"
    args = ["--tenant", "282286", "--from", "2026-04-01", "--to", "2027-04-30"]
    result = runner.invoke(app, [*args, "--window-counts", str(counts), "--out", str(out)])
    assert result.exit_code == 0, result.output
    names = {p.name for p in out.iterdir()}
    assert {"monthly.png", "monthly.svg", "hourly.png", "hourly.svg", "report.xlsx", "index.html"} <= names
    assert {"monthly.csv", "fiscal_years.csv", "hours.csv", "office_hours.csv", "costs.csv", "share.csv"} <= names
    assert (out / "monthly.png").read_bytes().startswith(b"\x89PNG")
    assert (out / "office_hours.csv").read_text(encoding="utf-8").splitlines() == [
        "inside,outside,outside_share",
        "6,4,0.4",
    ]
    assert (out / "share.csv").read_text(encoding="utf-8").splitlines()[1] == "2026,juminhyo,4,16,0.2"
    wb = load_workbook(out / "report.xlsx")
    assert "monthly" in wb.sheetnames and "share" in wb.sheetnames
    page = (out / "index.html").read_text(encoding="utf-8")
    for link in ("monthly.png", "hourly.svg", "report.xlsx", "fiscal_years.csv"):
        assert f'"{link}"' in page
    assert "加東市" in page


def test_unknown_tenant_and_bad_dates(home: Path) -> None:
    result = runner.invoke(app, ["--tenant", "999999", "--out", str(home / "x")])
    assert result.exit_code == 2
    result = runner.invoke(app, ["--tenant", "282286", "--from", "2027-01-01", "--to", "2026-01-01", "--out", "x"])
    assert result.exit_code == 2
    result = runner.invoke(app, ["--tenant", "282286", "--from", "April", "--out", "x"])
    assert result.exit_code != 0


def test_a_missing_japanese_font_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(KofuError, match="Japanese font"):
        use_japanese_font(tmp_path / "ipaexg.ttf")
