"""`make bench`: every benchmark, each appending its table to bench/RESULTS.md."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent

for script, args in (
    ("bench_render.py", ["--runs", "300"]),
    ("bench_issue.py", ["--runs", "50"]),
    ("bench_import.py", ["--residents", "1000000"]),
    ("bench_reports.py", ["--records", "10000000", "--runs", "3"]),
    ("bench_kiosk_ui.py", ["--runs", "10"]),
    ("bench_e2e.py", ["--kiosks", "1,8,64,256", "--seconds", "20", "--processes", "1,2,4"]),
):
    subprocess.run([sys.executable, str(HERE / script), *args], check=True)
