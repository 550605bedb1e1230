"""A small PDF writer for the certificate fast path.

`PageCanvas` records drawing operators with the subset of reportlab's Canvas API that the layout and the
security layers use (so the same drawing code runs on both); `PdfWriter` assembles the file: pages, one
shared resource dictionary (the font, forms, images), the per-document font subset with its ToUnicode
map, the Info dictionary, and optionally a signature dictionary whose /Contents is reserved as a run of
zeros and whose /ByteRange is filled in once the file length is known (`SignatureSlot`).

Text is drawn in one CIDFontType2 (Identity-H); glyph ids are recorded while drawing and renumbered to the
document's subset when the file is written.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from reportlab.lib.colors import Color
from reportlab.pdfgen.pathobject import PDFPathObject

from kofu.render.fontprog import FontProgram, TextRun

FONT_RES = "F1"  # the one font's resource name (written literally in draw_run)
_FILL_OPS: dict[tuple[float, float, float], str] = {}
_FILL_NON_ZERO = 1


def _num(v: float) -> str:
    """A PDF number with 3 decimals (enough for 1/1000 pt); ints stay short."""
    if v == int(v):
        return str(int(v))
    return f"{v:.3f}"


def pdf_literal(text: str) -> bytes:
    """A PDF string for Info values: literal if ASCII, else UTF-16BE with BOM in hex."""
    if text.isascii():
        return b"(" + text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)").encode() + b")"
    return b"<FEFF" + text.encode("utf-16-be").hex().upper().encode() + b">"


def fill_op(c: Color) -> str:
    """The `rg` operator for a colour (cached: a page sets the same few colours many times)."""
    key = (c.red, c.green, c.blue)
    op = _FILL_OPS.get(key)
    if op is None:
        op = _FILL_OPS[key] = f"{c.red:.3f} {c.green:.3f} {c.blue:.3f} rg"
    return op


def text_op(run: TextRun, size: float, x: float, y: float, render_mode: int = 0) -> str:
    """One line of text in the document font (resource /F1) at (x, y)."""
    mode = f"{render_mode} Tr " if render_mode else ""
    return f"BT /F1 {size:.3f} Tf {mode}{x:.2f} {y:.2f} Td <{run.hex}> Tj ET"


@dataclass(frozen=True)
class XObject:
    """A ready object: dictionary entries (without << >>) and an already compressed stream."""

    name: str
    dict_entries: bytes
    stream: bytes
    smask: XObject | None = None  # for images with alpha


def form_xobject(name: str, bbox: tuple[float, float, float, float], content: bytes, level: int = 6) -> XObject:
    entries = (
        b"/Type /XObject /Subtype /Form /FormType 1 /BBox ["
        + " ".join(_num(v) for v in bbox).encode()
        + b"] /Resources RES /Filter /FlateDecode"
    )
    return XObject(name, entries, zlib.compress(content, level))


class PageCanvas:
    """Records one content stream (a page or a form) with reportlab-like drawing calls."""

    def __init__(self, font: FontProgram) -> None:
        self.font = font
        self.code: list[str] = []  # operators
        self.gids: set[int] = set()
        self.forms: dict[str, XObject] = {}
        self._stack: list[tuple[str, tuple[float, float, float, float], list[str]]] = []
        self._font_size = 10.0

    # -- state ------------------------------------------------------------------------------------------

    def saveState(self) -> None:
        self.code.append("q")

    def restoreState(self) -> None:
        self.code.append("Q")

    def setFillColor(self, c: Color) -> None:
        self.code.append(fill_op(c))

    def emit(self, ops: str, gids: frozenset[int] = frozenset()) -> None:
        """Append ready operators (several may be joined by newlines), with the glyphs their text uses."""
        self.code.append(ops)
        if gids:
            self.gids |= gids

    def setStrokeColor(self, c: Color) -> None:
        self.code.append(f"{c.red:.3f} {c.green:.3f} {c.blue:.3f} RG")

    def setLineWidth(self, w: float) -> None:
        self.code.append(f"{w:.3f} w")

    def setLineCap(self, cap: int) -> None:
        self.code.append(f"{cap} J")

    def setDash(self, array: Sequence[float], phase: float = 0) -> None:
        self.code.append(f"[{' '.join(_num(v) for v in array)}] {_num(phase)} d")

    def translate(self, dx: float, dy: float) -> None:
        self.code.append(f"1 0 0 1 {_num(dx)} {_num(dy)} cm")

    def rotate(self, degrees: float) -> None:
        a = math.radians(degrees)
        c, s = math.cos(a), math.sin(a)
        self.code.append(f"{_num(c)} {_num(s)} {_num(-s)} {_num(c)} 0 0 cm")

    # -- paths ------------------------------------------------------------------------------------------

    def beginPath(self) -> PDFPathObject:
        return PDFPathObject()

    def line(self, x1: float, y1: float, x2: float, y2: float) -> None:
        self.code.append(f"{x1:.2f} {y1:.2f} m {x2:.2f} {y2:.2f} l S")

    def rect(self, x: float, y: float, w: float, h: float, stroke: int = 1, fill: int = 0) -> None:
        op = "B" if stroke and fill else "f" if fill else "S" if stroke else "n"
        self.code.append(f"{x:.2f} {y:.2f} {w:.2f} {h:.2f} re {op}")

    def drawPath(self, path: Any, stroke: int = 1, fill: int = 0, fillMode: int = _FILL_NON_ZERO) -> None:
        even_odd = fillMode != _FILL_NON_ZERO
        op = ("B" if stroke else "f") if fill else ("S" if stroke else "n")
        if fill and even_odd:
            op += "*"
        self.code.append(f"{path.getCode()} {op}")

    def clipPath(self, path: Any, stroke: int = 0, fill: int = 0, fillMode: int = _FILL_NON_ZERO) -> None:
        clip = "W" if fillMode == _FILL_NON_ZERO else "W*"
        self.code.append(f"{path.getCode()} {clip} n")

    # -- text -------------------------------------------------------------------------------------------

    def setFont(self, name: str, size: float) -> None:
        self._font_size = size

    def drawString(self, x: float, y: float, text: str, render_mode: int = 0) -> None:
        self.draw_run(x, y, self.font.text(text), render_mode)

    def draw_run(self, x: float, y: float, run: TextRun, render_mode: int = 0) -> None:
        """Draw an already coded string (`FontProgram.text`) at the current font size."""
        self.gids |= run.gids
        self.code.append(text_op(run, self._font_size, x, y, render_mode))

    # -- forms and images -------------------------------------------------------------------------------

    def beginForm(self, name: str, x0: float, y0: float, x1: float, y1: float) -> None:
        self._stack.append((name, (x0, y0, x1, y1), self.code))
        self.code = []

    def endForm(self) -> None:
        name, bbox, outer = self._stack.pop()
        self.forms[name] = form_xobject(name, bbox, self.content())
        self.code = outer

    def doForm(self, name: str) -> None:
        self.code.append(f"/{name} Do")

    def draw_xobject(self, name: str, x: float, y: float, w: float, h: float) -> None:
        self.code.append(f"q {w:.3f} 0 0 {h:.3f} {x:.3f} {y:.3f} cm /{name} Do Q")

    def content(self) -> bytes:
        return "\n".join(self.code).encode()


@dataclass
class SignatureSlot:
    """Where the signature goes: filled by `PdfWriter.finish`, consumed by the signer."""

    contents_hex_len: int  # hex digits reserved for the CMS blob
    reason: str
    signing_time: str  # PDF date, e.g. D:20261125230000Z
    field_name: str
    contents_at: int = 0  # offset of '<' of /Contents
    byterange_at: int = 0  # offset of the '[' of /ByteRange
    byterange_len: int = 0


@dataclass
class PdfWriter:
    font: FontProgram
    page_size: tuple[float, float]
    info: dict[str, str] = field(default_factory=dict)
    xobjects: dict[str, XObject] = field(default_factory=dict)
    pages: list[PageCanvas] = field(default_factory=list)

    def new_page(self) -> PageCanvas:
        page = PageCanvas(self.font)
        self.pages.append(page)
        return page

    def add_xobject(self, x: XObject) -> None:
        self.xobjects[x.name] = x

    def finish(self, signature: SignatureSlot | None = None) -> bytes:
        gids: set[int] = set()
        for p in self.pages:
            gids |= p.gids
            self.xobjects.update(p.forms)
        sub = self.font.subset(gids)

        out: list[bytes] = [b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"]
        size = len(out[0])
        offsets: list[int] = [0]

        def alloc() -> int:
            offsets.append(0)
            return len(offsets) - 1

        def put(num: int, body: bytes) -> int:
            nonlocal size
            chunk = b"%d 0 obj\n" % num + body + b"\nendobj\n"
            offsets[num] = size
            out.append(chunk)
            size += len(chunk)
            return offsets[num]

        def stream(num: int, entries: bytes, data: bytes) -> None:
            put(num, b"<<" + entries + b" /Length %d>>\nstream\n" % len(data) + data + b"\nendstream")

        catalog, pages_id, res_id, info_id = alloc(), alloc(), alloc(), alloc()
        page_ids = [alloc() for _ in self.pages]
        field_id = alloc() if signature else 0
        sig_id = alloc() if signature else 0

        # resources: font and every XObject, shared by pages and forms
        font_id, cidfont_id, desc_id, file_id, tounicode_id, c2g_id = (alloc() for _ in range(6))
        x_ids = {name: alloc() for name in self.xobjects}
        xdict = b" ".join(b"/%s %d 0 R" % (n.encode(), i) for n, i in x_ids.items())
        res = b"<</ProcSet [/PDF /Text /ImageB /ImageC] /Font <</%s %d 0 R>> /XObject <<%s>>>>" % (
            FONT_RES.encode(),
            font_id,
            xdict,
        )
        res_ref = b"%d 0 R" % res_id

        put(
            catalog,
            b"<</Type /Catalog /Pages %d 0 R" % pages_id
            + (b" /AcroForm <</Fields [%d 0 R] /SigFlags 3>>" % field_id if signature else b"")
            + b">>",
        )
        kids = b" ".join(b"%d 0 R" % i for i in page_ids)
        put(pages_id, b"<</Type /Pages /Count %d /Kids [%s]>>" % (len(page_ids), kids))
        put(res_id, res)
        info = b" ".join(b"/" + k.encode() + b" " + pdf_literal(v) for k, v in self.info.items())
        put(info_id, b"<<" + info + b">>")

        w, h = self.page_size
        for i, (pid, page) in enumerate(zip(page_ids, self.pages, strict=True)):
            cid_ = alloc()
            annots = b" /Annots [%d 0 R]" % field_id if signature and i == 0 else b""
            put(
                pid,
                b"<</Type /Page /Parent %d 0 R /MediaBox [0 0 %s %s] /Resources %s /Contents %d 0 R%s>>"
                % (pages_id, _num(w).encode(), _num(h).encode(), res_ref, cid_, annots),
            )
            stream(cid_, b"/Filter /FlateDecode", zlib.compress(page.content(), 1))

        # font
        base = f"{sub.tag}+{self.font.name}".encode()
        scale = 1000.0 / self.font.upem
        put(
            font_id,
            b"<</Type /Font /Subtype /Type0 /BaseFont /%s /Encoding /Identity-H /DescendantFonts [%d 0 R]"
            b" /ToUnicode %d 0 R>>" % (base, cidfont_id, tounicode_id),
        )
        # CIDs are the font's glyph ids (so text is coded without knowing the subset); the map renumbers
        widths = " ".join(self.font.w_entry(g) for g in sub.gids).encode()
        put(
            cidfont_id,
            b"<</Type /Font /Subtype /CIDFontType2 /BaseFont /%s /CIDSystemInfo <</Registry (Adobe) /Ordering"
            b" (Identity) /Supplement 0>> /FontDescriptor %d 0 R /DW 1000 /W [%s] /CIDToGIDMap %d 0 R>>"
            % (base, desc_id, widths, c2g_id),
        )
        stream(c2g_id, b"/Filter /FlateDecode", zlib.compress(sub.cid_to_gid, 1))
        bbox = " ".join(_num(v * scale) for v in self.font.bbox).encode()
        put(
            desc_id,
            b"<</Type /FontDescriptor /FontName /%s /Flags 4 /FontBBox [%s] /ItalicAngle %s /Ascent %s"
            b" /Descent %s /CapHeight %s /StemV 80 /FontFile2 %d 0 R>>"
            % (
                base,
                bbox,
                _num(self.font.italic_angle).encode(),
                _num(self.font.ascent * scale).encode(),
                _num(self.font.descent * scale).encode(),
                _num(self.font.cap_height * scale).encode(),
                file_id,
            ),
        )
        stream(file_id, b"/Filter /FlateDecode /Length1 %d" % sub.length1, sub.fontfile)
        stream(tounicode_id, b"/Filter /FlateDecode", zlib.compress(_tounicode(self.font, sub.gids), 1))

        for name, x in self.xobjects.items():
            entries = x.dict_entries.replace(b"RES", res_ref)
            if x.smask is not None:
                smask_id = alloc()
                stream(smask_id, x.smask.dict_entries, x.smask.stream)
                entries += b" /SMask %d 0 R" % smask_id
            stream(x_ids[name], entries, x.stream)

        if signature:
            put(
                field_id,
                b"<</Type /Annot /Subtype /Widget /FT /Sig /T %s /V %d 0 R /F 132 /Rect [0 0 0 0] /P %d 0 R>>"
                % (pdf_literal(signature.field_name), sig_id, page_ids[0]),
            )
            placeholder = b"[0 0000000000 0000000000 0000000000]"
            head = (
                b"<</Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached /Reason "
                + pdf_literal(signature.reason)
                + b" /M "
                + pdf_literal(signature.signing_time)
                + b" /ByteRange "
            )
            mid = b" /Contents "
            at = put(sig_id, head + placeholder + mid + b"<" + b"0" * signature.contents_hex_len + b">>>")
            obj_head = len(b"%d 0 obj\n" % sig_id)
            signature.byterange_at = at + obj_head + len(head)
            signature.byterange_len = len(placeholder)
            signature.contents_at = at + obj_head + len(head) + len(placeholder) + len(mid)

        xref_at = size
        xref = [b"xref\n0 %d\n0000000000 65535 f \n" % len(offsets)]
        xref += [b"%010d 00000 n \n" % o for o in offsets[1:]]
        out.append(b"".join(xref))
        out.append(
            b"trailer\n<</Size %d /Root %d 0 R /Info %d 0 R>>\nstartxref\n%d\n%%%%EOF\n"
            % (len(offsets), catalog, info_id, xref_at)
        )
        return b"".join(out)


def _tounicode(font: FontProgram, gids: Sequence[int]) -> bytes:
    lines = [
        "/CIDInit /ProcSet findresource begin 12 dict begin begincmap",
        "/CIDSystemInfo <</Registry (Adobe) /Ordering (UCS) /Supplement 0>> def",
        "/CMapName /Adobe-Identity-UCS def /CMapType 2 def",
        "1 begincodespacerange <0000> <FFFF> endcodespacerange",
    ]
    entries = [e for e in map(font.tounicode_entry, gids) if e]
    for k in range(0, len(entries), 100):
        chunk = entries[k : k + 100]
        lines.append(f"{len(chunk)} beginbfchar")
        lines.extend(chunk)
        lines.append("endbfchar")
    lines.append("endcmap CMapName currentdict /CMap defineresource pop end end")
    return "\n".join(lines).encode()
