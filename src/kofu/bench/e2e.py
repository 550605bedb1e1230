"""`kofu bench e2e`: N concurrent headless kiosks running the full flow with a mix of certificate types.

Mode (a), `processes=0`: one process, SQLite, the center, the issuer and the authority in-process. The kiosk →
center link is `transport="direct"` (`kofu.center.local.LocalCenter`: the kiosk calls `CenterService` in its own
thread, as `kofu kiosk run` does) or `transport="asgi"` (the center's FastAPI app through
`CenterClient.in_process`: httpx → anyio portal → event loop → FastAPI → thread pool, and back).
Mode (b), `processes=P`: `kofu serve jpki` once, `kofu serve issuer` and `kofu serve center` P times each
(center i → issuer i), over HTTPS with mutual TLS between center and issuer, all on one database (normally
PostgreSQL); the kiosks (threads of this process) spread over the P centers.

Each kiosk is a thread with its own card (a copy of one of the cards issued at the window), devices and
center client. Every API call is timed (p50/p95/p99 per step); a completed issuance is a run that printed
and got its receipt. The floor (`kofu.bench.floor`) is measured in the same run on the same database.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from kofu.bench.world import PIN, TENANT, BenchWorld, build_world
from kofu.card.cardfile import CardFile, default_master_key
from kofu.card.readers import InProcessReader
from kofu.center import protocol as wire
from kofu.center.client import CenterClient
from kofu.center.local import LocalCenter
from kofu.kiosk.devices import CardSlot, CoinVendor, Printer, ReceiptPrinter, Speaker
from kofu.kiosk.flow import Devices, Kiosk, Script

T = TypeVar("T")
Center = CenterClient | LocalCenter  # a kiosk's link to the center
TRANSPORTS = ("direct", "asgi")  # in-process; with processes the link is HTTPS

# (type, kind, items): the mix each kiosk cycles through, offset by its index.
MIX: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("juminhyo", "self", ()),
    ("juminhyo", "household", ("household_head",)),
    ("kisai", "self", ("address",)),
    ("inkan", "self", ()),
    ("shotoku", "self", ()),
)
# The change a busy store keeps in the machine: a benchmark must not stop for want of 50-yen coins.
FLOAT = {10: 1_000, 50: 100_000, 100: 100_000, 500: 1_000}
STEPS = ("open_session", "authenticate", "order", "pay", "documents", "print_result")


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50/p95/p99 in milliseconds of samples in seconds (nearest rank)."""
    if not samples:
        return {"n": 0, "p50": 0.0, "p95": 0.0, "p99": 0.0}
    s = sorted(samples)

    def rank(p: float) -> float:
        return round(s[min(len(s) - 1, max(0, round(p / 100 * len(s)) - 1))] * 1000, 2)

    return {"n": len(s), "p50": rank(50), "p95": rank(95), "p99": rank(99)}


class TimedCenter:
    """A `CenterPort` that times every call of the kiosk to the center (by step name)."""

    def __init__(self, inner: Center, samples: dict[str, list[float]]) -> None:
        self.inner = inner
        self.kiosk_id = inner.kiosk_id
        self.samples = samples

    def _t(self, step: str, fn: Callable[[], T]) -> T:
        start = time.perf_counter()
        try:
            return fn()
        finally:
            self.samples.setdefault(step, []).append(time.perf_counter() - start)

    def open_session(self) -> wire.SessionOpened:
        return self._t("open_session", self.inner.open_session)

    def authenticate_jpki(self, session_id: str, certificate: bytes, signature: bytes) -> wire.Authenticated:
        return self._t("authenticate", lambda: self.inner.authenticate_jpki(session_id, certificate, signature))

    def authenticate_card_app(self, session_id: str, user_id: str) -> wire.Authenticated:
        return self._t("authenticate", lambda: self.inner.authenticate_card_app(session_id, user_id))

    def order(self, session_id: str, type: str, **kw: Any) -> wire.OrderQuoted:
        return self._t("order", lambda: self.inner.order(session_id, type, **kw))

    def pay(self, order_id: str, coins: dict[str, int]) -> wire.PaymentState:
        return self._t("pay", lambda: self.inner.pay(order_id, coins))

    def documents(self, order_id: str) -> wire.Delivery:
        return self._t("documents", lambda: self.inner.documents(order_id))

    def print_result(self, order_id: str, job_id: str, ok: bool, error: str | None = None) -> wire.OrderOutcome:
        return self._t("print_result", lambda: self.inner.print_result(order_id, job_id, ok, error))

    def cancel(self, order_id: str) -> wire.OrderOutcome:
        return self._t("cancel", lambda: self.inner.cancel(order_id))


