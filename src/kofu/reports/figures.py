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
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import jpholiday
from sqlalchemy import (
    Engine,
    Integer,
    String,
    and_,
    case,
    cast,
    column,
    extract,
    func,
    literal,
    not_,
    select,
    union_all,
)
from sqlalchemy import table as table_
from sqlalchemy.sql.elements import ColumnElement

from kofu.common.clock import JST
from kofu.common.errors import InvalidInput
from kofu.db.types import UTCDateTime
from kofu.issuer.store import issuances as t
from kofu.issuer.tenant import CertificateType, TenantSettings
from kofu.registry.store import cards as card_links
from kofu.registry.store import residents

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


@dataclass(frozen=True)
class OutOfCity:
    """Where the municipality's certificates were printed (completed kiosk orders, copies)."""

    city: int
    prefecture: int  # other municipalities of the same prefecture
    outside: int  # other prefectures

    @property
    def total(self) -> int:
        return self.city + self.prefecture + self.outside

    @property
    def out_of_city_share(self) -> float:
        return (self.prefecture + self.outside) / self.total if self.total else 0.0


@dataclass(frozen=True)
class UptakeRow:
    code: str
    name: str
    prefecture: str
    residents: int  # on the registry (status resident)
    cards: int  # cards issued and not revoked on the day
    rank: int  # 1 = highest uptake among the tenants compared (ties share a rank)
    rank_in_prefecture: int

    @property
    def uptake(self) -> float:
        return self.cards / self.residents if self.residents else 0.0


# --- SQL building blocks -------------------------------------------------------------------------


def _jst_hour_minute(dialect: str) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    """(JST hour, JST minute of the day) of `issued_at`."""
    if dialect == "sqlite":
        # SQLite holds a UTCDateTime as text in SQLAlchemy's fixed layout 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC), and
        # JST is UTC+9 in whole hours: slicing the text is several times cheaper than datetime()/strftime().
        hour = (cast(func.substr(t.c.issued_at, 12, 2), Integer) + 9) % 24
        minute = cast(func.substr(t.c.issued_at, 15, 2), Integer)
    else:
        local = func.timezone("Asia/Tokyo", t.c.issued_at)
        hour = cast(extract("hour", local), Integer)
        minute = cast(extract("minute", local), Integer)
    return hour, hour * 60 + minute


def _month(dialect: str, day: ColumnElement[Any] = t.c.issued_on) -> ColumnElement[Any]:
    if dialect == "sqlite":
        return func.substr(day, 1, 7)  # dates are stored as 'YYYY-MM-DD'
    return func.to_char(day, "YYYY-MM")


def _fiscal_year(dialect: str, day: ColumnElement[Any] = t.c.issued_on) -> ColumnElement[Any]:
    if dialect == "sqlite":
        year = cast(func.substr(day, 1, 4), Integer)
        before_april = func.substr(day, 6, 2) < "04"
    else:
        year = cast(extract("year", day), Integer)
        before_april = cast(extract("month", day), Integer) < 4
    return year - case((before_april, 1), else_=0)


def _live(tenant: TenantSettings, start: date, end: date) -> ColumnElement[bool]:
    return and_(t.c.tenant == tenant.code, t.c.status == "issued", t.c.issued_on >= start, t.c.issued_on <= end)


def _window_fee(
    tenant: TenantSettings,
    type_: ColumnElement[Any] = t.c.type,
    day: ColumnElement[Any] = t.c.issued_on,
    fee: ColumnElement[Any] = t.c.fee_each,
) -> ColumnElement[Any]:
    """The window fee in force for the record's type on its `issued_on`, from the tenant's fee periods."""
    whens: list[tuple[ColumnElement[bool], int]] = []
    for cert in tenant.certificates:
        for period in sorted(cert.fees, key=lambda p: p.from_, reverse=True):
            whens.append((and_(type_ == cert.type.value, day >= period.from_), period.window))
    if not whens:
        return cast(fee, Integer)
    return case(*whens, else_=fee)


def closed_days(start: date, end: date) -> list[date]:
    """National holidays (jpholiday) and 12/29–1/3 in [start, end]."""
    days = {d for d, _ in jpholiday.between(start, end)}
    day = start
    while day <= end:
        if (day.month == 12 and day.day >= 29) or (day.month == 1 and day.day <= 3):
            days.add(day)
        day += timedelta(days=1)
    return sorted(days)


def non_working_days(start: date, end: date) -> list[date]:
    """Saturdays, Sundays, national holidays and 12/29–1/3 in [start, end]: the office is closed all day."""
    days = set(closed_days(start, end))
    day = start
    while day <= end:
        if day.weekday() >= 5:
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
    hour = _jst_hour_minute(engine.dialect.name)[0].label("hour")
    stmt = select(hour, _certs).where(_live(tenant, start, end)).group_by(hour)
    with engine.connect() as conn:
        found = {int(h): int(c) for h, c in conn.execute(stmt)}
    return [HourRow(h, found.get(h, 0)) for h in range(24)]


