"""Registry CSV import throughput: validate + write N residents (default 1,000,000) into SQLite and PostgreSQL.

.venv/bin/python bench/bench_import.py [--residents 1000000] [--postgres URL | --no-postgres]
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text

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
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kofu-import-"))
    start = time.perf_counter()
    generate(work / "csv", args.residents)
    rows = [("residents", f"{args.residents:,}"), ("generate CSV", f"{time.perf_counter() - start:.1f} s")]

    targets = [("SQLite", f"sqlite:///{work / 'kofu.sqlite3'}", None)]
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
        start = time.perf_counter()
        report = import_directory(engine, "282286", work / "csv")
        elapsed = time.perf_counter() - start
        rows.append((f"{label}: import (validate + write, one transaction)", f"{elapsed:.1f} s"))
        rows.append((f"{label}: rows per second", f"{args.residents / elapsed:,.0f} /s"))
        del report
        engine.dispose()
        if schema:
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
    record(f"Registry import of {args.residents:,} residents", rows)


if __name__ == "__main__":
    main()
