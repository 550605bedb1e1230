"""HTTP face of the authority: OCSP (RFC 6960 appendix A), CRLs and CA certificates (RFC 5280 §4.2.1.13/§4.2.2.1).

POST /ocsp            application/ocsp-request → application/ocsp-response
GET  /ocsp/{base64}   the same, the request base64 (then URL-escaped) in the path
GET  /crl/auth.crl    DER CRL of the user-authentication CA (application/pkix-crl)
GET  /crl/sign.crl    DER CRL of the signing CA
GET  /ca/auth.pem     the CA certificates, PEM
GET  /ca/sign.pem
GET  /healthz
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote

from fastapi import FastAPI, Request, Response

from kofu.jpki.model import CertKind
from kofu.jpki.service import Authority
from kofu.ops import instrument

OCSP_RESPONSE = "application/ocsp-response"
MAX_REQUEST = 64 * 1024


def create_app(authority: Authority) -> FastAPI:
    app = FastAPI(title="kofu JPKI authority", docs_url=None, redoc_url=None, openapi_url=None)

    def ocsp_response(request_der: bytes) -> Response:
        body = authority.respond(request_der)
        return Response(content=body, media_type=OCSP_RESPONSE, headers={"Cache-Control": "no-cache"})

    @app.post("/ocsp")
    async def ocsp_post(request: Request) -> Response:
        body = await request.body()
        return ocsp_response(body if len(body) <= MAX_REQUEST else b"")  # too long: malformedRequest

    @app.get("/ocsp/{encoded:path}")
    def ocsp_get(encoded: str) -> Response:
        try:
            request_der = base64.b64decode(unquote(encoded), validate=True)
        except (binascii.Error, ValueError):
            request_der = b""
        return ocsp_response(request_der)

    def crl(kind: CertKind) -> Response:
        return Response(content=authority.current_crl(kind), media_type="application/pkix-crl")

    @app.get("/crl/auth.crl")
    def crl_auth() -> Response:
        return crl(CertKind.AUTH)

    @app.get("/crl/sign.crl")
    def crl_sign() -> Response:
        return crl(CertKind.SIGN)

    @app.get("/ca/auth.pem")
    def ca_auth() -> Response:
        return Response(content=authority.ca_pem(CertKind.AUTH), media_type="application/x-pem-file")

    @app.get("/ca/sign.pem")
    def ca_sign() -> Response:
        return Response(content=authority.ca_pem(CertKind.SIGN), media_type="application/x-pem-file")

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return instrument(app, "jpki")