def _inside_office(dialect: str, start: date, end: date) -> ColumnElement[bool]:
    """A working day (by `issued_on`, the JST date) and 8:30 ≤ JST time < 17:15."""
    _, minute = _jst_hour_minute(dialect)
    off = non_working_days(start, end)
    off_values: list[Any] = [d.isoformat() for d in off] if dialect == "sqlite" else off
    working: ColumnElement[bool] = not_(t.c.issued_on.in_(off_values)) if off_values else literal(True)
    return and_(working, minute >= OFFICE_OPEN_MINUTE, minute < OFFICE_CLOSE_MINUTE)


def office_hours(engine: Engine, tenant: TenantSettings, start: date, end: date) -> OfficeHoursSplit:
    inside = func.coalesce(func.sum(case((_inside_office(engine.dialect.name, start, end), t.c.copies), else_=0)), 0)
    stmt = select(inside, _certs).where(_live(tenant, start, end))
    with engine.connect() as conn:
        row = conn.execute(stmt).one()
    return OfficeHoursSplit(inside=int(row[0]), outside=int(row[1]) - int(row[0]))


@dataclass(frozen=True)
class TenantTotals:
    code: str
    certificates: int
    revenue: int
    office: OfficeHoursSplit


def tenant_totals(engine: Engine, codes: Sequence[str], start: date, end: date) -> dict[str, TenantTotals]:
    """Certificates, fee revenue and the office-hours split of several tenants in one grouped query."""
    inside = func.coalesce(func.sum(case((_inside_office(engine.dialect.name, start, end), t.c.copies), else_=0)), 0)
    stmt = (
        select(t.c.tenant, _certs, _revenue, inside)
        .where(t.c.tenant.in_(list(codes)), t.c.status == "issued", t.c.issued_on >= start, t.c.issued_on <= end)
        .group_by(t.c.tenant)
    )
    with engine.connect() as conn:
        found = {str(k): (int(c), int(r), int(i)) for k, c, r, i in conn.execute(stmt)}
    out = {}
    for code in codes:
        c, r, i = found.get(code, (0, 0, 0))
        out[code] = TenantTotals(code, c, r, OfficeHoursSplit(inside=i, outside=c - i))
    return out


@dataclass(frozen=True)
class Summary:
    monthly: list[MonthRow]
    fiscal_years: list[FiscalYearRow]
    hours: list[HourRow]
    office: OfficeHoursSplit


def summary(engine: Engine, tenant: TenantSettings, start: date, end: date) -> Summary:
    """`by_month`, `by_fiscal_year`, `by_hour` and `office_hours` in one statement and one scan of the
    issuance table: the records are first grouped by (day, type, fee, JST hour, inside office hours) into a
    materialized CTE of at most a few hundred thousand rows, and the four figures are grouped from it."""
    d = engine.dialect.name
    hour, _ = _jst_hour_minute(d)
    rows = (
        select(
            t.c.issued_on.label("day"),
            t.c.type.label("type"),
            t.c.fee_each.label("fee"),
            hour.label("hour"),
            case((_inside_office(d, start, end), 1), else_=0).label("inside"),
            t.c.copies.label("copies"),
        )
        .where(_live(tenant, start, end))
        .subquery("r")
    )
    g = (
        select(rows.c.day, rows.c.type, rows.c.fee, rows.c.hour, rows.c.inside, func.sum(rows.c.copies).label("copies"))
        .group_by(rows.c.day, rows.c.type, rows.c.fee, rows.c.hour, rows.c.inside)
        .cte("g")
        .prefix_with("MATERIALIZED")
    )
    certs = func.sum(g.c.copies)
    revenue = func.sum(g.c.copies * g.c.fee)
    forgone = func.sum(g.c.copies * (_window_fee(tenant, g.c.type, g.c.day, g.c.fee) - g.c.fee))
    zero = literal(0)
    month = _month(d, g.c.day)
    fy = _fiscal_year(d, g.c.day)
    parts = [
        select(literal("m"), cast(month, String), g.c.type, certs, revenue, zero).group_by(month, g.c.type),
        select(literal("y"), cast(fy, String), g.c.type, certs, revenue, forgone).group_by(fy, g.c.type),
        select(literal("h"), cast(g.c.hour, String), literal(""), certs, zero, zero).group_by(g.c.hour),
        select(literal("o"), cast(g.c.inside, String), literal(""), certs, zero, zero).group_by(g.c.inside),
    ]
    monthly: list[MonthRow] = []
    years: list[FiscalYearRow] = []
    hours = dict.fromkeys(range(24), 0)
    office = {0: 0, 1: 0}
    with engine.connect() as conn:
        for kind, key, type_, c, r, f in conn.execute(union_all(*parts)):
            if kind == "m":
                monthly.append(MonthRow(str(key), str(type_), int(c), int(r)))
            elif kind == "y":
                years.append(FiscalYearRow(int(key), str(type_), int(c), int(r), int(f)))
            elif kind == "h":
                hours[int(key)] = int(c)
            else:
                office[int(key)] = int(c)
    monthly.sort(key=lambda m: (m.month, m.type))
    years.sort(key=lambda y: (y.fiscal_year, y.type))
    return Summary(monthly, years, [HourRow(h, c) for h, c in hours.items()], OfficeHoursSplit(office[1], office[0]))


