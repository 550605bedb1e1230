"""Append-only audit logs whose entries commit to their predecessor (hash chains).

Each actor keeps its own log table (`center_audit`, `issuer_audit`, made with `audit_table`). An entry
holds ids and hashes only — never personal data: callers pass order ids, issuance numbers, certificate
serials, document hashes, outcomes. `verify` recomputes every chain and says which entry was changed,
deleted or moved.

A log table holds one or more independent chains (column `chain`, primary key `(chain, seq)`): each chain
has its own `seq` 1, 2, 3 … and its own `prev_hash` links from the genesis hash. Appends serialise per
chain, not per table, with a transaction-scoped advisory lock on PostgreSQL (SQLite writers are already
serialised by BEGIN IMMEDIATE), so any number of processes may append to one chain: locking the last row
would not do, since two waiters would both read the same predecessor, and an empty chain has no row. A
caller that spreads unrelated work over several chains (the center: one chain per kiosk shard, see
`chain_for`) lets that work commit in parallel; a caller that passes no chain uses chain 0, the single
chain every log had before chains existed.

Tamper evidence per chain is what it was for the one chain: changing an entry changes its hash (named
`changed`); deleting or moving one breaks the next entry's `seq` or `prev_hash` (named
`deleted-or-reordered` / `broken-link`). An entry outside chain 0 also hashes its chain number, so moving an
entry — or a whole chain — to another chain number is named `changed`. Chain-0 entries hash exactly what
they hashed before (existing logs verify unchanged).
"""

from __future__ import annotations

import functools
import hashlib
import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    Column,
    Connection,
    Executable,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    exists,
    func,
    insert,
    select,
    text,
)

from kofu.db.base import metadata
from kofu.db.types import UTCDateTime

GENESIS = "0" * 64
_ALLOWED = (str, int, bool, type(None))


def audit_table(name: str, meta: MetaData = metadata) -> Table:
    return Table(
        name,
        meta,
        Column("chain", Integer, primary_key=True, autoincrement=False, server_default=text("0")),
        Column("seq", Integer, primary_key=True, autoincrement=False),
        Column("at", UTCDateTime, nullable=False),
        Column("kind", String(64), nullable=False),
        Column("data", Text, nullable=False),  # canonical JSON of ids and hashes
        Column("prev_hash", String(64), nullable=False),
        Column("hash", String(64), nullable=False),
    )


def chain_for(key: str, chains: int) -> int:
    """A stable chain number 1…`chains` for `key` (e.g. a kiosk id); chain 0 stays for what has no key."""
    return 1 + zlib.crc32(key.encode()) % chains


def entry_hash(seq: int, at: datetime, kind: str, data: str, prev_hash: str, chain: int = 0) -> str:
    """The hash of one entry; `at` counts as its UTC instant, whatever zone it was given in. Chain 0 hashes
    what a single-chain log always hashed; other chains also hash their number."""
    instant = at.astimezone(UTC).isoformat()
    fields: list[object] = [seq, instant, kind, data, prev_hash]
    if chain:
        fields.insert(0, chain)
    material = json.dumps(fields, separators=(",", ":"), ensure_ascii=False)
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
    chain: int = 0

    def __str__(self) -> str:
        where = f"entry {self.seq}" if self.chain == 0 else f"chain {self.chain} entry {self.seq}"
        return f"{where}: {self.what}"


@dataclass(frozen=True)
class _Statements:
    """A log table's append statements, built once per table (SQLAlchemy then reuses their cache keys)."""

    last: Executable  # the chain's last entry
    insert: Executable
    insert_after: Executable  # the insert, done only if the chain's last entry is (prev_seq, prev_hash); RETURNING


# PostgreSQL: the chain's advisory lock. The schema is part of the key: deployments (and test runs) sharing one
# database in separate schemas must not wait for — or deadlock through — each other's chain locks.
_PG_LOCK = text("SELECT pg_advisory_xact_lock(hashtext(current_schema() || :name))")


