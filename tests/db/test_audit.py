"""The audit hash chain: appends, and verification that names the changed, deleted or reordered entry."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, MetaData, Table, delete, select, text, update

from kofu.common.clock import JST
from kofu.db.audit import GENESIS, AuditLog, audit_table, chain_for, entry_hash
from tests.statements import statements

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


# ---- several chains in one table ----


def _fill_chains(engine: Engine) -> None:
    with engine.begin() as conn:
        for chain in (2, 7):
            log = AuditLog(conn, log_table, chain)
            for i in range(1, 4):
                assert log.append("issued", AT, order_id=f"k{chain}-{i}") == i  # each chain counts from 1


def test_each_chain_counts_and_verifies_on_its_own(log_engine: Engine) -> None:
    _fill_chains(log_engine)
    with log_engine.connect() as conn:
        log = AuditLog(conn, log_table)
        assert (log.count(), log.chains()) == (11, 3)
        rows = conn.execute(select(log_table.c.chain, log_table.c.seq, log_table.c.prev_hash)).all()
    assert {(r.chain, r.seq) for r in rows if r.prev_hash == GENESIS} == {(0, 1), (2, 1), (7, 1)}
    assert problems(log_engine) == []


def test_an_edit_or_deletion_in_one_chain_is_named_with_its_chain(log_engine: Engine) -> None:
    _fill_chains(log_engine)
    with log_engine.begin() as conn:
        t = log_table
        conn.execute(update(t).where(t.c.chain == 7, t.c.seq == 2).values(data='{"order_id":"forged"}'))
        conn.execute(delete(t).where(t.c.chain == 2, t.c.seq == 1))
    assert problems(log_engine) == ["chain 2 entry 2: deleted-or-reordered", "chain 7 entry 2: changed"]


def test_an_entry_moved_to_another_chain_is_found(log_engine: Engine) -> None:
    _fill_chains(log_engine)
    with log_engine.begin() as conn:  # chain 7 renamed wholesale: every link still holds inside it
        conn.execute(update(log_table).where(log_table.c.chain == 7).values(chain=9))
        conn.execute(update(log_table).where(log_table.c.chain == 0, log_table.c.seq == 5).values(chain=3, seq=1))
    found = problems(log_engine)
    assert found == ["chain 3 entry 1: broken-link", "chain 3 entry 1: changed"] + [
        f"chain 9 entry {i}: changed" for i in (1, 2, 3)
    ]


def test_chain_zero_hashes_what_a_one_chain_log_hashed() -> None:
    """Entries written before chains existed are chain 0 and must verify unchanged."""
    import hashlib
    import json

    material = json.dumps([1, AT.isoformat(), "issued", "{}", GENESIS], separators=(",", ":"))
    assert entry_hash(1, AT, "issued", "{}", GENESIS) == hashlib.sha256(material.encode()).hexdigest()
    assert entry_hash(1, AT, "issued", "{}", GENESIS, chain=4) != entry_hash(1, AT, "issued", "{}", GENESIS)


def test_chain_for_spreads_keys_over_chains_one_to_n() -> None:
    chains = {chain_for(f"K{i}", 64) for i in range(1000)}
    assert chains <= set(range(1, 65)) and len(chains) == 64
    assert chain_for("K1", 64) == chain_for("K1", 64)


@pytest.mark.postgres
def test_appends_to_other_chains_do_not_wait_for_an_open_transaction(log_engine: Engine) -> None:
    if log_engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises every writer at BEGIN IMMEDIATE; chains matter on PostgreSQL")
    from sqlalchemy.exc import OperationalError

    with log_engine.begin() as holder:  # a transaction of chain 1 still open (e.g. a slow kiosk call)
        AuditLog(holder, log_table, 1).append("issued", AT, order_id="slow")
        with log_engine.begin() as other:
            other.execute(text("SET LOCAL lock_timeout = '2s'"))
            assert AuditLog(other, log_table, 2).append("issued", AT, order_id="fast") == 1
        with pytest.raises(OperationalError, match="lock timeout"), log_engine.begin() as same:
            same.execute(text("SET LOCAL lock_timeout = '200ms'"))
            AuditLog(same, log_table, 1).append("issued", AT, order_id="waits")
    assert problems(log_engine) == []


def _fresh_log(engine: Engine) -> Table:
    """A log table of its own: what this process remembers of other tests' chains does not apply to it."""
    meta = MetaData()
    table = audit_table(f"test_audit_{uuid.uuid4().hex[:8]}", meta)
    meta.create_all(engine)
    return table


