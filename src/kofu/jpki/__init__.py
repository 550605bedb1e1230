"""The JPKI authority (J-LIS's role): two CAs, user certificates for card-generated keys, revocation,
CRLs, an OCSP responder, and the validator relying parties use. See docs/jpki.md."""

from kofu.jpki.model import CertificateRecord, CertKind, CertStatus, RevocationReason
from kofu.jpki.service import DEFAULT_BASE_URL, Authority
from kofu.jpki.validate import FailureReason, Validation, Validator, http_validator, in_process_validator

__all__ = [
    "DEFAULT_BASE_URL",
    "Authority",
    "CertKind",
    "CertStatus",
    "CertificateRecord",
    "FailureReason",
    "RevocationReason",
    "Validation",
    "Validator",
    "http_validator",
    "in_process_validator",
]
