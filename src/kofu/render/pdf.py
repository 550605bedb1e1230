"""CertificateDocument → A4 PDF bytes (laid out on writer.PageCanvas, written by writer.PdfWriter).

Page anatomy (top to bottom): security frame with micro text, issuance number 第…号 (top right), the title,
the header box (住所, 世帯主 …), one ruled block per person (or the 印影 box, or the amounts table),
「以下余白」, and on the last page the certification text, date, mayor's title and name with the 公印
over the end of the name. Every page has the QR of the statement (bottom left) and "x / y".
"""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache

import numpy as np
from PIL import Image
from reportlab.lib.colors import Color, black
from reportlab.lib.pagesizes import A4

from kofu.render.fontprog import FontProgram, font_program
from kofu.render.fonts import find_font
from kofu.render.model import CertificateDocument, DocumentKind, Field, PersonSection
from kofu.render.qr import qr_path
from kofu.render.security import draw_copy_evident_screen, draw_micro_text_frame
from kofu.render.writer import PageCanvas, PdfWriter, SignatureSlot, XObject, fill_op, form_xobject, text_op

Canvas = PageCanvas

STATEMENT_INFO_KEY = "KofuStatement"  # /KofuStatement in the document information dictionary

PAGE_W, PAGE_H = A4
FRAME = 24.0  # outer frame inset from the page edge
BAND = 2.4  # micro-text band between the two frame rules
X0 = 50.0  # content box left / right
X1 = PAGE_W - 50.0
CONTENT_TOP = PAGE_H - 128.0
CONTENT_BOTTOM = 262.0  # the footer (certification, seal, QR) lives below this line
BODY_BOTTOM = 150.0  # on pages that continue, the body may reach down to the QR
ROW_H = 20.0
MIN_TEXT_SIZE = 6.0  # long values shrink to fit their cell, down to this size
LABEL_W = 84.0
LABEL_SIZE = 8.5
VALUE_SIZE = 10.5
BLOCK_GAP = 8.0
RULE = Color(0.1, 0.1, 0.1)
LABEL_COLOR = Color(0.15, 0.15, 0.15)

QR_SIZE = 92.0
QR_X = X0
QR_Y = FRAME + BAND + 16.0

SEAL_SIZE = 58.0
BG_FORM = "kofu-background"
QR_FORM = "kofu-qr"


# -- text helpers -------------------------------------------------------------------------------------


@cache
def _font() -> FontProgram:
    """The prepared Mincho (located once per process, like reportlab's registration was)."""
    return font_program(find_font())


def _width(text: str, size: float) -> float:
    return _font().string_width(text, size)


def _text_op(
    text: str, x: float, y: float, size: float, *, align: str = "left", max_w: float | None = None
) -> tuple[str, frozenset[int], float]:
    """(operators, glyphs, width) of one line; shrunk to `max_w` if given."""
    run = _font().text(text)
    w = run.width * size / 1000.0
    if max_w is not None and w > max_w:
        size = max(MIN_TEXT_SIZE, size * max_w / w)
        w = run.width * size / 1000.0
    if align == "right":
        x -= w
    elif align == "center":
        x -= w / 2
    return text_op(run, size, x, y), run.gids, w


def _text(
    c: Canvas, text: str, x: float, y: float, size: float, *, align: str = "left", max_w: float | None = None
) -> float:
    """Draw one line; shrink to `max_w` if given. Returns the width drawn."""
    op, gids, w = _text_op(text, x, y, size, align=align, max_w=max_w)
    c.emit(op, gids)
    return w


def _cell_baseline(y_bottom: float, h: float, size: float) -> float:
    return y_bottom + (h - size) / 2 + size * 0.14


# -- blocks: a ruled unit of the page body, never split across pages ------------------------------------


@dataclass(frozen=True)
class Block:
    height: float
    draw: Callable[[Canvas, float], None]  # draws with its top edge at the given y


