"""PAdES baseline B signature (SHA-256, certificate chain embedded) with pyHanko."""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
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
