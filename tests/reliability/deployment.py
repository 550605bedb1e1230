"""The actors as separate processes on loopback against one PostgreSQL schema, each logging JSON lines to
its own file — the rig for the request-id, personal-data, shutdown and crash tests.

    d = Deployment.start(tmp)          # kofu serve jpki | issuer | center, demo household, two cards
    d.kiosk()                          # a CenterClient over HTTPS, as a store's kiosk holds it
    d.logs("center")                   # the parsed JSON log lines of that service
    d.kill("issuer"); d.restart("issuer")
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import text

from kofu.bench.e2e import spawn_logged, stop_processes
from kofu.bootstrap import Container
from kofu.card.cardfile import CardFile, default_master_key
from kofu.card.client import JpkiClient
from kofu.card.readers import InProcessReader
from kofu.center.client import CenterClient
from kofu.center.protocol import Authenticated, challenge_bytes
from kofu.cli.center import center_service
from kofu.common.clock import JST
from kofu.issuer.eligibility import fiscal_year_of
from kofu.issuer.pki import ensure_center_api_cert, ensure_pki
from kofu.issuer.window import IssuedCard
from kofu.registry.model import Household, SealRegistration, SealStatus
from kofu.registry.store import RegistryStore
from tests.conftest import POSTGRES_URL, _postgres_admin
from tests.e2e.test_processes import ALWAYS_OPEN, KOFU, free_port, wait_healthy
from tests.issuer.conftest import CHILD, HEAD, INCOME, WIFE, seal_png

T = "282286"
PEOPLE = (HEAD, WIFE, CHILD)


@dataclass
class Deployment:
    home: Path
    schema: str
    url: str
    env: dict[str, str]
    ports: dict[str, int]
    secret: str
    cards: dict[str, IssuedCard]
    observer: Container
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    # ---- life cycle ----

    @classmethod
    def start(cls, home: Path) -> Deployment:
        admin = _postgres_admin()
        schema = f"rel_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
        env = {**os.environ, "KOFU_HOME": str(home), "KOFU_DATABASE_URL": url}
        (home / "tenants").mkdir(parents=True)
        (home / "tenants" / f"{T}.toml").write_text(ALWAYS_OPEN, encoding="utf-8")
        old = {k: os.environ.get(k) for k in ("KOFU_HOME", "KOFU_DATABASE_URL")}
        os.environ.update({"KOFU_HOME": str(home), "KOFU_DATABASE_URL": url})
        try:
            c = Container()
            today = c.clock.now().astimezone(JST).date()
            with c.engine.begin() as conn:
                reg = RegistryStore(conn)
                reg.insert_household(Household(T, "H1", "R1", HEAD.address))
                for person in PEOPLE:
                    reg.insert_resident(person)
                reg.add_seal(
                    SealRegistration(T, "R1", "IN-1", seal_png(), today.replace(year=2010), SealStatus.REGISTERED)
                )
                reg.put_income(replace(INCOME, fiscal_year=fiscal_year_of(today)))
            c.issuer.ensure_keys(c.tenants.get(T))
            cards = {
                rid: c.window.issue_card(T, rid, auth_pin="1234", sign_password="ABC123", usable_from=today)
                for rid in ("R1", "R2")
            }
            service = center_service(c)
            service.register_store("S1", "kofu-mart", T)
            secret = service.register_kiosk("S1", "K1")
            ensure_pki(c.settings.keys_dir)
            ensure_center_api_cert(c.settings.keys_dir)
            c.engine.dispose()
            observer = Container()
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        ports = {"jpki": free_port(), "issuer": free_port(), "center": free_port()}
        d = cls(home, schema, url, env, ports, secret, cards, observer)
        for name in ("jpki", "issuer", "center"):
            d.launch(name)
        return d

    def args(self, name: str) -> list[str]:
        port = str(self.ports[name])
        if name == "center":
            return ["serve", "center", "--port", port, "--issuer-url", self.issuer_url, "--jpki-url", self.jpki_url]
        return ["serve", name, "--port", port]

    def launch(self, name: str) -> None:
        proc = spawn_logged([KOFU, *self.args(name)], self.env, self.home / f"{name}.log")
        self.procs[name] = proc
        if name == "jpki":
            wait_healthy(f"{self.jpki_url}/healthz", proc)
        elif name == "issuer":
            wait_healthy(f"{self.issuer_url}/healthz", proc, verify=self.center_tls())
        else:
            wait_healthy(f"{self.center_url}/healthz", proc, verify=self.kiosk_tls())

    def kill(self, name: str) -> None:
        """kill -9: no shutdown code runs."""
        proc = self.procs[name]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def terminate(self, name: str, timeout: float = 40) -> int:
        proc = self.procs[name]
        proc.send_signal(signal.SIGTERM)
        return proc.wait(timeout=timeout)

    def stop(self) -> None:
        stop_processes([p for p in self.procs.values() if p.poll() is None], timeout=15)
        self.observer.engine.dispose()
        admin = _postgres_admin()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{self.schema}" CASCADE'))
        admin.dispose()

    # ---- talking to it ----

    @property
    def jpki_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['jpki']}"

    @property
    def issuer_url(self) -> str:
        return f"https://127.0.0.1:{self.ports['issuer']}"

    @property
    def center_url(self) -> str:
        return f"https://127.0.0.1:{self.ports['center']}"

    @property
    def ca(self) -> Path:
        return ensure_pki(self.home / "keys").ca_cert

    def kiosk_tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))

    def center_tls(self) -> ssl.SSLContext:
        files = ensure_pki(self.home / "keys")
        ctx = ssl.create_default_context(cafile=str(files.ca_cert))
        ctx.load_cert_chain(str(files.center_cert), str(files.center_key))
        return ctx

    def kiosk(self) -> CenterClient:
        return CenterClient(self.center_url, "K1", self.secret, verify=self.kiosk_tls(), timeout=60)

    def card(self, resident_id: str) -> JpkiClient:
        reader = InProcessReader(CardFile(self.cards[resident_id].path, default_master_key(self.home / "keys")).load())
        reader.connect()
        client = JpkiClient(reader)
        client.select_jpki()
        return client

    def login(
        self, center: CenterClient, resident_id: str, *, request_id: str | None = None
    ) -> tuple[str, Authenticated]:
        card = self.card(resident_id)
        opened = center.open_session(request_id=request_id)
        card.verify_auth_pin("1234")
        signature = card.sign_auth_sha256(challenge_bytes(opened.session_id, center.kiosk_id, opened.nonce))
        return opened.session_id, center.authenticate_jpki(opened.session_id, card.read_auth_certificate(), signature)

    def log_text(self, name: str) -> str:
        return (self.home / f"{name}.log").read_text(encoding="utf-8", errors="replace")

    def logs(self, name: str) -> list[dict[str, Any]]:
        """The JSON log lines of a service (a line that is not JSON fails the test: logs are structured)."""
        lines = [line for line in self.log_text(name).splitlines() if line.strip()]
        return [json.loads(line) for line in lines]
