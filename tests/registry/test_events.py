"""Every event kind: its effect, its refusals (with nothing changed), and all-or-nothing lists."""

from __future__ import annotations

import threading
import time
from datetime import date
from typing import Any

import pytest
from sqlalchemy import Engine

from kofu.common.clock import FixedClock
from kofu.common.errors import Conflict, InvalidInput
from kofu.registry.model import (
    Death,
    HouseholdChange,
    IncomeUpdated,
    MoveOut,
    MoveOutFiled,
    RegistryEvent,
    Relocation,
    ResidentStatus,
    SealCancelled,
    SealRegistered,
    SealStatus,
    Sex,
    SupportMeasureEnded,
    SupportMeasureStarted,
    TransferIn,
)
from kofu.registry.service import apply_event, apply_events
from kofu.registry.store import RegistryStore
from kofu.registry.validate import with_my_number_check_digit

from .conftest import ADDR1, ADDR2, seal_png, snapshot

D = date(2025, 3, 1)
N = date(2025, 3, 3)


def ev(cls: type[RegistryEvent], tenant: str, rid: str, **kw: Any) -> RegistryEvent:
    kw.setdefault("effective_on", D)
    kw.setdefault("notified_on", N)
    return cls(tenant=tenant, resident_id=rid, **kw)


def transfer_in(tenant: str, rid: str = "R9", **kw: Any) -> RegistryEvent:
    fields: dict[str, Any] = {
        "household_id": "H9",
        "name": "東条　四郎",
        "kana": "とうじょう　しろう",
        "birth_date": date(1990, 8, 8),
        "sex": Sex.MALE,
        "relationship": "世帯主",
        "address": "兵庫県加東市天神1番地",
        "previous_address": "大阪府大阪市北区1番地",
        "my_number": with_my_number_check_digit("42345678901"),
    }
    fields.update(kw)
    return ev(TransferIn, tenant, rid, **fields)


def store(engine: Engine) -> Any:
    class _S:
        def __getattr__(self, name: str) -> Any:
            def call(*a: Any, **k: Any) -> Any:
                with engine.connect() as conn:
                    return getattr(RegistryStore(conn), name)(*a, **k)

            return call

    return _S()


# ---- effects ----


def test_transfer_in_creates_resident_and_household(seeded: Engine, tenant: str, clock: FixedClock) -> None:
    [applied] = apply_events(seeded, [transfer_in(tenant)], clock)
    r = applied.resident
    assert r.status is ResidentStatus.RESIDENT
    assert (r.became_resident_on, r.address_since, r.moved_in_on, r.notified_on) == (D, D, N, N)
    assert r.version == 1
    s = store(seeded)
    hh = s.household(tenant, "H9")
    assert hh.head_resident_id == "R9" and hh.address == "兵庫県加東市天神1番地"
    events = s.events_of(tenant, "R9")
    assert [e["kind"] for e in events] == ["transfer-in"]
    assert events[0]["version"] == 1 and events[0]["effective_on"] == D


def test_transfer_in_joins_household(seeded: Engine, tenant: str, clock: FixedClock) -> None:
    e = transfer_in(tenant, household_id="H1", relationship="母", address="", my_number=None)
    [applied] = apply_events(seeded, [e], clock)
    assert applied.resident.address == ADDR1
    members = store(seeded).household_members(tenant, "H1")
    assert members[0].resident_id == "R1"
    assert "R9" in [m.resident_id for m in members]


def test_transfer_in_of_former_resident_reactivates(seeded: Engine, tenant: str, clock: FixedClock) -> None:
    [applied] = apply_events(seeded, [transfer_in(tenant, "R5", household_id="H3", my_number=None)], clock)
    assert applied.resident.status is ResidentStatus.RESIDENT
    assert applied.resident.version == 2


def test_relocation_moves_the_whole_household(seeded: Engine, tenant: str, clock: FixedClock) -> None:
    new = "兵庫県加東市新町9番地"
    [applied] = apply_events(seeded, [ev(Relocation, tenant, "R2", address=new)], clock)
    assert {m.resident_id for m in applied.also_changed} == {"R1", "R3"}
    s = store(seeded)
    for rid in ("R1", "R2", "R3"):
        r = s.get_resident(tenant, rid)
        assert (r.address, r.previous_address, r.address_since, r.notified_on, r.version) == (new, ADDR1, D, N, 2)
        assert s.events_of(tenant, rid)[-1]["kind"] == "relocation"
    assert s.household(tenant, "H1").address == new
    assert s.get_resident(tenant, "R4").address == ADDR2


