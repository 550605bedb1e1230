"""Read back what render wrote: the statement in the Info dictionary, and the PDF signature's status."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from pyhanko.keys import load_certs_from_pemder_data
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

STATEMENT_KEY = "/KofuStatement"


def _reader(pdf: bytes) -> PdfFileReader:
    return PdfFileReader(io.BytesIO(pdf), strict=False)


def read_statement(pdf: bytes) -> str | None:
    """The /KofuStatement of the (latest) document information dictionary, or None."""
    try:
        info = _reader(pdf).trailer_view.get("/Info")
        if info is None:
            return None
        value = info.get_object().get(STATEMENT_KEY)
        return None if value is None else str(value)
    except Exception:  # any unreadable input simply has no statement
        return None


@dataclass(frozen=True)
class SignatureCheck:
    signed: bool
    intact: bool = False  # the signed bytes hash to the signed digest
    valid: bool = False  # the signature verifies cryptographically
    covers_whole_file: bool = False
    trusted: bool = False  # the signer chains to one of the given roots
    signer_subject: str = ""
    signer_cert_der: bytes | None = field(default=None, repr=False)
    reason: str = ""  # human-readable, why it is not fully OK (empty when it is)

    @property
    def ok(self) -> bool:
        return self.signed and self.intact and self.valid and self.covers_whole_file and self.trusted


def check_signature(pdf: bytes, trust_roots: list[bytes]) -> SignatureCheck:
    """Validate the last signature of `pdf` against `trust_roots` (PEM). Never raises."""
    try:
        reader = _reader(pdf)
        sigs = reader.embedded_signatures
    except Exception as e:  # garbage in: report, do not raise
        return SignatureCheck(signed=False, reason=f"not a readable PDF: {e}")
    if not sigs:
        return SignatureCheck(signed=False, reason="the PDF has no signature")
    sig = sigs[-1]
    try:
        roots = [c for pem in trust_roots for c in load_certs_from_pemder_data(pem)]
        vc = ValidationContext(trust_roots=roots, allow_fetching=False)
        status = validate_pdf_signature(sig, vc)
    except Exception as e:  # a malformed signature is a finding, not a crash
        return SignatureCheck(signed=True, reason=f"signature could not be validated: {e}")
    cert = status.signing_cert
    covers = status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    problems = []
    if not status.intact:
        problems.append("the document was modified after signing (digest mismatch)")
    elif not status.valid:
        problems.append("the signature value does not verify")
    if not covers:
        problems.append("the signature does not cover the whole file")
    if not status.trusted:
        problems.append("the signer certificate does not chain to a trusted root")
    return SignatureCheck(
        signed=True,
        intact=bool(status.intact),
        valid=bool(status.valid),
        covers_whole_file=covers,
        trusted=bool(status.trusted),
        signer_subject=cert.subject.human_friendly if cert is not None else "",
        signer_cert_der=cert.dump() if cert is not None else None,
        reason="; ".join(problems),
    )
