"""Test-only personalisation: a throwaway self-signed CA made with `cryptography` issues the card's
certificates, standing in for the JPKI authority until the window operations land."""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from kofu.card.chip import Card, Holder, Slot

AUTH_PIN = "1234"
SIGN_PASSWORD = "ABC123"
KENMEN_PIN = "5678"
CARD_AP_PIN = "4321"
USER_ID = "2820100000012345"

HOLDER = Holder(
    name="加東 太郎",
    address="兵庫県加東市社50番地",
    birth_date=dt.date(1980, 4, 1),
    sex="1",
    my_number="123456789018",
)


class ThrowawayCa:
    def __init__(self, slot: Slot) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ou = "JPKI for user authentication" if slot == "auth" else "JPKI for digital signature"
        self.name = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "JPKI"),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "kofu test CA"),
            ]
        )
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(self.name)
            .issuer_name(self.name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(self.key, hashes.SHA256())
        )

    def issue(self, public_key: rsa.RSAPublicKey, cn: str) -> x509.Certificate:
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        return (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"), x509.NameAttribute(NameOID.COMMON_NAME, cn)])
            )
            .issuer_name(self.name)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=5 * 365))
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
            .sign(self.key, hashes.SHA256())
        )

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)


def personalise(card: Card | None = None, *, with_sign: bool = True) -> Card:
    """A fully personalised, locked card with the PINs above."""
    card = card or Card.new(HOLDER, user_id=USER_ID)
    card.set_pin("auth", AUTH_PIN)
    card.set_pin("kenmen", KENMEN_PIN)
    card.set_pin("card_ap", CARD_AP_PIN)
    slots: tuple[Slot, ...] = ("auth", "sign") if with_sign else ("auth",)
    for slot in slots:
        ca = ThrowawayCa(slot)
        cert = ca.issue(card.generate_key(slot), f"kofu-test-{slot}-{card.card_id}")
        card.install_certificate(slot, cert.public_bytes(serialization.Encoding.DER), ca.der)
    if with_sign:
        card.set_pin("sign", SIGN_PASSWORD)
    card.generate_card_ap_key()
    card.lock_personalisation()
    return card
