"""The public verification page: `/verify/`.

A bank clerk (or anyone holding a certificate) uploads the PDF or scans the QR code printed on the paper
and sees valid / voided / tampered / unknown with just the items needed to compare against the paper:
municipality, certificate title, issuance number, issue date, status and, for a voided one, the reason.
Never a name, an address or any other content of the certificate.

Routes (all under `/verify`):

- `GET /verify/` — the page (Japanese first, English beside); works without JavaScript (plain forms);
  with JavaScript, the camera scans the QR code through the browser's `BarcodeDetector` where it exists.
- `POST /verify/pdf` — multipart field `file`; answers the page with the verdict (or JSON when the
  request asks for `application/json`).
- `POST /verify/qr` — form field `payload` (the QR text, `KOFU1.…`); same answers.
- `GET /verify/api?qr=…` — the verdict as JSON. `POST /verify/api` with a raw PDF body also answers JSON.
- `GET /verify/static/{verify.css,verify.js}` — the page's own files (no CDN).

Nothing is logged about a request's payload or file; the access log's query string is removed for these
paths (`RedactVerifyQuery`).
"""

from __future__ import annotations

import html
import logging
from datetime import date
from importlib import resources
from typing import Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from kofu.common.wareki import wareki
from kofu.verify.service import Outcome, Verdict, Verifier

MAX_PDF_BYTES = 20 * 1024 * 1024
MAX_QR_CHARS = 4096
STATIC = {"verify.css": "text/css; charset=utf-8", "verify.js": "text/javascript; charset=utf-8"}

HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self' blob:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

LABELS: dict[Outcome, tuple[str, str, str]] = {
    Outcome.VALID: ("有効", "Valid", "市区町村が発行した証明書で、改ざんされていません。"),
    Outcome.VOIDED: ("無効（発行後に取り消し）", "Voided", "この証明書は発行後に取り消されています。"),
    Outcome.TAMPERED: ("改ざんの疑い", "Tampered", "証明書の内容または署名が発行時から変わっています。"),
    Outcome.UNKNOWN: ("確認できません", "Unknown", "kofu で発行された証明書として確認できません。"),
}


class RedactVerifyQuery(logging.Filter):
    """Drops the query string of `/verify` requests from uvicorn's access log (it may hold a QR payload)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and args[2].startswith("/verify"):
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def install_log_redaction() -> None:
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactVerifyQuery) for f in logger.filters):
        logger.addFilter(RedactVerifyQuery())


def public_view(verdict: Verdict) -> dict[str, Any]:
    """The verdict as shown to a third party: only what can be compared with the paper."""
    ja, en, _ = LABELS[verdict.outcome]
    return {
        "outcome": verdict.outcome.value,
        "status_ja": ja,
        "status_en": en,
        "reason": verdict.reason,
        "municipality": verdict.municipality,
        "tenant": verdict.tenant,
        "title": verdict.title,
        "number": None
        if verdict.number is None or verdict.tenant is None
        else f"{verdict.tenant}-{verdict.number:07d}",
        "issued_on": verdict.issued_on.isoformat() if verdict.issued_on else None,
        "void_reason": verdict.void_reason,
    }


def _as_printed(iso: str | None) -> str | None:
    """The date as the paper shows it (和暦), with the ISO date beside it."""
    if iso is None:
        return None
    return f"{wareki(date.fromisoformat(iso))}（{iso}）"


def _static(name: str) -> str:
    return resources.files("kofu.verify").joinpath("static", name).read_text(encoding="utf-8")


def _page(result: dict[str, Any] | None = None, error: tuple[str, str] | None = None) -> str:
    e = html.escape
    block = ""
    if error is not None:
        block = f'<section class="result unknown" role="status"><h2>{e(error[0])}</h2><p>{e(error[1])}</p></section>'
    elif result is not None:
        outcome = result["outcome"]
        explanation = LABELS[Outcome(outcome)][2]
        rows = [
            ("市区町村", "Municipality", result["municipality"] or result["tenant"]),
            ("証明書", "Certificate", result["title"]),
            ("発行番号", "Issuance number", result["number"]),
            ("発行日", "Issue date", _as_printed(result["issued_on"])),
            ("状態", "Status", f"{result['status_ja']} / {result['status_en']}"),
        ]
        if result["void_reason"]:
            rows.append(("取消理由", "Void reason", result["void_reason"]))
        table = "".join(
            f"<tr><th>{e(ja)}<span class='en'>{e(en)}</span></th><td>{e(str(v))}</td></tr>"
            for ja, en, v in rows
            if v is not None
        )
        block = (
            f'<section class="result {e(outcome)}" role="status" data-outcome="{e(outcome)}">'
            f"<h2>{e(result['status_ja'])} <span class='en'>{e(result['status_en'])}</span></h2>"
            f"<p>{e(explanation)}<br><span class='en'>{e(result['reason'])}</span></p>"
            f"<table>{table}</table>"
            "<p class='note'>紙の証明書の記載（市区町村・証明書の種類・発行番号・発行日）と"
            "一致することを確認してください。"
            "<span class='en'>Check that these match the paper certificate.</span></p>"
            "</section>"
        )
    return f"""<!doctype html>
