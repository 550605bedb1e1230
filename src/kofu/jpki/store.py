"""JPKI tables and `JpkiStore`, their repository inside the caller's transaction.

`jpki_certificates` records every certificate the authority issued (never deleted); `jpki_crls`
holds, per CA, the last CRL number and the CRL itself until a revocation marks it stale.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Index,
    LargeBinary,
    String,
    Table,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import RowMapping

from kofu.common.errors import Conflict, NotFound
from kofu.db import metadata
from kofu.db.types import UTCDateTime
from kofu.jpki.model import CertificateRecord, CertKind, CertStatus, RevocationReason, parse_serial, serial_hex

certificates = Table(
    "jpki_certificates",
    metadata,
    Column("serial", String(64), primary_key=True),  # upper-case hex
    Column("kind", String(8), nullable=False),
    Column("not_before", UTCDateTime, nullable=False),
    Column("not_after", UTCDateTime, nullable=False),
    Column("der", LargeBinary, nullable=False),
    Column("status", String(8), nullable=False),
    Column("revoked_at", UTCDateTime),
    Column("reason", String(16)),
    Index("ix_jpki_certificates_kind_status", "kind", "status"),
)

crls = Table(
    "jpki_crls",
    metadata,
    Column("kind", String(8), primary_key=True),
    Column("number", BigInteger, nullable=False),
    Column("this_update", UTCDateTime),
    Column("next_update", UTCDateTime),
    Column("der", LargeBinary),
    Column("stale", Boolean, nullable=False),
)


def _record(m: RowMapping) -> CertificateRecord:
    return CertificateRecord(
        serial=m["serial"],
        kind=CertKind(m["kind"]),
        not_before=m["not_before"],
        not_after=m["not_after"],
        der=bytes(m["der"]),
        status=CertStatus(m["status"]),
        revoked_at=m["revoked_at"],
        reason=RevocationReason(m["reason"]) if m["reason"] else None,
    )


class JpkiStore:
    """Runs inside the caller's transaction; never commits."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, kind: CertKind, serial: int, not_before: datetime, not_after: datetime, der: bytes) -> None:
        self.conn.execute(
            insert(certificates).values(
                serial=serial_hex(serial),
                kind=kind.value,
                not_before=not_before,
                not_after=not_after,
                der=der,
                status=CertStatus.GOOD.value,
            )
        )

    def get(self, serial: str | int) -> CertificateRecord | None:
        key = serial_hex(parse_serial(serial))
        row = self.conn.execute(select(certificates).where(certificates.c.serial == key)).mappings().one_or_none()
        return _record(row) if row else None

    def revoke(self, serial: str | int, reason: RevocationReason, at: datetime) -> CertificateRecord:
        """Marks the certificate revoked and its CA's CRL stale. Unknown or already revoked: an error."""
        key = serial_hex(parse_serial(serial))
        result = self.conn.execute(
            update(certificates)
            .where(certificates.c.serial == key, certificates.c.status == CertStatus.GOOD.value)
            .values(status=CertStatus.REVOKED.value, revoked_at=at, reason=reason.value)
        )
        record = self.get(key)
        if record is None:
            raise NotFound(f"no JPKI certificate with serial {key}", f"シリアル番号 {key} の電子証明書はありません")
        if result.rowcount != 1:
            raise Conflict(
                f"certificate {key} was already revoked at {record.revoked_at} ({record.reason})",
                f"電子証明書 {key} は既に失効しています",
                code="already-revoked",
            )
        self.mark_crl_stale(record.kind)
        return record

    def revoked(self, kind: CertKind, *, not_expired_at: datetime) -> list[tuple[str, datetime, RevocationReason]]:
        """(serial, revoked_at, reason) of the revoked certificates still within their validity."""
        stmt = (
            select(certificates.c.serial, certificates.c.revoked_at, certificates.c.reason)
            .where(
                certificates.c.kind == kind.value,
                certificates.c.status == CertStatus.REVOKED.value,
                certificates.c.not_after >= not_expired_at,
            )
            .order_by(certificates.c.serial)
        )
        return [(str(s), at, RevocationReason(r)) for s, at, r in self.conn.execute(stmt)]

    # ---- CRL state ----

    def _ensure_crl_row(self, kind: CertKind) -> None:
        ins = (postgresql.insert if self.conn.dialect.name == "postgresql" else sqlite.insert)(crls)
        self.conn.execute(ins.values(kind=kind.value, number=0, stale=True).on_conflict_do_nothing())

    def mark_crl_stale(self, kind: CertKind) -> None:
        self._ensure_crl_row(kind)
        self.conn.execute(update(crls).where(crls.c.kind == kind.value).values(stale=True))

    def crl_state(self, kind: CertKind, *, lock: bool = False) -> RowMapping | None:
        """The CRL row of `kind` (number, this_update, next_update, der, stale); locked until commit if asked."""
        if lock:
            self._ensure_crl_row(kind)
        stmt = select(crls).where(crls.c.kind == kind.value)
        if lock:
            stmt = stmt.with_for_update()
        return self.conn.execute(stmt).mappings().one_or_none()

    def save_crl(self, kind: CertKind, number: int, this_update: datetime, next_update: datetime, der: bytes) -> None:
        self.conn.execute(
            update(crls)
            .where(crls.c.kind == kind.value)
            .values(number=number, this_update=this_update, next_update=next_update, der=der, stale=False)
        )