def _entries(engine: Engine, table: Table) -> list[tuple[int, str]]:
    with engine.connect() as conn:
        return [(int(r.seq), str(r.data)) for r in conn.execute(select(table).order_by(table.c.seq))]


def _verified(engine: Engine, table: Table) -> list[str]:
    with engine.connect() as conn:
        return [str(p) for p in AuditLog(conn, table).verify()]


def test_an_append_after_a_rolled_back_one_links_to_the_committed_head(log_engine: Engine) -> None:
    table = _fresh_log(log_engine)
    for i in range(1, 4):
        with log_engine.begin() as conn:
            AuditLog(conn, table).append("issued", AT, order_id=f"o{i}")
    # the rolled-back append was this process's last: the next one must not link to it
    with pytest.raises(RuntimeError), log_engine.begin() as conn:
        AuditLog(conn, table).append("issued", AT, order_id="gone")
        raise RuntimeError("rolled back")
    with log_engine.begin() as conn:
        assert AuditLog(conn, table).append("issued", AT, order_id="o4") == 4
    assert [seq for seq, _ in _entries(log_engine, table)] == [1, 2, 3, 4]
    assert _verified(log_engine, table) == []


def _foreign(engine: Engine, table: Table, name: str) -> None:
    """What another process appends to chain 0 (not through this process's AuditLog): a correct next entry."""
    with engine.begin() as conn:
        last = conn.execute(select(table.c.seq, table.c.hash).order_by(table.c.seq.desc()).limit(1)).one()
        data = f'{{"order_id":"{name}"}}'
        seq = int(last.seq) + 1
        digest = entry_hash(seq, AT, "issued", data, last.hash)
        conn.execute(
            table.insert().values(chain=0, seq=seq, at=AT, kind="issued", data=data, prev_hash=last.hash, hash=digest)
        )


def test_an_append_after_another_process_appended_extends_its_entry(log_engine: Engine) -> None:
    table = _fresh_log(log_engine)
    for i in range(1, 4):
        with log_engine.begin() as conn:
            AuditLog(conn, table).append("issued", AT, order_id=f"o{i}")
    _foreign(log_engine, table, "x4")  # this process does not know
    with log_engine.begin() as conn:
        assert AuditLog(conn, table).append("issued", AT, order_id="o5") == 5
    assert [data for _, data in _entries(log_engine, table)][-2:] == ['{"order_id":"x4"}', '{"order_id":"o5"}']
    assert _verified(log_engine, table) == []


def _statements_of(engine: Engine, append: Callable[[], object]) -> int:
    with statements(engine) as seen:
        append()
    return len([s for s in seen if not s.startswith("BEGIN")])


def test_an_append_costs_one_statement_on_sqlite_two_on_postgres_when_it_knows_the_head(log_engine: Engine) -> None:
    table = _fresh_log(log_engine)
    lock = 1 if log_engine.dialect.name == "postgresql" else 0

    def append(i: int) -> None:
        with log_engine.begin() as conn:
            AuditLog(conn, table).append("issued", AT, order_id=f"o{i}")

    assert _statements_of(log_engine, lambda: append(1)) == lock + 2  # first: the head is read
    for i in range(2, 5):
        assert _statements_of(log_engine, lambda i=i: append(i)) == lock + 1  # then: the guarded insert only
    with log_engine.connect() as conn:
        assert AuditLog(conn, table).verify() == [] and AuditLog(conn, table).count() == 4


def test_after_a_wrong_guess_the_head_is_read_without_guessing_for_a_while(log_engine: Engine) -> None:
    # another process appends to the same chain between this one's appends (two center processes)
    table = _fresh_log(log_engine)
    lock = 1 if log_engine.dialect.name == "postgresql" else 0

    def append(i: int) -> None:
        with log_engine.begin() as conn:
            AuditLog(conn, table).append("issued", AT, order_id=f"o{i}")

    append(0)
    _foreign(log_engine, table, "x0")
    assert _statements_of(log_engine, lambda: append(1)) == lock + 3  # guessed wrong, then read + insert
    for i in range(2, 6):
        _foreign(log_engine, table, f"x{i}")
        assert _statements_of(log_engine, lambda i=i: append(i)) == lock + 2  # no guess: read + insert
    with log_engine.connect() as conn:
        assert AuditLog(conn, table).verify() == [] and AuditLog(conn, table).count() == 11
