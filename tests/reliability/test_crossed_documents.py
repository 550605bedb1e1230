"""Crossed documents (DOMAIN.md §6) across processes: many headless kiosks at many stores, in several load
processes, residents of many municipalities, `kofu serve center` and `kofu serve issuer` P times each over
HTTPS/mTLS on one PostgreSQL — with random pauses before every kiosk call, a slow and cut center→issuer link
(requests that never arrive, answers lost after the issuer committed, stalls longer than the center's
timeout), a slow database under every issuer, printer jams and printing slower than the order timeout.
Every printed document is checked against the card that asked for it: the issuer's record behind its
statement (resident, order, municipality), the name in its text, the QR code on a sample. Then the books:
every order closed and matched or refunded, numbers 1…n per municipality, `kofu audit verify`.

And two requests within a millisecond: two kiosks at two stores, different residents (two municipalities,
or one), their `documents` calls released together, to one center process or to two."""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kofu.bench.e2e import log_tail, process_cpu_seconds, spawn_logged
from kofu.card.cardfile import default_master_key
from kofu.issuer.pki import ensure_pki
from tests.e2e.test_processes import KOFU
from tests.reliability.checks import ledger_problems
from tests.reliability.conftest import size
from tests.reliability.fleet import CALM, DB_FAULTS, ISSUER_FAULTS, Fleet

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.reliability]

KIOSKS = size(24, 200)
TENANTS = size(4, 20)
RESIDENTS = size(3, 10)
ISSUANCES = int(os.environ.get("KOFU_RELIABILITY_VISITS", size(120, 10_000)))  # override: a size in between
PROCESSES = size(2, 4)  # center + issuer processes each
LOADGEN = size(2, 4)  # kiosk processes
PAIR_PROCESSES = size(2, 6)  # each drives one pair of kiosks, round after round
PAIRS = int(os.environ.get("KOFU_RELIABILITY_PAIRS", size(100, 2_000)))
ORDER_TIMEOUT = size(10, 30)  # seconds; a slow print takes longer
PROGRESS_EVERY = size(20, 250)
# a run that must end by a deadline: no new visit starts after this many seconds; the checks still run
MAX_SECONDS = float(os.environ.get("KOFU_RELIABILITY_MAX_SECONDS", "inf"))
PAIRS_MAX_SECONDS = float(os.environ.get("KOFU_RELIABILITY_PAIRS_MAX_SECONDS", MAX_SECONDS))
P_JAM = 0.03
P_SLOW_PRINT = 0.01
THINK = size(0.05, 12.0)  # seconds, at most, before every kiosk call (a customer at the screen)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    f = Fleet.start(
        tmp_path_factory.mktemp("fleet"),
        tenants=TENANTS,
        residents_each=RESIDENTS,
        kiosks=KIOSKS,
        processes=PROCESSES,
        order_timeout=ORDER_TIMEOUT,
    )
    try:
        yield f
    finally:
        f.stop()


def say(line: str) -> None:
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {line}\n")
    sys.stderr.flush()


def base_config(fleet: Fleet, out: Path, seed: int) -> dict[str, Any]:
    return {
        "centers": fleet.centers,
        "ca": str(ensure_pki(fleet.home / "keys").ca_cert),
        "master_key": default_master_key(fleet.home / "keys").hex(),
        "db_url": fleet.url,
        "people": [[p.tenant, p.resident_id, p.name, p.card] for p in fleet.people],
        "seed": seed,
        "out": str(out),
        "qr_every": 20,
        "think": THINK,
        "p_jam": P_JAM,
        "p_slow_print": P_SLOW_PRINT,
        "slow_print_s": ORDER_TIMEOUT + 2,
        "stop": str(out / "STOP"),
    }


