"""The issuance statement as a QR code (byte mode, error level M, a fixed mask), encoded with numpy.

segno searches the eight masks in pure Python (~10 ms per code) and even with a fixed mask spends ~2 ms
placing bits. A QR symbol of a given version, level and mask is an affine function of its codeword bits:
the function patterns, format and version information and the mask are fixed, and each codeword bit lands
on one module. So per version we let segno build that frame once (its own finder/alignment/timing/format
routines on an all-zero message) and record where each bit of the final message goes; per statement we
only make the codewords, compute the Reed–Solomon blocks from precomputed tables (the code is linear) and
XOR the bits into the frame. `tests/render/test_qr.py` checks the modules equal segno's for the same
version and mask.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt
import segno
from segno import consts as _consts
from segno import encoder as _encoder

from kofu.common.errors import InvalidInput

# segno's ISO/IEC 18004 tables and matrix routines (untyped internals, pinned by the tests against segno)
consts: Any = _consts
encoder: Any = _encoder

QUIET_ZONE = 4  # modules, as ISO/IEC 18004 requires
ERROR_LEVEL = "m"
MASK = 0  # fixed: the checkerboard (i + j) mod 2 keeps dark/light balanced for any payload
_ERR = consts.ERROR_LEVEL_M
_PAD = (0xEC, 0x11)

Matrix = npt.NDArray[np.uint8]


def make_qr(statement: str) -> segno.QRCode:
    """The reference encoding with segno (same version rule, same mask); slow, used to check `qr_matrix`."""
    return segno.make_qr(statement, error=ERROR_LEVEL, mode="byte", mask=MASK, boost_error=False)


def _gf_tables() -> tuple[list[int], list[int]]:
    return list(consts.GALIOS_EXP), list(consts.GALIOS_LOG)


@cache
def _gf_mul_table() -> Matrix:
    exp, log = _gf_tables()
    t = np.zeros((256, 256), dtype=np.uint8)
    for a in range(1, 256):
        for b in range(1, 256):
            t[a, b] = exp[(log[a] + log[b]) % 255]
    return t


@cache
def _rs_table(num_data: int, num_ec: int) -> Matrix:
    """T[i, b] = the EC codewords of a block whose only non-zero data codeword is b at position i."""
    exp, log = _gf_tables()
    gen = consts.GEN_POLY[num_ec]
    unit = np.zeros((num_data, num_ec), dtype=np.uint8)
    for i in range(num_data):
        block = [0] * (num_data + num_ec)
        block[i] = 1
        for k in range(num_data):  # synthetic division by the generator polynomial
            coef = block[k]
            if coef:
                lcoef = log[coef]
                for n in range(num_ec):
                    block[k + n + 1] ^= exp[(lcoef + gen[n]) % 255]
        unit[i] = block[num_data:]
    mul = _gf_mul_table()
    return mul[np.arange(256)[None, :, None], unit[:, None, :]]  # (num_data, 256, num_ec)


@dataclass(frozen=True)
class _Frame:
    version: int
    base: Matrix  # the symbol for an all-zero message (function patterns, format, mask)
    positions: npt.NDArray[np.intp]  # flat module index of each final-message bit, in order
    blocks: tuple[tuple[int, int], ...]  # (num_data, num_ec) per block
    data_order: npt.NDArray[np.intp]  # interleaving: final message byte k = codeword data_order[k]
    capacity_bytes: int  # data codewords


def _frame_for(version: int) -> _Frame:
    size = encoder.calc_matrix_size(version)
    ec_infos = consts.ECC[version][_ERR]
    blocks = tuple((e.num_data, e.num_total - e.num_data) for e in ec_infos for _ in range(e.num_blocks))
    num_data = sum(d for d, _ in blocks)
    total = sum(d + e for d, e in blocks)
    remainder = {2: 7, 3: 7, 4: 7, 5: 7, 6: 7}.get(version, 0)
    remainder = 3 if 14 <= version <= 20 or 28 <= version <= 34 else 4 if 21 <= version <= 27 else remainder

    # where each bit goes: let segno place bit k as the value k + 3 (its unset marker is 2)
    probe = encoder.make_matrix(size, size)
    encoder.add_finder_patterns(probe, size, size)
    encoder.add_alignment_patterns(probe, size, size)
    rows = tuple([int(v) for v in row] for row in probe)
    encoder.add_codewords(rows, list(range(3, 3 + 8 * total + remainder)), version)
    flat = np.array(rows, dtype=np.int64).ravel()
    data_cells = np.nonzero(flat >= 3)[0]
    positions = np.empty(8 * total + remainder, dtype=np.intp)
    positions[flat[data_cells] - 3] = data_cells

    # the frame: segno's own pipeline on an all-zero message with our mask
    m = encoder.make_matrix(size, size)
    encoder.add_finder_patterns(m, size, size)
    encoder.add_alignment_patterns(m, size, size)
    encoder.add_codewords(m, [0] * (8 * total + remainder), version)
    _, m = encoder.find_and_apply_best_mask(m, size, size, MASK)
    encoder.add_format_info(m, version, _ERR, MASK)
    encoder.add_version_info(m, version)
    base = np.array([list(r) for r in m], dtype=np.uint8)

    # interleaving of data codewords, then of EC codewords (as in ISO/IEC 18004 7.6)
    starts, at = [], 0
    for d, _ in blocks:
        starts.append(at)
        at += d
    order = [starts[b] + i for i in range(max(d for d, _ in blocks)) for b, (d, _) in enumerate(blocks) if i < d]
    ec_starts, at = [], num_data
    for _, e in blocks:
        ec_starts.append(at)
        at += e
    order += [ec_starts[b] + i for i in range(max(e for _, e in blocks)) for b, (_, e) in enumerate(blocks) if i < e]
    return _Frame(version, base, positions[: 8 * total], blocks, np.array(order, dtype=np.intp), num_data)


_frames: dict[int, _Frame] = {}
_frames_lock = threading.Lock()


def _frame(version: int) -> _Frame:
    f = _frames.get(version)
    if f is None:
        f = _frame_for(version)
        with _frames_lock:
            _frames[version] = f
    return f


def _version_for(n_bytes: int) -> int:
    for v in range(1, 41):
        count_bits = 8 if v < 10 else 16
        if 4 + count_bits + 8 * n_bytes <= consts.SYMBOL_CAPACITY[v][_ERR]:
            return v
    raise InvalidInput("statement too long for a QR code", "QRコードに収まらない長さです")


def qr_matrix(statement: str) -> Matrix:
    """The QR modules (1 = dark) of `statement`, without quiet zone; same symbol as `make_qr`."""
    try:
        data = statement.encode("iso-8859-1")
    except UnicodeEncodeError as exc:
        raise InvalidInput(
            "the QR statement must be Latin-1 text (byte mode)", "QRコードの内容は Latin-1 の文字に限られます"
        ) from exc
    version = _version_for(len(data))
    f = _frame(version)
    # bit stream: mode 0100, character count, bytes, terminator, pad to a byte, pad codewords
    count_bits = 8 if version < 10 else 16
    value = (0b0100 << count_bits) | len(data)
    bits = 4 + count_bits
    value = (value << (8 * len(data))) | int.from_bytes(data, "big")
    bits += 8 * len(data)
    cap_bits = 8 * f.capacity_bytes
    term = min(4, cap_bits - bits)
    value <<= term
    bits += term
    pad = 8 - bits % 8  # like segno: a whole zero byte when already aligned (decoders stop at the terminator)
    if bits + pad > cap_bits:
        pad = -bits % 8
    value <<= pad
    bits += pad
    stream = bytearray(value.to_bytes(bits // 8, "big"))
    for i in range(f.capacity_bytes - len(stream)):
        stream.append(_PAD[i % 2])
    codewords = np.frombuffer(bytes(stream), dtype=np.uint8)
    ec_parts = []
    at = 0
    for n_data, n_ec in f.blocks:
        block = codewords[at : at + n_data]
        at += n_data
        ec_parts.append(np.bitwise_xor.reduce(_rs_table(n_data, n_ec)[np.arange(n_data), block], axis=0))
    message = np.concatenate([codewords, *ec_parts])[f.data_order]
    out = f.base.copy()
    flat = out.ravel()
    flat[f.positions] ^= np.unpackbits(message)
    return out


_RUN_TEMPLATE = np.frombuffer(b"000 000 000 1 re\n", dtype=np.uint8)
_DIGIT_COLUMNS = np.array([0, 1, 2, 4, 5, 6, 8, 9, 10])
_DIGITS = np.array([[ord(c) for c in f"{i:03d}"] for i in range(1000)], dtype=np.uint8)  # ascii of 000…999


def qr_path(statement: str, size: float) -> bytes:
    """PDF operators filling the dark modules of the QR in the square (0, 0, size) with its quiet zone.

    One rectangle per horizontal run of dark modules, in module units under a `cm` scale; the numbers are
    written by numpy as fixed-width integers (PDF allows leading zeros), so no Python loop per module.
    Vector modules stay crisp when rasterised at any resolution (a scaled 1-bit image does not: poppler's
    resampling made zbar miss codes at 100-150 dpi).
    """
    m = qr_matrix(statement)
    n = m.shape[0]
    padded = np.zeros((n, n + 2), dtype=np.int8)
    padded[:, 1:-1] = m
    edges = np.diff(padded, axis=1)
    rows, starts = np.nonzero(edges == 1)
    _, ends = np.nonzero(edges == -1)
    values = np.stack([starts + QUIET_ZONE, n - 1 - rows + QUIET_ZONE, ends - starts], axis=1)  # (runs, 3)
    out = np.empty((len(values), 17), dtype=np.uint8)
    out[:] = _RUN_TEMPLATE
    out[:, _DIGIT_COLUMNS] = _DIGITS[values].reshape(len(values), 9)
    module = size / (n + 2 * QUIET_ZONE)
    head = f"q 1 1 1 rg 0 0 {size:.3f} {size:.3f} re f 0 0 0 rg {module:.5f} 0 0 {module:.5f} 0 0 cm\n".encode()
    return head + out.tobytes() + b"f Q"
