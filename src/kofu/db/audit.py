"""Append-only audit logs whose entries commit to their predecessor (a hash chain).

Each actor keeps its own log table (`center_audit`, `issuer_audit`, made with `audit_table`). An entry
holds ids and hashes only — never personal data: callers pass order ids, issuance numbers, certificate
serials, document hashes, outcomes. `verify` recomputes the chain and says which entry was changed,
deleted or moved.

Appends serialise per log with a transaction-scoped advisory lock on PostgreSQL (SQLite writers are
already serialised by BEGIN IMMEDIATE), so any number of processes may append to one log: locking the
last row would not do, since two waiters would both read the same predecessor, and an empty log has no row.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Column, Connection, Integer, MetaData, String, Table, Text, insert, select, text

from kofu.db.base import metadata
from kofu.db.types import UTCDateTime

GENESIS = "0" * 64
_ALLOWED = (str, int, bool, type(None))


def audit_table(name: str, meta: MetaData = metadata) -> Table:
    return Table(
        name,
        meta,
        Column("seq", Integer, primary_key=True, autoincrement=False),
        Column("at", UTCDateTime, nullable=False),
        Column("kind", String(64), nullable=False),
        Column("data", Text, nullable=False),  # canonical JSON of ids and hashes
        Column("prev_hash", String(64), nullable=False),
        Column("hash", String(64), nullable=False),
    )


def entry_hash(seq: int, at: datetime, kind: str, data: str, prev_hash: str) -> str:
    """The hash of one entry; `at` counts as its UTC instant, whatever zone it was given in."""
    instant = at.astimezone(UTC).isoformat()
    material = json.dumps([seq, instant, kind, data, prev_hash], separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(material.encode()).hexdigest()


def canonical(data: Mapping[str, object]) -> str:
    for key, value in data.items():
        if not isinstance(value, _ALLOWED):
            raise TypeError(f"audit field {key!r} must be a plain id, number or hash, got {type(value).__name__}")
    return json.dumps(dict(data), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Problem:
    seq: int
    what: str  # changed | deleted-or-reordered | broken-link

    def __str__(self) -> str:
        return f"entry {self.seq}: {self.what}"


class AuditLog:
    """Runs inside the caller's transaction: the entry commits (or not) with what it records."""

    def __init__(self, conn: Connection, table: Table) -> None:
        self.conn = conn
        self.table = table

    def append(self, kind: str, at: datetime, **data: object) -> int:
        t = self.table
        if self.conn.dialect.name == "postgresql":
            self.conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": f"kofu-audit:{t.name}"})
        last = self.conn.execute(select(t.c.seq, t.c.hash).order_by(t.c.seq.desc()).limit(1)).first()
        seq, prev = (1, GENESIS) if last is None else (int(last[0]) + 1, str(last[1]))
        body = canonical(data)
        digest = entry_hash(seq, at, kind, body, prev)
        self.conn.execute(insert(t).values(seq=seq, at=at, kind=kind, data=body, prev_hash=prev, hash=digest))
        return seq

    def verify(self) -> list[Problem]:
        t = self.table
        problems: list[Problem] = []
        prev = GENESIS
        expected_seq = 1
        for row in self.conn.execute(select(t).order_by(t.c.seq)).mappings():
            seq = int(row["seq"])
            if seq != expected_seq or row["prev_hash"] != prev:
                problems.append(Problem(seq, "deleted-or-reordered" if seq != expected_seq else "broken-link"))
            if entry_hash(seq, row["at"], row["kind"], row["data"], row["prev_hash"]) != row["hash"]:
                problems.append(Problem(seq, "changed"))
            prev = str(row["hash"])
            expected_seq = seq + 1
        return problems

    def count(self) -> int:
        from sqlalchemy import func

        return int(self.conn.execute(select(func.count()).select_from(self.table)).scalar_one())
