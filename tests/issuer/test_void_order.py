"""Void by order id (`POST /v1/void-order`, `IssuerService.void_order`): every live issuance of the order,
idempotent, recorded in the issuer's audit log — for a center that refunds an order without knowing the
number the issuer gave it (a crash between the issuer's answer and the center's record)."""

from __future__ import annotations

import base64

from kofu.center.gateway import InProcessGateway
from kofu.db.audit import AuditLog
from kofu.issuer.audit import issuer_audit
from kofu.issuer.eligibility import IssueRequest
from kofu.issuer.tenant import CertificateType
from kofu.verify.service import Outcome

from .conftest import World
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
