"""One municipality's report as files: charts (PNG, SVG), tables (CSV, XLSX) and an index.html linking them."""

from __future__ import annotations

import csv
import html
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from sqlalchemy import Engine

from kofu.issuer.tenant import TenantSettings
from kofu.reports import charts, figures


@dataclass
class Table:
    name: str  # file stem and sheet name
    title: str
    header: list[str]
    rows: list[list[Any]]


@dataclass
class Report:
    tenant: TenantSettings
    start: date
    end: date
    tables: list[Table] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    office: figures.OfficeHoursSplit | None = None
    costs: figures.CostSummary | None = None


def _table(name: str, title: str, rows: Sequence[Any]) -> Table:
    if not rows:
        return Table(name, title, [], [])
    dicts = [asdict(r) for r in rows]
    header = list(dicts[0])
    return Table(name, title, header, [[d[h] for h in header] for d in dicts])


def _write_csv(table: Table, out_dir: Path) -> Path:
    path = out_dir / f"{table.name}.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(table.header)
        writer.writerows(table.rows)
    return path


def _write_xlsx(tables: Sequence[Table], path: Path) -> Path:
    wb = Workbook()
    first = True
    for table in tables:
        ws = wb.active if first else wb.create_sheet()
        assert ws is not None
        first = False
        ws.title = table.name[:31]
        ws.append([table.title])
        ws.append(table.header)
        for row in table.rows:
            ws.append(row)
    wb.save(path)
    return path


def build_report(
    engine: Engine,
    tenant: TenantSettings,
    start: date,
    end: date,
    out_dir: Path,
    window_counts: dict[tuple[int, str], int] | None = None,
) -> Report:
    out_dir.mkdir(parents=True, exist_ok=True)
    report = Report(tenant, start, end)
    monthly = figures.by_month(engine, tenant, start, end)
    yearly = figures.by_fiscal_year(engine, tenant, start, end)
    hourly = figures.by_hour(engine, tenant, start, end)
    report.office = figures.office_hours(engine, tenant, start, end)
    report.costs = figures.cost_summary(tenant, yearly)
    office = report.office
    report.tables = [
        _table("monthly", "月別・証明書別の交付枚数と手数料収入", monthly),
        _table("fiscal_years", "年度別・証明書別の交付枚数、手数料収入、窓口との手数料差", yearly),
        _table("hours", "時刻別の交付枚数（日本時間）", hourly),
        Table(
            "office_hours",
            "業務時間内・外（平日8:30–17:15、祝日・12/29–1/3を除く）",
            ["inside", "outside", "outside_share"],
            [[office.inside, office.outside, round(office.outside_share, 4)]],
        ),
        _table("costs", "費用対効果（年度別、初期費用を含む累計）", report.costs.years),
    ]
    if window_counts is not None:
        shares = figures.convenience_share(yearly, window_counts)
        table = _table("share", "全交付に占めるコンビニ交付の割合", shares)
        table.header.append("share")
        for row, share in zip(table.rows, shares, strict=True):
            row.append(round(share.share, 4))
        report.tables.append(table)
    for table in report.tables:
        report.files.append(_write_csv(table, out_dir))
    report.files.append(_write_xlsx(report.tables, out_dir / "report.xlsx"))
    span = f"{start.isoformat()}〜{end.isoformat()}"
    report.files += charts.monthly_chart(monthly, f"{tenant.name} コンビニ交付 月別交付枚数（{span}）", out_dir)
    report.files += charts.hourly_chart(hourly, f"{tenant.name} コンビニ交付 時刻別交付枚数（{span}）", out_dir)
    report.files.append(_write_html(report, out_dir / "index.html"))
    return report


def _write_html(report: Report, path: Path) -> Path:
    e = html.escape
    t = report.tenant
    parts = [
        "<!doctype html>",
        '<html lang="ja"><head><meta charset="utf-8">',
        f"<title>{e(t.name)} コンビニ交付 運用報告</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1.5em}"
        "td,th{border:1px solid #999;padding:2px 8px;text-align:right}img{max-width:100%}</style>",
        "</head><body>",
        f"<h1>{e(t.name)}（{e(t.code)}）コンビニ交付 運用報告</h1>",
        f"<p>期間: {report.start.isoformat()} 〜 {report.end.isoformat()}（取消分を除く、枚数は通数）</p>",
        '<h2>グラフ</h2><p><img src="monthly.png" alt="月別交付枚数"> <a href="monthly.svg">SVG</a></p>',
        '<p><img src="hourly.png" alt="時刻別交付枚数"> <a href="hourly.svg">SVG</a></p>',
        '<h2>表</h2><p><a href="report.xlsx">すべての表 (XLSX)</a></p>',
    ]
    if report.costs is not None:
        be = report.costs.break_even_year
        handling = report.costs.window_handling
        parts.append(
            f"<p>初期費用 {report.costs.initial:,} 円、年間費用 {report.costs.yearly:,} 円。"
            + (f"費用回収年度: {be}年度。" if be is not None else "期間内に費用は回収されていません。")
            + ("" if handling is not None else "（窓口1通あたりの処理費用 window_handling が未設定）")
            + "</p>"
        )
    for table in report.tables:
        parts.append(f'<h3>{e(table.title)} <a href="{e(table.name)}.csv">CSV</a></h3><table>')
        parts.append("<tr>" + "".join(f"<th>{e(str(h))}</th>" for h in table.header) + "</tr>")
        for row in table.rows:
            parts.append("<tr>" + "".join(f"<td>{e(str(v))}</td>" for v in row) + "</tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
