"""Issuing both kinds of certificate for a card key, recording and revoking them (SQLite and PostgreSQL)."""

from __future__ import annotations

import stat
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID
from sqlalchemy import Engine

from kofu.common.clock import JST, FixedClock
from kofu.common.errors import Conflict, InvalidInput, NotFound
from kofu.jpki.ca import sign_attributes
from kofu.jpki.model import POLICY_AUTH, POLICY_SIGN, CertKind, CertStatus, RevocationReason, serial_hex
from kofu.jpki.service import Authority
from kofu.jpki.store import JpkiStore

from .conftest import BIRTH


def _ou(name: x509.Name) -> list[str]:
    return [str(a.value) for a in name.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)]


def test_the_two_roots(authority: Authority, jpki_keys: Path) -> None:
    auth, sign = authority.ca_certificate("auth"), authority.ca_certificate("sign")
    assert auth.subject.rfc4514_string() == (
        "OU=Japan Agency for Local Authority Information Systems,OU=JPKI for user authentication,O=JPKI,C=JP"
    )
    assert _ou(sign.subject) == ["JPKI for digital signature", "Japan Agency for Local Authority Information Systems"]
    for ca in (auth, sign):
        assert ca.issuer == ca.subject
        ca.verify_directly_issued_by(ca)
        pub = ca.public_key()
        assert isinstance(pub, rsa.RSAPublicKey) and pub.key_size == 2048
        assert ca.signature_algorithm_oid == x509.SignatureAlgorithmOID.RSA_WITH_SHA256
        assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    for kind in ("auth", "sign"):
        assert stat.S_IMODE((jpki_keys / kind / "key.pem").stat().st_mode) == 0o600
    for holder in (authority, authority.ca("auth")):  # nothing public hands out a private key
        public = [getattr(holder, n) for n in dir(holder) if not n.startswith("_") and not callable(getattr(holder, n))]
        assert not any(isinstance(v, rsa.RSAPrivateKey) for v in public)


def test_a_second_authority_reuses_the_roots(engine: Engine, jpki_keys: Path, clock: FixedClock) -> None:
    a, b = Authority(engine, jpki_keys, clock), Authority(engine, jpki_keys, clock)
    assert a.ca_pem("auth") == b.ca_pem("auth") and a.ca_pem("sign") == b.ca_pem("sign")


def test_auth_certificate_profile(authority: Authority, card_key: rsa.RSAPrivateKey, clock: FixedClock) -> None:
    cert = authority.issue_auth_certificate(card_key.public_key(), birth_date=BIRTH, issued_at=clock.now())
    ca = authority.ca_certificate("auth")
    cert.verify_directly_issued_by(ca)
    assert cert.public_key() == card_key.public_key()
    assert [a.oid for a in cert.subject] == [NameOID.COUNTRY_NAME, NameOID.COMMON_NAME]
    cn = str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)
    assert len(cn) == 24 and "1980" not in cn  # opaque, no personal data
    assert cert.serial_number.bit_length() >= 64
    assert cert.not_valid_before_utc == clock.now()
    assert cert.not_valid_after_utc == datetime(2029, 6, 15, 23, 59, 59, tzinfo=JST)
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and not ku.value.content_commitment
    policies = cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
    assert [p.policy_identifier for p in policies] == [POLICY_AUTH]
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski.digest == x509.SubjectKeyIdentifier.from_public_key(card_key.public_key()).digest
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    cdp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert cdp[0].full_name == [x509.UniformResourceIdentifier("http://127.0.0.1:8080/crl/auth.crl")]
    aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    ocsp_urls = [d.access_location.value for d in aia if d.access_method == AuthorityInformationAccessOID.OCSP]
    assert ocsp_urls == ["http://127.0.0.1:8080/ocsp"]
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)


def test_sign_certificate_profile(
    engine: Engine, jpki_keys: Path, card_key: rsa.RSAPrivateKey, clock: FixedClock
) -> None:
    authority = Authority(engine, jpki_keys, clock, base_url="https://jpki.example.jp/")
    cert = authority.issue_sign_certificate(
        card_key.public_key(),
        name="加東　太郎",
        name_kana="かとう　たろう",
        sex="male",
        birth_date=date(1984, 2, 29),
        address="兵庫県加東市社５０番地",
        issued_at=clock.now(),
    )
    cert.verify_directly_issued_by(authority.ca_certificate("sign"))
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and ku.value.content_commitment
    policies = cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
    assert [p.policy_identifier for p in policies] == [POLICY_SIGN]
    assert sign_attributes(cert) == {
        "1.2.392.200149.8.5.5.1": "加東　太郎",
        "1.2.392.200149.8.5.5.2": "かとう　たろう",
        "1.2.392.200149.8.5.5.3": "1",
        "1.2.392.200149.8.5.5.4": "19840229",
        "1.2.392.200149.8.5.5.5": "兵庫県加東市社５０番地",
    }
    # issued 1 April 2025, after the birthday: 2026 … 2030; 2030 is no leap year, so 28 February
    assert cert.not_valid_after_utc == datetime(2030, 2, 28, 23, 59, 59, tzinfo=JST)
    aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert aia[0].access_location.value == "https://jpki.example.jp/ocsp"


def test_sign_certificate_with_an_alternative_address(
    authority: Authority, card_key: rsa.RSAPrivateKey, clock: FixedClock
) -> None:
    cert = authority.issue_sign_certificate(
        card_key.public_key(),
        name="髙橋　花子",
        sex="female",
        birth_date=BIRTH,
        address="兵庫県加東市社１番地",
        alt_address="兵庫県加東市社1番地",
        issued_at=clock.now(),
    )
    attrs = sign_attributes(cert)
    assert attrs["1.2.392.200149.8.5.5.3"] == "2"
    assert attrs["1.2.392.200149.8.5.5.6"] == "兵庫県加東市社1番地"
    assert "1.2.392.200149.8.5.5.2" not in attrs


