"""Window operations on cards (`kofu card issue|reset-pin|revoke`): what the municipal office does."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from kofu.cli.common import console, container, reported_errors
from kofu.jpki import RevocationReason

app = typer.Typer()


@app.command("issue")
def issue(
    tenant: str = typer.Option(..., help="団体コード of the resident's municipality"),
    resident: str = typer.Option(..., help="the resident's id"),
    pin: str = typer.Option(..., prompt=True, hide_input=True, help="利用者証明用 PIN, 4 digits"),
    sign_password: str = typer.Option(..., prompt=True, hide_input=True, help="署名用 password, 6–16 of A–Z and 0–9"),
    out: Path = typer.Option(None, help="card file to write (default KOFU_HOME/cards/<card id>.card)"),
    as_json: bool = typer.Option(False, "--json", help="print a JSON summary"),
) -> None:
    """Issue a My Number card to a registered resident: keys on the card, both certificates, PINs set."""
    with reported_errors():
        card = container().window.issue_card(tenant, resident, auth_pin=pin, sign_password=sign_password, out=out)
    summary = {
        "card": str(card.path),
        "card_id": card.card_id,
        "auth_serial": card.auth_serial,
        "sign_serial": card.sign_serial,
        "usable_from": card.usable_from.isoformat(),
    }
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        console.print(f"[green]card issued[/] {card.path} — kiosks accept it from {card.usable_from}")


@app.command("reset-pin")
def reset_pin(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="the card file"),
    new_pin: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True, help="new PIN"),
    which: str = typer.Option("auth", help="auth | sign | kenmen | card_ap"),
) -> None:
    """Reset a locked or forgotten PIN (the card serves kiosks again from the next day)."""
    with reported_errors():
        usable = container().window.reset_pin(file, new_pin=new_pin, which=which)
    console.print(f"[green]PIN reset[/]; kiosks accept the card from {usable}")


@app.command("revoke")
def revoke(
    serial: str = typer.Argument(..., help="serial of the card's user-authentication certificate"),
    reason: RevocationReason = typer.Option(..., help="loss | death | return | …"),
) -> None:
    """Revoke both certificates of a card (loss, death, return)."""
    with reported_errors():
        revoked = container().window.revoke_card(serial, reason)
    console.print(f"[green]revoked[/] {', '.join(revoked) or 'nothing (already revoked)'}")
