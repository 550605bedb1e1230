"""Out-of-city share (center orders × stores) and card uptake (registry), against hand-computed figures."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, insert

from kofu.center.store import kiosks, orders, sessions, stores
from kofu.common.clock import JST
from kofu.demo.tenants import load_tenants
from kofu.issuer.tenant import TenantSettings
from kofu.registry.store import cards, households, residents
from kofu.reports import figures

KATO, ONO, MIKI = "282286", "282189", "282154"
NOW = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
def tenants() -> dict[str, TenantSettings]:
    return {t.code: t for t in load_tenants() if t.code in (KATO, ONO, MIKI)}


def _order(conn: Connection, n: int, tenant: str, store: str, jst: datetime, copies: int, status: str) -> None:
    at = jst.replace(tzinfo=JST)
    sid = f"s{n}"
    conn.execute(
        insert(sessions).values(
            session_id=sid, kiosk_id=f"{store}-K", status="authenticated", created_at=at, last_seen_at=at
        )
    )
    values: dict[str, Any] = dict(
        order_id=f"o{n}", session_id=sid, kiosk_id=f"{store}-K", store_id=store, tenant=tenant, resident_id="r",
        type="juminhyo", kind="self", members="[]", items="[]", copies=copies, fee_each=250, total=250 * copies,
        paid=250 * copies, refunded=0, change=0, status=status, void_pending=False, created_at=at, updated_at=at,
        issued_at=at if status in ("completed", "refunded") else None,
    )  # fmt: skip
    conn.execute(insert(orders).values(**values))


@pytest.fixture
def placed(engine: Engine) -> Engine:
    with engine.begin() as conn:
        for store, place in (("KATO1", KATO), ("ONO1", ONO), ("OSAKA1", "271004")):
            conn.execute(insert(stores).values(store_id=store, chain="c", municipality=place, created_at=NOW))
            conn.execute(
                insert(kiosks).values(
                    kiosk_id=f"{store}-K", store_id=store, secret_sha256="0" * 64, active=True, created_at=NOW
                )
            )
        rows = [
            (KATO, "KATO1", datetime(2026, 4, 1, 0, 0), 2, "completed"),  # first moment of the range (JST)
            (KATO, "KATO1", datetime(2026, 10, 1, 12, 0), 1, "completed"),
            (KATO, "ONO1", datetime(2026, 10, 2, 19, 0), 3, "completed"),  # Ono City: same prefecture
            (KATO, "OSAKA1", datetime(2026, 10, 3, 9, 0), 1, "completed"),  # Osaka: another prefecture
            (KATO, "OSAKA1", datetime(2026, 10, 4, 9, 0), 5, "refunded"),  # printer jam: not printed
            (KATO, "OSAKA1", datetime(2026, 10, 5, 9, 0), 4, "cancelled"),
            (KATO, "ONO1", datetime(2026, 3, 31, 23, 59), 7, "completed"),  # the day before the range (JST)
            (ONO, "KATO1", datetime(2026, 10, 1, 10, 0), 2, "completed"),  # another tenant's resident
        ]
        for n, (tenant, store, jst, copies, status) in enumerate(rows):
            _order(conn, n, tenant, store, jst, copies, status)
    return engine


def test_out_of_city(placed: Engine, tenants: dict[str, TenantSettings]) -> None:
    split = figures.out_of_city(placed, tenants[KATO], date(2026, 4, 1), date(2027, 3, 31))
    assert (split.city, split.prefecture, split.outside) == (3, 3, 1)
    assert split.out_of_city_share == pytest.approx(4 / 7)
    ono = figures.out_of_city(placed, tenants[ONO], date(2026, 4, 1), date(2027, 3, 31))
    assert (ono.city, ono.prefecture, ono.outside) == (0, 2, 0)
    assert ono.out_of_city_share == 1.0
    # the range ends on its last JST day: 2026-03-31 23:59 JST counts for a range ending that day
    before = figures.out_of_city(placed, tenants[KATO], date(2026, 3, 1), date(2026, 3, 31))
    assert (before.city, before.prefecture, before.outside) == (0, 7, 0)


def test_out_of_city_without_orders(engine: Engine, tenants: dict[str, TenantSettings]) -> None:
    split = figures.out_of_city(engine, tenants[KATO], date(2026, 4, 1), date(2027, 3, 31))
    assert split.total == 0 and split.out_of_city_share == 0.0


def _people(conn: Connection, tenant: str, n: int, moved_out: int = 0) -> list[str]:
    conn.execute(insert(households).values(tenant=tenant, household_id="H1", head_resident_id="R0", address="a"))
    ids = [f"R{i}" for i in range(n + moved_out)]
    for i, rid in enumerate(ids):
        conn.execute(
            insert(residents).values(
                tenant=tenant, resident_id=rid, household_id="H1", name="n", kana="k", birth_date=date(1980, 1, 1),
                sex="male", relationship="世帯主", address="a", became_resident_on=date(1980, 1, 1),
                address_since=date(1980, 1, 1), notified_on=date(1980, 1, 1),
                status="resident" if i < n else "moved-out", version=1,
            )
        )  # fmt: skip
    return ids


def _card(conn: Connection, tenant: str, rid: str, serial: str, issued: date, revoked: date | None = None) -> None:
    conn.execute(
        insert(cards).values(
            cert_serial=serial, tenant=tenant, resident_id=rid, issued_on=issued,
            usable_from=issued + timedelta(days=1), revoked_on=revoked,
        )
    )  # fmt: skip


def test_card_uptake_ranked(engine: Engine, tenants: dict[str, TenantSettings]) -> None:
    day = date(2026, 11, 1)
    with engine.begin() as conn:
        kato = _people(conn, KATO, 10, moved_out=2)
        for i in range(4):
            _card(conn, KATO, kato[i], f"A{i}", date(2020, 1, 1))
        _card(conn, KATO, kato[4], "A4", date(2026, 11, 2))  # after the day: not yet
        _card(conn, KATO, kato[5], "A5", date(2020, 1, 1), revoked=date(2026, 10, 31))  # revoked before
        _card(conn, KATO, kato[6], "A6", date(2020, 1, 1), revoked=date(2026, 11, 2))  # revoked after: counts
        ono = _people(conn, ONO, 4)
        for i in range(2):
            _card(conn, ONO, ono[i], f"B{i}", date(2021, 5, 1))
        miki = _people(conn, MIKI, 8)
        for i in range(4):
            _card(conn, MIKI, miki[i], f"C{i}", date(2022, 5, 1))
    rows = figures.card_uptake(engine, [tenants[KATO], tenants[ONO], tenants[MIKI]], day)
    # Kato: 4 + the one revoked after the day = 5 of 10 residents (the moved-out two do not count)
    assert [(r.code, r.residents, r.cards) for r in sorted(rows, key=lambda r: r.code)] == [
        (MIKI, 8, 4),
        (ONO, 4, 2),
        (KATO, 10, 5),
    ]
    assert {r.rank for r in rows} == {1}  # all 50 %: a three-way tie shares first place
    with engine.begin() as conn:
        _card(conn, ONO, ono[2], "B2", date(2025, 1, 1))  # Ono 3/4
        _card(conn, KATO, kato[9], "A9", date(2025, 1, 1))  # Kato 6/10
    rows = figures.card_uptake(engine, [tenants[KATO], tenants[ONO], tenants[MIKI]], day)
    assert [(r.code, r.uptake, r.rank, r.rank_in_prefecture) for r in rows] == [
        (ONO, 0.75, 1, 1),
        (KATO, 0.6, 2, 2),  # "second in the prefecture"
        (MIKI, 0.5, 3, 3),
    ]
    assert all(r.prefecture == "兵庫県" for r in rows)
