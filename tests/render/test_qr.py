"""The numpy QR encoder: the same symbol as segno's, readable by zbar once drawn into the PDF."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from kofu.common.errors import InvalidInput
from kofu.render.model import DocumentKind
from kofu.render.pdf import render_pdf
from kofu.render.qr import make_qr, qr_matrix
from tests.render.samples import make_doc

# a statement as the issuer makes it (Ed25519-signed JSON, base64url): 245 characters, version 11
ISSUER_LIKE = (
    "KOFU1.eyJkIjoiMjAyNi0xMS0yNSIsImgiOiJBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBIiwiayI6Imp1bWlu"
    "aHlvIiwibiI6MTIzNDU2NywidCI6IjI4MjI4NiIsInYiOjF9.WrVNwORvxVxS_G7S1MWI15pQFM78_KXUKmg3I1Gn4eMQBTiAwT5RwlrFdf20Olt"
    "LCVZwLS1XlnpXQdvQH3yYDA"
)


@pytest.mark.parametrize("length", [1, 14, 15, 86, 172, 245, 330, 600, 1200])
def test_same_modules_as_segno(length: int) -> None:
    """Versions 1 to 27: one and two block groups, version information, 8- and 16-bit counts, pad bytes."""
    text = (ISSUER_LIKE * 6)[:length]
    ours = qr_matrix(text)
    ref = make_qr(text)
    assert ours.shape == (len(ref.matrix), len(ref.matrix))
    assert np.array_equal(ours, np.array(ref.matrix, dtype=np.uint8)), f"version {ref.version}"


def test_too_long_is_refused() -> None:
    with pytest.raises(InvalidInput, match="too long"):
        qr_matrix("x" * 3000)


def test_non_latin1_is_refused() -> None:
    with pytest.raises(InvalidInput):
        qr_matrix("加東")


@pytest.mark.parametrize("dpi", [150, 300])
def test_issuer_length_statement_reads_back_from_the_page(dpi: int, tmp_path: Path) -> None:
    pdf = tmp_path / "k.pdf"
    pdf.write_bytes(render_pdf(replace(make_doc(DocumentKind.KISAI), statement=ISSUER_LIKE)))
    subprocess.run(
        ["pdftoppm", "-r", str(dpi), "-png", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "p")], check=True
    )
    (png,) = tmp_path.glob("p*.png")
    out = subprocess.run(["zbarimg", "--raw", "-q", "-Sdisable", "-Sqrcode.enable", str(png)], capture_output=True)
    assert out.stdout.decode().strip() == ISSUER_LIKE
