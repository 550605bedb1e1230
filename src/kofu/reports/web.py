"""The report pages of the web app: `/reports/`.

- `GET /reports/` — redirects to `/reports/<from>_<to>/`, the period's pages (optional query `from`, `to`:
  YYYY-MM-DD, JST, inclusive; the default is the 365 days ending today);
- `GET /reports/<from>_<to>/` — across the tenants: per-tenant totals, card uptake ranked, the fee-policy
  classification (資料3/4) and the Miki City table and chart (別添資料5), with links to every tenant;
- `GET /reports/<from>_<to>/<code>/` — one municipality's report: issuance by type × month × fiscal year, the
  convenience share (from `KOFU_HOME/window-counts/<code>.csv` when the municipality has dropped its window
  export there), office hours and hour of day, out-of-city use, fees and cost-effectiveness;
- `GET /reports/<from>_<to>/<file>`, `…/<code>/<file>` — the charts (PNG, SVG) and tables (CSV, XLSX) the
  pages link.

Every page and file asks for the staff login (`kofu.reports.staff`: HTTP Basic, user name and password;
401 with a Japanese and English message without them); with no login configured every request is 401.

The period is in the path, so the pages' relative links (charts, tables, tenants) stay in it. The files
are built by `kofu.reports.build` into a cache directory and rebuilt when older than `max_age` seconds.
Only aggregated figures are shown: no resident appears in any report.
"""

from __future__ import annotations

import re
import threading
import time
from datetime import date, timedelta
from pathlib import Path

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import FileResponse, RedirectResponse, Response
from sqlalchemy import Engine

from kofu.common.clock import JST, Clock
from kofu.common.errors import NotFound
from kofu.issuer.tenant import TenantDirectory
from kofu.reports.build import build_overview, build_report
from kofu.reports.figures import read_window_counts
from kofu.reports.staff import StaffLogin, staff_required

FILE = re.compile(r"^[a-z_]+\.(png|svg|csv|xlsx|html)$")
CODE = re.compile(r"^\d{6}$")
SPAN = re.compile(r"^(\d{4}-\d{2}-\d{2})_(\d{4}-\d{2}-\d{2})$")
MEDIA = {
    "png": "image/png",
    "svg": "image/svg+xml",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "html": "text/html; charset=utf-8",
}


def create_router(
    engine: Engine,
    tenants: TenantDirectory,
    clock: Clock,
    cache_dir: Path,
    home: Path,
    max_age: float = 60.0,
    *,
    staff: StaffLogin | None,
) -> APIRouter:
    """The report pages, for `staff` only (None: no login configured, every request is refused)."""
    router = APIRouter(prefix="/reports", tags=["reports"], dependencies=[Depends(staff_required(staff))])
    lock = threading.Lock()  # matplotlib's pyplot is not thread-safe, and one build per directory at a time

    def today() -> date:
        return clock.now().astimezone(JST).date()

    def parse_span(value: str) -> tuple[date, date]:
        m = SPAN.match(value)
        try:
            if m is None:
                raise ValueError(value)
            start, end = date.fromisoformat(m.group(1)), date.fromisoformat(m.group(2))
        except ValueError:
            raise HTTPException(404, "no such report（その報告はありません）") from None
        if start > end:
            raise HTTPException(400, f"the period starts {start}, after its end {end}（期間の開始が終了より後です）")
        return start, end

    def fresh(index: Path) -> bool:
        return index.is_file() and time.time() - index.stat().st_mtime < max_age

    def overview_dir(span: str) -> Path:
        start, end = parse_span(span)
        out = cache_dir / span
        with lock:
            if not fresh(out / "index.html"):
                build_overview(engine, tenants.all(), start, end, out)
        return out

    def tenant_dir(span: str, code: str) -> Path:
        start, end = parse_span(span)
        if not CODE.match(code):
            raise HTTPException(404, "no such report（その報告はありません）")
        try:
            settings = tenants.get(code)
        except NotFound:
            raise HTTPException(404, f"no tenant {code}（団体 {code} はありません）") from None
        out = cache_dir / span / code
        with lock:
            if not fresh(out / "index.html"):
                path = home / "window-counts" / f"{code}.csv"
                counts = read_window_counts(path) if path.is_file() else None
                build_report(engine, settings, start, end, out, counts)
        return out

    def serve(directory: Path, name: str) -> Response:
        path = directory / name
        if not FILE.match(name) or not path.is_file():
            raise HTTPException(404, "no such report file（そのファイルはありません）")
        return FileResponse(path, media_type=MEDIA[name.rsplit(".", 1)[1]])

    @router.get("/")
    def index(from_: str | None = Query(None, alias="from"), to: str | None = None) -> Response:
        """Redirects to the report of the period (default: the 365 days ending today, JST)."""
        try:
            end = date.fromisoformat(to) if to else today()
            start = date.fromisoformat(from_) if from_ else end - timedelta(days=364)
        except ValueError:
            raise HTTPException(
                400, "from/to must be dates YYYY-MM-DD（日付は YYYY-MM-DD で指定してください）"
            ) from None
        span = f"{start.isoformat()}_{end.isoformat()}"
        parse_span(span)
        return RedirectResponse(f"/reports/{span}/", status_code=303)

    @router.get("/{span}/")
    def overview(span: str) -> Response:
        return serve(overview_dir(span), "index.html")

    @router.get("/{span}/{name}")
    def overview_file(span: str, name: str) -> Response:
        if CODE.match(name):
            return RedirectResponse(f"/reports/{span}/{name}/", status_code=307)
        out = cache_dir / span
        if not (out / "index.html").is_file():
            out = overview_dir(span)
        return serve(out, name)

    @router.get("/{span}/{code}/")
    def tenant(span: str, code: str) -> Response:
        return serve(tenant_dir(span, code), "index.html")

    @router.get("/{span}/{code}/{name}")
    def tenant_file(span: str, code: str, name: str) -> Response:
        out = cache_dir / span / code
        if not CODE.match(code) or not (out / "index.html").is_file():
            out = tenant_dir(span, code)
        return serve(out, name)

    return router
