"""The HTTP transport alone: server CPU per request for uvicorn's HTTP/event-loop implementations.

.venv/bin/python bench/bench_http.py [--requests 3000] [--clients 8]

Serves a small kofu-instrumented FastAPI app (the issuer's mutual-TLS protocol class, JSON logging, the
request-id middleware and metrics, one sync POST endpoint with a pydantic body, as the issuer's routes are)
in a child process, once per variant: h11 + asyncio (uvicorn's pure-Python parser, what the services ran
before) and httptools + uvloop (what `kofu serve` picks when they are installed). `--clients` threads call it
over mutual TLS on kept-alive connections. The number is the server process's CPU time per request (user +
system, from /proc), which hardly moves when other jobs share the machine; wall clock is printed too.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from bench.common import record
from kofu.bench.e2e import process_cpu_seconds
from kofu.issuer.client import client_context
from kofu.issuer.pki import init_pki

SERVER = textwrap.dedent(
    """
    import ssl, sys
    import uvicorn
    from fastapi import FastAPI
    from pydantic import BaseModel
    from kofu.issuer.api import tls_protocol
    from kofu.issuer.pki import mtls_files
    from kofu.ops import KEEP_ALIVE_SECONDS, configure_logging, instrument
    from pathlib import Path
    import logging, io

    variant, port, keys = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    files = mtls_files(keys)

    class Body(BaseModel):
        tenant: str
        resident_id: str
        at: str

    app = FastAPI()

    @app.post("/v1/identify")
    def identify(body: Body) -> dict[str, object]:
        return {"card": None, "tenant": body.tenant}

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    configure_logging("bench", stream=open("/dev/null", "w"))
    if variant == "h11":
        sys.modules["uvicorn.protocols.http.httptools_impl"] = None  # hide httptools: tls_protocol falls back to h11
    uvicorn.run(
        instrument(app, "bench"),
        host="127.0.0.1",
        port=port,
        loop="asyncio" if variant == "h11" else "uvloop",
        http=tls_protocol(),
        log_config=None,
        access_log=False,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        ssl_certfile=str(files.issuer_cert),
        ssl_keyfile=str(files.issuer_key),
        ssl_ca_certs=str(files.ca_cert),
        ssl_cert_reqs=ssl.CERT_REQUIRED,
    )
    """
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(variant: str, keys: Path, requests: int, clients: int) -> tuple[float, float]:
    """(server CPU ms per request, wall-clock requests per second)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", SERVER, variant, str(port), str(keys)])
    files = init_pki(keys)
    ctx = client_context(ca_cert=files.ca_cert, client_cert=files.center_cert, client_key=files.center_key)
    url = f"https://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, verify=ctx, limits=httpx.Limits(max_keepalive_connections=64)) as http:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if http.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"{variant}: the server did not start")
                time.sleep(0.2)
            body = {"tenant": "282286", "resident_id": "R0000001", "at": "2026-11-26T10:00:00+09:00"}

            def work(n: int) -> None:
                for _ in range(n):
                    assert http.post("/v1/identify", json=body).status_code == 200

            work(200)  # warm up (connections, imports, caches)
            per = requests // clients
            cpu0, t0 = process_cpu_seconds(proc.pid), time.perf_counter()
            threads = [threading.Thread(target=work, args=(per,)) for _ in range(clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - t0
            cpu = process_cpu_seconds(proc.pid) - cpu0
        return cpu * 1000 / (per * clients), per * clients / wall
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kofu-bench-http-") as tmp:
        keys = Path(tmp)
        init_pki(keys)
        rows = []
        for variant, label in (("h11", "h11 + asyncio"), ("httptools", "httptools + uvloop")):
            cpu_ms, rate = run(variant, keys, args.requests, args.clients)
            rows.append((f"{label}: server CPU ms per request", f"{cpu_ms:.3f}"))
            rows.append((f"{label}: requests/s (wall clock)", f"{rate:.0f}"))
    load = os.getloadavg()[0]
    record(
        f"HTTP transport: server CPU per mutual-TLS request ({args.clients} clients, {args.requests} requests)",
        rows,
        note=f"load average {load:.1f} at the end; server CPU from /proc (user + system)",
    )


if __name__ == "__main__":
    main()