@functools.cache
def _statements(t: Table) -> _Statements:
    chain = bindparam("chain", type_=Integer)
    prev_seq = bindparam("prev_seq", type_=Integer)
    prev_hash = bindparam("prev_hash", type_=String)
    values = [
        chain,
        bindparam("seq", type_=Integer),
        bindparam("at", type_=t.c.at.type),
        bindparam("kind", type_=String),
        bindparam("data", type_=Text),
        prev_hash,
        bindparam("hash", type_=String),
    ]
    columns = ["chain", "seq", "at", "kind", "data", "prev_hash", "hash"]
    guard = select(*values).where(
        exists().where(t.c.chain == chain, t.c.seq == prev_seq, t.c.hash == prev_hash),
        ~exists().where(t.c.chain == chain, t.c.seq > prev_seq),
    )
    return _Statements(
        last=select(t.c.seq, t.c.hash).where(t.c.chain == chain).order_by(t.c.seq.desc()).limit(1),
        insert=insert(t),
        insert_after=insert(t).from_select(columns, guard).returning(t.c.seq),
    )


# The last entry this process appended per (table, chain), or read while appending: a guess at the chain's
# head that saves reading it. The guess is only ever used by `insert_after`, which inserts nothing unless the
# chain's last entry really is that one (another process may have appended since, or the transaction that
# appended it may have rolled back); then the head is read as before. After a wrong guess the chain is read
# for the next `_AFTER_A_MISS` appends without guessing: when several processes append to one chain (center
# processes behind a load balancer), a wrong guess would otherwise cost one statement more per append.
_heads: dict[tuple[str, int], tuple[int, str]] = {}
_unguessed: dict[tuple[str, int], int] = {}  # appends still to do without a guess
_AFTER_A_MISS = 16


class AuditLog:
    """Runs inside the caller's transaction: the entry commits (or not) with what it records. `chain` is the
    chain `append` extends (0 by default); `verify` and `count` cover every chain of the table."""

    def __init__(self, conn: Connection, table: Table, chain: int = 0) -> None:
        if chain < 0:
            raise ValueError("audit chains are numbered from 0")
        self.conn = conn
        self.table = table
        self.chain = chain

    def append(self, kind: str, at: datetime, **data: object) -> int:
        t, chain, conn = self.table, self.chain, self.conn
        stmts = _statements(t)
        if conn.dialect.name == "postgresql":
            conn.execute(_PG_LOCK, {"name": f":kofu-audit:{t.name}:{chain}"})
        body = canonical(data)
        key = (t.name, chain)
        head = _heads.get(key)
        unguessed = _unguessed.get(key, 0)
        if unguessed:
            _unguessed[key] = unguessed - 1
        elif head is not None:  # the likely head, checked by the insert itself: one statement instead of two
            seq, prev = head[0] + 1, head[1]
            digest = entry_hash(seq, at, kind, body, prev, chain)
            row = {"chain": chain, "seq": seq, "at": at, "kind": kind, "data": body, "prev_hash": prev, "hash": digest}
            if conn.execute(stmts.insert_after, {**row, "prev_seq": head[0]}).first() is not None:
                _heads[key] = (seq, digest)
                return seq
            _unguessed[key] = _AFTER_A_MISS
        last = conn.execute(stmts.last, {"chain": chain}).first()
        seq, prev = (1, GENESIS) if last is None else (int(last[0]) + 1, str(last[1]))
        digest = entry_hash(seq, at, kind, body, prev, chain)
        conn.execute(
            stmts.insert,
            {"chain": chain, "seq": seq, "at": at, "kind": kind, "data": body, "prev_hash": prev, "hash": digest},
        )
        _heads[key] = (seq, digest)
        return seq

    def verify(self) -> list[Problem]:
        t = self.table
        problems: list[Problem] = []
        chain = -1  # no chain yet: each chain starts again from seq 1 and the genesis hash
        prev = GENESIS
        expected_seq = 1
        for row in self.conn.execute(select(t).order_by(t.c.chain, t.c.seq)).mappings():
            if row["chain"] != chain:
                chain, prev, expected_seq = int(row["chain"]), GENESIS, 1
            seq = int(row["seq"])
            if seq != expected_seq or row["prev_hash"] != prev:
                what = "deleted-or-reordered" if seq != expected_seq else "broken-link"
                problems.append(Problem(seq, what, chain))
            if entry_hash(seq, row["at"], row["kind"], row["data"], row["prev_hash"], chain) != row["hash"]:
                problems.append(Problem(seq, "changed", chain))
            prev = str(row["hash"])
            expected_seq = seq + 1
        return problems

    def count(self) -> int:
        return int(self.conn.execute(select(func.count()).select_from(self.table)).scalar_one())

    def chains(self) -> int:
        """How many chains hold entries."""
        t = self.table
        return int(self.conn.execute(select(func.count(t.c.chain.distinct()))).scalar_one())