def test_move_out_filed_then_move_out(seeded: Engine, tenant: str, clock: FixedClock) -> None:
    apply_events(seeded, [ev(MoveOutFiled, tenant, "R4", effective_on=date(2025, 3, 20), destination="東京都")], clock)
    r = store(seeded).get_resident(tenant, "R4")
    assert r.status is ResidentStatus.MOVE_OUT_FILED and r.status_changed_on == date(2025, 3, 20)
    apply_events(seeded, [ev(MoveOut, tenant, "R4", effective_on=date(2025, 3, 20), destination="東京都")], clock)
    r = store(seeded).get_resident(tenant, "R4")
    assert r.status is ResidentStatus.MOVED_OUT and r.version == 3


def test_death_cancels_seal_and_notes_missing_head(seeded: Engine, tenant: str, clock: FixedClock) -> None:
    [applied] = apply_events(seeded, [ev(Death, tenant, "R1", effective_on=date(2025, 3, 1))], clock)
    assert applied.resident.status is ResidentStatus.DECEASED
    assert applied.resident.status_changed_on == date(2025, 3, 1)
    assert any("世帯主" in n for n in applied.notes)
    s = store(seeded)
    seal = s.current_seal(tenant, "R1")
    assert seal.status is SealStatus.CANCELLED and seal.cancelled_on == date(2025, 3, 1)
    # the household keeps its members; the head is reassigned by a household change
    assert s.household(tenant, "H1").head_resident_id == "R1"
    apply_events(seeded, [ev(HouseholdChange, tenant, "R2", household_id="H1", relationship="世帯主")], clock)
    assert s.household(tenant, "H1").head_resident_id == "R2"
    assert s.household_members(tenant, "H1")[0].resident_id in ("R1", "R2")


def test_household_change_to_new_household(seeded: Engine, tenant: str, clock: FixedClock) -> None:
    [applied] = apply_events(
        seeded, [ev(HouseholdChange, tenant, "R2", household_id="H1B", relationship="世帯主")], clock
    )
    assert applied.resident.household_id == "H1B" and applied.resident.relationship == "世帯主"
    s = store(seeded)
    assert s.household(tenant, "H1B").head_resident_id == "R2"
    assert s.household(tenant, "H1B").address == ADDR1
    assert [m.resident_id for m in s.household_members(tenant, "H1")] == ["R1", "R3"]


def test_seal_registered_replaces_current(seeded: Engine, tenant: str, clock: FixedClock) -> None:
    png = seal_png("新")
    [applied] = apply_events(seeded, [ev(SealRegistered, tenant, "R1", registration_no="S-0100", image_png=png)], clock)
    assert applied.notes
    s = store(seeded)
    cur = s.current_seal(tenant, "R1")
    assert (cur.registration_no, cur.status, cur.image_png, cur.registered_on) == (
        "S-0100",
        SealStatus.REGISTERED,
        png,
        D,
    )
    history = s.seal_history(tenant, "R1")
    assert [(h.registration_no, h.status) for h in history] == [
        ("S-0001", SealStatus.CANCELLED),
        ("S-0100", SealStatus.REGISTERED),
    ]
    payload = s.events_of(tenant, "R1")[-1]["payload"]
    assert "image_png" not in payload and len(payload["image_png_sha256"]) == 64


def test_seal_cancelled(seeded: Engine, tenant: str, clock: FixedClock) -> None:
    [applied] = apply_events(seeded, [ev(SealCancelled, tenant, "R1")], clock)
    assert applied.resident.version == 2
    seal = store(seeded).current_seal(tenant, "R1")
    assert seal.status is SealStatus.CANCELLED and seal.cancelled_on == D


def test_support_measure_start_and_end(seeded: Engine, tenant: str, clock: FixedClock) -> None:
    apply_events(seeded, [ev(SupportMeasureStarted, tenant, "R2")], clock)
    [m] = store(seeded).support_measures(tenant, "R2")
    assert m.active_on(D) and m.ended_on is None
    apply_events(seeded, [ev(SupportMeasureEnded, tenant, "R2", effective_on=date(2025, 6, 1))], clock)
    [m] = store(seeded).support_measures(tenant, "R2")
    assert m.ended_on == date(2025, 6, 1) and not m.active_on(date(2025, 6, 2))
    assert store(seeded).get_resident(tenant, "R2").version == 3


