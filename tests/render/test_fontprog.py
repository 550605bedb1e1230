"""Font subsets from the glyph cache: valid TrueType, the original outlines, composites renumbered."""

from __future__ import annotations

import io
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
from fontTools.fontBuilder import FontBuilder
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.ttLib import TTFont
from fontTools.ttLib.tables._g_l_y_f import GlyphComponent
from PIL import Image

from kofu.render.fontprog import FontProgram, font_program
from kofu.render.fonts import find_font
from kofu.render.writer import PdfWriter

TEXT = "加東市長之印　住民票の写し 第 282286-0000001 号 ABC abc"


def _open(sub_fontfile: bytes, length1: int) -> tuple[bytes, TTFont]:
    raw = zlib.decompress(sub_fontfile)
    assert len(raw) == length1
    return raw, TTFont(io.BytesIO(raw), checkChecksums=2)  # raises on a wrong table checksum


def test_subset_is_valid_truetype_with_the_original_outlines() -> None:
    prog = font_program(find_font())
    run = prog.text(TEXT)
    sub = prog.subset(run.gids)
    raw, ft = _open(sub.fontfile, sub.length1)
    assert sum(struct.unpack(f">{len(raw) // 4}I", raw)) & 0xFFFFFFFF == 0xB1B0AFBA  # checkSumAdjustment
    orig = TTFont(str(find_font()))
    order, orig_order = ft.getGlyphOrder(), orig.getGlyphOrder()
    assert len(order) == len(set(run.gids) - {0}) + 1  # .notdef plus one glyph per distinct character
    for new_gid, gid in enumerate(sub.gids, start=1):
        ours = ft["glyf"][order[new_gid]]
        theirs = orig["glyf"][orig_order[gid]]
        assert list(ours.getCoordinates(ft["glyf"])[0]) == list(theirs.getCoordinates(orig["glyf"])[0])
        assert ft["hmtx"][order[new_gid]] == orig["hmtx"][orig_order[gid]]
    # the CIDToGIDMap sends each original glyph id (the CID used in the text) to its place in the subset
    for new_gid, gid in enumerate(sub.gids, start=1):
        assert sub.cid_to_gid[2 * gid : 2 * gid + 2] == new_gid.to_bytes(2, "big")


def test_text_run_width_is_the_sum_of_advances() -> None:
    prog = font_program(find_font())
    orig = TTFont(str(find_font()))
    cmap, upem = orig.getBestCmap(), orig["head"].unitsPerEm
    expected = sum(orig["hmtx"][cmap[ord(ch)]][0] for ch in TEXT) * 1000 / upem
    assert abs(prog.text(TEXT).width - expected) < 1e-6
    assert abs(prog.string_width(TEXT, 10.5) - expected * 10.5 / 1000) < 1e-6


def _save(fb: FontBuilder, metrics: dict[str, tuple[int, int]], path: Path) -> Path:
    """The font's remaining tables (advances and side bearings from `metrics`), written to `path`."""
    fb.setupHorizontalMetrics(metrics)
    fb.setupHorizontalHeader(ascent=800, descent=-200)
    fb.setupNameTable({"familyName": "KofuTest", "styleName": "Regular", "psName": "KofuTest-Regular"})
    fb.setupOS2()
    fb.setupPost()
    fb.save(str(path))
    return path


def _font_with_a_composite(path: Path) -> Path:
    """A two-glyph TrueType: 'A' a square, 'B' a composite of 'A' shifted right."""
    fb = FontBuilder(1000, isTTF=True)
    fb.setupGlyphOrder([".notdef", "A", "B"])
    fb.setupCharacterMap({ord("A"): "A", ord("B"): "B"})
    pen = TTGlyphPen(None)
    for x0, y0, x1, y1 in [(100, 0, 500, 700)]:
        pen.moveTo((x0, y0))
        pen.lineTo((x0, y1))
        pen.lineTo((x1, y1))
        pen.lineTo((x1, y0))
        pen.closePath()
    square = pen.glyph()
    empty = TTGlyphPen(None).glyph()
    fb.setupGlyf({".notdef": empty, "A": square, "B": empty})
    comp = GlyphComponent()
    comp.glyphName, comp.x, comp.y, comp.flags = "A", 300, 0, 0x0001 | 0x0002  # ARGS_ARE_WORDS, XY_VALUES
    b = fb.font["glyf"]["B"]
    b.numberOfContours, b.components = -1, [comp]
    return _save(fb, {".notdef": (600, 0), "A": (600, 100), "B": (900, 400)}, path)