@dataclass
class KioskStats:
    completed: int = 0
    failed: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    runs: list[float] = field(default_factory=list)  # seconds per completed customer
    steps: dict[str, list[float]] = field(default_factory=dict)
    by_type: dict[str, int] = field(default_factory=dict)


def _drive(
    index: int,
    client: Center,
    reader: InProcessReader,
    out: Path,
    start: threading.Event,
    stop: threading.Event,
    stats: KioskStats,
    errors: list[BaseException],
) -> None:
    try:
        center = TimedCenter(client, stats.steps)
        devices = Devices(CardSlot(), CoinVendor(FLOAT), Printer(out), Speaker(), ReceiptPrinter(out))
        kiosk = Kiosk(center, devices)  # type: ignore[arg-type]
        start.wait()
        i = index
        while not stop.is_set():
            ctype, kind, items = MIX[i % len(MIX)]
            i += 1
            t0 = time.perf_counter()
            result = kiosk.run(Script(card=reader, pins=[PIN], type=ctype, kind=kind, items=items, coins=[500]))
            elapsed = time.perf_counter() - t0
            for name in [*result.files, result.receipt]:  # the paper left the store: keep the disk clean
                if name:
                    Path(name).unlink(missing_ok=True)
            if stop.is_set():
                break  # finished after the window closed: not counted
            if result.ok:
                stats.completed += 1
                stats.runs.append(elapsed)
                stats.by_type[ctype] = stats.by_type.get(ctype, 0) + 1
            else:
                stats.failed += 1
                code = result.refusal or result.status
                stats.failures[code] = stats.failures.get(code, 0) + 1
    except BaseException as exc:  # reported by the caller
        errors.append(exc)
    finally:
        client.close()


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by process `pid` (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drive_kiosks(
    clients: list[Center],
    readers: list[InProcessReader],
    seconds: float,
    out: Path,
    server_pids: dict[str, list[int]] | None = None,
    database_pids: Callable[[], list[int]] | None = None,
) -> tuple[list[KioskStats], float, dict[str, float]]:
    """Runs one thread per kiosk for `seconds`; returns the per-kiosk stats, the measured window and the CPU
    seconds used in it: this process, and with `server_pids` (role → pids) the servers together and each role
    (`server:center`, `server:issuer`, `server:jpki`); with `database_pids` (the database server's processes,
    listed at the start and at the end: a backend started in the window counts from zero) `database`."""
    start, stop = threading.Event(), threading.Event()
    stats = [KioskStats() for _ in clients]
    errors: list[BaseException] = []
    threads = [
        threading.Thread(
            target=_drive, args=(i, c, r, out, start, stop, stats[i], errors), name=f"kiosk-{i}", daemon=True
        )
        for i, (c, r) in enumerate(zip(clients, readers, strict=True))
    ]
    for t in threads:
        t.start()
    roles = server_pids or {}

    def server_cpu() -> dict[str, float]:
        return {role: sum(process_cpu_seconds(p) for p in pids) for role, pids in roles.items()}

    def database_cpu() -> dict[int, float]:
        cpu: dict[int, float] = {}
        for pid in database_pids() if database_pids else []:
            with contextlib.suppress(OSError, IndexError):  # gone meanwhile
                cpu[pid] = process_cpu_seconds(pid)
        return cpu

    cpu0, server0, database0 = time.process_time(), server_cpu(), database_cpu()
    t0 = time.perf_counter()
    start.set()
    time.sleep(seconds)
    stop.set()
    window = time.perf_counter() - t0
    this_process, server1 = time.process_time() - cpu0, server_cpu()
    by_role = {f"server:{role}": server1[role] - server0[role] for role in roles}
    cpu = {"this_process": this_process, "servers": sum(by_role.values()), **by_role}
    if database_pids is not None:
        database1 = database_cpu()
        cpu["database"] = sum(used - database0.get(pid, 0.0) for pid, used in database1.items())
    for t in threads:
        t.join(timeout=120)
    if errors:
        raise errors[0]
    return stats, window, cpu


def summarise(stats: list[KioskStats], window: float, cpu: dict[str, float] | None = None) -> dict[str, Any]:
    completed = sum(s.completed for s in stats)
    steps: dict[str, list[float]] = {}
    runs: list[float] = []
    failures: dict[str, int] = {}
    by_type: dict[str, int] = {}
    for s in stats:
        runs += s.runs
        for k, v in s.steps.items():
            steps.setdefault(k, []).extend(v)
        for k, n in s.failures.items():
            failures[k] = failures.get(k, 0) + n
        for k, n in s.by_type.items():
            by_type[k] = by_type.get(k, 0) + n
    run = percentiles(runs)
    step_stats = {k: percentiles(steps[k]) for k in (*STEPS, *sorted(set(steps) - set(STEPS))) if k in steps}
    return {
        "seconds": round(window, 2),
        "completed": completed,
        "failed": sum(s.failed for s in stats),
        "failures": failures,
        "by_type": by_type,
        "issuances_per_s": round(completed / window, 2) if window else 0.0,
        "p50_ms": run["p50"],
        "p95_ms": run["p95"],
        "p99_ms": run["p99"],
        "steps": step_stats,
        "p99_step_max_ms": max((v["p99"] for v in step_stats.values()), default=0.0),
        # CPU per completed issuance: robust to a shared machine, unlike the rate. In-process, "this process"
        # is everything (kiosks, center, issuer, authority); with --processes it is the kiosks (load
        # generator) and "servers" the center, issuer and jpki processes.
        "cpu_ms_per_issuance": {
            k: round(v * 1000 / completed, 2) for k, v in (cpu or {}).items() if not k.startswith("server:")
        }
        if completed
        else {},
        # "servers" split by role (center, issuer, jpki): which server process the CPU went to
        "server_cpu_ms_per_issuance": {
            k.removeprefix("server:"): round(v * 1000 / completed, 2)
            for k, v in (cpu or {}).items()
            if k.startswith("server:")
        }
        if completed
        else {},
    }


def _readers(world: BenchWorld, n: int) -> list[InProcessReader]:
    """One card per kiosk (copies of the issued cards). The chip's own non-volatile writes (PIN counters,
    written through to the card file with fsync) happen inside a real card, not on the kiosk's or the
    center's CPU: the copies are detached from their files so the load generator does not pay for them."""
    key = default_master_key(world.container.settings.keys_dir)
    readers = []
    for i in range(n):
        card = CardFile(world.cards[i % len(world.cards)], key).load()
        card.attach_store(None)
        readers.append(InProcessReader(card))
    return readers


@contextmanager
def in_process_clients(world: BenchWorld, transport: str = "direct") -> Iterator[list[Center]]:
    """One in-process link per kiosk to one center service. `direct`: a `LocalCenter` each (the `kofu kiosk
    run` wiring), calling the service in the kiosk's thread. `asgi`: a `CenterClient.in_process` each over one
    center app, all served by one event loop, as one server process would: without it each client starts its
    own loop thread, and with hundreds of kiosks those threads, not the center, use the CPU."""
    from kofu.web import center_service

    service = center_service(world.container)
    if transport == "direct":
        yield [LocalCenter(service, kid, secret) for kid, secret in world.kiosks.items()]
        return
    if transport != "asgi":
        raise ValueError(f"transport {transport!r}: one of {', '.join(TRANSPORTS)}")
    import anyio.from_thread

    from kofu.center.api import create_app

    app = create_app(service)
    with anyio.from_thread.start_blocking_portal() as portal:
        clients: list[Center] = []
        for kid, secret in world.kiosks.items():
            client = CenterClient.in_process(app, kid, secret)
            client.http.portal = portal  # type: ignore[attr-defined]
            clients.append(client)
        yield clients


def local_postgres_pids(url: str) -> Callable[[], list[int]] | None:
    """The PostgreSQL server's processes on this machine (postmaster, backends, background workers), when
    `url` names this machine's server: its CPU is the database's share of an issuance."""
    from sqlalchemy.engine import make_url

    if make_url(url).host not in ("127.0.0.1", "localhost", "::1", None):
        return None

    def pids() -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    if (entry / "comm").read_text().strip() == "postgres":
                        found.append(int(entry.name))
        return found

    return pids


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spawn_logged(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Starts a server whose stderr (its JSON log lines) goes to `log`: a pipe nobody reads fills up after
    some 64 KiB and then blocks the server's event loop in the middle of a request."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:  # the child keeps its own descriptor
        proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=out)
    _LOGS[proc.pid] = log
    return proc


_LOGS: dict[int, Path] = {}


def stop_processes(procs: list[subprocess.Popen[bytes]], timeout: float = 10) -> None:
    """SIGTERM every server, then wait for each (SIGKILL after `timeout` seconds)."""
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=timeout)


