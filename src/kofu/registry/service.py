"""Use cases of the registry: apply change events (転入/転居/転出/死亡/印鑑登録 …), parse event files,
import a directory of CSV files (see `kofu.registry.csvio`), and gather a resident's record for display.

Every event locks the resident row, checks that it makes sense, updates the tables, bumps the resident's
`version` and appends to the `registry_events` ledger, inside the caller's transaction.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine

from kofu.common.clock import Clock
from kofu.common.errors import InvalidInput
from kofu.common.lgcode import validate as validate_tenant
from kofu.registry.csvio import ImportProblem, ImportRejected, ImportReport, import_directory
from kofu.registry.model import (
    EVENT_TYPES,
    INCOME_KINDS,
    CardLink,
    Death,
    Household,
    HouseholdChange,
    IncomeRecord,
    IncomeUpdated,
    MoveOut,
    MoveOutFiled,
    RegistryEvent,
    Relocation,
    Resident,
    ResidentStatus,
    SealCancelled,
    SealRegistered,
    SealRegistration,
    SealStatus,
    Sex,
    SupportMeasure,
    SupportMeasureEnded,
    SupportMeasureStarted,
    TransferIn,
)
from kofu.registry.store import RegistryStore
from kofu.registry.validate import HEAD, is_png, my_number_problem

__all__ = [
    "AppliedEvent",
    "ImportProblem",
    "ImportRejected",
    "ImportReport",
    "ResidentRecord",
    "apply_event",
    "apply_events",
    "import_directory",
    "load_events",
    "parse_events",
    "resident_record",
]

SEAL_MIN_AGE = 15  # 印鑑条例: persons under 15 cannot register a seal (every municipality's ordinance)


@dataclass(frozen=True)
class AppliedEvent:
    event: RegistryEvent
    resident: Resident  # the resident after the event
    also_changed: tuple[Resident, ...] = ()  # other household members changed by a 転居
    notes: tuple[str, ...] = ()  # things an operator should follow up (e.g. a household without head)


def _reject(code: str, en: str, ja: str) -> InvalidInput:
    return InvalidInput(en, ja, code=f"registry.{code}")


# ---- applying events ----


def apply_event(conn: Connection, event: RegistryEvent, *, recorded_at: datetime) -> Resident:
    """Applies one event inside the caller's transaction; returns the resident after it."""
    return _apply(conn, event, recorded_at).resident


def apply_detailed(conn: Connection, event: RegistryEvent, *, recorded_at: datetime) -> AppliedEvent:
    """Like `apply_event`, inside the caller's transaction, returning what else changed and the notes."""
    return _apply(conn, event, recorded_at)


def apply_events(engine: Engine, events: Sequence[RegistryEvent], clock: Clock) -> list[AppliedEvent]:
    """Applies all events in ONE transaction: all or nothing."""
    recorded_at = clock.now()
    with engine.begin() as conn:
        return [_apply(conn, ev, recorded_at) for ev in events]


def _apply(conn: Connection, event: RegistryEvent, recorded_at: datetime) -> AppliedEvent:
    if recorded_at.tzinfo is None:
        raise ValueError("recorded_at must be an aware datetime (UTC)")
    validate_tenant(event.tenant)
    if not event.resident_id:
        raise _reject("missing-resident-id", "the event has no resident_id", "イベントに宛名番号がありません")
    store = RegistryStore(conn)
    current = _lock_in_order(store, event)
    if isinstance(event, TransferIn):
        applied = _transfer_in(store, event, current)
    else:
        if current is None:
            raise _reject(
                "unknown-resident",
                f"resident {event.resident_id} does not exist in tenant {event.tenant}",
                f"宛名番号 {event.resident_id} の住民は登録されていません",
            )
        handler = _HANDLERS[type(event)]
        applied = handler(store, event, current)
    store.append_event(
        tenant=event.tenant,
        resident_id=event.resident_id,
        kind=event.kind,
        effective_on=event.effective_on,
        notified_on=event.notified_on,
        recorded_at=recorded_at,
        version=applied.resident.version,
        payload=_payload(event, applied.notes),
    )
    for other in applied.also_changed:
        store.append_event(
            tenant=other.tenant,
            resident_id=other.resident_id,
            kind=event.kind,
            effective_on=event.effective_on,
            notified_on=event.notified_on,
            recorded_at=recorded_at,
            version=other.version,
            payload={"household_member_of": event.resident_id, **_payload(event, ())},
        )
    return applied


