"""ASGI middleware and routes that every kofu HTTP service gets from `instrument(app, service)`."""

from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import FastAPI, Response

from kofu.ops import metrics
from kofu.ops.context import REQUEST_ID_HEADER, bind, new_request_id, unbind, valid_request_id

log = logging.getLogger("kofu.http")

# Seconds an idle keep-alive connection stays open, on the servers (`kofu serve`) and in the clients that
# call them (center → issuer). uvicorn's and httpx's default of 5 s made a client that paused longer (a
# kiosk between customers, the center between two issuances of a quiet store) pay a new TCP connection and
# a full TLS handshake — with client certificates towards the issuer — on its next call. Clients expire
# their connections first, so they never reuse one the server is about to close.
KEEP_ALIVE_SECONDS = 75
CLIENT_KEEP_ALIVE_SECONDS = 60
_HEADER = REQUEST_ID_HEADER.lower().encode("latin-1")


def _route_of(scope: dict[str, Any]) -> str:
    """The route template (`/v1/orders/{order_id}/payments`), never the raw path: low-cardinality
    metric labels, and no identifiers from the URL in the logs."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


class RequestObserver:
    """Takes X-Request-ID from the caller (or makes one), binds it for the request's code and for every
    client call it makes, returns it in the answer, counts and times the request, logs one line."""

    def __init__(self, app: Any, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v.decode("latin-1") for k, v in scope.get("headers") or () if k == _HEADER), None)
        request_id: str = given if given is not None and valid_request_id(given) else new_request_id()
        tokens = bind(request_id, self.service)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [(k, v) for k, v in message.get("headers") or () if k.lower() != _HEADER]
                headers.append((_HEADER, request_id.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        gauge = metrics.IN_FLIGHT.labels(self.service)
        gauge.inc()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            gauge.dec()
            elapsed = time.perf_counter() - started
            route = _route_of(scope)
            method = str(scope.get("method", ""))
            metrics.REQUESTS.labels(self.service, method, route, str(status)).inc()
            metrics.LATENCY.labels(self.service, route).observe(elapsed)
            if route not in ("/metrics", "/healthz"):
                log.info(
                    "request",
                    extra={"method": method, "route": route, "status": status, "duration_ms": round(elapsed * 1000, 1)},
                )
            unbind(tokens)


def instrument(app: FastAPI, service: str) -> FastAPI:
    """X-Request-ID, JSON request logs and metrics for `app`, and `GET /metrics` (Prometheus text)."""

    @app.get("/metrics", include_in_schema=False)
    def prometheus() -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    app.add_middleware(RequestObserver, service=service)
    return app
