"""Do pages rasterise as before? Render the sample certificates with kofu at another git revision and with this
checkout, rasterise both with poppler and report the grey-level differences (outside the QR, and in the QR area).

.venv/bin/python bench/render_compare.py REV [--dpi 50 100]     # e.g. f52fd3b, the last reportlab renderer

The revision's `src` is extracted with `git archive` and put first on PYTHONPATH of a child process; the sample
documents come from this checkout's tests/render/samples.py. The QR area is reported separately: its mask is
fixed now, so the modules differ on purpose.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parents[1]

RENDER = """
import sys
sys.path.insert(1, {root!r})
from tests.render.samples import make_doc
from kofu.render import render_pdf
from kofu.render.model import DocumentKind as K
for k in K:
    for n in ((1, 3, 10) if k is K.JUMINHYO else (1,)):
        d = make_doc(k, persons=n) if k in (K.JUMINHYO, K.KISAI) else make_doc(k)
        open(f"{{sys.argv[1]}}/{{k}}-{{n}}.pdf", "wb").write(render_pdf(d))
"""

QR_BOX = (50.0, 42.4, 92.0)  # x, y from the bottom, size (pt): kofu.render.pdf QR_X, QR_Y, QR_SIZE


def render(src: Path, out: Path) -> None:
    env = {"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-c", RENDER.format(root=str(HERE)), str(out)], env=env, check=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("rev", help="git revision whose renderer to compare with")
    parser.add_argument("--dpi", type=int, nargs="+", default=[50, 100])
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="kofu-cmp-"))
    (tmp / "old").mkdir()
    (tmp / "new").mkdir()
    archive = subprocess.run(["git", "-C", str(HERE), "archive", args.rev, "src"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive.stdout, check=True)
    render(tmp / "src", tmp / "old")
    render(HERE / "src", tmp / "new")
    print(f"{'page':28s} dpi  outside QR: mean |diff|  >32 levels  max   QR area: mean |diff|")
    for pdf in sorted((tmp / "old").glob("*.pdf")):
        for dpi in args.dpi:
            for side in ("old", "new"):
                root = tmp / side / f"{pdf.stem}-r{dpi}"
                subprocess.run(["pdftoppm", "-r", str(dpi), "-gray", "-png", str(tmp / side / pdf.name), str(root)])
            for png in sorted((tmp / "old").glob(f"{pdf.stem}-r{dpi}-*.png")):
                a = np.asarray(Image.open(png), dtype=np.int16)
                b = np.asarray(Image.open(tmp / "new" / png.name), dtype=np.int16)
                if a.shape != b.shape:
                    print(f"{png.stem:28s} page size differs: {a.shape} vs {b.shape}")
                    continue
                d = np.abs(a - b)
                s = dpi / 72
                x, y, size = QR_BOX
                h = a.shape[0]
                rows = slice(int(h - (y + size) * s) - 2, int(h - y * s) + 2)
                cols = slice(int(x * s) - 2, int((x + size) * s) + 2)
                qr = d[rows, cols].copy()
                d[rows, cols] = 0
                print(
                    f"{png.stem:28s} {dpi:3d}  {d.mean():22.3f}  {100 * (d > 32).mean():9.4f}%  {d.max():3d}"
                    f"   {qr.mean():8.1f}"
                )


if __name__ == "__main__":
    main()
