"""PAdES baseline B signature (SHA-256, certificate chain embedded) with pyHanko."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import threading
from dataclasses import dataclass, replace
from typing import Any

from asn1crypto import cms, tsp
from asn1crypto import x509 as asn1_x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from pyhanko.keys import load_certs_from_pemder_data
from pyhanko.keys.internal import translate_pyca_cryptography_key_to_asn1
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko_certvalidator.registry import SimpleCertificateStore
from pyhanko_certvalidator.util import get_pyca_cryptography_hash

from kofu.common.errors import InvalidInput
from kofu.render.model import SigningMaterial
from kofu.render.writer import SignatureSlot

FIELD_NAME = "KofuSignature"


class _KeptKeySigner(signers.SimpleSigner):  # type: ignore[misc]
    """SimpleSigner that keeps the parsed private key.

    pyHanko's SimpleSigner re-parses the DER key on every signature, which for RSA costs tens of
    milliseconds (key consistency checks); we sign RSA PKCS#1 v1.5 and ECDSA with the kept key and
    defer every other mechanism to pyHanko.
    """

    def __init__(self, key: PrivateKeyTypes, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._key = key

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        try:
            algo = self.get_signature_mechanism_for_digest(digest_algorithm).signature_algo
        except ValueError:
            algo = ""
        hash_algo = get_pyca_cryptography_hash(digest_algorithm)
        if algo == "rsassa_pkcs1v15" and isinstance(self._key, rsa.RSAPrivateKey):
            return self._key.sign(data, padding.PKCS1v15(), hash_algo)
        if algo == "ecdsa" and isinstance(self._key, ec.EllipticCurvePrivateKey):
            return self._key.sign(data, ec.ECDSA(hash_algo))
        return bytes(super().sign_raw(data, digest_algorithm))


@dataclass(frozen=True)
class _LoadedSigner:
    signer: signers.SimpleSigner
    bytes_reserved: int  # room (hex digits) for the CMS blob, so pyHanko need not sign twice to size it


_cache: dict[SigningMaterial, _LoadedSigner] = {}
_cache_lock = threading.Lock()
_CACHE_MAX = 32


def _load(material: SigningMaterial) -> _LoadedSigner:
    with _cache_lock:
        hit = _cache.get(material)
    if hit is not None:
        return hit
    try:
        crypto_key = serialization.load_pem_private_key(material.key_pem, password=material.key_passphrase)
        key = translate_pyca_cryptography_key_to_asn1(crypto_key)
        certs = list(load_certs_from_pemder_data(material.cert_pem))
        chain = [c for pem in material.chain_pem for c in load_certs_from_pemder_data(pem)]
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise InvalidInput(f"cannot load signing material: {e}", "署名用の鍵または証明書を読み込めません") from e
    if not certs:
        raise InvalidInput("signing certificate PEM holds no certificate", "署名用証明書がありません")
    signer = _KeptKeySigner(
        crypto_key,
        signing_cert=certs[0],
        signing_key=key,
        cert_registry=SimpleCertificateStore.from_certs([*certs, *chain]),  # type: ignore[no-untyped-call]
    )
    cert_bytes = sum(len(c.dump()) for c in [*certs, *chain])
    # pyHanko reserves this many hex digits: 2 per DER byte of certificates, signature and attributes
    loaded = _LoadedSigner(signer, 2 * (cert_bytes + 3072))
    with _cache_lock:
        if len(_cache) >= _CACHE_MAX:
            _cache.pop(next(iter(_cache)))
        _cache[material] = loaded
    return loaded


def sign_pdf(
    pdf: bytes, material: SigningMaterial, *, reason: str = "証明書の発行", location: str | None = None
) -> bytes:
    """Append a PAdES B-B signature covering the whole file; returns the signed PDF."""
    loaded = _load(material)
    meta = signers.PdfSignatureMetadata(
        field_name=FIELD_NAME,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=reason,
        location=location,
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    out = io.BytesIO()
    signers.PdfSigner(meta, signer=loaded.signer).sign_pdf(writer, output=out, bytes_reserved=loaded.bytes_reserved)
    return out.getvalue()


# -- fast path: the CMS made here, into a /Contents slot reserved when the PDF was written ------------------


@dataclass(frozen=True)
class _CmsTemplate:
    """Everything of a SignedData that does not change between signatures, prepared once per key."""

    key: PrivateKeyTypes
    attrs_template: bytes  # DER of the signed attributes (SET OF), with a placeholder digest
    digest_at: int  # where the 32-byte messageDigest sits in attrs_template
    signer_cert: asn1_x509.Certificate
    certs: tuple[asn1_x509.Certificate, ...]
    signature_algorithm: str  # asn1crypto name
    reserved_hex: int  # hex digits reserved in /Contents
    blob_template: bytes = b""  # the whole ContentInfo for RSA (fixed-length signature), placeholders inside
    blob_digest_at: int = 0
    blob_signature_at: int = 0
    signature_len: int = 0


_PLACEHOLDER_DIGEST = bytes(range(1, 33))
_templates: dict[SigningMaterial, _CmsTemplate] = {}


def _signed_attrs(digest: bytes, signer: asn1_x509.Certificate) -> cms.CMSAttributes:
    ess = tsp.SigningCertificateV2(
        {
            "certs": [
                {
                    "cert_hash": hashlib.sha256(signer.dump()).digest(),
                    "issuer_serial": {
                        "issuer": [asn1_x509.GeneralName({"directory_name": signer.issuer})],
                        "serial_number": signer.serial_number,
                    },
                }
            ]
        }
    )
    return cms.CMSAttributes(
        [
            cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
            cms.CMSAttribute({"type": "message_digest", "values": [digest]}),
            cms.CMSAttribute({"type": "signing_certificate_v2", "values": [ess]}),
        ]
    )


def _template(material: SigningMaterial) -> _CmsTemplate:
    with _cache_lock:
        hit = _templates.get(material)
    if hit is not None:
        return hit
    try:
        key = serialization.load_pem_private_key(material.key_pem, password=material.key_passphrase)
        certs = [asn1_x509.Certificate.load(c.dump()) for c in load_certs_from_pemder_data(material.cert_pem)]
        chain = [
            asn1_x509.Certificate.load(c.dump()) for pem in material.chain_pem for c in load_certs_from_pemder_data(pem)
        ]
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise InvalidInput(f"cannot load signing material: {e}", "署名用の鍵または証明書を読み込めません") from e
    if not certs:
        raise InvalidInput("signing certificate PEM holds no certificate", "署名用証明書がありません")
    if isinstance(key, rsa.RSAPrivateKey):
        algo = "rsassa_pkcs1v15"
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        algo = "sha256_ecdsa"
    else:
        raise InvalidInput("the signing key must be RSA or ECDSA", "署名用の鍵は RSA または ECDSA でなければなりません")
    signer = certs[0]
    attrs = _signed_attrs(_PLACEHOLDER_DIGEST, signer).dump()
    all_certs = tuple(certs + [c for c in chain if c.dump() != signer.dump()])
    size = sum(len(c.dump()) for c in all_certs) + len(attrs) + 1024
    t = _CmsTemplate(key, attrs, attrs.index(_PLACEHOLDER_DIGEST), signer, all_certs, algo, 2 * size)
    if isinstance(key, rsa.RSAPrivateKey):
        # an RSA signature always has the modulus length: the whole DER is a template with two holes
        sig_len = (key.key_size + 7) // 8
        placeholder_sig = b"\xa5" * sig_len
        blob = _assemble(t, attrs, placeholder_sig)
        body = attrs[1:]  # in SignerInfo the SET tag becomes [0] IMPLICIT; the rest is identical
        if blob.count(body) == 1 and blob.count(placeholder_sig) == 1:
            t = replace(
                t,
                blob_template=blob,
                blob_digest_at=blob.index(body) - 1 + t.digest_at,
                blob_signature_at=blob.index(placeholder_sig),
                signature_len=sig_len,
            )
    with _cache_lock:
        if len(_templates) >= _CACHE_MAX:
            _templates.pop(next(iter(_templates)))
        _templates[material] = t
    return t


def _cms(t: _CmsTemplate, digest: bytes) -> bytes:
    attrs = t.attrs_template[: t.digest_at] + digest + t.attrs_template[t.digest_at + 32 :]
    if isinstance(t.key, rsa.RSAPrivateKey):
        signature = t.key.sign(attrs, padding.PKCS1v15(), hashes.SHA256())
        if t.blob_template and len(signature) == t.signature_len:
            b = bytearray(t.blob_template)
            b[t.blob_digest_at : t.blob_digest_at + 32] = digest
            b[t.blob_signature_at : t.blob_signature_at + t.signature_len] = signature
            return bytes(b)
    else:
        assert isinstance(t.key, ec.EllipticCurvePrivateKey)
        signature = t.key.sign(attrs, ec.ECDSA(hashes.SHA256()))
    return _assemble(t, attrs, signature)


def _assemble(t: _CmsTemplate, attrs: bytes, signature: bytes) -> bytes:
    """The DER ContentInfo(SignedData) around the signed attributes and the signature value."""
    signer_info = cms.SignerInfo(
        {
            "version": "v1",
            "sid": cms.SignerIdentifier(
                {
                    "issuer_and_serial_number": {
                        "issuer": t.signer_cert.issuer,
                        "serial_number": t.signer_cert.serial_number,
                    }
                }
            ),
            "digest_algorithm": {"algorithm": "sha256"},
            "signed_attrs": cms.CMSAttributes.load(attrs),
            "signature_algorithm": {"algorithm": t.signature_algorithm},
            "signature": signature,
        }
    )
    signed_data = cms.SignedData(
        {
            "version": "v1",
            "digest_algorithms": [{"algorithm": "sha256"}],
            "encap_content_info": {"content_type": "data"},
            "certificates": list(t.certs),
            "signer_infos": [signer_info],
        }
    )
    return bytes(cms.ContentInfo({"content_type": "signed_data", "content": signed_data}).dump())


def signature_slot(material: SigningMaterial, *, reason: str = "証明書の発行") -> SignatureSlot:
    """A slot for `render_pdf`: /Contents reserved for this material's CMS, signing time now (UTC)."""
    t = _template(material)
    now = dt.datetime.now(dt.UTC).strftime("D:%Y%m%d%H%M%S+00'00'")
    return SignatureSlot(contents_hex_len=t.reserved_hex, reason=reason, signing_time=now, field_name=FIELD_NAME)


def fill_signature(pdf: bytes, slot: SignatureSlot, material: SigningMaterial) -> bytes:
    """Fill /ByteRange and /Contents of a PDF written with `slot`: a PAdES B-B signature of the whole file."""
    t = _template(material)
    start = slot.contents_at
    end = start + slot.contents_hex_len + 2  # the hex string with its angle brackets
    byte_range = b"[0 %d %d %d]" % (start, end, len(pdf) - end)
    if len(byte_range) > slot.byterange_len:
        raise InvalidInput("PDF too large for the reserved /ByteRange", "PDF が大きすぎます")
    buf = bytearray(pdf)
    buf[slot.byterange_at : slot.byterange_at + slot.byterange_len] = byte_range.ljust(slot.byterange_len)
    view = memoryview(buf)
    h = hashlib.sha256(view[:start])
    h.update(view[end:])
    blob = _cms(t, h.digest())
    if 2 * len(blob) > slot.contents_hex_len:
        raise InvalidInput("signature larger than its reserved room", "署名が予約領域に収まりません")
    hexed = blob.hex().upper().encode()
    buf[start + 1 : start + 1 + len(hexed)] = hexed
    return bytes(buf)
