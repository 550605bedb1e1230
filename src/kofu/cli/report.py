"""`kofu report`: one municipality's operations report as charts, tables and an HTML page."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import typer

from kofu.cli.common import console, container, reported_errors
from kofu.common.clock import JST
from kofu.common.errors import InvalidInput

app = typer.Typer()


def _day(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{name} must be YYYY-MM-DD, not {value!r}") from None


@app.command("report")
def report(
    tenant: str = typer.Option(None, "--tenant", help="the municipality's code (団体コード, 6 digits)"),
    all_: bool = typer.Option(
        False, "--all", help="the cross-tenant report (uptake ranking, fee policies, Miki City) and every tenant's"
    ),
    from_: str = typer.Option(None, "--from", help="first day (YYYY-MM-DD, JST); default one year before --to"),
    to: str = typer.Option(None, "--to", help="last day (YYYY-MM-DD, JST), inclusive; default today"),
    window_counts: Path = typer.Option(
        None,
        "--window-counts",
        exists=True,
        dir_okay=False,
        help="CSV fiscal_year,type,window_count (default: KOFU_HOME/window-counts/<code>.csv if present)",
    ),
    out: Path = typer.Option(..., "--out", help="directory for the charts, tables and index.html"),
) -> None:
    """Issuance figures, office hours, out-of-city use, fees and cost-effectiveness as PNG/SVG charts,
    CSV/XLSX tables and an HTML page; with --all across the tenants, each in OUT/<code>/."""
    from kofu.reports.build import build_overview, build_report
    from kofu.reports.figures import read_window_counts

    c = container()
    end = _day(to, "--to") or c.clock.now().astimezone(JST).date()
    start = _day(from_, "--from") or (end - timedelta(days=364))
    with reported_errors():
        if start > end:
            raise InvalidInput(f"--from {start} is after --to {end}", f"期間の開始 {start} が終了 {end} より後です")
        if (tenant is None) == (not all_):
            raise InvalidInput("give --tenant CODE or --all", "--tenant（団体コード）または --all を指定してください")
        if all_:
            tenants = c.tenants.all()
            ov = build_overview(c.engine, tenants, start, end, out)
            for t in tenants:
                build_report(c.engine, t, start, end, out / t.code, _window_counts_of(c.settings.home, t.code))
            console.print(
                f"[green]report written[/] for {len(tenants)} tenants ({start} – {end}): {out / 'index.html'}"
            )
            if ov.uptake:
                top = ov.uptake[0]
                console.print(f"  card uptake: highest {top.name} {top.uptake:.1%}")
            return
        settings = c.tenants.get(tenant)
        counts = (
            read_window_counts(window_counts)
            if window_counts is not None
            else _window_counts_of(c.settings.home, settings.code)
        )
        result = build_report(c.engine, settings, start, end, out, counts)
    office = result.office
    console.print(f"[green]report written[/] for {settings.name} ({start} – {end}): {out / 'index.html'}")
    if office is not None:
        console.print(f"  certificates {office.inside + office.outside:,}, outside office hours {office.outside:,}")
    if result.places is not None:
        console.print(f"  printed outside the municipality {result.places.out_of_city_share:.1%}")
    console.print(f"  {len(result.files)} files")


def _window_counts_of(home: Path, code: str) -> dict[tuple[int, str], int] | None:
    """KOFU_HOME/window-counts/<code>.csv, where the municipality's window export is dropped, if present."""
    from kofu.reports.figures import read_window_counts

    path = home / "window-counts" / f"{code}.csv"
    return read_window_counts(path) if path.is_file() else None
