"""The card-app method (カードAP方式) at the center: the user id alone opens only a provisional session; an
order needs the card AP's signature over the session's challenge, made after its PIN and checked against the
key registered at the window — once per session."""

from __future__ import annotations

import base64
import os
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from kofu.card.client import CardError, JpkiClient, WrongPin
from kofu.center.client import CenterClient, CenterRefused
from kofu.center.protocol import challenge_bytes
from kofu.center.store import sessions
from kofu.registry.store import cards as card_links

from .conftest import Rig, login


def allow_card_app(rig: Rig) -> None:
    path = rig.world.issuer.tenants.directory / "282286.toml"
    text = path.read_text(encoding="utf-8")
    if "card_method" not in text:
        path.write_text(text.replace('stage = "live"', 'stage = "live"\ncard_method = "both"', 1), encoding="utf-8")
        os.utime(path, ns=(time.time_ns(), time.time_ns() + 5_000_000))  # the issuer reloads on a new mtime


def card_app_login(rig: Rig, center: CenterClient, resident_id: str) -> tuple[str, str, JpkiClient]:
    """A card-app session up to the PIN: (session id, nonce, the card on the reader)."""
    card = rig.card(resident_id)
    opened = center.open_session()
    auth = center.authenticate_card_app(opened.session_id, card.read_card_app_user_id())
    assert auth.tenant == "282286" and any(e.type == "juminhyo" and e.available for e in auth.menu.entries)
    return opened.session_id, opened.nonce, card


def proof(card: JpkiClient, center: CenterClient, sid: str, nonce: str, pin: str = "1234") -> bytes:
    card.verify_card_app_pin(pin)
    return card.card_app_authenticate(challenge_bytes(sid, center.kiosk_id, nonce))


def status(rig: Rig, sid: str) -> str:
    with rig.world.engine.connect() as conn:
        return str(conn.execute(select(sessions.c.status).where(sessions.c.session_id == sid)).scalar_one())


def refusal(fn: object, *args: object) -> CenterRefused:
    with pytest.raises(CenterRefused) as info:
        fn(*args)  # type: ignore[operator]
    return info.value


@pytest.fixture
def card_app(rig: Rig) -> Rig:
    allow_card_app(rig)
    return rig


def test_the_user_id_gives_a_menu_but_no_order_until_the_card_proves_itself(card_app: Rig) -> None:
    rig = card_app
    center = rig.kiosk("K1")
    sid, nonce, card = card_app_login(rig, center, "R1")
    assert status(rig, sid) == "provisional"
    assert any(e.type == "juminhyo" for e in center.menu(sid).entries)  # the type is chosen before the PIN
    e = refusal(center.order, sid, "juminhyo")
    assert (e.status, e.code) == (409, "card-app-proof-required")
    assert "暗証番号" in e.message_ja and "PIN" in e.message_en

    menu = center.prove_card_app(sid, proof(card, center, sid, nonce))
    assert any(e.type == "juminhyo" and e.available for e in menu.entries)
    assert status(rig, sid) == "authenticated"
    quoted = center.order(sid, "juminhyo")
    center.pay(quoted.order_id, {"500": 1})
    (job,) = center.documents(quoted.order_id).jobs
    assert center.print_result(quoted.order_id, job.job_id, ok=True).status == "completed"
    assert rig.service.verify_audit() == []


def test_a_signature_is_used_once_and_only_in_its_own_session(card_app: Rig) -> None:
    rig = card_app
    center = rig.kiosk("K1")
    sid, nonce, card = card_app_login(rig, center, "R1")
    signature = proof(card, center, sid, nonce)
    center.prove_card_app(sid, signature)
    e = refusal(center.prove_card_app, sid, signature)  # the same proof again, with a new Idempotency-Key
    assert (e.status, e.code) == (409, "card-app-proof-used")
    assert "使用済み" in e.message_ja

    other, _, _ = card_app_login(rig, center, "R1")  # the old signature in a new session of the same card
    e = refusal(center.prove_card_app, other, signature)
    assert (e.status, e.code) == (401, "card-app-signature-invalid")
    assert "署名" in e.message_ja and "signature" in e.message_en
    assert status(rig, other) == "refused"
    assert refusal(center.order, other, "juminhyo").status == 409


