"""The audit hash chain: appends, and verification that names the changed, deleted or reordered entry."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, MetaData, delete, update

from kofu.common.clock import JST
from kofu.db.audit import AuditLog, audit_table

test_metadata = MetaData()  # not the application's: the migration test compares against that one
log_table = audit_table("test_audit", test_metadata)
AT = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)


@pytest.fixture
def log_engine(empty_engine: Engine) -> Engine:
    test_metadata.create_all(empty_engine)
    with empty_engine.begin() as conn:
        log = AuditLog(conn, log_table)
        for i in range(1, 6):
            log.append("issued", AT, order_id=f"o{i}", number=i, document_hash=f"{i:064x}")
    return empty_engine


def problems(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [str(p) for p in AuditLog(conn, log_table).verify()]


def test_an_untouched_chain_verifies(log_engine: Engine) -> None:
    assert problems(log_engine) == []


def test_a_changed_entry_is_named(log_engine: Engine) -> None:
    with log_engine.begin() as conn:
        conn.execute(update(log_table).where(log_table.c.seq == 3).values(data='{"number":99}'))
    assert problems(log_engine) == ["entry 3: changed"]


def test_a_deleted_entry_is_found(log_engine: Engine) -> None:
    with log_engine.begin() as conn:
        conn.execute(delete(log_table).where(log_table.c.seq == 2))
    assert problems(log_engine) == ["entry 3: deleted-or-reordered"]


def test_swapped_entries_are_found(log_engine: Engine) -> None:
    with log_engine.begin() as conn:
        rows = {r.seq: r for r in conn.execute(log_table.select())}
        for a, b in ((2, 4), (4, 2)):
            src = rows[b]
            conn.execute(
                update(log_table)
                .where(log_table.c.seq == a)
                .values(kind=src.kind, data=src.data, prev_hash=src.prev_hash, hash=src.hash)
            )
    found = problems(log_engine)
    assert "entry 2: broken-link" in found and "entry 2: changed" in found


def test_personal_data_shaped_values_are_refused(log_engine: Engine) -> None:
    with log_engine.begin() as conn, pytest.raises(TypeError):
        AuditLog(conn, log_table).append("issued", AT, resident={"name": "加東　太郎"})


def test_concurrent_appends_from_many_connections_keep_one_chain(log_engine: Engine) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def append(i: int) -> int:
        with log_engine.begin() as conn:
            return AuditLog(conn, log_table).append("issued", AT, order_id=f"c{i}")

    with ThreadPoolExecutor(max_workers=8) as pool:
        seqs = list(pool.map(append, range(40)))
    assert sorted(seqs) == list(range(6, 46))
    assert problems(log_engine) == []


def test_an_entry_written_in_jst_verifies(log_engine: Engine) -> None:
    with log_engine.begin() as conn:
        AuditLog(conn, log_table).append("issued", AT.astimezone(JST), order_id="jst")
    assert problems(log_engine) == []
