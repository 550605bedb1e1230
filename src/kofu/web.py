"""The one-process web app of the embedded deployment (`kofu demo`): every actor's HTTP face on one port.

    /v1/…, /docs      the center's kiosk API (kiosk id + bearer secret), its OpenAPI page
    /issuer/…         the issuing server's API — it answers only the center's mTLS certificate, so over
                      this plain-HTTP demo port it refuses every /v1 call (403); the center in this
                      process reaches the issuer in-process instead
    /jpki/…           the JPKI authority: CA certificates, CRLs, OCSP
    /verify/          the public verification page
    /reports/         operations reports: every tenant and each one (figures, charts, CSV/XLSX); staff login
                      (KOFU_REPORTS_STAFF, or the password `kofu demo` prints)
    /info/CODE        the municipality's public service page (fees, hours, who, steps)
    /kiosk/           the kiosk touch screen (simulated devices, the demo cards of showcase.json)
    /healthz          ready when the database answers
    /metrics          Prometheus text; every service has one, see docs/reliability.md

Like `bootstrap`, this module composes actors and sits at the top of the layers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from sqlalchemy import text

from kofu.bootstrap import Container
from kofu.ops import instrument

if TYPE_CHECKING:
    from kofu.center.service import CenterService
    from kofu.kiosk.ui.session import DemoCard
    from kofu.reports.staff import StaffLogin

DEMO_STORE = "DEMO-STORE"
DEMO_STORE_MUNICIPALITY = "282286"  # a store in 加東市
SECRET_FILE = "demo-kiosk.secret"

_PAGES = (
    ("/kiosk/", "コンビニの端末（デモ）", "the store kiosk screen (demo cards, simulated coins and printer)"),
    ("/info/", "市民への周知（自治体ごとの案内）", "each municipality's public service page"),
    ("/verify/", "証明書の真正性の確認", "check a printed certificate (PDF or QR)"),
    ("/reports/", "運用報告（交付件数・費用対効果）", "operations reports for the municipality"),
    ("/docs", "センターの API（OpenAPI）", "the center's kiosk API"),
    ("/metrics", "運用監視（Prometheus）", "operations metrics"),
)
LANDING = (
    '<!doctype html><html lang="ja"><head><meta charset="utf-8"><title>kofu — コンビニ交付</title>'
    '<meta name="viewport" content="width=device-width, initial-scale=1"><style>body{font:1.2rem/1.6 sans-serif;'
    "max-width:46rem;margin:2rem auto;padding:0 1rem}a{font-weight:bold}li{margin:.6rem 0}</style></head><body>"
    "<h1>kofu — コンビニ交付（デモ）</h1><p>この端末で動いている各サービス / the services of this demo:</p><ul>"
    + "".join(f'<li><a href="{href}">{ja}</a><br><span lang="en">{en}</span></li>' for href, ja, en in _PAGES)
    + "</ul></body></html>"
)


def center_service(container: Container) -> CenterService:
    """The center over this deployment's database, reaching the issuer and the JPKI authority in-process."""
    from kofu.center.gateway import InProcessGateway
    from kofu.center.service import CenterService
    from kofu.jpki import in_process_validator

    return CenterService(
        container.engine, InProcessGateway(container.issuer), in_process_validator(container.authority), container.clock
    )


def demo_kiosk(c: Container, service: Any) -> tuple[str, str]:
    """(kiosk id, secret) of this deployment's demo kiosk, registering the store and kiosk on first use."""
    from kofu.common.errors import KofuError

    path = c.settings.keys_dir / SECRET_FILE
    if path.exists():
        kiosk_id, secret = path.read_text(encoding="utf-8").split()
        return kiosk_id, secret
    try:
        service.register_store(DEMO_STORE, "kofu-demo", DEMO_STORE_MUNICIPALITY)
    except KofuError as exc:
        if exc.code != "store-exists":
            raise
    kiosk_id = f"DEMO-K{os.urandom(3).hex().upper()}"
    secret = service.register_kiosk(DEMO_STORE, kiosk_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(f"{kiosk_id} {secret}\n")
    return kiosk_id, secret


def demo_cards(c: Container) -> list[DemoCard]:
    """The cards of KOFU_HOME/demo/showcase.json for the kiosk screen's simulated card slot."""
    from kofu.card.cardfile import CardFile, default_master_key
    from kofu.card.readers import InProcessReader, Reader
    from kofu.kiosk.ui.app import showcase_cards

    path = c.settings.home / "demo" / "showcase.json"
    if not path.exists():
        return []
    entries = json.loads(path.read_text(encoding="utf-8"))

    def load(card: Path) -> Reader:
        return InProcessReader(CardFile(card, default_master_key(c.settings.keys_dir)).load())

    return showcase_cards(entries, load)


def kiosk_ui(
    c: Container, service: CenterService, *, idle_seconds: float = 90.0, readers: Sequence[DemoCard] = ()
) -> FastAPI:
    """The kiosk touch screen of this deployment's demo kiosk, talking to `service` in-process; the card
    slot offers the demo cards and `readers` (e.g. a real PC/SC reader)."""
    from kofu.center.local import LocalCenter
    from kofu.kiosk.ui.app import create_app

    def center() -> LocalCenter:
        kiosk_id, secret = demo_kiosk(c, service)
        return LocalCenter(service, kiosk_id, secret)

    return create_app(center, lambda: [*readers, *demo_cards(c)], c.settings.home / "kiosk", idle_seconds=idle_seconds)


def reports_staff(container: Container) -> StaffLogin | None:
    """The staff login of /reports/ from KOFU_REPORTS_STAFF (None when it is not set)."""
    from kofu.reports.staff import StaffLogin

    setting = container.settings.reports_staff
    return StaffLogin.parse(setting) if setting else None


def demo_reports_staff(container: Container) -> tuple[StaffLogin, str]:
    """The demo's staff login of /reports/ and how to use it: KOFU_REPORTS_STAFF's if set, else a fresh
    random password (made at each start, printed, never stored)."""
    from kofu.reports.staff import StaffLogin

    staff = reports_staff(container)
    if staff is not None:
        return staff, f"staff login: user {staff.user}, the password of KOFU_REPORTS_STAFF"
    staff, password = StaffLogin.generate("staff")
    return staff, f"staff login: user {staff.user}, password {password}"


def create_web_app(
    container: Container, center: CenterService | None = None, *, staff: StaffLogin | None = None
) -> FastAPI:
    """The one-process app; /reports/ admits `staff` (default: KOFU_REPORTS_STAFF; neither: nobody)."""
    from kofu.center.api import create_router as center_router
    from kofu.center.api import install_error_handlers
    from kofu.info.api import create_router as info_router
    from kofu.issuer.api import create_app as issuer_app
    from kofu.jpki.api import create_app as jpki_app
    from kofu.reports.web import create_router as reports_router
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
    def index() -> HTMLResponse:
        return HTMLResponse(LANDING)

    install_error_handlers(app)
    center = center or center_service(container)
    app.include_router(center_router(center))
    app.include_router(verify_router(container.verifier))
    home = container.settings.home
    staff = staff or reports_staff(container)
    app.include_router(
        reports_router(container.engine, container.tenants, container.clock, home / "reports", home, staff=staff)
    )
    app.include_router(info_router(container.tenants, container.clock))
    app.mount("/issuer", issuer_app(container.issuer))
    app.mount("/jpki", jpki_app(container.authority))
    app.mount("/kiosk", kiosk_ui(container, center))
    return instrument(app, "web")