def test_another_cards_signature_or_a_wrong_one_refuses_the_session_for_good(card_app: Rig) -> None:
    rig = card_app
    center = rig.kiosk("K1")
    sid, nonce, card = card_app_login(rig, center, "R1")
    stranger = rig.card("R2")  # the attacker's own card, with its own PIN, signs R1's session challenge
    e = refusal(center.prove_card_app, sid, proof(stranger, center, sid, nonce))
    assert (e.status, e.code) == (401, "card-app-signature-invalid")
    e = refusal(center.prove_card_app, sid, proof(card, center, sid, nonce))  # one try per session
    assert (e.status, e.code) == (409, "card-app-proof-used")
    assert refusal(center.order, sid, "juminhyo").status in (409, 410)

    sid, _, _ = card_app_login(rig, center, "R1")
    e = refusal(center.prove_card_app, sid, b"\x30\x06\x02\x01\x01\x02\x01\x01")  # a well-formed but bogus one
    assert (e.status, e.code) == (401, "card-app-signature-invalid")
    sid, _, _ = card_app_login(rig, center, "R1")
    raw = center.http.post(
        f"/v1/sessions/{sid}/card-app-proof",
        json={"signature": "not base64!"},
        headers={"Idempotency-Key": "bad-b64"},
    )
    assert raw.status_code == 400 and raw.json()["error"] == "invalid-request"


def test_without_the_pin_or_with_it_blocked_the_card_gives_no_proof(card_app: Rig) -> None:
    rig = card_app
    center = rig.kiosk("K1")
    sid, nonce, card = card_app_login(rig, center, "R1")
    with pytest.raises(CardError) as no_pin:
        card.card_app_authenticate(challenge_bytes(sid, center.kiosk_id, nonce))
    assert no_pin.value.sw == 0x6982
    for _ in range(3):
        with pytest.raises(CardError):
            card.verify_card_app_pin("0000")
    with pytest.raises(CardError):
        card.verify_card_app_pin("1234")  # blocked: the right PIN does not open it either
    with pytest.raises(CardError) as blocked:
        card.card_app_authenticate(challenge_bytes(sid, center.kiosk_id, nonce))
    assert blocked.value.sw == 0x6982
    assert refusal(center.order, sid, "juminhyo").code == "card-app-proof-required"


def test_another_kiosk_cannot_prove_or_use_the_session(card_app: Rig) -> None:
    rig = card_app
    k1, k2 = rig.kiosk("K1"), rig.kiosk("K2")
    sid, nonce, card = card_app_login(rig, k1, "R1")
    card.verify_card_app_pin("1234")
    for_k2 = card.card_app_authenticate(challenge_bytes(sid, "K2", nonce))
    e = refusal(k2.prove_card_app, sid, for_k2)
    assert (e.status, e.code) == (403, "foreign-session")
    e = refusal(k1.prove_card_app, sid, for_k2)  # signed for K2's challenge: not this session's
    assert (e.status, e.code) == (401, "card-app-signature-invalid")


def test_a_card_registered_without_a_card_ap_key_is_refused(card_app: Rig) -> None:
    rig = card_app
    center = rig.kiosk("K1")
    sid, nonce, card = card_app_login(rig, center, "R1")
    with rig.world.engine.begin() as conn:  # a card issued before the card AP had its own key
        conn.execute(update(card_links).values(card_app_public_key=None))
    e = refusal(center.prove_card_app, sid, proof(card, center, sid, nonce))
    assert (e.status, e.code) == (422, "card-app-key-missing")
    assert "窓口" in e.message_ja


def test_a_jpki_session_has_no_card_app_proof(card_app: Rig) -> None:
    rig = card_app
    center = rig.kiosk("K1")
    sid, _ = login(center, rig.card("R1"))
    e = refusal(center.prove_card_app, sid, b"\x00")
    assert (e.status, e.code) == (409, "not-card-app-session")


def test_the_public_key_is_the_one_the_window_registered(card_app: Rig) -> None:
    rig = card_app
    card = rig.card("R1")
    link = rig.world.issuer.identify(card_app_user_id=card.read_card_app_user_id())
    assert link is not None and link.card_app_public_key is not None
    assert base64.b64decode(link.card_app_public_key) == card.read_card_app_public_key()
    with pytest.raises(WrongPin):
        card.verify_card_app_pin("0000")


def test_a_provisional_session_expires_like_any_other(card_app: Rig) -> None:
    rig = card_app
    center = rig.kiosk("K1")
    sid, nonce, card = card_app_login(rig, center, "R1")
    rig.service.expire(rig.world.clock.now() + timedelta(hours=1))
    assert status(rig, sid) == "expired"
    e = refusal(center.prove_card_app, sid, proof(card, center, sid, nonce))
    assert e.status == 410
