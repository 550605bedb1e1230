"""What a kiosk call costs the center, and that the cheaper path keeps its promises: the kiosk credential
remembered briefly (and forgotten on deactivation), the Idempotency-Key row written by the step's own
transaction (same key + same body → the stored answer, other body → 409, while running → 409)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select, update

from kofu.center.api import create_app
from kofu.center.client import CenterClient, CenterRefused
from kofu.center.protocol import challenge_bytes
from kofu.center.service import CenterService, CenterSettings
from kofu.center.store import center_audit, idempotency, orders, payments, sessions

from .conftest import Rig, login


def refused(fn: Any, *args: Any, **kwargs: Any) -> CenterRefused:
    with pytest.raises(CenterRefused) as info:
        fn(*args, **kwargs)
    return info.value


@contextmanager
def transactions(engine: Engine) -> Iterator[list[list[str]]]:
    """Every transaction begun on `engine` meanwhile, as the list of its statements."""
    seen: list[list[str]] = []

    def begin(conn: Any) -> None:
        seen.append([])

    def statement(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        if seen and not sql.lstrip().upper().startswith(("BEGIN", "PRAGMA")):
            seen[-1].append(" ".join(sql.split())[:60])

    event.listen(engine, "begin", begin)
    event.listen(engine, "before_cursor_execute", statement)
    try:
        yield seen
    finally:
        event.remove(engine, "begin", begin)
        event.remove(engine, "before_cursor_execute", statement)


def test_steps_without_the_issuer_take_one_transaction_holding_their_idempotency_row(rig: Rig) -> None:
    center = rig.kiosk()
    center.open_session()  # the kiosk's credential is now remembered
    sid, _ = login(center, rig.card("R1"))
    order = center.order(sid, "juminhyo")
    with transactions(rig.world.engine) as opened:
        center.open_session()
    with transactions(rig.world.engine) as paid:
        center.pay(order.order_id, {100: 1})
    with transactions(rig.world.engine) as cancelled:
        center.cancel(order.order_id)
    for name, txs in (("open", opened), ("pay", paid), ("cancel", cancelled)):
        assert len(txs) == 1, (name, txs)
        assert sum("center_idempotency" in s for s in txs[0]) == 1, (name, txs[0])  # one INSERT, no UPDATE
        assert not any(s.startswith("SELECT center_kiosks") for s in txs[0]), name


def test_a_remembered_credential_still_refuses_a_wrong_secret_and_forgets_a_deactivated_kiosk(rig: Rig) -> None:
    good = rig.kiosk("K1")
    good.open_session()
    e = refused(rig.kiosk("K1", rig.secrets["K2"]).open_session)
    assert (e.status, e.code) == (401, "kiosk-unauthorized")
    rig.service.set_kiosk_active("K1", False)
    assert refused(good.open_session).status == 401  # at once, within the cache time
    rig.service.set_kiosk_active("K1", True)
    good.open_session()


def test_another_center_process_sees_a_deactivation_within_its_cache_time(rig: Rig) -> None:
    other = CenterService(
        rig.world.engine,
        rig.service.gateway,
        rig.service.validator,
        rig.world.clock,
        CenterSettings(kiosk_cache_seconds=0.3),
    )
    kiosk = CenterClient.in_process(create_app(other), "K1", rig.secrets["K1"])
    kiosk.open_session()
    rig.service.set_kiosk_active("K1", False)  # done by another process: `other` still remembers K1
    kiosk.open_session()
    time.sleep(0.35)
    assert refused(kiosk.open_session).status == 401


def test_a_repeated_open_session_is_answered_from_its_row_and_leaves_one_session(rig: Rig) -> None:
    center = rig.kiosk()
    first = center.open_session(key="open-1")
    path = "/v1/sessions"
    raw = center.http.post(path, json={}, headers={"Idempotency-Key": "open-1"})
    assert raw.status_code == 200 and raw.headers["Idempotent-Replayed"] == "true"
    assert raw.json()["session_id"] == first.session_id
    with rig.world.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(sessions)).scalar_one() == 1
        opened = conn.execute(select(func.count()).where(center_audit.c.kind == "session.opened")).scalar_one()
        assert opened == 1  # the repeat's session and audit entry were rolled back with its transaction
    e = refused(center.pay, "no-such-order", {100: 1}, key="open-1")
    assert (e.status, e.code) == (409, "idempotency-key-reused")


def test_a_duplicate_while_the_first_runs_gets_409_in_progress(rig: Rig) -> None:
    center = rig.kiosk()
    sid, _ = login(center, rig.card("R1"))
    order = center.order(sid, "juminhyo")
    center.pay(order.order_id, {500: 1})
    gateway = rig.service.gateway
    issuing, release = threading.Event(), threading.Event()
    real_issue = gateway.issue

    def slow_issue(*args: Any, **kwargs: Any) -> Any:
        issuing.set()
        assert release.wait(30)
        return real_issue(*args, **kwargs)

    gateway.issue = slow_issue  # type: ignore[method-assign]
    answers: list[Any] = []
    first = threading.Thread(target=lambda: answers.append(rig.kiosk().documents(order.order_id, key="docs-1")))
    first.start()
    try:
        assert issuing.wait(30)  # the first request holds the key: its claim transaction committed
        e = refused(center.documents, order.order_id, key="docs-1")
        assert (e.status, e.code) == (409, "in-progress")
        e = refused(center.pay, order.order_id, {100: 1}, key="docs-1")
        assert (e.status, e.code) == (409, "idempotency-key-reused")
    finally:
        release.set()
        first.join(30)
        gateway.issue = real_issue  # type: ignore[method-assign]
    (job,) = answers[0].jobs
    with rig.world.engine.connect() as conn:
        row = conn.execute(select(idempotency).where(idempotency.c.key == "docs-1")).mappings().one()
    assert (row["status_code"], row["response"]) == (200, None)  # ran; the document itself is never stored
    (again,) = center.documents(order.order_id, key="docs-1").jobs  # so a retry re-issues
    assert again.job_id != job.job_id
    assert center.print_result(order.order_id, again.job_id, ok=True).status == "completed"


def test_one_try_per_challenge_even_when_the_card_is_refused(rig: Rig) -> None:
    center = rig.kiosk()
    card = rig.card("R1")
    opened = center.open_session()
    card.verify_auth_pin("1234")
    certificate = card.read_auth_certificate()
    wrong = card.sign_auth_sha256(b"not this session's challenge")
    assert refused(center.authenticate_jpki, opened.session_id, certificate, wrong).code == "signature-invalid"
    right = card.sign_auth_sha256(challenge_bytes(opened.session_id, "K1", opened.nonce))
    e = refused(center.authenticate_jpki, opened.session_id, certificate, right)
    assert (e.status, e.code) == (409, "nonce-used")
    with rig.world.engine.connect() as conn:
        kinds = [
            k for (k,) in conn.execute(select(center_audit.c.kind).order_by(center_audit.c.chain, center_audit.c.seq))
        ]
    assert kinds[-3:] == ["session.opened", "session.refused", "session.replay"]


def test_a_payment_replayed_after_the_answer_is_not_paid_twice(rig: Rig) -> None:
    center = rig.kiosk()
    sid, _ = login(center, rig.card("R1"))
    order = center.order(sid, "juminhyo")
    a = center.pay(order.order_id, {100: 1}, key="p-1")
    b = center.pay(order.order_id, {100: 1}, key="p-1")
    assert a == b
    with rig.world.engine.connect() as conn:
        rows = conn.execute(select(payments.c.amount).where(payments.c.order_id == order.order_id)).all()
    assert [r.amount for r in rows] == [100]


class CountingGateway:
    """The rig's issuer gateway, recording which of its methods the center calls."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return method(*args, **kwargs)

        return call


