"""Issuer tables: per-tenant issuance counters, issuance records (never deleted), tenant public keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import (
    Column,
    Connection,
    Date,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from kofu.db import metadata
from kofu.db.types import UTCDateTime

counters = Table(
    "issuer_counters",
    metadata,
    Column("tenant", String(6), primary_key=True),
    Column("last_number", Integer, nullable=False),
)

issuances = Table(
    "issuer_issuances",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant", String(6), nullable=False),
    Column("number", Integer, nullable=False),
    Column("type", String(16), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("copies", Integer, nullable=False),
    Column("fee_each", Integer, nullable=False),
    Column("resident_id", String(32), nullable=False),
    Column("resident_version", Integer, nullable=False),
    Column("channel", String(16), nullable=False),
    Column("cert_serial", String(64)),
    Column("order_id", String(64)),
    Column("issued_at", UTCDateTime, nullable=False),
    Column("issued_on", Date, nullable=False),
    Column("document_hash", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("voided_at", UTCDateTime),
    Column("void_reason", String(64)),
    UniqueConstraint("tenant", "number"),
    # at most one live issuance per kiosk order (a retried call voids the earlier one first)
    Index(
        "ix_issuer_issuances_live_order",
        "order_id",
        unique=True,
        postgresql_where=text("status = 'issued' AND order_id IS NOT NULL"),
        sqlite_where=text("status = 'issued' AND order_id IS NOT NULL"),
    ),
)

# Every kiosk order the issuer was asked to issue for or to void, one row each: its row lock puts an issue()
# and a void_order() of one order one after the other, and `voided_at` makes a late issue() refuse.
issuer_orders = Table(
    "issuer_orders",
    metadata,
    Column("order_id", String(64), primary_key=True),
    Column("voided_at", UTCDateTime),
    Column("void_reason", String(64)),
)

tenant_keys = Table(
    "issuer_tenant_keys",
    metadata,
    Column("tenant", String(6), primary_key=True),
    Column("statement_public_key", LargeBinary, nullable=False),
    Column("signing_cert_pem", Text, nullable=False),
    Column("registered_at", UTCDateTime, nullable=False),
)


@dataclass(frozen=True)
class IssuanceRecord:
    id: str
    tenant: str
    number: int
    type: str
    kind: str
    copies: int
    fee_each: int
    resident_id: str
    resident_version: int
    channel: str
    cert_serial: str | None
    order_id: str | None
    issued_at: datetime
    issued_on: date
    document_hash: str
    status: str  # issued | voided
    voided_at: datetime | None = None
    void_reason: str | None = None

    @property
    def fee_total(self) -> int:
        return self.fee_each * self.copies


# ---- the statements of an issuance, built once (SQLAlchemy reuses a statement object's cache key) ----
# An UPDATE's SET columns are the keys of the parameters passed; its WHERE parameters are named `w_…`.

# The order's row, created or kept, and returned under its row lock, in one statement: an upsert whose update
# changes nothing (an ON CONFLICT DO UPDATE locks the existing row as SELECT … FOR UPDATE did, and waits for
# a concurrent holder; what it returns is the row as committed by that holder).
_LOCK_ORDER = {
    name: dialect.insert(issuer_orders)
    .on_conflict_do_update(index_elements=[issuer_orders.c.order_id], set_={"order_id": issuer_orders.c.order_id})
    .returning(issuer_orders.c.voided_at)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
# The tenant's next number in one statement: the counter's first row is number 1, later ones add 1 to it
# (was: insert 0 if missing, then add 1). The row stays locked until commit, as before.
_NEXT_NUMBER = {
    name: dialect.insert(counters)
    .on_conflict_do_update(index_elements=[counters.c.tenant], set_={"last_number": counters.c.last_number + 1})
    .returning(counters.c.last_number)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
_INSERT_ISSUANCE = insert(issuances)
_ISSUANCE = select(issuances).where(
    issuances.c.tenant == bindparam("tenant"), issuances.c.number == bindparam("number")
)
_ISSUANCE_BY_ID = select(issuances).where(issuances.c.id == bindparam("id"))
_LIVE_FOR_ORDER = select(issuances).where(issuances.c.order_id == bindparam("order_id"), issuances.c.status == "issued")
_VOID = update(issuances).where(issuances.c.id == bindparam("w_id"), issuances.c.status == "issued")


def _dialect(conn: Connection) -> str:
    return "postgresql" if conn.dialect.name == "postgresql" else "sqlite"


class IssuerStore:
    """Runs inside the caller's transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def lock_order(self, order_id: str) -> datetime | None:
        """Takes the order's row lock until the transaction ends (creating the row); returns when the order was
        voided by order id, or None. An issue() and a void_order() of one order thus run one after the other."""
        voided_at: datetime | None = self.conn.execute(
            _LOCK_ORDER[_dialect(self.conn)], {"order_id": order_id}
        ).scalar_one()
        return voided_at

    def mark_order_voided(self, order_id: str, at: datetime, reason: str) -> None:
        """Records that `order_id` was voided (the first time counts); holds its row lock until commit."""
        if self.lock_order(order_id) is None:
            self.conn.execute(
                update(issuer_orders)
                .where(issuer_orders.c.order_id == order_id)
                .values(voided_at=at, void_reason=reason)
            )

    def next_number(self, tenant: str) -> int:
        """Allocates the tenant's next issuance number; the counter row is locked until commit."""
        return int(
            self.conn.execute(_NEXT_NUMBER[_dialect(self.conn)], {"tenant": tenant, "last_number": 1}).scalar_one()
        )

    def add(self, record: IssuanceRecord) -> None:
        values = {c.name: getattr(record, c.name) for c in issuances.c}
        self.conn.execute(_INSERT_ISSUANCE, values)

    def get(self, tenant: str, number: int) -> IssuanceRecord | None:
        row = self.conn.execute(_ISSUANCE, {"tenant": tenant, "number": number}).one_or_none()
        return IssuanceRecord(**row._mapping) if row else None

    def get_by_id(self, issuance_id: str) -> IssuanceRecord | None:
        row = self.conn.execute(_ISSUANCE_BY_ID, {"id": issuance_id}).one_or_none()
        return IssuanceRecord(**row._mapping) if row else None

    def live_for_order(self, order_id: str) -> IssuanceRecord | None:
        row = self.conn.execute(_LIVE_FOR_ORDER, {"order_id": order_id}).one_or_none()
        return IssuanceRecord(**row._mapping) if row else None

    def void(self, issuance_id: str, at: datetime, reason: str) -> bool:
        result = self.conn.execute(
            _VOID, {"w_id": issuance_id, "status": "voided", "voided_at": at, "void_reason": reason}
        )
        return result.rowcount == 1

    def list(self, tenant: str, *, limit: int = 50) -> list[IssuanceRecord]:
        rows = self.conn.execute(
            select(issuances).where(issuances.c.tenant == tenant).order_by(issuances.c.number.desc()).limit(limit)
        )
        return [IssuanceRecord(**r._mapping) for r in rows]

    def register_keys(self, tenant: str, statement_public_key: bytes, signing_cert_pem: str, at: datetime) -> None:
        self.conn.execute(tenant_keys.delete().where(tenant_keys.c.tenant == tenant))
        self.conn.execute(
            insert(tenant_keys).values(
                tenant=tenant,
                statement_public_key=statement_public_key,
                signing_cert_pem=signing_cert_pem,
                registered_at=at,
            )
        )

    def public_keys(self, tenant: str) -> tuple[bytes, str] | None:
        row = self.conn.execute(
            select(tenant_keys.c.statement_public_key, tenant_keys.c.signing_cert_pem).where(
                tenant_keys.c.tenant == tenant
            )
        ).one_or_none()
        return (bytes(row[0]), str(row[1])) if row else None
