"""The one way the center reaches an issuing server (ARCHITECTURE: center → issuer through a gateway).

`IssuerGateway` is the port; `InProcessGateway` wraps an `IssuerService` in this process (the demo,
tests); the HTTP implementation (`kofu.issuer.client.HttpIssuerGateway`) speaks to `kofu serve issuer`
over mutual TLS. Both raise the same errors: `NotEligible` (with refusals), `NotFound`, `KofuError`.
Values crossing the gateway are the issuer's own dataclasses, so both implementations are
interchangeable in every test.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from kofu.issuer.documents import IssuedDocument
from kofu.issuer.eligibility import IssueRequest
from kofu.issuer.service import IssuerService, Menu, Quote
from kofu.registry.model import CardLink

__all__ = ["InProcessGateway", "IssuedDocument", "IssuerGateway"]


class IssuerGateway(Protocol):
    def identify(self, *, cert_serial: str | None = None, card_app_user_id: str | None = None) -> CardLink | None:
        """Which resident of which municipality holds this card, or None."""
        ...

    def menu(
        self,
        tenant: str,
        resident_id: str,
        *,
        at: datetime,
        cert_serial: str | None = None,
        card_app_user_id: str | None = None,
    ) -> Menu: ...

    def admit(
        self, *, at: datetime, cert_serial: str | None = None, card_app_user_id: str | None = None
    ) -> tuple[CardLink, Menu] | None:
        """`identify`, and for a registered card its resident's `menu` (with the same card), in one call; None
        if the card is not registered."""
        ...

    def quote(
        self,
        request: IssueRequest,
        *,
        at: datetime,
        cert_serial: str | None = None,
        card_app_user_id: str | None = None,
    ) -> Quote: ...

    def issue(
        self,
        request: IssueRequest,
        *,
        at: datetime,
        order_id: str,
        cert_serial: str | None = None,
        card_app_user_id: str | None = None,
    ) -> IssuedDocument:
        """Issues (numbers, records, renders, signs). At most one live issuance per `order_id`: a retried
        call voids the earlier issuance (reason `retried`) before issuing again, so a lost response never
        leaves two valid certificates for one order."""
        ...

    def void(self, tenant: str, number: int, *, reason: str) -> None: ...

    def void_order(self, order_id: str, *, reason: str) -> list[tuple[str, int]]:
        """Voids every live issuance of `order_id` — for an order refunded without knowing its number (the
        center crashed, or the issuer's answer was lost). Idempotent; returns the (tenant, number) voided
        by this call."""
        ...


class InProcessGateway:
    """The issuer in this process."""

    def __init__(self, issuer: IssuerService) -> None:
        self.issuer = issuer

    def identify(self, *, cert_serial: str | None = None, card_app_user_id: str | None = None) -> CardLink | None:
        return self.issuer.identify(cert_serial=cert_serial, card_app_user_id=card_app_user_id)

    def menu(
        self,
        tenant: str,
        resident_id: str,
        *,
        at: datetime,
        cert_serial: str | None = None,
        card_app_user_id: str | None = None,
    ) -> Menu:
        return self.issuer.menu(tenant, resident_id, at=at, cert_serial=cert_serial, card_app_user_id=card_app_user_id)

    def admit(
        self, *, at: datetime, cert_serial: str | None = None, card_app_user_id: str | None = None
    ) -> tuple[CardLink, Menu] | None:
        return self.issuer.admit(at=at, cert_serial=cert_serial, card_app_user_id=card_app_user_id)

    def quote(
        self,
        request: IssueRequest,
        *,
        at: datetime,
        cert_serial: str | None = None,
        card_app_user_id: str | None = None,
    ) -> Quote:
        return self.issuer.quote(request, at=at, cert_serial=cert_serial, card_app_user_id=card_app_user_id)

    def issue(
        self,
        request: IssueRequest,
        *,
        at: datetime,
        order_id: str,
        cert_serial: str | None = None,
        card_app_user_id: str | None = None,
    ) -> IssuedDocument:
        issued = self.issuer.issue(
            request,
            channel="kiosk",
            at=at,
            order_id=order_id,
            cert_serial=cert_serial,
            card_app_user_id=card_app_user_id,
        )
        r = issued.record
        return IssuedDocument(r.tenant, r.number, issued.pdf, issued.statement, r.fee_each, r.copies)

    def void(self, tenant: str, number: int, *, reason: str) -> None:
        self.issuer.void(tenant, number, reason=reason)

    def void_order(self, order_id: str, *, reason: str) -> list[tuple[str, int]]:
        return [(r.tenant, r.number) for r in self.issuer.void_order(order_id, reason=reason)]
