"""The actors as separate processes on loopback, against PostgreSQL, the way a deployment runs them:

    kofu serve jpki (HTTP: OCSP/CRL)   kofu serve issuer (HTTPS, mutual TLS)   kofu serve center (HTTPS)

and `kofu kiosk run --center https://…` as the customer. Every printed document is verified; refusals,
a printer jam and the audit chain are checked; the issuer refuses a client without the center's certificate.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text, update

# _wait_healthy is private in kofu.bench.e2e (its owner may make it public); used as it is
from kofu.bench.e2e import _wait_healthy, free_port, spawn_logged, stop_processes
from kofu.bench.tenant import ALWAYS_OPEN_TOML  # open around the clock and all year: CI may run at any hour
from kofu.bootstrap import Container
from kofu.center.store import center_audit
from kofu.cli.center import center_service
from kofu.common.clock import JST
from kofu.db import create_engine_for
from kofu.issuer.eligibility import fiscal_year_of
from kofu.issuer.pki import ensure_center_api_cert, ensure_pki
from kofu.issuer.store import issuances
from kofu.jpki import RevocationReason
from kofu.registry.model import Household, SealRegistration, SealStatus
from kofu.registry.store import RegistryStore
from kofu.verify.service import Outcome
from tests.conftest import POSTGRES_URL, _postgres_admin
from tests.issuer.conftest import CHILD, HEAD, INCOME, WIFE, seal_png

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

KOFU = str(Path(sys.executable).with_name("kofu"))

# tests/reliability imports these three from here (they could come from kofu.bench.* directly)
ALWAYS_OPEN = ALWAYS_OPEN_TOML


def wait_healthy(url: str, proc: subprocess.Popen[bytes], verify: Any = True) -> None:
    """kofu.bench.e2e's wait for a server's /healthz (60 s), with TLS verification optional."""
    _wait_healthy(url, proc, verify)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    home = tmp_path_factory.mktemp("home")
    admin = _postgres_admin()
    schema = f"e2e_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    env = {**os.environ, "KOFU_HOME": str(home), "KOFU_DATABASE_URL": url}
    old = {k: os.environ.get(k) for k in ("KOFU_HOME", "KOFU_DATABASE_URL")}
    os.environ.update({"KOFU_HOME": str(home), "KOFU_DATABASE_URL": url})
    procs: list[subprocess.Popen[bytes]] = []
    try:
        (home / "tenants").mkdir()
        (home / "tenants" / "282286.toml").write_text(ALWAYS_OPEN_TOML, encoding="utf-8")
        c = Container()
        today = c.clock.now().astimezone(JST).date()
        with c.engine.begin() as conn:
            reg = RegistryStore(conn)
            reg.insert_household(Household("282286", "H1", "R1", HEAD.address))
            for person in (HEAD, WIFE, CHILD):
                reg.insert_resident(person)
            reg.add_seal(SealRegistration("282286", "R1", "IN-1", seal_png(), date(2010, 1, 1), SealStatus.REGISTERED))
            reg.put_income(replace(INCOME, fiscal_year=fiscal_year_of(today)))
        c.issuer.ensure_keys(c.tenants.get("282286"))
        head_card = c.window.issue_card("282286", "R1", auth_pin="1234", sign_password="ABC123", usable_from=today)
        wife_card = c.window.issue_card("282286", "R2", auth_pin="1234", sign_password="ABC123", usable_from=today)
        c.window.revoke_card(wife_card.auth_serial, RevocationReason.LOSS)
        service = center_service(c)
        service.register_store("S1", "kofu-mart", "282286")
        secret = service.register_kiosk("S1", "K1")
        files = ensure_pki(c.settings.keys_dir)
        ensure_center_api_cert(c.settings.keys_dir)
        c.engine.dispose()

        p_jpki, p_issuer, p_center = free_port(), free_port(), free_port()
        jpki_url = f"http://127.0.0.1:{p_jpki}"
        issuer_url = f"https://127.0.0.1:{p_issuer}"
        center_url = f"https://127.0.0.1:{p_center}"
        for args in (
            ["serve", "jpki", "--port", str(p_jpki)],
            ["serve", "issuer", "--port", str(p_issuer)],
            ["serve", "center", "--port", str(p_center), "--issuer-url", issuer_url, "--jpki-url", jpki_url],
        ):
            procs.append(spawn_logged([KOFU, *args], env, home / "logs" / f"{args[1]}.log"))
        wait_healthy(f"{jpki_url}/healthz", procs[0])
        ctx = ssl.create_default_context(cafile=str(files.ca_cert))
        ctx.load_cert_chain(str(files.center_cert), str(files.center_key))
        wait_healthy(f"{issuer_url}/healthz", procs[1], verify=ctx)
        wait_healthy(f"{center_url}/healthz", procs[2], verify=ssl.create_default_context(cafile=str(files.ca_cert)))
        observer = Container()  # the test's own view of the deployment (verifier, issuer records)
        yield {
            "observer": observer,
            "env": env, "home": home, "center": center_url, "issuer": issuer_url, "ca": str(files.ca_cert),
            "secret": secret, "head_card": head_card, "wife_card": wife_card, "url": url,
        }  # fmt: skip
    finally:
        if "observer" in locals():
            observer.engine.dispose()
        stop_processes(procs)
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def kiosk(d: dict[str, object], card: Path, ctype: str, out: Path, *extra: str) -> tuple[int, dict[str, object]]:
    args = [
        KOFU, "kiosk", "run", "--center", str(d["center"]), "--ca", str(d["ca"]), "--kiosk-id", "K1",
        "--secret", str(d["secret"]), "--card", str(card), "--pin", "1234", "--type", ctype,
        "--pay", "500", "--out", str(out), "--json", *extra,
    ]  # fmt: skip
    done = subprocess.run(args, env=d["env"], capture_output=True, text=True, timeout=120)  # type: ignore[call-overload]
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, done.stdout + done.stderr
    return done.returncode, json.loads(lines[-1])


@pytest.mark.parametrize("ctype", ["juminhyo", "kisai", "inkan", "shotoku"])
def test_every_type_prints_and_verifies(deployment: dict[str, object], ctype: str, tmp_path: Path) -> None:
    extra = ("--items", "address") if ctype == "kisai" else ()
    code, summary = kiosk(deployment, deployment["head_card"].path, ctype, tmp_path, *extra)  # type: ignore[attr-defined]
    assert code == 0 and summary["ok"], summary
    assert summary["change"] == 250 and summary["total"] == 250
    files = [Path(f) for f in summary["files"]]  # type: ignore[union-attr]
    assert files and all(f.exists() for f in files)
    verdict = deployment["observer"].verifier.verify_pdf(files[0].read_bytes())  # type: ignore[attr-defined]
    assert verdict.outcome is Outcome.VALID and f"282286-{verdict.number:07d}" == summary["number"]


def test_a_revoked_card_is_refused_without_charge(deployment: dict[str, object], tmp_path: Path) -> None:
    code, summary = kiosk(deployment, deployment["wife_card"].path, "juminhyo", tmp_path)  # type: ignore[attr-defined]
    assert code == 2 and summary["refusal"] == "revoked", summary
    assert not list(tmp_path.glob("*.pdf"))


def test_a_printer_jam_refunds_and_voids(deployment: dict[str, object], tmp_path: Path) -> None:
    code, summary = kiosk(deployment, deployment["head_card"].path, "juminhyo", tmp_path, "--printer-fault", "jam")  # type: ignore[attr-defined]
    assert code == 3 and summary["refund"] == 500, summary
    assert summary["refusal"] == "printer-jam" and not list(tmp_path.glob("*.pdf"))
    observer: Container = deployment["observer"]  # type: ignore[assignment]
    with observer.engine.connect() as conn:
        rows = conn.execute(
            select(issuances.c.status, issuances.c.void_reason).where(issuances.c.order_id == summary["order_id"])
        ).all()
    assert rows and all(status == "voided" for status, _ in rows), rows


def test_the_issuer_refuses_a_client_without_the_center_certificate(deployment: dict[str, object]) -> None:
    with pytest.raises(httpx.HTTPError):
        httpx.get(
            f"{deployment['issuer']}/healthz",
            verify=ssl.create_default_context(cafile=str(deployment["ca"])),
            timeout=5,
        )


def test_the_audit_chains_verify_and_catch_an_edit(deployment: dict[str, object], tmp_path: Path) -> None:
    env = deployment["env"]
    ok = subprocess.run([KOFU, "audit", "verify"], env=env, capture_output=True, text=True, timeout=60)  # type: ignore[call-overload]
    assert ok.returncode == 0, ok.stdout + ok.stderr
    engine = create_engine_for(str(deployment["url"]))
    with engine.begin() as conn:
        conn.execute(update(center_audit).where(center_audit.c.seq == 2).values(kind="tampered"))
    engine.dispose()
    bad = subprocess.run([KOFU, "audit", "verify"], env=env, capture_output=True, text=True, timeout=60)  # type: ignore[call-overload]
    assert bad.returncode == 1 and "entry 2" in bad.stdout
