"""Faults a store meets, on the real processes (center, issuer, JPKI over HTTPS on PostgreSQL) with the
kiosk as its own process too (`kofu kiosk run --center …`, the headless kiosk with its printer): a printer
jam, paper out, the kiosk's power lost mid-print, the center↔issuer link cut, the database dropping every
connection. Each ends with a clear message, a refund or no charge, nothing lost (the books of
tests/reliability/test_crash.py balance) and the service back for the next customer without anyone's help.

The database is not restarted (the PostgreSQL server is shared with other test runs): its restart is
simulated by terminating, with pg_terminate_backend, exactly the connections our center and issuer
processes hold — found through their sockets in /proc."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from kofu.center.client import CenterRefused
from kofu.center.store import orders
from kofu.issuer.store import issuances
from tests.conftest import _postgres_admin
from tests.e2e.test_processes import KOFU
from tests.reliability.conftest import size
from tests.reliability.test_crash import CrashDeployment, audit_verify, balance, settled

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.reliability]

ROUNDS = size(1, 5)


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CrashDeployment]:
    d = CrashDeployment.start(tmp_path_factory.mktemp("faults"))
    assert isinstance(d, CrashDeployment)
    try:
        yield d
    finally:
        d.stop()


def kiosk_run(
    d: CrashDeployment, out: Path, *extra: str, resident_id: str = "R1", fault: str | None = None
) -> tuple[int, dict[str, Any]]:
    """One customer at a kiosk process; (exit status, its JSON line — empty when the process died)."""
    env = {k: v for k, v in d.env.items() if k != "KOFU_FAULT"}
    if fault:
        env["KOFU_FAULT"] = fault
    args = [KOFU, "kiosk", "run", "--center", d.center_url, "--kiosk-id", "K1", "--secret", d.secret]
    args += ["--ca", str(d.ca), "--card", str(d.cards[resident_id].path), "--pin", "1234", "--type", "juminhyo"]
    args += ["--pay", "100x3", "--out", str(out), "--json", *extra]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=180)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    return done.returncode, (json.loads(lines[-1]) if lines else {})


def printed(out: Path) -> list[Path]:
    return sorted(p for p in out.glob("*.pdf") if "receipt" not in p.name and "slip" not in p.name)


def issuance_of(d: CrashDeployment, order_id: str) -> list[str]:
    with d.observer.engine.connect() as conn:
        return list(conn.execute(select(issuances.c.status).where(issuances.c.order_id == order_id)).scalars())


def served_fine(d: CrashDeployment, out: Path) -> None:
    """The next customer is served: printed, completed, the books balance."""
    code, result = kiosk_run(d, out)
    assert code == 0 and result["ok"], result
    assert issuance_of(d, result["order_id"]) == ["issued"]
    assert settled(d) == []


@pytest.mark.parametrize("fault", ["jam", "paper-out"])
@pytest.mark.parametrize("round_", range(ROUNDS))
def test_a_printer_fault_refunds_voids_and_says_so(
    rig: CrashDeployment, tmp_path: Path, fault: str, round_: int
) -> None:
    code, result = kiosk_run(rig, tmp_path / "tray", "--printer-fault", fault)
    assert code == 3, result
    assert not result["ok"] and result["refusal"] == f"printer-{fault}"
    assert "料金をお返しします" in result["message_ja"] and "money returned" in result["message_en"]
    assert result["refund"] == result["paid"] == 300
    assert printed(tmp_path / "tray") == []
    assert issuance_of(rig, result["order_id"]) == ["voided"]
    assert balance(rig, result["order_id"]) == {"in": 300, "refund": 300, "change": 0}
    assert settled(rig) == []
    served_fine(rig, tmp_path / "next")


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_kiosk_power_lost_mid_print_the_center_refunds_and_voids_on_its_own(
    rig: CrashDeployment, tmp_path: Path, round_: int
) -> None:
    code, result = kiosk_run(rig, tmp_path / "tray", fault="kiosk:mid-print:kill")
    assert code == -9 and result == {}
    assert printed(tmp_path / "tray") == []
    with rig.observer.engine.connect() as conn:
        (order_id, status, paid) = conn.execute(
            select(orders.c.order_id, orders.c.status, orders.c.paid).order_by(orders.c.created_at.desc()).limit(1)
        ).one()
    assert status == "delivered" and paid == 300  # the certificate reached the kiosk, then the power went
    assert settled(rig) == []  # the center's sweeper, after the order's deadline
    assert issuance_of(rig, order_id) == ["voided"]
    assert balance(rig, order_id) == {"in": 300, "refund": 300, "change": 0}
    served_fine(rig, tmp_path / "next")


def test_link_to_the_issuer_cut_no_charge_a_clear_message_and_back_when_it_returns(
    rig: CrashDeployment, tmp_path: Path
) -> None:
    d = rig
    d.kill("issuer")  # the link cut: no goodbye
    code, result = kiosk_run(d, tmp_path / "tray")
    assert code == 2 and not result["ok"], result
    assert result["refusal"] == "issuer-unavailable"
    assert "料金はかかりません" in result["message_ja"] and "Nothing was charged" in result["message_en"]
    assert result["paid"] == 0 and printed(tmp_path / "tray") == []
    # the link cut between payment and issuance: refunded
    d.relaunch("issuer")
    with d.kiosk() as center:
        session_id, _ = d.login(center, "R1")
        quoted = center.order(session_id, "juminhyo")
        center.pay(quoted.order_id, {"100": 3})
        d.kill("issuer")  # the link cut: no goodbye
        with pytest.raises(CenterRefused) as refused:
            center.documents(quoted.order_id)
    assert refused.value.code == "issuer-unavailable" and "料金" in refused.value.message_ja
    assert balance(d, quoted.order_id) == {"in": 300, "refund": 300, "change": 0}
    d.relaunch("issuer")
    assert settled(d) == []
    served_fine(d, tmp_path / "next")


def backend_ports(pid: int) -> set[int]:
    """Local TCP ports of the sockets process `pid` holds (its database connections among them)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def terminate_connections(d: CrashDeployment) -> int:
    """What a database restart does to our services: every connection of the center and issuer processes
    is closed by the server (pg_terminate_backend), nobody else's."""
    ports = backend_ports(d.procs["center"].pid) | backend_ports(d.procs["issuer"].pid)
    admin = _postgres_admin()
    try:
        with admin.connect() as conn:
            killed = conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE client_port = ANY(:ports) AND client_addr IN ('127.0.0.1', '::1') "
                    "AND pid <> pg_backend_pid()"
                ),
                {"ports": sorted(ports)},
            ).scalar_one()
    finally:
        admin.dispose()
    return int(killed)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_database_connections_dropped_the_service_comes_back_without_repair(
    rig: CrashDeployment, tmp_path: Path, round_: int
) -> None:
    d = rig
    for name in ("issuer", "center"):
        if d.procs[name].poll() is not None:
            d.relaunch(name)
    served_fine(d, tmp_path / "warm")  # both services hold pooled connections now
    assert terminate_connections(d) >= 2
    code, result = kiosk_run(d, tmp_path / "tray")
    assert code == 0 and result["ok"], result  # the very next customer, no restart, no repair
    assert issuance_of(d, result["order_id"]) == ["issued"]
    assert settled(d) == []
    done = audit_verify(d)
    assert done.returncode == 0, done.stdout + done.stderr
