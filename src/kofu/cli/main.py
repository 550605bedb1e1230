"""The `kofu` command. Thin: parses arguments, calls services, prints with Rich."""

from __future__ import annotations

import typer

from kofu import __version__

app = typer.Typer(
    name="kofu",
    help="kofu — convenience-store certificate issuance (コンビニ交付).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.command()
def version() -> None:
    """Print the kofu version."""
    typer.echo(__version__)


_registered = False


def _register() -> None:
    global _registered
    if _registered:
        return
    _registered = True
    from kofu.cli import (
        audit,
        bench,
        card,
        center,
        demo,
        issue,
        jpki,
        kiosk,
        pki,
        registry,
        report,
        serve,
        showcase,
        tenant,
        verify,
        window,
    )

    app.add_typer(registry.app, name="registry", help="The municipal resident registry: import, apply, show.")
    app.add_typer(tenant.app, name="tenant", help="Municipalities served by this issuer: list, keys, check.")
    card.app.registered_commands += window.app.registered_commands
    app.add_typer(card.app, name="card", help="My Number cards: issue, show, reset-pin, revoke, insert (vpcd).")
    app.add_typer(jpki.app, name="jpki", help="The JPKI authority: export CA certificates and CRLs, show, revoke.")
    app.add_typer(serve.app, name="serve", help="Run an actor as an HTTP service: center, issuer, jpki.")
    app.add_typer(center.app, name="center", help="The issuance center: stores and kiosks, audit.")
    app.add_typer(kiosk.app, name="kiosk", help="A headless kiosk: one scripted customer (kofu kiosk run).")
    app.add_typer(pki.app, name="pki", help="The private CA for mutual TLS between the center and issuers.")
    app.add_typer(audit.app, name="audit", help="Verify the hash-chained audit logs (kofu audit verify).")
    app.add_typer(bench.app, name="bench", help="Benchmarks: kofu bench e2e (kiosks, floor, sessions).")
    for module in (issue, verify, demo, showcase, report):
        app.registered_commands += module.app.registered_commands


def main() -> None:
    _register()
    app()
