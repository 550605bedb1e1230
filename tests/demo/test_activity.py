"""`kofu demo-data --activity`: a year of issuance in the real tables, consistent with what the reports read."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, insert, select

from kofu.center.store import orders, sessions, stores
from kofu.common.clock import JST
from kofu.common.errors import Conflict
from kofu.demo.activity import generate_activity
from kofu.demo.tenants import load_tenants
from kofu.issuer.store import counters, issuances
from kofu.issuer.tenant import TenantSettings
from kofu.registry.store import cards, households, residents
from kofu.reports import figures

END = date(2026, 11, 20)
START = END - timedelta(days=364)


def _registry(engine: Engine, tenant: str, n: int) -> None:
    with engine.begin() as conn:
        conn.execute(insert(households).values(tenant=tenant, household_id="H1", head_resident_id="R0", address="a"))
        conn.execute(
            insert(residents),
            [
                dict(
                    tenant=tenant, resident_id=f"R{i}", household_id="H1", name="n", kana="k",
                    birth_date=date(1980, 1, 1), sex="male", relationship="世帯主", address="a",
                    became_resident_on=date(1980, 1, 1), address_since=date(1980, 1, 1),
                    notified_on=date(1980, 1, 1), status="resident", version=1,
                )
                for i in range(n)
            ],
        )  # fmt: skip


@pytest.fixture
def demo_tenants() -> list[TenantSettings]:
    return [t for t in load_tenants() if t.code in ("282286", "282189")]  # 加東市, 小野市


def test_activity_is_what_the_reports_read(engine: Engine, demo_tenants: list[TenantSettings], tmp_path: Path) -> None:
    for t in demo_tenants:
        _registry(engine, t.code, 200)
    result = generate_activity(engine, demo_tenants, end=END, home=tmp_path, scale=0.5, seed=7)
    assert (result.start, result.end) == (START, END)
    assert [a.code for a in result.tenants] == [t.code for t in demo_tenants]
    for tenant, act in zip(demo_tenants, result.tenants, strict=True):
        assert act.records > 100
        figs = figures.summary(engine, tenant, START, END)
        # the issuer's records and the center's completed orders tell the same story
        assert sum(r.certificates for r in figs.fiscal_years) == act.certificates
        places = figures.out_of_city(engine, tenant, START, END)
        assert places.total == act.certificates
        assert places.prefecture + places.outside == act.out_of_city
        assert 0.1 < places.out_of_city_share < 0.4 and places.outside > 0 and places.prefecture > 0
        # a realistic spread: both inside and outside office hours, every hour inside service hours only
        assert 0.2 < figs.office.outside_share < 0.9
        open_hour = tenant.hours.open_time.hour
        close_hour = (tenant.hours.close_minutes - 1) // 60
        assert all(h.certificates == 0 for h in figs.hours if h.hour < open_hour or h.hour > close_hour)
        # nothing printed on 12/29–1/3 when the municipality closes then
        months = {m.month for m in figs.monthly}
        assert len(months) == 13  # 2025-11 … 2026-11
        with engine.connect() as conn:
            new_year = conn.execute(
                select(func.count())
                .select_from(issuances)
                .where(
                    issuances.c.tenant == tenant.code,
                    issuances.c.issued_on.between(date(2025, 12, 29), date(2026, 1, 3)),
                )
            ).scalar()
            last = conn.execute(select(counters.c.last_number).where(counters.c.tenant == tenant.code)).scalar()
            top = conn.execute(select(func.max(issuances.c.number)).where(issuances.c.tenant == tenant.code)).scalar()
            n_cards = conn.execute(
                select(func.count()).select_from(cards).where(cards.c.tenant == tenant.code)
            ).scalar()
            # issued_on is the JST date of issued_at
            sample = conn.execute(
                select(issuances.c.issued_at, issuances.c.issued_on).where(issuances.c.tenant == tenant.code).limit(50)
            ).all()
        assert tenant.closed_new_year and new_year == 0
        assert last == top == act.records  # the counter moved on: the next real issuance gets a fresh number
        assert n_cards == act.cards and 0.35 * 200 <= act.cards <= 0.8 * 200
        assert all(at.astimezone(JST).date() == on for at, on in sample)
        # the window counts the municipality would export: readable, with a convenience share of 8–30 %
        assert act.window_counts is not None
        shares = figures.convenience_share(figs.fiscal_years, figures.read_window_counts(act.window_counts))
        assert shares and all(0.07 < s.share < 0.31 for s in shares)
    uptake = figures.card_uptake(engine, demo_tenants, END)
    assert sorted(r.rank for r in uptake) in ([1, 2], [1, 1])


def test_activity_refuses_a_second_run(engine: Engine, demo_tenants: list[TenantSettings], tmp_path: Path) -> None:
    _registry(engine, "282286", 20)
    result = generate_activity(engine, demo_tenants, end=END, home=tmp_path, scale=0.05)
    assert result.skipped == ["282189"]  # no residents on its registry: nothing to generate
    with engine.connect() as conn:
        before = conn.execute(select(func.count()).select_from(orders)).scalar()
        assert conn.execute(select(func.count()).select_from(sessions)).scalar() == before
        assert conn.execute(select(func.count()).select_from(stores)).scalar() == 12  # 2 + 2 + 4 × 2 far away
    with pytest.raises(Conflict, match="already generated"):
        generate_activity(engine, demo_tenants, end=END, home=tmp_path, scale=0.05)


def test_demo_data_activity_then_kofu_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from kofu.cli.demo import app as demo_app
    from kofu.cli.report import app as report_app

    monkeypatch.delenv("KOFU_DATABASE_URL", raising=False)
    monkeypatch.delenv("KOFU_TENANTS_DIR", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    home = tmp_path / "home"
    monkeypatch.setenv("KOFU_HOME", str(home))
    args = ["--home", str(home), "--population", "300", "--tenant", "282286", "--today", END.isoformat()]
    result = CliRunner().invoke(demo_app, [*args, "--activity", "--activity-scale", "0.2"])
    assert result.exit_code == 0, result.output
    assert "Activity 2025-11-21 – 2026-11-20" in result.output and "加東市" in result.output
    assert (home / "window-counts" / "282286.csv").is_file()
    out = tmp_path / "report"
    result = CliRunner().invoke(report_app, ["--tenant", "282286", "--to", END.isoformat(), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "printed outside the municipality" in result.output
    share = (out / "share.csv").read_text(encoding="utf-8").splitlines()
    assert share[0] == "fiscal_year,type,convenience,window,share" and len(share) >= 5
    places = (out / "out_of_city.csv").read_text(encoding="utf-8").splitlines()
    city, prefecture, outside, _ = places[1].split(",")
    assert int(city) > 0 and int(prefecture) + int(outside) > 0
