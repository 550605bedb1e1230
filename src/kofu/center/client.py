"""The kiosk's client of the center API (the only way a kiosk talks to the center).

    center = CenterClient("https://center.example", "K-0001", secret)       # over HTTPS
    center = CenterClient.in_process(app, "K-0001", secret)                 # same process, no sockets
    opened = center.open_session()
    signature = jpki.sign_auth_sha256(challenge_bytes(opened.session_id, "K-0001", opened.nonce))
    auth = center.authenticate_jpki(opened.session_id, jpki.read_auth_certificate(), signature)

Every POST carries a fresh Idempotency-Key and is retried once with the same key when the connection
fails, so a lost answer never makes the center act twice. A refusal raises `CenterRefused` with the
center's code and messages (and the eligibility refusals, if any).

Every call carries `X-Request-ID`: one id per customer transaction, made by `open_session` (or given to
it), which the center logs and forwards to the issuer — grep one id across all services' logs.
"""

from __future__ import annotations

import ssl
import uuid
from typing import Any, TypeVar

import httpx
from pydantic import TypeAdapter

from kofu.center.protocol import (
    Authenticated,
    Delivery,
    MenuView,
    OrderOutcome,
    OrderQuoted,
    PaymentState,
    RefusalView,
    SessionOpened,
    b64,
)
from kofu.common.errors import KofuError
from kofu.ops import CLIENT_KEEP_ALIVE_SECONDS, REQUEST_ID_HEADER, new_request_id, valid_request_id

T = TypeVar("T")


class CenterRefused(KofuError):
    """The center said no: `code` (e.g. `not-eligible`, `revoked`, `payment-due`), `status` (HTTP)."""

    def __init__(
        self, code: str, message_en: str, message_ja: str, refusals: list[RefusalView] | None = None, status: int = 0
    ) -> None:
        super().__init__(message_en, message_ja, code=code)
        self.refusals = refusals or []
        self.status = status


def refusal(status: int, body: Any) -> CenterRefused:
    """The `CenterRefused` for an error answer of the center (HTTP `status`, JSON `body`)."""
    if not isinstance(body, dict):
        return CenterRefused("http-error", f"HTTP {status}", f"HTTP {status}", status=status)
    views = [TypeAdapter(RefusalView).validate_python(r) for r in body.get("refusals") or []]
    code, en, ja = (str(body.get(k, d)) for k, d in (("error", "error"), ("message_en", ""), ("message_ja", "")))
    return CenterRefused(code, en, ja, views, status)


