"""The issuer's audit log (`issuer_audit`): one hash-chained entry per issuance and per void.

Entries are appended by `IssuerService` inside the transaction that issues or voids, so an entry exists
exactly when what it records was committed. They hold ids and hashes only (tenant code, issuance number,
certificate type, copies, order id, the authenticating certificate's serial, the salted document digest,
the channel, the void reason) — never a name, address, birth date or resident id.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, Engine

from kofu.db.audit import AuditLog, Problem, audit_table, chain_for
from kofu.issuer.store import IssuanceRecord

issuer_audit = audit_table("issuer_audit")

# Each municipality's issuances and voids go to their own chain (`chain_for(tenant, TENANT_CHAINS)`), so one
# tenant's issuance never waits for another's audit lock; a tenant's numbers are already serialised by its
# own counter. Chain 0 holds what was logged before chains existed.
TENANT_CHAINS = 64

ISSUED = "issued"
VOIDED = "voided"


def log(conn: Connection, tenant: str | None = None) -> AuditLog:
    """The issuer audit log inside `conn`'s transaction, on `tenant`'s chain (chain 0 without one).
    `AuditLog.append` takes that chain's advisory lock on PostgreSQL; callers append as the last thing in
    their transaction, so it is always the last lock."""
    return AuditLog(conn, issuer_audit, chain_for(tenant, TENANT_CHAINS) if tenant else 0)


# Times go in as UTC: the chain hashes `at.isoformat()`, and the database gives times back in UTC, so a
# JST time (an `at` from the center) would otherwise read back as a different string and look "changed".


def record_issued(conn: Connection, record: IssuanceRecord) -> int:
    return log(conn, record.tenant).append(
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
    return log(conn, tenant).append(VOIDED, at.astimezone(UTC), tenant=tenant, number=number, reason=reason)


def verify(engine: Engine) -> tuple[int, list[Problem]]:
    """(number of entries, problems) of the issuer's log."""
    with engine.connect() as conn:
        audit = log(conn)
        return audit.count(), audit.verify()
