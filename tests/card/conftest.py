"""Card fixtures: one personalised card made per test session (RSA key generation is the slow part),
copied into each test as a fresh card file so every test starts with full counters."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from kofu.card.cardfile import CardFile
from kofu.card.chip import Card
from tests.card.helpers import personalise

MASTER = bytes(range(32))


@pytest.fixture(scope="session")
def template_card_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("card-template") / "card.json"
    CardFile(path, MASTER).save(personalise())
    return path


@pytest.fixture
def card_path(template_card_file: Path, tmp_path: Path) -> Path:
    path = tmp_path / "card.json"
    shutil.copyfile(template_card_file, path)
    return path


@pytest.fixture
def card(card_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Card]:
    monkeypatch.delenv("KOFU_CARD_MASTER_KEY", raising=False)
    c = CardFile(card_path, MASTER).load()
    c.power_on()
    yield c
    c.power_off()