def test_authentication_asks_the_issuer_once_and_an_unknown_card_is_not_registered(rig: Rig) -> None:
    gateway = CountingGateway(rig.service.gateway)
    service = CenterService(rig.world.engine, gateway, rig.service.validator, rig.world.clock)
    center = CenterClient.in_process(create_app(service), "K1", rig.secrets["K1"])
    sid, authenticated = login(center, rig.card("R1"))
    assert gateway.calls == ["admit"]  # the card's resident and their menu in one call (was identify, then menu)
    assert authenticated.tenant == "282286" and {e.type for e in authenticated.menu.entries} >= {"juminhyo"}
    assert authenticated.menu == center.menu(sid)  # the same menu as the issuer's own menu call gives
    assert gateway.calls == ["admit", "menu"]

    gateway.calls.clear()
    opened = center.open_session()
    e = refused(center.authenticate_card_app, opened.session_id, "no-such-user")
    assert (e.status, e.code) == (422, "card-not-registered")
    assert gateway.calls == ["admit"]
    with rig.world.engine.connect() as conn:  # the refusal consumed the challenge, as before
        status = conn.execute(select(sessions.c.status).where(sessions.c.session_id == opened.session_id)).scalar_one()
    assert status == "refused"


def test_refusals_keep_their_precedence_credential_first_then_idempotency_key_then_body(rig: Rig) -> None:
    center = rig.kiosk()
    sid, _ = login(center, rig.card("R1"))
    order = center.order(sid, "juminhyo")
    path = f"/v1/orders/{order.order_id}/payments"
    bad = {"coins": {"7": 1}}
    wrong = {"X-Kiosk-Id": "K1", "Authorization": f"Bearer {rig.secrets['K2']}"}
    raw = center.http.post(path, json=bad, headers=wrong)  # wrong secret, no key, bad body
    assert (raw.status_code, raw.json()["error"]) == (401, "kiosk-unauthorized")
    raw = center.http.post(path, json=bad)  # no key, bad body
    assert (raw.status_code, raw.json()["error"]) == (400, "idempotency-key-required")
    raw = center.http.post(path, json=bad, headers={"Idempotency-Key": "k-1"})
    assert (raw.status_code, raw.json()["error"]) == (400, "bad-coins")


