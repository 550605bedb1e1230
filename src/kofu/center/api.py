"""The center's HTTP API for kiosks (see docs/center.md). `create_app(service)` for a stand-alone
service, `create_router(service)` to mount it inside another app (the demo).

Every call authenticates the kiosk (`X-Kiosk-Id` + `Authorization: Bearer <secret>`); every POST needs an
`Idempotency-Key`: a repeat with the same key and body gets the stored answer, another body 409. Errors
are `{"error", "message_en", "message_ja", "refusals"?}`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic_core import to_jsonable_python

from kofu.center.protocol import (
    AuthenticateBody,
    Authenticated,
    CardAppProofBody,
    Delivery,
    ErrorBody,
    MenuView,
    OrderBody,
    OrderOutcome,
    OrderQuoted,
    PaymentBody,
    PaymentState,
    PrintResultBody,
    SessionOpened,
)
from kofu.center.service import CenterError, CenterService, IdempotencyConflict, Kiosk, Replay
from kofu.common.errors import KofuError
from kofu.ops import instrument

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": what}
    for code, what in {
        400: "invalid request, missing Idempotency-Key",
        401: "unknown kiosk, wrong secret, card signature invalid (JPKI or card AP)",
        403: "another kiosk's session or order",
        404: "no such session or order",
        409: "replayed nonce or card-app proof, card-app proof still missing, wrong order state, "
        "Idempotency-Key reused with another body",
        410: "session or order expired (the order is refunded and voided)",
        422: "refused: certificate (code = JPKI failure reason) or eligibility (refusals)",
        503: "issuer or revocation service unreachable",
    }.items()
}


def error_body(exc: KofuError) -> dict[str, Any]:
    body: dict[str, Any] = {"error": exc.code, "message_en": exc.message_en, "message_ja": exc.message_ja}
    refusals = getattr(exc, "refusals", None)
    if refusals:
        body["refusals"] = to_jsonable_python(refusals)
    return body


def _status_of(exc: KofuError) -> int:
    if isinstance(exc, CenterError):
        return exc.status
    return {"not-found": 404, "conflict": 409, "order-state": 409}.get(exc.code, 400)


def _json(content: Any) -> str:
    """The JSON text JSONResponse would send (compact, UTF-8): stored answers replay byte for byte."""
    return json.dumps(to_jsonable_python(content), ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _stored(status: int, body: str, *, replayed: bool) -> Response:
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return Response(body.encode(), status_code=status, media_type="application/json", headers=headers)


class Idempotent:
    """Runs a POST once per (kiosk, Idempotency-Key); stores its answer unless it carries a document. The
    key's row is written by the step's own transactions (`CenterService.idempotent`): a repeat with the same
    body gets the stored answer, another body or a repeat while the first still runs gets 409."""

    def __init__(self, service: CenterService, kiosk: Kiosk, key: str, request_sha256: str) -> None:
        self.service = service
        self.kiosk = kiosk
        self.key = key
        self.request_sha256 = request_sha256

    def run(self, fn: Callable[[], object], *, store: bool = True) -> Response:
        idem = self.service.idempotent(self.kiosk.kiosk_id, self.key, self.request_sha256, store=store, render=_json)
        try:
            try:
                with idem:
                    result = fn()
                idem.finish_ok(result)
            except KofuError as exc:
                if isinstance(exc, IdempotencyConflict):
                    raise
                body = _json(error_body(exc))
                idem.finish_error(_status_of(exc), body)
                return _stored(_status_of(exc), body, replayed=False)
        except Replay as replay:
            return _stored(replay.status, replay.response, replayed=True)
        except IdempotencyConflict as exc:
            return JSONResponse(error_body(exc), status_code=exc.status)
        except BaseException:
            idem.abort()
            raise
        if idem.rendered is not None:
            return _stored(200, idem.rendered, replayed=False)
        return JSONResponse(to_jsonable_python(result), status_code=200)


def _url_path(scope: Any) -> str:
    """`request.url.path` without building the whole URL (host, query, parsing): the path with the three
    characters Starlette escapes escaped — the same text, so Idempotency-Key digests stored before still match."""
    return str(scope["path"]).replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")


def create_router(service: CenterService) -> APIRouter:
    router = APIRouter()

    # The dependencies are `async def`: FastAPI runs a plain `def` dependency in the thread pool, one hop per
    # dependency on top of the endpoint's own. A remembered credential (`CenterService.remembered_kiosk`) is
    # checked on the event loop; only a database read goes to the thread pool.
    async def kiosk(
        x_kiosk_id: str | None = Header(None, description="the kiosk's id"),
        authorization: str | None = Header(None, description="Bearer <kiosk secret>"),
    ) -> Kiosk:
        secret = None
        if authorization and authorization.lower().startswith("bearer "):
            secret = authorization[7:].strip()
        remembered = service.remembered_kiosk(x_kiosk_id, secret)
        if remembered is not None:
            return remembered
        return await run_in_threadpool(service.authenticate_kiosk, x_kiosk_id, secret)

    async def idempotent(
        request: Request,
        k: Kiosk = Depends(kiosk),
        idempotency_key: str = Header(
            description="unique per intended action; reuse it to retry", min_length=1, max_length=128
        ),
    ) -> Idempotent:
        body = await request.body()  # the body FastAPI already read for the route (kept by the request)
        digest = hashlib.sha256(request.method.encode() + b" " + _url_path(request.scope).encode() + b"\n" + body)
        return Idempotent(service, k, idempotency_key, digest.hexdigest())

    @router.get("/healthz", tags=["ops"])
    def healthz() -> JSONResponse:
        try:
            service.ping()
        except Exception as exc:
            return JSONResponse({"status": "unavailable", "detail": type(exc).__name__}, status_code=503)
        return JSONResponse({"status": "ok"})

    @router.post("/v1/sessions", response_model=SessionOpened, responses=ERRORS, tags=["sessions"])
    def open_session(idem: Idempotent = Depends(idempotent)) -> Response:
        """Opens a session and hands out the nonce the card must sign (see `challenge_bytes`)."""
        return idem.run(lambda: service.open_session(idem.kiosk))

    @router.post(
        "/v1/sessions/{session_id}/authenticate", response_model=Authenticated, responses=ERRORS, tags=["sessions"]
    )
    def authenticate(session_id: str, body: AuthenticateBody, idem: Idempotent = Depends(idempotent)) -> Response:
        """Validates the card (JPKI certificate + signature over the challenge, or card-app user id), routes
        to the resident's municipality and answers its menu. A card-app session is provisional (menu only)
        until `card-app-proof`."""
        return idem.run(lambda: service.authenticate(idem.kiosk, session_id, body))

    @router.post(
        "/v1/sessions/{session_id}/card-app-proof", response_model=MenuView, responses=ERRORS, tags=["sessions"]
    )
    def card_app_proof(session_id: str, body: CardAppProofBody, idem: Idempotent = Depends(idempotent)) -> Response:
        """Card-app method, after the card-AP PIN: the card AP's signature over the session's challenge. Checked
        against the key registered at the window; once per session; orders need it."""
        return idem.run(lambda: service.prove_card_app(idem.kiosk, session_id, body))

    @router.get("/v1/sessions/{session_id}/menu", response_model=MenuView, responses=ERRORS, tags=["sessions"])
    def menu(session_id: str, k: Kiosk = Depends(kiosk)) -> Response:
        # a Response, like every other step's: FastAPI would validate a returned MenuView against the
        # response model in one more thread-pool hop before serialising it
        return JSONResponse(to_jsonable_python(service.menu(k, session_id)))

    @router.post("/v1/sessions/{session_id}/orders", response_model=OrderQuoted, responses=ERRORS, tags=["orders"])
    def create_order(session_id: str, body: OrderBody, idem: Idempotent = Depends(idempotent)) -> Response:
        return idem.run(lambda: service.create_order(idem.kiosk, session_id, body))

    @router.post("/v1/orders/{order_id}/payments", response_model=PaymentState, responses=ERRORS, tags=["orders"])
    def pay(order_id: str, body: PaymentBody, idem: Idempotent = Depends(idempotent)) -> Response:
        return idem.run(lambda: service.pay(idem.kiosk, order_id, {str(d): n for d, n in body.coins.items()}))

    @router.post("/v1/orders/{order_id}/documents", response_model=Delivery, responses=ERRORS, tags=["orders"])
    def documents(order_id: str, idem: Idempotent = Depends(idempotent)) -> Response:
        """Issues the paid order. The answer carries the PDF and is never stored: a retry re-issues, and the
        issuer voids the order's earlier document, so only the latest job is live."""
        return idem.run(lambda: service.documents(idem.kiosk, order_id), store=False)

    @router.post("/v1/orders/{order_id}/print-result", response_model=OrderOutcome, responses=ERRORS, tags=["orders"])
    def print_result(order_id: str, body: PrintResultBody, idem: Idempotent = Depends(idempotent)) -> Response:
        return idem.run(lambda: service.print_result(idem.kiosk, order_id, body.job_id, body.ok, body.error))

    @router.post("/v1/orders/{order_id}/cancel", response_model=OrderOutcome, responses=ERRORS, tags=["orders"])
    def cancel(order_id: str, idem: Idempotent = Depends(idempotent)) -> Response:
        return idem.run(lambda: service.cancel(idem.kiosk, order_id))

    return router


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(KofuError)
    async def kofu_error(_request: Request, exc: KofuError) -> JSONResponse:
        return JSONResponse(error_body(exc), status_code=_status_of(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        if any(tuple(e["loc"]) == ("header", "idempotency-key") for e in exc.errors()):
            return JSONResponse(
                error_body(
                    CenterError(
                        400,
                        "idempotency-key-required",
                        "An Idempotency-Key header (1–128 characters) is required.",
                        "Idempotency-Key ヘッダが必要です。",
                    )
                ),
                status_code=400,
            )
        if any(tuple(e["loc"])[:2] == ("body", "coins") for e in exc.errors()):
            body = {
                "error": "bad-coins",
                "message_en": "accepted coins and notes: 10, 50, 100, 500, 1000 yen, at most 1000 of each",
                "message_ja": "使用できる硬貨・紙幣は10円・50円・100円・500円・1000円です。",
            }
            return JSONResponse(body, status_code=400)
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        body = {"error": "invalid-request", "message_en": detail, "message_ja": "要求の形式が正しくありません。"}
        return JSONResponse(body, status_code=400)


def create_app(service: CenterService) -> FastAPI:
    app = FastAPI(
        title="kofu issuance center (証明書交付センター)",
        version="1",
        description="The kiosk API: card authentication, routing, order → payment → print → receipt or refund.",
        docs_url="/docs",
        redoc_url=None,
    )
    install_error_handlers(app)
    app.include_router(create_router(service))
    return instrument(app, "center")
