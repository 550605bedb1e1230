"""The kiosk flow end to end over the center API: real cards, real authority, real issuer, both databases."""

from __future__ import annotations

import pytest

from kofu.verify.service import Outcome

from .conftest import Rig, login

CASES = [
    ("juminhyo", {"kind": "household", "items": ["household_head"]}),
    ("juminhyo", {"kind": "members", "members": ["R2"]}),
    ("kisai", {"items": ["birth_date", "address"]}),
    ("inkan", {}),
    ("shotoku", {"fiscal_year": 2026}),
]


@pytest.mark.parametrize(("ctype", "extra"), CASES, ids=[f"{c}-{e.get('kind', '')}" for c, e in CASES])
def test_happy_path_for_every_certificate_type(rig: Rig, ctype: str, extra: dict[str, object]) -> None:
    center = rig.kiosk("K1")
    card = rig.card("R1")
    sid, auth = login(center, card)
    assert auth.tenant == "282286" and auth.municipality == "加東市"
    entry = next(e for e in auth.menu.entries if e.type == ctype)
    assert entry.available and entry.fee_each == 250
    assert {m.resident_id for m in auth.menu.members} == {"R2", "R3", "R5"}

    quoted = center.order(sid, ctype, copies=2, **extra)  # type: ignore[arg-type]
    assert (quoted.status, quoted.fee_each, quoted.total) == ("quoted", 250, 500)
    state = center.pay(quoted.order_id, {100: 3})
    assert (state.paid, state.due, state.status) == (300, 200, "quoted")
    state = center.pay(quoted.order_id, {500: 1})
    assert (state.paid, state.due, state.status) == (800, 0, "paid")

    delivery = center.documents(quoted.order_id)
    (job,) = delivery.jobs
    serial = rig.cards["R1"].auth_serial
    assert (job.order_id, job.cert_serial, job.copies) == (quoted.order_id, serial, 2)
    import hashlib

    pdf = job.pdf_bytes()
    assert hashlib.sha256(pdf).hexdigest() == job.document_sha256
    verdict = rig.world.verifier.verify_pdf(pdf)
    assert verdict.outcome is Outcome.VALID, verdict
    record = rig.world.issuer.lookup("282286", verdict.number or 0)
    assert record is not None and record.resident_id == "R1" and record.order_id == quoted.order_id

    done = center.print_result(quoted.order_id, job.job_id, ok=True)
    assert done.status == "completed" and done.change == 300
    assert done.receipt is not None
    assert (done.receipt.total, done.receipt.paid, done.receipt.change) == (500, 800, 300)
    assert done.receipt.number == f"282286-{verdict.number:07d}"
    assert rig.service.money_balance(quoted.order_id) == {"in": 800, "refund": 0, "change": 300}
    assert rig.service.verify_audit() == []


def test_openapi_and_health(rig: Rig) -> None:
    http = rig.kiosk().http
    assert http.get("/healthz").json() == {"status": "ok"}
    paths = http.get("/openapi.json").json()["paths"]
    assert {
        "/v1/sessions",
        "/v1/sessions/{session_id}/authenticate",
        "/v1/sessions/{session_id}/card-app-proof",
        "/v1/sessions/{session_id}/menu",
        "/v1/sessions/{session_id}/orders",
        "/v1/orders/{order_id}/payments",
        "/v1/orders/{order_id}/documents",
        "/v1/orders/{order_id}/print-result",
        "/v1/orders/{order_id}/cancel",
    } <= set(paths)


def test_card_app_method_is_routed_and_refused_where_the_tenant_does_not_accept_it(rig: Rig) -> None:
    from kofu.center.client import CenterRefused

    center = rig.kiosk()
    rig.card("R1")
    opened = center.open_session()
    with pytest.raises(CenterRefused) as info:
        center.authenticate_card_app(opened.session_id, rig.cards["R1"].user_id)
    assert [r.code for r in info.value.refusals] == ["method-not-accepted"]
