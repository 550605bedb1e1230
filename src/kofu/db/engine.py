"""Engines: SQLite (WAL, foreign keys on, busy timeout) by default, PostgreSQL for production.

On SQLite the two ways of opening a connection mean two kinds of transaction:

- `engine.begin()` — a writer: `BEGIN IMMEDIATE`, so writers serialise at BEGIN the way row locks do on
  PostgreSQL (a read-then-write transaction never fails with SQLITE_BUSY on upgrading its lock);
- `engine.connect()` (autobegin, never committed) — a reader: plain deferred `BEGIN`, a WAL snapshot that
  neither waits for a writer nor makes one wait. Nothing in kofu writes through `connect()` (no
  `conn.commit()`): every write goes through `engine.begin()`.

On PostgreSQL a pooled connection is checked when it is taken from the pool, without a round trip unless it
sat idle for long: a server that closed it (a restart, `pg_terminate_backend`) has left an end-of-file (and its
goodbye message) on the socket, which a zero-timeout `poll` sees; a connection idle for more than
`PING_AFTER_IDLE_SECONDS` — long enough for a firewall or NAT to forget it silently — is pinged as
`pool_pre_ping` did for every checkout. A dead connection is replaced, and the pool's older connections too.
"""

from __future__ import annotations

import select
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, event, exc
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

WRITER = "kofu_writer"  # the execution option `engine.begin()` sets on SQLite
PING_AFTER_IDLE_SECONDS = 10.0
_IDLE_SINCE = "kofu_idle_since"  # in a pooled connection's `info`: when it was last checked in


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

        # This process's writers queue on a lock before BEGIN IMMEDIATE: one of them at a time asks SQLite,
        # and the next starts as soon as the previous commits. Without it every waiting writer polls the file
        # lock in SQLite's busy handler, which sleeps up to 100 ms between tries (wall time lost, and a long
        # tail). Writers of other processes still meet at SQLite's lock (busy_timeout). Re-entrant, so a
        # thread that nests writers behaves as before (it waits on SQLite's lock, not here).
        writers = threading.RLock()

        @contextmanager
        def begin() -> Iterator[Connection]:
            with writers, engine.connect() as conn:
                conn.execution_options(**{WRITER: True})
                with conn.begin():
                    yield conn

        engine.begin = begin  # type: ignore[assignment,method-assign]
        return engine
    engine = sa_create_engine(url, **kwargs)
    _check_on_checkout(engine)
    return engine


def _readable(fd: int) -> bool:
    """Whether `fd` has something to read (or hung up), without waiting; `poll`, unlike `select`, takes
    descriptors above 1023 (a busy server process has them)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))


def _check_on_checkout(engine: Engine) -> None:
    """What `pool_pre_ping` did, without its round trip per checkout (see the module's docstring)."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn: Any, record: ConnectionPoolEntry) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn: Any, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection) -> None:
        idle_since = record.info.get(_IDLE_SINCE)
        if idle_since is None:  # a fresh connection
            return
        try:
            # nothing is due on an idle connection: anything readable is the server's goodbye (or EOF)
            closed_by_server = _readable(dbapi_conn.fileno())
            if not closed_by_server and time.monotonic() - idle_since > PING_AFTER_IDLE_SECONDS:
                engine.dialect.do_ping(dbapi_conn)
        except Exception as error:
            raise exc.InvalidatePoolError(f"pooled connection failed its check: {error}") from error
        if closed_by_server:
            raise exc.InvalidatePoolError("pooled connection closed by the server")