def test_income_update_replaces_year(seeded: Engine, tenant: str, clock: FixedClock) -> None:
    e = ev(IncomeUpdated, tenant, "R1", fiscal_year=2025, incomes={"pension": 100}, deductions=5, taxable_income=95)
    apply_events(seeded, [e], clock)
    rec = store(seeded).income(tenant, "R1", 2025)
    assert rec.incomes == {"pension": 100} and rec.deductions == 5 and rec.taxable_income == 95
    assert store(seeded).income_years(tenant, "R1") == [2024, 2025]


def test_apply_event_in_callers_transaction(seeded: Engine, tenant: str, clock: FixedClock) -> None:
    with seeded.begin() as conn:
        r = apply_event(conn, ev(SealCancelled, tenant, "R1"), recorded_at=clock.now())
        assert r.version == 2
        assert RegistryStore(conn).current_seal(tenant, "R1").status is SealStatus.CANCELLED


# ---- refusals: a specific error and nothing changed ----

BAD: list[tuple[str, Any, str]] = [
    ("death of the deceased", lambda t: [ev(Death, t, "R1"), ev(Death, t, "R1")], "registry.not-resident"),
    ("death of a moved-out person", lambda t: [ev(Death, t, "R5")], "registry.not-resident"),
    ("move-out of a moved-out person", lambda t: [ev(MoveOut, t, "R5")], "registry.not-resident"),
    ("move-out-filed twice", lambda t: [ev(MoveOutFiled, t, "R4"), ev(MoveOutFiled, t, "R4")], "registry.not-resident"),
    ("relocation of a removed person", lambda t: [ev(Relocation, t, "R5", address="x")], "registry.not-resident"),
    ("relocation to the same address", lambda t: [ev(Relocation, t, "R1", address=ADDR1)], "registry.same-address"),
    ("event for an unknown resident", lambda t: [ev(Death, t, "NOPE")], "registry.unknown-resident"),
    ("transfer-in of an active id", lambda t: [transfer_in(t, "R1")], "registry.already-resident"),
    (
        "transfer-in founding a household without head",
        lambda t: [transfer_in(t, relationship="子")],
        "registry.new-household-needs-head",
    ),
    (
        "transfer-in as second head",
        lambda t: [transfer_in(t, household_id="H1", address="")],
        "registry.household-has-head",
    ),
    (
        "transfer-in at another address than the household",
        lambda t: [transfer_in(t, household_id="H1", relationship="子", address="別の住所")],
        "registry.address-differs-from-household",
    ),
    ("transfer-in with bad my number", lambda t: [transfer_in(t, my_number="123456789012")], "registry.bad-my-number"),
    (
        "transfer-in notified before",
        lambda t: [transfer_in(t, notified_on=date(2025, 2, 1))],
        "registry.notified-before-effective",
    ),
    ("seal cancel without seal", lambda t: [ev(SealCancelled, t, "R2")], "registry.no-registered-seal"),
    (
        "seal cancel twice",
        lambda t: [ev(SealCancelled, t, "R1"), ev(SealCancelled, t, "R1")],
        "registry.no-registered-seal",
    ),
    (
        "seal registered by a child",
        lambda t: [ev(SealRegistered, t, "R3", registration_no="S-9", image_png=seal_png())],
        "registry.too-young",
    ),
    (
        "seal image not PNG",
        lambda t: [ev(SealRegistered, t, "R2", registration_no="S-9", image_png=b"GIF89a")],
        "registry.bad-image",
    ),
    (
        "seal registration number reused",
        lambda t: [ev(SealRegistered, t, "R2", registration_no="S-0001", image_png=seal_png())],
        "registry.duplicate-registration-no",
    ),
    ("support start while active", lambda t: [ev(SupportMeasureStarted, t, "R4")], "registry.support-active"),
    ("support end without measure", lambda t: [ev(SupportMeasureEnded, t, "R1")], "registry.no-support-measure"),
    (
        "household change to unknown household as member",
        lambda t: [ev(HouseholdChange, t, "R2", household_id="HX", relationship="妻")],
        "registry.new-household-needs-head",
    ),
    (
        "household change to a household at another address",
        lambda t: [ev(HouseholdChange, t, "R2", household_id="H2", relationship="同居人")],
        "registry.address-differs-from-household",
    ),
    (
        "second head by household change",
        lambda t: [ev(HouseholdChange, t, "R2", household_id="H1", relationship="世帯主")],
        "registry.household-has-head",
    ),
    (
        "unknown income kind",
        lambda t: [ev(IncomeUpdated, t, "R1", fiscal_year=2025, incomes={"lottery": 1})],
        "registry.unknown-income-kind",
    ),
]


