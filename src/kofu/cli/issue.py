"""`kofu issue`: issue a certificate without a kiosk (the office's own path; kiosks come via the center)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import typer

from kofu.cli.common import console, container, err_console, reported_errors
from kofu.common.clock import JST
from kofu.issuer.eligibility import IssueRequest
from kofu.issuer.service import NotEligible, number_text
from kofu.issuer.tenant import CertificateType, IssuanceKind

app = typer.Typer()


def _split(values: list[str] | None) -> tuple[str, ...]:
    out: list[str] = []
    for v in values or []:
        out.extend(x.strip() for x in v.split(",") if x.strip())
    return tuple(out)


@app.command("issue")
def issue(
    tenant: str = typer.Option(..., help="団体コード of the municipality, e.g. 282286"),
    resident: str = typer.Option(..., help="the resident's id in the registry"),
    type_: CertificateType = typer.Option(..., "--type", help="certificate type"),
    out: Path = typer.Option(..., help="where to write the signed PDF"),
    kind: IssuanceKind = typer.Option(IssuanceKind.SELF, help="住民票: self | household | members"),
    members: list[str] = typer.Option(None, help="resident ids for --kind members (comma-separated or repeated)"),
    items: list[str] = typer.Option(None, help="optional items, e.g. household_head,honseki"),
    copies: int = typer.Option(1, min=1, help="number of copies"),
    fiscal_year: int = typer.Option(None, help="所得証明書: fiscal year (年度), default the current one"),
    at: datetime = typer.Option(None, help="issue as of this JST time (default now), e.g. 2026-11-25T10:00"),
    as_json: bool = typer.Option(False, "--json", help="print a one-line JSON summary"),
) -> None:
    """Issue one certificate as a signed PDF."""
    members_t = _split(members)
    request = IssueRequest(
        tenant=tenant,
        resident_id=resident,
        type=type_,
        kind=IssuanceKind.MEMBERS if members_t and kind is IssuanceKind.SELF else kind,
        members=members_t,
        items=_split(items),
        copies=copies,
        fiscal_year=fiscal_year,
    )
    moment = at.replace(tzinfo=JST) if at is not None and at.tzinfo is None else at
    with reported_errors():
        try:
            issued = container().issuer.issue(request, channel="cli", at=moment)
        except NotEligible as exc:
            if as_json:
                typer.echo(json.dumps({"ok": False, "refusals": [r.code.value for r in exc.refusals]}))
            for r in exc.refusals:
                err_console.print(f"[bold red]refused[/] {r.code.value}: {r.message_ja} / {r.message_en}")
            raise typer.Exit(3) from exc
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(issued.pdf)
    rec = issued.record
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "ok": True,
                    "tenant": rec.tenant,
                    "number": rec.number,
                    "type": rec.type,
                    "copies": rec.copies,
                    "fee_total": rec.fee_total,
                    "out": str(out),
                }
            )
        )
    else:
        console.print(
            f"[green]issued[/] {type_.title_ja} 第{number_text(rec.tenant, rec.number)}号 "
            f"× {rec.copies} — fee {rec.fee_total:,} yen → {out}"
        )
