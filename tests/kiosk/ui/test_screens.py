"""The touch-screen flow over HTTP (no JavaScript): every step of DOMAIN.md §2, corrections, failures."""

from __future__ import annotations

import gc
import re
import types
from typing import Any

import pytest

from kofu.center.client import CenterClient
from kofu.kiosk.ui.session import DemoCard
from tests.kiosk.conftest import Shop, T
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


def _pay(b: Browser, *coins: int) -> Browser:
    for c in coins:
        b.act(f"coin:{c}")
    return b.act("pay")


@pytest.mark.parametrize(
    ("ctype", "steps"),
    [
        ("juminhyo", [("kind", {"kind": "self"}), ("items", {"items": ["honseki"]})]),
        ("kisai", [("items", {"items": ["birth_date", "address"]})]),
        ("inkan", []),
        ("shotoku", [("items", {"fiscal_year": ""})]),
    ],
)
def test_every_certificate_type_prints(browser: Browser, ctype: str, steps: list[tuple[str, dict[str, Any]]]) -> None:
    b = to_type(browser).act(f"type:{ctype}")
    for action, fields in steps:
        assert b.screen == action, b.html
        b.act(action, **fields)
    assert b.screen == "copies"
    b.act("copies", copies="1").act("confirm")
    _pay(b, 100, 100, 50)
    assert b.screen == "reminder", b.html
    assert 'data-pages="1"' in b.html and "data-change" not in b.html
    page = b.http.get(re.search(r'src="(/s/[^"]+\.png)"', b.html).group(1))  # type: ignore[union-attr]
    assert page.status_code == 200 and page.content.startswith(b"\x89PNG")


def test_wrong_pin_shows_tries_left_then_the_right_one_goes_on(browser: Browser) -> None:
    b = browser.act("start").act("accept").act("card:0", method="jpki").act("service")
    assert 'data-tries="3"' in b.html
    b.act("pin", pin="9999")
    assert b.screen == "pin" and 'data-notice="wrong-pin"' in b.html and 'data-tries="2"' in b.html
    assert "9999" not in b.html  # the PIN is never echoed
    b.act("pin", pin="12")
    assert b.screen == "pin" and 'data-notice="pin-format"' in b.html and 'data-tries="2"' in b.html
    b.act("pin", pin="1234")
    assert b.screen == "remove-card"


def current_stage(b: Browser) -> int:
    """The number (1-6) of the stage the progress bar marks as the current one."""
    marked = re.findall(r'aria-current="step">\s*<span class="n">(\d)</span>', b.html)
    assert len(marked) == 1, marked
    return int(marked[0])


def test_a_locked_card_ends_at_the_notice(browser: Browser) -> None:
    b = browser.act("start").act("accept").act("card:1", method="jpki").act("service")
    for pin in ("1111", "2222", "3333"):
        b.act("pin", pin=pin)
    assert b.screen == "ended" and "ロックされました" in b.html
    assert current_stage(b) == 2  # the bar stays at "card", where it stopped (not back at "terms")
    b.act("done").act("start").act("accept").act("card:1", method="jpki").act("service")
    assert b.screen == "ended" and 'data-code="card-pin-blocked"' in b.html and "ロックされています" in b.html


@pytest.mark.parametrize("fault", ["jam", "paper-out"])
def test_a_printer_fault_refunds_everything(browser: Browser, fault: str) -> None:
    b = to_type(browser).act("type:inkan").act("copies", copies="1").act("confirm")
    b.act(f"fault:{fault}")
    _pay(b, 500)
    assert b.screen == "ended" and f'data-code="printer-{fault}"' in b.html
    assert 'data-refund="500"' in b.html and "500円をお返しします" in b.html
    assert 'data-pages="0"' in b.html


def test_cancel_while_paying_returns_the_coins(browser: Browser) -> None:
    b = to_type(browser).act("type:inkan").act("copies", copies="2").act("confirm")
    b.act("coin:100").act("coin:10").act("cancel")
    assert b.screen == "ended" and 'data-refund="110"' in b.html and 'data-code="cancelled"' in b.html