<html lang="ja">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>証明書の確認 — Certificate verification · kofu</title>
<link rel="stylesheet" href="/verify/static/verify.css">
<script src="/verify/static/verify.js" defer></script>
</head>
<body>
<header>
<h1>コンビニ交付証明書の確認 <span class="en">Verify a certificate</span></h1>
<p>証明書の PDF を選ぶか、証明書に印刷された QR コードを読み取ってください。
<span class="en">Upload the certificate PDF, or scan the QR code printed on it.</span></p>
</header>
<main>
{block}
<section class="panel">
<h2>PDF ファイル <span class="en">PDF file</span></h2>
<form action="/verify/pdf" method="post" enctype="multipart/form-data">
<input type="file" name="file" accept="application/pdf,.pdf" required>
<button type="submit">確認する <span class="en">Verify</span></button>
</form>
</section>
<section class="panel">
<h2>QR コード <span class="en">QR code</span></h2>
<div id="camera" hidden>
<button type="button" id="scan">カメラで読み取る <span class="en">Scan with the camera</span></button>
<video id="video" playsinline muted hidden></video>
</div>
<form action="/verify/qr" method="post" id="qr-form">
<label for="payload">QR コードの内容を貼り付け <span class="en">or paste the QR code's text</span></label>
<textarea id="payload" name="payload" rows="3" maxlength="{MAX_QR_CHARS}" placeholder="KOFU1.…" required
 spellcheck="false" autocomplete="off"></textarea>
<button type="submit">確認する <span class="en">Verify</span></button>
</form>
</section>
<p class="note">アップロードされたファイルと QR コードの内容は確認にのみ使い、保存しません。
氏名・住所などは表示しません。
<span class="en">Files and QR contents are used only for this check and are not stored. No names or addresses are
shown.</span></p>
</main>
</body>
</html>
"""


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def _answer(request: Request, verdict: Verdict) -> Response:
    view = public_view(verdict)
    if _wants_json(request):
        return JSONResponse(view, headers=HEADERS)
    return HTMLResponse(_page(view), headers=HEADERS)


def _refuse(request: Request, status: int, ja: str, en: str) -> Response:
    if _wants_json(request):
        return JSONResponse({"error": en, "message_ja": ja, "message_en": en}, status_code=status, headers=HEADERS)
    return HTMLResponse(_page(error=(ja, en)), status_code=status, headers=HEADERS)


def create_router(verifier: Verifier) -> APIRouter:
    """The `/verify` routes over `verifier`."""
    install_log_redaction()
    router = APIRouter(prefix="/verify", tags=["verify"])

    @router.get("/", response_class=HTMLResponse)
    def page() -> Response:
        return HTMLResponse(_page(), headers=HEADERS)

    @router.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in STATIC:
            return Response(status_code=404)
        return Response(_static(name), media_type=STATIC[name], headers={"Cache-Control": "max-age=3600"})

    @router.post("/pdf")
    async def pdf(request: Request, file: UploadFile = File(...)) -> Response:
        data = await file.read(MAX_PDF_BYTES + 1)
        await file.close()
        if len(data) > MAX_PDF_BYTES:
            return _refuse(
                request, 413, "ファイルが大きすぎます（20 MB まで）", "the file is too large (20 MB at most)"
            )
        if not data:
            return _refuse(request, 400, "ファイルが空です", "the file is empty")
        return _answer(request, await run_in_threadpool(verifier.verify_pdf, data))

    @router.post("/qr")
    def qr(request: Request, payload: str = Form(..., max_length=MAX_QR_CHARS)) -> Response:
        return _answer(request, verifier.verify_statement(payload.strip()))

    @router.get("/api")
    def api(qr: str = Query(..., max_length=MAX_QR_CHARS)) -> JSONResponse:
        return JSONResponse(public_view(verifier.verify_statement(qr.strip())), headers=HEADERS)

    @router.post("/api")
    async def api_pdf(request: Request) -> JSONResponse:
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
            if len(data) > MAX_PDF_BYTES:
                return JSONResponse({"error": "the file is too large (20 MB at most)"}, status_code=413)
        return JSONResponse(public_view(await run_in_threadpool(verifier.verify_pdf, bytes(data))), headers=HEADERS)

    return router
