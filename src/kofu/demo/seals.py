"""印影 (seal impressions) for synthetic seal registrations.

A demo seal is a red circle with the surname written vertically in IPAex Mincho, like a mass-produced
三文判: one image per surname, shared by everyone with that surname (and cached per process), so that
generating tens of thousands of registrations stays fast.
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT_PATHS = (
    Path("/usr/share/fonts/opentype/ipaexfont-mincho/ipaexm.ttf"),
    Path("/usr/share/fonts/truetype/fonts-japanese-mincho.ttf"),
)
SIZE = 240  # pixels; printed at about 15 mm
INK = (200, 30, 40, 255)  # 朱肉


class SealFontMissing(RuntimeError):
    pass


@cache
def _font_path() -> Path:
    for path in FONT_PATHS:
        if path.is_file():
            return path
    raise SealFontMissing(
        "IPAex Mincho is needed to draw demo seals: apt-get install fonts-ipaexfont-mincho "
        f"(looked in {', '.join(str(p) for p in FONT_PATHS)})"
    )


@cache
def seal_png(surname: str) -> bytes:
    """A PNG of a round seal reading `surname` top to bottom; transparent outside the ink."""
    if not surname:
        raise ValueError("a seal needs at least one character")
    image = Image.new("RGBA", (SIZE, SIZE), (255, 255, 255, 0))
    draw = ImageDraw.Draw(image)
    ring = SIZE // 24
    draw.ellipse((ring, ring, SIZE - ring - 1, SIZE - ring - 1), outline=INK, width=ring)
    chars = list(surname)
    inner = SIZE - 4 * ring
    # each character gets an equal share of the inner height; narrower for three characters
    cell = min(inner * 0.74, inner * 0.92 / len(chars))
    font = ImageFont.truetype(str(_font_path()), int(cell))
    top = (SIZE - cell * len(chars)) / 2
    for i, ch in enumerate(chars):
        cx = SIZE / 2
        cy = top + cell * (i + 0.5)
        draw.text((cx, cy), ch, font=font, fill=INK, anchor="mm", stroke_width=max(1, int(cell) // 40), stroke_fill=INK)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()
