"""What one issuance costs the database, and what one audit chain costs concurrent kiosks.

.venv/bin/python bench/center_per_call.py count [--customers 60] [--database URL] [--transport direct|asgi]
    One in-process kiosk runs the bench's certificate mix back to back: transactions and statements per
    issuance (SQLAlchemy events on the deployment's engine), the pool's liveness pings (a round trip each,
    not a statement) and CPU ms per issuance of the whole process.
    `--transport`: the kiosk → center link (`direct`: LocalCenter, the default; `asgi`: the FastAPI app).
.venv/bin/python bench/center_per_call.py append [--database URL]
    CPU µs of one audit append in a transaction of its own (2,000 back to back, one chain; SQLite by default).
.venv/bin/python bench/center_per_call.py chains [--database URL]
    16 threads append to an audit log on PostgreSQL, each transaction holding its chain's lock 5 ms more
    (as the rest of a center transaction does): appends/s with one chain and with 64 (a chain per kiosk).
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import MetaData, event, text

from kofu.bench.e2e import FLOAT, MIX, _readers, _warm_up, fresh_postgres_schema, in_process_clients
from kofu.bench.world import PIN, build_world
from kofu.db import create_engine_for
from kofu.db.audit import AuditLog, audit_table, chain_for
from kofu.kiosk.devices import CardSlot, CoinVendor, Printer, ReceiptPrinter, Speaker
from kofu.kiosk.flow import Devices, Kiosk, Script

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def count(customers: int, database: str | None, transport: str = "direct") -> None:
    schema = fresh_postgres_schema(database) if database else contextlib.nullcontext(None)
    with schema as url:
        base = Path(tempfile.mkdtemp(prefix="kofu-count-"))
        world = build_world(base / "home", households=1, kiosks=1, database_url=url)
        out = base / "tray"
        out.mkdir()
        _warm_up(world, out, transport=transport)
        reader = _readers(world, 1)[0]
        engine = world.container.engine
        seen = {"transactions": 0, "statements": 0, "pings": 0}
        ping = engine.dialect.do_ping

        def counted_ping(dbapi_conn: Any) -> bool:
            seen["pings"] += 1
            return bool(ping(dbapi_conn))

        def begin(_conn: Any) -> None:
            seen["transactions"] += 1

        def statement(*_args: Any) -> None:
            seen["statements"] += 1

        def customer(kiosk: Kiosk, i: int) -> None:
            ctype, kind, items = MIX[i % len(MIX)]
            script = Script(card=reader, pins=[PIN], type=ctype, kind=kind, items=items, coins=[500])
            assert kiosk.run(script).ok

        with in_process_clients(world, transport) as clients:
            devices = Devices(CardSlot(), CoinVendor(FLOAT), Printer(out), Speaker(), ReceiptPrinter(out))
            kiosk = Kiosk(clients[0], devices)
            for i in range(8):
                customer(kiosk, i)
            event.listen(engine, "begin", begin)
            event.listen(engine, "before_cursor_execute", statement)
            engine.dialect.do_ping = counted_ping  # type: ignore[method-assign]
            cpu, wall = time.process_time(), time.perf_counter()
            for i in range(customers):
                customer(kiosk, i)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        per = {k: round(v / customers, 1) for k, v in seen.items()}
        print(
            f"{engine.dialect.name} ({transport}): {per['transactions']} transactions, {per['statements']} statements, "
            f"{per['pings']} pings, "
            f"{cpu / customers * 1000:.1f} CPU ms, {wall / customers * 1000:.1f} wall ms per issuance"
        )
        engine.dispose()
        shutil.rmtree(base, ignore_errors=True)


def append(database: str | None) -> None:
    schema = fresh_postgres_schema(database) if database else contextlib.nullcontext(None)
    with schema as url:
        base = Path(tempfile.mkdtemp(prefix="kofu-append-"))
        engine = create_engine_for(url or f"sqlite:///{base / 'audit.sqlite3'}")
        meta = MetaData()
        table = audit_table("bench_audit", meta)
        meta.create_all(engine)
        at = datetime.now(UTC)

        def run(n: int) -> None:
            for _ in range(n):
                with engine.begin() as conn:
                    AuditLog(conn, table, 3).append("payment.in", at, order="0" * 32, kiosk="K1", amount=500)

        run(200)
        cpu = time.process_time()
        run(2000)
        cpu = time.process_time() - cpu
        print(f"{engine.dialect.name}: {cpu / 2000 * 1e6:.0f} µs CPU per audit append (its transaction included)")
        engine.dispose()
        shutil.rmtree(base, ignore_errors=True)


def chains(database: str) -> None:
    admin = create_engine_for(database, isolation_level="AUTOCOMMIT")
    schema = f"chains_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_engine_for(database, connect_args={"options": f"-csearch_path={schema}"}, pool_size=20)
    meta = MetaData()
    table = audit_table("bench_audit", meta)
    meta.create_all(engine)
    at = datetime.now(UTC)

    def run(n_chains: int, per_thread: int = 40, threads: int = 16) -> float:
        def work(k: int) -> None:
            chain = 0 if n_chains == 1 else chain_for(f"K{k}", n_chains)
            for i in range(per_thread):
                with engine.begin() as conn:
                    AuditLog(conn, table, chain).append("bench", at, i=i)
                    time.sleep(0.005)

        start = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(work, range(threads)))
        return threads * per_thread / (time.perf_counter() - start)

    try:
        for n in (1, 64, 1, 64):
            print(f"{n} chain(s): {run(n):.0f} appends/s")
        with engine.connect() as conn:
            log = AuditLog(conn, table)
            print(f"verify: {log.verify() or 'intact'} ({log.count()} entries in {log.chains()} chains)")
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["count", "append", "chains"])
    parser.add_argument("--customers", type=int, default=60)
    parser.add_argument("--database")
    parser.add_argument("--transport", choices=["direct", "asgi"], default="direct", help="kiosk → center link")
    args = parser.parse_args()
    if args.what == "count":
        count(args.customers, args.database, args.transport)
    elif args.what == "append":
        append(args.database)
    else:
        chains(args.database or POSTGRES)


if __name__ == "__main__":
    main()
