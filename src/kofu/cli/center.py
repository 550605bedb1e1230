"""`kofu center …`: the center's registry of stores and kiosks, and its audit log."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from kofu.bootstrap import Container
from kofu.cli.common import console, container, err_console, reported_errors

if TYPE_CHECKING:
    from kofu.center.service import CenterService

app = typer.Typer(no_args_is_help=True)


def center_service(c: Container, *, issuer_url: str | None = None, jpki_url: str | None = None) -> CenterService:
    """The center wired from the container: in-process issuer and authority unless URLs are given."""
    from kofu.center.gateway import InProcessGateway, IssuerGateway
    from kofu.center.service import CenterService
    from kofu.jpki.validate import http_validator, in_process_validator

    gateway: IssuerGateway
    if issuer_url:
        from kofu.issuer.client import HttpIssuerGateway
        from kofu.issuer.pki import mtls_files

        files = mtls_files(c.settings.keys_dir)
        gateway = HttpIssuerGateway(
            issuer_url, client_cert=files.center_cert, client_key=files.center_key, ca_cert=files.ca_cert
        )
    else:
        gateway = InProcessGateway(c.issuer)
    validator = http_validator(jpki_url, c.authority.trust_roots) if jpki_url else in_process_validator(c.authority)
    return CenterService(c.engine, gateway, validator, c.clock)


@app.command("add-store")
def add_store(
    store_id: str = typer.Argument(..., help="store id, e.g. S-0001"),
    chain: str = typer.Option(..., help="the store chain"),
    municipality: str = typer.Option(..., help="団体コード (6 digits) of where the store is"),
) -> None:
    """Register a store."""
    with reported_errors():
        service = center_service(container())
        service.register_store(store_id, chain, municipality)
    console.print(f"[green]store[/] {store_id} ({chain}, {municipality})")


@app.command("add-kiosk")
def add_kiosk(store_id: str, kiosk_id: str) -> None:
    """Register a kiosk in a store and print its secret (shown this once; only its hash is kept)."""
    with reported_errors():
        service = center_service(container())
        secret = service.register_kiosk(store_id, kiosk_id)
    err_console.print(f"kiosk {kiosk_id} in {store_id}; its secret (shown once):")
    print(secret)


@app.command("list")
def list_stores() -> None:
    """Stores and their kiosks."""
    service = center_service(container())
    for store in service.list_stores():
        kiosks = ", ".join(f"{k}{'' if active else ' (inactive)'}" for k, active in store.kiosks) or "-"
        console.print(f"{store.store_id}\t{store.chain}\t{store.municipality}\t{kiosks}")


@app.command("recover")
def recover_orders(
    issuer_url: str | None = typer.Option(None, help="the issuing server (mutual TLS); default: in-process"),
    order_timeout: float = typer.Option(300, "--order-timeout", min=1, help="seconds an order may stay idle"),
) -> None:
    """End every order a crash left open past its deadline: refund what was paid, void at the issuer what was
    issued for it (by order id), retry pending voids. Also runs when `kofu serve center` starts."""
    from dataclasses import replace
    from datetime import timedelta

    from kofu.center.recovery import recover

    with reported_errors():
        service = center_service(container(), issuer_url=issuer_url)
        service.settings = replace(service.settings, order_timeout=timedelta(seconds=order_timeout))
        result = recover(service)
    console.print(
        f"closed {result.closed} orders · {result.void_pending} voids wait for the issuer · "
        f"{result.open_orders} orders still open"
    )
    if result.void_pending:
        raise typer.Exit(1)


@app.command("audit-verify")
def audit_verify() -> None:
    """Verify the center's audit chain; exit 1 naming each changed, deleted or reordered entry."""
    from kofu.center.service import verify_center_audit

    problems = verify_center_audit(container().engine)
    for p in problems:
        err_console.print(f"[red]{p}[/]")
    if problems:
        raise typer.Exit(1)
    console.print("[green]center audit chain intact[/]")
