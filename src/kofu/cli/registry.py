"""`kofu registry …`: import a municipality's CSV files, apply change events, show a resident.

An operator tool of the municipality: `show` prints personal data to the operator's terminal on purpose;
nothing here logs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from kofu.cli.common import console, container, err_console, reported_errors
from kofu.registry.model import ResidentStatus, SealStatus
from kofu.registry.service import (
    ImportRejected,
    import_directory,
    load_events,
    resident_record,
)

app = typer.Typer(no_args_is_help=True, help="The municipal resident registry: import, apply, show.")

TenantOpt = Annotated[str, typer.Option("--tenant", "-t", help="団体コード (6 digits)")]


def _print_problems(exc: ImportRejected) -> None:
    table = Table(title=f"{exc.total} problem(s) — nothing was written / 取り込みませんでした", show_lines=False)
    table.add_column("file")
    table.add_column("line", justify="right")
    table.add_column("column")
    table.add_column("message", overflow="fold")
    for p in exc.problems:
        table.add_row(p.file, str(p.line), p.column, p.message)
    err_console.print(table)
    if exc.total > len(exc.problems):
        err_console.print(f"… and {exc.total - len(exc.problems)} more")


@app.command("import")
def import_(
    tenant: TenantOpt,
    directory: Annotated[Path, typer.Argument(help="directory with residents.csv and optional seals/income/support")],
    replace: Annotated[bool, typer.Option("--replace", help="replace the tenant's registry atomically")] = False,
) -> None:
    """Validate a CSV directory completely, then import it in one transaction."""
    with reported_errors():
        c = container()
        engine = c.engine
        with Progress(
            TextColumn("[bold]importing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        ) as bar:
            task = bar.add_task("import", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            try:
                report = import_directory(engine, tenant, directory, replace=replace, progress=progress, clock=c.clock)
            except ImportRejected as exc:
                bar.stop()
                _print_problems(exc)
                raise typer.Exit(2) from exc
    verb = "replaced" if report.replaced else "imported"
    console.print(
        f"[green]{verb}[/] tenant {report.tenant}: {report.residents} residents, {report.households} households, "
        f"{report.seals} seals, {report.income} income records, {report.support} support measures "
        f"in {report.seconds:.1f}s"
    )
    if report.orphan_card_links:
        console.print(f"[yellow]note[/] {report.orphan_card_links} card link(s) refer to residents no longer present")


@app.command("apply")
def apply(
    tenant: TenantOpt,
    file: Annotated[Path, typer.Argument(help="JSON Lines file of events (see docs/registry.md)")],
) -> None:
    """Apply a file of change events: all or nothing."""
    with reported_errors():
        c = container()
        try:
            events = load_events(file, tenant)
        except ImportRejected as exc:
            _print_problems(exc)
            raise typer.Exit(2) from exc
        # through the window service: the revocations the law attaches to an event commit with it
        applied, revoked = c.window.apply_events(events)
    table = Table(title=f"{len(applied)} event(s) applied")
    table.add_column("kind")
    table.add_column("resident")
    table.add_column("effective", justify="right")
    table.add_column("status")
    table.add_column("version", justify="right")
    table.add_column("notes", overflow="fold")
    for a in applied:
        others = f" (+{', '.join(o.resident_id for o in a.also_changed)})" if a.also_changed else ""
        table.add_row(
            a.event.kind,
            a.resident.resident_id + others,
            a.event.effective_on.isoformat(),
            str(a.resident.status),
            str(a.resident.version),
            "\n".join(a.notes),
        )
    console.print(table)
    if revoked:
        console.print(f"revoked {len(revoked)} JPKI certificate(s): {', '.join(revoked)}")


@app.command("show")
def show(
    tenant: TenantOpt,
    resident_id: Annotated[str, typer.Argument(help="宛名番号")],
) -> None:
    """Show one resident: record, household, seal, income years, support measures, cards."""
    with reported_errors():
        rec = resident_record(container().engine, tenant, resident_id)
    r = rec.resident
    status_style = "green" if r.status is ResidentStatus.RESIDENT else "red"
    info = Table.grid(padding=(0, 2))
    info.add_column(style="bold")
    info.add_column()
    rows: list[tuple[str, str]] = [
        ("氏名 name", f"{r.name}（{r.kana}）"),
        ("生年月日 born", f"{r.birth_date.isoformat()}  {r.sex.ja}"),
        ("世帯 household", f"{r.household_id}  続柄 {r.relationship}"),
        ("住所 address", r.address),
        ("本籍 honseki", f"{r.honseki or '—'}  筆頭者 {r.hittosha or '—'}"),
        ("住民となった日", r.became_resident_on.isoformat()),
        ("住所を定めた日", r.address_since.isoformat()),
        ("届出日 notified", r.notified_on.isoformat()),
        ("従前の住所", r.previous_address or "—"),
        (
            "状態 status",
            f"[{status_style}]{r.status}[/]" + (f" ({r.status_changed_on})" if r.status_changed_on else ""),
        ),
        ("転入処理日 moved in", r.moved_in_on.isoformat() if r.moved_in_on else "—"),
        ("version", str(r.version)),
    ]
    for k, v in rows:
        info.add_row(k, v)

    members = Table(title="世帯員 household members", expand=True)
    for col in ("id", "name", "続柄", "born", "status"):
        members.add_column(col)
    for m in rec.members:
        members.add_row(m.resident_id, m.name, m.relationship, m.birth_date.isoformat(), str(m.status))

    extra = Table.grid(padding=(0, 2))
    extra.add_column(style="bold")
    extra.add_column()
    if rec.seal is None:
        seal = "none / 未登録"
    elif rec.seal.status is SealStatus.REGISTERED:
        seal = f"[green]registered[/] no. {rec.seal.registration_no} since {rec.seal.registered_on}"
    else:
        seal = f"[red]cancelled[/] no. {rec.seal.registration_no} on {rec.seal.cancelled_on}"
    extra.add_row("印鑑 seal", seal)
    extra.add_row("所得 income years", ", ".join(str(y) for y in rec.income_years) or "—")
    support = [f"{m.started_on} – {m.ended_on or ''}" for m in rec.support]
    extra.add_row("支援措置 support", "[red]" + "; ".join(support) + "[/]" if support else "—")
    cards = [
        f"{c.cert_serial} usable from {c.usable_from}" + (f" revoked {c.revoked_on}" if c.revoked_on else "")
        for c in rec.cards
    ]
    extra.add_row("カード cards", "\n".join(cards) or "—")
    extra.add_row("events", str(len(rec.events)))

    console.print(Panel(info, title=f"住民 {r.resident_id} — tenant {r.tenant}", expand=False))
    console.print(members)
    console.print(Panel(extra, expand=False))