def _payload(event: RegistryEvent, notes: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(event):
        if f.name in ("tenant", "resident_id", "kind", "effective_on", "notified_on"):
            continue
        value = getattr(event, f.name)
        if isinstance(value, bytes):
            out[f.name + "_sha256"] = hashlib.sha256(value).hexdigest()
        elif isinstance(value, date):
            out[f.name] = value.isoformat()
        else:
            out[f.name] = value
    if notes:
        out["notes"] = list(notes)
    return out


def _bump(store: RegistryStore, before: Resident, **changes: Any) -> Resident:
    after = replace(before, version=before.version + 1, **changes)
    store.update_resident(after, expected_version=before.version)
    return after


def _require_active(r: Resident, what_en: str, what_ja: str) -> None:
    if r.is_removed:
        raise _reject(
            "not-resident",
            f"{what_en}: resident {r.resident_id} is {r.status} (removed from the register)",
            f"{what_ja}：宛名番号 {r.resident_id} の住民は消除されています（{_status_ja(r.status)}）",
        )


def _status_ja(status: ResidentStatus) -> str:
    return {
        ResidentStatus.RESIDENT: "住民",
        ResidentStatus.MOVE_OUT_FILED: "転出届済",
        ResidentStatus.MOVED_OUT: "転出",
        ResidentStatus.DECEASED: "死亡",
    }[status]


def _active_head(store: RegistryStore, tenant: str, household_id: str) -> Resident | None:
    for m in store.household_members(tenant, household_id):
        if m.is_head and not m.is_removed:
            return m
    return None


def _check_dates(event: RegistryEvent, *, notified_not_before_effective: bool) -> None:
    if notified_not_before_effective and event.notified_on < event.effective_on:
        raise _reject(
            "notified-before-effective",
            f"{event.kind}: notified on {event.notified_on} before the change itself ({event.effective_on})",
            f"{event.kind}：届出日 {event.notified_on} が異動日 {event.effective_on} より前です",
        )


def _lock_in_order(store: RegistryStore, event: RegistryEvent) -> Resident | None:
    """Locks what the event will change in one fixed order and returns the locked resident (or None).

    PostgreSQL (on SQLite BEGIN IMMEDIATE serialises writers and these locks are no-ops): first advisory
    locks on the names of rows a transfer-in or household change may create (its resident id, the
    household ids), so that two of them cannot both insert the same row; then the households the event
    touches (a transfer-in's, a relocation's, a household change's current and target one) by
    household_id; then the resident. A relocation then locks the household's members by resident_id.
    Everyone taking households before residents is what keeps two relocations started by different members
    of one household (or a relocation and a household change or a returning member's transfer-in) from
    deadlocking."""
    tenant, rid = event.tenant, event.resident_id
    names: set[str] = set()
    if isinstance(event, TransferIn):
        names |= {f"resident:{rid}", f"household:{event.household_id}"}
    elif isinstance(event, HouseholdChange):
        names.add(f"household:{event.household_id}")
    for name in sorted(names):
        store.advisory_lock(f"kofu.registry:{tenant}:{name}")
    for _ in range(3):
        # the household a relocation or household change starts from is read first, unlocked, to be
        # locked before the resident; if a concurrent household change moved the resident meanwhile, again
        seen = store.get_resident(tenant, rid) if isinstance(event, Relocation | HouseholdChange) else None
        wanted: set[str] = set()
        if isinstance(event, TransferIn | HouseholdChange):
            wanted.add(event.household_id)
        if seen is not None:
            wanted.add(seen.household_id)
        for household_id in sorted(wanted):
            store.household(tenant, household_id, lock=True)
        current = store.get_resident(tenant, rid, lock=True)
        if seen is None or current is None or current.household_id == seen.household_id:
            return current
    return store.get_resident(tenant, rid, lock=True)


def _transfer_in(store: RegistryStore, ev: TransferIn, current: Resident | None) -> AppliedEvent:
    if current is not None and not current.is_removed:
        raise _reject(
            "already-resident",
            f"transfer-in: resident {ev.resident_id} is already registered ({current.status})",
            f"転入：宛名番号 {ev.resident_id} は既に住民として登録されています",
        )
    _check_dates(ev, notified_not_before_effective=True)
    for name, value, ja in (
        ("household_id", ev.household_id, "世帯番号"),
        ("name", ev.name, "氏名"),
        ("kana", ev.kana, "ふりがな"),
        ("relationship", ev.relationship, "続柄"),
        ("previous_address", ev.previous_address, "従前の住所"),
    ):
        if not value.strip():
            raise _reject("missing-field", f"transfer-in: {name} is required", f"転入：{ja}を指定してください")
    if ev.birth_date > ev.effective_on:
        raise _reject(
            "born-after-event",
            f"transfer-in: birth date {ev.birth_date} is after the transfer-in date {ev.effective_on}",
            f"転入：生年月日 {ev.birth_date} が転入日 {ev.effective_on} より後です",
        )
    if ev.my_number is not None:
        problem = my_number_problem(ev.my_number)
        if problem:
            raise _reject("bad-my-number", f"transfer-in: my_number {problem}", "転入：個人番号が正しくありません")
    household = store.household(ev.tenant, ev.household_id, lock=True)
    address = ev.address
    dormant = household is not None and all(m.is_removed for m in store.household_members(ev.tenant, ev.household_id))
    if household is None or dormant:
        if ev.relationship != HEAD:
            raise _reject(
                "new-household-needs-head",
                f"transfer-in: household {ev.household_id} does not exist; its first member must be "
                f"its head ({HEAD}), not {ev.relationship}",
                f"転入：世帯 {ev.household_id} は存在しません。新しい世帯の最初の世帯員は世帯主です",
            )
        if not address.strip():
            raise _reject("missing-field", "transfer-in: address is required", "転入：住所を指定してください")
        new = Household(
            tenant=ev.tenant, household_id=ev.household_id, head_resident_id=ev.resident_id, address=address
        )
        if household is None:
            store.insert_household(new)
        else:  # a household whose members all left is founded anew
            store.update_household(new)
    else:
        if not address.strip():
            address = household.address
        if address != household.address:
            raise _reject(
                "address-differs-from-household",
                f"transfer-in: address {address!r} differs from household {ev.household_id}'s address",
                f"転入：住所が世帯 {ev.household_id} の住所と異なります",
            )
        head = _active_head(store, ev.tenant, ev.household_id)
        if ev.relationship == HEAD:
            if head is not None:
                raise _reject(
                    "household-has-head",
                    f"transfer-in: household {ev.household_id} already has a head ({head.resident_id})",
                    f"転入：世帯 {ev.household_id} には既に世帯主がいます",
                )
            store.update_household(replace(household, head_resident_id=ev.resident_id))
    resident = Resident(
        tenant=ev.tenant,
        resident_id=ev.resident_id,
        household_id=ev.household_id,
        name=ev.name,
        kana=ev.kana,
        birth_date=ev.birth_date,
        sex=Sex(ev.sex),
        relationship=ev.relationship,
        address=address,
        honseki=ev.honseki,
        hittosha=ev.hittosha,
        became_resident_on=ev.effective_on,
        address_since=ev.effective_on,
        notified_on=ev.notified_on,
        previous_address=ev.previous_address,
        status=ResidentStatus.RESIDENT,
        status_changed_on=None,
        moved_in_on=ev.notified_on,
        my_number=ev.my_number,
        juminhyo_code=current.juminhyo_code if current else None,
        version=1,
    )
    if current is None:
        store.insert_resident(resident)
    else:  # a former resident returns (再転入): same 宛名番号, a fresh record
        resident = replace(resident, version=current.version + 1)
        store.update_resident(resident, expected_version=current.version)
    return AppliedEvent(ev, resident)


def _relocation(store: RegistryStore, ev: RegistryEvent, r: Resident) -> AppliedEvent:
    assert isinstance(ev, Relocation)
    if r.status is not ResidentStatus.RESIDENT:
        raise _reject(
            "not-resident",
            f"relocation: resident {r.resident_id} is {r.status}, not resident",
            f"転居：宛名番号 {r.resident_id} は住民ではありません（{_status_ja(r.status)}）",
        )
    _check_dates(ev, notified_not_before_effective=True)
    if not ev.address.strip():
        raise _reject("missing-field", "relocation: address is required", "転居：住所を指定してください")
    if ev.address == r.address:
        raise _reject(
            "same-address",
            f"relocation: resident {r.resident_id} already lives at that address",
            "転居：新しい住所が現在の住所と同じです",
        )
    if ev.effective_on < r.address_since:
        raise _reject(
            "before-address-since",
            f"relocation on {ev.effective_on} is before the current address's date {r.address_since}",
            f"転居：異動日 {ev.effective_on} が現住所を定めた日 {r.address_since} より前です",
        )
    household = store.household(r.tenant, r.household_id, lock=True)
    members = [
        m
        for m in sorted(store.household_members(r.tenant, r.household_id, lock=True), key=lambda m: m.resident_id)
        if not m.is_removed
    ]
    changes = {
        "address": ev.address,
        "previous_address": r.address,
        "address_since": ev.effective_on,
        "notified_on": ev.notified_on,
    }
    moved: list[Resident] = []
    me = r
    for m in members:
        if m.resident_id == r.resident_id:
            me = _bump(store, r, **changes)
        else:
            moved.append(_bump(store, m, **{**changes, "previous_address": m.address}))
    if household is not None:
        store.update_household(replace(household, address=ev.address))
    return AppliedEvent(ev, me, tuple(moved))


def _head_leaves_note(store: RegistryStore, r: Resident) -> tuple[str, ...]:
    if not r.is_head:
        return ()
    others = [m for m in store.household_members(r.tenant, r.household_id) if m.resident_id != r.resident_id]
    if any(not m.is_removed for m in others):
        return (
            f"household {r.household_id} has no active head now; record a household-change to name one "
            f"(世帯 {r.household_id} の世帯主が不在です。世帯変更で世帯主を定めてください)",
        )
    return ()


def _move_out_filed(store: RegistryStore, ev: RegistryEvent, r: Resident) -> AppliedEvent:
    assert isinstance(ev, MoveOutFiled)
    if r.status is not ResidentStatus.RESIDENT:
        raise _reject(
            "not-resident",
            f"move-out-filed: resident {r.resident_id} is {r.status}, not resident",
            f"転出届：宛名番号 {r.resident_id} は住民ではありません（{_status_ja(r.status)}）",
        )
    after = _bump(
        store, r, status=ResidentStatus.MOVE_OUT_FILED, status_changed_on=ev.effective_on, notified_on=ev.notified_on
    )
    return AppliedEvent(ev, after)


def _remove(store: RegistryStore, ev: RegistryEvent, r: Resident, status: ResidentStatus) -> AppliedEvent:
    label_en, label_ja = ("death", "死亡") if status is ResidentStatus.DECEASED else ("move-out", "転出")
    _require_active(r, label_en, label_ja)
    if ev.effective_on < r.became_resident_on:
        raise _reject(
            "before-became-resident",
            f"{label_en} on {ev.effective_on} is before the resident became resident ({r.became_resident_on})",
            f"{label_ja}：異動日 {ev.effective_on} が住民となった日 {r.became_resident_on} より前です",
        )
    if status is ResidentStatus.DECEASED:
        _check_dates(ev, notified_not_before_effective=True)
    notes = _head_leaves_note(store, r)
    after = _bump(store, r, status=status, status_changed_on=ev.effective_on, notified_on=ev.notified_on)
    # 印鑑登録 is erased (抹消) with the registration of a removed person.
    if store.cancel_seals(r.tenant, r.resident_id, ev.effective_on):
        notes = (*notes, "seal registration cancelled (印鑑登録抹消)")
    return AppliedEvent(ev, after, notes=notes)


def _move_out(store: RegistryStore, ev: RegistryEvent, r: Resident) -> AppliedEvent:
    assert isinstance(ev, MoveOut)
    return _remove(store, ev, r, ResidentStatus.MOVED_OUT)


def _death(store: RegistryStore, ev: RegistryEvent, r: Resident) -> AppliedEvent:
    assert isinstance(ev, Death)
    return _remove(store, ev, r, ResidentStatus.DECEASED)


def _household_change(store: RegistryStore, ev: RegistryEvent, r: Resident) -> AppliedEvent:
    assert isinstance(ev, HouseholdChange)
    _require_active(r, "household-change", "世帯変更")
    if not ev.household_id.strip() or not ev.relationship.strip():
        raise _reject(
            "missing-field",
            "household-change: household_id and relationship are required",
            "世帯変更：世帯番号と続柄を指定してください",
        )
    if ev.household_id == r.household_id and ev.relationship == r.relationship:
        raise _reject(
            "no-change",
            f"household-change: resident {r.resident_id} is already {ev.relationship} of household {ev.household_id}",
            "世帯変更：世帯と続柄が現在と同じです",
        )
    notes: tuple[str, ...] = ()
    target = store.household(r.tenant, ev.household_id, lock=True)
    if target is None:
        if ev.relationship != HEAD:
            raise _reject(
                "new-household-needs-head",
                f"household-change: household {ev.household_id} does not exist; the first member of a new "
                f"household must be its head ({HEAD})",
                f"世帯変更：世帯 {ev.household_id} は存在しません。新しい世帯の最初の世帯員は世帯主です",
            )
        store.insert_household(
            Household(tenant=r.tenant, household_id=ev.household_id, head_resident_id=r.resident_id, address=r.address)
        )
    else:
        if target.address != r.address:
            raise _reject(
                "address-differs-from-household",
                f"household-change: household {ev.household_id} is at another address; record a relocation",
                f"世帯変更：世帯 {ev.household_id} の住所が異なります。転居として届け出てください",
            )
        if ev.relationship == HEAD:
            head = _active_head(store, r.tenant, ev.household_id)
            if head is not None and head.resident_id != r.resident_id:
                raise _reject(
                    "household-has-head",
                    f"household-change: household {ev.household_id} already has a head ({head.resident_id}); "
                    "change that person's relationship first",
                    f"世帯変更：世帯 {ev.household_id} には既に世帯主がいます。先に現世帯主の続柄を変更してください",
                )
            store.update_household(replace(target, head_resident_id=r.resident_id))
    if r.is_head and (ev.household_id != r.household_id or ev.relationship != HEAD):
        notes = _head_leaves_note(store, r)
    after = _bump(store, r, household_id=ev.household_id, relationship=ev.relationship, notified_on=ev.notified_on)
    return AppliedEvent(ev, after, notes=notes)


def _seal_registered(store: RegistryStore, ev: RegistryEvent, r: Resident) -> AppliedEvent:
    assert isinstance(ev, SealRegistered)
    if r.status is not ResidentStatus.RESIDENT:
        raise _reject(
            "not-resident",
            f"seal-registered: resident {r.resident_id} is {r.status}, not resident",
            f"印鑑登録：宛名番号 {r.resident_id} は住民ではありません（{_status_ja(r.status)}）",
        )
    if r.age_on(ev.effective_on) < SEAL_MIN_AGE:
        raise _reject(
            "too-young",
            f"seal-registered: resident {r.resident_id} is under {SEAL_MIN_AGE}",
            f"印鑑登録：{SEAL_MIN_AGE}歳未満の方は印鑑登録できません",
        )
    if not ev.registration_no.strip():
        raise _reject(
            "missing-field", "seal-registered: registration_no is required", "印鑑登録：登録番号を指定してください"
        )
    if not is_png(ev.image_png):
        raise _reject(
            "bad-image", "seal-registered: the seal image is not a PNG", "印鑑登録：印影画像がPNGではありません"
        )
    if store.registration_no_taken(r.tenant, ev.registration_no):
        raise _reject(
            "duplicate-registration-no",
            f"seal-registered: registration number {ev.registration_no} is already used",
            f"印鑑登録：登録番号 {ev.registration_no} は既に使われています",
        )
    notes: tuple[str, ...] = ()
    if store.cancel_seals(r.tenant, r.resident_id, ev.effective_on):
        notes = ("the previous registration was cancelled (旧登録を廃止)",)
    store.add_seal(
        SealRegistration(
            tenant=r.tenant,
            resident_id=r.resident_id,
            registration_no=ev.registration_no,
            image_png=ev.image_png,
            registered_on=ev.effective_on,
            status=SealStatus.REGISTERED,
        )
    )
    return AppliedEvent(ev, _bump(store, r), notes=notes)


def _seal_cancelled(store: RegistryStore, ev: RegistryEvent, r: Resident) -> AppliedEvent:
    assert isinstance(ev, SealCancelled)
    seal = store.current_seal(r.tenant, r.resident_id)
    if seal is None or seal.status is not SealStatus.REGISTERED:
        raise _reject(
            "no-registered-seal",
            f"seal-cancelled: resident {r.resident_id} has no registered seal",
            f"印鑑廃止：宛名番号 {r.resident_id} には登録中の印鑑がありません",
        )
    if ev.effective_on < seal.registered_on:
        raise _reject(
            "before-registration",
            f"seal-cancelled on {ev.effective_on} is before the registration ({seal.registered_on})",
            f"印鑑廃止：廃止日 {ev.effective_on} が登録日 {seal.registered_on} より前です",
        )
    store.cancel_seals(r.tenant, r.resident_id, ev.effective_on)
    return AppliedEvent(ev, _bump(store, r))


def _support_started(store: RegistryStore, ev: RegistryEvent, r: Resident) -> AppliedEvent:
    assert isinstance(ev, SupportMeasureStarted)
    for m in store.support_measures(r.tenant, r.resident_id):
        if m.ended_on is None or m.ended_on >= ev.effective_on:
            raise _reject(
                "support-active",
                f"support-start: resident {r.resident_id} already has a support measure from {m.started_on}",
                f"支援措置開始：宛名番号 {r.resident_id} には既に支援措置があります（{m.started_on} から）",
            )
    store.add_support_measure(SupportMeasure(tenant=r.tenant, resident_id=r.resident_id, started_on=ev.effective_on))
    return AppliedEvent(ev, _bump(store, r))


def _support_ended(store: RegistryStore, ev: RegistryEvent, r: Resident) -> AppliedEvent:
    assert isinstance(ev, SupportMeasureEnded)
    open_measures = [m for m in store.support_measures(r.tenant, r.resident_id) if m.ended_on is None]
    if not open_measures:
        raise _reject(
            "no-support-measure",
            f"support-end: resident {r.resident_id} has no open support measure",
            f"支援措置終了：宛名番号 {r.resident_id} には継続中の支援措置がありません",
        )
    if any(ev.effective_on < m.started_on for m in open_measures):
        raise _reject(
            "before-support-start",
            f"support-end on {ev.effective_on} is before the measure started ({open_measures[0].started_on})",
            f"支援措置終了：終了日 {ev.effective_on} が開始日より前です",
        )
    store.end_support_measures(r.tenant, r.resident_id, ev.effective_on)
    return AppliedEvent(ev, _bump(store, r))


def _income_updated(store: RegistryStore, ev: RegistryEvent, r: Resident) -> AppliedEvent:
    assert isinstance(ev, IncomeUpdated)
    if not 1900 <= ev.fiscal_year <= 2200:
        raise _reject(
            "bad-fiscal-year",
            f"income-update: fiscal year {ev.fiscal_year} is out of range",
            "所得更新：年度が不正です",
        )
    unknown = sorted(set(ev.incomes) - set(INCOME_KINDS))
    if unknown:
        raise _reject(
            "unknown-income-kind",
            f"income-update: unknown income kinds {unknown}; known: {sorted(INCOME_KINDS)}",
            f"所得更新：不明な所得の種類 {unknown}",
        )
    if ev.deductions < 0 or ev.taxable_income < 0:
        raise _reject(
            "negative-amount",
            "income-update: deductions and taxable_income cannot be negative",
            "所得更新：所得控除額と課税標準額は負にできません",
        )
    store.put_income(
        IncomeRecord(
            tenant=r.tenant,
            resident_id=r.resident_id,
            fiscal_year=ev.fiscal_year,
            incomes=dict(ev.incomes),
            deductions=ev.deductions,
            taxable_income=ev.taxable_income,
        )
    )
    return AppliedEvent(ev, _bump(store, r))


_Handler = Callable[[RegistryStore, RegistryEvent, Resident], AppliedEvent]
_HANDLERS: dict[type[RegistryEvent], _Handler] = {
    Relocation: _relocation,
    MoveOutFiled: _move_out_filed,
    MoveOut: _move_out,
    Death: _death,
    HouseholdChange: _household_change,
    SealRegistered: _seal_registered,
    SealCancelled: _seal_cancelled,
    SupportMeasureStarted: _support_started,
    SupportMeasureEnded: _support_ended,
    IncomeUpdated: _income_updated,
}


# ---- JSON Lines event files ----

_OPTIONAL_FIELDS = {"relationship", "incomes", "deductions", "taxable_income", "destination", "tenant"}


class _FieldError(Exception):
    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column = column
        self.message = message


def _convert(name: str, hint: Any, value: Any, base_dir: Path | None) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None
        return _convert(name, args[0], value, base_dir)
    if hint is date:
        if not isinstance(value, str):
            raise _FieldError(name, f"{name}: expected an ISO date string YYYY-MM-DD")
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise _FieldError(name, f"{name}: {value!r} is not a date YYYY-MM-DD") from None
    if hint is Sex:
        try:
            return Sex(value)
        except ValueError:
            raise _FieldError(name, f"{name}: {value!r} is not one of male, female") from None
    if hint is str:
        if not isinstance(value, str):
            raise _FieldError(name, f"{name}: expected a string")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _FieldError(name, f"{name}: expected an integer")
        return value
    if origin is dict:
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) for k, v in value.items()
        ):
            raise _FieldError(name, f"{name}: expected an object of integers")
        return dict(value)
    raise _FieldError(name, f"{name}: unsupported field type {hint!r}")  # pragma: no cover


