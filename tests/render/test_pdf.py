"""The rendered PDF: embedded font, extractable text, QR, statement, pagination, copy-evident screen."""

from __future__ import annotations

import io
import re
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageStat
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas

from kofu.render.fonts import FontMissing, find_font
from kofu.render.inspect import read_statement
from kofu.render.model import CertificateDocument, DocumentKind
from kofu.render.pdf import render_pdf
from kofu.render.security import (
    LATENT_SIZE,
    LATENT_WORD,
    add_text_outline,
    draw_copy_evident_screen,
    latent_font_path,
    latent_word_origins,
)
from tests.render.samples import STATEMENT, make_doc


def run(*args: str, stdin: bytes | None = None) -> str:
    return subprocess.run(args, input=stdin, capture_output=True, check=True).stdout.decode()


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)  # pdftotext turns 全角 spaces and cell gaps into runs of spaces


@pytest.fixture(scope="module")
def pdf(doc: CertificateDocument, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pdf") / f"{doc.kind}.pdf"
    path.write_bytes(render_pdf(doc))
    return path


def test_font_is_embedded_subset_with_unicode_map(pdf: Path) -> None:
    rows = run("pdffonts", str(pdf)).splitlines()[2:]
    assert rows, "no fonts listed"
    for row in rows:
        emb, sub, uni = row.split()[-5:-2]
        assert (emb, sub, uni) == ("yes", "yes", "yes"), row
    assert any("IPAexMincho" in r for r in rows)


def test_text_extracts(doc: CertificateDocument, pdf: Path) -> None:
    text = squash(run("pdftotext", "-layout", str(pdf), "-"))
    expected = [doc.title, doc.certification_text, doc.mayor_title, doc.mayor_name, doc.issued_on, "以下余白"]
    expected += [doc.issuance_number, doc.amounts_title]
    expected += [f.value for f in doc.header_fields]
    expected += [f.value for p in doc.persons for f in p.fields]
    expected += [f.label for p in doc.persons for f in p.fields]
    expected += [a.amount for a in doc.amounts] + [a.label for a in doc.amounts]
    for item in expected:
        assert squash(item) in text, item
    assert LATENT_WORD not in text  # the security layers are shapes, not text


def test_qr_decodes_to_statement(pdf: Path, tmp_path: Path) -> None:
    run("pdftoppm", "-r", "200", "-png", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "p"))
    (png,) = tmp_path.glob("p*.png")
    out = run("zbarimg", "--raw", "-q", "-Sdisable", "-Sqrcode.enable", str(png))
    assert out.strip() == STATEMENT


def test_statement_in_info_dictionary(pdf: Path) -> None:
    assert read_statement(pdf.read_bytes()) == STATEMENT


def test_read_statement_of_garbage_is_none() -> None:
    assert read_statement(b"") is None
    assert read_statement(b"%PDF-1.7\n garbage") is None


def test_ten_person_household_spans_pages() -> None:
    doc = make_doc(DocumentKind.JUMINHYO, persons=10)
    pdf = render_pdf(doc)
    pages = int(re.search(r"Pages:\s+(\d+)", run("pdfinfo", "-", stdin=pdf)).group(1))  # type: ignore[union-attr]
    assert pages >= 2
    text = run("pdftotext", "-layout", "-", "-", stdin=pdf)
    for i in range(1, pages + 1):
        assert f"{i}/{pages}" in squash(text)
    assert squash(text).count(squash(doc.title)) == pages  # title repeated on every page
    assert squash(text).count("以下余白") == 1
    assert squash(text).count(squash(doc.certification_text)) == 1
    for p in doc.persons:
        for f in p.fields:
            assert squash(f.value) in squash(text)


def test_render_is_deterministic() -> None:
    doc = make_doc(DocumentKind.INKAN)
    assert render_pdf(doc) == render_pdf(doc)


def test_find_font_honours_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KOFU_FONT_PATH", str(tmp_path / "missing.ttf"))
    with pytest.raises(FontMissing):
        find_font()
    monkeypatch.delenv("KOFU_FONT_PATH")
    assert find_font().suffix == ".ttf"


def test_missing_font_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KOFU_FONT_PATH", raising=False)
    monkeypatch.setattr("kofu.render.fonts.DEFAULT_FONT_PATHS", ())
    with pytest.raises(FontMissing, match="apt-get install fonts-ipaexfont-mincho"):
        find_font()


# -- copy-evident screen --------------------------------------------------------------------------------


def _raster(pdf: bytes, dpi: int, *, antialias: bool = True) -> Image.Image:
    args = ["pdftoppm", "-r", str(dpi), "-gray", "-png", "-f", "1", "-l", "1"]
    if not antialias:
        args += ["-aa", "no", "-aaVector", "no"]
    png = subprocess.run([*args, "-"], input=pdf, capture_output=True, check=True).stdout
    return Image.open(io.BytesIO(png)).convert("L")


def _word_mask(dpi: int) -> Image.Image:
    """White where the latent word is (rendered from the same outlines), black elsewhere."""
    w, h = A4
    buf = io.BytesIO()
    c = Canvas(buf, pagesize=A4)
    path = c.beginPath()
    for x, y in latent_word_origins(w, h):
        add_text_outline(path, latent_font_path(), LATENT_WORD, x, y, LATENT_SIZE)
    c.drawPath(path, stroke=0, fill=1)
    c.showPage()
    c.save()
    return _raster(buf.getvalue(), dpi, antialias=False).point(lambda v: 255 if v < 128 else 0)


def _screen_only() -> bytes:
    buf = io.BytesIO()
    c = Canvas(buf, pagesize=A4)
    draw_copy_evident_screen(c, *A4)
    c.showPage()
    c.save()
    return buf.getvalue()


@pytest.mark.parametrize("dpi", [80, 100, 200])
def test_latent_word_has_the_same_tone_on_the_original(dpi: int) -> None:
    img = _raster(_screen_only(), dpi)
    inside = _word_mask(dpi)
    outside = inside.point(lambda v: 255 - v)
    mean_in = ImageStat.Stat(img, inside).mean[0]
    mean_out = ImageStat.Stat(img, outside).mean[0]
    assert abs(mean_in - mean_out) < 8, (mean_in, mean_out)
    assert mean_out > 225  # a light tint, not a grey page


def _copy_darkness(pdf: bytes) -> tuple[float, float]:
    """Simulated photocopy (100 dpi, binarised): share of dark pixels inside and outside the word."""
    copy = _raster(pdf, 100).point(lambda v: 255 if v < 170 else 0)
    inside = _word_mask(100)
    outside = inside.point(lambda v: 255 - v)
    return ImageStat.Stat(copy, inside).mean[0] / 255, ImageStat.Stat(copy, outside).mean[0] / 255


def test_latent_word_appears_on_a_copy() -> None:
    """The fine screen drops out of a copy, the coarse dots of the word stay."""
    dark_in, dark_out = _copy_darkness(_screen_only())
    assert dark_in > 0.05 and dark_out < 0.005, (dark_in, dark_out)
    # on a whole certificate the text and rules darken both areas alike; the word still stands out
    dark_in, dark_out = _copy_darkness(render_pdf(make_doc(DocumentKind.JUMINHYO)))
    assert dark_in > 2 * dark_out, (dark_in, dark_out)
