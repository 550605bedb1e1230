"""The HTTP app over a real socket: OCSP by POST and GET, bad requests, CRLs and CA certificates."""

from __future__ import annotations

import base64
from urllib.parse import quote

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509 import ocsp

from kofu.jpki.service import Authority

from .conftest import BIRTH


def test_ocsp_post_and_get(live: Authority, responder: str, card_key: rsa.RSAPrivateKey) -> None:
    cert = live.issue_auth_certificate(card_key.public_key(), birth_date=BIRTH, issued_at=live.clock.now())
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(cert, live.ca_certificate("auth"), hashes.SHA1())
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    with httpx.Client(base_url=responder, timeout=10) as client:
        posted = client.post("/ocsp", content=request, headers={"Content-Type": "application/ocsp-request"})
        assert posted.status_code == 200 and posted.headers["content-type"] == "application/ocsp-response"
        assert ocsp.load_der_ocsp_response(posted.content).certificate_status is ocsp.OCSPCertStatus.GOOD
        got = client.get("/ocsp/" + quote(base64.b64encode(request).decode(), safe=""))
        assert ocsp.load_der_ocsp_response(got.content).certificate_status is ocsp.OCSPCertStatus.GOOD
        for bad in (client.post("/ocsp", content=b"junk"), client.get("/ocsp/not-base64!")):
            assert bad.status_code == 200
            assert ocsp.load_der_ocsp_response(bad.content).response_status is (
                ocsp.OCSPResponseStatus.MALFORMED_REQUEST
            )


def test_crls_and_ca_certificates(live: Authority, responder: str) -> None:
    with httpx.Client(base_url=responder, timeout=10) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        for kind in ("auth", "sign"):
            pem = client.get(f"/ca/{kind}.pem")
            assert pem.status_code == 200 and x509.load_pem_x509_certificate(pem.content) == live.ca_certificate(kind)
            crl = x509.load_der_x509_crl(client.get(f"/crl/{kind}.crl").content)
            assert crl.is_signature_valid(live.ca_certificate(kind).public_key())  # type: ignore[arg-type]
        assert client.get("/crl/other.crl").status_code == 404
