"""A year of synthetic convenience-store issuance for the demo tenants, so the reports show something true.

Written into the real tables, by bulk inserts, for the residents already in each tenant's registry:

- `center_stores` / `center_kiosks`: stores in each municipality, and a few outside Hyogo (Osaka, Kyoto,
  Okayama, Tokyo) — ids `ACT…`, kiosks whose secret nobody knows;
- per issuance a `center_sessions` row, a completed `center_orders` row (the store where it printed) and
  an `issuer_issuances` row (numbers continue the tenant's counter, which is moved on); one in 500 is
  voided after a printer jam and its order refunded;
- `registry_card_links` for a share of each tenant's residents (cards issued at the window since 2016;
  serials that no JPKI certificate has, so a card can never be presented);
- `KOFU_HOME/window-counts/<code>.csv`: the certificates the municipality issued at the window, as its
  window system would export them (`fiscal_year,type,window_count`).

Volume: each tenant prints about `rate` certificates per inhabitant and year (its official `population`),
the rate drawn per tenant between 3 % and 8 %, times `scale`. Patterns: more per day on weekends and
national holidays (the office is closed), nothing on 12/29–1/3 when the tenant closes, peaks in March–April
(moving season) and June–July for income certificates (the new 年度's figures), times of day within the
tenant's service hours with morning, lunch and evening peaks on weekdays.
"""

from __future__ import annotations

import csv
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import jpholiday
import numpy as np
from sqlalchemy import Connection, Engine, Table, func, insert, select, update

from kofu.center.store import audit, kiosks, orders, sessions, stores
from kofu.common.errors import Conflict
from kofu.issuer.store import counters, issuances
from kofu.issuer.tenant import CertificateType, Hours, IssuanceKind, TenantSettings
from kofu.registry.store import cards, residents

PREFIX = "ACT"
CHAINS = ("seven-eleven", "lawson", "familymart")
# stores outside Hyogo: Osaka City, Kyoto City, Okayama City, Chiyoda (Tokyo)
FAR_MUNICIPALITIES = ("271004", "261009", "331007", "131016")
TYPE_WEIGHTS = {
    CertificateType.JUMINHYO: 0.45,
    CertificateType.INKAN: 0.30,
    CertificateType.KISAI: 0.05,
    CertificateType.SHOTOKU: 0.20,
}
MONTH_FACTOR = {1: 0.9, 2: 1.0, 3: 1.45, 4: 1.5, 5: 1.05, 6: 1.0, 7: 1.0, 8: 0.85, 9: 0.95, 10: 1.0, 11: 0.95, 12: 0.9}
CHUNK = 20_000


@dataclass(frozen=True)
class TenantActivity:
    code: str
    name: str
    records: int
    certificates: int
    out_of_city: int  # certificates printed at stores outside the municipality
    cards: int  # card links added
    residents: int  # residents on the registry
    window_counts: Path | None


@dataclass
class ActivityResult:
    start: date
    end: date
    tenants: list[TenantActivity] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # tenants without residents on the registry
    seconds: float = 0.0


def _closed_new_year(day: date) -> bool:
    return (day.month == 12 and day.day >= 29) or (day.month == 1 and day.day <= 3)


def _minute_profile(hours: Hours, holiday: bool) -> np.ndarray:
    """Relative use per minute of the day (JST) within the service hours."""
    m = np.arange(1440, dtype=float)
    h = m / 60
    if holiday:
        p = 0.3 + np.exp(-(((h - 11) / 2.5) ** 2)) + 0.8 * np.exp(-(((h - 15.5) / 2.5) ** 2))
    else:
        p = (
            0.2
            + 0.7 * np.exp(-(((h - 8.0) / 1.0) ** 2))
            + 1.0 * np.exp(-(((h - 12.4) / 1.2) ** 2))
            + 0.7 * np.exp(-(((h - 15.0) / 2.0) ** 2))
            + 0.8 * np.exp(-(((h - 19.0) / 1.8) ** 2))
        )
    open_ = hours.open_time.hour * 60 + hours.open_time.minute
    p[(m < open_) | (m >= hours.close_minutes)] = 0.0
    return np.asarray(p / p.sum())


