"""A TrueType font prepared once per process, and per-document subsets built from its glyph cache.

The font file is read once (fontTools parses the tables we need); each glyph's outline bytes are cut from
the `glyf` table and compressed on first use, then kept. A subset for one document is the few tables a PDF
viewer needs for a CIDFontType2 with an identity CID→GID map (head, hhea, maxp, hmtx, loca, glyf and the
hinting tables cvt/fpgm/prep), with the used glyphs renumbered 1…n. Its FontFile2 stream is assembled from
the cached deflate blocks of the glyphs (each block ends on a byte boundary, so they concatenate into one
valid zlib stream), so no font is parsed and almost nothing is compressed per document.
"""

from __future__ import annotations

import struct
import threading
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path

import numpy as np
from fontTools.ttLib import TTFont as FtFont  # type: ignore[import-untyped]

from kofu.common.errors import KofuError

_RUN_CACHE_MAX = 50_000
_STATIC_TABLES = (b"cvt ", b"fpgm", b"prep")
_ZLIB_HEADER = b"\x78\x9c"
_DEFLATE_END = b"\x03\x00"  # an empty final fixed-Huffman block

# composite glyph flags (glyf table)
_ARG_1_AND_2_ARE_WORDS = 0x0001
_WE_HAVE_A_SCALE = 0x0008
_MORE_COMPONENTS = 0x0020
_WE_HAVE_AN_X_AND_Y_SCALE = 0x0040
_WE_HAVE_A_TWO_BY_TWO = 0x0080


class FontUnusable(KofuError):
    code = "font-unusable"


def _pad4(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def _checksum(data: bytes) -> int:
    padded = _pad4(data)
    return int(sum(struct.unpack(f">{len(padded) // 4}I", padded))) & 0xFFFFFFFF


def _components(data: bytes) -> Iterator[tuple[int, int]]:
    """(offset, glyph id) of each component record of a composite glyph's outline bytes."""
    pos = 10
    while True:
        flags, comp = struct.unpack(">HH", data[pos : pos + 4])
        yield pos, comp
        pos += 4 + (4 if flags & _ARG_1_AND_2_ARE_WORDS else 2)
        if flags & _WE_HAVE_A_SCALE:
            pos += 2
        elif flags & _WE_HAVE_AN_X_AND_Y_SCALE:
            pos += 4
        elif flags & _WE_HAVE_A_TWO_BY_TWO:
            pos += 8
        if not flags & _MORE_COMPONENTS:
            return


def _stored_block(data: bytes) -> bytes:
    """`data` as non-final stored deflate blocks (no compression, nothing to compute)."""
    out = []
    for i in range(0, len(data), 0xFFFF):
        chunk = data[i : i + 0xFFFF]
        out.append(struct.pack("<BHH", 0, len(chunk), len(chunk) ^ 0xFFFF) + chunk)
    return b"".join(out)


def _deflate_block(data: bytes, level: int = 6) -> bytes:
    """Raw deflate of `data`, ended by a sync flush (byte aligned, not final): blocks concatenate."""
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)


@dataclass(frozen=True)
class _Glyph:
    data: bytes  # outline bytes, padded to 4
    block: bytes  # `data` as a deflate block
    checksum: int
    components: tuple[int, ...]  # glyph ids a composite glyph refers to
    hmtx: bytes  # advance and left side bearing
    size: int  # len(data)


@dataclass(frozen=True)
class TextRun:
    width: float  # in 1/1000 em
    hex: str  # glyph ids, 4 hex digits each (the CIDs of an identity-coded font)
    gids: frozenset[int]


@dataclass(frozen=True)
class Subset:
    """One document's font: CIDs 1…n, in the order of `gids` (CID 0 is .notdef)."""

    tag: str  # six capital letters, e.g. "QXKZRA" (the PDF name is TAG+IPAexMincho)
    gids: tuple[int, ...]  # original glyph id of CID i+1
    cid_to_gid: bytes  # the CIDToGIDMap: 2 bytes per CID (= original glyph id) up to the largest used
    fontfile: bytes  # FlateDecode'd FontFile2 stream
    length1: int  # uncompressed length


