"""`kofu kiosk run`: one customer at a headless kiosk, from the card to the receipt.

Without `--center` the center runs in this process over KOFU_HOME (its database, tenants, keys and JPKI
authority; the kiosk calls it through `kofu.center.local.LocalCenter`, without HTTP), with a demo store and
kiosk registered on first use (the kiosk's secret is kept in
KOFU_HOME/keys/demo-kiosk.secret). Exit status: 0 printed · 2 refused (nothing charged) · 3 print failure
(refunded, voided) · 4 card or PIN problem.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from kofu.bootstrap import Container
from kofu.cli.common import console, container, err_console
from kofu.common.errors import InvalidInput, KofuError
from kofu.web import demo_kiosk as demo_kiosk  # re-exported (kofu.cli.showcase, tests)

app = typer.Typer(no_args_is_help=True)


@app.callback()
def kiosk() -> None:
    """A headless kiosk terminal (scripted customer)."""


def in_process_center(c: Container) -> Any:
    """The center service of this deployment, in this process (the issuer reached in-process too)."""
    from kofu.web import center_service

    return center_service(c)


def _split(values: list[str] | None) -> list[str]:
    return [v.strip() for value in values or [] for v in value.split(",") if v.strip()]


@app.command("run")
def run(
    center: str | None = typer.Option(None, help="center base URL; default: an in-process center over KOFU_HOME"),
    kiosk_id: str | None = typer.Option(None, "--kiosk-id", help="this kiosk's id at the center (with --center)"),
    secret: str | None = typer.Option(None, "--secret", envvar="KOFU_KIOSK_SECRET", help="this kiosk's secret"),
    card: Path | None = typer.Option(None, "--card", exists=True, dir_okay=False, help="a kofu card file"),
    pcsc: str | None = typer.Option(None, "--pcsc", help="use a PC/SC reader instead (name or part of it)"),
    pin: list[str] = typer.Option(..., "--pin", help="the 4-digit PIN (repeat to model a second attempt)"),
    ctype: str = typer.Option(..., "--type", help="juminhyo | kisai | inkan | shotoku"),
    kind: str = typer.Option("self", "--kind", help="self | household | members"),
    members: list[str] = typer.Option(None, "--members", help="resident ids for --kind members (comma-separated)"),
    items: list[str] = typer.Option(None, "--items", help="printed items (comma-separated)"),
    copies: int = typer.Option(1, "--copies", min=1),
    fiscal_year: int | None = typer.Option(None, "--fiscal-year", help="所得証明書: the fiscal year (年度)"),
    pay: str = typer.Option(..., "--pay", help="coins and notes inserted, e.g. 100,100,50 or 500 or 100x3"),
    out: Path = typer.Option(..., "--out", help="the printer's tray: certificates and receipts land here"),
    method: str = typer.Option("jpki", "--method", help="jpki | card-app (カードAP方式, if the tenant allows it)"),
    printer_fault: str | None = typer.Option(None, "--printer-fault", help="jam | paper-out (to try a failure)"),
    verify: str | None = typer.Option(None, "--ca", help="CA bundle for an https center"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON line"),
) -> None:
    """Walk the 13 steps for one customer; print to PDF files in OUT after checking the binding."""
    from kofu.card.readers import InProcessReader, PcscReader, Reader
    from kofu.kiosk.devices import CardSlot, CoinVendor, Printer, PrinterFault, ReceiptPrinter, Speaker
    from kofu.kiosk.flow import Devices, Kiosk, KioskResult, Script

    def fail(code: int, key: str, en: str, ja: str) -> None:
        if as_json:
            typer.echo(json.dumps({"ok": False, "refusal": key, "message_en": en, "message_ja": ja}))
        else:
            err_console.print(f"[bold red]{escape(key)}[/] {escape(ja)}\n      {escape(en)}")
        raise typer.Exit(code)

    if (card is None) == (pcsc is None):
        raise typer.BadParameter("give either --card FILE or --pcsc READER")
    try:
        coins = CoinVendor.parse(pay)
        fault = PrinterFault(printer_fault) if printer_fault else None
    except (InvalidInput, ValueError) as exc:
        raise typer.BadParameter(str(exc)) from exc
    c = container()
    reader: Reader
    try:
        if card is not None:
            from kofu.card.cardfile import CardFile, default_master_key

            reader = InProcessReader(CardFile(card, default_master_key(c.settings.keys_dir)).load())
        else:
            reader = PcscReader(pcsc or None)
    except KofuError as exc:
        fail(4, exc.code, exc.message_en, exc.message_ja)
    try:
        if center is None:
            from kofu.center.local import LocalCenter

            service = in_process_center(c)
            kid, ksecret = demo_kiosk(c, service)
            client: Any = LocalCenter(service, kiosk_id or kid, secret or ksecret)  # no HTTP in one process
        else:
            from kofu.center.client import CenterClient

            if not kiosk_id or not secret:
                raise typer.BadParameter("--center needs --kiosk-id and --secret (or KOFU_KIOSK_SECRET)")
            client = CenterClient(center, kiosk_id, secret, verify=verify or True)
    except KofuError as exc:
        fail(2, exc.code, exc.message_en, exc.message_ja)

    devices = Devices(CardSlot(), CoinVendor(), Printer(out, fault=fault), Speaker(), ReceiptPrinter(out))
    script = Script(
        card=reader,
        pins=pin,
        type=ctype,
        kind=kind,
        members=_split(members),
        items=_split(items),
        copies=copies,
        fiscal_year=fiscal_year,
        coins=coins,
        method=method,
    )
    import httpx

    try:
        result: KioskResult = Kiosk(client, devices).run(script)
    except httpx.TransportError as exc:
        fail(2, "center-unreachable", f"the center cannot be reached: {exc}", "センターに接続できません")
    finally:
        client.close()
    if as_json:
        data = result.to_json()
        keys = ("ok", "order_id", "tenant", "number", "files", "paid", "total", "change", "refund", "refusal")
        line = {k: data[k] for k in keys}
        line |= {"steps": data["steps"], "elapsed_ms": data["elapsed_ms"]}
        line |= {k: data[k] for k in ("status", "municipality", "receipt", "tries_left", "message_en", "message_ja")}
        typer.echo(json.dumps(line, ensure_ascii=False))
    else:
        for step in result.steps:
            console.print(f"  [dim]{escape(step)}[/]")
        if result.ok:
            console.print(
                f"[green]printed[/] {escape(result.number or '')} ({escape(result.municipality or '')}): "
                f"paid {result.paid} yen, fee {result.total} yen, change {result.change} yen"
            )
            for name in result.files:
                console.print(f"  {escape(name)}")
            console.print(f"  receipt {escape(result.receipt or '')}")
        else:
            err_console.print(
                f"[bold red]{escape(result.refusal or result.status)}[/] {escape(result.message_ja or '')}\n"
                f"      {escape(result.message_en or '')}"
            )
            if result.refund:
                err_console.print(f"      refunded {result.refund} yen / {result.refund}円を返却しました")
    raise typer.Exit(result.exit_code)
