"""`kofu demo`'s one-process web app serves the kiosk screen at /kiosk/ (the demo cards of showcase.json,
the demo kiosk registered at the center on first use) and the service page at /info/CODE; `kofu serve
kiosk` serves the screen alone on a port of its own."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import httpx
from starlette.exceptions import StarletteDeprecationWarning

from kofu.bootstrap import Container
from kofu.web import create_web_app, demo_cards
from tests.kiosk.conftest import T
from tests.kiosk.test_cli import home  # noqa: F401  (the fixture)
from tests.kiosk.ui.conftest import Browser

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient


def showcase(c: Container, card: Path) -> None:
    path = c.settings.home / "demo" / "showcase.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    entries = [
        {"tenant": T, "resident_id": "R1", "name": "東条 太郎", "case": "eligible", "card": str(card)},
        {"tenant": T, "resident_id": "R9", "name": "x", "case": "deceased", "card": None},
    ]
    path.write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")


def test_the_demo_web_app_serves_the_kiosk_and_the_info_page(home: tuple[Container, Path]) -> None:  # noqa: F811
    c, card = home
    showcase(c, card)
    cards = demo_cards(c)
    assert [d.label for d in cards] == [f"{T} · eligible"]  # no name on the panel; cards without a file left out
    http = TestClient(create_web_app(c))
    b = Browser(http)
    b.html = http.get("/kiosk/").text
    assert b.screen == "start" and 'href="/kiosk/static/kiosk.css"' in b.html
    b.http = TestClient(create_web_app(c), base_url="http://testserver/kiosk")
    b.html = b.http.get("/").text
    b.act("start").act("accept")
    assert "東条" not in b.html and f"{T} · eligible" in b.html
    b.act("card:0", method="jpki").act("service").act("pin", pin="1234").act("removed")
    assert b.screen == "type" and "住民票の写し" in b.html
    b.act("type:juminhyo")
    assert b.screen in ("kind", "items", "copies"), b.html
    info = http.get(f"/info/{T}?lang=en")
    assert info.status_code == 200 and "certificates at convenience stores" in info.text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_kofu_serve_kiosk_serves_the_screen(home: tuple[Container, Path], tmp_path: Path) -> None:  # noqa: F811
    c, card = home
    log = (tmp_path / "serve.log").open("wb")
    showcase(c, card)
    port = _free_port()
    env = {**os.environ, "KOFU_HOME": str(c.settings.home)}
    env.pop("KOFU_TENANTS_DIR", None)
    env.pop("KOFU_DATABASE_URL", None)
    kofu = Path(sys.executable).parent / "kofu"
    proc = subprocess.Popen(
        [str(kofu), "serve", "kiosk", "--port", str(port), "--idle", "30"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/?lang=en", timeout=5)
                break
            except httpx.TransportError:
                assert proc.poll() is None, (tmp_path / "serve.log").read_text()
                assert time.monotonic() < deadline, "kofu serve kiosk did not answer"
                time.sleep(0.3)
        assert page.status_code == 200 and 'data-screen="start"' in page.text
        assert re.search(r'data-idle="30(\.0)?"', page.text)
    finally:
        proc.terminate()
        proc.wait(20)
        log.close()
