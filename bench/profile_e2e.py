"""Profile one in-process kiosk (main thread) with pyinstrument: where does an issuance spend its time?

.venv/bin/python bench/profile_e2e.py [--seconds 15] [--html out.html] [--transport direct|asgi]

Builds the benchmark deployment (SQLite, temp dir), warms up one customer per certificate type, then
runs customers back to back for the given time under the profiler and prints the call tree.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyinstrument import Profiler

from kofu.bench.e2e import FLOAT, MIX, _readers, _warm_up, in_process_clients
from kofu.bench.world import PIN, build_world
from kofu.kiosk.devices import CardSlot, CoinVendor, Printer, ReceiptPrinter, Speaker
from kofu.kiosk.flow import Devices, Kiosk, Script


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--html", type=Path)
    parser.add_argument("--transport", choices=["direct", "asgi"], default="direct", help="kiosk → center link")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="kofu-profile-"))
    world = build_world(base / "home", households=1, kiosks=1)
    out = base / "tray"
    out.mkdir()
    _warm_up(world, out, transport=args.transport)
    reader = _readers(world, 1)[0]
    profiler = Profiler(interval=0.0005)
    done = 0
    with in_process_clients(world, args.transport) as clients:
        devices = Devices(CardSlot(), CoinVendor(FLOAT), Printer(out), Speaker(), ReceiptPrinter(out))
        kiosk = Kiosk(clients[0], devices)
        profiler.start()
        deadline = time.perf_counter() + args.seconds
        while time.perf_counter() < deadline:
            ctype, kind, items = MIX[done % len(MIX)]
            result = kiosk.run(Script(card=reader, pins=[PIN], type=ctype, kind=kind, items=items, coins=[500]))
            assert result.ok, result.refusal
            done += 1
        profiler.stop()
    print(f"{done} customers in {args.seconds} s ({done / args.seconds:.1f}/s), transport {args.transport}")
    if args.html:
        args.html.write_text(profiler.output_html(), encoding="utf-8")
    print(profiler.output_text(unicode=True, color=False, show_all=False))
    world.container.engine.dispose()
    shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
