"""The Japanese font: located once, registered with reportlab once per process.

Certificates print in IPAex Mincho (明朝), embedded as a subset so that the PDF shows the same glyphs
everywhere and `pdftotext` can map them back to text (reportlab writes a ToUnicode CMap per subset).
"""

from __future__ import annotations

import os
import threading
from functools import cache
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

from kofu.common.errors import KofuError

FONT_ENV = "KOFU_FONT_PATH"
DEFAULT_FONT_PATHS = (
    Path("/usr/share/fonts/opentype/ipaexfont-mincho/ipaexm.ttf"),
    Path("/usr/share/fonts/truetype/ipaexfont-mincho/ipaexm.ttf"),
    Path("/usr/share/fonts/opentype/ipaexfont/ipaexm.ttf"),
)
FONT_NAME = "IPAexMincho"

_lock = threading.Lock()


class FontMissing(KofuError):
    code = "font-missing"


def find_font() -> Path:
    """Return the path of the Mincho TTF: `$KOFU_FONT_PATH` if set, else the Debian location."""
    override = os.environ.get(FONT_ENV)
    if override:
        path = Path(override)
        if not path.is_file():
            raise FontMissing(
                f"{FONT_ENV}={override} does not name a readable font file",
                f"{FONT_ENV}={override} のフォントファイルが見つかりません",
            )
        return path
    for path in DEFAULT_FONT_PATHS:
        if path.is_file():
            return path
    raise FontMissing(
        "Japanese font IPAex Mincho not found; run `apt-get install fonts-ipaexfont-mincho` "
        f"or set {FONT_ENV} to a TrueType font with Japanese glyphs",
        "日本語フォント (IPAex明朝) がありません。`apt-get install fonts-ipaexfont-mincho` を実行するか "
        f"{FONT_ENV} を設定してください",
    )


@cache
def register_font() -> str:
    """Register the Mincho font with reportlab (once per process) and return its reportlab name."""
    with _lock:
        path = find_font()
        if FONT_NAME not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont(FONT_NAME, str(path)))
        return FONT_NAME
