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


class IssuerStore:
    """Runs inside the caller's transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def lock_order(self, order_id: str) -> datetime | None:
        """Takes the order's row lock until the transaction ends (creating the row); returns when the order was
        voided by order id, or None. An issue() and a void_order() of one order thus run one after the other."""
        dialect = self.conn.dialect.name
        ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(issuer_orders)
        self.conn.execute(ins.values(order_id=order_id).on_conflict_do_nothing())
        voided_at: datetime | None = self.conn.execute(
            select(issuer_orders.c.voided_at).where(issuer_orders.c.order_id == order_id).with_for_update()
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
        dialect = self.conn.dialect.name
        ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(counters)
        self.conn.execute(ins.values(tenant=tenant, last_number=0).on_conflict_do_nothing())
        stmt = (
            update(counters)
            .where(counters.c.tenant == tenant)
            .values(last_number=counters.c.last_number + 1)
            .returning(counters.c.last_number)
        )
        return int(self.conn.execute(stmt).scalar_one())

    def add(self, record: IssuanceRecord) -> None:
        values = {c.name: getattr(record, c.name) for c in issuances.c}
        self.conn.execute(insert(issuances).values(**values))

    def get(self, tenant: str, number: int) -> IssuanceRecord | None:
        row = self.conn.execute(
            select(issuances).where(issuances.c.tenant == tenant, issuances.c.number == number)
        ).one_or_none()
        return IssuanceRecord(**row._mapping) if row else None

    def get_by_id(self, issuance_id: str) -> IssuanceRecord | None:
        row = self.conn.execute(select(issuances).where(issuances.c.id == issuance_id)).one_or_none()
        return IssuanceRecord(**row._mapping) if row else None

    def live_for_order(self, order_id: str) -> IssuanceRecord | None:
        row = self.conn.execute(
            select(issuances).where(issuances.c.order_id == order_id, issuances.c.status == "issued")
        ).one_or_none()
        return IssuanceRecord(**row._mapping) if row else None

    def void(self, issuance_id: str, at: datetime, reason: str) -> bool:
        result = self.conn.execute(
            update(issuances)
            .where(issuances.c.id == issuance_id, issuances.c.status == "issued")
            .values(status="voided", voided_at=at, void_reason=reason)
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
