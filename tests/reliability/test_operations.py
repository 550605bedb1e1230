"""Operations on the real processes (`kofu serve jpki|issuer|center` on PostgreSQL): health and
Prometheus metrics on every service, JSON logs where one request id follows a kiosk's transaction into
the center and on into the issuer, no personal data in logs, audit entries or URLs, graceful shutdown."""

from __future__ import annotations

import json
import signal
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from kofu.center.client import CenterClient
from kofu.center.store import center_audit
from kofu.issuer.audit import issuer_audit
from kofu.verify.service import Outcome
from tests.reliability.checks import document_problems
from tests.reliability.deployment import PEOPLE, Deployment

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.reliability]


def buy(d: Deployment, center: CenterClient, resident_id: str, ctype: str = "juminhyo", **kw: Any) -> str:
    """One whole transaction; returns the order id. Checks the printed PDF belongs to this resident."""
    session_id, _ = d.login(center, resident_id, **kw)
    quoted = center.order(session_id, ctype)
    center.pay(quoted.order_id, {"100": (quoted.total + 99) // 100})
    delivery = center.documents(quoted.order_id)
    job = delivery.jobs[0]
    verdict = d.observer.verifier.verify_pdf(job.pdf_bytes())
    assert verdict.outcome is Outcome.VALID
    name = next(p.name for p in PEOPLE if p.resident_id == resident_id)
    with d.observer.engine.connect() as conn:
        problems = document_problems(
            conn, job.pdf_bytes(), resident_id=resident_id, name=name, order_id=quoted.order_id, qr=True
        )
    assert not problems, problems
    outcome = center.print_result(quoted.order_id, job.job_id, True)
    assert outcome.status == "completed", outcome
    return quoted.order_id


def test_every_service_answers_health_and_prometheus_metrics(deployment: Deployment) -> None:
    d = deployment
    with d.kiosk() as center:
        buy(d, center, "R1")
    clients = {
        "jpki": (d.jpki_url, httpx.Client(timeout=10)),
        "issuer": (d.issuer_url, httpx.Client(verify=d.center_tls(), timeout=10)),
        "center": (d.center_url, httpx.Client(verify=d.kiosk_tls(), timeout=10)),
    }
    for name, (url, http) in clients.items():
        with http:
            health = http.get(f"{url}/healthz")
            assert health.status_code == 200 and health.json()["status"] == "ok", name
            metrics = http.get(f"{url}/metrics")
            assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
            assert f'kofu_http_requests_total{{method="GET",route="/healthz",service="{name}",status="200"}}' in (
                metrics.text
            ), name
    with httpx.Client(verify=d.kiosk_tls()) as http:
        text = http.get(f"{d.center_url}/metrics").text
    assert 'route="/v1/orders/{order_id}/documents",service="center",status="200"' in text
    assert 'kofu_http_request_duration_seconds_bucket{le="0.005",route="/v1/sessions",service="center"}' in text


def test_a_request_id_set_by_the_kiosk_follows_the_transaction_into_center_and_issuer(
    deployment: Deployment,
) -> None:
    d = deployment
    request_id = f"kiosk-K1-{uuid.uuid4().hex[:12]}"
    answered: list[str] = []
    with d.kiosk() as center:
        center.http.event_hooks["response"].append(lambda r: answered.append(r.headers.get("x-request-id", "")))
        order_id = buy(d, center, "R1", request_id=request_id)
    assert answered and set(answered) == {request_id}, "the center echoes the kiosk's id on every answer"

    want_center = {"/v1/sessions", "/v1/orders/{order_id}/documents", "/v1/orders/{order_id}/print-result"}
    want_issuer = {"/v1/admit", "/v1/quote", "/v1/issue"}
    deadline = time.monotonic() + 15  # a server writes its request line after the answer has left
    while True:
        center_lines = [x for x in d.logs("center") if x.get("request_id") == request_id and x["logger"] == "kofu.http"]
        issuer_lines = [x for x in d.logs("issuer") if x.get("request_id") == request_id and x["logger"] == "kofu.http"]
        center_routes = {line["route"] for line in center_lines}
        issuer_routes = {line["route"] for line in issuer_lines}
        if (want_center <= center_routes and want_issuer <= issuer_routes) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert want_center <= center_routes
    assert want_issuer <= issuer_routes
    assert all(line["service"] == "center" and line["level"] == "info" for line in center_lines)
    assert all(line["service"] == "issuer" for line in issuer_lines)
    issued = [line for line in issuer_lines if line["route"] == "/v1/issue"]
    assert issued[0]["status"] == 200 and issued[0]["duration_ms"] > 0
    # no identifiers from the URL in the logs: the order id appears nowhere
    assert order_id not in d.log_text("center") + d.log_text("issuer")


def test_a_bad_request_id_is_replaced_not_logged(deployment: Deployment) -> None:
    d = deployment
    with httpx.Client(verify=d.kiosk_tls(), timeout=10) as http:
        answer = http.get(f"{d.center_url}/healthz", headers={"X-Request-ID": "加東　太郎 1-2-3".encode()})
        fresh = http.get(f"{d.center_url}/healthz")
    assert answer.status_code == 200
    assert len(answer.headers["x-request-id"]) == 32 and answer.headers["x-request-id"].isalnum()
    assert fresh.headers["x-request-id"] != answer.headers["x-request-id"]
    assert "加東" not in d.log_text("center")


def personal_strings() -> list[str]:
    """What identifies the test residents: names, kana, addresses, birth dates, 個人番号."""
    found: list[str] = []
    for p in PEOPLE:
        found += [p.name, p.name.replace("　", ""), p.kana, p.address, p.birth_date.isoformat()]
        if p.my_number:
            found.append(p.my_number)
    return [s for s in found if s]


def test_no_personal_data_in_logs_audit_entries_or_urls(deployment: Deployment) -> None:
    d = deployment
    urls: list[str] = []
    with d.kiosk() as center:
        center.http.event_hooks["request"].append(lambda r: urls.append(str(r.url)))
        for resident_id, ctype in (("R1", "juminhyo"), ("R1", "inkan"), ("R1", "shotoku"), ("R2", "juminhyo")):
            buy(d, center, resident_id, ctype)
        session_id, _ = d.login(center, "R1")
        center.menu(session_id)
    with d.observer.engine.connect() as conn:
        audit = [
            json.dumps([kind, data], ensure_ascii=False)
            for table in (center_audit, issuer_audit)
            for kind, data in conn.execute(select(table.c.kind, table.c.data)).all()
        ]
    assert len(audit) > 10 and len(urls) > 20
    haystacks = {
        "center log": d.log_text("center"),
        "issuer log": d.log_text("issuer"),
        "jpki log": d.log_text("jpki"),
        "audit": "\n".join(audit),
        "urls": "\n".join(urls),
    }
    assert all(haystacks.values())
    leaks = [(where, s) for s in personal_strings() for where, hay in haystacks.items() if s in hay]
    assert not leaks, leaks
    for name in ("center", "issuer", "jpki"):
        assert d.logs(name), f"{name}: every log line is JSON"


def test_sigterm_lets_in_flight_issuances_finish_then_the_center_comes_back(deployment: Deployment) -> None:
    d = deployment
    n = 6
    centers = [d.kiosk() for _ in range(n)]
    try:
        paid: list[tuple[CenterClient, str]] = []
        for center in centers:
            session_id, _ = d.login(center, "R1")
            quoted = center.order(session_id, "juminhyo")
            center.pay(quoted.order_id, {"100": 3})
            paid.append((center, quoted.order_id))
        with ThreadPoolExecutor(n) as pool:
            futures = [pool.submit(center.documents, order_id) for center, order_id in paid]
            time.sleep(0.15)  # the requests are in the center (rendering at the issuer) when SIGTERM comes
            code = d.terminate("center")
            deliveries = [f.result() for f in futures]  # none cut off: each got its document
        # uvicorn finishes the in-flight requests, then re-raises SIGTERM to exit
        assert code in (0, -signal.SIGTERM)
        assert "Finished server process" in d.log_text("center")
        assert all(len(delivery.jobs) == 1 for delivery in deliveries)
        d.launch("center")
        for (center, order_id), delivery in zip(paid, deliveries, strict=True):
            outcome = center.print_result(order_id, delivery.jobs[0].job_id, True)
            assert outcome.status == "completed"
    finally:
        for center in centers:
            center.close()
