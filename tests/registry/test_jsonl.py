"""JSON Lines event files: one example per kind parses, errors come with their line numbers."""

from __future__ import annotations

import base64
import json
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine

from kofu.common.clock import FixedClock
from kofu.registry.model import EVENT_TYPES, IncomeUpdated, SealRegistered, Sex, TransferIn
from kofu.registry.service import ImportRejected, apply_events, load_events, parse_events

from .conftest import seal_png

BASE = {"effective_on": "2025-03-01", "notified_on": "2025-03-02"}
EXAMPLES = [
    {
        "kind": "transfer-in",
        "resident_id": "R9",
        "household_id": "H9",
        "name": "東条　四郎",
        "kana": "とうじょう　しろう",
        "birth_date": "1990-08-08",
        "sex": "male",
        "relationship": "世帯主",
        "address": "兵庫県加東市天神1番地",
        "previous_address": "大阪府大阪市北区1番地",
        "honseki": None,
    },
    {"kind": "relocation", "resident_id": "R9", "address": "兵庫県加東市天神2番地"},
    {"kind": "household-change", "resident_id": "R2", "household_id": "H9", "relationship": "同居人"},
    {"kind": "seal-registered", "resident_id": "R9", "registration_no": "S-0300", "image": "seal.png"},
    {"kind": "seal-cancelled", "resident_id": "R9"},
    {"kind": "support-start", "resident_id": "R9"},
    {"kind": "support-end", "resident_id": "R9"},
    {
        "kind": "income-update",
        "resident_id": "R9",
        "fiscal_year": 2025,
        "incomes": {"salary": 3000000},
        "deductions": 1000000,
        "taxable_income": 2000000,
    },
    {"kind": "move-out-filed", "resident_id": "R9", "destination": "東京都千代田区"},
    {"kind": "move-out", "resident_id": "R9", "destination": "東京都千代田区"},
    {"kind": "death", "resident_id": "R4"},
]


def test_every_kind_has_an_example() -> None:
    assert {e["kind"] for e in EXAMPLES} == set(EVENT_TYPES)


def write(tmp_path: Path, objs: list[dict[str, object]]) -> Path:
    (tmp_path / "seal.png").write_bytes(seal_png())
    f = tmp_path / "events.jsonl"
    f.write_text("".join(json.dumps({**BASE, **o}, ensure_ascii=False) + "\n" for o in objs), encoding="utf-8")
    return f


def test_examples_parse_and_apply(seeded: Engine, tenant: str, clock: FixedClock, tmp_path: Path) -> None:
    events = load_events(write(tmp_path, EXAMPLES), tenant)
    assert [e.kind for e in events] == [e["kind"] for e in EXAMPLES]
    ti = events[0]
    assert isinstance(ti, TransferIn) and ti.sex is Sex.MALE and ti.birth_date == date(1990, 8, 8)
    assert isinstance(events[3], SealRegistered) and events[3].image_png.startswith(b"\x89PNG")
    assert isinstance(events[7], IncomeUpdated) and events[7].incomes == {"salary": 3000000}
    # R2 cannot join H9 (another address): the whole list is refused
    with pytest.raises(Exception, match="address"):
        apply_events(seeded, events, clock)
    ok = [e for e in events if e.kind != "household-change"]
    applied = apply_events(seeded, ok, clock)
    assert applied[-2].resident.status == "moved-out"
    assert applied[-1].resident.status == "deceased"


def test_base64_image(tenant: str) -> None:
    png = seal_png()
    line = {
        **BASE,
        "kind": "seal-registered",
        "resident_id": "R1",
        "registration_no": "S-1",
        "image_png": base64.b64encode(png).decode(),
    }
    [e] = parse_events(json.dumps(line), tenant)
    assert isinstance(e, SealRegistered) and e.image_png == png


def test_errors_by_line(tenant: str, tmp_path: Path) -> None:
    text = "\n".join(
        [
            json.dumps({**BASE, "kind": "death", "resident_id": "R1"}),
            "",
            "# a comment",
            json.dumps({**BASE, "kind": "funeral", "resident_id": "R1"}),
            json.dumps({**BASE, "kind": "death", "resident_id": "R1", "effective_on": "2025-02-30"}),
            "{broken",
            json.dumps({**BASE, "kind": "death", "resident_id": "R1", "cause": "x"}),
            json.dumps({**BASE, "kind": "income-update", "resident_id": "R1", "fiscal_year": "2025"}),
            json.dumps({**BASE, "kind": "death", "resident_id": "R1", "tenant": "131016"}),
            json.dumps({**BASE, "kind": "transfer-in", "resident_id": "R1"}),
        ]
    )
    with pytest.raises(ImportRejected) as info:
        parse_events(text, tenant)
    assert [(p.line, p.column) for p in info.value.problems] == [
        (4, "kind"),
        (5, "effective_on"),
        (6, ""),
        (7, "cause"),
        (8, "fiscal_year"),
        (9, "tenant"),
        (10, "household_id"),
    ]
