"""The cross-tenant report (uptake ranking, fee policies 資料3/4, Miki City 別添資料5), `kofu report --all`
and the `/reports/` pages of the web app."""

from __future__ import annotations

import csv
import warnings
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine
from starlette.exceptions import StarletteDeprecationWarning
from typer.testing import CliRunner

from kofu.bootstrap import Container, Settings
from kofu.cli.report import app as report_app
from kofu.common.clock import FixedClock
from kofu.demo.tenants import install_tenants, load_tenants
from kofu.issuer.store import IssuerStore
from kofu.reports.build import build_overview
from kofu.reports.staff import StaffLogin
from kofu.reports.web import create_router
from tests.reports.test_figures import FIXTURE, record
from tests.reports.test_places_uptake import _card, _people

with warnings.catch_warnings():  # starlette asks for httpx2; the project installs httpx
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

START, END = date(2026, 4, 1), date(2027, 4, 30)


def _load(engine: Engine) -> None:
    with engine.begin() as conn:
        store = IssuerStore(conn)
        for n, (jst, type_, copies, fee, status) in enumerate(FIXTURE, start=1):
            store.add(record(n, "282286", jst, type_, copies, fee, status))
        people = _people(conn, "282286", 4)
        for i in range(3):
            _card(conn, "282286", people[i], f"A{i}", date(2020, 1, 1))
        ono = _people(conn, "282189", 2)
        _card(conn, "282189", ono[0], "B0", date(2020, 1, 1))


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_overview_tables(engine: Engine, tmp_path: Path) -> None:
    _load(engine)
    tenants = load_tenants()
    ov = build_overview(engine, tenants, START, END, tmp_path)
    totals = {r["code"]: r for r in _rows(tmp_path / "tenants.csv")}
    assert len(totals) == 18
    # the fixture's Kato City figures: 10 certificates, revenue 250×7 + 200×3, 4 of 10 outside office hours
    assert (totals["282286"]["certificates"], totals["282286"]["revenue"]) == ("10", str(250 * 7 + 200 * 3))
    assert totals["282286"]["outside_office_share"] == "0.4"
    assert totals["281000"]["certificates"] == "0"
    uptake = _rows(tmp_path / "card_uptake.csv")
    # Kato 3/4 first, Ono 1/2 second ("second in the prefecture"), the rest without residents share third
    assert [(r["code"], r["rank"], r["rank_in_prefecture"], r["uptake"]) for r in uptake[:2]] == [
        ("282286", "1", "1", "0.75"),
        ("282189", "2", "2", "0.5"),
    ]
    assert {r["rank"] for r in uptake[2:]} == {"3"}
    counts = {r["policy"]: (r["tenants"], r["nationwide"]) for r in _rows(tmp_path / "fee_policy_counts.csv")}
    assert counts == {"cheaper": ("12", "110"), "same_low": ("1", "52"), "same": ("5", "88")}  # 資料3 and 資料4
    ono = next(r for r in _rows(tmp_path / "fee_policy.csv") if r["code"] == "282189")
    assert (ono["window"], ono["convenience"], ono["policy"]) == (
        "250",
        "250",
        "same_low",
    )  # 資料3: 小野市 250 yen at both
    miki = _rows(tmp_path / "miki.csv")
    assert [r["fiscal_year"] for r in miki] == ["2011", "2012", "2013", "2014", "2015"]
    for r in miki:  # every printed share recomputes from its count and the total it implies
        for name in ("juminhyo", "inkan", "cards"):
            assert r[f"{name}_percent_recomputed"] == r[f"{name}_percent_printed"]
    assert miki[0]["juminhyo_total_implied"] == "31046"
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    for link in ('"uptake.png"', '"miki.png"', '"miki.svg"', '"fee_policy.csv"', '"report.xlsx"', '"282286/"'):
        assert link in page
    assert "兵庫県内の順位: 1位 加東市（75.0%）、2位 小野市（50.0%）" in page
    assert "窓口手数料と差別化している自治体" in page
    assert {p.name for p in ov.files} >= {"uptake.png", "uptake.svg", "miki.png", "miki.svg", "report.xlsx"}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KOFU_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KOFU_DATABASE_URL", raising=False)
    monkeypatch.delenv("KOFU_TENANTS_DIR", raising=False)
    c = Container()
    install_tenants(c.settings.resolved_tenants_dir(), ["282286", "282189"])
    _load(c.engine)
    c.engine.dispose()
    return tmp_path / "home"