class CenterClient:
    def __init__(
        self,
        base_url: str,
        kiosk_id: str,
        secret: str,
        *,
        verify: bool | str | ssl.SSLContext = True,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        http: httpx.Client | None = None,
        retries: int = 1,
    ) -> None:
        self.kiosk_id = kiosk_id
        self.retries = retries
        self.request_id: str = new_request_id()  # of the current transaction; renewed by open_session
        headers = {"X-Kiosk-Id": kiosk_id, "Authorization": f"Bearer {secret}"}
        if http is not None:
            http.headers.update(headers)
            self.http = http
        else:
            self.http = httpx.Client(
                base_url=base_url.rstrip("/"),
                headers=headers,
                verify=ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify,
                transport=transport,
                timeout=timeout,
                # the connection (and its TLS session) outlives a pause between customers
                limits=httpx.Limits(keepalive_expiry=CLIENT_KEEP_ALIVE_SECONDS),
            )

    @classmethod
    def in_process(cls, app: Any, kiosk_id: str, secret: str) -> CenterClient:
        """A client calling the ASGI `app` directly (fastapi.testclient, no sockets)."""
        import warnings

        with warnings.catch_warnings():  # starlette asks for httpx2; httpx is what this project installs
            warnings.simplefilter("ignore")
            from fastapi.testclient import TestClient

        return cls("http://center", kiosk_id, secret, http=TestClient(app, base_url="http://center"))

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> CenterClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- plumbing ----

    def _answer(self, response: httpx.Response, kind: type[T]) -> T:
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400 or body is None:
            raise refusal(response.status_code, body)
        return TypeAdapter(kind).validate_python(body)

    def _post(self, path: str, kind: type[T], body: dict[str, Any] | None = None, *, key: str | None = None) -> T:
        key = key or uuid.uuid4().hex
        for attempt in range(self.retries + 1):
            try:
                headers = {"Idempotency-Key": key, REQUEST_ID_HEADER: self.request_id}
                response = self.http.post(path, json=body or {}, headers=headers)
                break
            except httpx.TransportError:
                if attempt == self.retries:
                    raise
        return self._answer(response, kind)

    def _get(self, path: str, kind: type[T]) -> T:
        return self._answer(self.http.get(path, headers={REQUEST_ID_HEADER: self.request_id}), kind)

    # ---- the API ----

    def health(self) -> bool:
        try:
            return self.http.get("/healthz").status_code == 200
        except httpx.TransportError:
            return False

    def open_session(self, *, key: str | None = None, request_id: str | None = None) -> SessionOpened:
        """Starts a customer transaction: a new request id (or `request_id`) for this and later calls."""
        if request_id is not None and not valid_request_id(request_id):
            raise ValueError("a request id is 1-64 characters of A-Z a-z 0-9 . _ : -")
        self.request_id = request_id or new_request_id()
        return self._post("/v1/sessions", SessionOpened, key=key)

    def authenticate_jpki(
        self, session_id: str, certificate_der: bytes, signature: bytes, *, key: str | None = None
    ) -> Authenticated:
        body = {"method": "jpki", "certificate": b64(certificate_der), "signature": b64(signature)}
        return self._post(f"/v1/sessions/{session_id}/authenticate", Authenticated, body, key=key)

    def authenticate_card_app(self, session_id: str, user_id: str, *, key: str | None = None) -> Authenticated:
        body = {"method": "card-app", "user_id": user_id}
        return self._post(f"/v1/sessions/{session_id}/authenticate", Authenticated, body, key=key)

    def prove_card_app(self, session_id: str, signature: bytes, *, key: str | None = None) -> MenuView:
        """Card-app method, after the PIN: the card AP's signature over `challenge_bytes(...)`."""
        body = {"signature": b64(signature)}
        return self._post(f"/v1/sessions/{session_id}/card-app-proof", MenuView, body, key=key)

    def menu(self, session_id: str) -> MenuView:
        return self._get(f"/v1/sessions/{session_id}/menu", MenuView)

    def order(
        self,
        session_id: str,
        type: str,
        *,
        kind: str = "self",
        members: list[str] | tuple[str, ...] = (),
        items: list[str] | tuple[str, ...] = (),
        copies: int = 1,
        fiscal_year: int | None = None,
        key: str | None = None,
    ) -> OrderQuoted:
        body: dict[str, Any] = {
            "type": type,
            "kind": kind,
            "members": list(members),
            "items": list(items),
            "copies": copies,
        }
        if fiscal_year is not None:
            body["fiscal_year"] = fiscal_year
        return self._post(f"/v1/sessions/{session_id}/orders", OrderQuoted, body, key=key)

    def pay(self, order_id: str, coins: dict[int, int] | dict[str, int], *, key: str | None = None) -> PaymentState:
        body = {"coins": {str(d): n for d, n in coins.items()}}
        return self._post(f"/v1/orders/{order_id}/payments", PaymentState, body, key=key)

    def documents(self, order_id: str, *, key: str | None = None) -> Delivery:
        return self._post(f"/v1/orders/{order_id}/documents", Delivery, key=key)

    def print_result(
        self, order_id: str, job_id: str, ok: bool, error: str | None = None, *, key: str | None = None
    ) -> OrderOutcome:
        body: dict[str, Any] = {"job_id": job_id, "ok": ok}
        if error is not None:
            body["error"] = error
        return self._post(f"/v1/orders/{order_id}/print-result", OrderOutcome, body, key=key)

    def cancel(self, order_id: str, *, key: str | None = None) -> OrderOutcome:
        return self._post(f"/v1/orders/{order_id}/cancel", OrderOutcome, key=key)
