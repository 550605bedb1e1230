"""The issuer's audit log (`issuer_audit`): one hash-chained entry per issuance and per void.

Entries are appended by `IssuerService` inside the transaction that issues or voids, so an entry exists
exactly when what it records was committed. They hold ids and hashes only (tenant code, issuance number,
certificate type, copies, order id, the authenticating certificate's serial, the salted document digest,
the channel, the void reason) — never a name, address, birth date or resident id.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Engine, text

from kofu.db.audit import AuditLog, Problem, audit_table
from kofu.issuer.store import IssuanceRecord

issuer_audit = audit_table("issuer_audit")

ISSUED = "issued"
VOIDED = "voided"


AUDIT_LOCK = 0x6B6F6669  # "kofi": one advisory lock serialises appends to issuer_audit on PostgreSQL


def log(conn: Connection) -> AuditLog:
    """The issuer audit log inside `conn`'s transaction (reading needs no lock)."""
    return AuditLog(conn, issuer_audit)


def _appending(conn: Connection) -> AuditLog:
    """For an append. On PostgreSQL an advisory transaction lock comes first: `SELECT … FOR UPDATE` on the
    last row alone lets two waiting writers pick the same next seq (and an empty log has no row to lock).
    Callers append as the last thing in their transaction, so this lock is always taken last."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": AUDIT_LOCK})
    return AuditLog(conn, issuer_audit)


def record_issued(conn: Connection, record: IssuanceRecord) -> int:
    return _appending(conn).append(
        ISSUED,
        record.issued_at,
        tenant=record.tenant,
        number=record.number,
        type=record.type,
        copies=record.copies,
        order_id=record.order_id,
        cert_serial=record.cert_serial,
        document_hash=record.document_hash,
        channel=record.channel,
    )


def record_voided(conn: Connection, tenant: str, number: int, reason: str, at: datetime) -> int:
    return _appending(conn).append(VOIDED, at, tenant=tenant, number=number, reason=reason)


def verify(engine: Engine) -> tuple[int, list[Problem]]:
    """(number of entries, problems) of the issuer's log."""
    with engine.connect() as conn:
        audit = log(conn)
        return audit.count(), audit.verify()
