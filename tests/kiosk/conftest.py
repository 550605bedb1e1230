"""A kiosk in front of a real center (in-process HTTP client) over a real database (SQLite and
PostgreSQL): the issuer world of tests/issuer, a JPKI authority, cards issued at the window, devices that
write to a temp directory."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from starlette.exceptions import StarletteDeprecationWarning

from kofu.card.readers import InProcessReader
from kofu.center.api import create_app
from kofu.center.client import CenterClient
from kofu.center.gateway import InProcessGateway
from kofu.center.service import CenterService
from kofu.common.clock import today_jst
from kofu.issuer.window import IssuedCard, WindowService
from kofu.jpki import Authority, in_process_validator
from kofu.kiosk.devices import CardSlot, CoinVendor, Printer, ReceiptPrinter, Speaker
from kofu.kiosk.flow import Devices, Kiosk, Script
from tests.issuer.conftest import World, world  # noqa: F401  (the fixture)

with warnings.catch_warnings():  # starlette asks for httpx2; the project installs httpx
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    import fastapi.testclient  # noqa: F401

T = "282286"


@dataclass
class Shop:
    world: World
    authority: Authority
    window: WindowService
    service: CenterService
    app: Any
    secret: str
    out: Path
    cards: dict[str, IssuedCard] = field(default_factory=dict)

    def card(self, resident_id: str = "R1", pin: str = "1234") -> InProcessReader:
        """The resident's card (issued at the window on first use), freshly loaded from its file."""
        issued = self.cards.get(resident_id)
        if issued is None:
            issued = self.cards[resident_id] = self.window.issue_card(
                T, resident_id, auth_pin=pin, sign_password="ABC123", usable_from=today_jst(self.world.clock)
            )
        return InProcessReader(self.window.card_file(issued.path).load())

    def center(self) -> CenterClient:
        return CenterClient.in_process(self.app, "K1", self.secret)

    def kiosk(self, center: Any = None) -> Kiosk:
        devices = Devices(
            CardSlot(), CoinVendor(), Printer(self.out / "tray"), Speaker(), ReceiptPrinter(self.out / "receipts")
        )
        return Kiosk(center or self.center(), devices)

    def script(self, **choices: Any) -> Script:
        resident_id = choices.pop("resident_id", "R1")
        choices.setdefault("pins", ["1234"])
        choices.setdefault("type", "juminhyo")
        choices.setdefault("coins", [100, 100, 50])
        return Script(card=self.card(resident_id), **choices)


@pytest.fixture
def shop(world: World, tmp_path: Path) -> Shop:  # noqa: F811
    authority = Authority(world.engine, tmp_path / "jpki", world.clock)
    window = WindowService(world.engine, authority, world.clock, cards_dir=tmp_path / "cards", master_key=b"k" * 32)
    service = CenterService(
        world.engine, InProcessGateway(world.issuer), in_process_validator(authority, cache_seconds=0), world.clock
    )
    service.register_store("S-001", "seven", T)
    secret = service.register_kiosk("S-001", "K1")
    return Shop(world, authority, window, service, create_app(service), secret, tmp_path / "out")