@pytest.mark.parametrize("path", ["/v1/orders/O-1/payments", "/v1/a?b#c\\d/%3F/é", "//double//slash"])
def test_the_idempotency_digest_path_is_starlettes_url_path(path: str) -> None:
    from starlette.requests import Request

    from kofu.center.api import _url_path

    scope = {
        "type": "http",
        "method": "POST",
        "scheme": "https",
        "server": ("127.0.0.1", 8001),
        "path": path,
        "query_string": b"x=1",
        "headers": [(b"host", b"center.example:8001")],
    }
    assert _url_path(scope) == Request(scope).url.path


def test_authentication_reads_session_and_challenge_together_and_the_card_link_once(rig: Rig) -> None:
    center = rig.kiosk()
    opened = center.open_session()
    card = rig.card("R1")
    card.verify_auth_pin("1234")
    signature = card.sign_auth_sha256(challenge_bytes(opened.session_id, center.kiosk_id, opened.nonce))
    with transactions(rig.world.engine) as txs:
        center.authenticate_jpki(opened.session_id, card.read_auth_certificate(), signature)
    statements = [s for tx in txs for s in tx]
    # the reader's and the writer's read of the session each bring its challenge (no read of the nonce alone)
    assert sum(s.startswith("SELECT center_sessions") for s in statements) == 2, statements
    assert not any(s.startswith("SELECT center_nonces") for s in statements), statements
    # admit decides the menu on the card link it read itself, in the same transaction
    assert sum(s.startswith("SELECT registry_card_links") for s in statements) == 1, statements
    replay = refused(center.authenticate_jpki, opened.session_id, card.read_auth_certificate(), signature)
    assert (replay.status, replay.code) == (409, "nonce-used")