def test_report_all(home: Path) -> None:
    counts = home / "window-counts" / "282286.csv"
    counts.parent.mkdir()
    counts.write_text("fiscal_year,type,window_count\n2026,juminhyo,16\n", encoding="utf-8")
    out = home / "out"
    result = CliRunner().invoke(
        report_app, ["--all", "--from", START.isoformat(), "--to", END.isoformat(), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "加東市 75.0%" in result.output
    assert (out / "index.html").is_file() and (out / "282189" / "index.html").is_file()
    # the window counts dropped in KOFU_HOME are used for the tenant that has them
    assert (out / "282286" / "share.csv").read_text(encoding="utf-8").splitlines()[1] == "2026,juminhyo,4,16,0.2"
    assert not (out / "282189" / "share.csv").exists()
    neither = CliRunner().invoke(report_app, ["--out", str(out)])
    assert neither.exit_code == 2 and "--all" in neither.output


def test_reports_pages(home: Path) -> None:
    c = Container(Settings(home=home), clock=FixedClock(datetime(2027, 4, 30, 3, 0, tzinfo=UTC)))
    app = FastAPI()
    staff, password = StaffLogin.generate("kakari")
    app.include_router(create_router(c.engine, c.tenants, c.clock, home / "reports", home, staff=staff))
    client = TestClient(app)
    client.auth = ("kakari", password)  # the staff login: see test_staff.py
    first = client.get("/reports/", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/reports/2026-05-01_2027-04-30/"
    page = client.get("/reports/?from=2026-04-01&to=2027-04-30")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "コンビニ交付 運用報告（全団体）" in page.text and "加東市" in page.text
    png = client.get("/reports/2026-04-01_2027-04-30/uptake.png")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    assert client.get("/reports/2026-04-01_2027-04-30/miki.svg").headers["content-type"] == "image/svg+xml"
    table = client.get("/reports/2026-04-01_2027-04-30/card_uptake.csv")
    assert table.text.splitlines()[1].startswith("1,1,282286,加東市")
    kato = client.get("/reports/2026-04-01_2027-04-30/282286/")
    assert kato.status_code == 200 and "加東市（282286）" in kato.text
    assert "業務時間外の交付: 40.0%" in kato.text
    assert client.get("/reports/2026-04-01_2027-04-30/282286/monthly.png").content.startswith(b"\x89PNG")
    xlsx = client.get("/reports/2026-04-01_2027-04-30/282286/report.xlsx")
    assert xlsx.status_code == 200 and xlsx.content.startswith(b"PK")
    redirect = client.get("/reports/2026-04-01_2027-04-30/282286", follow_redirects=False)
    assert redirect.headers["location"] == "/reports/2026-04-01_2027-04-30/282286/"
    # clear refusals
    assert client.get("/reports/2026-04-01_2027-04-30/281000/").status_code == 404  # not a tenant here
    assert client.get("/reports/2026-04-01_2027-04-30/../kofu.sqlite3").status_code == 404
    assert client.get("/reports/2026-04-01_2027-04-30/282286/..%2Fkofu.sqlite3").status_code == 404
    assert client.get("/reports/last-year/").status_code == 404
    assert client.get("/reports/2027-04-30_2026-04-01/").status_code == 400
    bad = client.get("/reports/?from=April")
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.text