def test_composite_glyph_pulls_in_its_component_renumbered(tmp_path: Path) -> None:
    prog = FontProgram(_font_with_a_composite(tmp_path / "t.ttf"))
    b = prog.gid("B")
    sub = prog.subset({b})  # only B is drawn; A must come along as its component
    _, ft = _open(sub.fontfile, sub.length1)
    order = ft.getGlyphOrder()
    assert len(order) == 3
    composite = ft["glyf"][order[1]]
    assert composite.isComposite()
    (component,) = composite.components
    assert component.glyphName == order[2]  # points at the subset's copy of A
    coords, _, _ = composite.getCoordinates(ft["glyf"])
    assert (400, 0) in list(coords) and (800, 700) in list(coords)  # A's square moved 300 right


def test_a_pdf_in_that_font_shows_and_extracts_its_text(tmp_path: Path) -> None:
    prog = FontProgram(_font_with_a_composite(tmp_path / "t.ttf"))
    w = PdfWriter(prog, (200, 100))
    page = w.new_page()
    page.setFont("", 40)
    page.drawString(20, 30, "BA")
    pdf = tmp_path / "t.pdf"
    pdf.write_bytes(w.finish())
    assert subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout.strip() == "BA"
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert "CID TrueType" in fonts and "+KofuTest-Regular" in fonts
    subprocess.run(["pdftoppm", "-r", "72", "-gray", "-png", str(pdf), str(tmp_path / "r")], check=True)
    (png,) = tmp_path.glob("r*.png")
    dark = int((np.asarray(Image.open(png).convert("L")) < 128).sum())
    assert dark > 2 * 16 * 28 * 0.8  # both 16x28 pt squares are inked (a missing glyph leaves the page white)


def _font_with_transformed_components(path: Path) -> Path:
    """'E' a composite of four squares A–D, one component record of each layout the glyf table has:
    byte offsets, word offsets with one scale, with x and y scales, with a two-by-two matrix."""
    names = [".notdef", "A", "B", "C", "D", "E"]
    fb = FontBuilder(1000, isTTF=True)
    fb.setupGlyphOrder(names)
    fb.setupCharacterMap({ord(n): n for n in names[1:]})
    glyphs = {".notdef": TTGlyphPen(None).glyph()}
    for i, name in enumerate(names[1:5]):
        pen = TTGlyphPen(None)
        pen.moveTo((10 * i, 0))
        pen.lineTo((10 * i, 100 + i))
        pen.lineTo((50 + 10 * i, 100 + i))
        pen.closePath()
        glyphs[name] = pen.glyph()
    glyphs["E"] = TTGlyphPen(None).glyph()
    fb.setupGlyf(glyphs)
    components = []
    for name, (x, y), transform in [
        ("A", (5, 6), None),
        ("B", (700, 0), [[0.5, 0], [0, 0.5]]),
        ("C", (0, 900), [[0.5, 0], [0, 1.5]]),
        ("D", (-600, 300), [[0, 1], [-1, 0]]),
    ]:
        comp = GlyphComponent()
        comp.glyphName, comp.x, comp.y, comp.flags = name, x, y, 0x0002  # ARGS_ARE_XY_VALUES
        if transform is not None:
            comp.transform = transform
        components.append(comp)
    e = fb.font["glyf"]["E"]
    e.numberOfContours, e.components = -1, components
    return _save(fb, {n: (900, 0) for n in names}, path)


def test_every_component_layout_is_renumbered_and_keeps_its_transform(tmp_path: Path) -> None:
    path = _font_with_transformed_components(tmp_path / "t.ttf")
    prog = FontProgram(path)
    sub = prog.subset({prog.gid("E")})  # only E is drawn; A–D come along as its components
    _, ft = _open(sub.fontfile, sub.length1)
    order = ft.getGlyphOrder()
    assert len(order) == 6
    orig = TTFont(str(path))
    e_sub, e_orig = ft["glyf"][order[1]], orig["glyf"]["E"]
    assert [order.index(c.glyphName) for c in e_sub.components] == [2, 3, 4, 5]  # the subset's copies of A–D
    assert [sub.gids[order.index(c.glyphName) - 1] for c in e_sub.components] == [1, 2, 3, 4]  # A–D originally
    assert [getattr(c, "transform", None) for c in e_sub.components] == [
        getattr(c, "transform", None) for c in e_orig.components
    ]
    ours = list(e_sub.getCoordinates(ft["glyf"])[0])
    theirs = list(e_orig.getCoordinates(orig["glyf"])[0])
    assert ours == theirs and len(ours) == 4 * 3  # all four outlines, placed as in the original
