"""PAdES signing and signature inspection."""

from __future__ import annotations

import hashlib
import re
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from kofu.common.errors import InvalidInput
from kofu.render import produce, render_pdf, sign, sign_pdf
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


# -- the fast path: produce() writes the signature field and fills it with a CMS made here -----------------


def _byte_range_and_cms(pdf: bytes) -> tuple[list[int], cms.ContentInfo]:
    m = re.search(rb"/ByteRange \[(\d+) (\d+) (\d+) (\d+)\] */Contents <([0-9A-F]+)>", pdf)
    assert m is not None
    byte_range = [int(v) for v in m.groups()[:4]]
    return byte_range, cms.ContentInfo.load(bytes.fromhex(m.group(5).decode()))


@pytest.mark.parametrize("kind", list(DocumentKind), ids=str)
def test_produce_every_kind_validates(kind: DocumentKind, pki: Pki, tmp_path: Path) -> None:
    pdf = produce(make_doc(kind), pki.material)
    assert check_signature(pdf, [pki.root_pem]).ok
    out = pdfsig(pdf, tmp_path)
    assert "Signature is Valid" in out and "Total document signed" in out
    assert "ETSI.CAdES.detached" in out


def test_byte_range_covers_everything_but_the_contents(signed: bytes) -> None:
    (start, a, b, c), _ = _byte_range_and_cms(signed)
    assert start == 0 and b + c == len(signed)
    gap = signed[a:b]
    assert gap.startswith(b"<") and gap.endswith(b">") and set(gap[1:-1]) <= set(b"0123456789ABCDEF")


def test_cms_is_pades_baseline_b(signed: bytes, pki: Pki) -> None:
    """content-type, message-digest and ESS signing-certificate-v2 signed; no CMS signing-time (PAdES B-B)."""
    _, info = _byte_range_and_cms(signed)
    sd = info["content"]
    signer = sd["signer_infos"][0]
    attrs = {a["type"].native: a["values"][0] for a in signer["signed_attrs"]}
    assert set(attrs) == {"content_type", "message_digest", "signing_certificate_v2"}
    cert = x509.load_pem_x509_certificate(pki.material.cert_pem)
    der = cert.public_bytes(serialization.Encoding.DER)
    assert attrs["signing_certificate_v2"]["certs"][0]["cert_hash"].native == hashlib.sha256(der).digest()
    (_, a, b, _), _ = _byte_range_and_cms(signed)
    assert attrs["message_digest"].native == hashlib.sha256(signed[:a] + signed[b:]).digest()
    embedded = {choice.chosen.dump() for choice in sd["certificates"]}
    assert der in embedded and len(embedded) == 2  # signer and the chain's root


def test_cms_template_equals_a_fresh_build(pki: Pki) -> None:
    """The DER spliced from the cached template is byte for byte what asn1crypto builds (RSA is deterministic)."""
    t = sign._template(pki.material)
    assert t.blob_template, "RSA keys use the template"
    digest = hashlib.sha256(b"kofu").digest()
    attrs = t.attrs_template[: t.digest_at] + digest + t.attrs_template[t.digest_at + 32 :]
    assert isinstance(t.key, rsa.RSAPrivateKey)
    signature = t.key.sign(attrs, padding.PKCS1v15(), hashes.SHA256())
    assert sign._cms(t, digest) == sign._assemble(t, attrs, signature)


def test_produce_with_bad_material_is_invalid_input() -> None:
    pki = make_pki(passphrase=b"right")
    with pytest.raises(InvalidInput):
        produce(make_doc(DocumentKind.KISAI), replace(pki.material, key_passphrase=b"wrong"))
    with pytest.raises(InvalidInput):
        produce(make_doc(DocumentKind.KISAI), replace(pki.material, cert_pem=b"not a certificate"))
