"""A/B: SQLite readers on a deferred BEGIN (now) versus BEGIN IMMEDIATE for every transaction (before).

.venv/bin/python bench/ab_readers.py [--kiosks 8] [--seconds 10] [--rounds 3]

Runs `kofu bench e2e` in-process alternately in both modes (so a busy machine hurts both alike) and
appends the medians to bench/RESULTS.md. "before" is made by marking every connection a writer
(`kofu.db.engine.WRITER`), which is exactly what the engine did before readers were split off.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Engine, event

import kofu.bootstrap
from bench.common import record
from kofu.bench.e2e import run_e2e
from kofu.db import engine as db_engine

_original = kofu.bootstrap.create_engine_for


def _every_connection_a_writer(url: str, **kw: Any) -> Engine:
    engine = _original(url, **kw)
    event.listen(engine, "engine_connect", lambda conn: conn.execution_options(**{db_engine.WRITER: True}))
    return engine


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kiosks", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    for _ in range(args.rounds):
        for mode in ("before", "after"):
            kofu.bootstrap.create_engine_for = _every_connection_a_writer if mode == "before" else _original  # type: ignore[assignment]
            doc = run_e2e(kiosks=args.kiosks, seconds=args.seconds, floor_seconds=2)
            runs[mode].append(doc)
            print(mode, doc["issuances_per_s"], doc["floor_per_s"], doc["p99_ms"], flush=True)
    rows: list[tuple[str, str]] = []

    def med(docs: list[dict[str, Any]], *path: str) -> float:
        values = []
        for d in docs:
            v: Any = d
            for key in path:
                v = v[key]
            values.append(float(v))
        return statistics.median(values)

    for mode, docs in runs.items():
        rows.append((f"{mode}: issuances/s", f"{med(docs, 'issuances_per_s'):.2f}"))
        rows.append((f"{mode}: end to end / floor", f"{med(docs, 'ratio_to_floor') * 100:.2f} %"))
        rows.append((f"{mode}: customer p99", f"{med(docs, 'p99_ms'):.0f} ms"))
        for step in ("open_session", "authenticate", "order", "documents"):
            p50, p99 = med(docs, "steps", step, "p50"), med(docs, "steps", step, "p99")
            rows.append((f"{mode}: {step} p50 / p99", f"{p50:.1f} / {p99:.1f} ms"))
    record(
        f"SQLite readers: deferred BEGIN vs BEGIN IMMEDIATE, {args.kiosks} kiosks in-process",
        rows,
        f"{args.rounds} alternating rounds of {args.seconds:g} s; medians; the machine was shared with other jobs",
    )


if __name__ == "__main__":
    main()
