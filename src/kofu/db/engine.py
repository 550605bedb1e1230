"""Engines: SQLite (WAL, foreign keys on, busy timeout) by default, PostgreSQL for production.

On SQLite the two ways of opening a connection mean two kinds of transaction:

- `engine.begin()` — a writer: `BEGIN IMMEDIATE`, so writers serialise at BEGIN the way row locks do on
  PostgreSQL (a read-then-write transaction never fails with SQLITE_BUSY on upgrading its lock);
- `engine.connect()` (autobegin, never committed) — a reader: plain deferred `BEGIN`, a WAL snapshot that
  neither waits for a writer nor makes one wait. Nothing in kofu writes through `connect()` (no
  `conn.commit()`): every write goes through `engine.begin()`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy import create_engine as sa_create_engine

WRITER = "kofu_writer"  # the execution option `engine.begin()` sets on SQLite


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def create_engine_for(url: str, **kwargs: Any) -> Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    if url.startswith("sqlite"):
        engine = sa_create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy own transaction boundaries (BEGIN [IMMEDIATE] below), not pysqlite.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            # Writers serialise at BEGIN (SQLite's equivalent of the row locks used on PostgreSQL);
            # readers take a WAL snapshot and wait for no one.
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITER) else "BEGIN")

        @contextmanager
        def begin() -> Iterator[Connection]:
            with engine.connect() as conn:
                conn.execution_options(**{WRITER: True})
                with conn.begin():
                    yield conn

        engine.begin = begin  # type: ignore[assignment,method-assign]
        return engine
    return sa_create_engine(url, pool_pre_ping=True, **kwargs)
