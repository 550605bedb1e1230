"""`LocalCenter`, the kiosk → center link in one process without HTTP: the kiosk flow prints every type of the
benchmark mix over it, and what a kiosk sees — refusals (code, status, messages, refusals), idempotency
replays, the request id — is what it sees over the HTTP API (`CenterClient.in_process`), run side by side."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from kofu.bench.e2e import FLOAT, MIX, _readers
from kofu.bench.world import PIN, BenchWorld, build_world
from kofu.center.client import CenterClient, CenterRefused
from kofu.center.gateway import InProcessGateway
from kofu.center.local import LocalCenter
from kofu.center.protocol import RefusalView, challenge_bytes
from kofu.center.service import CenterService
from kofu.center.store import idempotency
from kofu.issuer.service import Menu
from kofu.jpki import RevocationReason, in_process_validator
from kofu.kiosk.devices import CardSlot, CoinVendor, Printer, ReceiptPrinter, Speaker
from kofu.kiosk.flow import Devices, Kiosk, Script
from kofu.ops import current_request_id
from kofu.registry.model import CardLink
from kofu.verify.service import Outcome

from .conftest import Rig, login

Center = CenterClient | LocalCenter
Refusal = tuple[int, str, str, str, list[RefusalView]]


def local(rig: Rig, kiosk_id: str = "K1", secret: str | None = None) -> LocalCenter:
    return LocalCenter(rig.service, kiosk_id, secret if secret is not None else rig.secrets[kiosk_id])


def both(rig: Rig, kiosk_id: str = "K1", secret: str | None = None) -> dict[str, Center]:
    return {"asgi": rig.kiosk(kiosk_id, secret), "direct": local(rig, kiosk_id, secret)}


def refusal(fn: Callable[..., object], *args: Any, **kwargs: Any) -> Refusal:
    with pytest.raises(CenterRefused) as info:
        fn(*args, **kwargs)
    e = info.value
    assert e.message_en and e.message_ja
    return (e.status, e.code, e.message_en, e.message_ja, e.refusals)


def same(outcomes: dict[str, Refusal]) -> Refusal:
    """The one refusal both transports gave."""
    assert outcomes["direct"] == outcomes["asgi"]
    return outcomes["direct"]


# ---- the whole kiosk flow, the benchmark's world and mix ----


@pytest.fixture(scope="module")
def bench_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BenchWorld]:
    world = build_world(tmp_path_factory.mktemp("bench") / "home", households=1, kiosks=1)
    yield world
    world.container.engine.dispose()


def test_the_kiosk_flow_prints_every_type_of_the_bench_mix_and_the_documents_verify(
    bench_world: BenchWorld, tmp_path: Path
) -> None:
    from kofu.web import center_service

    service = center_service(bench_world.container)
    ((kid, secret),) = bench_world.kiosks.items()
    reader = _readers(bench_world, 1)[0]
    devices = Devices(CardSlot(), CoinVendor(FLOAT), Printer(tmp_path), Speaker(), ReceiptPrinter(tmp_path))
    kiosk = Kiosk(LocalCenter(service, kid, secret), devices)
    verifier = bench_world.container.verifier
    for ctype, kind, items in MIX:
        result = kiosk.run(Script(card=reader, pins=[PIN], type=ctype, kind=kind, items=items, coins=[500]))
        assert result.ok and result.status == "completed", (ctype, result.refusal, result.message_en)
        assert result.receipt and Path(result.receipt).exists() and result.files
        for name in result.files:
            verdict = verifier.verify_pdf(Path(name).read_bytes())
            assert verdict.outcome is Outcome.VALID, (ctype, verdict)
            assert verdict.number is not None and result.number and result.number.endswith(f"{verdict.number:07d}")
        assert result.order_id is not None
        assert service.money_balance(result.order_id) == {"in": 500, "refund": 0, "change": 500 - result.total}
    assert service.verify_audit() == []


def test_a_wrong_secret_stops_the_kiosk_flow_before_the_card_is_read(bench_world: BenchWorld, tmp_path: Path) -> None:
    from kofu.web import center_service

    ((kid, _),) = bench_world.kiosks.items()
    devices = Devices(CardSlot(), CoinVendor(FLOAT), Printer(tmp_path), Speaker(), ReceiptPrinter(tmp_path))
    kiosk = Kiosk(LocalCenter(center_service(bench_world.container), kid, "not-the-secret"), devices)
    result = kiosk.run(Script(card=_readers(bench_world, 1)[0], pins=[PIN], type="juminhyo", coins=[500]))
    assert not result.ok and result.refusal == "kiosk-unauthorized" and result.files == []


# ---- refusals: the same code, status, messages and refusals as over HTTP ----


def test_a_wrong_or_unknown_kiosk_credential(rig: Rig) -> None:
    for kid, secret in (("K1", rig.secrets["K2"]), ("K9", "x"), ("K1", "")):
        status, code, *_ = same({t: refusal(c.open_session) for t, c in both(rig, kid, secret).items()})
        assert (status, code) == (401, "kiosk-unauthorized")
    assert same({t: refusal(c.menu, "no-such-session") for t, c in both(rig, "K1", "x").items()})[0] == 401


def test_card_refusals(rig: Rig) -> None:
    status, code, _, _, refusals = same({t: refusal(login, c, rig.card("R5")) for t, c in both(rig).items()})
    assert (status, code, [r.code for r in refusals]) == (422, "not-eligible", ["under-15"])

    outcomes = {}
    for t, c in both(rig).items():  # a signature made for another kiosk
        opened = c.open_session()
        card = rig.card("R1")
        card.verify_auth_pin("1234")
        sig = card.sign_auth_sha256(challenge_bytes(opened.session_id, "K2", opened.nonce))
        outcomes[t] = refusal(c.authenticate_jpki, opened.session_id, card.read_auth_certificate(), sig)
    assert same(outcomes)[:2] == (401, "signature-invalid")

    rig.window.revoke_card(rig.cards["R1"].auth_serial, RevocationReason.LOSS)
    assert same({t: refusal(login, c, rig.card("R1")) for t, c in both(rig).items()})[:2] == (422, "revoked")


def test_order_payment_and_session_refusals(rig: Rig) -> None:
    cases: dict[str, Callable[[Center, str, str], Refusal]] = {
        "too many copies": lambda c, sid, oid: refusal(c.order, sid, "juminhyo", copies=6),
        "unknown type": lambda c, sid, oid: refusal(c.order, sid, "koseki"),
        "an item not allowed": lambda c, sid, oid: refusal(c.order, sid, "kisai", items=["honseki"]),
        "a 5-yen coin": lambda c, sid, oid: refusal(c.pay, oid, {5: 1}),
        "2000 coins": lambda c, sid, oid: refusal(c.pay, oid, {100: 2000}),
        "not paid": lambda c, sid, oid: refusal(c.documents, oid),
        "a job before payment": lambda c, sid, oid: refusal(c.print_result, oid, "no-such-job", True),
        "no such order": lambda c, sid, oid: refusal(c.pay, "no-such-order", {100: 1}),
        "no such session": lambda c, sid, oid: refusal(c.menu, "no-such-session"),
        "a key too long": lambda c, sid, oid: refusal(c.pay, oid, {100: 1}, key="k" * 129),
        "a proof too long": lambda c, sid, oid: refusal(c.prove_card_app, sid, b"s" * 600),
        "a jpki session's proof": lambda c, sid, oid: refusal(c.prove_card_app, sid, b"s" * 64),
    }
    seen: dict[str, dict[str, Refusal]] = {name: {} for name in cases}
    for t, c in both(rig).items():
        sid, _ = login(c, rig.card("R1"))
        oid = c.order(sid, "juminhyo").order_id
        for name, case in cases.items():
            seen[name][t] = case(c, sid, oid)
        k2 = local(rig, "K2") if t == "direct" else rig.kiosk("K2")
        seen.setdefault("another kiosk's order", {})[t] = refusal(k2.pay, oid, {500: 1})
        seen.setdefault("another kiosk's session", {})[t] = refusal(k2.menu, sid)
        c.cancel(oid)
        seen.setdefault("cancelled twice", {})[t] = refusal(c.cancel, oid)
    got = {name: same(outcomes)[:2] for name, outcomes in seen.items()}
    assert got == {
        "too many copies": (422, "not-eligible"),
        "unknown type": (400, "invalid-request"),
        "an item not allowed": (422, "not-eligible"),
        "a 5-yen coin": (400, "bad-coins"),
        "2000 coins": (400, "bad-coins"),
        "not paid": (409, "payment-due"),
        "a job before payment": (409, "order-state"),
        "no such order": (404, "unknown-order"),
        "no such session": (404, "unknown-session"),
        "a key too long": (400, "idempotency-key-required"),
        "a proof too long": (400, "invalid-request"),
        "a jpki session's proof": (409, "not-card-app-session"),
        "another kiosk's order": (403, "foreign-order"),
        "another kiosk's session": (403, "foreign-session"),
        "cancelled twice": (409, "order-closed"),
    }


# ---- idempotency: the same machinery as the API's ----


def test_a_repeated_key_replays_the_answer_and_charges_once(rig: Rig) -> None:
    center = local(rig)
    sid, _ = login(center, rig.card("R1"))
    order = center.order(sid, "juminhyo")
    first = center.pay(order.order_id, {100: 1}, key="coin-1")
    again = center.pay(order.order_id, {100: 1}, key="coin-1")
    assert first == again and again.paid == 100
    e = refusal(center.pay, order.order_id, {100: 2}, key="coin-1")
    assert e[:2] == (409, "idempotency-key-reused")
    assert rig.service.money_balance(order.order_id)["in"] == 100
    # an error answer is stored and replayed too
    quoted = refusal(center.order, sid, "juminhyo", copies=6, key="six")
    assert refusal(center.order, sid, "juminhyo", copies=6, key="six") == quoted
    with rig.world.engine.connect() as conn:
        i = idempotency
        row = conn.execute(select(i.c.status_code).where(i.c.kiosk_id == "K1", i.c.key == "six")).one()
    assert row.status_code == 422
    # documents are never stored: the same key issues again and the issuer voids the earlier document
    center.pay(order.order_id, {500: 1})
    (a,) = center.documents(order.order_id, key="docs").jobs
    (b,) = center.documents(order.order_id, key="docs").jobs
    assert rig.world.verifier.verify_pdf(a.pdf_bytes()).outcome is Outcome.VOIDED
    assert rig.world.verifier.verify_pdf(b.pdf_bytes()).outcome is Outcome.VALID
    assert center.print_result(order.order_id, b.job_id, ok=True).change == 350
    assert rig.service.money_balance(order.order_id) == {"in": 600, "refund": 0, "change": 350}


def test_a_key_first_used_over_http_replays_over_local_and_back(rig: Rig) -> None:
    """The same request hash: a retry may cross transports and is still the same request."""
    http, direct = rig.kiosk(), local(rig)
    opened = http.open_session(key="open-1")
    assert direct.open_session(key="open-1") == opened
    sid, _ = login(direct, rig.card("R1"))
    order = direct.order(sid, "juminhyo", key="order-1")
    assert http.order(sid, "juminhyo", key="order-1") == order
    paid = direct.pay(order.order_id, {500: 1}, key="coin-1")
    assert http.pay(order.order_id, {500: 1}, key="coin-1") == paid
    assert refusal(http.pay, order.order_id, {100: 1}, key="coin-1")[:2] == (409, "idempotency-key-reused")
    assert rig.service.money_balance(order.order_id)["in"] == 500


# ---- the request id reaches the issuer gateway as over HTTP ----


class RecordingGateway(InProcessGateway):
    """The real in-process issuer; remembers the request id each card check (`admit`) ran under."""

    seen: list[str | None]

    def admit(
        self, *, at: datetime, cert_serial: str | None = None, card_app_user_id: str | None = None
    ) -> tuple[CardLink, Menu] | None:
        self.seen.append(current_request_id())
        return super().admit(at=at, cert_serial=cert_serial, card_app_user_id=card_app_user_id)


def test_the_request_id_is_bound_for_the_center_and_its_issuer_calls(rig: Rig) -> None:
    gateway = RecordingGateway(rig.world.issuer)
    gateway.seen = []
    service = CenterService(
        rig.world.engine, gateway, in_process_validator(rig.authority, cache_seconds=0), rig.world.clock
    )
    from kofu.center.api import create_app

    centers: dict[str, Center] = {
        "asgi": CenterClient.in_process(create_app(service), "K1", rig.secrets["K1"]),
        "direct": LocalCenter(service, "K1", rig.secrets["K1"]),
    }
    for t, center in centers.items():
        opened = center.open_session(request_id=f"txn-{t}")
        card = rig.card("R1")
        card.verify_auth_pin("1234")
        sig = card.sign_auth_sha256(challenge_bytes(opened.session_id, "K1", opened.nonce))
        center.authenticate_jpki(opened.session_id, card.read_auth_certificate(), sig)
    assert gateway.seen == ["txn-asgi", "txn-direct"]
    assert current_request_id() is None  # unbound after the call


def test_an_unexpected_error_is_logged_and_raised_as_the_500_a_kiosk_gets(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    from sqlalchemy.exc import SQLAlchemyError

    from kofu.center.store import nonces

    center = local(rig)
    nonces.drop(rig.world.engine)  # the database breaks under the center
    with pytest.raises(CenterRefused) as info:
        center.open_session(key="open-1")
    e = info.value
    assert (e.status, e.code, e.message_en, e.refusals) == (500, "http-error", "HTTP 500", [])
    assert isinstance(e.__cause__, SQLAlchemyError)
    assert any(r.name == "kofu.center.local" and r.exc_info for r in caplog.records)
    with rig.world.engine.connect() as conn:  # the key is not left held: a retry runs again
        assert conn.execute(select(idempotency).where(idempotency.c.key == "open-1")).first() is None
