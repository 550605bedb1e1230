"""What crosses the center–issuer boundary for a finished certificate (in-process or over HTTP)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class IssuedDocument:
    """A finished, signed certificate as the center receives it."""

    tenant: str
    number: int
    pdf: bytes
    statement: str
    fee_each: int
    copies: int

    @property
    def pdf_sha256(self) -> str:
        return hashlib.sha256(self.pdf).hexdigest()
