"""The Alembic migrations build exactly the schema the code declares, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from kofu.db import metadata
from kofu.migrations import load_all_tables, upgrade_to_head


def test_upgrade_to_head_matches_the_declared_tables(empty_engine: Engine) -> None:
    load_all_tables()
    upgrade_to_head(empty_engine)
    upgrade_to_head(empty_engine)  # idempotent: a second start-up changes nothing
    with empty_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diff == []
    tables = set(inspect(empty_engine).get_table_names())
    assert {"registry_residents", "issuer_issuances", "issuer_counters", "alembic_version"} <= tables


def test_0007_keeps_a_one_chain_audit_log_verifiable_as_chain_0(empty_engine: Engine) -> None:
    """A log written before chains existed (primary key `seq`) becomes chain 0, verifies unchanged, and
    grows new chains next to it."""
    from datetime import UTC, datetime

    from alembic import command
    from sqlalchemy import text

    from kofu.center.store import center_audit
    from kofu.db.audit import GENESIS, AuditLog, entry_hash
    from kofu.migrations import alembic_config

    load_all_tables()
    command.upgrade(alembic_config(empty_engine), "0006")
    at = datetime(2026, 11, 1, 1, 0, tzinfo=UTC)
    prev = GENESIS
    with empty_engine.begin() as conn:
        for seq in (1, 2, 3):
            digest = entry_hash(seq, at, "session.opened", f'{{"session":"s{seq}"}}', prev)
            conn.execute(
                text(
                    "INSERT INTO center_audit (seq, at, kind, data, prev_hash, hash) VALUES (:s, :at, :k, :d, :p, :h)"
                ),
                {
                    "s": seq,
                    "at": at if empty_engine.dialect.name == "postgresql" else at.replace(tzinfo=None),
                    "k": "session.opened",
                    "d": f'{{"session":"s{seq}"}}',
                    "p": prev,
                    "h": digest,
                },
            )
            prev = digest
    upgrade_to_head(empty_engine)
    with empty_engine.begin() as conn:
        assert AuditLog(conn, center_audit, 0).append("center.recovered", at, closed=0) == 4
        assert AuditLog(conn, center_audit, 5).append("session.opened", at, session="s5") == 1
    with empty_engine.connect() as conn:
        log = AuditLog(conn, center_audit)
        assert (log.count(), log.chains(), log.verify()) == (5, 2, [])
        assert conn.execute(text("SELECT chain FROM center_audit WHERE seq = 2")).scalar_one() == 0
    indexes = {ix["name"] for ix in inspect(empty_engine).get_indexes("issuer_issuances")}
    assert "ix_issuer_issuances_tenant_issued_on" in indexes
