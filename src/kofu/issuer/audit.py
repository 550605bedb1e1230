"""The issuer's audit log (`issuer_audit`): one hash-chained entry per issuance and per void.

Entries are appended by `IssuerService` inside the transaction that issues or voids, so an entry exists
exactly when what it records was committed. They hold ids and hashes only (tenant code, issuance number,
certificate type, copies, order id, the authenticating certificate's serial, the salted document digest,
the channel, the void reason) — never a name, address, birth date or resident id.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, Engine

from kofu.db.audit import AuditLog, Problem, audit_table
from kofu.issuer.store import IssuanceRecord

issuer_audit = audit_table("issuer_audit")

ISSUED = "issued"
VOIDED = "voided"


def log(conn: Connection) -> AuditLog:
    """The issuer audit log inside `conn`'s transaction. `AuditLog.append` takes the log's advisory lock
    on PostgreSQL; callers append as the last thing in their transaction, so it is always the last lock."""
    return AuditLog(conn, issuer_audit)


# Times go in as UTC: the chain hashes `at.isoformat()`, and the database gives times back in UTC, so a
# JST time (an `at` from the center) would otherwise read back as a different string and look "changed".


def record_issued(conn: Connection, record: IssuanceRecord) -> int:
    return log(conn).append(
        ISSUED,
        record.issued_at.astimezone(UTC),
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
    return log(conn).append(VOIDED, at.astimezone(UTC), tenant=tenant, number=number, reason=reason)


def verify(engine: Engine) -> tuple[int, list[Problem]]:
    """(number of entries, problems) of the issuer's log."""
    with engine.connect() as conn:
        audit = log(conn)
        return audit.count(), audit.verify()
