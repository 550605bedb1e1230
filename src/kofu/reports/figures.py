"""Issuance figures for one municipality, aggregated in SQL (SQLite and PostgreSQL alike).

Every function takes an engine, the tenant's settings and an inclusive date range on `issued_on` (the
JST date of issuance) and returns a few small rows: the database does the grouping, Python never loops
over issuance records. Voided issuances are excluded everywhere; a certificate is one copy
(`copies` is summed). Hours are JST, from `issued_at`.

Office hours (業務時間内): Monday–Friday 8:30–17:15 JST (17:15 itself is outside), except national
holidays (jpholiday) and 12/29–1/3. The holidays of the range are computed in Python and passed to
the query as a list of dates.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import jpholiday
from sqlalchemy import Date, Engine, Integer, and_, case, cast, extract, func, literal, not_, select
from sqlalchemy.sql.elements import ColumnElement

from kofu.common.errors import InvalidInput
from kofu.issuer.store import issuances as t
from kofu.issuer.tenant import CertificateType, TenantSettings

OFFICE_OPEN_MINUTE = 8 * 60 + 30  # 8:30
OFFICE_CLOSE_MINUTE = 17 * 60 + 15  # 17:15, exclusive


@dataclass(frozen=True)
class MonthRow:
    month: str  # YYYY-MM
    type: str
    certificates: int
    revenue: int  # yen: copies × fee_each


@dataclass(frozen=True)
class FiscalYearRow:
    fiscal_year: int  # 年度: April of this year to March of the next
    type: str
    certificates: int
    revenue: int
    forgone: int  # yen: copies × (window fee − convenience fee) on the day of issuance


@dataclass(frozen=True)
class HourRow:
    hour: int  # 0–23 JST
    certificates: int


@dataclass(frozen=True)
class OfficeHoursSplit:
    inside: int
    outside: int

    @property
    def outside_share(self) -> float:
        total = self.inside + self.outside
        return self.outside / total if total else 0.0


@dataclass(frozen=True)
class ShareRow:
    fiscal_year: int
    type: str
    convenience: int
    window: int

    @property
    def share(self) -> float:
        total = self.convenience + self.window
        return self.convenience / total if total else 0.0


@dataclass(frozen=True)
class CostYear:
    fiscal_year: int
    certificates: int
    revenue: int
    forgone: int  # fee difference given up against the window
    yearly_cost: int
    saving: int  # certificates × costs["window_handling"] (0 when not set)
    net: int  # saving − forgone − yearly_cost
    cumulative: int  # −(build + environment) + Σ net


@dataclass(frozen=True)
class CostSummary:
    initial: int  # build + environment
    yearly: int
    window_handling: int | None  # yen saved per certificate not handled at the window
    years: list[CostYear]
    break_even_year: int | None  # first fiscal year whose cumulative balance is ≥ 0


# --- SQL building blocks -------------------------------------------------------------------------


def _jst_parts(dialect: str) -> tuple[ColumnElement[Any], ColumnElement[Any], ColumnElement[Any]]:
    """(JST hour, JST minute of day, JST weekday 0=Sunday) of `issued_at`."""
    if dialect == "sqlite":
        local = func.datetime(t.c.issued_at, "+9 hours")
        hour = cast(func.strftime("%H", local), Integer)
        minute = cast(func.strftime("%M", local), Integer)
        dow = cast(func.strftime("%w", local), Integer)
    else:
        local = func.timezone("Asia/Tokyo", t.c.issued_at)
        hour = cast(extract("hour", local), Integer)
        minute = cast(extract("minute", local), Integer)
        dow = cast(extract("dow", local), Integer)
    return hour, hour * 60 + minute, dow


def _jst_date(dialect: str) -> ColumnElement[Any]:
    if dialect == "sqlite":
        return func.date(t.c.issued_at, "+9 hours")
    return cast(func.timezone("Asia/Tokyo", t.c.issued_at), Date)


def _month(dialect: str) -> ColumnElement[Any]:
    if dialect == "sqlite":
        return func.strftime("%Y-%m", t.c.issued_on)
    return func.to_char(t.c.issued_on, "YYYY-MM")


def _fiscal_year(dialect: str) -> ColumnElement[Any]:
    if dialect == "sqlite":
        year = cast(func.strftime("%Y", t.c.issued_on), Integer)
        month = cast(func.strftime("%m", t.c.issued_on), Integer)
    else:
        year = cast(extract("year", t.c.issued_on), Integer)
        month = cast(extract("month", t.c.issued_on), Integer)
    return year - case((month < 4, 1), else_=0)


def _live(tenant: TenantSettings, start: date, end: date) -> ColumnElement[bool]:
    return and_(t.c.tenant == tenant.code, t.c.status == "issued", t.c.issued_on >= start, t.c.issued_on <= end)


def _window_fee(tenant: TenantSettings) -> ColumnElement[Any]:
    """The window fee in force for the record's type on its `issued_on`, from the tenant's fee periods."""
    whens: list[tuple[ColumnElement[bool], int]] = []
    for cert in tenant.certificates:
        for period in sorted(cert.fees, key=lambda p: p.from_, reverse=True):
            whens.append((and_(t.c.type == cert.type.value, t.c.issued_on >= period.from_), period.window))
    if not whens:
        return cast(t.c.fee_each, Integer)
    return case(*whens, else_=t.c.fee_each)


def closed_days(start: date, end: date) -> list[date]:
    """National holidays (jpholiday) and 12/29–1/3 in [start, end]."""
    days = {d for d, _ in jpholiday.between(start, end)}
    day = start
    while day <= end:
        if (day.month == 12 and day.day >= 29) or (day.month == 1 and day.day <= 3):
            days.add(day)
        day += timedelta(days=1)
    return sorted(days)


# --- figures -------------------------------------------------------------------------------------

_certs = func.coalesce(func.sum(t.c.copies), 0)
_revenue = func.coalesce(func.sum(t.c.copies * t.c.fee_each), 0)


def by_month(engine: Engine, tenant: TenantSettings, start: date, end: date) -> list[MonthRow]:
    month = _month(engine.dialect.name).label("month")
    stmt = (
        select(month, t.c.type, _certs, _revenue)
        .where(_live(tenant, start, end))
        .group_by(month, t.c.type)
        .order_by(month, t.c.type)
    )
    with engine.connect() as conn:
        return [MonthRow(str(m), str(ty), int(c), int(r)) for m, ty, c, r in conn.execute(stmt)]


def by_fiscal_year(engine: Engine, tenant: TenantSettings, start: date, end: date) -> list[FiscalYearRow]:
    fy = _fiscal_year(engine.dialect.name).label("fy")
    forgone = func.coalesce(func.sum(t.c.copies * (_window_fee(tenant) - t.c.fee_each)), 0)
    stmt = (
        select(fy, t.c.type, _certs, _revenue, forgone)
        .where(_live(tenant, start, end))
        .group_by(fy, t.c.type)
        .order_by(fy, t.c.type)
    )
    with engine.connect() as conn:
        return [FiscalYearRow(int(y), str(ty), int(c), int(r), int(f)) for y, ty, c, r, f in conn.execute(stmt)]


def by_hour(engine: Engine, tenant: TenantSettings, start: date, end: date) -> list[HourRow]:
    """All 24 hours, zeros included."""
    hour = _jst_parts(engine.dialect.name)[0].label("hour")
    stmt = select(hour, _certs).where(_live(tenant, start, end)).group_by(hour)
    with engine.connect() as conn:
        found = {int(h): int(c) for h, c in conn.execute(stmt)}
    return [HourRow(h, found.get(h, 0)) for h in range(24)]


def office_hours(engine: Engine, tenant: TenantSettings, start: date, end: date) -> OfficeHoursSplit:
    dialect = engine.dialect.name
    _, minute, dow = _jst_parts(dialect)
    jst_day = _jst_date(dialect)
    closed = closed_days(start - timedelta(days=1), end + timedelta(days=1))
    closed_values: list[Any] = [d.isoformat() for d in closed] if dialect == "sqlite" else closed
    is_closed: ColumnElement[bool] = jst_day.in_(closed_values) if closed_values else literal(False)
    inside_cond = and_(
        dow.between(1, 5),
        minute >= OFFICE_OPEN_MINUTE,
        minute < OFFICE_CLOSE_MINUTE,
        not_(is_closed),
    )
    inside = func.coalesce(func.sum(case((inside_cond, t.c.copies), else_=0)), 0)
    stmt = select(inside, _certs).where(_live(tenant, start, end))
    with engine.connect() as conn:
        row = conn.execute(stmt).one()
    return OfficeHoursSplit(inside=int(row[0]), outside=int(row[1]) - int(row[0]))


# --- convenience share -----------------------------------------------------------------------------


def read_window_counts(path: Path) -> dict[tuple[int, str], int]:
    """The municipality's window counts: a CSV with header `fiscal_year,type,window_count`, one row per
    fiscal year (年度, e.g. 2026 = April 2026–March 2027) and certificate type (juminhyo, kisai, inkan,
    shotoku), counting certificates (copies) issued at the window."""
    known = {c.value for c in CertificateType}
    out: dict[tuple[int, str], int] = {}
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or set(reader.fieldnames) != {"fiscal_year", "type", "window_count"}:
            raise InvalidInput(
                f"{path}: the header must be fiscal_year,type,window_count (found {reader.fieldnames})",
                f"{path}: 見出し行は fiscal_year,type,window_count としてください",
            )
        for line, row in enumerate(reader, start=2):
            try:
                key = (int(row["fiscal_year"]), row["type"].strip())
                count = int(row["window_count"])
            except (TypeError, ValueError):
                raise InvalidInput(f"{path}:{line}: not a number", f"{path}:{line}: 数値ではありません") from None
            if key[1] not in known or count < 0:
                raise InvalidInput(
                    f"{path}:{line}: unknown type {key[1]!r} or negative count",
                    f"{path}:{line}: 証明書の種類または件数が正しくありません",
                )
            out[key] = out.get(key, 0) + count
    return out


def convenience_share(rows: Sequence[FiscalYearRow], window_counts: dict[tuple[int, str], int]) -> list[ShareRow]:
    """The convenience share of all issuance per fiscal year and type (only where a window count exists)."""
    conv = {(r.fiscal_year, r.type): r.certificates for r in rows}
    return [ShareRow(fy, ty, conv.get((fy, ty), 0), window) for (fy, ty), window in sorted(window_counts.items())]


# --- cost-effectiveness ----------------------------------------------------------------------------


def cost_summary(tenant: TenantSettings, rows: Sequence[FiscalYearRow]) -> CostSummary:
    """Cost-effectiveness per fiscal year from the tenant's `costs` (yen): `build` + `environment` once,
    `yearly` every year, and optionally `window_handling` — what the municipality saves for each
    certificate not handled at the window. Each year's net = saving − fee difference given up − yearly."""
    costs = tenant.costs
    initial = costs.get("build", 0) + costs.get("environment", 0)
    yearly = costs.get("yearly", 0)
    handling = costs.get("window_handling")
    totals: dict[int, list[int]] = {}
    for r in rows:  # a handful of (year, type) rows, already aggregated
        acc = totals.setdefault(r.fiscal_year, [0, 0, 0])
        acc[0] += r.certificates
        acc[1] += r.revenue
        acc[2] += r.forgone
    years: list[CostYear] = []
    cumulative = -initial
    break_even: int | None = None
    for fy in sorted(totals):
        certs, revenue, forgone = totals[fy]
        saving = certs * (handling or 0)
        net = saving - forgone - yearly
        cumulative += net
        years.append(CostYear(fy, certs, revenue, forgone, yearly, saving, net, cumulative))
        if break_even is None and cumulative >= 0:
            break_even = fy
    return CostSummary(initial, yearly, handling, years, break_even)


def fiscal_year_of(day: date) -> int:
    return day.year - (1 if day.month < 4 else 0)


__all__ = [
    "CostSummary",
    "CostYear",
    "FiscalYearRow",
    "HourRow",
    "MonthRow",
    "OfficeHoursSplit",
    "ShareRow",
    "by_fiscal_year",
    "by_hour",
    "by_month",
    "closed_days",
    "convenience_share",
    "cost_summary",
    "fiscal_year_of",
    "office_hours",
    "read_window_counts",
]