def log_tail(proc: subprocess.Popen[bytes], chars: int = 2000) -> str:
    log = _LOGS.get(proc.pid)
    return log.read_text(encoding="utf-8", errors="replace")[-chars:] if log and log.exists() else ""


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], verify: Any) -> None:
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with {proc.returncode}: {log_tail(proc)}")
        try:
            if httpx.get(url, timeout=2, verify=verify).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} not healthy within 60 s")


@contextmanager
def serve_processes(
    world: BenchWorld, processes: int, database_url: str
) -> Iterator[tuple[list[str], dict[str, list[int]]]]:
    """Starts jpki once and P issuer + P center processes; yields the P center URLs and the servers' pids by
    role (`jpki`, `issuer`, `center`)."""
    from kofu.issuer.pki import ensure_center_api_cert, ensure_pki

    keys = world.container.settings.keys_dir
    files = ensure_pki(keys)
    ensure_center_api_cert(keys)
    kofu = str(Path(sys.executable).with_name("kofu"))
    env = {**os.environ, "KOFU_HOME": str(world.home), "KOFU_DATABASE_URL": database_url}
    procs: list[subprocess.Popen[bytes]] = []

    def spawn(*args: str) -> subprocess.Popen[bytes]:
        p = spawn_logged([kofu, *args], env, world.home / "logs" / f"{len(procs):02d}-{args[1]}.log")
        procs.append(p)
        return p

    try:
        p_jpki = free_port()
        jpki_url = f"http://127.0.0.1:{p_jpki}"
        _wait_healthy(f"{jpki_url}/healthz", spawn("serve", "jpki", "--port", str(p_jpki)), True)
        mtls = ssl.create_default_context(cafile=str(files.ca_cert))
        mtls.load_cert_chain(str(files.center_cert), str(files.center_key))
        centers = []
        for _ in range(processes):
            p_issuer, p_center = free_port(), free_port()
            issuer_url = f"https://127.0.0.1:{p_issuer}"
            center_url = f"https://127.0.0.1:{p_center}"
            issuer = spawn("serve", "issuer", "--port", str(p_issuer))
            center = spawn(
                "serve", "center", "--port", str(p_center), "--issuer-url", issuer_url, "--jpki-url", jpki_url
            )
            _wait_healthy(f"{issuer_url}/healthz", issuer, mtls)
            _wait_healthy(f"{center_url}/healthz", center, ssl.create_default_context(cafile=str(files.ca_cert)))
            centers.append(center_url)
        roles: dict[str, list[int]] = {}
        for p in procs:
            roles.setdefault(str(p.args[2]), []).append(p.pid)  # type: ignore[index]
        yield centers, roles
    finally:
        stop_processes(procs)


