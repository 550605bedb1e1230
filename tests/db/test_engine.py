"""SQLite transactions: writers serialise at BEGIN; readers see a snapshot and wait for no writer. PostgreSQL
pools: a connection the server closed is replaced at checkout; a busy pool does not ping."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, text

from kofu.db import create_engine_for


def make(tmp_path: Path) -> Engine:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
    return engine


def hold_write_lock(engine: Engine, holding: threading.Event, release: threading.Event) -> threading.Thread:
    def writer() -> None:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (2)"))
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    assert holding.wait(10)
    return thread


def test_a_reader_does_not_wait_for_a_writer_and_sees_the_committed_state(tmp_path: Path) -> None:
    engine = make(tmp_path)
    holding, release = threading.Event(), threading.Event()
    thread = hold_write_lock(engine, holding, release)
    try:
        started = time.perf_counter()
        with engine.connect() as conn:
            count = conn.execute(text("SELECT count(*) FROM t")).scalar_one()
        waited = time.perf_counter() - started
    finally:
        release.set()
        thread.join()
    assert count == 1  # the writer's row is not committed yet
    assert waited < 1.0
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar_one() == 2
    engine.dispose()


def test_a_second_writer_waits_at_begin_until_the_first_commits(tmp_path: Path) -> None:
    engine = make(tmp_path)
    holding, release = threading.Event(), threading.Event()
    thread = hold_write_lock(engine, holding, release)
    timer = threading.Timer(0.3, release.set)
    timer.start()
    started = time.perf_counter()
    with engine.begin() as conn:  # read then write: never SQLITE_BUSY, because it waited at BEGIN
        seen = conn.execute(text("SELECT count(*) FROM t")).scalar_one()
        conn.execute(text("INSERT INTO t VALUES (3)"))
    waited = time.perf_counter() - started
    thread.join()
    timer.cancel()
    assert waited >= 0.25 and seen == 2
    engine.dispose()


def test_writers_of_one_process_queue_before_asking_sqlite(tmp_path: Path) -> None:
    """A waiting writer of this process holds no connection and has not sent BEGIN IMMEDIATE (so it is not
    polling SQLite's lock in the busy handler); it starts when the first commits."""
    engine = make(tmp_path)
    begins: list[str] = []
    event.listen(engine, "begin", lambda conn: begins.append(threading.current_thread().name))
    holding, release = threading.Event(), threading.Event()
    first = hold_write_lock(engine, holding, release)
    done = threading.Event()

    def second() -> None:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (3)"))
        done.set()

    waiter = threading.Thread(target=second, name="second-writer")
    waiter.start()
    time.sleep(0.3)
    assert not done.is_set()
    assert "second-writer" not in begins  # queued in this process, not at SQLite's lock
    assert engine.pool.checkedout() == 1  # only the first writer's connection is out
    release.set()
    first.join()
    assert done.wait(5) and "second-writer" in begins
    waiter.join()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar_one() == 3
    engine.dispose()


# ---- PostgreSQL: pooled connections checked at checkout without a round trip (what pool_pre_ping did) ----


@pytest.fixture
def pg_engine() -> Iterator[Engine]:
    from tests.conftest import POSTGRES_URL, _postgres_admin

    _postgres_admin().dispose()  # fails (or skips knowingly) when PostgreSQL is not there
    engine = create_engine_for(POSTGRES_URL, pool_size=3)
    yield engine
    engine.dispose()


def _hold_connections(engine: Engine, n: int) -> list[int]:
    """Checks out `n` connections at once and returns them to the pool: their backend pids."""
    conns = [engine.connect() for _ in range(n)]
    pids = [int(c.execute(text("SELECT pg_backend_pid()")).scalar_one()) for c in conns]
    for c in conns:
        c.close()
    return pids


def _terminate(pids: list[int]) -> None:
    from tests.conftest import _postgres_admin

    admin = _postgres_admin()
    with admin.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM unnest(CAST(:pids AS int[])) AS pid"), {"pids": pids})
    admin.dispose()


@pytest.mark.postgres
def test_connections_closed_by_the_server_are_replaced_at_checkout(pg_engine: Engine) -> None:
    pids = _hold_connections(pg_engine, 3)
    _terminate(pids)
    time.sleep(0.2)  # the server's goodbye reaches the sockets
    for _ in range(3):  # every pooled connection was dead: each checkout gets a live one
        with pg_engine.begin() as conn:
            pid = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
        assert pid not in pids


@pytest.mark.postgres
def test_a_busy_pool_does_not_ping_but_an_idle_connection_is_pinged(
    pg_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kofu.db import engine as engine_module

    pings: list[object] = []
    real_ping = pg_engine.dialect.do_ping

    def counting_ping(dbapi_conn: object) -> bool:
        pings.append(dbapi_conn)
        return bool(real_ping(dbapi_conn))

    monkeypatch.setattr(pg_engine.dialect, "do_ping", counting_ping)
    _hold_connections(pg_engine, 1)
    for _ in range(5):
        with pg_engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    assert pings == []  # reused at once: checked without a round trip
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_SECONDS", 0.0)
    time.sleep(0.01)
    with pg_engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    assert len(pings) == 1  # idle for longer than the limit: pinged, as pool_pre_ping did every time


def test_the_checkout_check_sees_a_closed_peer_even_on_a_descriptor_above_1023() -> None:
    import os
    import resource
    import socket

    from kofu.db.engine import _readable

    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft <= 1500:
        pytest.skip(f"RLIMIT_NOFILE {soft}: no descriptor above 1023 to test with")
    ours, server = socket.socketpair()
    high = os.dup2(ours.fileno(), 1500)  # select() would refuse it (FD_SETSIZE 1024)
    try:
        assert not _readable(high)  # idle and alive
        server.close()  # the server's side goes away
        assert _readable(high)
    finally:
        os.close(high)
        ours.close()
