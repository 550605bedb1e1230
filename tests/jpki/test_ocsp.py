"""The OCSP responder in process: good / revoked / unknown, nonces, hash algorithms, and bad requests."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

from kofu.common.clock import FixedClock
from kofu.jpki.service import Authority

from .conftest import BIRTH, forge


def _request(cert: x509.Certificate, issuer: x509.Certificate, algorithm: hashes.HashAlgorithm, nonce: bytes) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, algorithm)
    builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


@pytest.mark.parametrize("algorithm", [hashes.SHA1(), hashes.SHA256()], ids=["sha1", "sha256"])
def test_good_then_revoked(
    authority: Authority, card_key: rsa.RSAPrivateKey, clock: FixedClock, algorithm: hashes.HashAlgorithm
) -> None:
    cert = authority.issue_sign_certificate(
        card_key.public_key(), name="n", sex="unknown", birth_date=BIRTH, address="a", issued_at=clock.now()
    )
    ca = authority.ca_certificate("sign")
    nonce = os.urandom(16)
    response = ocsp.load_der_ocsp_response(authority.respond(_request(cert, ca, algorithm, nonce)))
    assert response.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    assert response.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert response.serial_number == cert.serial_number and isinstance(response.hash_algorithm, type(algorithm))
    assert response.this_update_utc == clock.now() and response.next_update_utc == clock.now() + timedelta(hours=1)
    assert response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce
    # signed by the CA itself, identified by its key hash
    assert response.responder_key_hash == x509.SubjectKeyIdentifier.from_public_key(ca.public_key()).digest  # type: ignore[arg-type]
    ca_pub = ca.public_key()
    assert isinstance(ca_pub, rsa.RSAPublicKey) and response.signature_hash_algorithm is not None
    ca_pub.verify(
        response.signature, response.tbs_response_bytes, padding.PKCS1v15(), response.signature_hash_algorithm
    )

    revoked_at = clock.now()
    authority.revoke(cert.serial_number, "move-out", revoked_at)
    clock.advance(timedelta(minutes=5))
    response = ocsp.load_der_ocsp_response(authority.respond(_request(cert, ca, algorithm, os.urandom(16))))
    assert response.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert response.revocation_time_utc == revoked_at
    assert response.revocation_reason is x509.ReasonFlags.affiliation_changed


def test_unknown_serial_and_unknown_issuer(
    authority: Authority, card_key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey, clock: FixedClock
) -> None:
    ca = authority.ca_certificate("auth")
    never_issued = forge(issuer=ca.subject, signing_key=other_key, public_key=card_key.public_key())
    response = ocsp.load_der_ocsp_response(authority.respond(_request(never_issued, ca, hashes.SHA1(), b"n" * 16)))
    assert response.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    assert response.certificate_status is ocsp.OCSPCertStatus.UNKNOWN

    # a CertID mixing one CA's name with the other's key designates neither CA
    auth = authority.issue_auth_certificate(card_key.public_key(), birth_date=BIRTH, issued_at=clock.now())
    response = ocsp.load_der_ocsp_response(
        authority.respond(_request(auth, authority.ca_certificate("sign"), hashes.SHA1(), b"n" * 16))
    )
    assert response.response_status is ocsp.OCSPResponseStatus.UNAUTHORIZED

    stranger = forge(
        issuer=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "elsewhere")]),
        subject=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "elsewhere")]),
        signing_key=other_key,
        public_key=other_key.public_key(),
    )
    response = ocsp.load_der_ocsp_response(
        authority.respond(_request(never_issued, stranger, hashes.SHA1(), b"n" * 16))
    )
    assert response.response_status is ocsp.OCSPResponseStatus.UNAUTHORIZED


@pytest.mark.parametrize("junk", [b"", b"hello", b"\x30\x00", b"\x30\x82\xff\xff" + b"\x00" * 10])
def test_malformed_requests_get_a_malformed_response(authority: Authority, junk: bytes) -> None:
    response = ocsp.load_der_ocsp_response(authority.respond(junk))
    assert response.response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST
