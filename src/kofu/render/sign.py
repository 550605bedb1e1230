"""PAdES baseline B signature (SHA-256, certificate chain embedded) with pyHanko."""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass

from pyhanko.keys import load_certs_from_pemder_data, load_private_key_from_pemder_data
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko_certvalidator.registry import SimpleCertificateStore

from kofu.common.errors import InvalidInput
from kofu.render.model import SigningMaterial

FIELD_NAME = "KofuSignature"


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
        key = load_private_key_from_pemder_data(material.key_pem, passphrase=material.key_passphrase)
        certs = list(load_certs_from_pemder_data(material.cert_pem))
        chain = [c for pem in material.chain_pem for c in load_certs_from_pemder_data(pem)]
    except (ValueError, TypeError) as e:
        raise InvalidInput(f"cannot load signing material: {e}", "署名用の鍵または証明書を読み込めません") from e
    if not certs:
        raise InvalidInput("signing certificate PEM holds no certificate", "署名用証明書がありません")
    signer = signers.SimpleSigner(
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
