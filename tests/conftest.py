"""Shared fixtures: a database engine on SQLite and on PostgreSQL, a fixed clock, a tenant code.

`engine` is parametrised over `sqlite` (a temp file, WAL) and `postgres` (a fresh schema per test on
127.0.0.1:5432, marked `postgres`). If PostgreSQL is unreachable the postgres cases FAIL — unless
KOFU_SKIP_POSTGRES=1, which skips them (for laptops; CI must not set it). Tables come from
`metadata.create_all` over every actor's store that exists.
"""

from __future__ import annotations

import importlib
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from kofu.common.clock import FixedClock
from kofu.common.lgcode import with_check_digit
from kofu.db import create_engine_for, metadata

POSTGRES_URL = os.environ.get("KOFU_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
STORES = ("kofu.registry.store", "kofu.issuer.store", "kofu.center.store", "kofu.jpki.store")


def _load_tables() -> None:
    for name in STORES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise


def _postgres_admin() -> Engine:
    admin = create_engine_for(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        admin.dispose()
        if os.environ.get("KOFU_SKIP_POSTGRES") == "1":
            pytest.skip(f"PostgreSQL unreachable and KOFU_SKIP_POSTGRES=1: {exc}")
        pytest.fail(
            f"PostgreSQL is not reachable at {POSTGRES_URL} ({type(exc).__name__}: {exc}). "
            "Start it, or set KOFU_SKIP_POSTGRES=1 to skip the postgres tests knowingly.",
            pytrace=False,
        )
    return admin


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A database with no tables: a temp SQLite file, or a fresh PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        eng = create_engine_for(f"sqlite:///{tmp_path / 'kofu.sqlite3'}")
        yield eng
        eng.dispose()
        return
    admin = _postgres_admin()
    schema = f"t_{uuid.uuid4().hex[:16]}"
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


@pytest.fixture
def engine(empty_engine: Engine) -> Engine:
    """Every actor's tables, on SQLite and on PostgreSQL."""
    _load_tables()
    metadata.create_all(empty_engine)
    return empty_engine


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2025, 4, 1, 1, 0, tzinfo=UTC))  # 10:00 JST


@pytest.fixture
def tenant() -> str:
    return with_check_digit("28228")  # 加東市
