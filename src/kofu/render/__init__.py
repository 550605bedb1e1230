"""render: CertificateDocument → PDF bytes (layout, embedded font, security layers, QR, PAdES signature).

Pure: bytes in, bytes out. Imports only kofu.common and third-party libraries.
"""

from __future__ import annotations

from kofu.render.model import CertificateDocument, SigningMaterial
from kofu.render.pdf import render_pdf
from kofu.render.sign import fill_signature, sign_pdf, signature_slot


def produce(doc: CertificateDocument, material: SigningMaterial) -> bytes:
    """Render the certificate and sign it (PAdES B-B) in one pass.

    The PDF is written with its signature field and a reserved /Contents; the CMS (made with
    `cryptography` and a cached key) is then placed into it. `sign_pdf` remains for signing other PDFs.
    """
    slot = signature_slot(material)
    return fill_signature(render_pdf(doc, slot), slot, material)


__all__ = ["produce", "render_pdf", "sign_pdf"]