class FontProgram:
    """The glyph cache of one TrueType font (cmap, advances, outlines)."""

    def __init__(self, path: Path) -> None:
        try:
            ft = FtFont(str(path), lazy=True)
            self.raw = path.read_bytes()
            self.upem = int(ft["head"].unitsPerEm)
            cmap = ft.getBestCmap()
            order = ft.getGlyphOrder()
            gid_of = {name: i for i, name in enumerate(order)}
            self.cmap: dict[int, int] = {cp: gid_of[name] for cp, name in cmap.items()}
            hmtx = ft["hmtx"]
            self.num_glyphs = len(order)
            self.metrics: list[tuple[int, int]] = [hmtx[name] for name in order]
            self.widths: dict[str, float] = {}
            self.head = ft.getTableData("head")
            self.hhea = ft.getTableData("hhea")
            self.maxp = ft.getTableData("maxp")
            self.statics = {tag: ft.getTableData(tag.decode()) for tag in _STATIC_TABLES if tag.decode() in ft}
            self.loca_offsets = [int(x) for x in ft["loca"]]
            self.glyf_at = self._table_offset(b"glyf")
            head = ft["head"]
            self.bbox = (head.xMin, head.yMin, head.xMax, head.yMax)
            hhea = ft["hhea"]
            self.ascent, self.descent = int(hhea.ascent), int(hhea.descent)
            os2 = ft.get("OS/2")
            self.cap_height = int(getattr(os2, "sCapHeight", 0) or hhea.ascent)
            self.italic_angle = float(ft["post"].italicAngle) if "post" in ft else 0.0
            ps_name = ft["name"].getDebugName(6) if "name" in ft else None
            ft.close()

        except Exception as e:
            raise FontUnusable(f"cannot read TrueType font {path}: {e}", f"フォント {path} を読み込めません") from e
        self.name = "".join(ch for ch in (ps_name or path.stem) if (ch.isascii() and ch.isalnum()) or ch == "-")
        self._glyphs: dict[int, _Glyph] = {}
        self._runs: dict[str, TextRun] = {}
        self._w: dict[int, str] = {}
        self._tu: dict[int, str] = {}
        self.gid_char: dict[int, str] = {}  # the character each glyph was first drawn for (ToUnicode)
        self._lock = threading.Lock()
        self._static_blocks = {tag: (_pad4(data), _deflate_block(_pad4(data))) for tag, data in self.statics.items()}
        self._static_data = b"".join(d for d, _ in self._static_blocks.values())
        self._static_stream = b"".join(b for _, b in self._static_blocks.values())
        self._static_layout = [(tag, len(data), _checksum(data)) for tag, (data, _) in self._static_blocks.items()]
        self._composites = False  # set once a composite glyph has been seen

    def _table_offset(self, tag: bytes) -> int:
        (num,) = struct.unpack(">H", self.raw[4:6])
        for i in range(num):
            rec = self.raw[12 + 16 * i : 28 + 16 * i]
            if rec[:4] == tag:
                return int(struct.unpack(">I", rec[8:12])[0])
        raise FontUnusable(f"font has no {tag.decode()} table", f"フォントに {tag.decode()} 表がありません")

    # -- metrics ----------------------------------------------------------------------------------------

    def gid(self, ch: str) -> int:
        return self.cmap.get(ord(ch), 0)

    def advance(self, gid: int) -> float:
        """Advance width in 1/1000 em."""
        return self.metrics[gid][0] * 1000.0 / self.upem

    def text(self, text: str) -> TextRun:
        """Width and glyph codes of a string (cached: labels and fixed phrases recur in every document)."""
        run = self._runs.get(text)
        if run is not None:
            return run
        gids = tuple(self.cmap.get(ord(ch), 0) for ch in text)
        for g, ch in zip(gids, text, strict=True):
            self.gid_char.setdefault(g, ch)
        width = sum(self.metrics[g][0] for g in gids) * 1000.0 / self.upem
        run = TextRun(width, "".join(f"{g:04X}" for g in gids), frozenset(gids))
        if len(self._runs) > _RUN_CACHE_MAX:
            self._runs.clear()
        self._runs[text] = run
        return run

    def string_width(self, text: str, size: float) -> float:
        return self.text(text).width * size / 1000.0

    def w_entry(self, gid: int) -> str:
        """`gid [width]` for the /W array of a font whose CIDs are glyph ids."""
        e = self._w.get(gid)
        if e is None:
            w = self.metrics[gid][0] * 1000.0 / self.upem
            e = self._w[gid] = f"{gid} [{int(w) if w == int(w) else round(w, 3)}]"
        return e

    def tounicode_entry(self, gid: int) -> str:
        """`<cid> <utf-16be>` for the ToUnicode map, or "" when no character was drawn with the glyph."""
        e = self._tu.get(gid)
        if e is None:
            ch = self.gid_char.get(gid)
            if ch is None:
                return ""
            e = self._tu[gid] = f"<{gid:04X}> <{ch.encode('utf-16-be').hex().upper()}>"
        return e

    # -- glyph cache ------------------------------------------------------------------------------------

    def _glyph(self, gid: int) -> _Glyph:
        g = self._glyphs.get(gid)
        if g is not None:
            return g
        start = self.glyf_at + self.loca_offsets[gid]
        data = self.raw[start : self.glyf_at + self.loca_offsets[gid + 1]]
        components: list[int] = []
        if len(data) >= 10 and struct.unpack(">h", data[:2])[0] < 0:  # a negative contour count: a composite
            components = [comp for _, comp in _components(data)]
        padded = _pad4(data)
        g = _Glyph(
            padded,
            _deflate_block(padded),
            _checksum(padded),
            tuple(components),
            struct.pack(">Hh", *self.metrics[gid]),
            len(padded),
        )
        if components:
            self._composites = True
        with self._lock:
            self._glyphs[gid] = g
        return g

    def _renumbered(self, gid: int, new_id: dict[int, int]) -> _Glyph:
        """A composite glyph with its component ids rewritten to the subset's numbering."""
        g = self._glyph(gid)
        data = bytearray(g.data)
        for pos, comp in _components(g.data):
            struct.pack_into(">H", data, pos + 2, new_id[comp])
        out = bytes(data)
        return _Glyph(out, _deflate_block(out), _checksum(out), g.components, g.hmtx, len(out))

    # -- subset -----------------------------------------------------------------------------------------

    def subset(self, used: Iterable[int]) -> Subset:
        """The subset holding .notdef plus `used` (and any components), renumbered 1…n."""
        gids = sorted(set(used) - {0})
        cached = self._glyphs
        glyphs = [cached.get(g) or self._glyph(g) for g in gids]
        if self._composites and any(g.components for g in glyphs):  # composites pull in their components
            seen = set(gids)
            todo = list(gids)
            while todo:
                for comp in self._glyph(todo.pop()).components:
                    if comp not in seen:
                        seen.add(comp)
                        gids.append(comp)
                        todo.append(comp)
            new_id = {g: i for i, g in enumerate([0, *gids])}
            glyphs = [self._renumbered(g, new_id) if self._glyph(g).components else self._glyph(g) for g in gids]
        all_gids = [0, *gids]
        glyphs.insert(0, self._glyph(0))
        fontfile, length1 = self._fontfile(all_gids, glyphs)
        c2g = np.zeros(max(all_gids) + 1, dtype=">u2")
        c2g[all_gids] = np.arange(len(all_gids))
        c2g_bytes = c2g.tobytes()
        crc = zlib.crc32(c2g_bytes)
        tag = "".join(chr(65 + (crc >> (5 * i)) % 26) for i in range(6))  # names the glyph set
        return Subset(tag, tuple(gids), c2g_bytes, fontfile, length1)

    def _fontfile(self, gids: Sequence[int], glyphs: Sequence[_Glyph]) -> tuple[bytes, int]:
        n = len(gids)
        offsets = [0, *accumulate([g.size for g in glyphs])]
        loca = struct.pack(f">{n + 1}I", *offsets)
        hmtx = b"".join([g.hmtx for g in glyphs])
        head = bytearray(self.head)
        struct.pack_into(">I", head, 8, 0)  # checkSumAdjustment, set below
        struct.pack_into(">h", head, 50, 1)  # long loca
        hhea = bytearray(self.hhea)
        struct.pack_into(">H", hhea, 34, n)
        maxp = bytearray(self.maxp)
        struct.pack_into(">H", maxp, 4, n)
        dynamic = {b"head": bytes(head), b"hhea": bytes(hhea), b"maxp": bytes(maxp), b"hmtx": hmtx, b"loca": loca}
        glyf_len = offsets[-1]
        glyf_sum = sum([g.checksum for g in glyphs]) & 0xFFFFFFFF

        tags = sorted([*dynamic, *self._static_blocks, b"glyf"])
        num = len(tags)
        dir_len = 12 + 16 * num
        # data order: dynamic tables, static tables, glyf
        layout: list[tuple[bytes, int, int]] = []  # tag, padded length, checksum
        for tag, data in dynamic.items():
            layout.append((tag, len(_pad4(data)), _checksum(data)))
        layout.extend(self._static_layout)
        layout.append((b"glyf", glyf_len, glyf_sum))
        real_len = {tag: len(d) for tag, d in dynamic.items()} | {t: len(d) for t, d in self.statics.items()}
        real_len[b"glyf"] = glyf_len
        offset_of: dict[bytes, tuple[int, int]] = {}
        at = dir_len
        for tag, plen, csum in layout:
            offset_of[tag] = (at, csum)
            at += plen
        es = max(i for i in range(8) if 1 << i <= num)
        directory = bytearray(struct.pack(">IHHHH", 0x00010000, num, 16 << es, es, num * 16 - (16 << es)))
        for tag in tags:
            off, csum = offset_of[tag]
            directory += struct.pack(">4sIII", tag, csum, off, real_len[tag])
        total = (_checksum(bytes(directory)) + sum(c for _, _, c in layout)) & 0xFFFFFFFF
        struct.pack_into(">I", head, 8, (0xB1B0AFBA - total) & 0xFFFFFFFF)
        dynamic[b"head"] = bytes(head)

        front = bytes(directory) + b"".join(_pad4(d) for d in dynamic.values())
        glyf = b"".join([g.data for g in glyphs])
        adler = zlib.adler32(glyf, zlib.adler32(self._static_data, zlib.adler32(front)))
        stream = b"".join(
            [
                _ZLIB_HEADER,
                _stored_block(front),
                self._static_stream,
                *[g.block for g in glyphs],
                _DEFLATE_END,
                struct.pack(">I", adler),
            ]
        )
        return stream, at


_programs: dict[Path, FontProgram] = {}
_programs_lock = threading.Lock()


def font_program(path: Path) -> FontProgram:
    """The prepared font for `path`: one instance per process, also when several threads ask first at once
    (a render whose text runs and whose ToUnicode map came from two instances lost its text to pdftotext)."""
    with _programs_lock:
        program = _programs.get(path)
        if program is None:
            program = _programs[path] = FontProgram(path)
        return program
