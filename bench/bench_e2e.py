"""End to end: N concurrent headless kiosks, completed issuances per second against the floor.

.venv/bin/python bench/bench_e2e.py [--kiosks 1,8,64,256] [--seconds 20] [--processes 1,2,4]
                                    [--database postgresql+psycopg://postgres@127.0.0.1:5432/test]
                                    [--sessions 5000] [--transport direct|asgi]

(a) in one process on SQLite for each kiosk count, the kiosks reaching the center over `--transport`
(`direct`: `LocalCenter`, the default; `asgi`: the FastAPI app through `CenterClient.in_process`); (b) with
--processes, separate `kofu serve` processes over HTTPS on PostgreSQL (a fresh schema per run) for each
process count, with the largest kiosk count that is ≤ 64. Each run is `kofu.bench.e2e.run_e2e`, the code
behind `kofu bench e2e`; each appends its table to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import record
from kofu.bench.e2e import run_e2e


def rows_of(doc: dict[str, Any]) -> list[tuple[str, str]]:
    rows = [
        ("kiosk → center transport", doc["transport"]),
        (
            "completed issuances per second",
            f"{doc['issuances_per_s']:.2f} /s ({doc['completed']} in {doc['seconds']} s)",
        ),
        ("failed customers", f"{doc['failed']} {doc['failures'] or ''}".strip()),
        ("floor (same run, same database)", f"{doc['floor_per_s']:.1f} /s (p50 {doc['floor']['floor_p50_ms']} ms)"),
        ("end to end / floor (wall clock)", f"{doc['ratio_to_floor'] * 100:.2f} %"),
        ("CPU ms per issuance", ", ".join(f"{k} {v}" for k, v in doc["cpu_ms_per_issuance"].items())),
        *(
            [("servers' CPU ms per issuance by role", ", ".join(f"{k} {v}" for k, v in by_role.items()))]
            if (by_role := doc.get("server_cpu_ms_per_issuance"))
            else []
        ),
        ("floor CPU ms per issuance", f"{doc['floor']['floor_cpu_ms']}"),
        ("end to end / floor (CPU)", f"{doc['cpu_ratio_to_floor'] * 100:.2f} %"),
        ("customer p50 / p95 / p99", f"{doc['p50_ms']} / {doc['p95_ms']} / {doc['p99_ms']} ms"),
    ]
    for step, s in doc["steps"].items():
        rows.append((f"{step} p50 / p95 / p99", f"{s['p50']} / {s['p95']} / {s['p99']} ms"))
    if "sessions" in doc:
        s = doc["sessions"]
        rows.append(("open kiosk sessions per GiB", f"{s['sessions_per_gib']:,} ({s['sessions']} authenticated)"))
        rows.append(
            ("bytes per open session", f"heap {s['heap_bytes_per_session']} + database {s['db_bytes_per_session']}")
        )
        rows.append(("57,000 open sessions in 1 GiB", "yes" if s["fits_57000_in_1gib"] else "no"))
    return rows


def note(seconds: float) -> str:
    load = os.getloadavg()[0]
    return f"{seconds:g} s window; load average {load:.1f} on {os.cpu_count()} cores at the end (other jobs)"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kiosks", default="1,8,64,256")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--processes", default="")
    parser.add_argument("--database", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--sessions", type=int, default=5000)
    parser.add_argument("--transport", choices=["direct", "asgi"], default="direct", help="in-process link")
    args = parser.parse_args()
    counts = [int(k) for k in args.kiosks.split(",") if k]
    processes = [int(x) for x in args.processes.split(",") if x]
    if any(p < 1 for p in processes):
        parser.error("--processes lists server process counts (1, 2, 4 …); the in-process runs always run")
    for i, kiosks in enumerate(counts):
        sessions = args.sessions if i == 0 else 0
        doc = run_e2e(kiosks=kiosks, seconds=args.seconds, sessions=sessions, transport=args.transport)
        title = f"End to end, in-process ({args.transport}), SQLite, {kiosks} kiosks"
        record(title, rows_of(doc), note(args.seconds))
    for p in processes:
        kiosks = max([k for k in counts if k <= 64] or [8])
        doc = run_e2e(kiosks=kiosks, seconds=args.seconds, processes=p, database_url=args.database)
        record(
            f"End to end, {p} center + {p} issuer processes, HTTPS, PostgreSQL, {kiosks} kiosks",
            rows_of(doc),
            note(args.seconds) + "; jpki in one more process; kiosks are threads of the benchmark process",
        )


if __name__ == "__main__":
    main()
