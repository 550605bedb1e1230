"""An issuer over a real database (SQLite and PostgreSQL), a Kato City tenant with keys, and a household."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from sqlalchemy import Engine

from kofu.common.clock import JST, FixedClock
from kofu.issuer.service import IssuerService
from kofu.issuer.tenant import TenantDirectory
from kofu.registry.model import Household, IncomeRecord, ResidentStatus, SealRegistration, SealStatus, Sex
from kofu.registry.store import RegistryStore
from kofu.verify.service import Verifier

from .factories import TENANT_TOML, resident

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=JST)  # a Wednesday


def seal_png() -> bytes:
    img = Image.new("RGBA", (120, 120), (0, 0, 0, 0))
    ImageDraw.Draw(img).ellipse((4, 4, 116, 116), outline=(200, 30, 30, 255), width=8)
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


HEAD = resident()
WIFE = resident(
    resident_id="R2",
    name="加東　花子",
    kana="かとう　はなこ",
    birth_date=date(1982, 2, 3),
    sex=Sex.FEMALE,
    relationship="妻",
    hittosha="加東　太郎",
    my_number="987654321098",
)
CHILD = resident(
    resident_id="R3",
    name="加東　一郎",
    kana="かとう　いちろう",
    birth_date=date(2016, 8, 8),
    relationship="子",
    my_number=None,
)
GONE = resident(
    resident_id="R4",
    name="加東　二郎",
    kana="かとう　じろう",
    birth_date=date(2000, 1, 1),
    relationship="子",
    status=ResidentStatus.MOVED_OUT,
    status_changed_on=date(2024, 3, 31),
    my_number=None,
)
INCOME = IncomeRecord("282286", "R1", 2026, {"salary": 4_820_000, "real_estate": 360_000}, 1_350_000, 3_830_000)


@dataclass
class World:
    engine: Engine
    issuer: IssuerService
    verifier: Verifier
    clock: FixedClock
    keys_dir: Path


@pytest.fixture
def world(engine: Engine, tmp_path: Path) -> World:
    tenants_dir = tmp_path / "tenants"
    tenants_dir.mkdir()
    (tenants_dir / "282286.toml").write_text(TENANT_TOML, encoding="utf-8")
    clock = FixedClock(NOW)
    tenants = TenantDirectory(tenants_dir)
    issuer = IssuerService(engine, tenants, tmp_path / "keys", clock, public_url="https://kofu.example/")
    issuer.ensure_keys(tenants.get("282286"))
    with engine.begin() as conn:
        reg = RegistryStore(conn)
        reg.insert_household(Household("282286", "H1", "R1", HEAD.address))
        for person in (HEAD, WIFE, CHILD, GONE):
            reg.insert_resident(person)
        reg.add_seal(SealRegistration("282286", "R1", "IN-000123", seal_png(), date(2010, 5, 1), SealStatus.REGISTERED))
        reg.put_income(INCOME)
    return World(engine, issuer, Verifier(engine, tenants, tmp_path / "keys"), clock, tmp_path / "keys")
