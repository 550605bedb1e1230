"""Certificate validation for relying parties (the issuance center): is this a live JPKI certificate
for this purpose?

    validator = Validator(trust_roots, ocsp=fetch_ocsp, crl=fetch_crl)
    result = validator.validate(cert_der, at=clock.now(), purpose="auth")
    if not result.ok: refuse(result.reason, result.detail)

The checks run in this order and the first failure is the answer: parse → issuer is a trust root and
its signature verifies → validity period at `at` → key usage and policy for the purpose → revocation
(OCSP; if OCSP cannot give a verified, fresh answer for this certificate, the CRL; if neither can,
`revocation-unknown`). A good revocation answer is cached for `cache_seconds` (never past the
answer's nextUpdate), and so is a verified CRL. What does not depend on the time — the parsed certificate,
its issuer's signature, key usage and policy — is kept per certificate (SHA-256 of its DER) once the trusted
CA's signature verified, so a returning card costs a hash and the date checks, not a parse and an RSA
verification (certificates that fail before that are never kept: nobody can fill the cache with junk).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from kofu.jpki.model import POLICY, CertKind, serial_hex
from kofu.jpki.service import Authority

OcspFetch = Callable[[bytes], bytes]
CrlFetch = Callable[[str], bytes]


class FailureReason(StrEnum):
    MALFORMED = "malformed"  # not a DER X.509 certificate
    UNTRUSTED_ISSUER = "untrusted-issuer"  # issuer is no trust root (self-signed, another CA)
    BAD_SIGNATURE = "bad-signature"  # names a trust root but its signature does not verify
    NOT_YET_VALID = "not-yet-valid"
    EXPIRED = "expired"
    WRONG_KEY_USAGE = "wrong-key-usage"  # KeyUsage missing or not the purpose's (or a CA certificate)
    WRONG_POLICY = "wrong-policy"  # the purpose's certificate policy OID is absent
    REVOKED = "revoked"
    REVOCATION_UNKNOWN = "revocation-unknown"  # neither OCSP nor CRL gave a verified answer


@dataclass(frozen=True)
class Validation:
    reason: FailureReason | None  # None when the certificate is valid
    detail: str
    certificate: x509.Certificate | None = None
    revocation_source: str | None = None  # "ocsp" | "crl" | "cache"
    revoked_at: datetime | None = None
    revocation_reason: x509.ReasonFlags | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None

    @property
    def serial(self) -> str | None:
        return serial_hex(self.certificate.serial_number) if self.certificate is not None else None


class _NoAnswer(Exception):
    """This revocation source could not give a trustworthy answer."""


@dataclass(frozen=True)
class _Status:
    revoked: bool
    unknown: bool
    revoked_at: datetime | None
    reason: x509.ReasonFlags | None
    next_update: datetime | None


def _fail(reason: FailureReason, detail: str, cert: x509.Certificate | None = None) -> Validation:
    return Validation(reason, detail, cert)


def _key_hash(cert: x509.Certificate) -> bytes:
    """SHA-1 of the subjectPublicKey BIT STRING (RFC 6960 ResponderID byKey)."""
    pub = cert.public_key()
    if not isinstance(pub, rsa.RSAPublicKey):
        return b""
    h = hashes.Hash(hashes.SHA1())
    h.update(pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1))
    return h.finalize()


def _verify_rsa(
    signer: x509.Certificate, signature: bytes, data: bytes, algorithm: hashes.HashAlgorithm | None
) -> None:
    pub = signer.public_key()
    if not isinstance(pub, rsa.RSAPublicKey) or algorithm is None:
        raise _NoAnswer("responder key or signature algorithm not supported")
    try:
        pub.verify(signature, data, padding.PKCS1v15(), algorithm)
    except InvalidSignature:
        raise _NoAnswer("OCSP response signature does not verify") from None


class Validator:
    def __init__(
        self,
        trust_roots: Iterable[x509.Certificate],
        *,
        ocsp: OcspFetch | None = None,
        crl: CrlFetch | None = None,
        cache_seconds: float = 300,
        clock_skew: timedelta = timedelta(minutes=5),
    ) -> None:
        self.trust_roots = list(trust_roots)
        self._ocsp = ocsp
        self._crl = crl
        self.cache = timedelta(seconds=cache_seconds)
        self.skew = clock_skew
        self._lock = threading.Lock()
        self._good: dict[tuple[bytes, str], tuple[datetime, datetime]] = {}  # → (from, until)
        self._crls: dict[str, tuple[x509.CertificateRevocationList, datetime]] = {}  # → (crl, fetched at)
        # (SHA-256 of the DER, purpose) → (certificate, its CA, the key-usage/policy failure or None)
        self._checked: dict[tuple[bytes, str], tuple[x509.Certificate, x509.Certificate, Validation | None]] = {}
        self.last_ocsp_error: str | None = None

    CHECKED_MAX = 65_536  # certificates whose time-independent checks are kept (oldest dropped first)

    # ---- the checks, in order ----

    def validate(self, cert_der: bytes, *, at: datetime, purpose: CertKind | str) -> Validation:
        kind = CertKind(purpose)
        digest = hashlib.sha256(cert_der).digest()  # = the certificate's SHA-256 fingerprint
        with self._lock:
            checked = self._checked.get((digest, kind.value))
        if checked is None:
            first = self._check_chain(cert_der, kind)
            if isinstance(first, Validation):
                return first
            checked = first
            with self._lock:
                if len(self._checked) >= self.CHECKED_MAX:
                    self._checked.pop(next(iter(self._checked)))
                self._checked[(digest, kind.value)] = checked
        cert, root, usage_failure = checked
        if not (root.not_valid_before_utc <= at <= root.not_valid_after_utc):
            return _fail(FailureReason.UNTRUSTED_ISSUER, "the CA certificate is outside its validity period", cert)

        if at < cert.not_valid_before_utc:
            return _fail(FailureReason.NOT_YET_VALID, f"valid from {cert.not_valid_before_utc.isoformat()}", cert)
        if at > cert.not_valid_after_utc:
            return _fail(FailureReason.EXPIRED, f"expired {cert.not_valid_after_utc.isoformat()}", cert)

        if usage_failure is not None:
            return usage_failure
        return self._check_revocation(cert, root, kind, at, digest)

    def _check_chain(
        self, cert_der: bytes, kind: CertKind
    ) -> Validation | tuple[x509.Certificate, x509.Certificate, Validation | None]:
        """Parse and issuer signature (a failure), else the certificate, its CA and the usage check's answer."""
        try:
            cert = x509.load_der_x509_certificate(cert_der)
            extensions = cert.extensions  # parsed lazily: make a broken extension fail here
            # the same for the names, the validity, the serial and the key (found by tests/reliability fuzzing:
            # a broken issuer Name raised ValueError later, which the center reported as a 503)
            _ = (cert.issuer, cert.subject, cert.serial_number, cert.not_valid_before_utc, cert.not_valid_after_utc)
            cert.public_key()
        except Exception as exc:
            return _fail(FailureReason.MALFORMED, f"not a DER X.509 certificate: {exc}")

        candidates = [r for r in self.trust_roots if r.subject == cert.issuer]
        if not candidates:
            what = "self-signed" if cert.issuer == cert.subject else "issued by"
            return _fail(FailureReason.UNTRUSTED_ISSUER, f"{what} {cert.issuer.rfc4514_string()}", cert)
        root = next((r for r in candidates if self._signed_by(cert, r)), None)
        if root is None:
            return _fail(FailureReason.BAD_SIGNATURE, "the signature was not made by the trusted CA's key", cert)
        return cert, root, self._check_usage(cert, extensions, kind)

    @staticmethod
    def _signed_by(cert: x509.Certificate, root: x509.Certificate) -> bool:
        try:
            cert.verify_directly_issued_by(root)
        except (ValueError, TypeError, InvalidSignature):
            return False
        return True

    @staticmethod
    def _check_usage(cert: x509.Certificate, extensions: x509.Extensions, kind: CertKind) -> Validation | None:
        try:
            basic = extensions.get_extension_for_class(x509.BasicConstraints).value
            if basic.ca:
                return _fail(FailureReason.WRONG_KEY_USAGE, "a CA certificate is not a user certificate", cert)
        except x509.ExtensionNotFound:
            pass
        try:
            usage = extensions.get_extension_for_class(x509.KeyUsage).value
        except x509.ExtensionNotFound:
            return _fail(FailureReason.WRONG_KEY_USAGE, "no KeyUsage extension", cert)
        needed = {"digital_signature"} | ({"content_commitment"} if kind is CertKind.SIGN else set())
        missing = sorted(n for n in needed if not getattr(usage, n))
        if missing or usage.key_cert_sign:
            return _fail(FailureReason.WRONG_KEY_USAGE, f"KeyUsage unfit for {kind.value}: missing {missing}", cert)
        try:
            policies = extensions.get_extension_for_class(x509.CertificatePolicies).value
        except x509.ExtensionNotFound:
            return _fail(FailureReason.WRONG_POLICY, "no CertificatePolicies extension", cert)
        if POLICY[kind] not in {p.policy_identifier for p in policies}:
            return _fail(FailureReason.WRONG_POLICY, f"policy {POLICY[kind].dotted_string} absent", cert)
        return None

    def _check_revocation(
        self, cert: x509.Certificate, root: x509.Certificate, kind: CertKind, at: datetime, fingerprint: bytes
    ) -> Validation:
        key = (fingerprint, kind.value)
        with self._lock:
            cached = self._good.get(key)
        if cached is not None and cached[0] <= at < cached[1]:
            return Validation(None, "good (cached answer)", cert, "cache")

        errors: list[str] = []
        status: _Status | None = None
        source = None
        if self._ocsp is not None:
            try:
                status, source = self._ask_ocsp(cert, root, at), "ocsp"
            except _NoAnswer as exc:
                errors.append(f"OCSP: {exc}")
                self.last_ocsp_error = str(exc)
        if status is None and self._crl is not None:
            try:
                status, source = self._ask_crl(cert, root, kind, at), "crl"
            except _NoAnswer as exc:
                errors.append(f"CRL: {exc}")
        if status is None:
            detail = "; ".join(errors) or "no OCSP responder or CRL configured"
            return _fail(FailureReason.REVOCATION_UNKNOWN, detail, cert)
        if status.unknown:
            # An authoritative "unknown" is not an outage: the CA's responder has no record of this
            # serial, so the CRL (which lists only revoked serials) cannot vouch for it either.
            return _fail(FailureReason.REVOCATION_UNKNOWN, "the OCSP responder does not know this certificate", cert)
        if status.revoked:
            why = status.reason.value if status.reason else "unspecified"
            when = status.revoked_at.isoformat() if status.revoked_at else "?"
            return Validation(
                FailureReason.REVOKED, f"revoked {when} ({why})", cert, source, status.revoked_at, status.reason
            )
        until = at + self.cache
        if status.next_update is not None:
            until = min(until, status.next_update)
        with self._lock:
            self._good[key] = (at, until)
        return Validation(None, f"good ({source})", cert, source)

    # ---- OCSP ----

    def _ask_ocsp(self, cert: x509.Certificate, root: x509.Certificate, at: datetime) -> _Status:
        assert self._ocsp is not None
        nonce = os.urandom(16)
        request = (
            ocsp.OCSPRequestBuilder()
            .add_certificate(cert, root, hashes.SHA1())  # SHA-1 CertID: what every responder supports
            .add_extension(x509.OCSPNonce(nonce), critical=False)
            .build()
        )
        try:
            response = ocsp.load_der_ocsp_response(self._ocsp(request.public_bytes(serialization.Encoding.DER)))
        except Exception as exc:
            raise _NoAnswer(f"no response ({type(exc).__name__}: {exc})") from None
        if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
            raise _NoAnswer(f"responder says {response.response_status.name}")

        signer = self._ocsp_signer(response, root, at)
        _verify_rsa(signer, response.signature, response.tbs_response_bytes, response.signature_hash_algorithm)
        if (
            response.serial_number != cert.serial_number
            or response.issuer_key_hash != request.issuer_key_hash
            or response.issuer_name_hash != request.issuer_name_hash
        ):
            raise _NoAnswer("the response is about another certificate")
        try:
            echoed = response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
            if echoed != nonce:
                raise _NoAnswer("the response nonce does not match the request")
        except x509.ExtensionNotFound:
            pass
        this_update, next_update = response.this_update_utc, response.next_update_utc
        if this_update > at + self.skew:
            raise _NoAnswer(f"the response is from the future (thisUpdate {this_update.isoformat()})")
        if next_update is not None and next_update < at:
            raise _NoAnswer(f"the response is stale (nextUpdate {next_update.isoformat()})")
        if next_update is None and at - this_update > self.cache:
            raise _NoAnswer(f"the response is stale (thisUpdate {this_update.isoformat()})")

        if response.certificate_status is ocsp.OCSPCertStatus.UNKNOWN:
            return _Status(False, True, None, None, next_update)
        if response.certificate_status is ocsp.OCSPCertStatus.REVOKED:
            return _Status(True, False, response.revocation_time_utc, response.revocation_reason, next_update)
        return _Status(False, False, None, None, next_update)

    @staticmethod
    def _ocsp_signer(response: ocsp.OCSPResponse, root: x509.Certificate, at: datetime) -> x509.Certificate:
        """The CA itself, or a delegated responder certificate it issued for OCSP signing (RFC 6960 §4.2.2.2)."""

        def designates(c: x509.Certificate) -> bool:
            if response.responder_key_hash is not None:
                return response.responder_key_hash == _key_hash(c)
            return response.responder_name == c.subject

        if designates(root):
            return root
        for delegate in response.certificates:
            if not designates(delegate) or not Validator._signed_by(delegate, root):
                continue
            try:
                eku = delegate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
            except x509.ExtensionNotFound:
                continue
            if ExtendedKeyUsageOID.OCSP_SIGNING in eku and (
                delegate.not_valid_before_utc <= at <= delegate.not_valid_after_utc
            ):
                return delegate
        raise _NoAnswer("the response is signed neither by the CA nor by a responder it authorised")

    # ---- CRL ----

    def _ask_crl(self, cert: x509.Certificate, root: x509.Certificate, kind: CertKind, at: datetime) -> _Status:
        assert self._crl is not None
        with self._lock:
            cached = self._crls.get(kind.value)
        crl = None
        if cached is not None:
            candidate, fetched_at = cached
            nu = candidate.next_update_utc
            if fetched_at <= at < fetched_at + self.cache and nu is not None and at <= nu:
                crl = candidate
        if crl is None:
            try:
                crl = x509.load_der_x509_crl(self._crl(kind.value))
            except Exception as exc:
                raise _NoAnswer(f"no CRL ({type(exc).__name__}: {exc})") from None
            if crl.issuer != root.subject:
                raise _NoAnswer("the CRL was issued by another CA")
            if not crl.is_signature_valid(root.public_key()):  # type: ignore[arg-type]
                raise _NoAnswer("the CRL signature does not verify")
            if crl.last_update_utc > at + self.skew:
                raise _NoAnswer(f"the CRL is from the future (thisUpdate {crl.last_update_utc.isoformat()})")
            if crl.next_update_utc is None or crl.next_update_utc < at:
                raise _NoAnswer("the CRL is past its nextUpdate")
            with self._lock:
                self._crls[kind.value] = (crl, at)
        entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
        if entry is None:
            return _Status(False, False, None, None, crl.next_update_utc)
        try:
            reason: x509.ReasonFlags | None = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
        except x509.ExtensionNotFound:
            reason = None
        return _Status(True, False, entry.revocation_date_utc, reason, crl.next_update_utc)


