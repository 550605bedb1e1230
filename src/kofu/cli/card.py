"""`kofu card`: put a card file into PC/SC through vpcd (`insert`), or print its public summary (`show`)."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import typer
from cryptography import x509

from kofu.card.cardfile import MASTER_KEY_ENV, MASTER_KEY_FILE, CardFile, default_master_key, load_master_key
from kofu.card.chip import PIN_NAMES, PIN_RULES, SLOTS, Card
from kofu.card.vpcd import DEFAULT_HOST, DEFAULT_PORT, BridgeStats, VpcdBridge
from kofu.cli.common import console, reported_errors

app = typer.Typer()

MASTER_KEY_HELP = f"card master key file (default: ${MASTER_KEY_ENV} if set, else $KOFU_HOME/{MASTER_KEY_FILE})"


def _open(file: Path, master_key: Path | None) -> CardFile:
    if master_key is not None:
        return CardFile(file, load_master_key(master_key))
    return CardFile(file, default_master_key(Path(os.environ.get("KOFU_HOME", "var")) / MASTER_KEY_FILE.parent))


def summary(card: Card) -> dict[str, Any]:
    """What `show` prints: no personal data (no name, address, 個人番号, user ID, PIN values)."""
    certificates: dict[str, Any] = {}
    for slot in SLOTS:
        der = card.certificate(slot)
        if der is None:
            certificates[slot] = None
            continue
        cert = x509.load_der_x509_certificate(der)
        certificates[slot] = {"serial": f"{cert.serial_number:X}", "not_after": cert.not_valid_after_utc.isoformat()}
    return {
        "card_id": card.card_id,
        "personalisation_locked": card.personalisation_locked,
        "certificates": certificates,
        "pins": {
            name: {
                "tries_left": card.pin_tries_left(name),
                "max_tries": PIN_RULES[name].max_tries,
                "blocked": card.pin_tries_left(name) == 0,
            }
            for name in PIN_NAMES
        },
    }


@app.command("show")
def show(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="a kofu card file"),
    master_key: Path = typer.Option(None, "--master-key", help=MASTER_KEY_HELP),
    as_json: bool = typer.Option(False, "--json", help="print the summary as JSON"),
) -> None:
    """Public summary of a card: certificate serials and expiry, PIN tries left, lock state."""
    with reported_errors():
        card = _open(file, master_key).load()
    info = summary(card)
    if as_json:
        typer.echo(json.dumps(info))
        return
    state = "locked (issued)" if info["personalisation_locked"] else "open (being personalised)"
    console.print(f"card [bold]{info['card_id']}[/] — personalisation {state}")
    for slot, cert in info["certificates"].items():
        if cert is None:
            console.print(f"  {slot} certificate: none")
        else:
            console.print(f"  {slot} certificate: serial {cert['serial']}, not after {cert['not_after']}")
    for name, pin in info["pins"].items():
        flag = " [bold red]BLOCKED[/]" if pin["blocked"] else ""
        console.print(f"  {name} PIN: {pin['tries_left']}/{pin['max_tries']} tries left{flag}")


@app.command("insert")
def insert(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="a kofu card file"),
    vpcd_host: str = typer.Option(DEFAULT_HOST, "--vpcd-host", help="where pcscd's vpcd driver listens"),
    vpcd_port: int = typer.Option(DEFAULT_PORT, "--vpcd-port", help="vpcd's port (reader.conf DEVICENAME)"),
    master_key: Path = typer.Option(None, "--master-key", help=MASTER_KEY_HELP),
) -> None:
    """Put the card into the vpcd virtual reader until Ctrl-C (counters are written to FILE as they change)."""
    with reported_errors():
        card = _open(file, master_key).load()
    last = {"apdus": 0}

    def report(event: str, stats: BridgeStats) -> None:
        if event in ("power-on", "reset", "power-off", "disconnected"):
            session = stats.apdus - last["apdus"]
            last["apdus"] = stats.apdus
            console.print(f"{event}: {session} APDUs since the last event, {stats.apdus} in all")
        else:
            console.print(f"{event} to vpcd at {vpcd_host}:{vpcd_port}")

    stopped = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    previous = signal.signal(signal.SIGTERM, stop)
    bridge = VpcdBridge(card, vpcd_host, vpcd_port, on_event=report).start()
    console.print(f"card {card.card_id} waiting for vpcd at {vpcd_host}:{vpcd_port} (Ctrl-C to remove it)")
    try:
        while not stopped.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        bridge.stop()
        card.power_off()
        signal.signal(signal.SIGTERM, previous)
    console.print(f"card removed after {bridge.stats.apdus} APDUs")
