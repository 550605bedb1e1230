"""render: CertificateDocument → PDF bytes (layout, embedded font, security layers, QR, PAdES signature).

Pure: bytes in, bytes out. Imports only kofu.common and third-party libraries.
"""

from __future__ import annotations

from kofu.render.model import CertificateDocument, SigningMaterial
from kofu.render.pdf import render_pdf
from kofu.render.sign import sign_pdf


def produce(doc: CertificateDocument, material: SigningMaterial) -> bytes:
    """Render the certificate and sign it (PAdES B-B)."""
    return sign_pdf(render_pdf(doc), material)


__all__ = ["produce", "render_pdf", "sign_pdf"]