# ---- ready-made validators ----


def in_process_validator(authority: Authority, *, cache_seconds: float = 300) -> Validator:
    """A validator that asks the authority object directly (demo, tests, one-process deployments)."""
    return Validator(
        authority.trust_roots, ocsp=authority.respond, crl=authority.current_crl, cache_seconds=cache_seconds
    )


def http_validator(
    base_url: str,
    trust_roots: Iterable[x509.Certificate],
    *,
    client: httpx.Client | None = None,
    timeout: float = 5.0,
    cache_seconds: float = 300,
) -> Validator:
    """A validator that asks the authority's HTTP responder (`kofu serve jpki`) at `base_url`.

    Trust roots are given, not fetched: get them out of band (`kofu jpki export`, `load_trust_roots`)."""
    http = client or httpx.Client(timeout=timeout)
    base = base_url.rstrip("/")

    def fetch_ocsp(request_der: bytes) -> bytes:
        r = http.post(f"{base}/ocsp", content=request_der, headers={"Content-Type": "application/ocsp-request"})
        r.raise_for_status()
        return r.content

    def fetch_crl(kind: str) -> bytes:
        r = http.get(f"{base}/crl/{CertKind(kind).value}.crl")
        r.raise_for_status()
        return r.content

    return Validator(trust_roots, ocsp=fetch_ocsp, crl=fetch_crl, cache_seconds=cache_seconds)


def load_trust_roots(directory: Path) -> list[x509.Certificate]:
    """The CA certificates written by `kofu jpki export` (auth-ca.pem, sign-ca.pem)."""
    return [x509.load_pem_x509_certificate((directory / f"{k.value}-ca.pem").read_bytes()) for k in CertKind]
