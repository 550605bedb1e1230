"""Center tables (`center_…`): stores, kiosks, sessions, single-use nonces, orders, payments, idempotency,
and the hash-chained audit log. Ids, hashes and amounts only: never names, never document contents."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from kofu.db import metadata
from kofu.db.audit import AuditLog, audit_table, chain_for
from kofu.db.types import UTCDateTime

stores = Table(
    "center_stores",
    metadata,
    Column("store_id", String(64), primary_key=True),
    Column("chain", String(64), nullable=False),
    Column("municipality", String(6), nullable=False),  # 団体コード of where the store is
    Column("created_at", UTCDateTime, nullable=False),
)

kiosks = Table(
    "center_kiosks",
    metadata,
    Column("kiosk_id", String(64), primary_key=True),
    Column("store_id", String(64), ForeignKey("center_stores.store_id"), nullable=False),
    Column("secret_sha256", String(64), nullable=False),  # SHA-256 of a 32-byte random token
    Column("active", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

sessions = Table(
    "center_sessions",
    metadata,
    Column("session_id", String(32), primary_key=True),
    Column("kiosk_id", String(64), ForeignKey("center_kiosks.kiosk_id"), nullable=False),
    Column("status", String(16), nullable=False),  # open | authenticated | refused | expired
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("method", String(16)),  # jpki | card-app
    Column("tenant", String(6)),
    Column("municipality", String(64)),  # the municipality's name (public), for receipts
    Column("resident_id", String(32)),
    Column("cert_serial", String(64)),
    Column("card_app_user_id", String(64)),
)

nonces = Table(
    "center_nonces",
    metadata,
    Column("nonce", String(64), primary_key=True),
    Column("session_id", String(32), ForeignKey("center_sessions.session_id"), nullable=False),
    Column("issued_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime),
)

orders = Table(
    "center_orders",
    metadata,
    Column("order_id", String(32), primary_key=True),
    Column("session_id", String(32), ForeignKey("center_sessions.session_id"), nullable=False),
    Column("kiosk_id", String(64), nullable=False),
    Column("store_id", String(64), nullable=False),
    Column("tenant", String(6), nullable=False),
    Column("resident_id", String(32), nullable=False),
    Column("cert_serial", String(64)),
    Column("card_app_user_id", String(64)),
    Column("type", String(16), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("members", Text, nullable=False),  # JSON list of resident ids
    Column("items", Text, nullable=False),  # JSON list of item codes
    Column("copies", Integer, nullable=False),
    Column("fiscal_year", Integer),
    Column("fee_each", Integer, nullable=False),
    Column("total", Integer, nullable=False),
    Column("paid", Integer, nullable=False),
    Column("refunded", Integer, nullable=False),
    Column("change", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("number", Integer),  # the issuer's issuance number once delivered
    Column("document_sha256", String(64)),
    Column("job_id", String(32)),
    Column("void_pending", Boolean, nullable=False),  # issued document still to be voided at the issuer
    Column("close_reason", String(64)),  # timeout | cancelled | print-failed | refused | issuer-unavailable
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),  # last progress: drives the order timeout
    Column("issued_at", UTCDateTime),
    Column("closed_at", UTCDateTime),
    Index("ix_center_orders_status_updated", "status", "updated_at"),
    Index("ix_center_orders_session", "session_id"),
)

payments = Table(
    "center_payments",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("order_id", String(32), ForeignKey("center_orders.order_id"), nullable=False),
    Column("kind", String(8), nullable=False),  # in | refund | change
    Column("amount", Integer, nullable=False),
    Column("coins", Text, nullable=False),  # JSON {"denomination": count}
    Column("at", UTCDateTime, nullable=False),
    Index("ix_center_payments_order", "order_id"),
)

idempotency = Table(
    "center_idempotency",
    metadata,
    Column("kiosk_id", String(64), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("request_sha256", String(64), nullable=False),
    Column("status_code", Integer),  # NULL while the first request is running
    Column("response", Text),  # JSON; never a document (documents are re-issued, see docs/center.md)
    Column("created_at", UTCDateTime, nullable=False),
)

center_audit = audit_table("center_audit")

AUDIT_CHAINS = 64  # kiosk shards; with chain 0 (stores, kiosks, recovery runs) the log has up to 65 chains


def audit(conn: Connection, kiosk_id: str | None = None) -> AuditLog:
    """The center audit log inside `conn`'s transaction. A kiosk's entries go to its chain (one of
    `AUDIT_CHAINS`, by a hash of the kiosk id), so the appends of different kiosks do not wait for each
    other; entries without a kiosk go to chain 0. Appends to one chain serialise inside AuditLog."""
    return AuditLog(conn, center_audit, 0 if kiosk_id is None else chain_for(kiosk_id, AUDIT_CHAINS))
