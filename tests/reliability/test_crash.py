"""kill -9 of the center or of the issuer at each step of a transaction (after payment, after document
creation, before the print result), on the real processes over HTTPS and PostgreSQL. The instant is exact:
`KOFU_FAULT=<service>:<step>:kill` makes the process SIGKILL itself there (kofu.common.faults, test-only);
a kill timed from the kiosk side (right after a step's answer) covers the issuer between steps.

After the restart every payment is matched by a completed issuance or refunded, no issuance number is
reused, every number that is not a completed order's certificate is voided (with its audit entry), no
void is left pending, and `kofu audit verify` passes — without anyone's help but the center's own
recovery (on start, then its sweeper)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from kofu.center.client import CenterClient, CenterRefused
from kofu.center.store import center_audit, payments
from kofu.issuer.store import issuances
from tests.e2e.test_processes import KOFU
from tests.reliability.checks import ledger_problems
from tests.reliability.conftest import size
from tests.reliability.deployment import Deployment

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.reliability]

ORDER_TIMEOUT = 15  # seconds: long enough for a slow render on a loaded machine, short enough to wait for
SWEEP_EVERY = 1
ROUNDS = size(1, 5)


class CrashDeployment(Deployment):
    """The ops rig with a short order deadline and a frequent sweeper on the center."""

    def args(self, name: str) -> list[str]:
        extra = ["--order-timeout", str(ORDER_TIMEOUT), "--sweep-every", str(SWEEP_EVERY)]
        return [*super().args(name), *(extra if name == "center" else [])]

    def relaunch(self, name: str, fault: str | None = None) -> None:
        """Starts `name` again (after a kill), with `KOFU_FAULT` set only for this process when given."""
        if self.procs[name].poll() is None:
            self.kill(name)
        base = self.env
        self.env = {k: v for k, v in base.items() if k != "KOFU_FAULT"}
        if fault:
            self.env["KOFU_FAULT"] = fault
        try:
            self.launch(name)
        finally:
            self.env = {k: v for k, v in base.items() if k != "KOFU_FAULT"}

    def died(self, name: str) -> int:
        return self.procs[name].wait(timeout=20)


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CrashDeployment]:
    d = CrashDeployment.start(tmp_path_factory.mktemp("crash"))
    assert isinstance(d, CrashDeployment)
    try:
        yield d
    finally:
        d.stop()


# ---- the books: what must hold after any crash ----


def settled(d: Deployment, *, within: float = 4 * ORDER_TIMEOUT) -> list[str]:
    """Waits (the center's sweeper at work) until the books balance; returns the problems left."""
    deadline = time.monotonic() + within
    while True:
        with d.observer.engine.connect() as conn:
            problems = ledger_problems(conn)
        if not problems or time.monotonic() > deadline:
            return problems
        time.sleep(0.5)


def audit_verify(d: Deployment) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in d.env.items() if k != "KOFU_FAULT"}
    return subprocess.run([KOFU, "audit", "verify"], env=env, capture_output=True, text=True, timeout=120)


def voided_by_center(d: Deployment, order_id: str) -> list[int | None]:
    """The issuance numbers the center's audit log records as voided for this order."""
    with d.observer.engine.connect() as conn:
        rows = conn.execute(select(center_audit.c.data).where(center_audit.c.kind == "order.voided")).scalars()
        entries = [json.loads(r) for r in rows]
    return [e.get("number") for e in entries if e.get("order") == order_id]


def start(d: Deployment, center: CenterClient, resident_id: str = "R1") -> tuple[str, int]:
    session_id, _ = d.login(center, resident_id)
    quoted = center.order(session_id, "juminhyo")
    return quoted.order_id, quoted.total


