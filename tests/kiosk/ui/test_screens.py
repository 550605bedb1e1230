"""The touch-screen flow over HTTP (no JavaScript): every step of DOMAIN.md §2, corrections, failures."""

from __future__ import annotations

from tests.kiosk.ui.conftest import Browser


def to_type(b: Browser, card: int = 0, pin: str = "1234") -> Browser:
    b.act("start").act("accept")
    assert b.screen == "card"
    b.act(f"card:{card}", method="jpki")
    assert b.screen == "service", b.html
    b.act("service")
    assert b.screen == "pin"
    b.act("pin", pin=pin)
    if b.screen == "remove-card":
        b.act("removed")
    return b


def test_juminhyo_from_start_to_receipt(browser: Browser, kiosk_app: object) -> None:
    b = to_type(browser)
    assert b.screen == "type"
    assert "住民票の写し" in b.html and "1通 250円" in b.html
    b.act("type:juminhyo")
    assert b.screen == "kind"
    b.act("kind", kind="household")
    assert b.screen == "items"
    b.act("items", items=["household_head"])
    assert b.screen == "copies"
    b.act("copies", copies="2")
    assert b.screen == "confirm"
    assert b.field("copies") == "2" and b.field("total") == "500円"
    b.act("confirm")
    assert b.screen == "pay" and b.field("due") == "500円"
    b.act("pay")
    assert b.screen == "pay" and 'data-notice="insufficient"' in b.html
    b.act("coin:1000")
    assert b.field("due") == "0円"
    b.act("pay")
    assert b.screen == "reminder", b.html
    assert 'data-pages="2"' in b.html  # two copies, one sheet each
    assert b.field("change") == "お釣り500円をお取りください。"
    b.act("stop")
    assert b.screen == "receipt"
    assert 'data-number="' in b.html
    b.act("done")
    assert b.screen == "start"
