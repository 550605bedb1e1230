"""JpkiClient over the in-process reader: what a kiosk does with the card."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from kofu.card.chip import Card
from kofu.card.client import CardError, JpkiClient, PinBlocked, WrongPin
from kofu.card.readers import InProcessReader, Reader
from tests.card.helpers import AUTH_PIN, CARD_AP_PIN, HOLDER, KENMEN_PIN, SIGN_PASSWORD, USER_ID


@pytest.fixture
def client(card: Card) -> JpkiClient:
    reader = InProcessReader(card)
    assert isinstance(reader, Reader)
    reader.connect()
    return JpkiClient(reader)


def test_read_public_parts(client: JpkiClient, card: Card) -> None:
    assert client.read_token() == b"JPKIAPICCTOKEN2" + b" " * 17
    assert client.read_auth_certificate() == card.certificate("auth")
    assert client.read_auth_ca_certificate() == card.ca_certificate("auth")
    assert client.read_sign_ca_certificate() == card.ca_certificate("sign")
    assert client.read_card_app_user_id() == USER_ID


def test_auth_pin_and_signature(client: JpkiClient) -> None:
    assert client.auth_pin_status() == 3
    with pytest.raises(WrongPin) as wrong:
        client.verify_auth_pin("0000")
    assert wrong.value.tries_left == 2 and wrong.value.sw == 0x63C2
    with pytest.raises(CardError) as refused:
        client.sign_auth_sha256(b"challenge")
    assert refused.value.sw == 0x6982
    client.verify_auth_pin(AUTH_PIN)
    assert client.auth_pin_status() == 3
    signature = client.sign_auth_sha256(b"challenge")
    cert = x509.load_der_x509_certificate(client.read_auth_certificate())
    public = cert.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    public.verify(signature, b"challenge", padding.PKCS1v15(), hashes.SHA256())
    client.reset()
    with pytest.raises(CardError):
        client.sign_auth_sha256(b"challenge")


def test_blocking(client: JpkiClient) -> None:
    for left in (2, 1):
        with pytest.raises(WrongPin) as wrong:
            client.verify_auth_pin("0000")
        assert wrong.value.tries_left == left
    with pytest.raises(PinBlocked):
        client.verify_auth_pin("0000")
    with pytest.raises(PinBlocked):
        client.verify_auth_pin(AUTH_PIN)
    assert client.auth_pin_status() == 0


def test_change_auth_pin(client: JpkiClient) -> None:
    client.change_auth_pin(AUTH_PIN, "8642")
    client.reset()
    with pytest.raises(WrongPin):
        client.verify_auth_pin(AUTH_PIN)
    client.verify_auth_pin("8642")


def test_signing_certificate_and_key(client: JpkiClient, card: Card) -> None:
    with pytest.raises(CardError) as refused:
        client.read_sign_certificate()
    assert refused.value.sw == 0x6982
    assert client.sign_password_status() == 5
    client.verify_sign_password(SIGN_PASSWORD)
    der = client.read_sign_certificate()
    assert der == card.certificate("sign")
    signature = client.sign_sign_sha256(b"contract")
    public = x509.load_der_x509_certificate(der).public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    public.verify(signature, b"contract", padding.PKCS1v15(), hashes.SHA256())
    client.change_sign_password(SIGN_PASSWORD, "NEWPASS9")
    client.reset()
    client.verify_sign_password("NEWPASS9")


def test_kenmen(client: JpkiClient) -> None:
    with pytest.raises(WrongPin):
        client.read_kenmen("0000")
    info = client.read_kenmen(KENMEN_PIN)
    assert info == {
        "name": HOLDER.name,
        "address": HOLDER.address,
        "birth_date": dt.date(1980, 4, 1),
        "sex": "1",
        "my_number": HOLDER.my_number,
    }


def test_card_app_pin(client: JpkiClient) -> None:
    assert client.card_app_pin_status() == 3
    client.verify_card_app_pin(CARD_AP_PIN)
    with pytest.raises(WrongPin):
        client.verify_card_app_pin("0001")


def test_card_app_proves_the_card_after_its_pin(client: JpkiClient) -> None:
    public = serialization.load_der_public_key(client.read_card_app_public_key())  # no PIN needed
    assert isinstance(public, ec.EllipticCurvePublicKey)
    with pytest.raises(CardError) as refused:
        client.card_app_authenticate(b"challenge")
    assert refused.value.sw == 0x6982
    client.verify_card_app_pin(CARD_AP_PIN)
    public.verify(client.card_app_authenticate(b"challenge"), b"challenge", ec.ECDSA(hashes.SHA256()))
    assert client.card_app_pin_status() == 3
    with pytest.raises(ValueError):
        client.card_app_authenticate(b"x" * 256)  # longer than a short APDU carries
    client.reset()
    with pytest.raises(CardError) as after_reset:
        client.card_app_authenticate(b"challenge")
    assert after_reset.value.sw == 0x6982
