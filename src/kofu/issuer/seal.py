"""The 公印 (official seal) image: a red square seal reading e.g. 加東市長之印, drawn once per tenant."""

from __future__ import annotations

import io
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

SEAL_RED = (200, 30, 30, 255)


@lru_cache(maxsize=256)
def official_seal_png(mayor_title: str, font_path: str, size: int = 360) -> bytes:
    """Square seal, characters in columns read right to left, top to bottom (角印)."""
    text = f"{mayor_title}之印"
    n = len(text)
    cols = 2 if n <= 6 else 3
    rows = -(-n // cols)
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    border = size // 18
    draw.rectangle((border // 2, border // 2, size - border // 2, size - border // 2), outline=SEAL_RED, width=border)
    inner = size - 3 * border
    cell_w, cell_h = inner / cols, inner / rows
    font = ImageFont.truetype(font_path, int(min(cell_w, cell_h) * 0.92))
    for i, ch in enumerate(text):
        col = cols - 1 - i // rows
        row = i % rows
        cx = 1.5 * border + (col + 0.5) * cell_w
        cy = 1.5 * border + (row + 0.5) * cell_h
        draw.text((cx, cy), ch, font=font, fill=SEAL_RED, anchor="mm")
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=True)
    return out.getvalue()
