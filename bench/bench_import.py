"""Registry CSV import throughput: validate + write N residents (default 1,000,000) into SQLite and PostgreSQL.

.venv/bin/python bench/bench_import.py [--residents 1000000] [--postgres URL | --no-postgres] [--no-sqlite]
    [--csv DIR (reuse or keep the generated files)] [--no-record]

Reports wall clock and CPU seconds: the importing process's (`time.process_time`) and, on PostgreSQL, the
server backend's (from /proc, the server runs on this machine), plus the load average: the machine is shared.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import resource
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Engine, text

from bench.common import record
from kofu.db import create_engine_for
from kofu.migrations import upgrade_to_head
from kofu.registry.csvio import RESIDENT_HEADER, import_directory
from kofu.registry.validate import with_my_number_check_digit

COLUMNS = RESIDENT_HEADER


def generate(directory: Path, n: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / "residents.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        i = 0
        household = 0
        while i < n:
            household += 1
            size = min(rng.choice((1, 1, 2, 2, 3, 4, 5)), n - i)
            address = f"兵庫県加東市社{household % 3000 + 1}番地"
            for k in range(size):
                i += 1
                year = rng.randint(1930, 2010)
                born = f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
                w.writerow(
                    [
                        f"R{i:08d}", f"H{household:08d}", "加東　太郎", "かとう　たろう", born,
                        "male" if k % 2 == 0 else "female", "世帯主" if k == 0 else "子", address, address,
                        "加東　太郎", born, born, born, "", "resident", "", "",
                        with_my_number_check_digit(f"{10_000_000_000 + i:011d}"), f"{20_000_000_000 + i:011d}",
                    ]
                )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--residents", type=int, default=1_000_000)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--csv", type=Path, help="directory of the generated files (generated if absent)")
    parser.add_argument("--no-record", action="store_true", help="print only, do not append to RESULTS.md")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kofu-import-"))
    source = args.csv or work / "csv"
    rows = [("residents", f"{args.residents:,}")]
    if not (source / "residents.csv").is_file():
        start = time.perf_counter()
        generate(source, args.residents)
        rows.append(("generate CSV (not counted)", f"{time.perf_counter() - start:.1f} s"))

    targets: list[tuple[str, str, str | None]] = []
    if not args.no_sqlite:
        targets.append(("SQLite", f"sqlite:///{work / 'kofu.sqlite3'}", None))
    if not args.no_postgres:
        targets.append(("PostgreSQL", args.postgres, f"b_{uuid.uuid4().hex[:12]}"))
    for label, url, schema in targets:
        if schema:
            admin = create_engine_for(url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            engine = create_engine_for(url, connect_args={"options": f"-csearch_path={schema}"})
        else:
            engine = create_engine_for(url)
        upgrade_to_head(engine)
        engine.dispose()  # one pooled connection from here on: the backend measured is the one that imports
        backend = _backend_pid(engine) if schema else None
        server_before = _cpu_of(backend)
        load_before = os.getloadavg()[0]
        cpu = time.process_time()
        start = time.perf_counter()
        report = import_directory(engine, "282286", source)
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu
        load_after = os.getloadavg()[0]
        rows.append((f"{label}: import (validate + write, one transaction), wall", f"{elapsed:.1f} s"))
        rows.append((f"{label}: CPU of the importing process", f"{cpu:.1f} s"))
        if backend is not None:
            rows.append((f"{label}: CPU of the server backend", f"{_cpu_of(backend) - server_before:.1f} s"))
        rows.append((f"{label}: rows per second (wall)", f"{args.residents / elapsed:,.0f} /s"))
        rows.append((f"{label}: load average (1 min) at start / at end", f"{load_before:.1f} / {load_after:.1f}"))
        del report
        engine.dispose()
        if schema:
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
    shutil.rmtree(work)  # the SQLite file and, unless --csv named a directory, the generated CSV
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows.append(("peak RSS of the importing process (all runs)", f"{peak:,.0f} MiB"))
    title = f"Registry import of {args.residents:,} residents"
    if args.no_record:
        for k, v in rows:
            print(f"  {k}  {v}")
    else:
        record(title, rows, note="wall clock measured on a 2-core machine shared with other jobs (load above)")


def _backend_pid(engine: Engine) -> int:
    """The PostgreSQL backend of the pool's one connection (the import reuses it: pool of 1 checked in)."""
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())


def _cpu_of(pid: int | None) -> float:
    """User + system CPU seconds of a local process, 0 if unknown."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    main()
