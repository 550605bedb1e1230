"""The card-app method's proof of the card (カードAP方式).

The card's user id is readable without its PIN, so it only *names* the card: a session authenticated with it
is `provisional` (menu only). After the customer chose the type and entered the card-AP PIN, the card AP signs
the session's challenge (`challenge_bytes(session_id, kiosk_id, nonce)`) with its own key — ECDSA P-256 over
SHA-256, DER — and only a signature that the card link's registered public key verifies turns the session
`authenticated`; orders need that. One proof per session: a second one (a replay) is refused.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from kofu.center.protocol import unb64

PROVISIONAL = "provisional"  # session status: card-app user id known, the card not yet proven


def card_app_signature_ok(public_key_b64: str, signature: bytes, data: bytes) -> bool:
    """Does the registered card-AP key (base64 DER SubjectPublicKeyInfo, P-256) verify `signature` over `data`?"""
    try:
        key = serialization.load_der_public_key(unb64(public_key_b64))
    except ValueError:
        return False
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        return False
    try:
        key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


# (status, code, English, Japanese) of each refusal on this path
PROOF_REQUIRED = (
    409,
    "card-app-proof-required",
    "The card and its PIN have not been confirmed yet: enter the PIN with the card on the reader.",
    "カードと暗証番号の確認が済んでいません。カードを置いたまま暗証番号を入力してください。",
)
PROOF_USED = (
    409,
    "card-app-proof-used",
    "This session's card confirmation was already used; start again with a new session.",
    "このカードの確認は使用済みです。最初からやり直してください。",
)
NOT_CARD_APP = (
    409,
    "not-card-app-session",
    "This session was not opened with a card-app user id.",
    "このセッションはカードアプリケーション方式ではありません。",
)
SIGNATURE_INVALID = (
    401,
    "card-app-signature-invalid",
    "The card could not be confirmed (its signature does not match). Please start again and place the card.",
    "カードを確認できませんでした（署名が一致しません）。最初からやり直してカードを置いてください。",
)
NOT_REGISTERED = (
    422,
    "card-not-registered",
    "This card is not registered with any participating municipality.",
    "このカードはコンビニ交付に対応した市区町村に登録されていません。",
)
KEY_MISSING = (
    422,
    "card-app-key-missing",
    "This card's application cannot confirm the card; please have the card renewed at the municipal office.",
    "このカードのカードアプリケーションは確認に対応していません。市区町村窓口で更新してください。",
)
