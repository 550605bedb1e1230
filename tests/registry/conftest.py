"""Registry fixtures: a small valid registry as CSV files (seal PNGs drawn with Pillow), imported."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw
from sqlalchemy import Engine

from kofu.common.clock import FixedClock
from kofu.registry.csvio import (
    INCOME_OPTIONAL,
    INCOME_REQUIRED,
    RESIDENT_OPTIONAL,
    RESIDENT_REQUIRED,
    SEAL_OPTIONAL,
    SEAL_REQUIRED,
    SUPPORT_OPTIONAL,
    SUPPORT_REQUIRED,
    import_directory,
)
from kofu.registry.validate import with_my_number_check_digit

RESIDENT_HEADER = [*RESIDENT_REQUIRED, *RESIDENT_OPTIONAL]
SEAL_HEADER = [*SEAL_REQUIRED, *SEAL_OPTIONAL]
INCOME_HEADER = [*INCOME_REQUIRED, *INCOME_OPTIONAL]
SUPPORT_HEADER = [*SUPPORT_REQUIRED, *SUPPORT_OPTIONAL]

ADDR1 = "兵庫県加東市社50番地"
ADDR2 = "兵庫県加東市河高100番地"


def resident(**kw: str) -> dict[str, str]:
    row = {
        "resident_id": "R1",
        "household_id": "H1",
        "name": "加東　太郎",
        "kana": "かとう　たろう",
        "birth_date": "1980-05-01",
        "sex": "male",
        "relationship": "世帯主",
        "address": ADDR1,
        "honseki": ADDR1,
        "hittosha": "加東　太郎",
        "became_resident_on": "2000-04-01",
        "address_since": "2010-06-01",
        "notified_on": "2010-06-10",
        "previous_address": "兵庫県西脇市上野1番地",
        "status": "resident",
        "status_changed_on": "",
        "moved_in_on": "2000-04-05",
        "my_number": with_my_number_check_digit("12345678901"),
        "juminhyo_code": "12345678901",
    }
    row.update(kw)
    return row


def sample_residents() -> list[dict[str, str]]:
    return [
        resident(),
        resident(
            resident_id="R2",
            name="加東　花子",
            kana="かとう　はなこ",
            birth_date="1982-02-03",
            sex="female",
            relationship="妻",
            my_number=with_my_number_check_digit("22345678901"),
            juminhyo_code="",
        ),
        resident(
            resident_id="R3",
            name="加東　一郎",
            kana="かとう　いちろう",
            birth_date="2015-07-07",
            relationship="子",
            became_resident_on="2015-07-07",
            address_since="2015-07-07",
            notified_on="2015-07-10",
            previous_address="",
            moved_in_on="",
            my_number="",
            juminhyo_code="",
        ),
        resident(
            resident_id="R4",
            household_id="H2",
            name="社　次郎",
            kana="やしろ　じろう",
            birth_date="1950-12-31",
            address=ADDR2,
            honseki="",
            hittosha="",
            my_number=with_my_number_check_digit("32345678901"),
            juminhyo_code="",
        ),
        resident(
            resident_id="R5",
            household_id="H3",
            name="滝野　三郎",
            kana="たきの　さぶろう",
            birth_date="1960-01-15",
            address="兵庫県加東市下滝野1番地",
            status="moved-out",
            status_changed_on="2020-03-31",
            my_number="",
            juminhyo_code="",
        ),
    ]


def sample_seals() -> list[dict[str, str]]:
    return [
        {
            "resident_id": "R1",
            "registration_no": "S-0001",
            "registered_on": "2012-01-10",
            "image": "seals/R1.png",
            "status": "registered",
            "cancelled_on": "",
        },
        {
            "resident_id": "R2",
            "registration_no": "S-0002",
            "registered_on": "2012-01-10",
            "image": "seals/R2.png",
            "status": "cancelled",
            "cancelled_on": "2020-01-01",
        },
    ]


def sample_income() -> list[dict[str, str]]:
    return [
        {
            "resident_id": "R1",
            "fiscal_year": "2024",
            "salary": "4500000",
            "business": "",
            "pension": "",
            "real_estate": "",
            "other": "12000",
            "deductions": "1200000",
            "taxable_income": "3312000",
        },
        {
            "resident_id": "R1",
            "fiscal_year": "2025",
            "salary": "4600000",
            "business": "-200000",
            "pension": "",
            "real_estate": "",
            "other": "",
            "deductions": "1250000",
            "taxable_income": "3150000",
        },
        {
            "resident_id": "R4",
            "fiscal_year": "2025",
            "salary": "",
            "business": "",
            "pension": "1800000",
            "real_estate": "",
            "other": "",
            "deductions": "",
            "taxable_income": "",
        },
    ]


def sample_support() -> list[dict[str, str]]:
    return [{"resident_id": "R4", "started_on": "2024-10-01", "ended_on": ""}]


def seal_png(label: str = "印", size: int = 64) -> bytes:
    img = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(img)
    draw.ellipse((2, 2, size - 3, size - 3), outline="red", width=3)
    draw.text((size // 3, size // 3), label[:2], fill="red")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def write_csv(path: Path, header: list[str], rows: list[dict[str, str]], *, bom: bool = False) -> None:
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=header, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


MakeRegistry = Callable[..., Path]


@pytest.fixture
def make_registry(tmp_path: Path) -> MakeRegistry:
    counter = iter(range(1_000_000))

    def make(
        residents: list[dict[str, str]] | None = None,
        seals: list[dict[str, str]] | None = None,
        income: list[dict[str, str]] | None = None,
        support: list[dict[str, str]] | None = None,
        *,
        with_optional: bool = True,
        bom: bool = True,
    ) -> Path:
        d = tmp_path / f"registry{next(counter)}"
        (d / "seals").mkdir(parents=True)
        rs = sample_residents() if residents is None else residents
        write_csv(d / "residents.csv", list(rs[0].keys()) if rs else RESIDENT_HEADER, rs, bom=bom)
        if with_optional:
            ss = sample_seals() if seals is None else seals
            for s in ss:
                if s.get("image", "").startswith("seals/"):
                    (d / s["image"]).write_bytes(seal_png(s["resident_id"]))
            write_csv(d / "seals.csv", SEAL_HEADER, ss)
            write_csv(d / "income.csv", INCOME_HEADER, sample_income() if income is None else income)
            write_csv(d / "support.csv", SUPPORT_HEADER, sample_support() if support is None else support)
        return d

    return make


@pytest.fixture
def seeded(engine: Engine, tenant: str, make_registry: MakeRegistry, clock: FixedClock) -> Engine:
    import_directory(engine, tenant, make_registry(), clock=clock)
    return engine


def snapshot(engine: Engine, tenant: str) -> dict[str, Any]:
    """Every registry row of the tenant (except the ledger), for 'nothing changed' assertions."""
    from sqlalchemy import select

    from kofu.registry.store import TENANT_TABLES, cards

    out: dict[str, Any] = {}
    with engine.connect() as conn:
        for table in (*TENANT_TABLES, cards):
            rows = conn.execute(select(table).where(table.c.tenant == tenant)).mappings().all()
            out[table.name] = sorted((tuple(sorted((k, v) for k, v in r.items() if k != "id")) for r in rows), key=repr)
    return out
