"""Open kiosk sessions per GiB: N customers authenticated at the center and not yet finished.

The center keeps no session in memory: a session is a row (`center_sessions`), its nonce
(`center_nonces`) and its audit entries (`center_audit`). So the cost of N open sessions is measured
twice: the growth of this process (Python heap by tracemalloc, resident set size) and the growth of the
database (SQLite pages in use as the connection sees them, WAL included; PostgreSQL relation sizes).
A session's cost is the sum.
"""

from __future__ import annotations

import gc
import os
import time
import tracemalloc
from typing import Any

from sqlalchemy import Engine, text

from kofu.bench.world import PIN, BenchWorld
from kofu.card.cardfile import CardFile, default_master_key
from kofu.card.client import JpkiClient
from kofu.card.readers import InProcessReader
from kofu.center.protocol import AuthenticateBody, b64, challenge_bytes

GIB = 1 << 30
NATIONAL_STORES = 57_000  # every convenience store in Japan with a kiosk, at once
CENTER_TABLES = ("center_sessions", "center_nonces", "center_audit")


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _db_bytes(engine: Engine) -> int:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()
            size = conn.exec_driver_sql("PRAGMA page_size").scalar_one()
            free = conn.exec_driver_sql("PRAGMA freelist_count").scalar_one()
            return int((pages - free) * size)
        total = 0
        for table in CENTER_TABLES:
            total += int(conn.execute(text("SELECT pg_total_relation_size(:t)"), {"t": table}).scalar_one())
        return total


def measure_sessions(world: BenchWorld, n: int) -> dict[str, Any]:
    from kofu.web import center_service

    c = world.container
    service = center_service(c)
    kid, secret = next(iter(world.kiosks.items()))
    kiosk = service.authenticate_kiosk(kid, secret)
    reader = InProcessReader(CardFile(world.cards[0], default_master_key(c.settings.keys_dir)).load())
    reader.connect()
    card = JpkiClient(reader)
    card.select_jpki()
    cert = b64(card.read_auth_certificate())

    def one() -> str:
        opened = service.open_session(kiosk)
        card.verify_auth_pin(PIN)
        sig = card.sign_auth_sha256(challenge_bytes(opened.session_id, kid, opened.nonce))
        body = AuthenticateBody(method="jpki", certificate=cert, signature=b64(sig))
        service.authenticate(kiosk, opened.session_id, body)
        return opened.session_id

    one()  # warm-up: imports, caches, the validator's revocation answer
    gc.collect()
    db0, rss0 = _db_bytes(c.engine), _rss()
    tracemalloc.start()
    heap0 = tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()
    ids = [one() for _ in range(n)]
    elapsed = time.perf_counter() - started
    del ids
    gc.collect()
    heap = tracemalloc.get_traced_memory()[0] - heap0
    tracemalloc.stop()
    rss, db = _rss() - rss0, _db_bytes(c.engine) - db0
    reader.disconnect()
    per_session = (max(heap, 0) + max(db, 0)) / n
    per_gib = int(GIB / per_session) if per_session else 0
    return {
        "sessions": n,
        "authenticate_per_s": round(n / elapsed, 1),
        "heap_bytes_per_session": round(heap / n, 1),
        "rss_bytes_per_session": round(rss / n, 1),
        "db_bytes_per_session": round(db / n, 1),
        "sessions_per_gib": per_gib,
        "fits_57000_in_1gib": per_gib >= NATIONAL_STORES,
    }
