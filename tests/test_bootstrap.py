"""The composition root's settings: URLs printed in certificates point at services this deployment serves."""

from __future__ import annotations

from pathlib import Path

import pytest

from kofu.bootstrap import Container, Settings


def test_jpki_url_defaults_to_the_one_process_app_mount(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KOFU_JPKI_URL", raising=False)
    settings = Settings(home=tmp_path, public_url="http://127.0.0.1:8000/")
    assert settings.resolved_jpki_url() == "http://127.0.0.1:8000/jpki"
    assert Container(settings).authority.base_url == "http://127.0.0.1:8000/jpki"


def test_explicit_jpki_url_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KOFU_JPKI_URL", "https://jpki.example.lg.jp")
    assert Settings(home=tmp_path).resolved_jpki_url() == "https://jpki.example.lg.jp"
