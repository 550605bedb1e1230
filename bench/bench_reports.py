"""The figures of one municipality's report over 10,000,000 issuance records (SQLite and PostgreSQL).

.venv/bin/python bench/bench_reports.py [--records 10000000] [--runs 3] [--each] [--no-postgres]

The records are generated inside the database (a recursive CTE on SQLite, generate_series on
PostgreSQL) over three fiscal years, every type, 1–2 copies, one in 300 voided; generation is timed
separately and not counted. The measured figures are the ones `kofu report` computes from the issuance
table: by month × type, by fiscal year × type (with the fee difference), by hour of day, inside/outside
office hours (holidays and 12/29–1/3 included) — as `kofu report` runs them (`figures.summary`, one
statement, one scan), and with --each every figure's own query too. Medians of --runs runs after a warm-up.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Engine, text

from bench.common import record
from kofu.db import create_engine_for
from kofu.demo.tenants import load_tenants
from kofu.migrations import upgrade_to_head
from kofu.reports import figures

TENANT = "282286"
START, END = date(2023, 4, 1), date(2026, 3, 31)  # three fiscal years
SECONDS = 1096 * 86400  # 2023-04-01 .. 2026-03-31 inclusive
COLUMNS = (
    "id, tenant, number, type, kind, copies, fee_each, resident_id, resident_version, channel, cert_serial, "
    "order_id, issued_at, issued_on, document_hash, status, voided_at, void_reason"
)
TYPE = "CASE i % 10 WHEN 0 THEN 'kisai' WHEN 1 THEN 'shotoku' WHEN 2 THEN 'shotoku' WHEN 3 THEN 'inkan' "
TYPE += "WHEN 4 THEN 'inkan' WHEN 5 THEN 'inkan' ELSE 'juminhyo' END"


def generate_sqlite(engine: Engine, n: int) -> None:
    # JST 2023-04-01 00:00 is UTC 2023-03-31 15:00; a multiplicative step spreads the moments pseudo-randomly
    at = f"datetime('2023-03-31 15:00:00', '+' || ((i * 7919) % {SECONDS}) || ' seconds')"
    sql = f"""
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n})
        INSERT INTO issuer_issuances ({COLUMNS})
        SELECT printf('b%012d', i), '{TENANT}', i, {TYPE}, 'self', 1 + (i % 7 = 0), 250,
               'R' || (i % 40000), 1, 'kiosk', NULL, NULL, {at}, date({at}, '+9 hours'), '{"0" * 64}',
               CASE WHEN i % 300 = 0 THEN 'voided' ELSE 'issued' END, NULL, NULL
        FROM n
    """
    with engine.begin() as conn:
        conn.execute(text(sql))


def generate_postgres(engine: Engine, n: int) -> None:
    at = f"(timestamptz '2023-04-01 00:00+09' + make_interval(secs => (i::bigint * 7919) % {SECONDS}))"
    sql = f"""
        INSERT INTO issuer_issuances ({COLUMNS})
        SELECT 'b' || lpad(i::text, 12, '0'), '{TENANT}', i, {TYPE}, 'self', 1 + (i % 7 = 0)::int, 250,
               'R' || (i % 40000), 1, 'kiosk', NULL, NULL, {at}, ({at} AT TIME ZONE 'Asia/Tokyo')::date,
               '{"0" * 64}', CASE WHEN i % 300 = 0 THEN 'voided' ELSE 'issued' END, NULL, NULL
        FROM generate_series(1, {n}) AS i
    """
    with engine.begin() as conn:
        conn.execute(text(sql))
        conn.execute(text("ANALYZE issuer_issuances"))


def measure(engine: Engine, runs: int, each: bool) -> tuple[dict[str, float], int]:
    tenant = next(t for t in load_tenants() if t.code == TENANT)
    steps: dict[str, Callable[[], object]] = {
        "figures.summary: the four figures in one scan": lambda: figures.summary(engine, tenant, START, END),
        "by month × type alone": lambda: figures.by_month(engine, tenant, START, END),
        "by fiscal year × type (fee difference) alone": lambda: figures.by_fiscal_year(engine, tenant, START, END),
        "by hour of day alone": lambda: figures.by_hour(engine, tenant, START, END),
        "inside/outside office hours alone": lambda: figures.office_hours(engine, tenant, START, END),
    }
    if not each:
        steps = dict(list(steps.items())[:1])
    samples: dict[str, list[float]] = {name: [] for name in steps}
    for run in range(runs + 1):  # run 0 warms the page cache
        for name, step in steps.items():
            t0 = time.perf_counter()
            step()
            if run:
                samples[name].append(time.perf_counter() - t0)
    certificates = sum(r.certificates for r in figures.by_fiscal_year(engine, tenant, START, END))
    out = {name: statistics.median(s) for name, s in samples.items()}
    return out, certificates


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--each", action="store_true", help="also time each figure's own query")
    args = parser.parse_args()
    rows = [("issuance records", f"{args.records:,} (one tenant, FY2023–FY2025, 1 in 300 voided)")]
    work = Path(tempfile.mkdtemp(prefix="kofu-reports-"))
    targets: list[tuple[str, str, str | None]] = []
    if not args.no_sqlite:
        targets.append(("SQLite", f"sqlite:///{work / 'kofu.sqlite3'}", None))
    if not args.no_postgres:
        targets.append(("PostgreSQL", args.postgres, f"b_{uuid.uuid4().hex[:12]}"))
    for label, url, schema in targets:
        admin = None
        if schema:
            admin = create_engine_for(url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            engine = create_engine_for(url, connect_args={"options": f"-csearch_path={schema}"})
        else:
            engine = create_engine_for(url)
        try:
            upgrade_to_head(engine)
            t0 = time.perf_counter()
            (generate_postgres if schema else generate_sqlite)(engine, args.records)
            rows.append((f"{label}: generate the records (not counted)", f"{time.perf_counter() - t0:.1f} s"))
            times, certificates = measure(engine, args.runs, args.each)
            for name, seconds in times.items():
                rows.append((f"{label}: {name} (median)", f"{seconds:.1f} s"))
            rows.append((f"{label}: certificates counted (check)", f"{certificates:,}"))
        finally:
            engine.dispose()
            if not schema:
                shutil.rmtree(work, ignore_errors=True)
            if admin is not None:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.dispose()
    record(
        f"Report figures over {args.records:,} issuance records",
        rows,
        note=f"medians of {args.runs} runs after a warm-up; aggregation in SQL (SQLAlchemy Core), figures.summary: "
        f"one statement, one scan; load average at the end {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores",
    )


if __name__ == "__main__":
    main()