def generate_activity(
    engine: Engine,
    tenants: Sequence[TenantSettings],
    *,
    end: date,
    home: Path,
    days: int = 365,
    seed: int = 20161006,
    scale: float = 1.0,
    now: datetime | None = None,
) -> ActivityResult:
    """Generate `days` days of issuance ending on `end` (inclusive) for every tenant with residents;
    `now` stamps the stores and kiosks registered (default: the current time)."""
    t0 = time.perf_counter()
    start = end - timedelta(days=days - 1)
    result = ActivityResult(start, end)
    rng = np.random.default_rng(seed)
    now = now or datetime.now(UTC)
    with engine.begin() as conn:
        if conn.execute(select(func.count()).select_from(stores).where(stores.c.store_id.like(f"{PREFIX}%"))).scalar():
            raise Conflict(
                "demo activity was already generated in this database (stores ACT…); start from a fresh KOFU_HOME",
                "デモの利用実績は既に作成されています（新しい KOFU_HOME で作り直してください）",
            )
        store_ids = _stores(conn, tenants, rng, now)
        for index, tenant in enumerate(tenants):
            people = conn.execute(
                select(residents.c.resident_id, residents.c.version).where(
                    residents.c.tenant == tenant.code, residents.c.status == "resident"
                )
            ).all()
            if not people:
                result.skipped.append(tenant.code)
                continue
            activity = _tenant_activity(conn, tenant, index, people, store_ids, start, end, rng, scale, home)
            result.tenants.append(activity)
    result.seconds = time.perf_counter() - t0
    return result


