"""Void by order id (`POST /v1/void-order`, `IssuerService.void_order`): every live issuance of the order,
idempotent, recorded in the issuer's audit log — for a center that refunds an order without knowing the
number the issuer gave it (a crash between the issuer's answer and the center's record)."""

from __future__ import annotations

import base64
import threading
import time

import pytest
from sqlalchemy import func, select

from kofu.center.gateway import InProcessGateway
from kofu.common.errors import KofuError
from kofu.db.audit import AuditLog
from kofu.issuer.audit import issuer_audit
from kofu.issuer.client import HttpIssuerGateway
from kofu.issuer.eligibility import IssueRequest
from kofu.issuer.service import Issued, OrderVoided
from kofu.issuer.store import counters, issuances
from kofu.issuer.tenant import CertificateType
from kofu.verify.service import Outcome

from .conftest import NOW, World
from .test_api import AT, T, TestClient, client, request

__all__ = ["client"]


def test_void_order_voids_what_the_order_got_once_and_leaves_other_orders(world: World, client: TestClient) -> None:
    first = client.post("/v1/issue", json={"request": request(), "at": AT, "order_id": "O-7"}).json()
    retried = client.post("/v1/issue", json={"request": request(), "at": AT, "order_id": "O-7"}).json()
    other = client.post("/v1/issue", json={"request": request(), "at": AT, "order_id": "O-8"}).json()
    answer = client.post("/v1/void-order", json={"order_id": "O-7", "reason": "timeout"})
    assert answer.status_code == 200, answer.text
    # the retry had voided the first already; only the live one is voided now
    assert answer.json() == {"order_id": "O-7", "voided": [{"tenant": T, "number": retried["number"]}]}
    again = client.post("/v1/void-order", json={"order_id": "O-7", "reason": "timeout"})
    assert again.json() == {"order_id": "O-7", "voided": []}
    for doc, outcome in ((first, Outcome.VOIDED), (retried, Outcome.VOIDED), (other, Outcome.VALID)):
        assert world.verifier.verify_pdf(base64.b64decode(doc["pdf_base64"])).outcome is outcome
    record = world.issuer.lookup(T, retried["number"])
    assert record is not None and record.void_reason == "timeout"
    with world.engine.connect() as conn:
        log = AuditLog(conn, issuer_audit)
        assert log.verify() == []


def test_void_order_through_the_in_process_gateway_and_for_an_unknown_order(world: World) -> None:
    gateway = InProcessGateway(world.issuer)
    assert gateway.void_order("never-issued", reason="timeout") == []
    issued = world.issuer.issue(IssueRequest(T, "R1", CertificateType.JUMINHYO), order_id="O-9")
    assert gateway.void_order("O-9", reason="issuer-unavailable") == [(T, issued.record.number)]


def test_bad_void_order_body_is_422(client: TestClient) -> None:
    assert client.post("/v1/void-order", json={"order_id": "", "reason": "x"}).status_code == 422
    assert client.post("/v1/void-order", json={"order_id": "O-1"}).status_code == 422


# ---- a late issue after void by order ----


def test_issue_after_void_order_is_refused_in_process(world: World) -> None:
    world.issuer.void_order("O-late", reason="issuer-unavailable")  # the center gave up before the issuer began
    with pytest.raises(OrderVoided) as refused:
        world.issuer.issue(IssueRequest(T, "R1", CertificateType.JUMINHYO), order_id="O-late")
    assert refused.value.code == "order-voided"
    with world.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(issuances)).scalar_one() == 0  # no number taken
    # other orders are not affected; voiding again stays idempotent
    issued = world.issuer.issue(IssueRequest(T, "R1", CertificateType.JUMINHYO), order_id="O-next")
    assert issued.record.number == 1 and issued.record.status == "issued"
    assert world.issuer.void_order("O-late", reason="timeout") == []


def test_issue_after_void_order_is_refused_over_the_gateway(world: World, client: TestClient) -> None:
    answer = client.post("/v1/void-order", json={"order_id": "O-late", "reason": "timeout"})
    assert answer.json() == {"order_id": "O-late", "voided": []}
    refused = client.post("/v1/issue", json={"request": request(), "at": AT, "order_id": "O-late"})
    assert refused.status_code == 409
    assert refused.json()["error"] == "order-voided"
    # the center's HTTP gateway turns it into a clear refusal with that code
    gateway = HttpIssuerGateway.__new__(HttpIssuerGateway)
    gateway.base_url, gateway._http = "", client
    with pytest.raises(KofuError) as late:
        gateway.issue(IssueRequest(T, "R1", CertificateType.JUMINHYO), at=NOW, order_id="O-late")
    assert late.value.code == "order-voided" and "取り消し" in late.value.message_ja
    assert world.issuer.lookup(T, 1) is None


def test_a_void_order_while_its_issue_is_running_waits_and_voids_it(world: World) -> None:
    """The residual window: issue() has begun (it holds the order's lock) when void_order() comes. The void
    waits for the issue to commit and then voids what it made. Held mid-issue by a lock on the counter."""
    if world.engine.dialect.name != "postgresql":
        pytest.skip("row locks: PostgreSQL (SQLite runs one writer at a time)")
    world.issuer.issue(IssueRequest(T, "R1", CertificateType.JUMINHYO), order_id="O-1")  # the counter row exists
    results: dict[str, object] = {}
    with world.engine.connect() as blocker:
        blocker.execute(select(counters).where(counters.c.tenant == T).with_for_update())
        issuing = threading.Thread(
            target=lambda: results.__setitem__(
                "issued", world.issuer.issue(IssueRequest(T, "R1", CertificateType.JUMINHYO), order_id="O-2")
            )
        )
        issuing.start()
        time.sleep(1.0)  # issue() now holds O-2's lock and waits for the counter
        voiding = threading.Thread(
            target=lambda: results.__setitem__("voided", world.issuer.void_order("O-2", reason="timeout"))
        )
        voiding.start()
        time.sleep(1.0)
        assert "voided" not in results  # void_order waits for the issue in flight
        blocker.rollback()  # the counter is free: the issue commits, then the void runs
        issuing.join(timeout=30)
        voiding.join(timeout=30)
    issued = results["issued"]
    assert isinstance(issued, Issued)
    assert [(r.tenant, r.number) for r in results["voided"]] == [(T, issued.record.number)]  # type: ignore[attr-defined]
    record = world.issuer.lookup(T, issued.record.number)
    assert record is not None and record.status == "voided" and record.void_reason == "timeout"
    with pytest.raises(OrderVoided):
        world.issuer.issue(IssueRequest(T, "R1", CertificateType.JUMINHYO), order_id="O-2")