def _seal_image(obj: dict[str, Any], base_dir: Path | None) -> bytes:
    if "image_png" in obj:
        try:
            return base64.b64decode(obj.pop("image_png"), validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise _FieldError("image_png", "image_png: not valid base64") from None
    if "image" in obj:
        rel = obj.pop("image")
        if not isinstance(rel, str):
            raise _FieldError("image", "image: expected a path relative to the events file")
        if base_dir is None:
            raise _FieldError("image", "image: a path needs the events file's directory; use image_png (base64)")
        path = base_dir / rel
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise _FieldError("image", f"image: cannot read {rel}: {exc.strerror}") from None
        if not is_png(data):
            raise _FieldError("image", f"image: {rel} is not a PNG file")
        return data
    raise _FieldError("image", "image: required (a PNG path relative to the file, or image_png in base64)")


def _parse_event(obj: Any, tenant: str, base_dir: Path | None) -> RegistryEvent:
    if not isinstance(obj, dict):
        raise _FieldError("", "each line must be a JSON object")
    obj = dict(obj)
    kind = obj.pop("kind", None)
    if kind not in EVENT_TYPES:
        raise _FieldError("kind", f"kind: {kind!r} is not one of {', '.join(EVENT_TYPES)}")
    cls = EVENT_TYPES[kind]
    line_tenant = obj.pop("tenant", tenant)
    if line_tenant != tenant:
        raise _FieldError("tenant", f"tenant: {line_tenant!r} differs from the tenant {tenant}")
    kwargs: dict[str, Any] = {"tenant": tenant}
    if cls is SealRegistered:
        kwargs["image_png"] = _seal_image(obj, base_dir)
    hints = typing.get_type_hints(cls)
    names = {f.name for f in fields(cls) if f.init}
    unknown = sorted(set(obj) - names)
    if unknown:
        raise _FieldError(unknown[0], f"unknown field(s) for {kind}: {', '.join(unknown)}")
    for f in fields(cls):
        if not f.init or f.name in kwargs:
            continue
        if f.name not in obj:
            if f.name in _OPTIONAL_FIELDS or f.default is None:
                continue
            raise _FieldError(f.name, f"{f.name}: required for {kind}")
        kwargs[f.name] = _convert(f.name, hints[f.name], obj[f.name], base_dir)
    if cls is IncomeUpdated:
        unknown_kinds = sorted(set(kwargs.get("incomes", {})) - set(INCOME_KINDS))
        if unknown_kinds:
            raise _FieldError("incomes", f"incomes: unknown kinds {unknown_kinds}; known: {sorted(INCOME_KINDS)}")
    if cls is TransferIn and kwargs.get("my_number") is not None:
        problem = my_number_problem(kwargs["my_number"])
        if problem:
            raise _FieldError("my_number", f"my_number: {problem}")
    return cls(**kwargs)


def parse_events(text: str, tenant: str, *, base_dir: Path | None = None, file: str = "events") -> list[RegistryEvent]:
    """Reads JSON Lines (one event object per line; blank lines and lines starting with # are skipped).

    Raises `ImportRejected` listing every bad line as (file, line, field, message)."""
    validate_tenant(tenant)
    out: list[RegistryEvent] = []
    problems: list[ImportProblem] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            obj = json.loads(stripped)
        except json.JSONDecodeError as exc:
            problems.append(ImportProblem(file, lineno, "", f"not valid JSON: {exc.msg} (column {exc.colno})"))
            continue
        try:
            out.append(_parse_event(obj, tenant, base_dir))
        except _FieldError as exc:
            problems.append(ImportProblem(file, lineno, exc.column, exc.message))
    if problems:
        raise ImportRejected(problems)
    return out


def load_events(path: Path, tenant: str) -> list[RegistryEvent]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ImportRejected([ImportProblem(path.name, 0, "", "the file is not valid UTF-8")]) from None
    return parse_events(text, tenant, base_dir=path.parent, file=path.name)


# ---- a resident's whole record (for operators) ----


@dataclass(frozen=True)
class ResidentRecord:
    resident: Resident
    household: Household | None
    members: list[Resident]
    seal: SealRegistration | None
    income_years: list[int]
    support: list[SupportMeasure]
    cards: list[CardLink]
    events: list[dict[str, Any]] = field(default_factory=list)


def resident_record(engine: Engine, tenant: str, resident_id: str) -> ResidentRecord:
    from kofu.common.errors import NotFound

    validate_tenant(tenant)
    with engine.connect() as conn:
        store = RegistryStore(conn)
        r = store.get_resident(tenant, resident_id)
        if r is None:
            raise NotFound(
                f"resident {resident_id} does not exist in tenant {tenant}",
                f"宛名番号 {resident_id} の住民は登録されていません",
            )
        return ResidentRecord(
            resident=r,
            household=store.household(tenant, r.household_id),
            members=store.household_members(tenant, r.household_id),
            seal=store.current_seal(tenant, resident_id),
            income_years=store.income_years(tenant, resident_id),
            support=store.support_measures(tenant, resident_id),
            cards=store.card_links(tenant, resident_id),
            events=store.events_of(tenant, resident_id),
        )
