"""`kofu jpki`: the JPKI authority's operator commands — export the trust material, show and revoke."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import typer
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from kofu.bootstrap import Container
from kofu.cli.common import console, container, reported_errors
from kofu.jpki.model import CertKind, RevocationReason
from kofu.jpki.service import Authority

app = typer.Typer(no_args_is_help=True)


def authority(c: Container, base_url: str | None = None) -> Authority:
    """The authority of this deployment: CA keys in KOFU_HOME/keys/jpki, records in the main database."""
    return Authority(
        c.engine, c.settings.keys_dir / "jpki", c.clock, base_url=base_url or c.settings.resolved_jpki_url()
    )


@app.command("export")
def export(out: Path = typer.Option(..., "--out", help="directory to write into")) -> None:
    """Write auth-ca.pem, sign-ca.pem, auth.crl.pem and sign.crl.pem (public material only)."""
    a = authority(container())
    out.mkdir(parents=True, exist_ok=True)
    for kind in CertKind:
        (out / f"{kind.value}-ca.pem").write_bytes(a.ca_pem(kind))
        crl = x509.load_der_x509_crl(a.current_crl(kind))
        (out / f"{kind.value}.crl.pem").write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    console.print(f"[green]exported[/] CA certificates and CRLs to {out}")


@app.command("show")
def show(serial: str, as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """The status of one certificate (serial in hex, as openssl prints it)."""
    with reported_errors():
        record = authority(container()).status(serial)
    info = {
        "serial": record.serial,
        "kind": record.kind.value,
        "status": record.status.value,
        "not_before": record.not_before.isoformat(),
        "not_after": record.not_after.isoformat(),
        "revoked_at": record.revoked_at.isoformat() if record.revoked_at else None,
        "reason": record.reason.value if record.reason else None,
        "crl_reason": record.reason.rfc5280.value if record.reason else None,
        "subject": x509.load_der_x509_certificate(record.der).subject.rfc4514_string(),
    }
    if as_json:
        typer.echo(json.dumps(info, ensure_ascii=False))
        return
    for key, value in info.items():
        console.print(f"{key:>11}  {value if value is not None else '-'}")


@app.command("revoke")
def revoke(
    serial: str,
    reason: RevocationReason = typer.Option(..., "--reason", help="why the certificate is revoked"),
    at: datetime | None = typer.Option(None, "--at", help="revocation time (ISO 8601, default now; naive = JST)"),
) -> None:
    """Revoke a certificate: loss → keyCompromise, death/return → cessationOfOperation,
    move-out → affiliationChanged, info-change/renewal → superseded."""
    from kofu.common.clock import JST

    c = container()
    when = c.clock.now() if at is None else (at if at.tzinfo else at.replace(tzinfo=JST))
    with reported_errors():
        record = authority(c).revoke(serial, reason, when)
    console.print(f"[green]revoked[/] {record.kind.value} certificate {record.serial} ({reason.value})")
