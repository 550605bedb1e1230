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
    tenant: str = typer.Option(..., "--tenant", help="the municipality's code (団体コード, 6 digits)"),
    from_: str = typer.Option(None, "--from", help="first day (YYYY-MM-DD, JST); default one year before --to"),
    to: str = typer.Option(None, "--to", help="last day (YYYY-MM-DD, JST), inclusive; default today"),
    window_counts: Path = typer.Option(
        None, "--window-counts", exists=True, dir_okay=False, help="CSV fiscal_year,type,window_count"
    ),
    out: Path = typer.Option(..., "--out", help="directory for the charts, tables and index.html"),
) -> None:
    """Issuance figures, office hours, fees and cost-effectiveness as PNG/SVG charts, CSV/XLSX tables, HTML."""
    from kofu.reports.build import build_report
    from kofu.reports.figures import read_window_counts

    c = container()
    end = _day(to, "--to") or c.clock.now().astimezone(JST).date()
    start = _day(from_, "--from") or (end - timedelta(days=364))
    with reported_errors():
        if start > end:
            raise InvalidInput(f"--from {start} is after --to {end}", f"期間の開始 {start} が終了 {end} より後です")
        settings = c.tenants.get(tenant)
        counts = read_window_counts(window_counts) if window_counts is not None else None
        result = build_report(c.engine, settings, start, end, out, counts)
    office = result.office
    console.print(f"[green]report written[/] for {settings.name} ({start} – {end}): {out / 'index.html'}")
    if office is not None:
        console.print(f"  certificates {office.inside + office.outside:,}, outside office hours {office.outside:,}")
    console.print(f"  {len(result.files)} files")
