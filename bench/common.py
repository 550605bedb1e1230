"""Shared helpers for the benchmarks: timing, machine description, appending to RESULTS.md."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from kofu.bench.e2e import machine as machine  # one description of the machine for every benchmark

RESULTS = Path(__file__).parent / "RESULTS.md"


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    """Wall-clock seconds of each run (after one warm-up run)."""
    fn()
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def record(title: str, rows: list[tuple[str, str]], note: str = "") -> None:
    """Print a table and append it to bench/RESULTS.md with the command, machine and date."""
    command = " ".join([Path(sys.executable).name, *sys.argv])
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    except OSError:
        rev = "?"
    width = max(len(k) for k, _ in rows)
    print(f"\n{title}")
    for k, v in rows:
        print(f"  {k.ljust(width)}  {v}")
    lines = [
        f"\n## {title}",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {rev}",
        f"- machine: {machine()}",
        f"- command: `{command}`",
    ]
    if note:
        lines.append(f"- note: {note}")
    lines += ["", "| measure | value |", "|---|---|", *[f"| {k} | {v} |" for k, v in rows], ""]
    with RESULTS.open("a", encoding="utf-8") as fh:
        fh.write("\n".join(lines))