@contextmanager
def fresh_postgres_schema(url: str) -> Iterator[str]:
    """A new schema on the PostgreSQL at `url`, dropped afterwards; yields a URL whose search_path is it."""
    from sqlalchemy import text

    from kofu.db import create_engine_for

    admin = create_engine_for(url, isolation_level="AUTOCOMMIT")
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in url else "?"
    try:
        yield f"{url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def run_e2e(
    *,
    kiosks: int,
    seconds: float,
    processes: int = 0,
    database_url: str | None = None,
    floor_seconds: float = 3.0,
    households: int = 8,
    sessions: int = 0,
    home: Path | None = None,
    transport: str | None = None,
) -> dict[str, Any]:
    """The whole benchmark; returns the JSON document `kofu bench e2e --json` prints. `transport` is the
    in-process kiosk → center link (`direct`, the default, or `asgi`); with `processes` it is HTTPS."""
    from kofu.bench.floor import measure_floor
    from kofu.bench.sessions import measure_sessions

    if processes and transport is not None:
        raise ValueError("--transport is for the in-process mode: with --processes the kiosks use HTTPS")
    link = "https" if processes else transport or "direct"
    if link not in (*TRANSPORTS, "https"):
        raise ValueError(f"transport {transport!r}: one of {', '.join(TRANSPORTS)}")
    base = home or Path(tempfile.mkdtemp(prefix="kofu-bench-e2e-"))
    with _database(processes, database_url) as url:
        world = build_world(base / "home", households=min(households, kiosks), kiosks=kiosks, database_url=url)
        out = base / "tray"
        out.mkdir(parents=True, exist_ok=True)
        readers = _readers(world, kiosks)
        try:
            _warm_up(world, out, transport=link)
            if processes:
                assert url is not None
                with serve_processes(world, processes, url) as (centers, pids):
                    ca = str(world.container.settings.keys_dir / "mtls" / "ca.pem")
                    for center_url in centers:
                        _warm_up(world, out, center_url, ca)
                    clients: list[Center] = [
                        CenterClient(centers[i % len(centers)], kid, secret, verify=ca)
                        for i, (kid, secret) in enumerate(world.kiosks.items())
                    ]
                    stats, window, cpu = drive_kiosks(clients, readers, seconds, out, pids, local_postgres_pids(url))
            else:
                with in_process_clients(world, link) as links:
                    stats, window, cpu = drive_kiosks(links, readers, seconds, out)
                del cpu["servers"]  # (no server roles either)
            doc = summarise(stats, window, cpu)
            floor = measure_floor(world, floor_seconds)
            doc = {
                "mode": f"processes={processes}" if processes else "in-process",
                "database": world.container.engine.dialect.name,
                "kiosks": kiosks,
                "processes": processes,
                "transport": link,
                **doc,
                "floor_per_s": floor["floor_per_s"],
                "ratio_to_floor": round(doc["issuances_per_s"] / floor["floor_per_s"], 4)
                if floor["floor_per_s"]
                else 0.0,
                "floor": floor,
                # the same ratio in CPU time per issuance (robust to other jobs on the machine)
                "cpu_ratio_to_floor": round(floor["floor_cpu_ms"] / sum(doc["cpu_ms_per_issuance"].values()), 4)
                if doc["cpu_ms_per_issuance"]
                else 0.0,
                "machine": machine(),
            }
            if sessions:
                doc["sessions"] = measure_sessions(world, sessions)
            return doc
        finally:
            world.container.engine.dispose()
            if home is None:
                shutil.rmtree(base, ignore_errors=True)