@pytest.mark.parametrize(("case", "events", "code"), BAD, ids=[b[0] for b in BAD])
def test_invalid_event_is_refused_and_nothing_changes(
    seeded: Engine, tenant: str, clock: FixedClock, case: str, events: Any, code: str
) -> None:
    before = snapshot(seeded, tenant)
    with LedgerCounter(seeded, tenant) as count:
        with pytest.raises(InvalidInput) as info:
            apply_events(seeded, events(tenant), clock)
        assert count() == 0
    assert info.value.code == code
    assert info.value.message_ja != info.value.message_en
    assert snapshot(seeded, tenant) == before


class LedgerCounter:
    """Context manager: counts ledger rows added during the block."""

    def __init__(self, engine: Engine, tenant: str) -> None:
        self.engine, self.tenant = engine, tenant

    def _count(self) -> int:
        with self.engine.connect() as conn:
            return RegistryStore(conn).count_events(self.tenant)

    def __enter__(self) -> Any:
        start = self._count()
        return lambda: self._count() - start

    def __exit__(self, *exc: object) -> None:
        return None


def test_one_bad_event_in_a_list_changes_nothing(seeded: Engine, tenant: str, clock: FixedClock) -> None:
    before = snapshot(seeded, tenant)
    events = [
        transfer_in(tenant),
        ev(Relocation, tenant, "R1", address="兵庫県加東市新町9番地"),
        ev(SealCancelled, tenant, "R1"),
        ev(Death, tenant, "R5"),  # moved out already: refused
        ev(SupportMeasureStarted, tenant, "R2"),
    ]
    with pytest.raises(InvalidInput, match="R5"):
        apply_events(seeded, events, clock)
    assert snapshot(seeded, tenant) == before
    s = store(seeded)
    assert s.get_resident(tenant, "R9") is None
    assert s.events_of(tenant, "R1") == []


def test_recorded_at_must_be_aware(seeded: Engine, tenant: str) -> None:
    from datetime import datetime

    with seeded.begin() as conn, pytest.raises(ValueError):
        apply_event(conn, ev(SealCancelled, tenant, "R1"), recorded_at=datetime(2025, 1, 1))


def test_store_reads(seeded: Engine, tenant: str) -> None:
    from kofu.registry.model import CardLink

    s = store(seeded)
    assert s.count_residents(tenant) == 5
    assert [r.resident_id for r in s.list_residents(tenant, status=ResidentStatus.MOVED_OUT)] == ["R5"]
    assert [r.resident_id for r in s.list_residents(tenant, limit=2, offset=1)] == ["R2", "R3"]
    assert [m.resident_id for m in s.household_members(tenant, "H1")] == ["R1", "R2", "R3"]
    assert s.get_resident(tenant, "R1", lock=True).version == 1
    assert s.household(tenant, "NOPE") is None
    assert s.income(tenant, "R1", 1999) is None
    link = CardLink(tenant, "R1", "0A1B2C", date(2025, 1, 1), date(2025, 1, 2))
    with seeded.begin() as conn:
        RegistryStore(conn).add_card_link(link)
    with seeded.begin() as conn, pytest.raises(Conflict):
        RegistryStore(conn).add_card_link(link)
    assert s.find_card("0A1B2C") == link
    assert s.card_links(tenant, "R1") == [link]
    with seeded.begin() as conn:
        RegistryStore(conn).revoke_card("0A1B2C", date(2025, 2, 1))
    assert s.find_card("0A1B2C").revoked_on == date(2025, 2, 1)
    assert s.find_card("FFFF") is None


# ---- concurrency (PostgreSQL row locks) ----


def test_concurrent_events_on_one_resident_serialise(seeded: Engine, tenant: str, clock: FixedClock) -> None:
    """PostgreSQL: the second waits on the row lock; SQLite: on BEGIN IMMEDIATE. Either way no lost update."""
    first_applied = threading.Event()
    order: list[str] = []
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with seeded.begin() as conn:
                apply_event(conn, ev(SupportMeasureStarted, tenant, "R1"), recorded_at=clock.now())
                first_applied.set()
                time.sleep(0.5)  # hold the row lock
                order.append("first-commit")
        except BaseException as exc:  # pragma: no cover - surfaced below
            errors.append(exc)
            first_applied.set()

    def second() -> None:
        try:
            first_applied.wait(5)
            with seeded.begin() as conn:
                apply_event(conn, ev(SealCancelled, tenant, "R1"), recorded_at=clock.now())
                order.append("second-applied")
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not errors, errors
    assert order == ["first-commit", "second-applied"]
    r = store(seeded).get_resident(tenant, "R1")
    assert r.version == 3
    assert [e["version"] for e in store(seeded).events_of(tenant, "R1")] == [2, 3]
