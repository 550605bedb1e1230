"""Tables of the resident registry and `RegistryStore`, its repository inside the caller's transaction.

Every table is prefixed `registry_` and keyed by `tenant` (the 6-digit 団体コード) plus the
municipality's own ids. `registry_events` is an append-only ledger of every applied change.

`RegistryStore` never opens or commits a transaction: the issuer calls its read methods inside its own
issuance transaction (ARCHITECTURE rule 4), and `kofu.registry.service` calls the write methods inside
the transaction that applies an event or an import.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Date,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError

from kofu.common.errors import Conflict
from kofu.db import metadata
from kofu.registry.model import (
    INCOME_KINDS,
    CardLink,
    Household,
    IncomeRecord,
    Resident,
    ResidentStatus,
    SealRegistration,
    SealStatus,
    Sex,
    SupportMeasure,
)

TENANT = 6
ID = 64

households = Table(
    "registry_households",
    metadata,
    Column("tenant", String(TENANT), nullable=False),
    Column("household_id", String(ID), nullable=False),
    Column("head_resident_id", String(ID), nullable=False),  # may be a removed person until 世帯変更
    Column("address", Text, nullable=False),
    PrimaryKeyConstraint("tenant", "household_id"),
)

residents = Table(
    "registry_residents",
    metadata,
    Column("tenant", String(TENANT), nullable=False),
    Column("resident_id", String(ID), nullable=False),
    Column("household_id", String(ID), nullable=False),
    Column("name", Text, nullable=False),
    Column("kana", Text, nullable=False),
    Column("birth_date", Date, nullable=False),
    Column("sex", String(8), nullable=False),
    Column("relationship", String(32), nullable=False),
    Column("address", Text, nullable=False),
    Column("honseki", Text),
    Column("hittosha", Text),
    Column("became_resident_on", Date, nullable=False),
    Column("address_since", Date, nullable=False),
    Column("notified_on", Date, nullable=False),
    Column("previous_address", Text),
    Column("status", String(16), nullable=False),
    Column("status_changed_on", Date),
    Column("moved_in_on", Date),
    Column("my_number", String(12)),
    Column("juminhyo_code", String(11)),
    Column("version", Integer, nullable=False, default=1),
    PrimaryKeyConstraint("tenant", "resident_id"),
    ForeignKeyConstraint(
        ["tenant", "household_id"],
        ["registry_households.tenant", "registry_households.household_id"],
    ),
    Index("ix_registry_residents_household", "tenant", "household_id"),
    Index("ix_registry_residents_status", "tenant", "status"),
    UniqueConstraint("tenant", "my_number", name="uq_registry_residents_my_number"),
)


def _resident_fk() -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["tenant", "resident_id"], ["registry_residents.tenant", "registry_residents.resident_id"]
    )


seals = Table(
    "registry_seals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant", String(TENANT), nullable=False),
    Column("resident_id", String(ID), nullable=False),
    Column("registration_no", String(ID), nullable=False),
    Column("image_png", LargeBinary, nullable=False),
    Column("registered_on", Date, nullable=False),
    Column("status", String(16), nullable=False),
    Column("cancelled_on", Date),
    _resident_fk(),
    Index("ix_registry_seals_resident", "tenant", "resident_id"),
    UniqueConstraint("tenant", "registration_no", name="uq_registry_seals_registration_no"),
)

income = Table(
    "registry_income",
    metadata,
    Column("tenant", String(TENANT), nullable=False),
    Column("resident_id", String(ID), nullable=False),
    Column("fiscal_year", Integer, nullable=False),
    *(Column(kind, BigInteger) for kind in INCOME_KINDS),  # NULL: the kind is absent from the record
    Column("deductions", BigInteger, nullable=False, default=0),
    Column("taxable_income", BigInteger, nullable=False, default=0),
    PrimaryKeyConstraint("tenant", "resident_id", "fiscal_year"),
    _resident_fk(),
)

support = Table(
    "registry_support_measures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant", String(TENANT), nullable=False),
    Column("resident_id", String(ID), nullable=False),
    Column("started_on", Date, nullable=False),
    Column("ended_on", Date),
    _resident_fk(),
    Index("ix_registry_support_measures_resident", "tenant", "resident_id"),
)

# Card links are not part of an import: they outlive `replace=True` and so carry no foreign key.
cards = Table(
    "registry_card_links",
    metadata,
    Column("cert_serial", String(80), nullable=False),
    Column("tenant", String(TENANT), nullable=False),
    Column("resident_id", String(ID), nullable=False),
    Column("issued_on", Date, nullable=False),
    Column("usable_from", Date, nullable=False),
    Column("revoked_on", Date),
    Column("sign_serial", String(80)),
    Column("card_app_user_id", String(32)),
    Column("card_app_public_key", Text),  # base64 DER SubjectPublicKeyInfo (カードAP方式: the card proves itself)
    PrimaryKeyConstraint("cert_serial"),
    Index("ix_registry_card_links_resident", "tenant", "resident_id"),
    Index("ix_registry_card_links_card_app_user", "card_app_user_id", unique=True),
)

events = Table(
    "registry_events",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("tenant", String(TENANT), nullable=False),
    Column("resident_id", String(ID), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("effective_on", Date, nullable=False),
    Column("notified_on", Date, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),  # UTC
    Column("version", Integer),  # the resident's version after the event
    Column("payload", Text, nullable=False, default="{}"),  # JSON: the event's fields (seal image as hash)
    Index("ix_registry_events_resident", "tenant", "resident_id"),
)

RESIDENT_COLUMNS: tuple[str, ...] = tuple(c.name for c in residents.columns)
RESIDENT_CELLS: tuple[str, ...] = RESIDENT_COLUMNS[1:-1]  # what an import file gives: all but tenant, version
HOUSEHOLD_COLUMNS: tuple[str, ...] = tuple(c.name for c in households.columns)
SEAL_COLUMNS: tuple[str, ...] = tuple(c.name for c in seals.columns if c.name != "id")
INCOME_COLUMNS: tuple[str, ...] = tuple(c.name for c in income.columns)
SUPPORT_COLUMNS: tuple[str, ...] = tuple(c.name for c in support.columns if c.name != "id")

# Children first: deleting a tenant's registry goes in this order, inserting in the reverse.
TENANT_TABLES: tuple[Table, ...] = (seals, income, support, residents, households)


# ---- row <-> model ----


def resident_row(r: Resident) -> dict[str, Any]:
    return {
        "tenant": r.tenant,
        "resident_id": r.resident_id,
        "household_id": r.household_id,
        "name": r.name,
        "kana": r.kana,
        "birth_date": r.birth_date,
        "sex": str(r.sex),
        "relationship": r.relationship,
        "address": r.address,
        "honseki": r.honseki,
        "hittosha": r.hittosha,
        "became_resident_on": r.became_resident_on,
        "address_since": r.address_since,
        "notified_on": r.notified_on,
        "previous_address": r.previous_address,
        "status": str(r.status),
        "status_changed_on": r.status_changed_on,
        "moved_in_on": r.moved_in_on,
        "my_number": r.my_number,
        "juminhyo_code": r.juminhyo_code,
        "version": r.version,
    }


def _resident(m: RowMapping) -> Resident:
    return Resident(
        tenant=m["tenant"],
        resident_id=m["resident_id"],
        household_id=m["household_id"],
        name=m["name"],
        kana=m["kana"],
        birth_date=m["birth_date"],
        sex=Sex(m["sex"]),
        relationship=m["relationship"],
        address=m["address"],
        honseki=m["honseki"],
        hittosha=m["hittosha"],
        became_resident_on=m["became_resident_on"],
        address_since=m["address_since"],
        notified_on=m["notified_on"],
        previous_address=m["previous_address"],
        status=ResidentStatus(m["status"]),
        status_changed_on=m["status_changed_on"],
        moved_in_on=m["moved_in_on"],
        my_number=m["my_number"],
        juminhyo_code=m["juminhyo_code"],
        version=m["version"],
    )


def _seal(m: RowMapping) -> SealRegistration:
    return SealRegistration(
        tenant=m["tenant"],
        resident_id=m["resident_id"],
        registration_no=m["registration_no"],
        image_png=bytes(m["image_png"]),
        registered_on=m["registered_on"],
        status=SealStatus(m["status"]),
        cancelled_on=m["cancelled_on"],
    )


def income_row(rec: IncomeRecord) -> dict[str, Any]:
    row: dict[str, Any] = {
        "tenant": rec.tenant,
        "resident_id": rec.resident_id,
        "fiscal_year": rec.fiscal_year,
        "deductions": rec.deductions,
        "taxable_income": rec.taxable_income,
    }
    for kind in INCOME_KINDS:
        row[kind] = rec.incomes.get(kind)
    return row


def _income(m: RowMapping) -> IncomeRecord:
    return IncomeRecord(
        tenant=m["tenant"],
        resident_id=m["resident_id"],
        fiscal_year=m["fiscal_year"],
        incomes={k: int(m[k]) for k in INCOME_KINDS if m[k] is not None},
        deductions=int(m["deductions"]),
        taxable_income=int(m["taxable_income"]),
    )


def _card(m: RowMapping) -> CardLink:
    return CardLink(
        tenant=m["tenant"],
        resident_id=m["resident_id"],
        cert_serial=m["cert_serial"],
        issued_on=m["issued_on"],
        usable_from=m["usable_from"],
        revoked_on=m["revoked_on"],
        sign_serial=m["sign_serial"],
        card_app_user_id=m["card_app_user_id"],
        card_app_public_key=m["card_app_public_key"],
    )


def _is_postgres(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


# ---- the reads of an issuance, built once (SQLAlchemy reuses a statement object's cache key) ----

_RESIDENT = select(residents).where(
    residents.c.tenant == bindparam("tenant"), residents.c.resident_id == bindparam("resident_id")
)
_RESIDENT_LOCKED = _RESIDENT.with_for_update()
_MEMBERS_ORDER = (  # the head (続柄 世帯主) first, then by birth date
    case((residents.c.relationship == "世帯主", 0), else_=1),
    residents.c.birth_date,
    residents.c.resident_id,
)
_MEMBERS = (
    select(residents)
    .where(residents.c.tenant == bindparam("tenant"), residents.c.household_id == bindparam("household_id"))
    .order_by(*_MEMBERS_ORDER)
)
_MEMBERS_LOCKED = _MEMBERS.with_for_update()
# a resident's whole household (the resident included) in one statement, by the resident's id
_HOUSEHOLD_OF = (
    select(residents)
    .where(
        residents.c.tenant == bindparam("tenant"),
        residents.c.household_id
        == select(residents.c.household_id)
        .where(residents.c.tenant == bindparam("tenant"), residents.c.resident_id == bindparam("resident_id"))
        .scalar_subquery(),
    )
    .order_by(*_MEMBERS_ORDER)
)
_CURRENT_SEAL = (
    select(seals)
    .where(seals.c.tenant == bindparam("tenant"), seals.c.resident_id == bindparam("resident_id"))
    .order_by(seals.c.registered_on.desc(), seals.c.id.desc())
    .limit(1)
)
_INCOME = select(income).where(
    income.c.tenant == bindparam("tenant"),
    income.c.resident_id == bindparam("resident_id"),
    income.c.fiscal_year == bindparam("fiscal_year"),
)
_CARD = select(cards).where(cards.c.cert_serial == bindparam("cert_serial"))
_CARD_APP_USER = select(cards).where(cards.c.card_app_user_id == bindparam("user_id"))


class RegistryStore:
    """The registry's tables, read and written inside the caller's transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # ---- reads (the issuer's interface) ----

    def get_resident(self, tenant: str, resident_id: str, *, lock: bool = False) -> Resident | None:
        """With `lock=True` the row stays locked until the caller's transaction ends (PostgreSQL
        `SELECT … FOR UPDATE`; on SQLite the engine's BEGIN IMMEDIATE already serialises writers)."""
        stmt = _RESIDENT_LOCKED if lock and _is_postgres(self.conn) else _RESIDENT
        row = self.conn.execute(stmt, {"tenant": tenant, "resident_id": resident_id}).mappings().first()
        return _resident(row) if row is not None else None

    def lock_residents(self, tenant: str, resident_ids: Sequence[str]) -> bool:
        """Locks these residents' rows one by one, in the order given, until the caller's transaction ends;
        False (nothing done) on SQLite, where the caller's writer transaction already holds the database."""
        if not _is_postgres(self.conn):
            return False
        for resident_id in resident_ids:
            self.conn.execute(_RESIDENT_LOCKED, {"tenant": tenant, "resident_id": resident_id})
        return True

    def resident_and_household(
        self, tenant: str, resident_id: str, *, lock: bool = False
    ) -> tuple[Resident | None, list[Resident]]:
        """`get_resident` and the `household_members` of the resident's household (empty without the resident).
        Without a lock (or on SQLite, whose writer already holds the database) in one statement, one snapshot;
        with a lock on PostgreSQL the resident's row is locked first, then its household read, as before."""
        if lock and _is_postgres(self.conn):
            resident = self.get_resident(tenant, resident_id, lock=True)
            return resident, [] if resident is None else self.household_members(tenant, resident.household_id)
        rows = self.conn.execute(_HOUSEHOLD_OF, {"tenant": tenant, "resident_id": resident_id}).mappings()
        members = [_resident(m) for m in rows]
        return next((m for m in members if m.resident_id == resident_id), None), members

    def household(self, tenant: str, household_id: str, *, lock: bool = False) -> Household | None:
        stmt = select(households).where(households.c.tenant == tenant, households.c.household_id == household_id)
        if lock and _is_postgres(self.conn):
            stmt = stmt.with_for_update()
        m = self.conn.execute(stmt).mappings().first()
        if m is None:
            return None
        return Household(
            tenant=m["tenant"],
            household_id=m["household_id"],
            head_resident_id=m["head_resident_id"],
            address=m["address"],
        )

    def household_members(self, tenant: str, household_id: str, *, lock: bool = False) -> list[Resident]:
        """All statuses; the head (続柄 世帯主) first, then by birth date."""
        stmt = _MEMBERS_LOCKED if lock and _is_postgres(self.conn) else _MEMBERS
        return [
            _resident(m) for m in self.conn.execute(stmt, {"tenant": tenant, "household_id": household_id}).mappings()
        ]

    def current_seal(self, tenant: str, resident_id: str) -> SealRegistration | None:
        """The latest registration, registered or cancelled."""
        m = self.conn.execute(_CURRENT_SEAL, {"tenant": tenant, "resident_id": resident_id}).mappings().first()
        return _seal(m) if m is not None else None

    def seal_history(self, tenant: str, resident_id: str) -> list[SealRegistration]:
        stmt = (
            select(seals)
            .where(seals.c.tenant == tenant, seals.c.resident_id == resident_id)
            .order_by(seals.c.registered_on, seals.c.id)
        )
        return [_seal(m) for m in self.conn.execute(stmt).mappings()]

    def income(self, tenant: str, resident_id: str, fiscal_year: int) -> IncomeRecord | None:
        params = {"tenant": tenant, "resident_id": resident_id, "fiscal_year": fiscal_year}
        m = self.conn.execute(_INCOME, params).mappings().first()
        return _income(m) if m is not None else None

    def income_years(self, tenant: str, resident_id: str) -> list[int]:
        stmt = (
            select(income.c.fiscal_year)
            .where(income.c.tenant == tenant, income.c.resident_id == resident_id)
            .order_by(income.c.fiscal_year)
        )
        return [int(y) for y in self.conn.execute(stmt).scalars()]

    def support_measures(self, tenant: str, resident_id: str) -> list[SupportMeasure]:
        stmt = (
            select(support)
            .where(support.c.tenant == tenant, support.c.resident_id == resident_id)
            .order_by(support.c.started_on, support.c.id)
        )
        return [
            SupportMeasure(
                tenant=m["tenant"], resident_id=m["resident_id"], started_on=m["started_on"], ended_on=m["ended_on"]
            )
            for m in self.conn.execute(stmt).mappings()
        ]

    def card_links(self, tenant: str, resident_id: str) -> list[CardLink]:
        stmt = (
            select(cards)
            .where(cards.c.tenant == tenant, cards.c.resident_id == resident_id)
            .order_by(cards.c.issued_on, cards.c.cert_serial)
        )
        return [_card(m) for m in self.conn.execute(stmt).mappings()]

    def find_card(self, cert_serial: str) -> CardLink | None:
        m = self.conn.execute(_CARD, {"cert_serial": cert_serial}).mappings().first()
        return _card(m) if m is not None else None

    def count_residents(self, tenant: str) -> int:
        stmt = select(func.count()).select_from(residents).where(residents.c.tenant == tenant)
        return int(self.conn.execute(stmt).scalar_one())

    def list_residents(
        self, tenant: str, *, status: ResidentStatus | str | None = None, limit: int = 50, offset: int = 0
    ) -> list[Resident]:
        stmt = select(residents).where(residents.c.tenant == tenant)
        if status is not None:
            stmt = stmt.where(residents.c.status == str(status))
        stmt = stmt.order_by(residents.c.resident_id).limit(limit).offset(offset)
        return [_resident(m) for m in self.conn.execute(stmt).mappings()]

    # ---- card links (written by card issuance, not by registry events) ----

    def add_card_link(self, link: CardLink) -> None:
        if self.find_card(link.cert_serial) is not None:
            raise Conflict(
                f"certificate serial {link.cert_serial} is already linked to a resident",
                f"証明書シリアル番号 {link.cert_serial} は既に登録されています",
            )
        self.conn.execute(
            insert(cards).values(
                cert_serial=link.cert_serial,
                tenant=link.tenant,
                resident_id=link.resident_id,
                issued_on=link.issued_on,
                usable_from=link.usable_from,
                revoked_on=link.revoked_on,
                sign_serial=link.sign_serial,
                card_app_user_id=link.card_app_user_id,
                card_app_public_key=link.card_app_public_key,
            )
        )

    def set_card_usable_from(self, cert_serial: str, day: date) -> None:
        """After a PIN reset or change the card serves kiosks again from `day` (the next day)."""
        self.conn.execute(update(cards).where(cards.c.cert_serial == cert_serial).values(usable_from=day))

    def find_card_app_user(self, user_id: str) -> CardLink | None:
        """The card whose municipal card application holds this user ID (カードAP方式)."""
        m = self.conn.execute(_CARD_APP_USER, {"user_id": user_id}).mappings().first()
        return _card(m) if m is not None else None

    def revoke_card(self, cert_serial: str, on: date) -> None:
        """Marks the link revoked from `on`; an already revoked link keeps its earlier date."""
        self.conn.execute(
            update(cards).where(cards.c.cert_serial == cert_serial, cards.c.revoked_on.is_(None)).values(revoked_on=on)
        )

    # ---- writes used by the service ----

    def insert_resident(self, r: Resident) -> None:
        """Raises `Conflict` (code `registry.already-registered`) instead of a raw IntegrityError when the
        resident id exists, e.g. inserted by a concurrent transaction that committed first (on PostgreSQL the
        insert runs in a savepoint so that the transaction can still tell which constraint failed)."""
        stmt = insert(residents).values(**resident_row(r))
        try:
            if _is_postgres(self.conn):
                with self.conn.begin_nested():
                    self.conn.execute(stmt)
            else:  # SQLite undoes only the failed statement
                self.conn.execute(stmt)
        except IntegrityError:
            if self.get_resident(r.tenant, r.resident_id) is None:
                raise
            raise Conflict(
                f"resident {r.resident_id} is already registered in tenant {r.tenant}",
                f"宛名番号 {r.resident_id} の住民は既に登録されています",
                code="registry.already-registered",
            ) from None

    def advisory_lock(self, key: str) -> None:
        """A transaction-scoped lock on a name (PostgreSQL `pg_advisory_xact_lock`) for rows that do not
        exist yet and so cannot be locked with FOR UPDATE; a no-op on SQLite (BEGIN IMMEDIATE serialises)."""
        if _is_postgres(self.conn):
            self.conn.execute(
                select(func.pg_advisory_xact_lock(func.hashtext(func.concat(func.current_schema(), ":", key))))
            )

    def update_resident(self, r: Resident, *, expected_version: int) -> None:
        """Writes `r` (whose version is already bumped) if the row is still at `expected_version`."""
        row = resident_row(r)
        del row["tenant"], row["resident_id"]
        result = self.conn.execute(
            update(residents)
            .where(
                residents.c.tenant == r.tenant,
                residents.c.resident_id == r.resident_id,
                residents.c.version == expected_version,
            )
            .values(**row)
        )
        if result.rowcount != 1:
            raise Conflict(
                f"resident {r.resident_id} was changed concurrently; try again",
                f"住民 {r.resident_id} は他の処理で更新されました。再実行してください",
            )

    def insert_household(self, h: Household) -> None:
        self.conn.execute(
            insert(households).values(
                tenant=h.tenant, household_id=h.household_id, head_resident_id=h.head_resident_id, address=h.address
            )
        )

    def update_household(self, h: Household) -> None:
        self.conn.execute(
            update(households)
            .where(households.c.tenant == h.tenant, households.c.household_id == h.household_id)
            .values(head_resident_id=h.head_resident_id, address=h.address)
        )

    def add_seal(self, s: SealRegistration) -> None:
        self.conn.execute(
            insert(seals).values(
                tenant=s.tenant,
                resident_id=s.resident_id,
                registration_no=s.registration_no,
                image_png=s.image_png,
                registered_on=s.registered_on,
                status=str(s.status),
                cancelled_on=s.cancelled_on,
            )
        )

    def registration_no_taken(self, tenant: str, registration_no: str) -> bool:
        stmt = select(seals.c.id).where(seals.c.tenant == tenant, seals.c.registration_no == registration_no)
        return self.conn.execute(stmt.limit(1)).first() is not None

    def cancel_seals(self, tenant: str, resident_id: str, on: date) -> int:
        """Cancels every registered seal of the resident; returns how many."""
        result = self.conn.execute(
            update(seals)
            .where(
                seals.c.tenant == tenant,
                seals.c.resident_id == resident_id,
                seals.c.status == str(SealStatus.REGISTERED),
            )
            .values(status=str(SealStatus.CANCELLED), cancelled_on=on)
        )
        return int(result.rowcount)

    def put_income(self, rec: IncomeRecord) -> None:
        self.conn.execute(
            delete(income).where(
                income.c.tenant == rec.tenant,
                income.c.resident_id == rec.resident_id,
                income.c.fiscal_year == rec.fiscal_year,
            )
        )
        self.conn.execute(insert(income).values(**income_row(rec)))

    def add_support_measure(self, m: SupportMeasure) -> None:
        self.conn.execute(
            insert(support).values(
                tenant=m.tenant, resident_id=m.resident_id, started_on=m.started_on, ended_on=m.ended_on
            )
        )

    def end_support_measures(self, tenant: str, resident_id: str, on: date) -> int:
        result = self.conn.execute(
            update(support)
            .where(support.c.tenant == tenant, support.c.resident_id == resident_id, support.c.ended_on.is_(None))
            .values(ended_on=on)
        )
        return int(result.rowcount)

    def append_event(
        self,
        *,
        tenant: str,
        resident_id: str,
        kind: str,
        effective_on: date,
        notified_on: date,
        recorded_at: datetime,
        version: int | None,
        payload: Mapping[str, Any],
    ) -> None:
        if recorded_at.tzinfo is None:
            raise ValueError("recorded_at must be an aware datetime")
        self.conn.execute(
            insert(events).values(
                tenant=tenant,
                resident_id=resident_id,
                kind=kind,
                effective_on=effective_on,
                notified_on=notified_on,
                recorded_at=recorded_at.astimezone(UTC),
                version=version,
                payload=json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str),
            )
        )

    def events_of(self, tenant: str, resident_id: str) -> list[dict[str, Any]]:
        stmt = (
            select(events).where(events.c.tenant == tenant, events.c.resident_id == resident_id).order_by(events.c.id)
        )
        out = []
        for m in self.conn.execute(stmt).mappings():
            d = dict(m)
            d["payload"] = json.loads(d["payload"])
            out.append(d)
        return out

    def count_events(self, tenant: str) -> int:
        stmt = select(func.count()).select_from(events).where(events.c.tenant == tenant)
        return int(self.conn.execute(stmt).scalar_one())

    # ---- tenant-wide operations used by imports ----

    def tenant_is_empty(self, tenant: str) -> bool:
        for table in TENANT_TABLES:
            if self.conn.execute(select(table.c.tenant).where(table.c.tenant == tenant).limit(1)).first():
                return False
        return True

    def max_version(self, tenant: str) -> int:
        stmt = select(func.max(residents.c.version)).where(residents.c.tenant == tenant)
        return int(self.conn.execute(stmt).scalar_one() or 0)

    def delete_tenant(self, tenant: str) -> None:
        """Deletes the tenant's registry (not its card links, not the event ledger)."""
        for table in TENANT_TABLES:
            self.conn.execute(delete(table).where(table.c.tenant == tenant))

    def count_orphan_cards(self, tenant: str) -> int:
        stmt = (
            select(func.count())
            .select_from(
                cards.outerjoin(
                    residents,
                    and_(cards.c.tenant == residents.c.tenant, cards.c.resident_id == residents.c.resident_id),
                )
            )
            .where(cards.c.tenant == tenant, residents.c.resident_id.is_(None))
        )
        return int(self.conn.execute(stmt).scalar_one())

    @contextmanager
    def bulk_writes(self, cache_mib: int = 256) -> Iterator[None]:
        """Around a large import inside the caller's transaction. SQLite: a page cache of `cache_mib` MiB for
        this connection (the default 2 MiB spills the index B-trees to the WAL mid-transaction), restored
        afterwards; `cache_size` is safe to change inside a transaction. Nothing to do on PostgreSQL."""
        if self.conn.dialect.name != "sqlite":
            yield
            return
        before = self.conn.exec_driver_sql("PRAGMA cache_size").scalar_one()
        self.conn.exec_driver_sql(f"PRAGMA cache_size=-{int(cache_mib) * 1024}")
        try:
            yield
        finally:
            self.conn.exec_driver_sql(f"PRAGMA cache_size={int(before)}")

    @contextmanager
    def households_checked_once(self, tenant: str) -> Iterator[bool]:
        """Around writing a tenant's households and residents in bulk: on PostgreSQL, when the role may set
        `session_replication_role` (a superuser, or SET granted on it), the per-row foreign-key triggers are
        switched off for this transaction (`SET LOCAL … = replica`, as pg_restore --disable-triggers does) and
        the residents → households key is checked ONCE for the tenant at the end (one anti-join); a
        violation raises (and the caller's transaction is rolled back). Only registry tables reference
        registry tables and none has other triggers. Yields whether the triggers are off; a no-op on SQLite."""
        if not _is_postgres(self.conn) or not self._may_set_replication_role():
            yield False
            return
        self.conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        yield True
        self.conn.exec_driver_sql("SET LOCAL session_replication_role = origin")
        orphans = self.conn.execute(
            select(func.count())
            .select_from(residents)
            .where(
                residents.c.tenant == tenant,
                ~select(households.c.household_id)
                .where(households.c.tenant == residents.c.tenant, households.c.household_id == residents.c.household_id)
                .exists(),
            )
        ).scalar_one()
        if orphans:
            raise RuntimeError(f"{orphans} resident row(s) of tenant {tenant} reference no household")

    def _may_set_replication_role(self) -> bool:
        version = int(self.conn.exec_driver_sql("SHOW server_version_num").scalar_one())
        if version >= 150000:
            sql = "SELECT has_parameter_privilege('session_replication_role', 'SET')"
        else:
            sql = "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
        return bool(self.conn.exec_driver_sql(sql).scalar_one())

    def bulk_insert(
        self, table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]], *, plain: bool = False
    ) -> int:
        """Inserts rows (tuples in `columns` order): COPY on PostgreSQL, executemany elsewhere. `plain`: the
        rows hold only str/int/bytes/None (dates already ISO text), so nothing is converted on SQLite."""
        if _is_postgres(self.conn):
            return self._copy(table, columns, rows)
        if self.conn.dialect.name == "sqlite":
            # executemany on the DB-API cursor: SQLAlchemy's per-row parameter processing would dominate.
            # Dates go in as SQLAlchemy's SQLite Date type stores them (ISO text).
            sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
            cursor: Any = self.conn.connection.driver_connection
            if plain:
                given = rows if isinstance(rows, list) else list(rows)
                cursor.executemany(sql, given)
                return len(given)
            n = 0
            raw: list[tuple[Any, ...]] = []
            for row in rows:
                raw.append(tuple(v.isoformat() if isinstance(v, date) else v for v in row))
                if len(raw) >= 10_000:
                    cursor.executemany(sql, raw)
                    n += len(raw)
                    raw = []
            if raw:
                cursor.executemany(sql, raw)
                n += len(raw)
            return n
        stmt = insert(table)
        n = 0
        batch: list[dict[str, Any]] = []
        for row in rows:
            batch.append(dict(zip(columns, row, strict=True)))
            if len(batch) >= 5000:
                self.conn.execute(stmt, batch)
                n += len(batch)
                batch = []
        if batch:
            self.conn.execute(stmt, batch)
            n += len(batch)
        return n

    def bulk_insert_residents(self, tenant: str, version: int, cells: list[tuple[str, ...]]) -> int:
        """Inserts residents given as their CSV cells: tuples of RESIDENT_CELLS (every column but tenant and
        version) as text, dates ISO, "" = NULL and an empty status = resident. The empty-to-NULL mapping is
        done by the database (SQLite: NULLIF in the statement; PostgreSQL: COPY with NULL ''), not per cell
        in Python."""
        if not (len(tenant) == TENANT and tenant.isascii() and tenant.isdigit()):
            raise ValueError("tenant must be a 6-digit code")
        if not cells:
            return 0
        status_at = RESIDENT_CELLS.index("status")
        if _is_postgres(self.conn):
            driver: Any = self.conn.connection.driver_connection
            cols = ", ".join(f'"{c}"' for c in RESIDENT_COLUMNS)
            with (
                driver.cursor() as cur,
                cur.copy(f"COPY {residents.name} ({cols}) FROM STDIN (FORMAT text, NULL '')") as copy,
            ):
                write = copy.write_row
                default = ResidentStatus.RESIDENT.value
                for c in cells:
                    if c[status_at]:
                        write((tenant, *c, version))
                    else:
                        row = [tenant, *c, version]
                        row[1 + status_at] = default
                        write(row)
            return len(cells)
        values = []
        for col in RESIDENT_CELLS:
            if col == "status":
                values.append(f"COALESCE(NULLIF(?, ''), '{ResidentStatus.RESIDENT.value}')")
            elif residents.c[col].nullable:
                values.append("NULLIF(?, '')")
            else:
                values.append("?")
        sql = (
            f"INSERT INTO {residents.name} ({', '.join(RESIDENT_COLUMNS)}) "
            f"VALUES ('{tenant}', {', '.join(values)}, {int(version)})"
        )
        self.conn.connection.driver_connection.executemany(sql, cells)  # type: ignore[union-attr]
        return len(cells)

    def _copy(self, table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        driver: Any = self.conn.connection.driver_connection
        cols = ", ".join(f'"{c}"' for c in columns)
        n = 0
        with driver.cursor() as cur, cur.copy(f"COPY {table.name} ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
                n += 1
        return n
