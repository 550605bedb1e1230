"""`HttpIssuerGateway`: the center's gateway to `kofu serve issuer` over mutual TLS.

A drop-in for `kofu.center.gateway.InProcessGateway`: the same methods, the issuer's own dataclasses
back, and the same errors — `NotEligible` (refusals rebuilt from the response), `NotFound`, `KofuError`.
A network failure, a TLS failure or a timeout raises `IssuerUnavailable`, which the center turns into
a refund. The request id of the center's current request is sent on as `X-Request-ID`.
(After a timeout on `issue` the issuer may still have committed the issuance; the center's
retry with the same `order_id` voids it — at most one live issuance per order.)
"""

from __future__ import annotations

import base64
import hashlib
import ssl
from datetime import date, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from kofu.common.errors import KofuError, NotFound
from kofu.issuer.documents import IssuedDocument
from kofu.issuer.eligibility import IssueRequest, Refusal, RefusalCode
from kofu.issuer.pki import MtlsFiles
from kofu.issuer.service import Menu, MenuEntry, MenuMember, NotEligible, Quote
from kofu.issuer.tenant import CertificateType, IssuanceKind
from kofu.ops import CLIENT_KEEP_ALIVE_SECONDS, REQUEST_ID_HEADER, current_request_id
from kofu.registry.model import CardLink


class IssuerUnavailable(KofuError):
    code = "issuer-unavailable"


class IssuerProtocolError(KofuError):
    code = "issuer-protocol-error"


def client_context(*, ca_cert: Path, client_cert: Path | None, client_key: Path | None) -> ssl.SSLContext:
    """TLS for talking to the issuer: trust only the private CA; present the center's certificate."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_cert))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if client_cert is not None:
        ctx.load_cert_chain(str(client_cert), str(client_key) if client_key else None)
    return ctx


def _forward_request_id(request: httpx.Request) -> None:
    """The center's request id (of the kiosk's transaction) goes on to the issuer, so one id follows
    the transaction through every service's logs."""
    request_id = current_request_id()
    if request_id is not None:
        request.headers[REQUEST_ID_HEADER] = request_id


def _refusal(item: Any) -> Refusal:
    return Refusal(RefusalCode(item["code"]), item.get("detail") or "")


_NO_SUCH_ROUTE = "issuer-no-such-call"  # the issuer's router knows no such path (404 without an error code)


