"""`kofu tenant`: list the configured municipalities, create their keys, run the confirmation test."""

from __future__ import annotations

import typer
from rich.table import Table

from kofu.cli.common import console, container, reported_errors
from kofu.common.clock import JST

app = typer.Typer(no_args_is_help=True)


@app.command("list")
def list_tenants() -> None:
    """The tenants of this issuer with stage, service start and today's convenience fees."""
    c = container()
    today = c.clock.now().astimezone(JST).date()
    table = Table("code", "name", "stage", "service start", "offered today (convenience / window yen)")
    for t in c.tenants.all():
        fees = []
        for ctype in t.offered_types(today):
            cert = t.certificate(ctype)
            fee = cert.fee_on(today) if cert else None
            if fee:
                fees.append(f"{ctype.title_ja} {fee.convenience}/{fee.window}")
        table.add_row(t.code, t.name, t.stage.value, str(t.service_start), ", ".join(fees))
    console.print(table)
    for code, why in c.tenants.errors.items():
        console.print(f"[red]{code}: {why}[/]")


@app.command("keys")
def keys(code: str, rotate: bool = typer.Option(False, help="replace existing keys")) -> None:
    """Create (or rotate) the tenant's document-signing and statement keys and register them."""
    c = container()
    with reported_errors():
        c.issuer.ensure_keys(c.tenants.get(code), rotate=rotate)
    console.print(f"[green]keys ready[/] for {code} in {c.settings.keys_dir / code}")


@app.command("check")
def check(code: str) -> None:
    """システム確認試験: settings, keys, calendar, and every offered type issued, verified and voided."""
    from kofu.verify.confirmation import run_confirmation

    c = container()
    with reported_errors():
        results = run_confirmation(c.issuer, c.verifier, code)
    table = Table("check", "result", "detail")
    for r in results:
        table.add_row(r.name, "[green]ok[/]" if r.ok else "[bold red]FAIL[/]", r.detail)
    console.print(table)
    failed = [r for r in results if not r.ok]
    if failed:
        console.print(f"[bold red]{len(failed)} check(s) failed[/]")
        raise typer.Exit(1)
    console.print("[green]all checks passed[/]")