def _grid_rows(fields: Sequence[Field], width: float, label_w: float) -> list[list[Field]]:
    """Pack fields two to a row when both values fit a half row, else one field per full row."""
    half_value_w = width / 2 - label_w - 8
    rows: list[list[Field]] = []
    pending: list[Field] = []
    for f in fields:
        if _width(f.value, VALUE_SIZE) <= half_value_w and _width(f.label, LABEL_SIZE) <= label_w - 8:
            pending.append(f)
            if len(pending) == 2:
                rows.append(pending)
                pending = []
        else:
            if pending:
                rows.append(pending)
                pending = []
            rows.append([f])
    if pending:
        rows.append(pending)
    return rows


def _draw_grid(c: Canvas, rows: list[list[Field]], x0: float, x1: float, top: float, row_h: float) -> None:
    width = x1 - x0
    c.setStrokeColor(RULE)
    c.setLineWidth(0.5)
    label_fill, value_fill = fill_op(LABEL_COLOR), fill_op(black)
    y = top
    for row in rows:
        y_bot = y - row_h
        cells = [(x0, x1)] if len(row) == 1 else [(x0, x0 + width / 2), (x0 + width / 2, x1)]
        label_y = _cell_baseline(y_bot, row_h, LABEL_SIZE)
        value_y = _cell_baseline(y_bot, row_h, VALUE_SIZE)
        for f, (cx0, cx1) in zip(row, cells, strict=False):
            # one string per cell: the rule after the label, then label and value (the hot loop of a page)
            lx = cx0 + LABEL_W
            label, label_gids, _ = _text_op(f.label, cx0 + 5, label_y, LABEL_SIZE, max_w=LABEL_W - 8)
            value, value_gids, _ = _text_op(f.value, lx + 6, value_y, VALUE_SIZE, max_w=cx1 - cx0 - LABEL_W - 10)
            c.emit(
                f"0.400 w\n{lx:.2f} {y:.2f} m {lx:.2f} {y_bot:.2f} l S\n{label_fill}\n{label}\n{value_fill}\n{value}",
                label_gids | value_gids,
            )
        if len(row) == 2:
            c.setLineWidth(0.5)
            c.line(x0 + width / 2, y, x0 + width / 2, y_bot)
        if y_bot > top - row_h * len(rows) + 0.01:
            c.setLineWidth(0.3)
            c.line(x0, y_bot, x1, y_bot)
        y = y_bot
    c.setLineWidth(0.9)
    c.rect(x0, y, width, top - y, stroke=1, fill=0)


def _fields_block(fields: Sequence[Field]) -> Block:
    rows = _grid_rows(fields, X1 - X0, LABEL_W)

    def draw(c: Canvas, top: float) -> None:
        _draw_grid(c, rows, X0, X1, top, ROW_H)

    return Block(len(rows) * ROW_H, draw)


