"""A small, self-contained deployment for the benchmarks: one always-open tenant (加東市, all four
certificate types), households whose heads hold a card, a seal and an income record, and a store with
kiosks registered at the center. Everything lives in a fresh KOFU_HOME (and its database)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from PIL import Image, ImageDraw

from kofu.bench.tenant import ALWAYS_OPEN_TOML
from kofu.bench.tenant import TENANT as TENANT  # re-exported for the benchmarks
from kofu.bootstrap import Container, Settings
from kofu.common.clock import today_jst
from kofu.issuer.eligibility import fiscal_year_of
from kofu.registry.model import (
    Household,
    IncomeRecord,
    Resident,
    ResidentStatus,
    SealRegistration,
    SealStatus,
    Sex,
)
from kofu.registry.store import RegistryStore
from kofu.registry.validate import with_my_number_check_digit

STORE = "BENCH-STORE"
PIN = "1234"


def seal_png() -> bytes:
    img = Image.new("RGBA", (120, 120), (0, 0, 0, 0))
    ImageDraw.Draw(img).ellipse((4, 4, 116, 116), outline=(200, 30, 30, 255), width=8)
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


@dataclass
class BenchWorld:
    container: Container
    home: Path
    cards: list[Path]  # one card file per household head (PIN 1234)
    kiosks: dict[str, str] = field(default_factory=dict)  # kiosk id → secret
    heads: list[str] = field(default_factory=list)


def _head(i: int) -> Resident:
    return Resident(
        tenant=TENANT,
        resident_id=f"B{i:05d}A",
        household_id=f"BH{i:05d}",
        name="加東　太郎",
        kana="かとう　たろう",
        birth_date=date(1970 + i % 30, 1 + i % 12, 1 + i % 28),
        sex=Sex.MALE,
        relationship="世帯主",
        address=f"兵庫県加東市社{i + 1}番地",
        honseki=f"兵庫県加東市社{i + 1}番地",
        hittosha="加東　太郎",
        became_resident_on=date(2000, 4, 1),
        address_since=date(2005, 4, 1),
        notified_on=date(2005, 4, 5),
        previous_address="兵庫県三木市本町１丁目１番",
        status=ResidentStatus.RESIDENT,
        my_number=with_my_number_check_digit(f"{70000000000 + 2 * i:011d}"),
    )


def _spouse(head: Resident, i: int) -> Resident:
    from dataclasses import replace

    return replace(
        head,
        resident_id=f"B{i:05d}B",
        name="加東　花子",
        kana="かとう　はなこ",
        sex=Sex.FEMALE,
        relationship="妻",
        my_number=with_my_number_check_digit(f"{70000000000 + 2 * i + 1:011d}"),
    )


def build_world(home: Path, *, households: int, kiosks: int, database_url: str | None = None) -> BenchWorld:
    """Creates the deployment in `home` (which should be empty) and registers `kiosks` kiosks."""
    (home / "tenants").mkdir(parents=True, exist_ok=True)
    (home / "tenants" / f"{TENANT}.toml").write_text(ALWAYS_OPEN_TOML, encoding="utf-8")
    c = Container(Settings(home=home, database_url=database_url))
    today = today_jst(c.clock)
    seal = seal_png()
    heads: list[str] = []
    with c.engine.begin() as conn:
        reg = RegistryStore(conn)
        for i in range(households):
            head = _head(i)
            reg.insert_household(Household(TENANT, head.household_id, head.resident_id, head.address))
            reg.insert_resident(head)
            reg.insert_resident(_spouse(head, i))
            reg.add_seal(
                SealRegistration(TENANT, head.resident_id, f"IN-{i}", seal, date(2010, 1, 1), SealStatus.REGISTERED)
            )
            reg.put_income(
                IncomeRecord(
                    TENANT, head.resident_id, fiscal_year_of(today), {"salary": 4_820_000}, 1_350_000, 3_470_000
                )
            )
            heads.append(head.resident_id)
    c.issuer.ensure_keys(c.tenants.get(TENANT))
    cards = [
        c.window.issue_card(TENANT, rid, auth_pin=PIN, sign_password="ABC123", usable_from=today).path for rid in heads
    ]
    from kofu.web import center_service

    service = center_service(c)
    service.register_store(STORE, "kofu-bench", TENANT)
    world = BenchWorld(c, home, cards, heads=heads)
    for k in range(kiosks):
        kid = f"BK-{k:04d}"
        world.kiosks[kid] = service.register_kiosk(STORE, kid)
    return world
