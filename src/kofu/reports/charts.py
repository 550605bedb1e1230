"""Charts (matplotlib, Agg) with Japanese labels in the embedded IPAex Gothic font, as PNG and SVG."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from matplotlib import font_manager
from matplotlib import pyplot as plt
from matplotlib.figure import Figure

from kofu.common.errors import KofuError
from kofu.issuer.tenant import CERTIFICATE_TITLES, CertificateType
from kofu.reports.figures import HourRow, MonthRow, UptakeRow

FONT_PATH = Path("/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf")
FONT_NAME = "IPAexGothic"

_font_ready = False


def use_japanese_font(path: Path = FONT_PATH) -> None:
    """Registers IPAex Gothic with matplotlib; without it Japanese labels would print as boxes."""
    global _font_ready
    if not path.is_file():
        raise KofuError(
            f"the Japanese font for charts is missing: {path} (install fonts-ipaexfont-gothic)",
            f"グラフ用の日本語フォントがありません: {path} (fonts-ipaexfont-gothic を導入してください)",
        )
    if _font_ready:
        return
    font_manager.fontManager.addfont(str(path))
    name = font_manager.FontProperties(fname=str(path)).get_name()
    matplotlib.rcParams["font.family"] = name
    matplotlib.rcParams["svg.fonttype"] = "path"  # glyphs as outlines: the SVG needs no font installed
    _font_ready = True


def _title(type_: str) -> str:
    try:
        return CERTIFICATE_TITLES[CertificateType(type_)]
    except ValueError:
        return type_


def _save(fig: Figure, out_dir: Path, stem: str) -> list[Path]:
    paths = [out_dir / f"{stem}.png", out_dir / f"{stem}.svg"]
    fig.savefig(paths[0], dpi=120, metadata={"Software": None})
    fig.savefig(paths[1], metadata={"Date": None})
    plt.close(fig)
    return paths


def monthly_chart(rows: Sequence[MonthRow], title: str, out_dir: Path, stem: str = "monthly") -> list[Path]:
    """Stacked bars: certificates per month, one colour per certificate type."""
    use_japanese_font()
    months = sorted({r.month for r in rows})
    types = [t.value for t in CertificateType if any(r.type == t.value for r in rows)]
    types += sorted({r.type for r in rows} - set(types))
    counts = {(r.month, r.type): r.certificates for r in rows}
    fig, ax = plt.subplots(figsize=(10, 5), layout="constrained")
    bottom = [0] * len(months)
    for ty in types:
        values = [counts.get((m, ty), 0) for m in months]
        ax.bar(months, values, bottom=bottom, label=_title(ty))
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_title(title)
    ax.set_xlabel("月")
    ax.set_ylabel("交付枚数（通）")
    if len(months) > 12:
        ax.tick_params(axis="x", labelrotation=90)
    if types:
        ax.legend()
    return _save(fig, out_dir, stem)


def hourly_chart(rows: Sequence[HourRow], title: str, out_dir: Path, stem: str = "hourly") -> list[Path]:
    """Certificates by hour of day (JST), office hours (平日 8:30–17:15) shaded."""
    use_japanese_font()
    fig, ax = plt.subplots(figsize=(10, 5), layout="constrained")
    ax.axvspan(8.5, 17.25, color="#ffe9a8", alpha=0.6, label="業務時間 (平日 8:30–17:15)")
    ax.bar([r.hour + 0.5 for r in rows], [r.certificates for r in rows], width=0.9, color="#3b6ea8", label="交付枚数")
    ax.set_xlim(0, 24)
    ax.set_xticks(range(0, 25, 2))
    ax.set_title(title)
    ax.set_xlabel("時刻（日本時間）")
    ax.set_ylabel("交付枚数（通）")
    ax.legend()
    return _save(fig, out_dir, stem)


def published_chart(
    years: Sequence[int], series: dict[str, Sequence[int]], title: str, out_dir: Path, stem: str
) -> list[Path]:
    """Grouped bars of published counts per fiscal year (the original document's Miki City chart)."""
    use_japanese_font()
    fig, ax = plt.subplots(figsize=(9, 5), layout="constrained")
    width = 0.8 / max(len(series), 1)
    for i, (label, values) in enumerate(series.items()):
        ax.bar([x + i * width for x in range(len(years))], list(values), width=width, label=label)
    ax.set_xticks([x + width * (len(series) - 1) / 2 for x in range(len(years))])
    ax.set_xticklabels([f"{y}年度" for y in years])
    ax.set_title(title)
    ax.set_ylabel("枚数")
    ax.legend()
    return _save(fig, out_dir, stem)


def uptake_chart(rows: Sequence[UptakeRow], title: str, out_dir: Path, stem: str = "uptake") -> list[Path]:
    """Horizontal bars: card uptake per tenant, highest on top, with the rank and percentage."""
    use_japanese_font()
    ordered = sorted(rows, key=lambda r: (r.rank, r.code), reverse=True)
    fig, ax = plt.subplots(figsize=(9, max(3.0, 0.35 * len(ordered) + 1.2)), layout="constrained")
    values = [r.uptake * 100 for r in ordered]
    bars = ax.barh([r.name for r in ordered], values, color="#3b6ea8")
    for bar, r in zip(bars, ordered, strict=True):
        ax.text(bar.get_width() + 0.5, bar.get_y() + bar.get_height() / 2, f"{r.uptake:.1%}（{r.rank}位）", va="center")
    ax.set_xlim(0, max([100.0, *values]) * 1.15 if values else 100)
    ax.set_xlabel("交付率（%、住民登録者に対する有効なカード）")
    ax.set_title(title)
    return _save(fig, out_dir, stem)
