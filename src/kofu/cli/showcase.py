"""`kofu demo`: the whole system on SQLite with demo data, shown end to end."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import typer
from rich.table import Table

from kofu.cli.common import console, container, reported_errors
from kofu.common.clock import JST
from kofu.issuer.eligibility import IssueRequest, check_service
from kofu.issuer.service import NotEligible
from kofu.issuer.tenant import CertificateType, IssuanceKind
from kofu.verify.confirmation import run_confirmation

app = typer.Typer()

KATO = "282286"


def _open_moment(now: datetime, ctype: CertificateType) -> datetime:
    c = container()
    tenant = c.tenants.get(KATO)
    moment = now
    for _ in range(24 * 14):
        if not check_service(tenant, ctype, moment):
            return moment
        moment = (moment + timedelta(hours=1)).replace(minute=0)
    return now


@app.command("demo")
def demo(
    population: int = typer.Option(40_000, help="Kato City residents to generate on the first run"),
    out: Path = typer.Option(None, help="where to write the sample certificates (default KOFU_HOME/demo/out)"),
    port: int = typer.Option(8000, help="serve the web app (center API, /verify/, /jpki) on 127.0.0.1:PORT"),
    no_serve: bool = typer.Option(False, "--no-serve", help="only run the console showcase, then exit"),
) -> None:
    """Set up demo data (first run), issue and verify one certificate of each type, run the confirmation test,
    then serve every actor on one port until Ctrl-C (unless --no-serve)."""
    from kofu.cli.demo import demo_data

    c = container()
    showcase_path = c.settings.home / "demo" / "showcase.json"
    if not showcase_path.exists():
        console.rule("demo data")
        demo_data(
            seed=20161006, population=population, others=300, today=None, home=None, tenant=None, no_import=False,
            activity=True, activity_scale=0.25,  # a quarter of the full year's volume: a few seconds more
        )  # fmt: skip
    showcase = json.loads(showcase_path.read_text(encoding="utf-8"))
    eligible = next(e for e in showcase if e["tenant"] == KATO and e["case"] == "eligible")
    out = out or c.settings.home / "demo" / "out"
    out.mkdir(parents=True, exist_ok=True)

    console.rule(f"certificates for the showcase resident {eligible['resident_id']} of 加東市")
    table = Table("certificate", "number", "fee (yen)", "verify", "file")
    requests = [
        IssueRequest(KATO, eligible["resident_id"], CertificateType.JUMINHYO, IssuanceKind.HOUSEHOLD,
                     items=("household_head", "honseki")),
        IssueRequest(KATO, eligible["resident_id"], CertificateType.KISAI, items=("birth_date", "address")),
        IssueRequest(KATO, eligible["resident_id"], CertificateType.INKAN),
        IssueRequest(KATO, eligible["resident_id"], CertificateType.SHOTOKU),
    ]  # fmt: skip
    now = c.clock.now().astimezone(JST)
    with reported_errors():
        for request in requests:
            at = _open_moment(now, request.type)
            issued = c.issuer.issue(request, channel="demo", at=at)
            path = out / f"{request.type.value}-{issued.record.number:07d}.pdf"
            path.write_bytes(issued.pdf)
            verdict = c.verifier.verify_pdf(issued.pdf)
            table.add_row(
                request.type.title_ja, str(issued.record.number), str(issued.record.fee_total),
                verdict.outcome.value, str(path),
            )  # fmt: skip
    console.print(table)

    console.rule("who may not use the service (showcase.json)")
    refusals = Table("case", "resident", "certificate", "expected", "refusal")
    for entry in showcase:
        if entry["tenant"] != KATO or entry["case"] == "eligible":
            continue
        ctype = CertificateType(entry.get("certificate", "juminhyo"))
        try:
            c.issuer.quote(IssueRequest(KATO, entry["resident_id"], ctype), at=_open_moment(now, ctype))
            result = "[red]not refused?[/]"
        except NotEligible as exc:
            result = ", ".join(r.code.value for r in exc.refusals)
        refusals.add_row(entry["case"], entry["resident_id"], ctype.value, entry.get("expected_refusal", ""), result)
    console.print(refusals)

    console.rule("システム確認試験 (kofu tenant check 282286)")
    results = run_confirmation(c.issuer, c.verifier, KATO)
    for r in results:
        console.print(f"  {'[green]ok[/]' if r.ok else '[red]FAIL[/]'} {r.name}: {r.detail}")
    console.print(
        f"\nSample certificates are in [bold]{out}[/]. Try: [bold]kofu verify {out}/*.pdf[/], "
        f"[bold]kofu tenant list[/], [bold]kofu registry show --tenant {KATO} {eligible['resident_id']}[/]."
    )
    if eligible.get("card"):
        console.print(
            f"The showcase residents hold My Number cards (PIN {eligible['pin']}): e.g. "
            f"[bold]kofu card show {eligible['card']}[/]; with pcscd and vsmartcard-vpcd running, "
            f"[bold]kofu card insert {eligible['card']}[/] puts it in a PC/SC reader for OpenSC."
        )
    if not all(r.ok for r in results):
        raise typer.Exit(1)
    if not no_serve:
        _serve(port, eligible)


def _serve(port: int, eligible: dict[str, str]) -> None:
    """The one-process web app on 127.0.0.1:PORT until Ctrl-C."""
    import uvicorn

    from kofu.cli.kiosk import demo_kiosk
    from kofu.web import center_service, create_web_app, demo_reports_staff

    c = container()
    service = center_service(c)
    kiosk_id, secret = demo_kiosk(c, service)
    base = f"http://127.0.0.1:{port}"
    console.rule(f"serving on {base} (Ctrl-C to stop)")
    console.print(f"  verification page   [bold]{base}/verify/[/]")
    console.print(f"  center API (kiosks) [bold]{base}/v1/…[/]  OpenAPI [bold]{base}/docs[/]")
    console.print(f"  JPKI authority      [bold]{base}/jpki/…[/]   health [bold]{base}/healthz[/]")
    staff, how = demo_reports_staff(c)
    console.print(f"  operations reports  [bold]{base}/reports/[/]  ({how})")
    if eligible.get("card"):
        console.print(
            "  a kiosk customer:   "
            f"[bold]kofu kiosk run --center {base} --kiosk-id {kiosk_id} --secret {secret} "
            f"--card {eligible['card']} --pin {eligible['pin']} --type juminhyo --pay 500 --out /tmp/kofu-tray[/]"
        )
    uvicorn.run(create_web_app(c, service, staff=staff), host="127.0.0.1", port=port, log_level="info")