def coins(total: int) -> dict[str, int]:
    return {"100": (total + 99) // 100}


def paid_for(total: int) -> int:
    return 100 * ((total + 99) // 100)


def balance(d: Deployment, order_id: str) -> dict[str, int]:
    out = {"in": 0, "refund": 0, "change": 0}
    with d.observer.engine.connect() as conn:
        for kind, amount in conn.execute(
            select(payments.c.kind, payments.c.amount).where(payments.c.order_id == order_id)
        ).all():
            out[kind] += int(amount)
    return out


def issued_for(d: Deployment, order_id: str) -> list[tuple[int, str]]:
    with d.observer.engine.connect() as conn:
        rows = conn.execute(
            select(issuances.c.number, issuances.c.status).where(issuances.c.order_id == order_id)
        ).all()
    return [(int(n), str(s)) for n, s in rows]


# ---- the center killed ----


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_center_killed_after_payment_the_kiosk_resumes_and_the_order_completes(
    rig: CrashDeployment, round_: int
) -> None:
    d = rig
    d.relaunch("center", "center:after-payment:kill")
    with d.kiosk() as center:
        order_id, total = start(d, center)
        with pytest.raises(httpx.TransportError):  # the connection dies with the process
            center.pay(order_id, coins(total))
    assert d.died("center") == -9
    d.relaunch("center")
    with d.kiosk() as center:  # the kiosk comes back to its paid order
        delivery = center.documents(order_id)
        outcome = center.print_result(order_id, delivery.jobs[0].job_id, True)
    assert outcome.status == "completed"
    assert settled(d) == []
    assert issued_for(d, order_id) == [(issued_for(d, order_id)[0][0], "issued")]


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_center_killed_after_document_creation_the_order_is_refunded_and_voided_by_order_id(
    rig: CrashDeployment, round_: int
) -> None:
    d = rig
    d.relaunch("center", "center:after-document-creation:kill")
    with d.kiosk() as center:
        order_id, total = start(d, center)
        center.pay(order_id, coins(total))
        with pytest.raises(httpx.TransportError):
            center.documents(order_id)
    assert d.died("center") == -9
    # the issuer committed a certificate the center never recorded
    (number, status), *_ = issued_for(d, order_id)
    assert status == "issued"
    d.relaunch("center")
    assert settled(d) == []
    assert issued_for(d, order_id) == [(number, "voided")]
    assert voided_by_center(d, order_id) == [number]
    assert balance(d, order_id) == {"in": paid_for(total), "refund": paid_for(total), "change": 0}


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_center_killed_before_the_print_result_the_kiosk_reports_again_and_the_order_completes(
    rig: CrashDeployment, round_: int
) -> None:
    d = rig
    d.relaunch("center", "center:before-print-result:kill")
    with d.kiosk() as center:
        order_id, total = start(d, center)
        center.pay(order_id, coins(total))
        job = center.documents(order_id).jobs[0]
        with pytest.raises(httpx.TransportError):
            center.print_result(order_id, job.job_id, True)
    assert d.died("center") == -9
    d.relaunch("center")
    with d.kiosk() as center:
        outcome = center.print_result(order_id, job.job_id, True)
    assert outcome.status == "completed" and outcome.receipt is not None
    assert settled(d) == []


def test_center_killed_before_the_print_result_and_the_kiosk_never_returns_refunds_and_voids(
    rig: CrashDeployment,
) -> None:
    d = rig
    d.relaunch("center", "center:before-print-result:kill")
    with d.kiosk() as center:
        order_id, total = start(d, center)
        center.pay(order_id, coins(total))
        job = center.documents(order_id).jobs[0]
        with pytest.raises(httpx.TransportError):
            center.print_result(order_id, job.job_id, False, "jam")
    assert d.died("center") == -9
    d.relaunch("center")
    assert settled(d) == []
    ((number, status),) = issued_for(d, order_id)
    assert status == "voided" and voided_by_center(d, order_id) == [number]


# ---- the issuer killed ----


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_issuer_killed_after_document_creation_no_charge_and_the_document_is_voided_when_it_returns(
    rig: CrashDeployment, round_: int
) -> None:
    d = rig
    d.relaunch("issuer", "issuer:after-document-creation:kill")
    with d.kiosk() as center:
        order_id, total = start(d, center)
        center.pay(order_id, coins(total))
        with pytest.raises(CenterRefused) as refused:
            center.documents(order_id)
    assert refused.value.code == "issuer-unavailable" and refused.value.status == 503
    assert "料金はかかりません" in refused.value.message_ja and "Nothing was charged" in refused.value.message_en
    assert d.died("issuer") == -9
    ((number, status),) = issued_for(d, order_id)
    assert status == "issued"  # committed, then the process died before answering
    d.relaunch("issuer")
    assert settled(d) == []
    assert issued_for(d, order_id) == [(number, "voided")]
    assert balance(d, order_id) == {"in": paid_for(total), "refund": paid_for(total), "change": 0}


def test_issuer_killed_after_payment_refunds_and_issues_nothing(rig: CrashDeployment) -> None:
    d = rig
    with d.kiosk() as center:
        order_id, total = start(d, center)
        center.pay(order_id, coins(total))
        d.kill("issuer")
        with pytest.raises(CenterRefused) as refused:
            center.documents(order_id)
    assert refused.value.code == "issuer-unavailable" and refused.value.status == 503
    d.relaunch("issuer")
    assert settled(d) == []
    assert issued_for(d, order_id) == []
    assert balance(d, order_id)["refund"] == paid_for(total)


def test_issuer_killed_before_the_print_result_a_good_print_completes_a_failed_one_voids_later(
    rig: CrashDeployment,
) -> None:
    d = rig
    with d.kiosk() as center:
        good, total = start(d, center)
        center.pay(good, coins(total))
        good_job = center.documents(good).jobs[0]
        bad, _ = start(d, center, "R2")
        center.pay(bad, coins(total))
        bad_job = center.documents(bad).jobs[0]
        d.kill("issuer")
        assert center.print_result(good, good_job.job_id, True).status == "completed"
        failed = center.print_result(bad, bad_job.job_id, False, "paper-out")
    assert failed.status == "refunded" and failed.refund == paid_for(total)
    ((number, status),) = issued_for(d, bad)
    assert status == "issued"  # the issuer is down: the void waits
    d.relaunch("issuer")
    assert settled(d) == []
    assert issued_for(d, bad) == [(number, "voided")]


def test_after_all_the_crashes_the_audit_logs_verify(rig: CrashDeployment) -> None:
    d = rig
    assert settled(d) == []
    done = audit_verify(d)
    assert done.returncode == 0, done.stdout + done.stderr