def start_workers(fleet: Fleet, configs: list[dict[str, Any]], out: Path) -> list[subprocess.Popen[bytes]]:
    procs = []
    for i, cfg in enumerate(configs):
        path = out / f"worker-{i}.json"
        path.write_text(json.dumps(cfg), encoding="utf-8")
        procs.append(
            spawn_logged(
                [sys.executable, "-m", "tests.reliability.kiosks", str(path)], fleet.env, out / f"worker-{i}.log"
            )
        )
    return procs


def read_results(paths: list[Path]) -> list[dict[str, Any]]:
    records = []
    for p in paths:
        if p.exists():
            for line in p.read_text(encoding="utf-8").splitlines():
                if line.endswith("}"):
                    records.append(json.loads(line))
    return records


def summary(records: list[dict[str, Any]]) -> str:
    outcomes = Counter(r.get("refusal") or r["status"] for r in records)
    problems = sum(1 for r in records if r.get("problems"))
    printed = sum(r.get("printed", 0) for r in records)
    return f"{len(records)} visits, {printed} printed, mismatches {problems}, {dict(outcomes)}"


def watch(
    procs: list[subprocess.Popen[bytes]], paths: list[Path], total: int, label: str, stop: Path, limit: float
) -> list[dict[str, Any]]:
    """Waits for the kiosk processes, printing counts every PROGRESS_EVERY visits (stderr)."""
    started = time.monotonic()
    reported, last_count, last_change = 0, 0, time.monotonic()
    while any(p.poll() is None for p in procs):
        time.sleep(2)
        count = sum(p.read_text(encoding="utf-8").count("\n") for p in paths if p.exists())
        if count != last_count:
            last_count, last_change = count, time.monotonic()
        if time.monotonic() - started > limit and not stop.exists():
            stop.parent.mkdir(parents=True, exist_ok=True)
            stop.touch()
            say(f"{label}: out of time after {limit} s at {count}/{total}: no new visit starts")
        if count >= reported + PROGRESS_EVERY:
            reported = count - count % PROGRESS_EVERY
            rate = count / (time.monotonic() - started)
            say(f"{label}: {summary(read_results(paths))} ({rate:.1f} visits/s)")
        if time.monotonic() - last_change > 600:
            tails = "\n".join(log_tail(p) for p in procs)
            raise AssertionError(f"{label}: no visit finished for 10 minutes at {count}/{total}\n{tails}")
    for p in procs:
        assert p.returncode == 0, log_tail(p)
    records = read_results(paths)
    say(f"{label} done in {time.monotonic() - started:.0f} s: {summary(records)}")
    return records


def settle(fleet: Fleet, within: float) -> list[str]:
    """Waits while the centers' sweepers close what timed out and void what waits; the problems left."""
    assert fleet.engine is not None
    deadline = time.monotonic() + within
    while True:
        with fleet.engine.connect() as conn:
            problems = ledger_problems(conn)
        if not problems or time.monotonic() > deadline:
            return problems
        time.sleep(1)


def audit_verify(fleet: Fleet) -> subprocess.CompletedProcess[str]:
    return subprocess.run([KOFU, "audit", "verify"], env=fleet.env, capture_output=True, text=True, timeout=600)


