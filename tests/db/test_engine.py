"""SQLite transactions: writers serialise at BEGIN; readers see a snapshot and wait for no writer."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import Engine, text

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
