"""The relying party's validator: every failure reason, OCSP checks, the CRL fallback and the cache."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID
from sqlalchemy import Engine

from kofu.common.clock import FixedClock
from kofu.jpki.ca import ca_name
from kofu.jpki.model import CertKind
from kofu.jpki.service import Authority
from kofu.jpki.validate import FailureReason, Validator, in_process_validator

from .conftest import BIRTH, ca_key, der, forge


@pytest.fixture
def auth_cert(authority: Authority, card_key: rsa.RSAPrivateKey, clock: FixedClock) -> x509.Certificate:
    return authority.issue_auth_certificate(card_key.public_key(), birth_date=BIRTH, issued_at=clock.now())


@pytest.fixture
def sign_cert(authority: Authority, card_key: rsa.RSAPrivateKey, clock: FixedClock) -> x509.Certificate:
    return authority.issue_sign_certificate(
        card_key.public_key(),
        name="加東　太郎",
        sex="male",
        birth_date=BIRTH,
        address="兵庫県加東市",
        issued_at=clock.now(),
    )


def test_valid_certificates_of_both_kinds(
    authority: Authority, auth_cert: x509.Certificate, sign_cert: x509.Certificate, clock: FixedClock
) -> None:
    v = in_process_validator(authority)
    result = v.validate(der(auth_cert), at=clock.now(), purpose="auth")
    assert result.ok and result.reason is None and result.revocation_source == "ocsp"
    assert result.certificate == auth_cert and result.serial == format(auth_cert.serial_number, "X")
    assert v.validate(der(sign_cert), at=clock.now(), purpose=CertKind.SIGN).ok


def test_malformed(authority: Authority, clock: FixedClock) -> None:
    for junk in (b"", b"not a certificate", b"\x30\x03\x02\x01\x01"):
        assert in_process_validator(authority).validate(junk, at=clock.now(), purpose="auth").reason is (
            FailureReason.MALFORMED
        )


def test_self_signed_and_other_ca(
    authority: Authority, card_key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey, clock: FixedClock
) -> None:
    v = in_process_validator(authority)
    me = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "me")])
    self_signed = forge(issuer=me, subject=me, signing_key=card_key, public_key=card_key.public_key())
    result = v.validate(der(self_signed), at=clock.now(), purpose="auth")
    assert result.reason is FailureReason.UNTRUSTED_ISSUER and "self-signed" in result.detail
    other_ca = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Another CA")])
    foreign = forge(issuer=other_ca, signing_key=other_key, public_key=card_key.public_key())
    assert v.validate(der(foreign), at=clock.now(), purpose="auth").reason is FailureReason.UNTRUSTED_ISSUER


def test_right_issuer_name_wrong_key(
    authority: Authority, card_key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey, clock: FixedClock
) -> None:
    fake = forge(issuer=ca_name(CertKind.AUTH), signing_key=other_key, public_key=card_key.public_key())
    result = in_process_validator(authority).validate(der(fake), at=clock.now(), purpose="auth")
    assert result.reason is FailureReason.BAD_SIGNATURE


def test_validity_period(authority: Authority, auth_cert: x509.Certificate, clock: FixedClock) -> None:
    v = in_process_validator(authority)
    early = v.validate(der(auth_cert), at=clock.now() - timedelta(seconds=1), purpose="auth")
    assert early.reason is FailureReason.NOT_YET_VALID
    late = v.validate(der(auth_cert), at=auth_cert.not_valid_after_utc + timedelta(seconds=1), purpose="auth")
    assert late.reason is FailureReason.EXPIRED
    assert v.validate(der(auth_cert), at=auth_cert.not_valid_after_utc, purpose="auth").reason is not (
        FailureReason.EXPIRED
    )


def test_a_returning_certificate_is_not_parsed_and_verified_again_but_its_dates_are_checked(
    authority: Authority,
    auth_cert: x509.Certificate,
    card_key: rsa.RSAPrivateKey,
    other_key: rsa.RSAPrivateKey,
    clock: FixedClock,
) -> None:
    v = in_process_validator(authority)
    first = v.validate(der(auth_cert), at=clock.now(), purpose="auth")
    again = v.validate(der(auth_cert), at=clock.now() + timedelta(seconds=1), purpose="auth")
    assert first.ok and again.ok
    assert again.certificate is first.certificate  # the kept check: no second parse or RSA verification
    late = v.validate(der(auth_cert), at=auth_cert.not_valid_after_utc + timedelta(seconds=1), purpose="auth")
    assert late.reason is FailureReason.EXPIRED and late.certificate is first.certificate
    for _ in range(2):  # the other purpose is its own entry, and its answer is the same every time
        assert v.validate(der(auth_cert), at=clock.now(), purpose="sign").reason is FailureReason.WRONG_KEY_USAGE
    # a certificate the CA did not sign is never kept: checked (and refused) from scratch each time
    fake = der(forge(issuer=ca_name(CertKind.AUTH), signing_key=other_key, public_key=card_key.public_key()))
    one, two = (v.validate(fake, at=clock.now(), purpose="auth") for _ in range(2))
    assert one.reason is two.reason is FailureReason.BAD_SIGNATURE
    assert one.certificate is not two.certificate


def test_key_usage_and_policy(
    authority: Authority,
    jpki_keys: Path,
    auth_cert: x509.Certificate,
    card_key: rsa.RSAPrivateKey,
    clock: FixedClock,
) -> None:
    v = in_process_validator(authority)
    # an authentication certificate offered for signing: no nonRepudiation
    assert v.validate(der(auth_cert), at=clock.now(), purpose="sign").reason is FailureReason.WRONG_KEY_USAGE
    key = ca_key(jpki_keys, CertKind.AUTH)
    issuer = ca_name(CertKind.AUTH)
    encipher = forge(
        issuer=issuer, signing_key=key, public_key=card_key.public_key(), digital_signature=False, key_encipherment=True
    )
    assert v.validate(der(encipher), at=clock.now(), purpose="auth").reason is FailureReason.WRONG_KEY_USAGE
    no_policy = forge(issuer=issuer, signing_key=key, public_key=card_key.public_key(), policy=False)
    assert v.validate(der(no_policy), at=clock.now(), purpose="auth").reason is FailureReason.WRONG_POLICY
    sign_policy = forge(issuer=issuer, signing_key=key, public_key=card_key.public_key(), kind=CertKind.SIGN)
    assert v.validate(der(sign_policy), at=clock.now(), purpose="auth").reason is FailureReason.WRONG_POLICY
    ca_itself = authority.ca_certificate("auth")
    assert v.validate(der(ca_itself), at=clock.now(), purpose="auth").reason is FailureReason.WRONG_KEY_USAGE


def test_sign_key_usage_needs_non_repudiation(
    authority: Authority, jpki_keys: Path, card_key: rsa.RSAPrivateKey, clock: FixedClock
) -> None:
    plain = forge(
        issuer=ca_name(CertKind.SIGN),
        signing_key=ca_key(jpki_keys, CertKind.SIGN),
        public_key=card_key.public_key(),
        kind=CertKind.SIGN,
    )
    result = in_process_validator(authority).validate(der(plain), at=clock.now(), purpose="sign")
    assert result.reason is FailureReason.WRONG_KEY_USAGE and "content_commitment" in result.detail


def test_revoked_by_ocsp(authority: Authority, auth_cert: x509.Certificate, clock: FixedClock) -> None:
    authority.revoke(auth_cert.serial_number, "loss", clock.now())
    clock.advance(timedelta(minutes=1))
    result = in_process_validator(authority).validate(der(auth_cert), at=clock.now(), purpose="auth")
    assert result.reason is FailureReason.REVOKED and result.revocation_source == "ocsp"
    assert result.revocation_reason is x509.ReasonFlags.key_compromise
    assert result.revoked_at == clock.now() - timedelta(minutes=1)


def test_a_serial_the_authority_never_issued(
    authority: Authority, jpki_keys: Path, card_key: rsa.RSAPrivateKey, clock: FixedClock
) -> None:
    # signed with the real CA key but not recorded: OCSP says unknown, and the CRL cannot vouch for it
    stray = forge(
        issuer=ca_name(CertKind.AUTH), signing_key=ca_key(jpki_keys, CertKind.AUTH), public_key=card_key.public_key()
    )
    result = in_process_validator(authority).validate(der(stray), at=clock.now(), purpose="auth")
    assert result.reason is FailureReason.REVOCATION_UNKNOWN and "does not know" in result.detail


def _outage(request_der: bytes) -> bytes:
    raise ConnectionError("responder down")


def test_ocsp_outage_falls_back_to_the_crl(
    authority: Authority, auth_cert: x509.Certificate, sign_cert: x509.Certificate, clock: FixedClock
) -> None:
    v = Validator(authority.trust_roots, ocsp=_outage, crl=authority.current_crl)
    good = v.validate(der(auth_cert), at=clock.now(), purpose="auth")
    assert good.ok and good.revocation_source == "crl"
    assert v.last_ocsp_error is not None and "responder down" in v.last_ocsp_error
    authority.revoke(sign_cert.serial_number, "info-change", clock.now())
    revoked = v.validate(der(sign_cert), at=clock.now(), purpose="sign")
    assert revoked.reason is FailureReason.REVOKED and revoked.revocation_source == "crl"
    assert revoked.revocation_reason is x509.ReasonFlags.superseded


def test_no_source_answers(authority: Authority, auth_cert: x509.Certificate, clock: FixedClock) -> None:
    def no_crl(kind: str) -> bytes:
        raise TimeoutError

    for v in (Validator(authority.trust_roots), Validator(authority.trust_roots, ocsp=_outage, crl=no_crl)):
        assert v.validate(der(auth_cert), at=clock.now(), purpose="auth").reason is FailureReason.REVOCATION_UNKNOWN


def test_untrustworthy_revocation_answers_are_rejected(
    authority: Authority,
    engine: Engine,
    tmp_path: Path,
    auth_cert: x509.Certificate,
    clock: FixedClock,
) -> None:
    impostor = Authority(engine, tmp_path / "impostor", clock)  # same CA names, other keys
    v = Validator(authority.trust_roots, ocsp=impostor.respond, crl=impostor.current_crl)
    result = v.validate(der(auth_cert), at=clock.now(), purpose="auth")
    assert result.reason is FailureReason.REVOCATION_UNKNOWN
    assert "OCSP" in result.detail and "CRL signature" in result.detail

    stale = Validator(authority.trust_roots, ocsp=authority.respond, crl=authority.current_crl)
    later = clock.now() + timedelta(days=2)  # both the OCSP answer and the CRL were made "now": stale by then
    result = stale.validate(der(auth_cert), at=later, purpose="auth")
    assert result.reason is FailureReason.REVOCATION_UNKNOWN and "stale" in result.detail

    malformed = Validator(authority.trust_roots, ocsp=lambda req: b"\x30\x00")
    assert malformed.validate(der(auth_cert), at=clock.now(), purpose="auth").reason is (
        FailureReason.REVOCATION_UNKNOWN
    )


def test_an_answer_about_another_certificate_is_rejected(
    authority: Authority, auth_cert: x509.Certificate, card_key: rsa.RSAPrivateKey, clock: FixedClock
) -> None:
    other = authority.issue_auth_certificate(card_key.public_key(), birth_date=BIRTH, issued_at=clock.now())
    ca = authority.ca_certificate("auth")

    def replay(request_der: bytes) -> bytes:
        req = ocsp.OCSPRequestBuilder().add_certificate(other, ca, hashes.SHA1()).build()
        return authority.respond(req.public_bytes(serialization.Encoding.DER))

    v = Validator(authority.trust_roots, ocsp=replay)
    result = v.validate(der(auth_cert), at=clock.now(), purpose="auth")
    assert result.reason is FailureReason.REVOCATION_UNKNOWN and "another certificate" in result.detail


def test_good_answers_are_cached(authority: Authority, auth_cert: x509.Certificate, clock: FixedClock) -> None:
    calls: list[bytes] = []

    def counting(request_der: bytes) -> bytes:
        calls.append(request_der)
        return authority.respond(request_der)

    v = Validator(authority.trust_roots, ocsp=counting, cache_seconds=300)
    assert v.validate(der(auth_cert), at=clock.now(), purpose="auth").revocation_source == "ocsp"
    second = v.validate(der(auth_cert), at=clock.now() + timedelta(seconds=299), purpose="auth")
    assert second.ok and second.revocation_source == "cache" and len(calls) == 1
    clock.advance(timedelta(seconds=300))
    assert v.validate(der(auth_cert), at=clock.now(), purpose="auth").revocation_source == "ocsp"
    assert len(calls) == 2
    # a revocation shows once the cached answer has aged out
    authority.revoke(auth_cert.serial_number, "return", clock.now())
    assert v.validate(der(auth_cert), at=clock.now() + timedelta(seconds=1), purpose="auth").ok
    clock.advance(timedelta(seconds=301))
    assert v.validate(der(auth_cert), at=clock.now(), purpose="auth").reason is FailureReason.REVOKED
