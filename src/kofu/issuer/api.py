"""HTTP face of the issuing server, for the center only (`kofu serve issuer`, mutual TLS).

POST /v1/identify   which resident of which municipality holds this card   → {"card": CardLink | null}
POST /v1/menu       what this resident may obtain now                       → Menu
POST /v1/admit      identify + menu in one call                            → {"card": …, "menu": …} (both null)
POST /v1/quote      the fee for a request (nothing written)                → Quote
POST /v1/issue      number, record, render, sign (one live issuance per order_id) → the PDF (base64) …
POST /v1/void       void an issuance with a reason                         → {"tenant","number","status"}
POST /v1/void-order void every live issuance of an order id (idempotent)    → {"order_id","voided":[…]}
GET  /healthz

Refusals answer 422 `{"error": "not-eligible", "refusals": [{code, message_en, message_ja, detail}], …}`,
an unknown tenant or issuance 404 `{"error": "not-found", …}`, any other expected failure 409 with its code.
A malformed body is FastAPI's own 422 (`{"detail": [...]}`).

Who may call: `kofu serve issuer` runs uvicorn with TLS and CERT_REQUIRED against the private mTLS CA
(`kofu.issuer.pki`), so a client without a certificate from that CA cannot finish the handshake.
uvicorn does not put the peer certificate in the ASGI scope, so `tls_protocol()` gives it an HTTP
protocol class that does: the ASGI TLS extension (`scope["extensions"]["tls"]`, with `client_cert_name`
and `client_cert_chain`). Every `/v1/…` call then needs a client certificate whose subject CN is
`kofu-center`, else 403 — also when the app is run without that protocol class (no TLS information at
all is a refusal, not a pass), unless `create_app(…, client_cn=None)` says otherwise.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import ssl
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any, Literal

from cryptography import x509
from cryptography.x509.oid import NameOID
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from kofu.common.errors import KofuError, NotFound
from kofu.issuer.eligibility import IssueRequest, Refusal
from kofu.issuer.pki import CENTER_CN
from kofu.issuer.service import IssuerService, Menu, NotEligible, Quote
from kofu.issuer.tenant import CertificateType, IssuanceKind
from kofu.ops import instrument
from kofu.registry.model import CardLink

# ---- wire models ----


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


TOKEN = r"^[A-Za-z0-9._:-]+$"  # ids and reason codes: no free text (and no NUL, which PostgreSQL refuses)


class CardQuery(_Body):
    cert_serial: str | None = Field(default=None, max_length=128)
    card_app_user_id: str | None = Field(default=None, max_length=128)


class CardLinkOut(BaseModel):
    tenant: str
    resident_id: str
    cert_serial: str
    issued_on: date
    usable_from: date
    revoked_on: date | None = None
    sign_serial: str | None = None
    card_app_user_id: str | None = None
    card_app_public_key: str | None = None  # base64 DER SubjectPublicKeyInfo (カードAP方式)


class IdentifyOut(BaseModel):
    card: CardLinkOut | None


class AdmitIn(CardQuery):
    at: AwareDatetime


class MenuIn(CardQuery):
    tenant: str = Field(max_length=16)
    resident_id: str = Field(max_length=64)
    at: AwareDatetime


class RequestIn(_Body):
    tenant: str = Field(max_length=16)
    resident_id: str = Field(max_length=64)
    type: CertificateType
    kind: IssuanceKind = IssuanceKind.SELF
    members: list[str] = Field(default_factory=list, max_length=50)
    items: list[str] = Field(default_factory=list, max_length=50)
    copies: int = Field(default=1, ge=1, le=99)
    fiscal_year: int | None = Field(default=None, ge=1900, le=9999)

    def to_domain(self) -> IssueRequest:
        return IssueRequest(
            tenant=self.tenant,
            resident_id=self.resident_id,
            type=self.type,
            kind=self.kind,
            members=tuple(self.members),
            items=tuple(self.items),
            copies=self.copies,
            fiscal_year=self.fiscal_year,
        )


class QuoteIn(CardQuery):
    request: RequestIn
    at: AwareDatetime


class IssueIn(QuoteIn):
    order_id: str = Field(min_length=1, max_length=64, pattern=TOKEN)


class VoidIn(_Body):
    tenant: str = Field(max_length=16)
    number: int = Field(ge=1, le=2**31 - 1)
    reason: str = Field(min_length=1, max_length=64)


class VoidOrderIn(_Body):
    order_id: str = Field(min_length=1, max_length=64, pattern=TOKEN)
    reason: str = Field(min_length=1, max_length=64, pattern=TOKEN)


class VoidedNumber(BaseModel):
    tenant: str
    number: int


class VoidedOrderOut(BaseModel):
    order_id: str
    voided: list[VoidedNumber]


class RefusalOut(BaseModel):
    code: str
    message_en: str
    message_ja: str
    detail: str = ""


class MenuMemberOut(BaseModel):
    resident_id: str
    name: str
    relationship: str


class MenuEntryOut(BaseModel):
    type: CertificateType
    available: bool
    refusals: list[RefusalOut]
    fee_each: int
    window_fee_each: int
    kinds: list[IssuanceKind]
    items: list[str]
    fiscal_years: list[int]


class MenuOut(BaseModel):
    tenant: str
    municipality: str
    copies_limit: int
    entries: list[MenuEntryOut]
    members: list[MenuMemberOut]
    refusals: list[RefusalOut]


class AdmitOut(BaseModel):
    """`/v1/admit`: the card's link and its resident's menu, or both null (the card is not registered)."""

    card: CardLinkOut | None
    menu: MenuOut | None


class QuoteOut(BaseModel):
    type: CertificateType
    copies: int
    fee_each: int
    window_fee_each: int
    total: int


class IssuedOut(BaseModel):
    tenant: str
    number: int
    pdf_base64: str
    pdf_sha256: str
    statement: str
    fee_each: int
    copies: int


class VoidedOut(BaseModel):
    tenant: str
    number: int
    status: Literal["voided"]
    reason: str | None


class ErrorOut(BaseModel):
    error: str
    message_en: str
    message_ja: str
    refusals: list[RefusalOut] = Field(default_factory=list)


def refusal_out(r: Refusal) -> RefusalOut:
    return RefusalOut(code=r.code.value, message_en=r.message_en, message_ja=r.message_ja, detail=r.detail)


def menu_out(menu: Menu) -> MenuOut:
    return MenuOut(
        tenant=menu.tenant,
        municipality=menu.municipality,
        copies_limit=menu.copies_limit,
        entries=[
            MenuEntryOut(
                type=e.type,
                available=e.available,
                refusals=[refusal_out(r) for r in e.refusals],
                fee_each=e.fee_each,
                window_fee_each=e.window_fee_each,
                kinds=list(e.kinds),
                items=list(e.items),
                fiscal_years=list(e.fiscal_years),
            )
            for e in menu.entries
        ],
        members=[
            MenuMemberOut(resident_id=m.resident_id, name=m.name, relationship=m.relationship) for m in menu.members
        ],
        refusals=[refusal_out(r) for r in menu.refusals],
    )


def quote_out(q: Quote) -> QuoteOut:
    return QuoteOut(type=q.type, copies=q.copies, fee_each=q.fee_each, window_fee_each=q.window_fee_each, total=q.total)


def card_link_out(card: CardLink) -> CardLinkOut:
    return CardLinkOut(
        tenant=card.tenant,
        resident_id=card.resident_id,
        cert_serial=card.cert_serial,
        issued_on=card.issued_on,
        usable_from=card.usable_from,
        revoked_on=card.revoked_on,
        sign_serial=card.sign_serial,
        card_app_user_id=card.card_app_user_id,
        card_app_public_key=card.card_app_public_key,
    )


def card_out(card: CardLink | None) -> IdentifyOut:
    return IdentifyOut(card=None if card is None else card_link_out(card))


def admit_out(admitted: tuple[CardLink, Menu] | None) -> AdmitOut:
    if admitted is None:
        return AdmitOut(card=None, menu=None)
    card, menu = admitted
    return AdmitOut(card=card_link_out(card), menu=menu_out(menu))


# ---- who is calling ----


def peer_common_name(scope: Any) -> str | None:
    """The subject CN of the client certificate from the ASGI TLS extension, or None."""
    tls = (scope.get("extensions") or {}).get("tls") or {}
    chain = tls.get("client_cert_chain") or []
    if not chain:
        return None
    return _common_name(chain[0].encode() if isinstance(chain[0], str) else chain[0])


@functools.lru_cache(maxsize=64)
def _common_name(pem: bytes) -> str | None:
    """The subject CN of a PEM certificate, parsed once per certificate (every request of a connection, and
    of every connection of the same client, carries the same one)."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError:
        return None
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else None


