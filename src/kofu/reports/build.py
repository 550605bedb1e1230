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
from kofu.reports import charts, figures, published


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
    places: figures.OutOfCity | None = None
    fee_policy: published.TenantFeePolicy | None = None


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
    figs = figures.summary(engine, tenant, start, end)  # one scan of the issuance records
    monthly, yearly, hourly = figs.monthly, figs.fiscal_years, figs.hours
    report.office = figs.office
    report.costs = figures.cost_summary(tenant, yearly)
    report.places = places = figures.out_of_city(engine, tenant, start, end)
    policies = published.classify_tenants([tenant])
    report.fee_policy = policies[0] if policies else None
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
        Table(
            "out_of_city",
            "交付場所（完了した注文の通数）: 市内の店舗 / 県内の他市町 / 県外",
            ["city", "prefecture", "outside", "out_of_city_share"],
            [[places.city, places.prefecture, places.outside, round(places.out_of_city_share, 4)]],
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
    if report.office is not None and report.places is not None:
        o, pl = report.office, report.places
        parts.append(
            f"<p>業務時間外の交付: {o.outside_share:.1%}（三木市の実績 {published.MIKI_OFFICE_HOURS_SHARE:.0%}）。"
            f"市外の店舗での交付: {pl.out_of_city_share:.1%}（三木市 {published.MIKI_OUT_OF_CITY_SHARE:.0%}）。</p>"
        )
    if report.fee_policy is not None:
        fp = report.fee_policy
        parts.append(
            f"<p>手数料（住民票の写し、サービス開始時）: 窓口 {fp.window} 円、コンビニ {fp.convenience} 円 — "
            f"{e(fp.policy.title_ja)}。</p>"
        )
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


# --- across the tenants of a cloud operator --------------------------------------------------------


@dataclass
class Overview:
    start: date
    end: date
    tenants: list[TenantSettings]
    tables: list[Table] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    uptake: list[figures.UptakeRow] = field(default_factory=list)
    fee_policies: list[published.TenantFeePolicy] = field(default_factory=list)


def _miki_table() -> Table:
    """別添資料5 recomputed: each published share from its count and the total it implies."""
    rows: list[list[Any]] = []
    for jumin, inkan, card in zip(published.MIKI_JUMINHYO, published.MIKI_INKAN, published.MIKI_CARDS, strict=True):
        row: list[Any] = [jumin.fiscal_year]
        for r, places in ((jumin, 2), (inkan, 2), (card, max(0, -int(card.percent.as_tuple().exponent)))):
            total = published.derived_total(r)
            row += [r.count, str(r.percent), total, str(published.percent(r.count, total, places))]
        rows.append(row)
    header = ["fiscal_year"]
    for name in ("juminhyo", "inkan", "cards"):
        header += [f"{name}_count", f"{name}_percent_printed", f"{name}_total_implied", f"{name}_percent_recomputed"]
    return Table(
        "miki",
        "三木市のコンビニ交付実績（別添資料5、平成23–27年度）と、割合から逆算した総数・再計算した割合",
        header,
        rows,
    )


def build_overview(
    engine: Engine,
    tenants: Sequence[TenantSettings],
    start: date,
    end: date,
    out_dir: Path,
    *,
    tenant_links: bool = True,
) -> Overview:
    """The cross-tenant report: per-tenant totals (certificates, revenue, outside office hours, out-of-city),
    card uptake ranked, the fee-policy classification (資料3/4) and the Miki City table and chart (別添資料5)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    ov = Overview(start, end, list(tenants))
    codes = [t.code for t in tenants]
    totals = figures.tenant_totals(engine, codes, start, end)
    places = figures.out_of_city_by_tenant(engine, codes, start, end)
    ov.uptake = figures.card_uptake(engine, tenants, end)
    ov.fee_policies = published.classify_tenants(list(tenants))
    summary = Table(
        "tenants",
        "団体別の交付枚数・手数料収入・業務時間外の割合・市外の店舗での交付の割合",
        ["code", "name", "certificates", "revenue", "outside_office_share", "out_of_city_share"],
        [
            [
                t.code,
                t.name,
                totals[t.code].certificates,
                totals[t.code].revenue,
                round(totals[t.code].office.outside_share, 4),
                round(places[t.code].out_of_city_share, 4),
            ]
            for t in tenants
        ],
    )
    uptake = Table(
        "card_uptake",
        f"マイナンバーカードの交付率（{end.isoformat()} 現在、住民登録者に対する有効なカードの枚数）",
        ["rank", "rank_in_prefecture", "code", "name", "prefecture", "residents", "cards", "uptake"],
        [
            [r.rank, r.rank_in_prefecture, r.code, r.name, r.prefecture, r.residents, r.cards, round(r.uptake, 4)]
            for r in ov.uptake
        ],
    )
    policy = Table(
        "fee_policy",
        "コンビニ交付手数料の設定状況（資料3: 住民票の写し、サービス開始時の手数料）",
        ["code", "name", "window", "convenience", "policy", "policy_ja"],
        [[f.code, f.name, f.window, f.convenience, f.policy.value, f.policy.title_ja] for f in ov.fee_policies],
    )
    counts = {p: sum(1 for f in ov.fee_policies if f.policy is p) for p in published.FeePolicy}
    nationwide = sum(published.NATIONWIDE_FEE_POLICY.values())
    policy_counts = Table(
        "fee_policy_counts",
        "手数料の設定状況の集計（この事業者の団体 / 資料4: 全国 250 団体）",
        ["policy", "policy_ja", "tenants", "nationwide", "nationwide_share"],
        [
            [
                p.value,
                p.title_ja,
                counts[p],
                published.NATIONWIDE_FEE_POLICY[p],
                round(published.NATIONWIDE_FEE_POLICY[p] / nationwide, 4),
            ]
            for p in published.FeePolicy
        ],
    )
    ov.tables = [summary, uptake, policy, policy_counts, _miki_table()]
    for table in ov.tables:
        ov.files.append(_write_csv(table, out_dir))
    ov.files.append(_write_xlsx(ov.tables, out_dir / "report.xlsx"))
    ov.files += charts.uptake_chart(ov.uptake, f"マイナンバーカード交付率（{end.isoformat()} 現在）", out_dir)
    ov.files += charts.published_chart(
        [r.fiscal_year for r in published.MIKI_JUMINHYO],
        {
            "住民票の写し": [r.count for r in published.MIKI_JUMINHYO],
            "印鑑登録証明書": [r.count for r in published.MIKI_INKAN],
        },
        "三木市 コンビニ交付枚数（別添資料5）",
        out_dir,
        "miki",
    )
    ov.files.append(_write_overview_html(ov, out_dir / "index.html", tenant_links))
    return ov


def _write_overview_html(ov: Overview, path: Path, tenant_links: bool) -> Path:
    e = html.escape
    parts = [
        "<!doctype html>",
        '<html lang="ja"><head><meta charset="utf-8">',
        "<title>コンビニ交付 運用報告（全団体）</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1.5em}"
        "td,th{border:1px solid #999;padding:2px 8px;text-align:right}img{max-width:100%}</style>",
        "</head><body>",
        "<h1>コンビニ交付 運用報告（全団体）</h1>",
        f"<p>期間: {ov.start.isoformat()} 〜 {ov.end.isoformat()}（取消分を除く、枚数は通数）</p>",
    ]
    if tenant_links:
        links = " ".join(f'<a href="{e(t.code)}/">{e(t.name)}</a>' for t in ov.tenants)
        parts.append(f"<p>団体別の報告: {links}</p>")
    for pref in sorted({r.prefecture for r in ov.uptake}):
        top = sorted((r for r in ov.uptake if r.prefecture == pref), key=lambda r: r.rank_in_prefecture)[:3]
        ranking = "、".join(f"{r.rank_in_prefecture}位 {e(r.name)}（{r.uptake:.1%}）" for r in top)
        parts.append(f"<p>マイナンバーカード交付率 {e(pref or '全団体')}内の順位: {ranking}</p>")
    parts += [
        '<h2>グラフ</h2><p><img src="uptake.png" alt="カード交付率"> <a href="uptake.svg">SVG</a></p>',
        '<p><img src="miki.png" alt="三木市 コンビニ交付枚数"> <a href="miki.svg">SVG</a></p>',
        '<h2>表</h2><p><a href="report.xlsx">すべての表 (XLSX)</a></p>',
    ]
    for table in ov.tables:
        parts.append(f'<h3>{e(table.title)} <a href="{e(table.name)}.csv">CSV</a></h3><table>')
        parts.append("<tr>" + "".join(f"<th>{e(str(h))}</th>" for h in table.header) + "</tr>")
        for row in table.rows:
            parts.append("<tr>" + "".join(f"<td>{e(str(v))}</td>" for v in row) + "</tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    path.write_text("\n".join(p for p in parts if p), encoding="utf-8")
    return path
