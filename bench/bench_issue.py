"""Certificates rendered and signed per second (one process, one core), and the whole issuance path.

.venv/bin/python bench/bench_issue.py [--runs 50]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.issuer.conftest import CHILD, HEAD, INCOME, WIFE, seal_png
from tests.issuer.factories import TENANT_TOML

from bench.common import median_ms, record, timed
from kofu.common.clock import JST, FixedClock
from kofu.db import create_engine_for
from kofu.issuer.eligibility import IssueRequest
from kofu.issuer.keys import load_tenant_keys
from kofu.issuer.service import IssuerService
from kofu.issuer.tenant import CertificateType, IssuanceKind, TenantDirectory
from kofu.migrations import upgrade_to_head
from kofu.registry.model import Household
from kofu.registry.store import RegistryStore
from kofu.render import render_pdf, sign_pdf


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="kofu-bench-"))
    (home / "tenants").mkdir()
    (home / "tenants" / "282286.toml").write_text(TENANT_TOML, encoding="utf-8")
    engine = create_engine_for(f"sqlite:///{home / 'kofu.sqlite3'}")
    upgrade_to_head(engine)
    tenants = TenantDirectory(home / "tenants")
    clock = FixedClock(datetime(2026, 11, 25, 10, 0, tzinfo=JST))
    issuer = IssuerService(engine, tenants, home / "keys", clock)
    issuer.ensure_keys(tenants.get("282286"))
    from kofu.registry.model import SealRegistration, SealStatus

    with engine.begin() as conn:
        reg = RegistryStore(conn)
        reg.insert_household(Household("282286", "H1", "R1", HEAD.address))
        for p in (HEAD, WIFE, replace(CHILD, my_number=None)):
            reg.insert_resident(p)
        reg.add_seal(
            SealRegistration("282286", "R1", "IN-1", seal_png(), HEAD.became_resident_on, SealStatus.REGISTERED)
        )
        reg.put_income(INCOME)

    household = IssueRequest(
        "282286", "R1", CertificateType.JUMINHYO, IssuanceKind.HOUSEHOLD, items=("household_head",)
    )
    issued = issuer.issue(household)
    keys = load_tenant_keys(home / "keys", "282286")
    # Rebuild the same document the issuer rendered, to time render and sign separately.
    from kofu.issuer.compose import compose
    from kofu.issuer.service import read_facts

    with engine.connect() as conn:
        facts = read_facts(RegistryStore(conn), household, clock.now().date(), lock=False)
    doc = compose(
        tenants.get("282286"),
        household,
        facts,
        issued_on=clock.now().date(),
        number_text="282286-0000001",
        official_seal_png=issuer.seal_png(tenants.get("282286")),
        verify_hint="https://kofu.example/verify/",
    )
    doc = replace(doc, statement=issued.statement)
    unsigned = render_pdf(doc)
    rows: list[tuple[str, str]] = []
    render = timed(lambda: render_pdf(doc), args.runs)
    sign = timed(lambda: sign_pdf(unsigned, keys.signing), args.runs)
    whole = timed(lambda: issuer.issue(household), args.runs)
    types = {
        t: timed(lambda t=t: issuer.issue(IssueRequest("282286", "R1", t)), max(5, args.runs // 5))
        for t in (CertificateType.KISAI, CertificateType.INKAN, CertificateType.SHOTOKU)
    }
    rows.append(("render_pdf, 住民票 household of 3 (median)", f"{median_ms(render):.1f} ms"))
    rows.append(("sign_pdf PAdES (median)", f"{median_ms(sign):.1f} ms"))
    rows.append(("issue() end to end: check, number, compose, render, sign (median)", f"{median_ms(whole):.1f} ms"))
    for t, samples in types.items():
        rows.append((f"issue() {t.value} (median)", f"{median_ms(samples):.1f} ms"))
    rows.append(("certificates rendered and signed per second, one core", f"{1000 / median_ms(whole):.1f} /s"))
    rows.append(("PDF size, household 住民票", f"{len(issued.pdf) / 1024:.0f} KiB"))
    record("Certificate production (render + sign), SQLite", rows, f"{args.runs} runs per measure after a warm-up")


if __name__ == "__main__":
    main()
