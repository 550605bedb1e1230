"""`kofu verify`: is this certificate genuine? valid / voided / tampered / unknown."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from kofu.cli.common import console, container, reported_errors
from kofu.verify.service import Outcome

app = typer.Typer()

COLOURS = {Outcome.VALID: "green", Outcome.VOIDED: "yellow", Outcome.TAMPERED: "red", Outcome.UNKNOWN: "red"}


@app.command("verify")
def verify(
    file: Path = typer.Argument(None, exists=True, dir_okay=False, help="a certificate PDF"),
    qr: str = typer.Option(None, "--qr", help="the QR code's payload (KOFU1.…)"),
    as_json: bool = typer.Option(False, "--json", help="print the verdict as JSON"),
) -> None:
    """Verify a certificate PDF or a scanned QR payload. Exit status 0 only when valid."""
    if (file is None) == (qr is None):
        raise typer.BadParameter("give either a PDF FILE or --qr PAYLOAD")
    with reported_errors():
        verifier = container().verifier
        verdict = verifier.verify_pdf(file.read_bytes()) if file is not None else verifier.verify_statement(qr)
    if as_json:
        typer.echo(json.dumps(verdict.to_json(), ensure_ascii=False))
    else:
        colour = COLOURS[verdict.outcome]
        console.print(f"[bold {colour}]{verdict.outcome.value.upper()}[/] — {verdict.reason}")
        if verdict.number is not None:
            console.print(
                f"  {verdict.municipality or verdict.tenant} · {verdict.title or ''} · "
                f"No. {verdict.tenant}-{verdict.number:07d} · issued {verdict.issued_on}"
            )
    raise typer.Exit(0 if verdict.outcome is Outcome.VALID else 1)