def _png_idat(png: bytes) -> tuple[int, int, bytes] | None:
    """(width, height, zlib data) of an 8-bit RGB, non-interlaced PNG, whose IDAT a PDF can use as it is
    (FlateDecode with PNG predictors); None for any other kind of PNG."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    pos, idat, header = 8, [], b""
    while pos + 8 <= len(png):
        length, kind = struct.unpack(">I4s", png[pos : pos + 8])
        data = png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = data
        elif kind == b"IDAT":
            idat.append(data)
        elif kind in (b"tRNS", b"IEND"):
            if kind == b"tRNS":
                return None
            break
        pos += 12 + length
    if len(header) != 13 or not idat:
        return None
    w, h, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", header)
    if depth != 8 or color != 2 or interlace != 0:
        return None
    return w, h, b"".join(idat)


@lru_cache(maxsize=256)
def _image_xobject(png: bytes, opacity: float) -> XObject:
    """Turn white paper into transparency so the ink overprints what is beneath it; cached per image.

    An RGB image XObject with its alpha as /SMask. Official seals recur (cached); each 印影 is new, so the
    uncached path is kept short: an 8-bit RGB PNG's pixel data goes into the PDF as it is (PNG predictors),
    only the alpha is computed (numpy) and compressed.
    """
    img = Image.open(io.BytesIO(png))
    img.load()
    name = "Im" + hashlib.sha256(png + repr(opacity).encode()).hexdigest()[:12]
    w, h = img.size
    common = b"/Type /XObject /Subtype /Image /Width %d /Height %d /BitsPerComponent 8 /Filter /FlateDecode" % (w, h)
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        rgb = np.asarray(rgba.convert("RGB"))
        alpha = np.asarray(rgba.getchannel("A"))
    else:
        rgb = np.asarray(img.convert("RGB"))
        # how far from white its darkest channel is (np.minimum of the planes: min(axis=2) is 25x slower)
        alpha = 255 - np.minimum(np.minimum(rgb[..., 0], rgb[..., 1]), rgb[..., 2])
    if opacity < 1.0:
        alpha = np.floor(alpha * opacity).astype(np.uint8)
    smask = XObject(name + "a", common + b" /ColorSpace /DeviceGray", zlib.compress(alpha.tobytes(), 1))
    idat = _png_idat(png)
    if idat is not None:
        parms = b" /DecodeParms <</Predictor 15 /Colors 3 /BitsPerComponent 8 /Columns %d>>" % w
        return XObject(name, common + b" /ColorSpace /DeviceRGB" + parms, idat[2], smask)
    return XObject(name, common + b" /ColorSpace /DeviceRGB", zlib.compress(rgb.tobytes(), 1), smask)


def _draw_image(c: Canvas, x: XObject, px: float, py: float, w: float, h: float) -> None:
    """Fit the image into the box (px, py, w, h), keeping its aspect ratio, centred."""
    iw, ih = _image_size(x)
    scale = min(w / iw, h / ih)
    dw, dh = iw * scale, ih * scale
    c.draw_xobject(x.name, px + (w - dw) / 2, py + (h - dh) / 2, dw, dh)


def _image_size(x: XObject) -> tuple[int, int]:
    parts = x.dict_entries.split()
    return int(parts[parts.index(b"/Width") + 1]), int(parts[parts.index(b"/Height") + 1])


def _inkan_block(person: PersonSection, seal_png: bytes | None) -> Block:
    box_w = 150.0
    label_h = 18.0
    fields_x0 = X0 + box_w
    rows = [[f] for f in person.fields]
    height = max(box_w + label_h - 6, len(rows) * ROW_H)
    row_h = height / max(1, len(rows))

    def draw(c: Canvas, top: float) -> None:
        c.setStrokeColor(RULE)
        c.setLineWidth(0.9)
        c.rect(X0, top - height, box_w, height, stroke=1, fill=0)
        c.setLineWidth(0.4)
        c.line(X0, top - label_h, X0 + box_w, top - label_h)
        c.setFillColor(LABEL_COLOR)
        _text(c, "印　　影", X0 + box_w / 2, top - label_h + 5, LABEL_SIZE + 1, align="center")
        side = min(box_w - 24, height - label_h - 16)
        bx = X0 + (box_w - side) / 2
        by = top - label_h - 8 - side
        c.setLineWidth(0.6)
        c.rect(bx - 2, by - 2, side + 4, side + 4, stroke=1, fill=0)
        if seal_png is not None:
            _draw_image(c, _image_xobject(seal_png, 1.0), bx, by, side, side)
        _draw_grid(c, rows, fields_x0, X1, top, row_h)

    return Block(height, draw)


def _amounts_block(doc: CertificateDocument) -> Block:
    title_h = ROW_H + 2 if doc.amounts_title else 0.0
    height = title_h + ROW_H * len(doc.amounts)
    split = X0 + (X1 - X0) * 0.55

    def draw(c: Canvas, top: float) -> None:
        c.setStrokeColor(RULE)
        y = top
        if doc.amounts_title:
            c.setFillColor(black)
            _text(c, doc.amounts_title, (X0 + X1) / 2, _cell_baseline(y - title_h, title_h, 11), 11, align="center")
            c.setLineWidth(0.5)
            c.line(X0, y - title_h, X1, y - title_h)
            y -= title_h
        for i, row in enumerate(doc.amounts):
            y_bot = y - ROW_H
            c.setFillColor(LABEL_COLOR)
            _text(c, row.label, X0 + 12, _cell_baseline(y_bot, ROW_H, VALUE_SIZE - 0.5), VALUE_SIZE - 0.5)
            c.setFillColor(black)
            _text(c, row.amount, X1 - 14, _cell_baseline(y_bot, ROW_H, VALUE_SIZE), VALUE_SIZE, align="right")
            if i < len(doc.amounts) - 1:
                c.setLineWidth(0.3)
                c.line(X0, y_bot, X1, y_bot)
            y = y_bot
        c.setLineWidth(0.4)
        c.line(split, top - title_h, split, y)
        c.setLineWidth(0.9)
        c.rect(X0, y, X1 - X0, top - y, stroke=1, fill=0)

    return Block(height, draw)


def _body_blocks(doc: CertificateDocument) -> list[Block]:
    blocks: list[Block] = []
    if doc.header_fields:
        blocks.append(_fields_block(doc.header_fields))
    if doc.kind is DocumentKind.INKAN:
        for p in doc.persons:
            blocks.append(_inkan_block(p, doc.seal_impression_png))
    else:
        blocks.extend(_fields_block(p.fields) for p in doc.persons)
    if doc.kind is DocumentKind.SHOTOKU and (doc.amounts or doc.amounts_title):
        blocks.append(_amounts_block(doc))
    return blocks


def _paginate(blocks: list[Block]) -> list[list[Block]]:
    """Greedy fill; only the last page keeps room for the certification, seal and 以下余白."""
    full = CONTENT_TOP - BODY_BOTTOM  # a continued page may run down to just above the QR
    last = CONTENT_TOP - CONTENT_BOTTOM - 24  # the final page also holds 以下余白 and the footer
    pages: list[list[Block]] = [[]]
    used: list[float] = [0.0]
    for b in blocks:
        need = b.height + (BLOCK_GAP if pages[-1] else 0.0)
        if pages[-1] and used[-1] + need > full:
            pages.append([])
            used.append(0.0)
            need = b.height
        pages[-1].append(b)
        used[-1] += need
    # the final page must leave room for the footer: move trailing blocks to a fresh page if not
    tail: list[Block] = []
    while pages[-1] and used[-1] > last:
        b = pages[-1].pop()
        used[-1] -= b.height + (BLOCK_GAP if pages[-1] else 0.0)
        tail.insert(0, b)
    if tail:
        pages.append(tail)
    return pages


# -- page furniture ------------------------------------------------------------------------------------


def _micro_unit(doc: CertificateDocument) -> str:
    romaji = doc.extra.get("municipality_romaji", "")
    parts = [doc.municipality_name, romaji, "KOFU", doc.title]
    return "　".join(p for p in parts if p) + "　"


@lru_cache(maxsize=64)
def _background(unit: str) -> tuple[XObject, ...]:
    """The static layer (copy-evident screen, micro-text frame) for one micro-text unit, built once."""
    c = PageCanvas(_font())
    c.beginForm(BG_FORM, 0, 0, PAGE_W, PAGE_H)
    draw_copy_evident_screen(c, PAGE_W, PAGE_H)
    draw_micro_text_frame(c, unit, FRAME, FRAME, PAGE_W - FRAME, PAGE_H - FRAME, BAND)
    c.endForm()
    return tuple(c.forms.values())


def _qr_xobject(statement: str) -> XObject:
    return form_xobject(QR_FORM, (0, 0, QR_SIZE, QR_SIZE), qr_path(statement, QR_SIZE), level=1)


def _draw_head(c: Canvas, doc: CertificateDocument) -> None:
    c.setFillColor(black)
    _text(c, f"第 {doc.issuance_number} 号", X1, PAGE_H - 62, 10, align="right")
    c.saveState()
    c.setLineWidth(0.35)  # fill + thin stroke (render mode 2): a heavier title from a single-weight font
    c.setFont("", 22)
    w = _width(doc.title, 22)
    c.drawString((PAGE_W - w) / 2, PAGE_H - 104, doc.title, render_mode=2)
    c.restoreState()


def _draw_foot(c: Canvas, doc: CertificateDocument, page: int, pages: int) -> None:
    c.saveState()
    c.translate(QR_X, QR_Y)
    c.doForm(QR_FORM)
    c.restoreState()
    c.setFillColor(LABEL_COLOR)
    cap_x = QR_X + QR_SIZE + 8
    _text(c, "このQRコードで発行の真正性を確認できます", cap_x, QR_Y + QR_SIZE - 14, 7.5)
    if doc.verify_hint:
        _text(c, doc.verify_hint, cap_x, QR_Y + QR_SIZE - 26, 6.5, max_w=X1 - cap_x - 80)
    c.setFillColor(black)
    _text(c, f"{page} / {pages}", PAGE_W / 2, FRAME + BAND + 8, 8, align="center")


def _draw_certification(c: Canvas, doc: CertificateDocument) -> None:
    c.setFillColor(black)
    _text(c, doc.certification_text, X0 + 24, 226, 11.5, max_w=X1 - X0 - 40)
    _text(c, doc.issued_on, X0 + 48, 198, 11.5)
    name_size = 15.0
    y = 158.0
    name_end = X1 - 44
    name_w = _text(c, doc.mayor_name, name_end, y, name_size, align="right")
    _text(c, doc.mayor_title, name_end - name_w - 18, y, name_size, align="right")
    # 公印: centred a little right of the last character, overlapping the end of the name
    cx = name_end - name_size * 0.25
    cy = y + name_size * 0.35
    _draw_image(
        c, _image_xobject(doc.official_seal_png, 0.9), cx - SEAL_SIZE / 2, cy - SEAL_SIZE / 2, SEAL_SIZE, SEAL_SIZE
    )


def build(doc: CertificateDocument) -> PdfWriter:
    """Lay the certificate out into a writer (pages recorded, nothing serialised yet)."""
    w = PdfWriter(_font(), (PAGE_W, PAGE_H))
    w.info = {
        "Title": doc.title,
        "Author": doc.mayor_title,
        "Subject": f"{doc.title} 第{doc.issuance_number}号",
        "Creator": "kofu",
        "Producer": "kofu",
        STATEMENT_INFO_KEY: doc.statement,
    }
    for x in _background(_micro_unit(doc)):
        w.add_xobject(x)
    w.add_xobject(_qr_xobject(doc.statement))
    w.add_xobject(_image_xobject(doc.official_seal_png, 0.9))
    if doc.kind is DocumentKind.INKAN and doc.seal_impression_png is not None:
        w.add_xobject(_image_xobject(doc.seal_impression_png, 1.0))

    pages = _paginate(_body_blocks(doc))
    notes = [n for n in doc.notes if n.strip() != "以下余白"]
    for i, blocks in enumerate(pages, start=1):
        c = w.new_page()
        c.doForm(BG_FORM)
        _draw_head(c, doc)
        y = CONTENT_TOP
        for j, b in enumerate(blocks):
            if j:
                y -= BLOCK_GAP
            b.draw(c, y)
            y -= b.height
        last = i == len(pages)
        c.setFillColor(black)
        if last:
            _text(c, "以下余白", X1 - 6, y - 15, 10, align="right")
            ny = y - 30
            for n in notes:
                _text(c, n, X0 + 6, ny, 8, max_w=X1 - X0 - 12)
                ny -= 11
            _draw_certification(c, doc)
        else:
            _text(c, "（次頁に続く）", X1 - 6, y - 15, 10, align="right")
        _draw_foot(c, doc, i, len(pages))
    return w


def render_pdf(doc: CertificateDocument, signature: SignatureSlot | None = None) -> bytes:
    """Render an A4 portrait certificate; the statement is both the QR and /KofuStatement in Info.

    With `signature`, the file carries an empty signature field whose /Contents is reserved for
    `kofu.render.sign.fill_signature` (see `kofu.render.produce`).
    """
    return build(doc).finish(signature)