def test_timeout_cancels_the_order_and_returns_the_coins(browser: Browser) -> None:
    b = to_type(browser).act("type:inkan").act("copies", copies="1").act("confirm").act("coin:50")
    b.act("timeout")
    assert b.screen == "ended" and 'data-code="timeout"' in b.html and 'data-refund="50"' in b.html
    assert current_stage(b) == 5  # stopped while paying
    b.act("timeout")  # nobody there: back to the start
    assert b.screen == "start"


def test_back_from_the_confirmation_to_change_the_copies(browser: Browser) -> None:
    b = to_type(browser).act("type:juminhyo").act("kind", kind="self").act("items").act("copies", copies="1")
    assert b.screen == "confirm" and b.field("copies") == "1" and b.field("total") == "250円"
    b.act("correct:copies")
    assert b.screen == "copies" and 'value="1"' in b.html
    b.act("copies", copies="3")
    assert b.screen == "confirm" and b.field("copies") == "3" and b.field("total") == "750円"
    b.act("correct:kind").act("kind", kind="household")
    assert b.screen == "confirm" and b.field("kind") == "世帯全員" and b.field("copies") == "3"
    b.act("confirm")
    assert b.field("due") == "750円"


def test_card_app_method_asks_the_pin_after_the_type(shop: Shop, browser: Browser) -> None:
    toml = shop.world.issuer.tenants.directory / f"{T}.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8").replace("copies_limit = 5", 'copies_limit = 5\ncard_method = "both"')
    )
    b = browser.act("start").act("accept").act("card:0", method="card-app").act("service")
    assert b.screen == "type"
    b.act("type:inkan")
    assert b.screen == "pin"
    b.act("pin", pin="1234")
    assert b.screen == "remove-card"
    b.act("removed")
    assert b.screen == "copies"


def test_after_printing_the_session_keeps_no_document(kiosk_app: Any, browser: Browser) -> None:
    b = to_type(browser).act("type:inkan").act("copies", copies="1").act("confirm")
    _pay(b, 500)
    assert b.screen == "reminder"
    session = kiosk_app.state.sessions.get(b.sid)[0]
    tray = session.tray
    assert sorted(p.suffix for p in tray.iterdir()) == [".json", ".pdf", ".png", ".txt"]  # the paper in the tray
    for obj in _reachable(session):
        assert not (isinstance(obj, (bytes, bytearray)) and b"%%EOF" in obj)
        assert not (isinstance(obj, str) and "JVBERi0" in obj)  # base64 of %PDF-
    b.act("stop").act("done")  # the customer takes the paper and leaves
    assert not tray.exists()


def _reachable(root: object) -> list[object]:
    """Everything the session holds, except the center client and the demo-card loaders (shared with others)."""
    seen: set[int] = set()
    todo, found = [root], []
    while todo:
        obj = todo.pop()
        if id(obj) in seen or isinstance(obj, (type, types.ModuleType, types.FunctionType, CenterClient, DemoCard)):
            continue
        seen.add(id(obj))
        found.append(obj)
        if not isinstance(obj, (str, bytes, bytearray, int, float)):
            todo += gc.get_referents(obj)
    return found


def test_card_app_card_that_cannot_prove_itself_ends_before_any_order(shop: Shop, browser: Browser) -> None:
    from sqlalchemy import update

    from kofu.registry.store import cards

    toml = shop.world.issuer.tenants.directory / f"{T}.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8").replace("copies_limit = 5", 'copies_limit = 5\ncard_method = "both"')
    )
    b = browser.act("start").act("accept").act("card:0", method="card-app").act("service").act("type:inkan")
    assert b.screen == "pin"
    with shop.world.engine.begin() as conn:  # the window registered this card without a card-AP key
        conn.execute(update(cards).values(card_app_public_key=None))
    b.act("pin", pin="1234")
    assert b.screen == "ended" and 'data-code="card-app-key-missing"' in b.html
    assert "カードと暗証番号を確認できませんでした" in b.html
