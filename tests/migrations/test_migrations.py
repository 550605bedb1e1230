"""The Alembic migrations build exactly the schema the code declares, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from kofu.db import create_engine_for, metadata
from kofu.migrations import load_all_tables, upgrade_to_head
from tests.conftest import POSTGRES_URL, _postgres_admin


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        eng = create_engine_for(f"sqlite:///{tmp_path / 'm.sqlite3'}")
        yield eng
        eng.dispose()
        return
    admin = _postgres_admin()
    schema = f"m_{uuid.uuid4().hex[:16]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    eng = create_engine_for(POSTGRES_URL, connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield eng
    finally:
        eng.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_upgrade_to_head_matches_the_declared_tables(empty_engine: Engine) -> None:
    load_all_tables()
    upgrade_to_head(empty_engine)
    upgrade_to_head(empty_engine)  # idempotent: a second start-up changes nothing
    with empty_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diff == []
    tables = set(inspect(empty_engine).get_table_names())
    assert {"registry_residents", "issuer_issuances", "issuer_counters", "alembic_version"} <= tables
