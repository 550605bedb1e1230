"""The real openssl binary accepts what the authority publishes: `openssl verify` with the CRL, and
`openssl ocsp` against the HTTP responder run by uvicorn on a free local port."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from kofu.jpki.model import CertKind
from kofu.jpki.service import Authority
from kofu.jpki.validate import FailureReason, http_validator

from .conftest import BIRTH, ca_key, der, forge

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl binary")


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=30, check=False)


def _verify(ca: Path, crl: Path, cert: Path) -> subprocess.CompletedProcess[str]:
    return _run("verify", "-CAfile", str(ca), "-crl_check", "-CRLfile", str(crl), str(cert))


def test_openssl_verify_with_the_crl(live: Authority, card_key: rsa.RSAPrivateKey, tmp_path: Path) -> None:
    now = live.clock.now()
    good = live.issue_auth_certificate(card_key.public_key(), birth_date=BIRTH, issued_at=now)
    bad = live.issue_auth_certificate(card_key.public_key(), birth_date=BIRTH, issued_at=now)
    live.revoke(bad.serial_number, "loss", now)
    ca = _write(tmp_path / "ca.pem", live.ca_pem("auth"))
    crl = x509.load_der_x509_crl(live.current_crl("auth"))
    crl_pem = _write(tmp_path / "crl.pem", crl.public_bytes(serialization.Encoding.PEM))
    ok = _run(
        "verify",
        "-CAfile",
        str(ca),
        "-crl_check",
        "-CRLfile",
        str(crl_pem),
        str(_write(tmp_path / "good.pem", _pem(good))),
    )
    assert ok.returncode == 0 and ": OK" in ok.stdout, ok.stdout + ok.stderr
    no = _run(
        "verify",
        "-CAfile",
        str(ca),
        "-crl_check",
        "-CRLfile",
        str(crl_pem),
        str(_write(tmp_path / "bad.pem", _pem(bad))),
    )
    assert no.returncode != 0 and "certificate revoked" in no.stdout + no.stderr


def test_openssl_verify_a_signing_certificate(live: Authority, card_key: rsa.RSAPrivateKey, tmp_path: Path) -> None:
    cert = live.issue_sign_certificate(
        card_key.public_key(),
        name="加東　太郎",
        sex="male",
        birth_date=BIRTH,
        address="兵庫県加東市",
        issued_at=live.clock.now(),
    )
    ca = _write(tmp_path / "ca.pem", live.ca_pem("sign"))
    crl_pem = _write(
        tmp_path / "crl.pem", x509.load_der_x509_crl(live.current_crl("sign")).public_bytes(serialization.Encoding.PEM)
    )
    ok = _run(
        "verify",
        "-CAfile",
        str(ca),
        "-crl_check",
        "-CRLfile",
        str(crl_pem),
        str(_write(tmp_path / "s.pem", _pem(cert))),
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    text = _run("x509", "-in", str(tmp_path / "s.pem"), "-noout", "-text").stdout
    assert "1.2.392.200149.8.5.1.1.10" in text and "Non Repudiation" in text


def _ocsp(url: str, ca: Path, *target: str) -> str:
    result = _run("ocsp", "-issuer", str(ca), *target, "-url", f"{url}/ocsp", "-CAfile", str(ca), "-resp_text")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Response verify OK" in result.stderr + result.stdout
    return result.stdout


def test_openssl_ocsp_good_revoked_unknown(
    live: Authority, responder: str, card_key: rsa.RSAPrivateKey, jpki_keys: Path, tmp_path: Path
) -> None:
    now = live.clock.now()
    ca = _write(tmp_path / "ca.pem", live.ca_pem("auth"))
    cert = live.issue_auth_certificate(card_key.public_key(), birth_date=BIRTH, issued_at=now)
    cert_pem = str(_write(tmp_path / "cert.pem", _pem(cert)))

    out = _ocsp(responder, ca, "-cert", cert_pem)
    assert f"{cert_pem}: good" in out and "Cert Status: good" in out

    live.revoke(cert.serial_number, "loss", now)
    out = _ocsp(responder, ca, "-cert", cert_pem)
    assert f"{cert_pem}: revoked" in out and "Reason: keyCompromise" in out

    never = forge(
        issuer=live.ca_certificate("auth").subject,
        signing_key=ca_key(jpki_keys, CertKind.AUTH),
        public_key=card_key.public_key(),
        not_before=now,
    )
    never_pem = str(_write(tmp_path / "never.pem", _pem(never)))
    assert f"{never_pem}: unknown" in _ocsp(responder, ca, "-cert", never_pem)
    assert ": unknown" in _ocsp(responder, ca, "-serial", "0x1234567890ABCDEF")


def test_http_endpoints_and_the_http_validator(live: Authority, responder: str, card_key: rsa.RSAPrivateKey) -> None:
    with httpx.Client(timeout=10) as http:
        assert http.get(f"{responder}/healthz").json() == {"status": "ok"}
        assert http.get(f"{responder}/ca/auth.pem").content == live.ca_pem("auth")
        crl = http.get(f"{responder}/crl/sign.crl")
        assert crl.headers["content-type"] == "application/pkix-crl"
        assert x509.load_der_x509_crl(crl.content).issuer == live.ca_certificate("sign").subject

        cert = live.issue_auth_certificate(card_key.public_key(), birth_date=BIRTH, issued_at=live.clock.now())
        validator = http_validator(responder, live.trust_roots, client=http)
        assert validator.validate(der(cert), at=live.clock.now(), purpose="auth").revocation_source == "ocsp"
        live.revoke(cert.serial_number, "death", live.clock.now())
        fresh = http_validator(responder, live.trust_roots, client=http)
        assert fresh.validate(der(cert), at=live.clock.now(), purpose="auth").reason is FailureReason.REVOKED