def _stores(
    conn: Connection, tenants: Sequence[TenantSettings], rng: np.random.Generator, now: datetime
) -> dict[str, list[str]]:
    """Store ids per municipality code: a few per tenant (more for larger cities), two per far municipality."""
    by_place: dict[str, list[str]] = {}
    for tenant in tenants:
        n = int(min(12, max(2, (tenant.population or 20_000) // 40_000)))
        by_place[tenant.code] = [f"{PREFIX}{tenant.code}{i:02d}" for i in range(1, n + 1)]
    for code in FAR_MUNICIPALITIES:
        by_place[code] = [f"{PREFIX}{code}{i:02d}" for i in (1, 2)]
    log = audit(conn)
    for place, ids in by_place.items():
        for store_id in ids:
            chain = CHAINS[int(rng.integers(len(CHAINS)))]
            conn.execute(insert(stores).values(store_id=store_id, chain=chain, municipality=place, created_at=now))
            log.append("store.registered", now, store=store_id, chain=chain, municipality=place)
            secret = hashlib.sha256(rng.bytes(32)).hexdigest()  # a hash of a token nobody holds
            conn.execute(
                insert(kiosks).values(
                    kiosk_id=f"{store_id}-K1", store_id=store_id, secret_sha256=secret, active=True, created_at=now
                )
            )
            log.append("kiosk.registered", now, kiosk=f"{store_id}-K1", store=store_id)
    return by_place


def _tenant_activity(
    conn: Connection,
    tenant: TenantSettings,
    index: int,
    people: Sequence[Any],
    store_ids: dict[str, list[str]],
    start: date,
    end: date,
    rng: np.random.Generator,
    scale: float,
    home: Path,
) -> TenantActivity:
    day_list = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    types = [c.type for c in tenant.certificates]
    # weight of each (day, type) cell
    weights = np.zeros((len(day_list), len(types)))
    holiday = np.zeros(len(day_list), dtype=bool)
    for d, day in enumerate(day_list):
        off = day.weekday() >= 5 or jpholiday.is_holiday(day)
        holiday[d] = off
        if day < tenant.service_start or (tenant.closed_new_year and _closed_new_year(day)):
            continue
        for k, ctype in enumerate(types):
            cert = tenant.certificate(ctype)
            assert cert is not None
            hours = cert.hours or tenant.hours
            if not cert.offered_on(day) or (off and hours.days == "weekdays"):
                continue
            w = TYPE_WEIGHTS.get(ctype, 0.1) * MONTH_FACTOR[day.month] * (1.35 if off else 1.0)
            if ctype is CertificateType.SHOTOKU and day.month in (6, 7):
                w *= 2.0
            weights[d, k] = w
    rate = float(rng.uniform(0.03, 0.08)) * scale
    copies_mean = 1.17
    n = round((tenant.population or len(people)) * rate * len(day_list) / 365 / copies_mean)
    if weights.sum() == 0 or n == 0:
        return TenantActivity(tenant.code, tenant.name, 0, 0, 0, 0, len(people), None)
    cells = rng.choice(weights.size, size=n, p=(weights / weights.sum()).ravel())
    cells.sort()
    day_idx, type_idx = np.divmod(cells, len(types))
    # minute of day from the profile of the certificate's hours, weekday or holiday
    minutes = np.zeros(n, dtype=np.int64)
    for k, ctype in enumerate(types):
        cert = tenant.certificate(ctype)
        assert cert is not None
        for off in (False, True):
            mask = (type_idx == k) & (holiday[day_idx] == off)
            if mask.any():
                profile = _minute_profile(cert.hours or tenant.hours, off)
                minutes[mask] = rng.choice(1440, size=int(mask.sum()), p=profile)
    seconds = minutes * 60 + rng.integers(0, 60, size=n)
    day0 = np.datetime64(start, "s")
    jst = day0 + day_idx.astype("timedelta64[D]") + seconds.astype("timedelta64[s]")
    utc = jst - np.timedelta64(9, "h")
    sqlite = conn.dialect.name == "sqlite"

    def stamps(offset: int) -> list[Any]:
        """The moments + offset seconds as the driver takes them: SQLAlchemy's naive UTC text on SQLite."""
        moments = utc + np.timedelta64(offset, "s")
        if sqlite:
            return list(np.char.replace(np.datetime_as_string(moments, unit="us"), "T", " ").tolist())
        return [m.replace(tzinfo=UTC) for m in moments.astype(datetime)]

    at_, before95, before60, after20, after30 = (stamps(o) for o in (0, -95, -60, 20, 30))
    day_db: list[Any] = [d.isoformat() for d in day_list] if sqlite else day_list
    copies = rng.choice([1, 2, 3], size=n, p=[0.86, 0.11, 0.03])
    voided = rng.random(n) < 0.002
    household = rng.random(n) < 0.25
    who = rng.integers(0, len(people), size=n)
    p_out = float(rng.uniform(0.15, 0.32))
    outside = rng.random(n) < p_out
    far = rng.random(n) < 0.4
    others = [c for c in store_ids if c != tenant.code and c not in FAR_MUNICIPALITIES]
    home_stores = store_ids[tenant.code]
    far_stores = [s for c in FAR_MUNICIPALITIES for s in store_ids[c]]
    near_stores = [s for c in others for s in store_ids[c]] or far_stores
    pick = rng.integers(0, 1 << 30, size=n)

    fees: dict[tuple[int, int], int] = {}
    counter = conn.execute(select(counters.c.last_number).where(counters.c.tenant == tenant.code)).scalar()
    first = int(counter or 0) + 1
    issuance_rows: list[dict[str, Any]] = []
    order_rows: list[dict[str, Any]] = []
    session_rows: list[dict[str, Any]] = []
    certificates = out_of_city = 0
    conv: dict[tuple[int, str], int] = {}  # certificates per (fiscal year, type), for the window counts
    for i in range(n):  # building rows to insert (generation, not aggregation)
        d, k = int(day_idx[i]), int(type_idx[i])
        ctype = types[k]
        key = (d, k)
        if key not in fees:
            cert = tenant.certificate(ctype)
            assert cert is not None
            period = cert.fee_on(day_list[d])
            assert period is not None
            fees[key] = period.convenience
        fee = fees[key]
        number = first + i
        at = at_[i]
        on = day_list[d]
        n_copies = int(copies[i])
        pool = (far_stores if far[i] else near_stores) if outside[i] else home_stores
        store_id = pool[int(pick[i]) % len(pool)]
        resident_id, version = people[int(who[i])]
        cert_settings = tenant.certificate(ctype)
        assert cert_settings is not None
        kind = (
            IssuanceKind.HOUSEHOLD.value
            if household[i] and IssuanceKind.HOUSEHOLD in cert_settings.kinds
            else IssuanceKind.SELF.value
        )
        ident = f"{PREFIX}{tenant.code}{number:09d}"
        session_id = f"S{ident}"
        document = hashlib.sha256(ident.encode()).hexdigest()
        void = bool(voided[i])
        total = fee * n_copies
        session_rows.append(
            {
                "session_id": session_id,
                "kiosk_id": f"{store_id}-K1",
                "status": "authenticated",
                "created_at": before95[i],
                "last_seen_at": after30[i],
                "method": "jpki",
                "tenant": tenant.code,
                "municipality": tenant.name,
                "resident_id": resident_id,
            }
        )
        order_rows.append(
            {
                "order_id": ident,
                "session_id": session_id,
                "kiosk_id": f"{store_id}-K1",
                "store_id": store_id,
                "tenant": tenant.code,
                "resident_id": resident_id,
                "type": ctype.value,
                "kind": kind,
                "members": "[]",
                "items": "[]",
                "copies": n_copies,
                "fiscal_year": (on.year - (1 if on.month < 6 else 0)) if ctype is CertificateType.SHOTOKU else None,
                "fee_each": fee,
                "total": total,
                "paid": total,
                "refunded": total if void else 0,
                "change": 0,
                "status": "refunded" if void else "completed",
                "number": number,
                "document_sha256": document,
                "void_pending": False,
                "close_reason": "print-failed" if void else None,
                "created_at": before60[i],
                "updated_at": after30[i],
                "issued_at": at,
                "closed_at": after30[i],
            }
        )
        issuance_rows.append(
            {
                "id": ident,
                "tenant": tenant.code,
                "number": number,
                "type": ctype.value,
                "kind": kind,
                "copies": n_copies,
                "fee_each": fee,
                "resident_id": resident_id,
                "resident_version": version,
                "channel": "kiosk",
                "cert_serial": None,
                "order_id": ident,
                "issued_at": at,
                "issued_on": day_db[d],
                "document_hash": document,
                "status": "voided" if void else "issued",
                "voided_at": after20[i] if void else None,
                "void_reason": "printer-jam" if void else None,
            }
        )
        if not void:
            fy = on.year - (1 if on.month < 4 else 0)
            conv[(fy, ctype.value)] = conv.get((fy, ctype.value), 0) + n_copies
            certificates += n_copies
            if outside[i]:
                out_of_city += n_copies
    for table, rows in ((sessions, session_rows), (orders, order_rows), (issuances, issuance_rows)):
        _bulk(conn, table, rows)
    last = first + n - 1
    if counter is None:
        conn.execute(insert(counters).values(tenant=tenant.code, last_number=last))
    else:
        conn.execute(update(counters).where(counters.c.tenant == tenant.code).values(last_number=last))
    n_cards = _cards(conn, tenant, index, people, end, rng)
    path = _window_counts(tenant, conv, rng, home)
    return TenantActivity(tenant.code, tenant.name, n, certificates, out_of_city, n_cards, len(people), path)


def _bulk(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """executemany straight on the driver, values already as the driver takes them (datetimes and dates as
    SQLAlchemy stores them on SQLite): SQLAlchemy's per-value bind processing would take most of the time."""
    if not rows:
        return
    columns = list(rows[0])
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    sql = (
        f'INSERT INTO "{table.name}" ({", ".join(f"{chr(34)}{c}{chr(34)}" for c in columns)}) '
        f"VALUES ({', '.join([mark] * len(columns))})"
    )
    for j in range(0, len(rows), CHUNK):
        conn.exec_driver_sql(sql, [tuple(r[c] for c in columns) for r in rows[j : j + CHUNK]])


def _cards(
    conn: Connection, tenant: TenantSettings, index: int, people: Sequence[Any], end: date, rng: np.random.Generator
) -> int:
    """Card links for a share (35–80 %) of the residents without a card yet, issued since 2016 (more lately)."""
    linked = set(conn.execute(select(cards.c.resident_id).where(cards.c.tenant == tenant.code)).scalars())
    free = [p[0] for p in people if p[0] not in linked]
    k = round(len(people) * float(rng.uniform(0.35, 0.8)))
    k = min(k, len(free))
    if k == 0:
        return 0
    chosen = rng.choice(len(free), size=k, replace=False)
    span = (end - date(2016, 1, 1)).days
    sqlite = conn.dialect.name == "sqlite"

    def as_db(day: date) -> Any:
        return day.isoformat() if sqlite else day

    offsets = (span * np.sqrt(rng.random(k))).astype(int)  # density rising towards `end`
    rows = []
    for j, (c, off) in enumerate(zip(chosen, offsets, strict=True)):
        issued = date(2016, 1, 1) + timedelta(days=int(off))
        rows.append(
            {
                "cert_serial": f"AC7{index:03X}{j:010X}",  # hex, like a serial; no such JPKI certificate exists
                "tenant": tenant.code,
                "resident_id": free[int(c)],
                "issued_on": as_db(issued),
                "usable_from": as_db(issued + timedelta(days=1)),
                "revoked_on": None,
                "sign_serial": None,
                "card_app_user_id": None,
            }
        )
    _bulk(conn, cards, rows)
    return k


def _window_counts(
    tenant: TenantSettings, conv: dict[tuple[int, str], int], rng: np.random.Generator, home: Path
) -> Path:
    """The window's certificates per fiscal year and type, such that the convenience share is 8–30 %."""
    share = {c.type.value: float(rng.uniform(0.08, 0.30)) for c in tenant.certificates}
    path = home / "window-counts" / f"{tenant.code}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["fiscal_year", "type", "window_count"])
        for (fy, ty), count in sorted(conv.items()):
            w.writerow([fy, ty, round(count * (1 - share[ty]) / share[ty])])
    return path
