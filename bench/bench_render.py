"""Certificate production per type (render + QR + PAdES signature), one process on one core, and its parts.

.venv/bin/python bench/bench_render.py [--runs 300]

Each document gets its own issuance number and a freshly signed statement (so every QR differs), the
signing key is RSA-2048 like the tenants' (kofu.issuer.keys). Medians of single certificates after a
warm-up; "per second" is 1000 / median.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from tests.render.samples import make_doc, make_pki

from bench.common import record
from kofu.issuer.statement import Statement, b64u, encode
from kofu.render import produce, render_pdf, sign_pdf
from kofu.render.model import CertificateDocument, DocumentKind
from kofu.render.qr import qr_matrix
from kofu.render.sign import fill_signature, signature_slot

LABELS = {
    DocumentKind.JUMINHYO: "住民票の写し (household of 3)",
    DocumentKind.KISAI: "住民票記載事項証明書 (1 person)",
    DocumentKind.INKAN: "印鑑登録証明書",
    DocumentKind.SHOTOKU: "所得証明書",
}


def _docs(kind: DocumentKind, n: int, key: Ed25519PrivateKey) -> list[CertificateDocument]:
    base = (
        make_doc(kind, persons=3 if kind is DocumentKind.JUMINHYO else 1)
        if kind
        in (
            DocumentKind.JUMINHYO,
            DocumentKind.KISAI,
        )
        else make_doc(kind)
    )
    out = []
    for i in range(n):
        number = 100000 + i
        st = encode(Statement("282286", number, kind.value[0].upper(), date(2026, 11, 25), b64u(bytes(32))), key)
        out.append(replace(base, issuance_number=f"282286-{number:07d}", statement=st))
    return out


def _median_ms(fn: object, items: list[CertificateDocument]) -> float:
    call = fn  # type: ignore[assignment]
    call(items[0])  # type: ignore[operator]
    samples = []
    for d in items:
        t = time.perf_counter()
        call(d)  # type: ignore[operator]
        samples.append(time.perf_counter() - t)
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    pki = make_pki()
    material = pki.material
    st_key = Ed25519PrivateKey.generate()
    rows: list[tuple[str, str]] = []
    totals = []
    for kind in DocumentKind:
        docs = _docs(kind, args.runs, st_key)
        ms = _median_ms(lambda d: produce(d, material), docs)
        totals.append(ms)
        size = len(produce(docs[0], material))
        rows.append((f"{LABELS[kind]}: render + QR + sign (median)", f"{ms:.2f} ms = {1000 / ms:.0f} /s"))
        rows.append((f"{LABELS[kind]}: PDF size", f"{size / 1024:.0f} KiB"))

    # parts, on the household 住民票
    docs = _docs(DocumentKind.JUMINHYO, args.runs, st_key)
    slot = signature_slot(material)
    render_ms = _median_ms(lambda d: render_pdf(d, slot), docs)
    rows.append(("parts (住民票): render with signature slot, QR included", f"{render_ms:.2f} ms"))
    rows.append(("parts: QR matrix alone", f"{_median_ms(lambda d: qr_matrix(d.statement), docs):.3f} ms"))
    pdf = render_pdf(docs[0], slot)
    fill_ms = _median_ms(lambda d: fill_signature(pdf, slot, material), docs)
    rows.append(("parts: fill signature (hash, CMS, RSA-2048 sign)", f"{fill_ms:.2f} ms"))
    key = load_pem_private_key(material.key_pem, None)
    assert isinstance(key, rsa.RSAPrivateKey)
    rows.append(
        (
            "parts: RSA-2048 PKCS#1 v1.5 sign alone (floor of the signature)",
            f"{_median_ms(lambda d: key.sign(b'x' * 200, padding.PKCS1v15(), hashes.SHA256()), docs):.2f} ms",
        )
    )
    few = docs[: max(10, args.runs // 10)]
    unsigned = render_pdf(docs[0])
    hanko_ms = _median_ms(lambda d: sign_pdf(unsigned, material), few)
    rows.append(("reference: pyHanko sign_pdf of the same PDF (kept for other PDFs)", f"{hanko_ms:.2f} ms"))
    mean = sum(totals) / len(totals)
    rows.append(("certificate production, mean of the 4 type medians", f"{mean:.2f} ms = {1000 / mean:.0f} /s"))
    record(
        "Certificate production per type (render + QR + signature), one core",
        rows,
        f"{args.runs} certificates per type, each with its own number and statement; RSA-2048 signing key",
    )


if __name__ == "__main__":
    main()
