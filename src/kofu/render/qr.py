"""The issuance statement as a QR code, drawn as vector rectangles."""

from __future__ import annotations

import segno
from reportlab.lib.colors import black, white
from reportlab.pdfgen.canvas import Canvas

QUIET_ZONE = 4  # modules, as ISO/IEC 18004 requires
ERROR_LEVEL = "m"


def make_qr(statement: str) -> segno.QRCode:
    """QR with fixed error level M; segno picks the smallest version (no error boosting)."""
    return segno.make_qr(statement, error=ERROR_LEVEL, boost_error=False)


def draw_qr(c: Canvas, statement: str, x: float, y: float, size: float) -> None:
    """Draw the QR (quiet zone included, white background) in the square (x, y, size)."""
    qr = make_qr(statement)
    n = len(qr.matrix)
    module = size / (n + 2 * QUIET_ZONE)
    c.saveState()
    c.setFillColor(white)
    c.rect(x, y, size, size, stroke=0, fill=1)
    c.setFillColor(black)
    p = c.beginPath()
    top = y + size - QUIET_ZONE * module
    for r, row in enumerate(qr.matrix):
        col = 0
        while col < n:
            if row[col]:
                start = col
                while col < n and row[col]:
                    col += 1
                p.rect(x + (QUIET_ZONE + start) * module, top - (r + 1) * module, (col - start) * module, module)
            else:
                col += 1
    c.drawPath(p, stroke=0, fill=1)
    c.restoreState()
