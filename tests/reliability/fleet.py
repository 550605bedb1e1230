"""The many-process deployment for the crossed-documents runs: N municipalities (always open), residents
with distinct names and cards, one store per municipality with its kiosks, all in a fresh KOFU_HOME and
PostgreSQL schema; and the servers as processes — `kofu serve jpki` once, `kofu serve issuer` and `kofu serve
center` P times each (center i → issuer i over HTTPS with mutual TLS) — with a fault proxy
(`tests.reliability.chaos`) on every center→issuer link and between every issuer and PostgreSQL.

    fleet = Fleet.start(home, tenants=20, residents_each=10, kiosks=200, processes=4)
    fleet.set_knobs(issuer={...}, db={...})     # turn the injected faults up or down while it runs
    fleet.stop()
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from kofu.bench.e2e import free_port, log_tail, spawn_logged, stop_processes
from kofu.bootstrap import Container, Settings
from kofu.common.clock import today_jst
from kofu.db import create_engine_for
from kofu.issuer.pki import ensure_center_api_cert, ensure_pki
from kofu.web import center_service
from tests.conftest import POSTGRES_URL, _postgres_admin
from tests.e2e.test_processes import wait_healthy
from tests.reliability.conftest import size
from tests.reliability.world import insert_residents, write_tenants

ROOT = Path(__file__).resolve().parents[2]
PG_PORT = 5432

# The faults of a crossed-documents run (per chunk of bytes relayed; see tests.reliability.chaos). The
# center's issuer client gives up after 10 s: a stall of 11 s is a timeout.
ISSUER_FAULTS = {
    "delay": 0.01,
    "stall_p": size(0.002, 0.0005),
    "stall_s": 11.0,
    "drop_up": size(0.004, 0.002),
    "drop_down": size(0.004, 0.002),
}
DB_FAULTS = {"delay": 0.002, "stall_p": size(0.001, 0.0002), "stall_s": 1.0}
CALM: dict[str, float] = {}


@dataclass(frozen=True)
class Person:
    tenant: str
    resident_id: str
    name: str
    card: str  # card file


@dataclass
class Fleet:
    home: Path
    schema: str
    url: str  # the database, directly
    people: list[Person]
    kiosks: dict[str, tuple[str, str]]  # kiosk id → (store id, secret)
    processes: int
    order_timeout: float
    env: dict[str, str] = field(default_factory=dict)
    centers: list[str] = field(default_factory=list)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    chaos_config: Path | None = None
    engine: Engine | None = None

    # ---- the world ----

    @classmethod
    def start(
        cls, home: Path, *, tenants: int, residents_each: int, kiosks: int, processes: int, order_timeout: float
    ) -> Fleet:
        admin = _postgres_admin()
        schema = f"fleet_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
        fleet = cls(home, schema, url, [], {}, processes, order_timeout)
        try:
            fleet._build(tenants, residents_each, kiosks)
            fleet._launch()
        except BaseException:
            fleet.stop()
            raise
        return fleet

    def _build(self, tenants: int, residents_each: int, kiosks: int) -> None:
        codes = write_tenants(self.home, tenants)
        c = Container(Settings(home=self.home, database_url=self.url))
        today = today_jst(c.clock)
        for t, code in enumerate(codes):
            c.issuer.ensure_keys(c.tenants.get(code))
            with c.engine.begin() as conn:
                residents = insert_residents(conn, t, code, residents_each)
            for r in residents:
                card = c.window.issue_card(
                    code, r.resident_id, auth_pin="1234", sign_password="ABC123", usable_from=today
                )
                self.people.append(Person(code, r.resident_id, r.name, str(card.path)))
        service = center_service(c)
        for s, code in enumerate(codes):
            service.register_store(f"S{s:02d}", "kofu-mart", code)
        for k in range(kiosks):
            store = f"S{k % len(codes):02d}"
            kid = f"K{k:03d}"
            self.kiosks[kid] = (store, service.register_kiosk(store, kid))
        ensure_pki(c.settings.keys_dir)
        ensure_center_api_cert(c.settings.keys_dir)
        c.engine.dispose()
        self.engine = create_engine_for(self.url, pool_size=1, max_overflow=1)

    # ---- the processes ----

    def _launch(self) -> None:
        self.env = {
            **os.environ,
            "KOFU_HOME": str(self.home),
            "KOFU_DATABASE_URL": self.url,
            "PYTHONPATH": str(ROOT),
        }
        self.env.pop("KOFU_FAULT", None)
        kofu = [sys.executable, "-m", "tests.reliability.capped"]  # `kofu` with at most 3 database connections
        logs = self.home / "logs"
        p_jpki = free_port()
        jpki_url = f"http://127.0.0.1:{p_jpki}"
        links: list[dict[str, Any]] = []
        plan = []
        for i in range(self.processes):
            p_issuer, p_issuer_proxy, p_db_proxy, p_center = free_port(), free_port(), free_port(), free_port()
            links.append({"name": f"issuer-{i}", "kind": "issuer", "listen": p_issuer_proxy, "target": p_issuer})
            links.append({"name": f"db-{i}", "kind": "db", "listen": p_db_proxy, "target": PG_PORT})
            plan.append((p_issuer, p_issuer_proxy, p_db_proxy, p_center))
        self.chaos_config = self.home / "chaos.json"
        self._write_chaos(links, {"issuer": CALM, "db": CALM})
        chaos = spawn_logged(
            [sys.executable, "-m", "tests.reliability.chaos", str(self.chaos_config)], self.env, logs / "chaos.log"
        )
        self.procs.append(chaos)
        ready = self.chaos_config.with_name("chaos-stats.ready")
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert chaos.poll() is None and time.monotonic() < deadline, log_tail(chaos)
            time.sleep(0.1)
        jpki = spawn_logged([*kofu, "serve", "jpki", "--port", str(p_jpki)], self.env, logs / "jpki.log")
        self.procs.append(jpki)
        wait_healthy(f"{jpki_url}/healthz", jpki)
        files = ensure_pki(self.home / "keys")
        mtls = ssl.create_default_context(cafile=str(files.ca_cert))
        mtls.load_cert_chain(str(files.center_cert), str(files.center_key))
        pending = []
        for i, (p_issuer, p_issuer_proxy, p_db_proxy, p_center) in enumerate(plan):
            issuer_env = {**self.env, "KOFU_DATABASE_URL": self.url.replace(f":{PG_PORT}/", f":{p_db_proxy}/")}
            issuer_env["KOFU_TEST_POOL"] = "5"  # behind the slow database, 3 connections queue the issuer's threads
            issuer = spawn_logged(
                [*kofu, "serve", "issuer", "--port", str(p_issuer)], issuer_env, logs / f"issuer-{i}.log"
            )
            center = spawn_logged(
                [
                    *kofu,
                    "serve",
                    "center",
                    "--port",
                    str(p_center),
                    "--issuer-url",
                    f"https://127.0.0.1:{p_issuer_proxy}",
                    "--jpki-url",
                    jpki_url,
                    "--order-timeout",
                    str(self.order_timeout),
                    "--sweep-every",
                    "1",
                ],
                self.env,
                logs / f"center-{i}.log",
            )
            self.procs += [issuer, center]
            pending.append((p_issuer, issuer, p_center, center))
        for p_issuer, issuer, p_center, center in pending:
            wait_healthy(f"https://127.0.0.1:{p_issuer}/healthz", issuer, verify=mtls)
            wait_healthy(f"https://127.0.0.1:{p_center}/healthz", center, verify=self.kiosk_tls())
            self.centers.append(f"https://127.0.0.1:{p_center}")

    def _write_chaos(self, links: list[dict[str, Any]], knobs: dict[str, dict[str, float]]) -> None:
        assert self.chaos_config is not None
        doc = {"links": links, "knobs": knobs, "stats": str(self.chaos_config.with_name("chaos-stats.json")), "seed": 8}
        tmp = self.chaos_config.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc), encoding="utf-8")
        tmp.replace(self.chaos_config)

    def set_knobs(self, *, issuer: dict[str, float], db: dict[str, float]) -> None:
        """New fault knobs for the proxies (they re-read their config within a second)."""
        assert self.chaos_config is not None
        doc = json.loads(self.chaos_config.read_text(encoding="utf-8"))
        self._write_chaos(doc["links"], {"issuer": issuer, "db": db})
        time.sleep(1.5)

    def chaos_stats(self) -> dict[str, dict[str, int]]:
        assert self.chaos_config is not None
        path = self.chaos_config.with_name("chaos-stats.json")
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}  # type: ignore[no-any-return]

    def kiosk_tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(ensure_pki(self.home / "keys").ca_cert))

    def server_pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def stop(self) -> None:
        stop_processes(self.procs, timeout=15)
        if self.engine is not None:
            self.engine.dispose()
        admin = _postgres_admin()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
        admin.dispose()