def test_refuses_keys_that_are_not_rsa_2048_and_bad_holders(
    authority: Authority, card_key: rsa.RSAPrivateKey, clock: FixedClock
) -> None:
    with pytest.raises(InvalidInput):
        authority.issue_auth_certificate(
            ec.generate_private_key(ec.SECP256R1()).public_key(), birth_date=BIRTH, issued_at=clock.now()
        )
    with pytest.raises(InvalidInput):
        authority.issue_auth_certificate(
            rsa.generate_private_key(65537, 1024).public_key(), birth_date=BIRTH, issued_at=clock.now()
        )
    with pytest.raises(InvalidInput):
        authority.issue_sign_certificate(
            card_key.public_key(), name="x", sex="other", birth_date=BIRTH, address="y", issued_at=clock.now()
        )


def test_issued_certificates_are_recorded_and_revoked_once(
    authority: Authority, engine: Engine, card_key: rsa.RSAPrivateKey, clock: FixedClock
) -> None:
    cert = authority.issue_auth_certificate(card_key.public_key(), birth_date=BIRTH, issued_at=clock.now())
    serial = serial_hex(cert.serial_number)
    record = authority.status(serial.lower())
    assert record.serial == serial and record.kind is CertKind.AUTH and record.status is CertStatus.GOOD
    assert record.not_after == cert.not_valid_after_utc and x509.load_der_x509_certificate(record.der) == cert

    at = clock.now() + timedelta(days=3)
    revoked = authority.revoke(cert.serial_number, "loss", at)
    assert revoked.status is CertStatus.REVOKED and revoked.revoked_at == at
    assert revoked.reason is RevocationReason.LOSS and revoked.reason.rfc5280 is x509.ReasonFlags.key_compromise
    with pytest.raises(Conflict) as twice:
        authority.revoke(serial, RevocationReason.DEATH, at)
    assert twice.value.code == "already-revoked"
    assert authority.status(serial).reason is RevocationReason.LOSS  # the first revocation stands
    with pytest.raises(NotFound):
        authority.revoke("ABCDEF0123", "loss", at)
    with pytest.raises(NotFound):
        authority.status("ABCDEF0123")
    with pytest.raises(InvalidInput):
        authority.revoke(serial, "lost-it", at)
    with engine.connect() as conn:
        assert [s for s, _, _ in JpkiStore(conn).revoked(CertKind.AUTH, not_expired_at=at)] == [serial]
        assert JpkiStore(conn).revoked(CertKind.SIGN, not_expired_at=at) == []


def test_issuing_inside_the_callers_transaction_rolls_back_with_it(
    authority: Authority, engine: Engine, card_key: rsa.RSAPrivateKey, clock: FixedClock
) -> None:
    class Abort(Exception):
        pass

    with pytest.raises(Abort), engine.begin() as conn:
        cert = authority.issue_auth_certificate(
            card_key.public_key(), birth_date=BIRTH, issued_at=clock.now(), conn=conn
        )
        assert JpkiStore(conn).get(cert.serial_number) is not None
        raise Abort
    assert authority.find(cert.serial_number) is None


def test_crl_lists_revocations_and_numbers_increase(
    authority: Authority, card_key: rsa.RSAPrivateKey, clock: FixedClock
) -> None:
    first = x509.load_der_x509_crl(authority.current_crl("auth"))
    ca = authority.ca_certificate("auth")
    assert first.issuer == ca.subject and first.is_signature_valid(ca.public_key())  # type: ignore[arg-type]
    assert first.last_update_utc == clock.now() and first.next_update_utc == clock.now() + timedelta(hours=24)
    n1 = first.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert len(first) == 0
    assert authority.current_crl("auth") == first.public_bytes(serialization.Encoding.DER)

    cert = authority.issue_auth_certificate(card_key.public_key(), birth_date=BIRTH, issued_at=clock.now())
    clock.advance(timedelta(minutes=1))
    assert x509.load_der_x509_crl(authority.current_crl("auth")) == first  # nothing changed: the cached CRL
    authority.revoke(cert.serial_number, "death", clock.now())
    second = x509.load_der_x509_crl(authority.current_crl("auth"))
    assert second.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == n1 + 1
    entry = second.get_revoked_certificate_by_serial_number(cert.serial_number)
    assert entry is not None and entry.revocation_date_utc == clock.now()
    assert (
        entry.extensions.get_extension_for_class(x509.CRLReason).value.reason is x509.ReasonFlags.cessation_of_operation
    )
    assert len(x509.load_der_x509_crl(authority.current_crl("sign"))) == 0  # the other CA is unaffected

    clock.advance(timedelta(hours=13))  # past half the validity: a fresh CRL with the next number
    third = x509.load_der_x509_crl(authority.current_crl("auth"))
    assert third.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == n1 + 2
    assert third.last_update_utc == clock.now() and len(third) == 1

    clock.advance(timedelta(days=365 * 5))  # once the certificate has expired it leaves the CRL
    assert len(x509.load_der_x509_crl(authority.current_crl("auth"))) == 0


def test_crl_validity_is_configurable(engine: Engine, jpki_keys: Path, clock: FixedClock) -> None:
    authority = Authority(engine, jpki_keys, clock, crl_validity=timedelta(hours=6))
    crl = x509.load_der_x509_crl(authority.current_crl(CertKind.SIGN))
    assert crl.next_update_utc == clock.now() + timedelta(hours=6)
    assert crl.last_update_utc.tzinfo == UTC
