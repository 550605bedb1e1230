"""`kofu audit`: check the hash-chained audit logs (the issuer's, and the center's where it exists)."""

from __future__ import annotations

import importlib

import typer
from sqlalchemy import Table

from kofu.cli.common import console, container
from kofu.db.audit import AuditLog

app = typer.Typer(no_args_is_help=True)


@app.callback()
def audit() -> None:
    """The audit logs: ids and hashes only, each entry committing to the one before."""


def _logs() -> list[tuple[str, Table]]:
    from kofu.issuer.audit import issuer_audit

    logs = [("issuer", issuer_audit)]
    try:
        center = importlib.import_module("kofu.center.store")
    except ModuleNotFoundError:
        center = None
    table = getattr(center, "center_audit", None)
    if isinstance(table, Table):
        logs.insert(0, ("center", table))
    return logs


@app.command("verify")
def verify() -> None:
    """Recompute every chain; name each changed, deleted or reordered entry. Exit 1 on any problem."""
    engine = container().engine
    bad = False
    for name, table in _logs():
        with engine.connect() as conn:
            log = AuditLog(conn, table)
            count, problems = log.count(), log.verify()
        if problems:
            bad = True
            for problem in problems:
                console.print(f"{name}: [red]{problem}[/]")
        else:
            console.print(f"{name}: [green]ok[/] ({count} entries)")
    if bad:
        raise typer.Exit(1)
