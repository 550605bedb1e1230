"""The kiosk screen over the shop of tests/kiosk (a real center over SQLite/PostgreSQL, cards issued at the
window): `kiosk_ui` is the FastAPI app; `Screen` walks it over HTTP like a browser without JavaScript."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.exceptions import StarletteDeprecationWarning

from kofu.kiosk.ui.app import create_app
from kofu.kiosk.ui.session import DemoCard
from tests.kiosk.conftest import Shop, shop  # noqa: F401  (the fixture)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

# R1: an eligible adult in a household of three; R3 is under 15 in the issuer world
CARDS = ("R1", "R2")


def demo_cards(shop: Shop) -> list[DemoCard]:  # noqa: F811
    return [DemoCard(rid, (lambda r=rid: shop.card(r)), "eligible") for rid in CARDS]


@dataclass
class Browser:
    """Posts the forms of the kiosk screen and keeps the last page."""

    http: Any
    html: str = ""

    def open(self, lang: str = "ja") -> Browser:
        self.html = self.http.get(f"/?lang={lang}").text
        return self

    @property
    def sid(self) -> str:
        m = re.search(r'name="sid" value="([^"]+)"', self.html)
        assert m, self.html
        return m.group(1)

    @property
    def screen(self) -> str:
        m = re.search(r'data-screen="([^"]+)"', self.html)
        assert m
        return m.group(1)

    def act(self, action: str, **fields: Any) -> Browser:
        data: dict[str, Any] = {"sid": self.sid, "action": action, **fields}
        r = self.http.post("/act", data=data)
        assert r.status_code == 200, r.text
        self.html = r.text
        return self

    def field(self, name: str) -> str:
        m = re.search(rf'data-field="{name}">([^<]*)<', self.html)
        assert m, f"no field {name} on {self.screen}"
        return m.group(1).strip()


@pytest.fixture
def kiosk_app(shop: Shop, tmp_path: Path) -> Any:  # noqa: F811
    return create_app(shop.center, lambda: demo_cards(shop), tmp_path / "kiosk-ui", idle_seconds=60, warn_seconds=20)


@pytest.fixture
def browser(kiosk_app: Any) -> Browser:
    return Browser(TestClient(kiosk_app)).open()
