"""Found by the crossed-documents run across processes: in a fresh issuer process, the first certificates
rendered at the same time lost their text to pdftotext (their ToUnicode map held only the title) because
each thread got its own prepared font — the writer's instance had not seen the text the page drew. One
font program per process, however many threads ask first."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = [pytest.mark.reliability]

SCRIPT = """
import threading
from kofu.render.pdf import _font
start = threading.Barrier(8)
seen = []
def first_render():
    start.wait()
    seen.append(id(_font()))
threads = [threading.Thread(target=first_render) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
print(len(set(seen)))
"""


def test_threads_asking_first_at_once_share_one_font_program() -> None:
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "1"