def _answer(model: BaseModel) -> Response:
    """The JSON answer of a route, serialised once. Returning the model instead would make FastAPI validate it
    again against the route's response model — in one more thread-pool hop for a plain `def` route — before
    serialising it; the bytes are the same (FastAPI serialises with the same pydantic serializer)."""
    return Response(model.model_dump_json().encode(), media_type="application/json")


class Forbidden(KofuError):
    code = "forbidden"


def create_app(issuer: IssuerService, *, client_cn: str | None = CENTER_CN) -> FastAPI:
    """The issuer API. `client_cn`: the subject CN every `/v1` caller's TLS client certificate must carry
    (None only where TLS client authentication happens elsewhere, e.g. in-process tests)."""
    app = FastAPI(
        title="kofu issuing server (証明発行サーバ)",
        version="1",
        description="Called by the issuance center only, over mutual TLS. See docs/issuer-api.md.",
    )

    async def require_center(request: Request) -> None:  # async: a plain `def` would cost a thread-pool hop
        if client_cn is None:
            return
        if peer_common_name(request.scope) != client_cn:
            raise Forbidden(
                "Only the issuance center may call the issuing server.",
                "証明発行サーバは証明書交付センターからの接続のみ受け付けます。",
            )

    @app.exception_handler(NotEligible)
    async def not_eligible(_: Request, exc: NotEligible) -> JSONResponse:
        body = ErrorOut(
            error=exc.code,
            message_en=exc.message_en,
            message_ja=exc.message_ja,
            refusals=[refusal_out(r) for r in exc.refusals],
        )
        return JSONResponse(body.model_dump(), status_code=422)

    @app.exception_handler(KofuError)
    async def kofu_error(_: Request, exc: KofuError) -> JSONResponse:
        status = 404 if isinstance(exc, NotFound) else 403 if isinstance(exc, Forbidden) else 409
        body = ErrorOut(error=exc.code, message_en=exc.message_en, message_ja=exc.message_ja)
        return JSONResponse(body.model_dump(), status_code=status)

    errors: dict[int | str, dict[str, Any]] = {
        403: {"model": ErrorOut, "description": "not the center"},
        404: {"model": ErrorOut, "description": "unknown tenant or issuance"},
        409: {"model": ErrorOut, "description": "another expected failure"},
    }
    refusing: dict[int | str, dict[str, Any]] = {
        **errors,
        422: {"model": ErrorOut, "description": "not eligible (refusals), or a malformed body"},
    }
    center = [Depends(require_center)]

    @app.post("/v1/identify", dependencies=center, responses=errors, response_model=IdentifyOut)
    def identify(body: CardQuery) -> Response:
        return _answer(card_out(issuer.identify(cert_serial=body.cert_serial, card_app_user_id=body.card_app_user_id)))

    @app.post("/v1/admit", dependencies=center, responses=errors, response_model=AdmitOut)
    def admit(body: AdmitIn) -> Response:
        """`identify`, and for a registered card its resident's `menu`, in one call (the center's card check)."""
        return _answer(
            admit_out(issuer.admit(at=body.at, cert_serial=body.cert_serial, card_app_user_id=body.card_app_user_id))
        )

    @app.post("/v1/menu", dependencies=center, responses=errors, response_model=MenuOut)
    def menu(body: MenuIn) -> Response:
        return _answer(
            menu_out(
                issuer.menu(
                    body.tenant,
                    body.resident_id,
                    at=body.at,
                    cert_serial=body.cert_serial,
                    card_app_user_id=body.card_app_user_id,
                )
            )
        )

    @app.post("/v1/quote", dependencies=center, responses=refusing, response_model=QuoteOut)
    def quote(body: QuoteIn) -> Response:
        return _answer(
            quote_out(
                issuer.quote(
                    body.request.to_domain(),
                    at=body.at,
                    cert_serial=body.cert_serial,
                    card_app_user_id=body.card_app_user_id,
                )
            )
        )

    @app.post("/v1/issue", dependencies=center, responses=refusing, response_model=IssuedOut)
    def issue(body: IssueIn) -> Response:
        issued = issuer.issue(
            body.request.to_domain(),
            channel="kiosk",
            at=body.at,
            order_id=body.order_id,
            cert_serial=body.cert_serial,
            card_app_user_id=body.card_app_user_id,
        )
        r = issued.record
        return _answer(
            IssuedOut(
                tenant=r.tenant,
                number=r.number,
                pdf_base64=base64.b64encode(issued.pdf).decode("ascii"),
                pdf_sha256=hashlib.sha256(issued.pdf).hexdigest(),
                statement=issued.statement,
                fee_each=r.fee_each,
                copies=r.copies,
            )
        )

    @app.post("/v1/void", dependencies=center, responses=errors, response_model=VoidedOut)
    def void(body: VoidIn) -> Response:
        record = issuer.void(body.tenant, body.number, reason=body.reason)
        return _answer(
            VoidedOut(tenant=record.tenant, number=record.number, status="voided", reason=record.void_reason)
        )

    @app.post("/v1/void-order", dependencies=center, responses=errors, response_model=VoidedOrderOut)
    def void_order(body: VoidOrderIn) -> Response:
        records = issuer.void_order(body.order_id, reason=body.reason)
        return _answer(
            VoidedOrderOut(
                order_id=body.order_id, voided=[VoidedNumber(tenant=r.tenant, number=r.number) for r in records]
            )
        )

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return instrument(app, "issuer")


