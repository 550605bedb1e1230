"""`kofu pki`: the private CA for mutual TLS between the center and the issuing server."""

from __future__ import annotations

import json

import typer

from kofu.cli.common import console, container
from kofu.issuer.pki import init_pki, mtls_files, summarise

app = typer.Typer(no_args_is_help=True)


@app.command("init")
def init(
    host: list[str] = typer.Option([], "--host", help="extra DNS name or IP for the issuer's certificate"),
    force: bool = typer.Option(False, "--force", help="make a new CA and new certificates"),
) -> None:
    """Create the private CA, the issuer's server certificate and the center's client certificate
    under KOFU_HOME/keys/mtls (existing files are kept unless --force)."""
    files = init_pki(container().settings.keys_dir, hosts=host, force=force)
    for path in files.all():
        console.print(f"{path}")


@app.command("show")
def show(as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """The CA and both certificates: subject, issuer, usage, hosts, expiry, fingerprint."""
    files = mtls_files(container().settings.keys_dir)
    if not files.complete():
        console.print(f"[red]missing[/] — run `kofu pki init` (looked in {files.directory})")
        raise typer.Exit(1)
    summaries = [summarise(p) for p in (files.ca_cert, files.issuer_cert, files.center_cert)]
    if as_json:
        rows = [
            {
                "path": str(s.path),
                "subject": s.subject,
                "issuer": s.issuer,
                "serial": s.serial,
                "not_after": s.not_after.isoformat(),
                "usage": s.usage,
                "hosts": list(s.hosts),
                "sha256": s.sha256,
            }
            for s in summaries
        ]
        typer.echo(json.dumps(rows, ensure_ascii=False))
        return
    for s in summaries:
        console.print(f"[bold]{s.path.name}[/] {s.subject}")
        console.print(f"  issuer {s.issuer}  serial {s.serial}  until {s.not_after:%Y-%m-%d}")
        console.print(f"  usage {s.usage}" + (f"  hosts {', '.join(s.hosts)}" if s.hosts else ""))
        console.print(f"  sha256 {s.sha256}")
