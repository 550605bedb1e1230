"""`kofu demo-data`: Hyogo demo tenants with synthetic residents, imported and ready to issue."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from kofu.bootstrap import Container, Settings
from kofu.cli.common import console, reported_errors
from kofu.common.clock import SystemClock, today_jst
from kofu.demo.build import (
    DEFAULT_OTHERS,
    DEFAULT_POPULATION,
    DEFAULT_SEED,
    ImportProgress,
    Reporter,
    build_demo,
)
from kofu.demo.population import Population
from kofu.issuer.tenant import TenantSettings
from kofu.registry.service import ImportReport

app = typer.Typer()


class _RichReporter(Reporter):
    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, TaskID] = {}

    def generated(self, tenant: TenantSettings, pop: Population, seconds: float) -> None:
        self.tasks[tenant.code] = self.progress.add_task(
            f"{tenant.code} {tenant.name}: {len(pop.residents):,} residents generated in {seconds:.1f}s",
            total=1,
            completed=1,
        )

    def importing(self, tenant: TenantSettings, pop: Population) -> ImportProgress:
        task = self.tasks[tenant.code]
        self.progress.update(task, description=f"{tenant.code} {tenant.name}: importing", completed=0, total=None)

        def update(done: int, total: int) -> None:
            self.progress.update(task, completed=done, total=total)

        return update

    def imported(self, tenant: TenantSettings, report: ImportReport) -> None:
        task = self.tasks[tenant.code]
        self.progress.update(
            task,
            description=f"{tenant.code} {tenant.name}: imported in {report.seconds:.1f}s",
            completed=1,
            total=1,
        )


@app.command("demo-data")
def demo_data(
    seed: int = typer.Option(DEFAULT_SEED, help="random seed; the same seed gives the same data"),
    population: int = typer.Option(DEFAULT_POPULATION, min=1, help="residents of Kato City (加東市)"),
    others: int = typer.Option(DEFAULT_OTHERS, min=1, help="residents of each other demo municipality"),
    today: str | None = typer.Option(None, help="the demo's today, YYYY-MM-DD (default: today in JST)"),
    home: Path | None = typer.Option(None, help="KOFU_HOME to fill (default: $KOFU_HOME or ./var)"),
    tenant: list[str] | None = typer.Option(None, help="only these tenant codes (repeatable)"),
    no_import: bool = typer.Option(False, "--no-import", help="write the CSV files only"),
    activity: bool = typer.Option(
        False, "--activity", help="also generate a year of convenience-store issuance for the reports"
    ),
    activity_scale: float = typer.Option(
        1.0, "--activity-scale", min=0.001, max=10.0, help="multiply the generated issuance volume"
    ),
) -> None:
    """Create the Hyogo demo tenants and their synthetic registries, import them, write showcase.json."""
    with reported_errors():
        try:
            day = date.fromisoformat(today) if today else today_jst(SystemClock())
        except ValueError:
            raise typer.BadParameter(f"{today!r} is not a date YYYY-MM-DD", param_hint="--today") from None
        settings = Settings(home=home) if home is not None else Settings()
        container = Container(settings)
        engine = None if no_import else container.engine
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            result = build_demo(
                home=settings.home,
                tenants_dir=settings.resolved_tenants_dir(),
                keys_dir=settings.keys_dir,
                engine=engine,
                today=day,
                seed=seed,
                population=population,
                others=others,
                only=tenant or None,
                reporter=_RichReporter(progress),
            )
        table = Table(title=f"Demo data for {day.isoformat()} (seed {seed})")
        for col in ("tenant", "name", "residents", "households", "seals", "showcase"):
            table.add_column(col, justify="right" if col not in ("tenant", "name") else "left")
        for t in result.tenants:
            table.add_row(t.code, t.name, f"{t.residents:,}", f"{t.households:,}", f"{t.seals:,}", str(t.showcase))
        console.print(table)
        console.print(
            f"generated in {result.generate_seconds:.1f}s"
            + ("" if no_import else f", imported in {result.import_seconds:.1f}s")
            + f"; showcase: {result.showcase_path}"
        )
        if activity and engine is not None:
            _activity(container, day, seed, activity_scale, [t.code for t in result.tenants])
        for code, cases in result.missing.items():
            console.print(
                f"[yellow]warning[/] {code}: no resident found for {', '.join(cases)} (population too small?)"
            )


def _activity(container: Container, day: date, seed: int, scale: float, codes: list[str]) -> None:
    from kofu.demo.activity import generate_activity

    tenants = [container.tenants.get(code) for code in codes]
    with console.status("generating a year of issuance activity"):
        result = generate_activity(
            container.engine,
            tenants,
            end=day,
            home=container.settings.home,
            seed=seed,
            scale=scale,
            now=container.clock.now(),
        )
    table = Table(title=f"Activity {result.start.isoformat()} – {result.end.isoformat()}")
    for col in ("tenant", "name", "issuances", "certificates", "out of city", "cards", "residents"):
        table.add_column(col, justify="left" if col in ("tenant", "name") else "right")
    for t in result.tenants:
        table.add_row(
            t.code,
            t.name,
            f"{t.records:,}",
            f"{t.certificates:,}",
            f"{t.out_of_city:,}",
            f"{t.cards:,}",
            f"{t.residents:,}",
        )
    console.print(table)
    counts = container.settings.home / "window-counts"
    console.print(f"activity generated in {result.seconds:.1f}s; window counts: {counts}/<code>.csv")
