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