# center tables, read by name (the reports sit below kofu.center in the layers)
_stores = table_("center_stores", column("store_id", String), column("municipality", String))
_orders = table_(
    "center_orders",
    column("store_id", String),
    column("tenant", String),
    column("copies", Integer),
    column("status", String),
    column("issued_at", UTCDateTime()),
)


def out_of_city(engine: Engine, tenant: TenantSettings, start: date, end: date) -> OutOfCity:
    """Certificates of completed kiosk orders by where the store is: in the municipality, elsewhere in its
    prefecture (same first two digits of the 団体コード), or in another prefecture. The range applies to the
    JST day of issuance."""
    return out_of_city_by_tenant(engine, [tenant.code], start, end)[tenant.code]


def out_of_city_by_tenant(engine: Engine, codes: Sequence[str], start: date, end: date) -> dict[str, OutOfCity]:
    """`out_of_city` for several tenants in one grouped query."""
    o, s = _orders.alias("o"), _stores.alias("s")
    place = case(
        (s.c.municipality == o.c.tenant, "city"),
        (func.substr(s.c.municipality, 1, 2) == func.substr(o.c.tenant, 1, 2), "prefecture"),
        else_="outside",
    ).label("place")
    lo = datetime.combine(start, datetime.min.time(), JST)
    hi = datetime.combine(end + timedelta(days=1), datetime.min.time(), JST)
    stmt = (
        select(o.c.tenant, place, func.coalesce(func.sum(o.c.copies), 0))
        .select_from(o.join(s, s.c.store_id == o.c.store_id))
        .where(o.c.tenant.in_(list(codes)), o.c.status == "completed", o.c.issued_at >= lo, o.c.issued_at < hi)
        .group_by(o.c.tenant, place)
    )
    with engine.connect() as conn:
        found = {(str(k), str(p)): int(c) for k, p, c in conn.execute(stmt)}
    return {
        code: OutOfCity(
            found.get((code, "city"), 0), found.get((code, "prefecture"), 0), found.get((code, "outside"), 0)
        )
        for code in codes
    }


def card_uptake(engine: Engine, tenants: Sequence[TenantSettings], on: date) -> list[UptakeRow]:
    """Cards issued per resident, ranked across the tenants (highest first) and within each prefecture.
    Residents are those on the registry with status `resident`; cards are the registry's card links issued
    on or before `on` and not revoked by then."""
    codes = [tn.code for tn in tenants]
    live = and_(
        card_links.c.tenant.in_(codes),
        card_links.c.issued_on <= on,
        (card_links.c.revoked_on.is_(None)) | (card_links.c.revoked_on > on),
    )
    card_stmt = select(card_links.c.tenant, func.count()).where(live).group_by(card_links.c.tenant)
    people_stmt = (
        select(residents.c.tenant, func.count())
        .where(residents.c.tenant.in_(codes), residents.c.status == "resident")
        .group_by(residents.c.tenant)
    )
    with engine.connect() as conn:
        n_cards = {str(k): int(v) for k, v in conn.execute(card_stmt)}
        n_people = {str(k): int(v) for k, v in conn.execute(people_stmt)}
    rows = [
        UptakeRow(tn.code, tn.name, tn.prefecture, n_people.get(tn.code, 0), n_cards.get(tn.code, 0), 0, 0)
        for tn in tenants
    ]
    rows.sort(key=lambda r: (-r.uptake, r.code))
    ranked: list[UptakeRow] = []
    for r in rows:  # one row per tenant (tens), already aggregated
        rank = 1 + sum(1 for o in rows if o.uptake > r.uptake)
        in_pref = 1 + sum(1 for o in rows if o.prefecture == r.prefecture and o.uptake > r.uptake)
        ranked.append(UptakeRow(r.code, r.name, r.prefecture, r.residents, r.cards, rank, in_pref))
    return ranked


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
    "OutOfCity",
    "ShareRow",
    "Summary",
    "TenantTotals",
    "UptakeRow",
    "by_fiscal_year",
    "by_hour",
    "by_month",
    "card_uptake",
    "closed_days",
    "convenience_share",
    "cost_summary",
    "fiscal_year_of",
    "non_working_days",
    "office_hours",
    "out_of_city",
    "out_of_city_by_tenant",
    "read_window_counts",
    "summary",
    "tenant_totals",
]
