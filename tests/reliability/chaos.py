"""A fault-injecting TCP proxy for the reliability runs across processes (test-only), run as its own
process: `python -m tests.reliability.chaos CONFIG.json`.

It relays bytes between a listening port and a target (TLS passes through untouched: it never decrypts)
and, per chunk read from either side, by the knobs of its link kind:

- `delay`: sleeps a random 0…delay seconds before passing the chunk on (a slow issuer, a slow database);
- `stall_p` / `stall_s`: with probability stall_p, sleeps stall_s seconds (longer than the caller's timeout:
  an injected timeout);
- `drop_up` / `drop_down`: with that probability cuts the connection (RST) instead of passing a chunk
  towards the target (the request never arrives) or back to the caller (the target did the work, the answer
  is lost).

The config file is re-read when it changes, so a test can turn the faults up or down while the servers run:

    {"links": [{"name": "issuer-0", "kind": "issuer", "listen": 41001, "target": 41002}, …],
     "knobs": {"issuer": {"delay": 0.01, "stall_p": 0.0005, "stall_s": 11, "drop_up": 0.002, "drop_down": 0.002},
               "db": {"delay": 0.002, "stall_p": 0.0005, "stall_s": 1.0}},
     "stats": "/path/stats.json", "seed": 8}

Counts of what it injected go to the stats file every second.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import sys
from pathlib import Path
from typing import Any

KNOBS = ("delay", "stall_p", "stall_s", "drop_up", "drop_down")


class Chaos:
    def __init__(self, config: Path) -> None:
        self.config = config
        self.mtime = 0.0
        self.doc: dict[str, Any] = {}
        self.rng = random.Random()
        self.stats: dict[str, dict[str, int]] = {}
        self.reload()
        self.rng.seed(self.doc.get("seed", 0))

    def reload(self) -> None:
        mtime = self.config.stat().st_mtime
        if mtime != self.mtime:
            self.doc = json.loads(self.config.read_text(encoding="utf-8"))
            self.mtime = mtime

    def knob(self, kind: str, name: str) -> float:
        return float(self.doc.get("knobs", {}).get(kind, {}).get(name, 0.0))

    def count(self, kind: str, what: str) -> None:
        s = self.stats.setdefault(kind, {})
        s[what] = s.get(what, 0) + 1

    def write_stats(self) -> None:
        path = Path(self.doc["stats"])
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.stats), encoding="utf-8")
        tmp.replace(path)

    async def pipe(
        self,
        kind: str,
        direction: str,
        src: asyncio.StreamReader,
        dst: asyncio.StreamWriter,
        peer: asyncio.StreamWriter,
    ) -> None:
        try:
            while True:
                data = await src.read(65536)
                if not data:
                    break
                self.count(kind, f"chunks_{direction}")
                roll = self.rng.random()
                drop = self.knob(kind, f"drop_{direction}")
                if roll < drop:
                    self.count(kind, f"dropped_{direction}")
                    dst.transport.abort()
                    peer.transport.abort()
                    return
                if roll < drop + self.knob(kind, "stall_p"):
                    self.count(kind, "stalls")
                    await asyncio.sleep(self.knob(kind, "stall_s"))
                elif (delay := self.knob(kind, "delay")) > 0:
                    await asyncio.sleep(self.rng.random() * delay)
                dst.write(data)
                await dst.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            dst.close()

    async def serve_link(self, link: dict[str, Any]) -> asyncio.Server:
        kind, target = str(link["kind"]), int(link["target"])

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target)
            except OSError:
                writer.transport.abort()
                return
            self.count(kind, "connections")
            await asyncio.gather(
                self.pipe(kind, "up", reader, up_writer, writer),
                self.pipe(kind, "down", up_reader, writer, up_writer),
            )

        return await asyncio.start_server(handle, "127.0.0.1", int(link["listen"]), backlog=1024)

    async def run(self) -> None:
        servers = [await self.serve_link(link) for link in self.doc["links"]]
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        ready = Path(self.doc["stats"]).with_suffix(".ready")
        ready.write_text("ready", encoding="utf-8")
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
            self.reload()
            self.write_stats()
        for s in servers:
            s.close()
        self.write_stats()


def main() -> None:
    asyncio.run(Chaos(Path(sys.argv[1])).run())


if __name__ == "__main__":
    main()
