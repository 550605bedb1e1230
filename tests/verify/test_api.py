"""The public verification page through the real app: PDFs and QR payloads in, outcomes out, no names."""

from __future__ import annotations

import io
import logging
import warnings

import pytest
from fastapi import FastAPI
from reportlab.pdfgen import canvas
from starlette.exceptions import StarletteDeprecationWarning

from kofu.issuer.eligibility import IssueRequest
from kofu.issuer.tenant import CertificateType
from kofu.verify.api import RedactVerifyQuery, create_router
from tests.issuer.conftest import World, world  # noqa: F401  (the fixture)

with warnings.catch_warnings():  # starlette asks for httpx2; httpx is what this project installs
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

T = "282286"
NAMES = ("加東　", "太郎", "花子", "一郎", "かとう", "社５０番地", "1980", "昭和")  # names, address, birth


@pytest.fixture
def client(world: World) -> TestClient:  # noqa: F811
    app = FastAPI()
    app.include_router(create_router(world.verifier))
    return TestClient(app)


def _no_names(text: str) -> None:
    for name in NAMES:
        assert name not in text


def _plain_pdf() -> bytes:
    out = io.BytesIO()
    c = canvas.Canvas(out)
    c.drawString(100, 700, "An ordinary PDF")
    c.save()
    return out.getvalue()


def test_page_is_served_with_its_own_assets(client: TestClient) -> None:
    page = client.get("/verify/")
    assert page.status_code == 200 and "証明書の確認" in page.text and "Verify a certificate" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # nothing from a CDN
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "BarcodeDetector" in client.get("/verify/static/verify.js").text
    assert client.get("/verify/static/verify.css").headers["content-type"].startswith("text/css")
    assert client.get("/verify/static/../api.py").status_code == 404


def test_valid_voided_tampered_and_foreign_pdfs(world: World, client: TestClient) -> None:  # noqa: F811
    issued = world.issuer.issue(IssueRequest(T, "R1", CertificateType.JUMINHYO))
    number = f"{T}-{issued.record.number:07d}"

    page = client.post("/verify/pdf", files={"file": ("c.pdf", issued.pdf, "application/pdf")})
    assert page.status_code == 200
    assert 'data-outcome="valid"' in page.text and "有効" in page.text and number in page.text
    assert "住民票の写し" in page.text and "加東市" in page.text
    assert "令和8年11月25日" in page.text  # the date as the paper prints it
    _no_names(page.text)

    pdf = bytearray(issued.pdf)
    at = pdf.index(b"BT")
    pdf[at + 3] ^= 0x01
    tampered = client.post("/verify/pdf", files={"file": ("c.pdf", bytes(pdf), "application/pdf")})
    assert 'data-outcome="tampered"' in tampered.text and "改ざん" in tampered.text

    foreign = client.post("/verify/pdf", files={"file": ("x.pdf", _plain_pdf(), "application/pdf")})
    assert 'data-outcome="unknown"' in foreign.text
    garbage = client.post("/verify/pdf", files={"file": ("x.pdf", b"not a pdf at all", "application/pdf")})
    assert garbage.status_code == 200 and 'data-outcome="unknown"' in garbage.text

    world.issuer.void(T, issued.record.number, reason="print-failed")
    voided = client.post("/verify/pdf", files={"file": ("c.pdf", issued.pdf, "application/pdf")})
    assert 'data-outcome="voided"' in voided.text and "print-failed" in voided.text
    _no_names(voided.text)

    as_json = client.post(
        "/verify/pdf", files={"file": ("c.pdf", issued.pdf, "application/pdf")}, headers={"accept": "application/json"}
    ).json()
    assert as_json["outcome"] == "voided" and as_json["number"] == number and as_json["void_reason"] == "print-failed"
    assert set(as_json) == {
        "outcome", "status_ja", "status_en", "reason", "municipality", "tenant", "title", "number", "issued_on",
        "void_reason",
    }  # fmt: skip
    raw = client.post("/verify/api", content=issued.pdf).json()
    assert raw["outcome"] == "voided"


def test_qr_payload_form_and_json(world: World, client: TestClient) -> None:  # noqa: F811
    issued = world.issuer.issue(IssueRequest(T, "R1", CertificateType.INKAN))
    page = client.post("/verify/qr", data={"payload": issued.statement})
    assert 'data-outcome="valid"' in page.text and "印鑑登録証明書" in page.text
    _no_names(page.text)
    got = client.get("/verify/api", params={"qr": issued.statement}).json()
    assert got["outcome"] == "valid" and got["issued_on"] == issued.record.issued_on.isoformat()
    assert client.get("/verify/api", params={"qr": "hello"}).json()["outcome"] == "unknown"
    prefix, _payload, sig = issued.statement.split(".")
    other = world.issuer.issue(IssueRequest(T, "R1", CertificateType.JUMINHYO))
    forged = f"{prefix}.{other.statement.split('.')[1]}.{sig}"
    assert client.post("/verify/qr", data={"payload": forged}).text.count('data-outcome="tampered"') == 1
    assert client.post("/verify/qr", data={"payload": "x" * 5000}).status_code == 422


def test_access_log_loses_the_query_string() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        "",
        0,
        '%s - "%s %s HTTP/%s" %d',
        ("1.2.3.4", "GET", "/verify/api?qr=KOFU1.x.y", "1.1", 200),
        None,
    )
    RedactVerifyQuery().filter(record)
    assert "KOFU1" not in record.getMessage() and "/verify/api" in record.getMessage()
