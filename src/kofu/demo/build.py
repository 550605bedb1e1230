"""`kofu demo-data` as a use case: tenants, generated registries, import, keys, showcase.json.

Idempotent: the same seed, population and day give byte-identical CSV files, the same registry
(imported with `replace=True`) and the same showcase; signing keys are created once and then kept.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from kofu.card.cardfile import default_master_key
from kofu.common.clock import SystemClock
from kofu.common.errors import KofuError
from kofu.demo.population import Population, generate, write_registry_dir
from kofu.demo.showcase import missing_cases, showcase
from kofu.demo.tenants import MAIN_TENANT, install_tenants, load_tenants
from kofu.issuer import keys as issuer_keys
from kofu.issuer.service import ensure_tenant_keys
from kofu.issuer.tenant import TenantSettings
from kofu.issuer.window import WindowService
from kofu.jpki import Authority
from kofu.registry.model import Death, MoveOut
from kofu.registry.service import ImportReport, import_directory

DEFAULT_SEED = 20161006  # the day of the Kato City committee paper
DEFAULT_POPULATION = 40_000
DEFAULT_OTHERS = 300

ImportProgress = Callable[[int, int], None]


class Reporter:
    """Hooks for a progress display; the default does nothing."""

    def generated(self, tenant: TenantSettings, pop: Population, seconds: float) -> None:
        pass

    def importing(self, tenant: TenantSettings, pop: Population) -> ImportProgress | None:
        return None

    def imported(self, tenant: TenantSettings, report: ImportReport) -> None:
        pass


@dataclass
class TenantResult:
    code: str
    name: str
    residents: int
    households: int
    seals: int
    showcase: int
    csv_dir: Path
    report: ImportReport | None = None


@dataclass
class DemoResult:
    tenants: list[TenantResult]
    showcase_path: Path
    missing: dict[str, list[str]] = field(default_factory=dict)  # tenant → showcase cases not found
    generate_seconds: float = 0.0
    import_seconds: float = 0.0


def demo_dir(home: Path) -> Path:
    return home / "demo"


def ensure_keys(keys_dir: Path, engine: Engine | None, tenant: TenantSettings) -> None:
    """Document-signing keys for `tenant`, created once and kept on later runs, registered in the database."""
    if engine is None:
        if not issuer_keys.has_tenant_keys(keys_dir, tenant.code):
            issuer_keys.create_tenant_keys(keys_dir, tenant.code, tenant.name_en, tenant.name)
        return
    ensure_tenant_keys(keys_dir, engine, tenant, datetime.now(UTC))


def build_demo(
    *,
    home: Path,
    tenants_dir: Path,
    keys_dir: Path,
    engine: Engine | None,
    today: date,
    seed: int = DEFAULT_SEED,
    population: int = DEFAULT_POPULATION,
    others: int = DEFAULT_OTHERS,
    only: list[str] | None = None,
    reporter: Reporter | None = None,
) -> DemoResult:
    """Installs the demo tenants, generates and writes each registry, imports it (when `engine` is
    given) and writes `home/demo/showcase.json`."""
    reporter = reporter or Reporter()
    tenants = [t for t in load_tenants() if only is None or t.code in only]
    install_tenants(tenants_dir, [t.code for t in tenants])
    base = demo_dir(home)
    results: list[TenantResult] = []
    entries: list[dict[str, Any]] = []
    missing: dict[str, list[str]] = {}
    gen_seconds = import_seconds = 0.0
    for tenant in tenants:
        main = tenant.code == MAIN_TENANT
        started = time.perf_counter()
        pop = generate(tenant.code, size=population if main else others, seed=seed, today=today)
        csv_dir = base / "registry" / tenant.code
        write_registry_dir(pop, csv_dir)
        picked = showcase(pop, tenant.name, all_cases=main)
        elapsed = time.perf_counter() - started
        gen_seconds += elapsed
        reporter.generated(tenant, pop, elapsed)
        gaps = missing_cases(picked, tenant.code, all_cases=main)
        if gaps:
            missing[tenant.code] = gaps
        entries += picked
        result = TenantResult(
            code=tenant.code,
            name=tenant.name,
            residents=len(pop.residents),
            households=pop.households,
            seals=len(pop.seals),
            showcase=len(picked),
            csv_dir=csv_dir,
        )
        if engine is not None:
            started = time.perf_counter()
            result.report = import_directory(
                engine, tenant.code, csv_dir, replace=True, progress=reporter.importing(tenant, pop)
            )
            ensure_keys(keys_dir, engine, tenant)
            import_seconds += time.perf_counter() - started
            reporter.imported(tenant, result.report)
        results.append(result)
    if engine is not None:
        issue_showcase_cards(home, keys_dir, engine, entries, today)
    path = base / "showcase.json"
    base.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(entries, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return DemoResult(results, path, missing, gen_seconds, import_seconds)


DEMO_PIN = "1234"
DEMO_SIGN_PASSWORD = "ABC123"


def issue_showcase_cards(
    home: Path, keys_dir: Path, engine: Engine, entries: list[dict[str, Any]], today: date
) -> None:
    """Every showcase resident gets a My Number card (PIN 1234, signing password ABC123), usable today.

    For the removed cases the card is the one they held before the death or move-out was recorded, and
    it is revoked as the law says (death: both certificates; move-out: the signing certificate)."""
    authority = Authority(engine, keys_dir / "jpki", SystemClock())
    window = WindowService(
        engine,
        authority,
        SystemClock(),
        cards_dir=home / "cards",
        master_key=default_master_key(keys_dir),
    )
    cards_dir = home / "cards"
    for entry in entries:
        path = cards_dir / f"{entry['tenant']}-{entry['resident_id']}.card"
        removed = entry["case"] in ("deceased", "moved-out", "move-out-filed")
        try:
            card = window.issue_card(
                entry["tenant"],
                entry["resident_id"],
                auth_pin=DEMO_PIN,
                sign_password=DEMO_SIGN_PASSWORD,
                out=path,
                usable_from=today,
                require_current=not removed,
            )
        except KofuError as exc:  # e.g. a resident without 個人番号: say so in the showcase
            entry["card"] = None
            entry["card_note"] = exc.message_en
            continue
        if entry["case"] == "deceased":
            window.revoke_as_recorded(
                entry["tenant"], entry["resident_id"], Death(entry["tenant"], entry["resident_id"], today, today)
            )
        elif entry["case"] == "moved-out":
            window.revoke_as_recorded(
                entry["tenant"], entry["resident_id"], MoveOut(entry["tenant"], entry["resident_id"], today, today)
            )
        entry["card"] = str(card.path)
        entry["pin"] = DEMO_PIN
        entry["sign_password"] = DEMO_SIGN_PASSWORD
        entry["cert_serial"] = card.auth_serial
