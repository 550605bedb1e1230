"""Concurrent events on both databases: two transfer-ins of one new id (or founding one new household) give
a clear refusal, not a raw IntegrityError; relocations by different members of one household never deadlock."""

from __future__ import annotations

import threading
import time
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from kofu.common.clock import FixedClock
from kofu.common.errors import KofuError
from kofu.registry.model import MoveOut, Relocation, ResidentStatus
from kofu.registry.service import apply_event, apply_events
from kofu.registry.store import RegistryStore
from kofu.registry.validate import with_my_number_check_digit

from .test_events import ev, transfer_in


def _second_while_first_is_open(
    engine: Engine, clock: FixedClock, first: Any, second: Any
) -> tuple[BaseException | None, list[str]]:
    """Applies `first` in an open transaction, starts `second` in another thread (it must wait), then
    commits the first. Returns what the second raised (None if it succeeded) and the order of events."""
    order: list[str] = []
    outcome: list[BaseException | None] = []
    started = threading.Event()

    def run_second() -> None:
        started.set()
        try:
            apply_events(engine, [second], clock)
            order.append("second-done")
            outcome.append(None)
        except BaseException as exc:
            order.append("second-failed")
            outcome.append(exc)

    with engine.begin() as conn:
        apply_event(conn, first, recorded_at=clock.now())
        thread = threading.Thread(target=run_second)
        thread.start()
        started.wait(5)
        time.sleep(0.5)  # the second is now waiting for a lock
        order.append("first-commit")
    thread.join(30)
    assert not thread.is_alive(), "the second transaction never finished"
    return outcome[0], order


def test_two_transfer_ins_of_one_new_id(seeded: Engine, tenant: str, clock: FixedClock) -> None:
    first = transfer_in(tenant, "R9")
    second = transfer_in(tenant, "R9", household_id="H10", my_number=with_my_number_check_digit("52345678901"))
    error, order = _second_while_first_is_open(seeded, clock, first, second)
    assert order == ["first-commit", "second-failed"]
    assert isinstance(error, KofuError), f"expected a clear refusal, got {error!r}"
    assert error.code == "registry.already-resident"
    assert "already registered" in error.message_en
    with seeded.connect() as conn:
        s = RegistryStore(conn)
        r9 = s.get_resident(tenant, "R9")
        assert r9 is not None and r9.household_id == "H9" and r9.version == 1
        assert s.household(tenant, "H10") is None  # the refused event left nothing


def test_two_transfer_ins_founding_one_new_household(seeded: Engine, tenant: str, clock: FixedClock) -> None:
    first = transfer_in(tenant, "R9", household_id="HNEW")
    second = transfer_in(tenant, "R10", household_id="HNEW", my_number=with_my_number_check_digit("52345678901"))
    error, order = _second_while_first_is_open(seeded, clock, first, second)
    assert order == ["first-commit", "second-failed"]
    assert isinstance(error, KofuError), f"expected a clear refusal, got {error!r}"
    assert error.code == "registry.household-has-head"
    with seeded.connect() as conn:
        s = RegistryStore(conn)
        hh = s.household(tenant, "HNEW")
        assert hh is not None and hh.head_resident_id == "R9"
        assert s.get_resident(tenant, "R10") is None


@pytest.mark.parametrize("rounds", [12])
def test_relocations_by_two_members_of_one_household_never_deadlock(
    seeded: Engine, tenant: str, clock: FixedClock, rounds: int
) -> None:
    """R1 and R2 share household H1; each round both relocate it at once (same dates, different
    addresses). Whoever is second sees the first's address and moves everyone again, or is refused
    because the address is the same; never a deadlock or another database error."""
    barrier = threading.Barrier(2, timeout=30)
    failures: list[BaseException] = []
    applied: list[str] = []
    base = date(2030, 1, 1)

    def member(rid: str) -> None:
        for i in range(rounds):
            day = base + timedelta(days=i)
            event = ev(Relocation, tenant, rid, effective_on=day, notified_on=day, address=f"兵庫県加東市{rid}-{i}番地")
            try:
                barrier.wait()
                apply_events(seeded, [event], clock)
                applied.append(rid)
            except KofuError:
                pass
            except BaseException as exc:
                failures.append(exc)
                barrier.abort()
                return

    threads = [threading.Thread(target=member, args=(rid,)) for rid in ("R1", "R2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads)
    assert not failures, failures
    assert len(applied) == 2 * rounds  # the addresses always differ: both relocations of a round go through
    with seeded.connect() as conn:
        s = RegistryStore(conn)
        members = [m for m in s.household_members(tenant, "H1") if m.status is ResidentStatus.RESIDENT]
        hh = s.household(tenant, "H1")
        assert hh is not None
        assert {m.address for m in members} == {hh.address}  # the household moved as one
        assert all(m.version == 1 + 2 * rounds for m in members)


def test_inserting_an_existing_resident_is_a_conflict_not_a_raw_integrity_error(seeded: Engine, tenant: str) -> None:
    """The store's last line of defence (e.g. an import replacing the registry while a transfer-in runs)."""
    with seeded.connect() as conn:
        r1 = RegistryStore(conn).get_resident(tenant, "R1")
    assert r1 is not None
    with pytest.raises(KofuError) as info, seeded.begin() as conn:
        RegistryStore(conn).insert_resident(r1)
    assert info.value.code == "registry.already-registered"
    assert "already registered" in info.value.message_en


def test_a_returning_member_and_a_relocation_of_the_household_never_deadlock(
    seeded: Engine, tenant: str, clock: FixedClock
) -> None:
    """R3 left household H1 (moved out, still its member); each round R3 returns into H1 (転入) while R1
    relocates H1. The transfer-in locks the household before the resident, as the relocation does."""
    rounds = 8
    failures: list[BaseException] = []
    refused: list[str] = []
    base = date(2030, 1, 1)
    for i in range(rounds):
        day = base + timedelta(days=2 * i)
        with seeded.connect() as conn:
            r3 = RegistryStore(conn).get_resident(tenant, "R3")
            h1 = RegistryStore(conn).household(tenant, "H1")
        assert r3 is not None and h1 is not None
        if r3.status is ResidentStatus.RESIDENT:
            apply_events(seeded, [ev(MoveOut, tenant, "R3", effective_on=day, notified_on=day)], clock)
        back = day + timedelta(days=1)
        events = {
            "R3": transfer_in(
                tenant, "R3", household_id="H1", relationship="子", address=h1.address, my_number=None,
                effective_on=back, notified_on=back,
            ),
            "R1": ev(Relocation, tenant, "R1", effective_on=back, notified_on=back, address=f"兵庫県加東市社{i}番地"),
        }  # fmt: skip
        barrier = threading.Barrier(2, timeout=30)

        def run(event: Any, barrier: threading.Barrier) -> None:
            try:
                barrier.wait()
                apply_events(seeded, [event], clock)
            except KofuError as exc:
                refused.append(exc.code)  # e.g. the household moved first: address-differs-from-household
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=run, args=(event, barrier)) for event in events.values()]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not failures, failures
    assert set(refused) <= {"registry.address-differs-from-household"}
