"""PAdES signing and signature inspection."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from kofu.common.errors import InvalidInput
from kofu.render import produce, render_pdf, sign_pdf
from kofu.render.inspect import check_signature, read_statement
from kofu.render.model import CertificateDocument, DocumentKind
from tests.render.samples import STATEMENT, Pki, make_doc, make_pki


@pytest.fixture(scope="module")
def signed(pki: Pki) -> bytes:
    return produce(make_doc(DocumentKind.JUMINHYO), pki.material)


def pdfsig(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "doc.pdf"
    path.write_bytes(pdf)
    # -nocert: check the signature itself, do not look for the signer in a system trust store
    return subprocess.run(["pdfsig", "-nocert", str(path)], capture_output=True, text=True).stdout


def tamper(pdf: bytes) -> bytes:
    """Change one byte inside the signed range: a character of the statement in the Info dictionary."""
    at = pdf.index(b"/KofuStatement (") + len(b"/KofuStatement (") + 2
    return pdf[:at] + bytes([pdf[at] ^ 0x01]) + pdf[at + 1 :]


def test_pdfsig_says_valid(signed: bytes, tmp_path: Path) -> None:
    out = pdfsig(signed, tmp_path)
    assert "Signature is Valid" in out
    assert "Total document signed" in out
    assert "SHA-256" in out


def test_pdfsig_flags_a_changed_byte(signed: bytes, tmp_path: Path) -> None:
    out = pdfsig(tamper(signed), tmp_path)
    assert "Signature is Valid" not in out
    assert "Signature is Invalid" in out or "Digest Mismatch" in out


def test_check_signature_good(signed: bytes, pki: Pki) -> None:
    check = check_signature(signed, [pki.root_pem])
    assert check.signed and check.intact and check.valid and check.covers_whole_file and check.trusted
    assert check.ok and check.reason == ""
    assert "Kato City Document Signing" in check.signer_subject
    assert check.signer_cert_der is not None


def test_check_signature_tampered(signed: bytes, pki: Pki) -> None:
    check = check_signature(tamper(signed), [pki.root_pem])
    assert check.signed and not check.intact and not check.ok
    assert "modified" in check.reason


def test_check_signature_untrusted_root(signed: bytes) -> None:
    other = make_pki()
    check = check_signature(signed, [other.root_pem])
    assert check.intact and check.valid and not check.trusted
    assert "trusted root" in check.reason


def test_check_signature_unsigned(pki: Pki) -> None:
    check = check_signature(render_pdf(make_doc(DocumentKind.SHOTOKU)), [pki.root_pem])
    assert not check.signed and not check.ok
    assert check.reason


@pytest.mark.parametrize("data", [b"", b"garbage", b"%PDF-1.7\n%%EOF", b"\x00" * 1000])
def test_check_signature_never_raises_on_garbage(data: bytes, pki: Pki) -> None:
    check = check_signature(data, [pki.root_pem])
    assert not check.ok


def test_check_signature_truncated(signed: bytes, pki: Pki) -> None:
    for cut in (len(signed) // 2, len(signed) - 10):
        assert not check_signature(signed[:cut], [pki.root_pem]).ok


def test_statement_survives_signing(signed: bytes) -> None:
    assert read_statement(signed) == STATEMENT


def test_signing_every_kind(doc: CertificateDocument, pki: Pki) -> None:
    pdf = sign_pdf(render_pdf(doc), pki.material, reason="テスト", location="加東市")
    assert check_signature(pdf, [pki.root_pem]).ok


@pytest.mark.parametrize("ec_signer", [False, True], ids=["rsa", "ecdsa"])
def test_encrypted_key_and_key_types(ec_signer: bool) -> None:
    pki = make_pki(ec_signer=ec_signer, passphrase=b"kofu-test")
    pdf = produce(make_doc(DocumentKind.INKAN), pki.material)
    assert check_signature(pdf, [pki.root_pem]).ok


def test_wrong_passphrase_is_invalid_input() -> None:
    pki = make_pki(passphrase=b"right")
    bad = replace(pki.material, key_passphrase=b"wrong")
    with pytest.raises(InvalidInput):
        sign_pdf(render_pdf(make_doc(DocumentKind.SHOTOKU)), bad)
