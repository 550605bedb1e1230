"""The kiosk ↔ center wire format, shared by `center.api` (server) and `center.client` (kiosk side).

The challenge a card signs is bound to the session, the kiosk and a single-use nonce:

    challenge_bytes(session_id, kiosk_id, nonce_b64)
        = UTF-8("kofu-center-v1|" + session_id + "|" + kiosk_id + "|" + nonce_b64)

and the kiosk's `JpkiClient.sign_auth_sha256(challenge_bytes(...))` makes the signature: RSA PKCS#1 v1.5
over SHA-256 of those bytes with the card's user-authentication key. `nonce_b64` is the exact string the
center sent (standard base64 with padding).

The shapes below are pydantic dataclasses: the API publishes them in OpenAPI and the client parses
answers into them. No personal data crosses except the household members' names inside a menu (shown on
the kiosk screen for 世帯の一部, never stored by the center).
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field
from pydantic.dataclasses import dataclass

CHALLENGE_PREFIX = "kofu-center-v1|"
DENOMINATIONS = (10, 50, 100, 500, 1000)
Coin = Literal["10", "50", "100", "500", "1000"]  # the keys of a payment body (its schema says so)


def challenge_bytes(session_id: str, kiosk_id: str, nonce_b64: str) -> bytes:
    """What the card signs (through `JpkiClient.sign_auth_sha256`, which hashes it with SHA-256)."""
    return f"{CHALLENGE_PREFIX}{session_id}|{kiosk_id}|{nonce_b64}".encode()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


# ---- answers ----


@dataclass(frozen=True)
class RefusalView:
    code: str
    message_en: str
    message_ja: str


@dataclass(frozen=True)
class ErrorBody:
    error: str
    message_en: str
    message_ja: str
    refusals: list[RefusalView] | None = None


@dataclass(frozen=True)
class SessionOpened:
    session_id: str
    nonce: str  # base64
    expires_at: datetime


@dataclass(frozen=True)
class MenuEntryView:
    type: str
    title_ja: str
    available: bool
    refusals: list[RefusalView]
    fee_each: int
    window_fee_each: int
    kinds: list[str]
    items: list[str]
    fiscal_years: list[int]


@dataclass(frozen=True)
class MemberView:
    resident_id: str
    name: str
    relationship: str


@dataclass(frozen=True)
class MenuView:
    entries: list[MenuEntryView]
    members: list[MemberView]
    copies_limit: int
    refusals: list[RefusalView] = Field(default_factory=list)


@dataclass(frozen=True)
class Authenticated:
    tenant: str
    municipality: str
    menu: MenuView


@dataclass(frozen=True)
class OrderQuoted:
    order_id: str
    status: str
    fee_each: int
    total: int
    copies: int


@dataclass(frozen=True)
class PaymentState:
    order_id: str
    paid: int
    total: int
    due: int
    status: str


@dataclass(frozen=True)
class PrintJob:
    job_id: str
    order_id: str
    cert_serial: str | None
    document_sha256: str
    copies: int
    pdf: str  # base64

    def pdf_bytes(self) -> bytes:
        return unb64(self.pdf)


@dataclass(frozen=True)
class Delivery:
    order_id: str
    status: str
    jobs: list[PrintJob]


@dataclass(frozen=True)
class Receipt:
    order_id: str
    municipality: str
    title_ja: str
    copies: int
    fee_each: int
    total: int
    paid: int
    change: int
    issued_at: datetime
    number: str


@dataclass(frozen=True)
class OrderOutcome:
    """The answer to print-result and cancel: completed (with change and receipt) or refunded/cancelled."""

    order_id: str
    status: str
    change: int = 0
    refund: int = 0
    receipt: Receipt | None = None


# ---- requests ----


@dataclass(frozen=True)
class AuthenticateBody:
    method: str = Field(description='"jpki" or "card-app"')
    certificate: str | None = Field(default=None, description="base64 DER user-authentication certificate")
    signature: str | None = Field(default=None, description="base64 signature over challenge_bytes(...)")
    user_id: str | None = Field(default=None, description="card-app user id (カードAP方式)")


@dataclass(frozen=True)
class CardAppProofBody:
    signature: str = Field(
        max_length=512,
        description="base64 DER ECDSA P-256 signature of the card AP (INTERNAL AUTHENTICATE after its PIN) over "
        "challenge_bytes(session_id, kiosk_id, nonce)",
    )


@dataclass(frozen=True)
class OrderBody:
    type: str
    kind: str = "self"
    members: list[str] = Field(default_factory=list)
    items: list[str] = Field(default_factory=list)
    copies: int = 1
    fiscal_year: int | None = None


@dataclass(frozen=True)
class PaymentBody:
    coins: dict[Coin, Annotated[int, Field(ge=0, le=1000)]]


@dataclass(frozen=True)
class PrintResultBody:
    job_id: str
    ok: bool
    error: str | None = None
