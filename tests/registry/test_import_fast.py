"""The one-pass import: the fast row check agrees with the wording validator, chunked writes (and, on
PostgreSQL, the writer thread) leave nothing behind on any failure, households headed by a later row."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from kofu.common.clock import FixedClock
from kofu.common.errors import Conflict
from kofu.registry import csvio
from kofu.registry.csvio import RESIDENT_HEADER, ImportRejected, import_directory
from kofu.registry.store import RegistryStore
from kofu.registry.validate import my_number_problem, with_my_number_check_digit

from .conftest import MakeRegistry, resident, sample_residents, snapshot


def _cells(row: dict[str, str]) -> tuple[str, ...]:
    return tuple(row.get(col, "").strip(" \t") for col in RESIDENT_HEADER)


def _wording_errors(row: dict[str, str]) -> list[str]:
    r = csvio._Row(2, row)
    csvio._resident("282286", r, 1)
    return [f"{e.column}: {e.message}" for e in r.errors]


def test_valid_rows_take_the_fast_path() -> None:
    for row in sample_residents():
        c = _cells(row)
        assert csvio._resident_ok(c, len(",".join(c))), row["resident_id"]
        assert _wording_errors(row) == []


VALUES = {
    "resident_id": ["R1", "", "R 1", "R/1", "x" * 64, "x" * 65, "Ｒ1"],
    "household_id": ["H1", "", "H-1.a_b", "H#1"],
    "name": ["加東　太郎", "", " 加東 ", "x" * 1000, "x" * 1001],
    "kana": ["かとう", "", "\t"],
    "birth_date": ["1980-05-01", "", "1980-5-1", "1980-02-30", "１９８０-05-01", "2030-01-01", "1980/05/01"],
    "sex": ["male", "female", "", "Male", "x"],
    "relationship": ["世帯主", "子", "", "x" * 32, "x" * 33],
    "address": ["兵庫県加東市社50番地", "", "x" * 1001],
    "honseki": ["", "兵庫県", "x" * 1001],
    "hittosha": ["", "加東　太郎", "x" * 1001],
    "became_resident_on": ["2000-04-01", "", "1970-01-01", "2000-13-01", "2011-01-01"],
    "address_since": ["2010-06-01", "", "1999-12-31", "2010-06-31"],
    "notified_on": ["2010-06-10", "", "1970-01-01", "2010-6-10"],
    "previous_address": ["", "兵庫県西脇市", "x" * 1001],
    "status": ["", "resident", "moved-out", "deceased", "move-out-filed", "gone", "Resident"],
    "status_changed_on": ["", "2020-03-31", "1999-01-01", "2020-02-30", "2020/03/31"],
    "moved_in_on": ["", "2000-04-05", "2000-04-31", "x"],
    "my_number": [
        "",
        with_my_number_check_digit("12345678901"),
        with_my_number_check_digit("00000000000"),
        "123456789012",
        "12345678901",
        "1234567890123",
        "１２３４５６７８９０１８",
        "12345678901a",
    ],
    "juminhyo_code": ["", "12345678901", "1234567890", "1234567890a", "１2345678901"],
}


@settings(max_examples=3000, deadline=None)
@given(st.fixed_dictionaries({col: st.sampled_from(options) for col, options in VALUES.items()}))
def test_the_fast_check_never_accepts_what_the_validator_rejects(row: dict[str, str]) -> None:
    c = _cells(row)
    errors = _wording_errors(row)
    if csvio._resident_ok(c, len(",".join(c))):
        assert errors == [], "the fast check let through a row the validator rejects"


@given(st.text(alphabet="0123456789０１a", min_size=10, max_size=13))
def test_my_number_table_agrees_with_the_rule(value: str) -> None:
    assert csvio._my_number_ok(value) == (my_number_problem(value) is None)


def test_my_number_table_over_every_check_digit() -> None:
    for eleven in ("00000000000", "12345678901", "99999999999", "31415926535", "27182818284"):
        for last in "0123456789":
            value = eleven + last
            assert csvio._my_number_ok(value) == (my_number_problem(value) is None)


def _people(n: int, household_size: int = 3) -> list[dict[str, str]]:
    """n residents in households of `household_size`, the 世帯主 LAST in each household (not its first row)."""
    rows = []
    for i in range(n):
        h, k = divmod(i, household_size)
        head = k == household_size - 1 or i == n - 1
        rows.append(
            resident(
                resident_id=f"P{i:04d}",
                household_id=f"HH{h:03d}",
                relationship="世帯主" if head else "子",
                address=f"兵庫県加東市社{h}番地",
                my_number=with_my_number_check_digit(f"{50_000_000_000 + i:011d}"),
                juminhyo_code="",
            )
        )
    return rows


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csvio._Sink, "CHUNK", 4)


@pytest.mark.usefixtures("small_chunks")
def test_many_chunks_import_everything_with_later_heads(
    engine: Engine, tenant: str, make_registry: MakeRegistry, clock: FixedClock
) -> None:
    rows = _people(40)
    rows[4]["address"] = "兵庫県加東市社1番地 "  # first member of HH001; its head (row 5) has the same address
    report = import_directory(engine, tenant, make_registry(rows, with_optional=False), clock=clock)
    assert (report.residents, report.households) == (40, 14)
    with engine.connect() as conn:
        s = RegistryStore(conn)
        assert s.count_residents(tenant) == 40
        for h in range(14):
            hh = s.household(tenant, f"HH{h:03d}")
            assert hh is not None
            expected_head = f"P{min(3 * h + 2, 39):04d}"
            assert hh.head_resident_id == expected_head and hh.address == f"兵庫県加東市社{h}番地"
        p4 = s.get_resident(tenant, "P0004")
        assert p4 is not None and p4.address == "兵庫県加東市社1番地"  # stripped


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize("where", ["late row", "no head", "other file"])
def test_a_problem_after_many_written_chunks_leaves_nothing(
    engine: Engine, tenant: str, make_registry: MakeRegistry, clock: FixedClock, where: str
) -> None:
    rows = _people(40)
    seals: list[dict[str, str]] = []
    if where == "late row":
        rows[38]["birth_date"] = "2001-02-30"
    elif where == "no head":
        rows[38]["relationship"] = "子"  # HH012 = P0036..P0038 loses its 世帯主
    else:
        seals = [{"resident_id": "NOBODY", "registration_no": "S1", "registered_on": "2020-01-01", "image": "x.png"}]
    before = snapshot(engine, tenant)
    with pytest.raises(ImportRejected) as info:
        import_directory(engine, tenant, make_registry(rows, seals), clock=clock)
    assert info.value.problems
    assert snapshot(engine, tenant) == before
    with engine.connect() as conn:
        assert RegistryStore(conn).tenant_is_empty(tenant)
        assert RegistryStore(conn).count_events(tenant) == 0


@pytest.mark.usefixtures("small_chunks")
def test_a_database_error_while_writing_is_raised_and_leaves_nothing(
    engine: Engine, tenant: str, make_registry: MakeRegistry, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    original = RegistryStore.bulk_insert_residents

    def failing(self: RegistryStore, *args: Any) -> int:
        calls.append(threading.current_thread().name)
        if len(calls) == 3:
            raise RuntimeError("disk full")
        return original(self, *args)

    monkeypatch.setattr(RegistryStore, "bulk_insert_residents", failing)
    threads = threading.active_count()
    with pytest.raises(RuntimeError, match="disk full"):
        import_directory(engine, tenant, make_registry(_people(40), with_optional=False), clock=clock)
    assert threading.active_count() == threads, "the writer thread outlived the import"
    with engine.connect() as conn:
        assert RegistryStore(conn).tenant_is_empty(tenant)
    # PostgreSQL writes from the writer thread (overlapping validation), SQLite from the caller's
    expected = "kofu-import-writer" if engine.dialect.name == "postgresql" else threading.current_thread().name
    assert calls[0] == expected


def test_blanks_tabs_and_empty_cells(
    engine: Engine, tenant: str, make_registry: MakeRegistry, clock: FixedClock
) -> None:
    rows = sample_residents()
    rows[0]["resident_id"] = " R1\t"
    rows[0]["name"] = "加東\t太郎"  # a tab inside a cell is kept (only control characters other than tab are refused)
    rows[1]["status"] = ""  # → resident
    rows[1]["honseki"] = " \t "  # → NULL
    import_directory(engine, tenant, make_registry(rows), clock=clock)
    with engine.connect() as conn:
        s = RegistryStore(conn)
        r1 = s.get_resident(tenant, "R1")
        assert r1 is not None and r1.name == "加東\t太郎"
        r2 = s.get_resident(tenant, "R2")
        assert r2 is not None and r2.status.value == "resident" and r2.honseki is None and r2.juminhyo_code is None


def test_an_occupied_tenant_reports_the_problems_before_the_conflict(
    engine: Engine, tenant: str, make_registry: MakeRegistry, clock: FixedClock
) -> None:
    import_directory(engine, tenant, make_registry(), clock=clock)
    before = snapshot(engine, tenant)
    rows = sample_residents()
    rows[2]["sex"] = "x"
    with pytest.raises(ImportRejected) as info:
        import_directory(engine, tenant, make_registry(rows), clock=clock)
    assert [(p.line, p.column) for p in info.value.problems] == [(4, "sex")]
    with pytest.raises(Conflict):
        import_directory(engine, tenant, make_registry(), clock=clock)
    assert snapshot(engine, tenant) == before


def test_scan_finds_control_characters(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("a,b\n加東\t太郎,\r\n", encoding="utf-8")
    assert csvio._scan(path) == (1, False)
    for char in ("\x00", "\x1b", "\x7f", "\x0b"):
        path.write_text(f"a,b\n加東{char}太郎,x\n", encoding="utf-8")
        assert csvio._scan(path) == (1, True)


def test_a_resident_without_its_household_never_commits(engine: Engine, tenant: str) -> None:
    """PostgreSQL (a role that may set session_replication_role) checks residents → households once at
    the end of the bulk load instead of per row; SQLite keeps its per-row check. Either way: refused."""
    cells = _cells(resident(household_id="NOPE"))
    with pytest.raises((IntegrityError, sqlite3.IntegrityError, RuntimeError)), engine.begin() as conn:
        store = RegistryStore(conn)
        with store.households_checked_once(tenant) as deferred:
            assert deferred is (engine.dialect.name == "postgresql") or not deferred
            store.bulk_insert_residents(tenant, 1, [cells])
    with engine.connect() as conn:
        assert RegistryStore(conn).tenant_is_empty(tenant)