def test_the_order_writer_touches_its_session_with_one_update(rig: Rig) -> None:
    center = rig.kiosk()
    sid, _ = login(center, rig.card("R1"))
    with transactions(rig.world.engine) as txs:
        center.order(sid, "juminhyo")
    writer = txs[-1]
    assert any(s.startswith("INSERT INTO center_orders") for s in writer), writer
    assert not any(s.startswith("SELECT center_sessions") for s in writer), writer
    assert sum(s.startswith("UPDATE center_sessions") for s in writer) == 1, writer


@pytest.mark.parametrize("meanwhile", ["expired", "idle", "almost-idle"])
def test_a_session_closed_while_quoting_gets_no_order(rig: Rig, meanwhile: str) -> None:
    """The writer re-checks the session, now in its UPDATE's WHERE: expired meanwhile (`expire` of another
    process) → 410 and no order; its staleness is `is_stale` to the microsecond (last seen `session_idle`
    ago: expired; a microsecond later: still good)."""
    center = rig.kiosk()
    sid, _ = login(center, rig.card("R1"))
    gateway = rig.service.gateway
    real_quote = gateway.quote
    idle = CenterSettings().session_idle

    def quote_meanwhile(*args: Any, **kwargs: Any) -> Any:
        now = rig.world.clock.now()
        if meanwhile == "expired":
            rig.service.expire(now + idle, session_id=sid)
        else:
            seen = now - idle + (timedelta(microseconds=1) if meanwhile == "almost-idle" else timedelta())
            with rig.world.engine.begin() as conn:
                conn.execute(update(sessions).where(sessions.c.session_id == sid).values(last_seen_at=seen))
        return real_quote(*args, **kwargs)

    gateway.quote = quote_meanwhile  # type: ignore[method-assign]
    try:
        if meanwhile == "almost-idle":
            assert center.order(sid, "juminhyo").status == "quoted"
            return
        e = refused(center.order, sid, "juminhyo")
    finally:
        gateway.quote = real_quote  # type: ignore[method-assign]
    assert (e.status, e.code) == (410, "session-expired")
    with rig.world.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(orders)).scalar_one() == 0


def test_a_delivery_is_one_update_and_an_order_closed_while_issuing_still_voids_its_document(rig: Rig) -> None:
    center = rig.kiosk()
    sid, _ = login(center, rig.card("R1"))
    order = center.order(sid, "juminhyo")
    center.pay(order.order_id, {500: 1})
    with transactions(rig.world.engine) as txs:
        center.documents(order.order_id)
    delivered = txs[-1]
    assert not any(s.startswith("SELECT center_orders") for s in delivered), delivered
    assert sum(s.startswith("UPDATE center_orders") for s in delivered) == 1, delivered

    order = center.order(sid, "juminhyo")
    center.pay(order.order_id, {500: 1})
    gateway = rig.service.gateway
    real_issue = gateway.issue
    issued: list[Any] = []

    def issue_then_time_out(*args: Any, **kwargs: Any) -> Any:
        doc = real_issue(*args, **kwargs)
        issued.append(doc)
        rig.service.expire(rig.world.clock.now() + CenterSettings().order_timeout)  # the order times out
        return doc

    gateway.issue = issue_then_time_out  # type: ignore[method-assign]
    try:
        e = refused(center.documents, order.order_id)
    finally:
        gateway.issue = real_issue  # type: ignore[method-assign]
    assert (e.status, e.code) == (410, "order-expired")
    (doc,) = issued
    record = rig.world.issuer.lookup(doc.tenant, doc.number)
    assert record is not None and record.status == "voided"
    with rig.world.engine.connect() as conn:
        kinds = [k for (k,) in conn.execute(select(center_audit.c.kind).order_by(center_audit.c.at))]
        status = conn.execute(select(orders.c.status).where(orders.c.order_id == order.order_id)).scalar_one()
    assert "order.late-delivery" in kinds and status == "refunded"
