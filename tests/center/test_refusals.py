"""Every refusal ends with a specific code and message (ja/en) and no charge; failures refund and void."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import delete, select, update

from kofu.center.client import CenterRefused
from kofu.center.protocol import challenge_bytes
from kofu.center.store import AUDIT_CHAINS, center_audit
from kofu.db.audit import chain_for
from kofu.jpki import RevocationReason
from kofu.verify.service import Outcome

from .conftest import Rig, ahead, login


def refused(fn: object, *args: object, **kwargs: object) -> CenterRefused:
    with pytest.raises(CenterRefused) as info:
        fn(*args, **kwargs)  # type: ignore[operator]
    assert info.value.message_en and info.value.message_ja
    return info.value


def test_unknown_kiosk_or_wrong_secret(rig: Rig) -> None:
    for client in (rig.kiosk("K9", "x"), rig.kiosk("K1", rig.secrets["K2"]), rig.kiosk("K1", "")):
        e = refused(client.open_session)
        assert (e.status, e.code) == (401, "kiosk-unauthorized")


def test_under_15_with_a_card_is_refused_at_authentication(rig: Rig) -> None:
    e = refused(login, rig.kiosk(), rig.card("R5"))
    assert (e.status, e.code) == (422, "not-eligible")
    assert [r.code for r in e.refusals] == ["under-15"]


def test_revoked_certificate(rig: Rig) -> None:
    card = rig.card("R1")
    rig.window.revoke_card(rig.cards["R1"].auth_serial, RevocationReason.LOSS)
    e = refused(login, rig.kiosk(), card)
    assert (e.status, e.code) == (422, "revoked")
    assert "失効" in e.message_ja


def _foreign_certificate() -> tuple[bytes, rsa.RSAPrivateKey]:
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.now(UTC)
    name = x509.Name(
        [x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "JPKI")]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "someone")]))
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(12345)
        .not_valid_before(now - timedelta(days=1000))
        .not_valid_after(now + timedelta(days=1000))
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER), key


def test_certificate_from_a_foreign_ca(rig: Rig) -> None:
    center = rig.kiosk()
    der, key = _foreign_certificate()
    opened = center.open_session()
    sig = key.sign(challenge_bytes(opened.session_id, "K1", opened.nonce), padding.PKCS1v15(), hashes.SHA256())
    e = refused(center.authenticate_jpki, opened.session_id, der, sig)
    assert (e.status, e.code) == (422, "untrusted-issuer")


def test_replayed_nonce_and_replayed_signature(rig: Rig) -> None:
    center = rig.kiosk()
    card = rig.card("R1")
    opened = center.open_session()
    card.verify_auth_pin("1234")
    sig = card.sign_auth_sha256(challenge_bytes(opened.session_id, "K1", opened.nonce))
    cert = card.read_auth_certificate()
    center.authenticate_jpki(opened.session_id, cert, sig)
    e = refused(center.authenticate_jpki, opened.session_id, cert, sig)  # the same again, new idempotency key
    assert (e.status, e.code) == (409, "nonce-used")
    other = center.open_session()  # the old signature on a new session
    e = refused(center.authenticate_jpki, other.session_id, cert, sig)
    assert (e.status, e.code) == (401, "signature-invalid")


def test_signature_by_another_cards_key(rig: Rig) -> None:
    center = rig.kiosk()
    mine, theirs = rig.card("R1"), rig.card("R2", "5678")
    opened = center.open_session()
    theirs.verify_auth_pin("5678")
    sig = theirs.sign_auth_sha256(challenge_bytes(opened.session_id, "K1", opened.nonce))
    e = refused(center.authenticate_jpki, opened.session_id, mine.read_auth_certificate(), sig)
    assert (e.status, e.code) == (401, "signature-invalid")


def test_another_kiosks_session_and_order(rig: Rig) -> None:
    k1, k2 = rig.kiosk("K1"), rig.kiosk("K2")
    card = rig.card("R1")
    opened = k1.open_session()
    card.verify_auth_pin("1234")
    sig = card.sign_auth_sha256(challenge_bytes(opened.session_id, "K2", opened.nonce))
    e = refused(k2.authenticate_jpki, opened.session_id, card.read_auth_certificate(), sig)
    assert (e.status, e.code) == (403, "foreign-session")
    sid, _ = login(k1, card)
    order = k1.order(sid, "juminhyo")
    assert refused(k2.pay, order.order_id, {500: 1}).status == 403
    assert refused(k2.menu, sid).status == 403


def test_too_many_copies_type_not_offered_and_out_of_hours(rig: Rig) -> None:
    center = rig.kiosk()
    sid, _ = login(center, rig.card("R1"))
    e = refused(center.order, sid, "juminhyo", copies=6)
    assert (e.status, [r.code for r in e.refusals]) == (422, ["too-many-copies"])
    e = refused(center.order, sid, "koseki")
    assert (e.status, e.code) == (400, "invalid-request")
    e = refused(center.order, sid, "kisai", items=["honseki"])  # not allowed by this tenant
    assert [r.code for r in e.refusals] == ["item-not-allowed"]
    rig.world.clock.advance(timedelta(hours=8))  # 18:00 JST: 所得証明書 is weekdays 9–17 only
    assert refused(center.order, sid, "shotoku").code == "session-expired"  # idle for hours
    sid, auth = login(center, rig.card("R1"))
    assert not next(e for e in auth.menu.entries if e.type == "shotoku").available
    e = refused(center.order, sid, "shotoku")
    assert [r.code for r in e.refusals] == ["outside-hours"]
    rig.world.clock.advance(timedelta(minutes=5 * 60 + 30))  # 23:30 JST
    sid, _ = login(center, rig.card("R1"))
    e = refused(center.order, sid, "juminhyo")
    assert [r.code for r in e.refusals] == ["outside-hours"]
    assert "時間帯" in e.refusals[0].message_ja


def test_too_little_money_refuses_documents_then_cancel_refunds(rig: Rig) -> None:
    center = rig.kiosk()
    sid, _ = login(center, rig.card("R1"))
    order = center.order(sid, "juminhyo")
    center.pay(order.order_id, {100: 2})
    e = refused(center.documents, order.order_id)
    assert (e.status, e.code) == (409, "payment-due") and "50円" in e.message_ja
    e = refused(center.pay, order.order_id, {5: 1})
    assert (e.status, e.code) == (400, "bad-coins")
    out = center.cancel(order.order_id)
    assert (out.status, out.refund) == ("refunded", 200)
    assert refused(center.cancel, order.order_id).status == 409
    assert rig.service.money_balance(order.order_id) == {"in": 200, "refund": 200, "change": 0}


def test_print_failure_voids_and_refunds(rig: Rig) -> None:
    center = rig.kiosk()
    sid, _ = login(center, rig.card("R1"))
    order = center.order(sid, "inkan")
    center.pay(order.order_id, {1000: 1})
    (job,) = center.documents(order.order_id).jobs
    out = center.print_result(order.order_id, job.job_id, ok=False, error="paper-jam")
    assert (out.status, out.refund) == ("refunded", 1000)
    assert rig.world.verifier.verify_pdf(job.pdf_bytes()).outcome is Outcome.VOIDED
    assert rig.service.money_balance(order.order_id) == {"in": 1000, "refund": 1000, "change": 0}


def test_cancel_after_delivery_voids_and_completed_cannot_be_cancelled(rig: Rig) -> None:
    center = rig.kiosk()
    sid, _ = login(center, rig.card("R1"))
    order = center.order(sid, "juminhyo")
    center.pay(order.order_id, {500: 1})
    (job,) = center.documents(order.order_id).jobs
    assert refused(center.print_result, order.order_id, "not-the-job", ok=True).code == "job-mismatch"
    assert center.cancel(order.order_id).refund == 500
    assert rig.world.verifier.verify_pdf(job.pdf_bytes()).outcome is Outcome.VOIDED
    second = center.order(sid, "juminhyo")
    center.pay(second.order_id, {500: 1})
    (job2,) = center.documents(second.order_id).jobs
    center.print_result(second.order_id, job2.job_id, ok=True)
    assert refused(center.cancel, second.order_id).status == 409


def test_issuer_refusal_at_issue_time_refunds_and_issues_nothing(rig: Rig) -> None:
    center = rig.kiosk()
    ahead(rig, 12 * 60 + 58)  # 22:58 JST
    sid, _ = login(center, rig.card("R1"))
    order = center.order(sid, "inkan")
    center.pay(order.order_id, {500: 1})
    ahead(rig, 3)  # 23:01: closed by the time the documents are asked for
    e = refused(center.documents, order.order_id)
    assert (e.status, [r.code for r in e.refusals]) == (422, ["outside-hours"])
    assert rig.service.money_balance(order.order_id) == {"in": 500, "refund": 500, "change": 0}
    assert refused(center.cancel, order.order_id).code == "order-closed"


def test_expiry_voids_and_refunds_and_answers_410(rig: Rig) -> None:
    center = rig.kiosk()
    sid, _ = login(center, rig.card("R1"))
    delivered = center.order(sid, "juminhyo")
    center.pay(delivered.order_id, {500: 1})
    (job,) = center.documents(delivered.order_id).jobs
    half = center.order(sid, "kisai")
    center.pay(half.order_id, {100: 1})
    ahead(rig, 6)
    assert sorted(rig.service.expire()) == sorted([delivered.order_id, half.order_id])
    assert rig.world.verifier.verify_pdf(job.pdf_bytes()).outcome is Outcome.VOIDED
    assert rig.service.money_balance(half.order_id)["refund"] == 100
    e = refused(center.print_result, delivered.order_id, job.job_id, ok=True)
    assert (e.status, e.code) == (410, "order-expired")
    # a stale order met by a call (before any sweep) is closed by that call
    fresh = center.order(sid, "juminhyo")
    center.pay(fresh.order_id, {500: 1})
    ahead(rig, 5)
    assert refused(center.documents, fresh.order_id).status == 410
    assert rig.service.money_balance(fresh.order_id) == {"in": 500, "refund": 500, "change": 0}
    ahead(rig, 11)  # the session has been idle too long
    assert refused(center.menu, sid).code == "session-expired"


def test_idempotency_same_key_once_other_body_conflict(rig: Rig) -> None:
    center = rig.kiosk()
    sid, _ = login(center, rig.card("R1"))
    order = center.order(sid, "juminhyo")
    first = center.pay(order.order_id, {100: 1}, key="coin-1")
    again = center.pay(order.order_id, {100: 1}, key="coin-1")
    assert first == again and again.paid == 100
    e = refused(center.pay, order.order_id, {100: 2}, key="coin-1")
    assert (e.status, e.code) == (409, "idempotency-key-reused")
    assert rig.service.money_balance(order.order_id)["in"] == 100
    raw = center.http.post(f"/v1/orders/{order.order_id}/payments", json={"coins": {"100": 1}})
    assert raw.status_code == 400 and raw.json()["error"] == "idempotency-key-required"
    # documents are never stored: the same key re-issues and the issuer voids the earlier document
    center.pay(order.order_id, {500: 1})
    (a,) = center.documents(order.order_id, key="docs").jobs
    (b,) = center.documents(order.order_id, key="docs").jobs
    assert rig.world.verifier.verify_pdf(a.pdf_bytes()).outcome is Outcome.VOIDED
    assert rig.world.verifier.verify_pdf(b.pdf_bytes()).outcome is Outcome.VALID
    assert refused(center.print_result, order.order_id, a.job_id, ok=True).code == "job-mismatch"
    assert center.print_result(order.order_id, b.job_id, ok=True).change == 350


def test_two_kiosks_two_residents_at_once_each_get_their_own(rig: Rig) -> None:
    cards = {"R1": rig.card("R1"), "R2": rig.card("R2", "5678")}
    pins = {"R1": "1234", "R2": "5678"}
    results: dict[str, bytes] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run(kiosk_id: str, rid: str) -> None:
        try:
            center = rig.kiosk(kiosk_id)
            sid, _ = login(center, cards[rid], pins[rid])
            order = center.order(sid, "juminhyo")
            center.pay(order.order_id, {500: 1})
            barrier.wait(timeout=30)
            (job,) = center.documents(order.order_id).jobs
            assert job.cert_serial == rig.cards[rid].auth_serial and job.order_id == order.order_id
            center.print_result(order.order_id, job.job_id, ok=True)
            results[rid] = job.pdf_bytes()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=a) for a in (("K1", "R1"), ("K2", "R2"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    for rid, pdf in results.items():
        verdict = rig.world.verifier.verify_pdf(pdf)
        assert verdict.outcome is Outcome.VALID
        record = rig.world.issuer.lookup("282286", verdict.number or 0)
        assert record is not None and record.resident_id == rid


def test_audit_chain_verifies_and_finds_an_edited_entry(rig: Rig) -> None:
    center = rig.kiosk()
    sid, _ = login(center, rig.card("R1"))
    order = center.order(sid, "juminhyo")
    center.pay(order.order_id, {500: 1})
    (job,) = center.documents(order.order_id).jobs
    center.print_result(order.order_id, job.job_id, ok=True)
    assert rig.service.verify_audit() == []
    k1 = chain_for("K1", AUDIT_CHAINS)
    with rig.world.engine.begin() as conn:
        t = center_audit
        conn.execute(update(t).where(t.c.chain == k1, t.c.seq == 5).values(data='{"order":"forged"}'))
    problems = rig.service.verify_audit()
    assert [(p.chain, p.seq, p.what) for p in problems] == [(k1, 5, "changed")]


def test_each_kiosk_appends_to_its_own_chain_and_the_whole_log_verifies(rig: Rig) -> None:
    for kiosk_id, resident_id in (("K1", "R1"), ("K2", "R2")):
        center = rig.kiosk(kiosk_id)
        sid, _ = login(center, rig.card(resident_id))
        order = center.order(sid, "juminhyo")
        center.pay(order.order_id, {500: 1})
        (job,) = center.documents(order.order_id).jobs
        center.print_result(order.order_id, job.job_id, ok=True)
    t = center_audit
    with rig.world.engine.connect() as conn:
        rows = conn.execute(select(t.c.chain, t.c.seq, t.c.kind, t.c.data).order_by(t.c.chain, t.c.seq)).all()
    by_chain: dict[int, list[str]] = {}
    for row in rows:
        by_chain.setdefault(row.chain, []).append(row.kind)
        assert row.seq == len(by_chain[row.chain])  # every chain counts 1, 2, 3 …
    k1, k2 = chain_for("K1", AUDIT_CHAINS), chain_for("K2", AUDIT_CHAINS)
    assert k1 != k2 and 0 not in (k1, k2)
    assert by_chain[0] == ["store.registered", "kiosk.registered", "kiosk.registered"]
    flow = ["session.opened", "session.authenticated", "order.quoted", "payment.in", "order.delivered"]
    assert by_chain[k1] == by_chain[k2] == [*flow, "order.completed"]
    assert all('"K2"' in r.data for r in rows if r.chain == k2)
    assert rig.service.verify_audit() == []
    with rig.world.engine.begin() as conn:
        conn.execute(delete(t).where(t.c.chain == k2, t.c.seq == 3))
    assert [str(p) for p in rig.service.verify_audit()] == [f"chain {k2} entry 4: deleted-or-reordered"]


def _rewrite_tenant(rig: Rig, old: str, new: str) -> None:
    import os
    import time

    from tests.issuer.factories import TENANT_TOML

    path = rig.world.issuer.tenants.directory / "282286.toml"
    assert old in TENANT_TOML
    path.write_text(TENANT_TOML.replace(old, new), encoding="utf-8")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 7_000_000))


def test_new_year_closure_maintenance_and_a_type_no_longer_offered(rig: Rig) -> None:
    center = rig.kiosk()
    # maintenance announced for 11:00–12:00 today
    _rewrite_tenant(
        rig,
        "start = 2026-12-06T01:00:00+09:00\nend = 2026-12-06T05:00:00+09:00",
        "start = 2026-11-25T11:00:00+09:00\nend = 2026-11-25T12:00:00+09:00",
    )
    rig.world.clock.advance(timedelta(hours=1, minutes=15))  # 11:15 JST
    sid, auth = login(center, rig.card("R1"))
    assert not any(e.available for e in auth.menu.entries)
    e = refused(center.order, sid, "juminhyo")
    assert (e.status, [r.code for r in e.refusals]) == (422, ["maintenance"])
    assert "メンテナンス" in e.refusals[0].message_ja and "maintenance" in e.refusals[0].message_en

    # 記載事項証明書 abolished by ordinance at the end of November
    _rewrite_tenant(
        rig,
        'type = "kisai"\noffered = [{ from = 2017-02-01 }]',
        'type = "kisai"\noffered = [{ from = 2017-02-01, until = 2026-11-30 }]',
    )
    rig.world.clock.advance(timedelta(days=6))  # 2026-12-01 11:15 JST
    sid, auth = login(center, rig.card("R1"))
    assert "kisai" not in {entry.type for entry in auth.menu.entries}
    e = refused(center.order, sid, "kisai", items=["address"])
    assert [r.code for r in e.refusals] == ["type-not-offered"]

    rig.world.clock.advance(timedelta(days=29))  # 2026-12-30: 12/29–1/3 closure
    sid, _ = login(center, rig.card("R1"))
    e = refused(center.order, sid, "juminhyo")
    assert [r.code for r in e.refusals] == ["new-year-closure"]
    assert "12月29日" in e.refusals[0].message_ja
    with rig.world.engine.connect() as conn:
        from sqlalchemy import func, select

        from kofu.center.store import payments

        assert conn.execute(select(func.count()).select_from(payments)).scalar_one() == 0  # nothing charged
