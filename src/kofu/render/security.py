"""Anti-forgery layers drawn under the content: copy-evident screen (けん制) and micro text.

Both are vector shapes (glyph outlines from the font, never PDF text), so `pdftotext` sees only the real
content. Both draw on a reportlab Canvas or a writer.PageCanvas; the certificate renderer builds them once per
process (per micro-text unit) as Form XObjects and places them on every page.

Copy-evident screen: the whole page carries a fine line screen (thin lines, close together); inside the
outlines of the latent word 「複写」 the fine lines are knocked out and replaced by a coarse dot screen of
the same average coverage. On the original both areas look like the same light tint; a copier (or any
binarising scan) drops the fine lines but keeps the coarse dots, so the word appears on the copy.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from fontTools.pens.basePen import BasePen  # type: ignore[import-untyped]
from fontTools.ttLib import TTFont as FtFont  # type: ignore[import-untyped]
from reportlab.lib.colors import Color, white
from reportlab.pdfgen.canvas import FILL_EVEN_ODD, FILL_NON_ZERO, Canvas
from reportlab.pdfgen.pathobject import PDFPathObject

from kofu.render.fonts import find_font
from kofu.render.writer import PageCanvas

# -- screen parameters (points). Coverage fine = FINE_WIDTH / FINE_PITCH; coarse = (DOT / DOT_PITCH)^2.
SCREEN_COLOR = Color(0.55, 0.55, 0.55)
FINE_PITCH = 2.0
FINE_WIDTH = 0.15
DOT_PITCH = 3.6
DOT_SIZE = 1.3  # (1.3 / 3.6)^2 = 0.130 ~ 0.13 / 1.0
LATENT_WORD = "複写"
LATENT_SIZE = 150.0  # font size of the latent word
LATENT_STEP_X = 330.0  # tile pitch of the latent word
LATENT_STEP_Y = 210.0

MICRO_SIZE = 1.5
MICRO_COLOR = Color(0.2, 0.2, 0.2)

GOTHIC_PATHS = (
    Path("/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf"),
    Path("/usr/share/fonts/truetype/ipaexfont-gothic/ipaexg.ttf"),
)

_font_lock = threading.Lock()

Op = tuple[str, tuple[tuple[float, float], ...]]


@dataclass(frozen=True)
class Glyph:
    advance: float  # in em
    ops: tuple[Op, ...]  # outline in em units (y up)


@lru_cache(maxsize=4)
def _ft_font(path: str) -> Any:
    return FtFont(path, lazy=True)


def latent_font_path() -> str:
    """A heavy face makes a legible latent word: IPAex Gothic if present, else the Mincho."""
    for p in GOTHIC_PATHS:
        if p.is_file():
            return str(p)
    return str(find_font())


class _EmPen(BasePen):  # type: ignore[misc]
    """Records an outline as moveTo/lineTo/curveTo/close in em units; BasePen turns quadratics to cubics."""

    def __init__(self, glyph_set: Any, upem: float) -> None:
        super().__init__(glyph_set)
        self.scale = 1.0 / upem
        self.ops: list[Op] = []

    def _pt(self, pt: tuple[float, float]) -> tuple[float, float]:
        return (pt[0] * self.scale, pt[1] * self.scale)

    def _moveTo(self, pt: tuple[float, float]) -> None:
        self.ops.append(("moveTo", (self._pt(pt),)))

    def _lineTo(self, pt: tuple[float, float]) -> None:
        self.ops.append(("lineTo", (self._pt(pt),)))

    def _curveToOne(self, p1: tuple[float, float], p2: tuple[float, float], p3: tuple[float, float]) -> None:
        self.ops.append(("curveTo", (self._pt(p1), self._pt(p2), self._pt(p3))))

    def _closePath(self) -> None:
        self.ops.append(("closePath", ()))

    def _endPath(self) -> None:
        self.ops.append(("closePath", ()))


@lru_cache(maxsize=4096)
def glyph(font_path: str, char: str) -> Glyph:
    """The outline of one character, in em units (cached per process)."""
    with _font_lock:
        font = _ft_font(font_path)
        upem = float(font["head"].unitsPerEm)
        name = font.getBestCmap().get(ord(char), ".notdef")
        gs = font.getGlyphSet()
        pen = _EmPen(gs, upem)
        gs[name].draw(pen)
        return Glyph(gs[name].width / upem, tuple(pen.ops))


def add_text_outline(path: Any, font_path: str, text: str, x: float, y: float, size: float) -> float:
    """Append the outlines of `text` (baseline at x, y) to a reportlab path; return the advance width."""
    for ch in text:
        g = glyph(font_path, ch)
        for op, pts in g.ops:
            xy = [(x + px * size, y + py * size) for px, py in pts]
            if op == "moveTo":
                path.moveTo(*xy[0])
            elif op == "lineTo":
                path.lineTo(*xy[0])
            elif op == "curveTo":
                (x1, y1), (x2, y2), (x3, y3) = xy
                path.curveTo(x1, y1, x2, y2, x3, y3)
            elif op in ("closePath", "endPath"):
                path.close()
        x += g.advance * size
    return sum(glyph(font_path, ch).advance for ch in text) * size


def latent_word_origins(width: float, height: float) -> list[tuple[float, float]]:
    """Baseline origins of the latent-word tiles (staggered grid) on a page of the given size."""
    font_path = latent_font_path()
    word_w = sum(glyph(font_path, ch).advance for ch in LATENT_WORD) * LATENT_SIZE
    origins: list[tuple[float, float]] = []
    row = 0
    y = height - LATENT_STEP_Y * 0.75
    while y > -LATENT_SIZE:
        shift = (LATENT_STEP_X / 2) if row % 2 else 0.0
        x = (width - word_w) / 2 - LATENT_STEP_X - shift + LATENT_STEP_X / 4
        while x < width:
            origins.append((x, y))
            x += LATENT_STEP_X
        y -= LATENT_STEP_Y
        row += 1
    return origins


@lru_cache(maxsize=8)
def _screen_paths(width: float, height: float) -> tuple[PDFPathObject, PDFPathObject, PDFPathObject]:
    """(fine lines, latent word outlines, coarse dot rows) for a page size; built once per process."""
    # filled thin bands, not stroked hairlines: rasterisers widen strokes to >= 1 device pixel, which would
    # make the "fine" screen as dark on screen as on a copy; fills are anti-aliased by coverage. They run
    # at 45 degrees because axis-aligned thin fills get snapped to whole pixels by some renderers.
    lines = PDFPathObject()
    step = FINE_PITCH * math.sqrt(2)  # horizontal distance between lines of perpendicular pitch FINE_PITCH
    w = FINE_WIDTH * math.sqrt(2)
    x = -height
    while x < width:
        lines.moveTo(x, 0)
        lines.lineTo(x + w, 0)
        lines.lineTo(x + w + height, height)
        lines.lineTo(x + height, height)
        lines.close()
        x += step

    font_path = latent_font_path()
    word = PDFPathObject()
    for x0, y0 in latent_word_origins(width, height):
        add_text_outline(word, font_path, LATENT_WORD, x0, y0, LATENT_SIZE)

    # a row of square dots is one dashed line (dash = DOT_SIZE on, the rest off); the rows run at 45
    # degrees like the fine lines, so that on the original both areas have the same grain
    dots = PDFPathObject()
    step = DOT_PITCH * math.sqrt(2)
    x = -height
    while x < width:
        dots.moveTo(x, 0)
        dots.lineTo(x + height, height)
        x += step
    return lines, word, dots


def draw_copy_evident_screen(c: Canvas | PageCanvas, width: float, height: float) -> None:
    """Fine line screen over the page; coarse dots of equal tone inside the latent word outlines."""
    lines, word, dots = _screen_paths(width, height)
    c.saveState()
    c.setStrokeColor(SCREEN_COLOR)
    c.setFillColor(SCREEN_COLOR)
    c.drawPath(lines, stroke=0, fill=1)
    c.clipPath(word, stroke=0, fill=0, fillMode=FILL_NON_ZERO)
    c.setFillColor(white)
    c.rect(0, 0, width, height, stroke=0, fill=1)
    c.setLineWidth(DOT_SIZE)
    c.setLineCap(0)
    c.setDash([DOT_SIZE, DOT_PITCH - DOT_SIZE], 0)
    c.drawPath(dots, stroke=1, fill=0)
    c.restoreState()


@lru_cache(maxsize=64)
def _text_path(font_path: str, text: str, size: float) -> PDFPathObject:
    path = PDFPathObject()
    add_text_outline(path, font_path, text, 0, 0, size)
    return path


def draw_micro_text_frame(
    c: Canvas | PageCanvas, unit: str, x0: float, y0: float, x1: float, y1: float, band: float
) -> None:
    """Two ruled rectangles `band` apart with `unit` repeated as ~1.5pt micro text in between.

    The unit is drawn once as a Form XObject (glyph outlines) and placed along each side.
    """
    font_path = str(find_font())
    form = "kofu-micro-unit"
    unit_w = sum(glyph(font_path, ch).advance for ch in unit) * MICRO_SIZE
    c.beginForm(form, 0, -0.5, unit_w, MICRO_SIZE)
    c.setFillColor(MICRO_COLOR)
    c.drawPath(_text_path(font_path, unit, MICRO_SIZE), stroke=0, fill=1, fillMode=FILL_NON_ZERO)
    c.endForm()

    c.saveState()
    c.setStrokeColor(MICRO_COLOR)
    c.setLineWidth(0.4)
    c.rect(x0, y0, x1 - x0, y1 - y0, stroke=1, fill=0)
    c.rect(x0 + band, y0 + band, x1 - x0 - 2 * band, y1 - y0 - 2 * band, stroke=1, fill=0)
    clip = c.beginPath()
    clip.rect(x0, y0, x1 - x0, y1 - y0)
    clip.rect(x0 + band, y0 + band, x1 - x0 - 2 * band, y1 - y0 - 2 * band)
    c.clipPath(clip, stroke=0, fill=0, fillMode=FILL_EVEN_ODD)
    base = (band - MICRO_SIZE * 0.72) / 2 + MICRO_SIZE * 0.12

    def run(length: float, tx: float, ty: float, angle: float) -> None:
        pos = 0.0
        while pos < length:
            c.saveState()
            c.translate(tx, ty)
            c.rotate(angle)
            c.translate(pos, 0)
            c.doForm(form)
            c.restoreState()
            pos += unit_w

    run(x1 - x0, x0, y1 - band + base, 0)  # top, left to right
    run(x1 - x0, x1, y0 + band - base, 180)  # bottom, right to left (reads upright when rotated)
    run(y1 - y0, x0 + band - base, y0, 90)  # left, bottom to top
    run(y1 - y0, x1 - band + base, y1, -90)  # right, top to bottom
    c.restoreState()
