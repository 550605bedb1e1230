"""A center over a real database (SQLite and PostgreSQL): the issuer world of tests/issuer, a real JPKI
authority and window issuing cards, the center app over an in-process HTTP client, two kiosks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI

from kofu.card.client import JpkiClient
from kofu.card.readers import InProcessReader
from kofu.center.api import create_app
from kofu.center.client import CenterClient
from kofu.center.gateway import InProcessGateway
from kofu.center.protocol import Authenticated, challenge_bytes
from kofu.center.service import CenterService
from kofu.common.clock import today_jst
from kofu.issuer.window import IssuedCard, WindowService
from kofu.jpki import Authority, in_process_validator
from kofu.registry.store import RegistryStore
from tests.issuer.conftest import World, world  # noqa: F401
from tests.issuer.factories import resident

T = "282286"
KID = resident(
    resident_id="R5",
    name="加東　三郎",
    kana="かとう　さぶろう",
    birth_date=date(2014, 5, 5),
    relationship="子",
    my_number="111122223333",
)


@dataclass
class Rig:
    world: World
    authority: Authority
    window: WindowService
    service: CenterService
    app: FastAPI
    secrets: dict[str, str]
    cards: dict[str, IssuedCard] = field(default_factory=dict)

    def kiosk(self, kiosk_id: str = "K1", secret: str | None = None) -> CenterClient:
        return CenterClient.in_process(self.app, kiosk_id, secret if secret is not None else self.secrets[kiosk_id])

    def card(self, resident_id: str, pin: str = "1234") -> JpkiClient:
        issued = self.cards.get(resident_id)
        if issued is None:
            issued = self.cards[resident_id] = self.window.issue_card(
                T, resident_id, auth_pin=pin, sign_password="ABC123", usable_from=today_jst(self.world.clock)
            )
        reader = InProcessReader(self.window.card_file(issued.path).load())
        reader.connect()
        client = JpkiClient(reader)
        client.select_jpki()
        return client


def login(center: CenterClient, card: JpkiClient, pin: str = "1234") -> tuple[str, Authenticated]:
    """What a kiosk does with a card: open a session, PIN, sign the challenge, authenticate."""
    opened = center.open_session()
    card.verify_auth_pin(pin)
    signature = card.sign_auth_sha256(challenge_bytes(opened.session_id, center.kiosk_id, opened.nonce))
    return opened.session_id, center.authenticate_jpki(opened.session_id, card.read_auth_certificate(), signature)


@pytest.fixture
def rig(world: World, tmp_path: Path) -> Rig:  # noqa: F811
    with world.engine.begin() as conn:
        RegistryStore(conn).insert_resident(KID)
    authority = Authority(world.engine, tmp_path / "jpki", world.clock)
    window = WindowService(world.engine, authority, world.clock, cards_dir=tmp_path / "cards", master_key=b"k" * 32)
    service = CenterService(
        world.engine, InProcessGateway(world.issuer), in_process_validator(authority, cache_seconds=0), world.clock
    )
    service.register_store("S-001", "seven", T)
    secrets = {k: service.register_kiosk("S-001", k) for k in ("K1", "K2")}
    return Rig(world, authority, window, service, create_app(service), secrets)


def ahead(rig: Rig, minutes: float) -> None:
    rig.world.clock.advance(timedelta(minutes=minutes))