@contextmanager
def _database(processes: int, database_url: str | None) -> Iterator[str | None]:
    if database_url and database_url.startswith("postgresql"):
        with fresh_postgres_schema(database_url) as url:
            yield url
    elif processes and not database_url:
        raise ValueError("--processes needs --database (PostgreSQL: every process shares one database)")
    else:
        yield database_url  # None: SQLite in the bench's own KOFU_HOME


def _warm_up(
    world: BenchWorld, out: Path, center_url: str | None = None, ca: str | None = None, *, transport: str = "direct"
) -> None:
    """One customer per certificate type, not counted: in this process (fonts, keys, caches) over the
    in-process `transport`, or with `center_url` through that center and its issuer — each server process
    builds its own caches (the renderer's font glyphs and static layers, the keys, the TLS connections) on
    its first requests, and that one-off cost must not land in the measured window."""
    kid, secret = next(iter(world.kiosks.items()))
    reader = _readers(world, 1)[0]
    client: Center
    if center_url is None:
        from kofu.web import center_service

        service = center_service(world.container)
        if transport == "asgi":
            from kofu.center.api import create_app

            client = CenterClient.in_process(create_app(service), kid, secret)
        else:
            client = LocalCenter(service, kid, secret)
    else:
        client = CenterClient(center_url, kid, secret, verify=ca or True)
    with client:
        kiosk = Kiosk(client, Devices(CardSlot(), CoinVendor(FLOAT), Printer(out), Speaker(), ReceiptPrinter(out)))
        for ctype, kind, items in MIX:
            result = kiosk.run(Script(card=reader, pins=[PIN], type=ctype, kind=kind, items=items, coins=[500]))
            if not result.ok:
                raise RuntimeError(f"warm-up {ctype}/{kind} failed: {result.refusal} {result.message_en}")
            for name in [*result.files, result.receipt]:
                if name:
                    Path(name).unlink(missing_ok=True)


def machine() -> str:
    import platform

    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


__all__ = ["MIX", "TENANT", "percentiles", "run_e2e"]
