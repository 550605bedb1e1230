"""The one-process web app of the embedded deployment (`kofu demo`): every actor's HTTP face on one port.

    /v1/…, /docs      the center's kiosk API (kiosk id + bearer secret), its OpenAPI page
    /issuer/…         the issuing server's API — it answers only the center's mTLS certificate, so over
                      this plain-HTTP demo port it refuses every /v1 call (403); the center in this
                      process reaches the issuer in-process instead
    /jpki/…           the JPKI authority: CA certificates, CRLs, OCSP
    /verify/          the public verification page
    /healthz          ready when the database answers
    /metrics          Prometheus text; every service has one, see docs/reliability.md

Like `bootstrap`, this module composes actors and sits at the top of the layers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from sqlalchemy import text

from kofu.bootstrap import Container
from kofu.ops import instrument

if TYPE_CHECKING:
    from kofu.center.service import CenterService


def center_service(container: Container) -> CenterService:
    """The center over this deployment's database, reaching the issuer and the JPKI authority in-process."""
    from kofu.center.gateway import InProcessGateway
    from kofu.center.service import CenterService
    from kofu.jpki import in_process_validator

    return CenterService(
        container.engine, InProcessGateway(container.issuer), in_process_validator(container.authority), container.clock
    )


def create_web_app(container: Container, center: CenterService | None = None) -> FastAPI:
    from kofu.center.api import create_router as center_router
    from kofu.center.api import install_error_handlers
    from kofu.issuer.api import create_app as issuer_app
    from kofu.jpki.api import create_app as jpki_app
    from kofu.verify.api import create_router as verify_router

    app = FastAPI(
        title="kofu — コンビニ交付 (embedded demo)",
        description="The center's kiosk API; the issuer, JPKI and verification page are mounted beside it.",
        redoc_url=None,
    )

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        with container.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "ok"}

    @app.get("/", include_in_schema=False)
    def index() -> RedirectResponse:
        return RedirectResponse("/verify/")

    install_error_handlers(app)
    app.include_router(center_router(center or center_service(container)))
    app.include_router(verify_router(container.verifier))
    app.mount("/issuer", issuer_app(container.issuer))
    app.mount("/jpki", jpki_app(container.authority))
    return instrument(app, "web")
