"""`GET /info/{code}?lang=xx`: the municipality's public service page (市民への周知), in the kiosk languages.

What can be obtained at convenience stores and the fee beside the window fee, the hours and closed days,
who can use the service and the steps at the kiosk with pictures of its screens — all from the tenant's
settings on today's date. `GET /info/` lists the municipalities.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from kofu.common.clock import Clock, today_jst
from kofu.common.errors import KofuError
from kofu.info.i18n import LANGUAGES, LOCALE_DIR, catalog, language
from kofu.info.page import TYPE_NAMES, service_page
from kofu.issuer.tenant import TenantDirectory

HERE = Path(__file__).resolve().parent
STEPS = HERE / "static" / "steps"
HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def create_router(tenants: TenantDirectory, clock: Clock) -> APIRouter:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))
    page_t = env.get_template("info.html")
    index_t = env.get_template("index.html")
    router = APIRouter(prefix="/info", tags=["info"])

    @router.get("/", response_class=HTMLResponse)
    def index(lang: str = "ja") -> HTMLResponse:
        lang = language(lang)
        tr = catalog(LOCALE_DIR, "info", lang)
        rows = [(t.code, t.name if lang == "ja" else (t.name_en or t.code)) for t in tenants.all()]
        html = index_t.render(_=tr.gettext, lang=lang, languages=LANGUAGES, rows=rows)
        return HTMLResponse(html, headers=HEADERS)

    @router.get("/static/steps/{name}")
    def step_picture(name: str) -> FileResponse:
        path = STEPS / name
        if "/" in name or not name.endswith(".png") or not path.is_file():
            raise HTTPException(404, "no such picture")
        return FileResponse(path, media_type="image/png")

    @router.get("/{code}", response_class=HTMLResponse)
    def page(code: str, lang: str = "ja") -> HTMLResponse:
        lang = language(lang)
        try:
            t = tenants.get(code)
        except KofuError:
            raise HTTPException(404, "no such municipality / その市区町村はありません") from None
        tr = catalog(LOCALE_DIR, "info", lang)
        pictures = sorted(p.name for p in STEPS.glob("*.png")) if STEPS.is_dir() else []
        html = page_t.render(
            _=tr.gettext,
            lang=lang,
            languages=LANGUAGES,
            p=service_page(t, today_jst(clock)),
            type_names=TYPE_NAMES,
            pictures=pictures,
        )
        return HTMLResponse(html, headers=HEADERS)

    return router
