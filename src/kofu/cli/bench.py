"""`kofu bench e2e`: concurrent headless kiosks against a center, the floor, and open sessions per GiB."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape

from kofu.cli.common import console, err_console

app = typer.Typer(no_args_is_help=True)


@app.callback()
def bench() -> None:
    """Benchmarks of the whole system (see docs/performance.md)."""


@app.command("e2e")
def e2e(
    kiosks: int = typer.Option(8, "--kiosks", min=1, max=4096, help="concurrent headless kiosks (threads)"),
    seconds: float = typer.Option(10.0, "--seconds", min=0.5, help="length of the measured window"),
    processes: int = typer.Option(
        0, "--processes", min=0, max=16, help="P center + P issuer processes over HTTPS (needs --database)"
    ),
    database: str | None = typer.Option(
        None,
        "--database",
        help="PostgreSQL URL: the run uses a fresh schema there, dropped afterwards; default SQLite in a temp dir",
    ),
    floor_seconds: float = typer.Option(3.0, "--floor-seconds", min=0.2, help="length of the floor measurement"),
    sessions: int = typer.Option(0, "--sessions", min=0, help="also measure N open kiosk sessions (memory)"),
    transport: str | None = typer.Option(
        None,
        "--transport",
        help="in-process kiosk → center link: direct (LocalCenter, the default) or asgi (the FastAPI app "
        "through CenterClient.in_process); with --processes it is HTTPS",
    ),
    keep: Path | None = typer.Option(None, "--keep", help="build the deployment here and keep it (default: temp)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document"),
) -> None:
    """N kiosks run the full flow (mix of 住民票/記載事項/印鑑/所得) for S seconds; completed issuances per
    second, p50/p95/p99 per API step, and the floor measured in the same run."""
    from kofu.bench.e2e import run_e2e

    if processes and not (database or "").startswith("postgresql"):
        err_console.print(
            "[bold red]--processes needs --database postgresql+psycopg://…[/] "
            "別プロセスは同じ PostgreSQL を共有します / separate processes share one PostgreSQL database"
        )
        raise typer.Exit(2)
    if transport is not None and (processes or transport not in ("direct", "asgi")):
        err_console.print(
            "[bold red]--transport direct|asgi is for the in-process mode[/] "
            "(with --processes the kiosks reach the centers over HTTPS)"
        )
        raise typer.Exit(2)
    if keep is not None and keep.exists() and any(keep.iterdir()):
        raise typer.BadParameter(f"{keep} is not empty")
    doc = run_e2e(
        kiosks=kiosks,
        seconds=seconds,
        processes=processes,
        database_url=database,
        floor_seconds=floor_seconds,
        sessions=sessions,
        home=keep,
        transport=transport,
    )
    if as_json:
        typer.echo(json.dumps(doc, ensure_ascii=False))
        return
    console.print(
        f"[bold]{escape(doc['mode'])}[/] ({escape(doc['transport'])}) on {escape(doc['database'])}, "
        f"{doc['kiosks']} kiosks, {doc['seconds']} s: "
        f"[green]{doc['issuances_per_s']} issuances/s[/] ({doc['completed']} completed, {doc['failed']} failed)"
    )
    console.print(
        f"  floor {doc['floor_per_s']} /s — end to end is {doc['ratio_to_floor'] * 100:.1f} % of the floor; "
        f"customer p50/p95/p99 {doc['p50_ms']}/{doc['p95_ms']}/{doc['p99_ms']} ms"
    )
    cpu = ", ".join(f"{k} {v}" for k, v in doc["cpu_ms_per_issuance"].items())
    console.print(f"  CPU ms per issuance: {escape(cpu or '-')}")
    for step, s in doc["steps"].items():
        console.print(f"  {step:<14} n={s['n']:<6} p50 {s['p50']:>8} ms  p95 {s['p95']:>8} ms  p99 {s['p99']:>8} ms")
    if "sessions" in doc:
        s = doc["sessions"]
        console.print(
            f"  open sessions: {s['sessions_per_gib']:,} per GiB "
            f"(heap {s['heap_bytes_per_session']} B + database {s['db_bytes_per_session']} B each); "
            f"57,000 in 1 GiB: {'yes' if s['fits_57000_in_1gib'] else 'no'}"
        )
    if doc["failures"]:
        err_console.print(f"  failures: {escape(json.dumps(doc['failures']))}")
