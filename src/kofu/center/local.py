"""The center in this process, without HTTP: a kiosk's `CenterPort` that calls `CenterService` directly,
in the caller's thread (as `InProcessGateway` does for the center → issuer hop).

    center = LocalCenter(service, "K-0001", secret)   # instead of CenterClient.in_process(create_app(service), …)

It keeps what a kiosk sees of the API (`kofu.center.api` + `kofu.center.client.CenterClient`): every call
checks the kiosk's credential (`CenterService.authenticate_kiosk`, cached as over HTTP), so a wrong secret
gets the same refusal; a refusal raises `CenterRefused` with the code, messages, refusals and HTTP status the
client would raise; every POST runs under the same Idempotency-Key machinery (`CenterService.idempotent`,
with the request hash of the same method, path and JSON body the client sends), so a repeated key replays
the stored answer — even one first answered over HTTP; the answers are the same `kofu.center.protocol`
objects. The request id is bound for the service's code and its issuer calls, as the HTTP middleware does.

What it leaves out is the HTTP layer itself: no request log line and no request metrics per call, and an
unexpected exception in the service is answered as the 500 a kiosk would get (`http-error`) after it is
logged, where the HTTP server would log it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError

from kofu.center.api import _json, _status_of, error_body, install_error_handlers
from kofu.center.client import CenterRefused, refusal
from kofu.center.protocol import (
    AuthenticateBody,
    Authenticated,
    CardAppProofBody,
    Delivery,
    MenuView,
    OrderBody,
    OrderOutcome,
    OrderQuoted,
    PaymentBody,
    PaymentState,
    PrintResultBody,
    SessionOpened,
    b64,
)
from kofu.center.service import CenterService, IdempotencyConflict, Kiosk, Replay
from kofu.common.errors import KofuError
from kofu.ops import new_request_id, valid_request_id
from kofu.ops.context import bind, unbind

T = TypeVar("T")

log = logging.getLogger("kofu.center.local")


def refusal_of(exc: KofuError) -> CenterRefused:
    """The refusal a kiosk gets for `exc` raised by the service (its answer's status and body)."""
    return refusal(_status_of(exc), error_body(exc))


def _stored(status: int, response: str, kind: type[T]) -> T:
    """A stored answer (a replay), read back as the client reads an HTTP answer."""
    body = json.loads(response)
    if status >= 400:
        raise refusal(status, body)
    return TypeAdapter(kind).validate_python(body)


def _invalid(exc: ValidationError) -> CenterRefused:
    """The API's answer to a request body it cannot accept: its own `RequestValidationError` handler's."""
    import asyncio

    from fastapi import FastAPI, Response
    from fastapi.exceptions import RequestValidationError

    app = FastAPI()
    install_error_handlers(app)
    errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
    handler = app.exception_handlers[RequestValidationError]
    response: Response = asyncio.run(handler(None, RequestValidationError(errors)))  # type: ignore[arg-type]
    return refusal(response.status_code, json.loads(bytes(response.body)))


def _body(model: Callable[..., object], body: dict[str, Any]) -> object:
    """The request body parsed as the API parses it (a refusal as the API answers it)."""
    try:
        return model(**body)
    except ValidationError as exc:
        raise _invalid(exc) from None


class LocalCenter:
    """A kiosk's center in this process (see the module): the same calls as `CenterClient`."""

    def __init__(self, service: CenterService, kiosk_id: str, secret: str) -> None:
        self.service = service
        self.kiosk_id = kiosk_id
        self.secret = secret
        self.request_id: str = new_request_id()  # of the current transaction; renewed by open_session

    def close(self) -> None:
        """Nothing to release (no connection): for symmetry with `CenterClient`."""

    def __enter__(self) -> LocalCenter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- plumbing ----

    @contextmanager
    def _call(self) -> Iterator[Kiosk]:
        """One API call: the request id bound, the kiosk authenticated, errors as the client raises them."""
        tokens = bind(self.request_id, "center")
        try:
            yield self.service.authenticate_kiosk(self.kiosk_id, self.secret)
        except KofuError as exc:
            if isinstance(exc, CenterRefused):
                raise
            raise refusal_of(exc) from None
        except Exception as exc:  # the HTTP server logs it and answers 500
            log.exception("unexpected error in a center call")
            raise refusal(500, None) from exc
        finally:
            unbind(tokens)

    def _post(
        self,
        path: str,
        kind: type[T],
        body: dict[str, Any],
        step: Callable[[Kiosk, Any], T],
        *,
        key: str | None,
        model: Callable[..., object] | None = None,
        store: bool = True,
    ) -> T:
        """A POST under `api.Idempotent.run`'s rules: the key's row written by the step's transactions, a
        repeat with the same body replays the stored answer (another body: 409), an error answer is stored
        too. `body` is the JSON the client would send (it makes the request hash), `model` its parser."""
        request = b"POST " + path.encode() + b"\n" + _encode(body)
        with self._call() as kiosk:
            idem = self.service.idempotent(
                kiosk.kiosk_id, key or uuid.uuid4().hex, hashlib.sha256(request).hexdigest(), store=store, render=_json
            )
            parsed = _body(model, body) if model is not None else None  # after the key, as FastAPI checks them
            failed: CenterRefused | None = None
            try:
                try:
                    with idem:
                        result = step(kiosk, parsed)
                    idem.finish_ok(result)
                except KofuError as exc:
                    if isinstance(exc, IdempotencyConflict):
                        raise
                    failed = refusal_of(exc)
                    idem.finish_error(failed.status, _json(error_body(exc)))
            except Replay as replay:
                return _stored(replay.status, replay.response, kind)
            except IdempotencyConflict:
                raise
            except BaseException:
                idem.abort()
                raise
            if failed is not None:
                raise failed
            return result

    # ---- the API (as `CenterClient`) ----

    def health(self) -> bool:
        try:
            self.service.ping()
        except Exception:
            return False
        return True

    def open_session(self, *, key: str | None = None, request_id: str | None = None) -> SessionOpened:
        """Starts a customer transaction: a new request id (or `request_id`) for this and later calls."""
        if request_id is not None and not valid_request_id(request_id):
            raise ValueError("a request id is 1-64 characters of A-Z a-z 0-9 . _ : -")
        self.request_id = request_id or new_request_id()
        return self._post("/v1/sessions", SessionOpened, {}, lambda k, _: self.service.open_session(k), key=key)

    def _authenticate(self, session_id: str, body: dict[str, Any], key: str | None) -> Authenticated:
        return self._post(
            f"/v1/sessions/{session_id}/authenticate",
            Authenticated,
            body,
            lambda k, b: self.service.authenticate(k, session_id, b),
            key=key,
            model=AuthenticateBody,
        )

    def authenticate_jpki(
        self, session_id: str, certificate_der: bytes, signature: bytes, *, key: str | None = None
    ) -> Authenticated:
        body = {"method": "jpki", "certificate": b64(certificate_der), "signature": b64(signature)}
        return self._authenticate(session_id, body, key)

    def authenticate_card_app(self, session_id: str, user_id: str, *, key: str | None = None) -> Authenticated:
        return self._authenticate(session_id, {"method": "card-app", "user_id": user_id}, key)

    def prove_card_app(self, session_id: str, signature: bytes, *, key: str | None = None) -> MenuView:
        """Card-app method, after the PIN: the card AP's signature over `challenge_bytes(...)`."""
        return self._post(
            f"/v1/sessions/{session_id}/card-app-proof",
            MenuView,
            {"signature": b64(signature)},
            lambda k, b: self.service.prove_card_app(k, session_id, b),
            key=key,
            model=CardAppProofBody,
        )

    def menu(self, session_id: str) -> MenuView:
        with self._call() as kiosk:
            return self.service.menu(kiosk, session_id)

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
        body: dict[str, Any] = {"type": type, "kind": kind, "members": list(members), "items": list(items)}
        body["copies"] = copies
        if fiscal_year is not None:
            body["fiscal_year"] = fiscal_year
        return self._post(
            f"/v1/sessions/{session_id}/orders",
            OrderQuoted,
            body,
            lambda k, b: self.service.create_order(k, session_id, b),
            key=key,
            model=OrderBody,
        )

    def pay(self, order_id: str, coins: dict[int, int] | dict[str, int], *, key: str | None = None) -> PaymentState:
        return self._post(
            f"/v1/orders/{order_id}/payments",
            PaymentState,
            {"coins": {str(d): n for d, n in coins.items()}},
            lambda k, b: self.service.pay(k, order_id, {str(d): n for d, n in b.coins.items()}),
            key=key,
            model=PaymentBody,
        )

    def documents(self, order_id: str, *, key: str | None = None) -> Delivery:
        """Issues the paid order; the answer (it carries the PDF) is never stored: a retry re-issues."""
        step = lambda k, _: self.service.documents(k, order_id)  # noqa: E731
        return self._post(f"/v1/orders/{order_id}/documents", Delivery, {}, step, key=key, store=False)

    def print_result(
        self, order_id: str, job_id: str, ok: bool, error: str | None = None, *, key: str | None = None
    ) -> OrderOutcome:
        body: dict[str, Any] = {"job_id": job_id, "ok": ok}
        if error is not None:
            body["error"] = error
        return self._post(
            f"/v1/orders/{order_id}/print-result",
            OrderOutcome,
            body,
            lambda k, b: self.service.print_result(k, order_id, b.job_id, b.ok, b.error),
            key=key,
            model=PrintResultBody,
        )

    def cancel(self, order_id: str, *, key: str | None = None) -> OrderOutcome:
        step = lambda k, _: self.service.cancel(k, order_id)  # noqa: E731
        return self._post(f"/v1/orders/{order_id}/cancel", OrderOutcome, {}, step, key=key)


def _encode(body: dict[str, Any]) -> bytes:
    """The JSON bytes `CenterClient` sends for `body` (httpx's encoding): the same request hash."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
