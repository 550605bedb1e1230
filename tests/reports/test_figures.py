"""Figures against hand-computed expectations on a small fixture, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from kofu.common.clock import JST
from kofu.common.errors import InvalidInput
from kofu.demo.tenants import load_tenants
from kofu.issuer.store import IssuanceRecord, IssuerStore
from kofu.issuer.tenant import TenantSettings
from kofu.reports import figures

START, END = date(2026, 4, 1), date(2027, 4, 30)


@pytest.fixture
def kato() -> TenantSettings:
    return next(t for t in load_tenants() if t.code == "282286")


def record(
    n: int, tenant: str, jst: datetime, type_: str, copies: int, fee: int, status: str = "issued"
) -> IssuanceRecord:
    at = jst.replace(tzinfo=JST)
    return IssuanceRecord(
        id=f"r{n:04d}",
        tenant=tenant,
        number=n,
        type=type_,
        kind="self",
        copies=copies,
        fee_each=fee,
        resident_id=f"res{n}",
        resident_version=1,
        channel="kiosk",
        cert_serial=None,
        order_id=f"o{n}",
        issued_at=at.astimezone(UTC),
        issued_on=at.date(),
        document_hash="0" * 64,
        status=status,
        voided_at=at.astimezone(UTC) + timedelta(minutes=1) if status == "voided" else None,
        void_reason="printer-jam" if status == "voided" else None,
    )


FIXTURE = [
    # Tuesday 2026-11-24: 17:14 inside office hours, 17:15 outside, 8:29 outside
    (datetime(2026, 11, 24, 17, 14), "juminhyo", 2, 250, "issued"),
    (datetime(2026, 11, 24, 17, 15), "inkan", 1, 250, "issued"),
    (datetime(2026, 11, 24, 8, 29), "kisai", 1, 250, "issued"),
    (datetime(2026, 11, 24, 12, 0), "juminhyo", 5, 250, "voided"),  # excluded everywhere
    (datetime(2026, 11, 23, 10, 0), "juminhyo", 1, 250, "issued"),  # Monday, 勤労感謝の日
    (datetime(2026, 12, 30, 10, 0), "juminhyo", 1, 250, "issued"),  # Wednesday, 年末
    (datetime(2027, 3, 31, 9, 0), "shotoku", 1, 250, "issued"),  # FY2026's last day, inside
    (datetime(2027, 4, 1, 8, 30), "juminhyo", 3, 200, "issued"),  # FY2027, new fee, 8:30 inside
]


@pytest.fixture
def loaded(engine: Engine, kato: TenantSettings) -> Engine:
    with engine.begin() as conn:
        store = IssuerStore(conn)
        for n, (jst, type_, copies, fee, status) in enumerate(FIXTURE, start=1):
            store.add(record(n, kato.code, jst, type_, copies, fee, status))
        # another tenant's record never counts
        store.add(record(99, "282014", datetime(2026, 11, 24, 10, 0), "juminhyo", 7, 200))
    return engine


def test_by_month(loaded: Engine, kato: TenantSettings) -> None:
    rows = figures.by_month(loaded, kato, START, END)
    assert [(r.month, r.type, r.certificates, r.revenue) for r in rows] == [
        ("2026-11", "inkan", 1, 250),
        ("2026-11", "juminhyo", 3, 750),
        ("2026-11", "kisai", 1, 250),
        ("2026-12", "juminhyo", 1, 250),
        ("2027-03", "shotoku", 1, 250),
        ("2027-04", "juminhyo", 3, 600),
    ]


def test_by_fiscal_year_with_the_fee_difference(loaded: Engine, kato: TenantSettings) -> None:
    rows = figures.by_fiscal_year(loaded, kato, START, END)
    # window 300 throughout; convenience 250 until FY2026, 200 from 2027-04-01
    assert [(r.fiscal_year, r.type, r.certificates, r.revenue, r.forgone) for r in rows] == [
        (2026, "inkan", 1, 250, 50),
        (2026, "juminhyo", 4, 1000, 200),
        (2026, "kisai", 1, 250, 50),
        (2026, "shotoku", 1, 250, 50),
        (2027, "juminhyo", 3, 600, 300),
    ]


def test_date_range_is_inclusive_and_on_issued_on(loaded: Engine, kato: TenantSettings) -> None:
    rows = figures.by_fiscal_year(loaded, kato, date(2026, 11, 24), date(2027, 3, 31))
    assert sum(r.certificates for r in rows) == 2 + 1 + 1 + 1 + 1  # the 11/23 and 4/1 records are outside


def test_by_hour(loaded: Engine, kato: TenantSettings) -> None:
    hours = {r.hour: r.certificates for r in figures.by_hour(loaded, kato, START, END)}
    assert len(hours) == 24
    assert {h: c for h, c in hours.items() if c} == {8: 1 + 3, 9: 1, 10: 2, 17: 2 + 1}


def test_office_hours(loaded: Engine, kato: TenantSettings) -> None:
    split = figures.office_hours(loaded, kato, START, END)
    # inside: 17:14 Tue (2), 3/31 9:00 (1), 4/1 8:30 (3); outside: 17:15, 8:29, holiday, 12/30
    assert (split.inside, split.outside) == (6, 4)
    assert split.outside_share == pytest.approx(0.4)


def test_closed_days() -> None:
    days = figures.closed_days(date(2026, 11, 1), date(2027, 1, 5))
    assert date(2026, 11, 23) in days and date(2026, 11, 3) in days
    assert [d for d in days if d.month in (12, 1)] == [
        date(2026, 12, 29),
        date(2026, 12, 30),
        date(2026, 12, 31),
        date(2027, 1, 1),
        date(2027, 1, 2),
        date(2027, 1, 3),
    ]


def test_convenience_share(loaded: Engine, kato: TenantSettings, tmp_path: Path) -> None:
    path = tmp_path / "window.csv"
    path.write_text("fiscal_year,type,window_count\n2026,juminhyo,16\n2026,inkan,3\n", encoding="utf-8")
    counts = figures.read_window_counts(path)
    shares = figures.convenience_share(figures.by_fiscal_year(loaded, kato, START, END), counts)
    assert [(s.fiscal_year, s.type, s.convenience, s.window) for s in shares] == [
        (2026, "inkan", 1, 3),
        (2026, "juminhyo", 4, 16),
    ]
    assert [s.share for s in shares] == [0.25, 0.2]


@pytest.mark.parametrize(
    "text", ["year,type,count\n2026,juminhyo,1\n", "fiscal_year,type,window_count\n2026,koseki,1\n"]
)
def test_window_counts_rejects_bad_files(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidInput):
        figures.read_window_counts(path)


def test_cost_summary(loaded: Engine, kato: TenantSettings) -> None:
    rows = figures.by_fiscal_year(loaded, kato, START, END)
    summary = figures.cost_summary(kato, rows)
    assert summary.initial == 6_372_000 + 5_378_400
    assert summary.window_handling is None
    assert [(y.fiscal_year, y.certificates, y.forgone, y.net) for y in summary.years] == [
        (2026, 7, 350, -350 - 2_160_000),
        (2027, 3, 300, -300 - 2_160_000),
    ]
    assert summary.break_even_year is None
    # with a window handling cost per certificate, the break-even year is the first year the balance turns
    cheap = kato.model_copy(update={"costs": {"build": 1000, "yearly": 100, "window_handling": 200}})
    summary = figures.cost_summary(cheap, rows)
    # FY2026: 7×200 − 350 − 100 = 950 → −50; FY2027: 3×200 − 300 − 100 = 200 → 150
    assert [y.cumulative for y in summary.years] == [-50, 150]
    assert summary.break_even_year == 2027


def test_fiscal_year_of() -> None:
    assert figures.fiscal_year_of(date(2027, 3, 31)) == 2026
    assert figures.fiscal_year_of(date(2027, 4, 1)) == 2027


def test_summary_is_the_four_figures_in_one_scan(loaded: Engine, kato: TenantSettings) -> None:
    s = figures.summary(loaded, kato, START, END)
    assert s.monthly == figures.by_month(loaded, kato, START, END)
    assert s.fiscal_years == figures.by_fiscal_year(loaded, kato, START, END)
    assert s.hours == figures.by_hour(loaded, kato, START, END)
    assert s.office == figures.office_hours(loaded, kato, START, END) == figures.OfficeHoursSplit(6, 4)


def test_summary_of_an_empty_range(loaded: Engine, kato: TenantSettings) -> None:
    s = figures.summary(loaded, kato, date(2020, 1, 1), date(2020, 12, 31))
    assert (s.monthly, s.fiscal_years, s.office) == ([], [], figures.OfficeHoursSplit(0, 0))
    assert [h.certificates for h in s.hours] == [0] * 24
