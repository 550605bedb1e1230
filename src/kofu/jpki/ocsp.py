"""The OCSP responder (RFC 6960): one answer per request, signed by the CA that issued the certificate.

- The request's CertID names the CA by the hashes of its name and key (any hash the request chose).
  A CertID for neither CA gets `unauthorized` (RFC 5019 §2.2.3), unsigned.
- good / revoked (time and CRLReason) / unknown (the CA never issued that serial).
- A request nonce is echoed. thisUpdate is `now`, nextUpdate `now + validity`.
- Anything that does not parse (or carries several requests) gets `malformedRequest`; nothing raises.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp

from kofu.jpki.ca import CertificateAuthority
from kofu.jpki.model import CertificateRecord, CertKind, CertStatus

Lookup = Callable[[CertKind, int], CertificateRecord | None]


def _unsuccessful(status: ocsp.OCSPResponseStatus) -> bytes:
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(serialization.Encoding.DER)


def respond(
    cas: Mapping[CertKind, CertificateAuthority],
    lookup: Lookup,
    request_der: bytes,
    now: datetime,
    validity: timedelta,
) -> bytes:
    try:
        request = ocsp.load_der_ocsp_request(request_der)
        algorithm = request.hash_algorithm
        name_hash, key_hash, serial = request.issuer_name_hash, request.issuer_key_hash, request.serial_number
        nonce: x509.OCSPNonce | None
        try:
            nonce = request.extensions.get_extension_for_class(x509.OCSPNonce).value
        except x509.ExtensionNotFound:
            nonce = None
    except Exception:  # not DER, not a request, several requests, an unknown hash algorithm …
        return _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)

    ca = next((c for c in cas.values() if c.matches_cert_id(algorithm, name_hash, key_hash)), None)
    if ca is None:
        return _unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)
    try:
        record = lookup(ca.kind, serial)
    except Exception:
        return _unsuccessful(ocsp.OCSPResponseStatus.INTERNAL_ERROR)

    revocation_time: datetime | None = None
    revocation_reason: x509.ReasonFlags | None = None
    if record is None:
        status = ocsp.OCSPCertStatus.UNKNOWN
    elif record.status is CertStatus.REVOKED:
        status = ocsp.OCSPCertStatus.REVOKED
        assert record.revoked_at is not None and record.reason is not None
        revocation_time = record.revoked_at.replace(microsecond=0)
        revocation_reason = record.reason.rfc5280
    else:
        status = ocsp.OCSPCertStatus.GOOD
    builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
        issuer_name_hash=name_hash,
        issuer_key_hash=key_hash,
        serial_number=serial,
        algorithm=algorithm,
        cert_status=status,
        this_update=now,
        next_update=now + validity,
        revocation_time=revocation_time,
        revocation_reason=revocation_reason,
    )
    if nonce is not None:
        builder = builder.add_extension(nonce, critical=False)
    return ca.sign_ocsp(builder).public_bytes(serialization.Encoding.DER)