# ---- uvicorn: the peer certificate into the ASGI scope ----

ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]


def tls_extension(transport: asyncio.BaseTransport) -> dict[str, Any] | None:
    """The ASGI TLS extension for this connection (None over plain TCP)."""
    ssl_object = transport.get_extra_info("ssl_object")
    if not isinstance(ssl_object, ssl.SSLObject | ssl.SSLSocket):
        return None
    der = ssl_object.getpeercert(binary_form=True)
    chain: list[str] = []
    name = None
    if der:
        cert = x509.load_der_x509_certificate(der)
        chain = [ssl.DER_cert_to_PEM_cert(der)]
        name = cert.subject.rfc4514_string()
    return {
        "server_cert": None,
        "client_cert_chain": chain,
        "client_cert_name": name,
        "client_cert_error": None,
        "tls_version": None,
        "cipher_suite": None,
    }


def tls_protocol() -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol — httptools (C parser) when installed, else h11 — adding the ASGI TLS extension
    (peer certificate) to every request's scope."""
    base: type[Any]
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        base = HttpToolsProtocol
    except ImportError:  # httptools is not installed: the pure-Python parser
        from uvicorn.protocols.http.h11_impl import H11Protocol

        base = H11Protocol

    class TLSProtocol(base):  # type: ignore[misc,valid-type]
        app: ASGIApp

        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            tls = tls_extension(transport)
            if tls is None:
                return
            inner: ASGIApp = self.app

            async def with_tls(scope: Any, receive: Any, send: Any) -> None:
                scope.setdefault("extensions", {})["tls"] = tls
                await inner(scope, receive, send)

            self.app = with_tls

    return TLSProtocol