def test_every_printed_document_belongs_to_the_card_that_asked(fleet: Fleet, tmp_path: Path) -> None:
    fleet.set_knobs(issuer=ISSUER_FAULTS, db=DB_FAULTS)
    kiosk_ids = sorted(fleet.kiosks)
    per = [ISSUANCES // KIOSKS + (1 if k < ISSUANCES % KIOSKS else 0) for k in range(KIOSKS)]
    configs = []
    for w in range(LOADGEN):
        cfg = base_config(fleet, tmp_path / "out", seed=8)
        cfg |= {"mode": "crossed", "results": str(tmp_path / f"results-{w}.jsonl")}
        cfg["kiosks"] = [
            [kid, fleet.kiosks[kid][1], k % PROCESSES, per[k]] for k, kid in enumerate(kiosk_ids) if k % LOADGEN == w
        ]
        configs.append(cfg)
    servers = fleet.server_pids()
    cpu0 = sum(process_cpu_seconds(p) for p in servers)
    say(
        f"crossed: {KIOSKS} kiosks in {LOADGEN} processes, {TENANTS} municipalities, {len(fleet.people)} residents,"
        f" {PROCESSES} center + {PROCESSES} issuer processes, {ISSUANCES} visits; faults {ISSUER_FAULTS} {DB_FAULTS}"
    )
    procs = start_workers(fleet, configs, tmp_path)
    paths = [Path(c["results"]) for c in configs]
    try:
        records = watch(procs, paths, ISSUANCES, "crossed", tmp_path / "out" / "STOP", MAX_SECONDS)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    server_cpu = sum(process_cpu_seconds(p) for p in servers) - cpu0
    fleet.set_knobs(issuer=CALM, db=CALM)
    chaos = fleet.chaos_stats()
    left = settle(fleet, within=4 * ORDER_TIMEOUT + 30)

    exceptions = [r for r in records if r["status"] == "exception"]
    mismatches = [r for r in records if r.get("problems")]
    assert not mismatches, [(r["kiosk"], r.get("order"), r["problems"]) for r in mismatches[:5]]
    assert not exceptions, exceptions[:5]
    for r in records:
        if r["ok"]:
            assert r["paid"] - r["change"] == r["total"] == 250, r
            assert r["printed"] == 1, r
        elif not r["slow"]:
            assert r["refund"] == r["paid"] or r["paid"] == 0, r
    assert not left, left[:10]
    verify = audit_verify(fleet)
    assert verify.returncode == 0, verify.stdout + verify.stderr

    completed = sum(1 for r in records if r["ok"])
    outcomes = Counter(r.get("refusal") or r["status"] for r in records)
    assert completed >= len(records) * 0.7, outcomes
    assert sum(1 for r in records if r["jam"] and not r["ok"]) > 0
    issuer_faults = chaos.get("issuer", {})
    assert issuer_faults.get("dropped_up", 0) + issuer_faults.get("dropped_down", 0) > 0, chaos
    slow = [r for r in records if r["slow"]]
    say(
        f"crossed final: {len(records)} visits, {completed} completed, {sum(r['printed'] for r in records)} printed"
        f" and checked ({sum(r['qr'] for r in records)} QR), mismatches {len(mismatches)}, exceptions"
        f" {len(exceptions)}, outcomes {dict(outcomes)}, jams {sum(r['jam'] for r in records)}, slow prints"
        f" {len(slow)} (completed {sum(r['ok'] for r in slow)}, printed {sum(r['printed'] for r in slow)},"
        f" kiosk refunds {sum(r['refund'] for r in slow)} yen), injected {chaos}, books: {len(left)} problems,"
        f" audit verify ok; server CPU {server_cpu * 1000 / max(completed, 1):.1f} ms per completed issuance"
    )
    assert len(records) == ISSUANCES, f"stopped at {len(records)} of {ISSUANCES} visits (KOFU_RELIABILITY_MAX_SECONDS)"


def test_two_requests_within_a_millisecond(fleet: Fleet, tmp_path: Path) -> None:
    fleet.set_knobs(issuer=CALM, db=CALM)
    rng = random.Random(1)
    by_tenant: dict[str, list[int]] = {}
    for i, person in enumerate(fleet.people):
        by_tenant.setdefault(person.tenant, []).append(i)
    tenants = sorted(by_tenant)
    configs, variants = [], {}
    for w in range(PAIR_PROCESSES):
        kiosks = (f"K{2 * w:03d}", f"K{2 * w + 1:03d}")
        assert fleet.kiosks[kiosks[0]][0] != fleet.kiosks[kiosks[1]][0]  # two stores
        rounds_a, rounds_b = [], []
        for r in range(PAIRS // PAIR_PROCESSES):
            two_tenants, two_centers = r % 2 == 0, (r // 2) % 2 == 0 and PROCESSES > 1
            ta = rng.choice(tenants)
            a = rng.choice(by_tenant[ta])
            if two_tenants:
                b = rng.choice(by_tenant[rng.choice([t for t in tenants if t != ta])])
            else:
                b = rng.choice([i for i in by_tenant[ta] if i != a])
            center_a = rng.randrange(PROCESSES)
            center_b = (center_a + 1) % PROCESSES if two_centers else center_a
            rounds_a.append([a, center_a])
            rounds_b.append([b, center_b])
            variants[kiosks[0], r] = (
                "two municipalities" if two_tenants else "one municipality",
                "two centers" if two_centers else "one center",
            )
        cfg = base_config(fleet, tmp_path / "out", seed=9 + w)
        cfg |= {"p_jam": 0.0, "p_slow_print": 0.0, "think": 0.0, "mode": "pair"}
        cfg |= {"results": str(tmp_path / f"pairs-{w}.jsonl"), "pairs": [rounds_a, rounds_b]}
        cfg |= {"pair_kiosks": [[kid, fleet.kiosks[kid][1]] for kid in kiosks]}
        configs.append(cfg)
    total = PAIR_PROCESSES * (PAIRS // PAIR_PROCESSES)
    say(f"pairs: {total} pairs from {PAIR_PROCESSES} processes (one pair of kiosks each) on {PROCESSES} centers")
    procs = start_workers(fleet, configs, tmp_path)
    try:
        records = watch(
            procs,
            [Path(c["results"]) for c in configs],
            2 * total,
            "pairs",
            tmp_path / "out" / "STOP",
            PAIRS_MAX_SECONDS,
        )
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    left = settle(fleet, within=4 * ORDER_TIMEOUT + 30)

    by_key = {(r["kiosk"], r["round"]): r for r in records}
    assert len(by_key) == len(records)
    mismatches = [r for r in records if r.get("problems")]
    assert not mismatches, [(r["kiosk"], r.get("order"), r["problems"]) for r in mismatches[:5]]
    assert not [r for r in records if r["status"] == "exception"]
    skews = []
    by_variant: Counter[tuple[str, str]] = Counter()
    done = 0
    for (kid_a, r), v in variants.items():
        ra, rb = by_key.get((kid_a, r)), by_key.get((f"K{int(kid_a[1:]) + 1:03d}", r))
        if ra is None or rb is None:
            assert ra is None and rb is None, (kid_a, r)  # both kiosks of a pair stop after the same round
            continue
        done += 1
        if ra["released_ns"] and rb["released_ns"]:
            skews.append(abs(ra["released_ns"] - rb["released_ns"]) / 1000)  # µs
            if ra["ok"] and rb["ok"]:
                by_variant[v] += 1
    both = sum(by_variant.values())
    assert both >= done * 0.9, (both, Counter(r.get("refusal") or r["status"] for r in records))
    assert not left, left[:10]
    skews.sort()
    within = sum(1 for s in skews if s <= 1000)
    pct = {q: skews[min(len(skews) - 1, int(q / 100 * len(skews)))] for q in (50, 95, 99)}
    say(
        f"pairs final: {done} of {total} pairs, {both} with both printed and checked, mismatches {len(mismatches)};"
        f" by variant {dict(by_variant)}; send skew µs p50 {pct[50]:.0f} p95 {pct[95]:.0f} p99 {pct[99]:.0f}"
        f" max {skews[-1]:.0f}, {within}/{len(skews)} within 1 ms (mean {statistics.mean(skews):.0f})"
    )
    # the two calls must in the main really leave together, else the test proves less than it says
    assert within >= 0.8 * len(skews), pct
    assert done == total, f"stopped at {done} of {total} pairs (KOFU_RELIABILITY_MAX_SECONDS)"