class HttpIssuerGateway:
    """The issuer at `base_url` (e.g. https://127.0.0.1:8002), reached with the center's client certificate."""

    def __init__(
        self,
        base_url: str,
        *,
        client_cert: Path,
        client_key: Path,
        ca_cert: Path,
        timeout: float = 10.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        ctx = client_context(ca_cert=ca_cert, client_cert=client_cert, client_key=client_key)
        self._http = httpx.Client(
            base_url=self.base_url,
            verify=ctx,
            timeout=timeout,
            event_hooks={"request": [_forward_request_id]},
            # one mutual-TLS connection per concurrent call of the center, kept for the next ones: httpx keeps
            # only 20 by default and closes the rest after each call (a new handshake per issuance), while the
            # center's thread pool runs up to 40 calls at once
            limits=httpx.Limits(
                max_connections=100, max_keepalive_connections=100, keepalive_expiry=CLIENT_KEEP_ALIVE_SECONDS
            ),
        )
        self._has_admit = True  # until an issuer of an earlier release answers that it has no /v1/admit

    @classmethod
    def from_files(cls, base_url: str, files: MtlsFiles, *, timeout: float = 10.0) -> HttpIssuerGateway:
        """With the center's certificate and the CA from `kofu pki init` (`pki.mtls_files(keys_dir)`)."""
        return cls(
            base_url, client_cert=files.center_cert, client_key=files.center_key, ca_cert=files.ca_cert, timeout=timeout
        )

    # ---- plumbing ----

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HttpIssuerGateway:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        try:
            response = self._http.post(path, json=body)
        except httpx.TimeoutException as exc:
            raise IssuerUnavailable(
                f"The issuing server did not answer in time ({type(exc).__name__}).",
                "証明発行サーバが時間内に応答しませんでした。",
            ) from exc
        except httpx.TransportError as exc:
            raise IssuerUnavailable(
                f"The issuing server cannot be reached: {type(exc).__name__}: {exc}",
                "証明発行サーバに接続できません。",
            ) from exc
        return self._result(response)

    @staticmethod
    def _result(response: httpx.Response) -> Any:
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.is_success:
            if data is None:
                raise IssuerProtocolError(f"The issuing server answered {response.status_code} without JSON.")
            return data
        if response.status_code >= 500:
            raise IssuerUnavailable(
                f"The issuing server failed ({response.status_code}).", "証明発行サーバでエラーが発生しました。"
            )
        error = data.get("error") if isinstance(data, dict) else None
        if error is None and response.status_code == 404 and data == {"detail": "Not Found"}:
            raise KofuError(
                "The issuing server has no such call (an earlier release?).",
                "証明発行サーバにこの機能がありません（旧版の可能性）。",
                code=_NO_SUCH_ROUTE,
            )
        if error is None:  # FastAPI's validation errors, or a proxy
            detail = data.get("detail") if isinstance(data, dict) else response.text[:200]
            raise KofuError(
                f"The issuing server refused the request ({response.status_code}): {detail}",
                "証明発行サーバが要求を受け付けませんでした。",
                code="invalid-input" if response.status_code == 422 else "issuer-refused",
            )
        if error == NotEligible.code:
            raise NotEligible([_refusal(r) for r in data.get("refusals", [])])
        message_en = str(data.get("message_en") or error)
        message_ja = data.get("message_ja")
        if response.status_code == 404 or error == NotFound.code:
            raise NotFound(message_en, message_ja)
        raise KofuError(message_en, message_ja, code=str(error))

    # ---- the gateway ----

    def healthz(self) -> bool:
        try:
            return self._http.get("/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    def identify(self, *, cert_serial: str | None = None, card_app_user_id: str | None = None) -> CardLink | None:
        data = self._post("/v1/identify", {"cert_serial": cert_serial, "card_app_user_id": card_app_user_id})
        return None if data["card"] is None else self._card(data["card"])

    def admit(
        self, *, at: datetime, cert_serial: str | None = None, card_app_user_id: str | None = None
    ) -> tuple[CardLink, Menu] | None:
        if not self._has_admit:
            return self._identify_then_menu(at=at, cert_serial=cert_serial, card_app_user_id=card_app_user_id)
        try:
            data = self._post(
                "/v1/admit", {"at": at.isoformat(), "cert_serial": cert_serial, "card_app_user_id": card_app_user_id}
            )
        except KofuError as exc:
            if exc.code != _NO_SUCH_ROUTE:
                raise
            # an issuer not yet upgraded (a rolling upgrade): the two calls it has, from now on
            self._has_admit = False
            return self._identify_then_menu(at=at, cert_serial=cert_serial, card_app_user_id=card_app_user_id)
        if data["card"] is None:
            return None
        return self._card(data["card"]), self._menu(data["menu"])

    def _identify_then_menu(
        self, *, at: datetime, cert_serial: str | None, card_app_user_id: str | None
    ) -> tuple[CardLink, Menu] | None:
        card = self.identify(cert_serial=cert_serial, card_app_user_id=card_app_user_id)
        if card is None:
            return None
        menu = self.menu(
            card.tenant, card.resident_id, at=at, cert_serial=cert_serial, card_app_user_id=card_app_user_id
        )
        return card, menu

    @staticmethod
    def _card(card: dict[str, Any]) -> CardLink:
        return CardLink(
            tenant=card["tenant"],
            resident_id=card["resident_id"],
            cert_serial=card["cert_serial"],
            issued_on=date.fromisoformat(card["issued_on"]),
            usable_from=date.fromisoformat(card["usable_from"]),
            revoked_on=date.fromisoformat(card["revoked_on"]) if card.get("revoked_on") else None,
            sign_serial=card.get("sign_serial"),
            card_app_user_id=card.get("card_app_user_id"),
            card_app_public_key=card.get("card_app_public_key"),
        )

    def menu(
        self,
        tenant: str,
        resident_id: str,
        *,
        at: datetime,
        cert_serial: str | None = None,
        card_app_user_id: str | None = None,
    ) -> Menu:
        data = self._post(
            "/v1/menu",
            {
                "tenant": tenant,
                "resident_id": resident_id,
                "at": at.isoformat(),
                "cert_serial": cert_serial,
                "card_app_user_id": card_app_user_id,
            },
        )
        return self._menu(data)

    @staticmethod
    def _menu(data: dict[str, Any]) -> Menu:
        return Menu(
            tenant=data["tenant"],
            municipality=data["municipality"],
            copies_limit=data["copies_limit"],
            entries=tuple(
                MenuEntry(
                    type=CertificateType(e["type"]),
                    available=e["available"],
                    refusals=tuple(_refusal(r) for r in e["refusals"]),
                    fee_each=e["fee_each"],
                    window_fee_each=e["window_fee_each"],
                    kinds=tuple(IssuanceKind(k) for k in e["kinds"]),
                    items=tuple(e["items"]),
                    fiscal_years=tuple(e["fiscal_years"]),
                )
                for e in data["entries"]
            ),
            members=tuple(MenuMember(m["resident_id"], m["name"], m["relationship"]) for m in data["members"]),
            refusals=tuple(_refusal(r) for r in data["refusals"]),
        )

    @staticmethod
    def _request(request: IssueRequest) -> dict[str, Any]:
        return {
            "tenant": request.tenant,
            "resident_id": request.resident_id,
            "type": request.type.value,
            "kind": request.kind.value,
            "members": list(request.members),
            "items": list(request.items),
            "copies": request.copies,
            "fiscal_year": request.fiscal_year,
        }

    def quote(
        self,
        request: IssueRequest,
        *,
        at: datetime,
        cert_serial: str | None = None,
        card_app_user_id: str | None = None,
    ) -> Quote:
        data = self._post(
            "/v1/quote",
            {
                "request": self._request(request),
                "at": at.isoformat(),
                "cert_serial": cert_serial,
                "card_app_user_id": card_app_user_id,
            },
        )
        return Quote(CertificateType(data["type"]), data["copies"], data["fee_each"], data["window_fee_each"])

    def issue(
        self,
        request: IssueRequest,
        *,
        at: datetime,
        order_id: str,
        cert_serial: str | None = None,
        card_app_user_id: str | None = None,
    ) -> IssuedDocument:
        data = self._post(
            "/v1/issue",
            {
                "request": self._request(request),
                "at": at.isoformat(),
                "order_id": order_id,
                "cert_serial": cert_serial,
                "card_app_user_id": card_app_user_id,
            },
        )
        pdf = base64.b64decode(data["pdf_base64"], validate=True)
        if hashlib.sha256(pdf).hexdigest() != data["pdf_sha256"]:
            self.void(data["tenant"], data["number"], reason="transfer-damaged")
            raise IssuerProtocolError(
                "The certificate arrived damaged (hash mismatch).", "証明書データが破損しています。"
            )
        return IssuedDocument(data["tenant"], data["number"], pdf, data["statement"], data["fee_each"], data["copies"])

    def void(self, tenant: str, number: int, *, reason: str) -> None:
        self._post("/v1/void", {"tenant": tenant, "number": number, "reason": reason})

    def void_order(self, order_id: str, *, reason: str) -> list[tuple[str, int]]:
        data = self._post("/v1/void-order", {"order_id": order_id, "reason": reason})
        return [(str(v["tenant"]), int(v["number"])) for v in data["voided"]]
