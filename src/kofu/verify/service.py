"""Third-party verification of a printed (QR) or electronic (PDF) certificate.

Outcomes: valid · voided · tampered · unknown, each with a reason a person can act on. The verifier
shows only what is needed to compare with the paper (municipality, certificate title, issuance number,
date), never the contents of the registry.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from kofu.common.errors import InvalidInput, NotFound
from kofu.issuer import keys as keystore
from kofu.issuer.statement import decode, signature_ok
from kofu.issuer.store import IssuerStore
from kofu.issuer.tenant import CERTIFICATE_TITLES, CertificateType, TenantDirectory
from kofu.render.inspect import check_signature, read_statement


class Outcome(StrEnum):
    VALID = "valid"
    VOIDED = "voided"
    TAMPERED = "tampered"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    reason: str
    tenant: str | None = None
    municipality: str | None = None
    title: str | None = None
    number: int | None = None
    issued_on: date | None = None
    void_reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["issued_on"] = self.issued_on.isoformat() if self.issued_on else None
        return data


class Verifier:
    def __init__(self, engine: Engine, tenants: TenantDirectory | None, keys_dir: Path) -> None:
        self.engine = engine
        self.tenants = tenants
        self.keys_dir = keys_dir

    def _municipality(self, code: str) -> str | None:
        if self.tenants is None:
            return None
        try:
            return self.tenants.get(code).name
        except NotFound:
            return None

    def verify_statement(self, payload: str, *, signer_cert_der: bytes | None = None) -> Verdict:
        try:
            statement, signed, signature = decode(payload)
        except InvalidInput as exc:
            return Verdict(Outcome.UNKNOWN, f"not a kofu certificate statement: {exc.message_en}")
        base: dict[str, Any] = {
            "tenant": statement.tenant,
            "municipality": self._municipality(statement.tenant),
            "number": statement.number,
            "issued_on": statement.issued_on,
            "title": _title(statement.kind),
        }
        with self.engine.connect() as conn:
            store = IssuerStore(conn)
            keys = store.public_keys(statement.tenant)
            record = store.get(statement.tenant, statement.number)
        if keys is None:
            return Verdict(Outcome.UNKNOWN, f"municipality {statement.tenant} is not served by this issuer", **base)
        public_raw, signing_cert_pem = keys
        if not signature_ok(keystore.public_key_from_raw(public_raw), signed, signature):
            return Verdict(Outcome.TAMPERED, "the statement's signature does not match the municipality's key", **base)
        if signer_cert_der is not None:
            from cryptography import x509
            from cryptography.hazmat.primitives.serialization import Encoding

            registered = x509.load_pem_x509_certificate(signing_cert_pem.encode()).public_bytes(Encoding.DER)
            if registered != signer_cert_der:
                return Verdict(Outcome.TAMPERED, "the PDF was not signed by the municipality's signing key", **base)
        if record is None:
            return Verdict(Outcome.UNKNOWN, "no issuance with this number exists", **base)
        if (
            record.document_hash != statement.document_hash
            or record.type != statement.kind
            or record.issued_on != statement.issued_on
        ):
            return Verdict(Outcome.TAMPERED, "the statement does not match the issuance record", **base)
        if record.status == "voided":
            return Verdict(
                Outcome.VOIDED,
                "this certificate was voided after issue",
                void_reason=record.void_reason,
                **base,
            )
        return Verdict(Outcome.VALID, "issued by the municipality and unchanged", **base)

    def verify_pdf(self, pdf: bytes) -> Verdict:
        payload = read_statement(pdf)
        check = check_signature(pdf, [keystore.ca_certificate_pem(self.keys_dir)])
        if payload is None:
            if check.signed:
                return Verdict(Outcome.UNKNOWN, "the PDF carries no kofu statement")
            return Verdict(Outcome.UNKNOWN, "not a kofu certificate (no statement, no signature)")
        if not check.signed:
            return Verdict(Outcome.TAMPERED, "the PDF signature has been removed")
        if not (check.intact and check.valid):
            return Verdict(Outcome.TAMPERED, f"the PDF was changed after signing ({check.reason})")
        if not check.covers_whole_file:
            return Verdict(Outcome.TAMPERED, "content was added to the PDF after it was signed")
        if not check.trusted:
            return Verdict(Outcome.TAMPERED, f"the PDF signer is not a trusted municipality ({check.reason})")
        return self.verify_statement(payload, signer_cert_der=check.signer_cert_der)


def _title(kind: str) -> str | None:
    try:
        return CERTIFICATE_TITLES[CertificateType(kind)]
    except ValueError:
        return None
