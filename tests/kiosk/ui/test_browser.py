"""The kiosk screen in Debian's Chromium, driven by Playwright (no browser download): every certificate
type, every language from start to receipt, wrong PIN and locked card, a jam with refund, the idle
timeout, a correction from the confirmation, keyboard use. Each step is screenshotted into
var/test-artifacts/kiosk-ui/<test>/ and checked by axe-core for WCAG 2.2 A/AA (normal and high contrast).

The kiosk screen only talks to the center, so these run on SQLite alone (the center's PostgreSQL parity
is tested in tests/center and tests/kiosk)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlalchemy.engine import Engine

from kofu.db.engine import create_engine_for
from kofu.kiosk.ui.app import create_app
from kofu.kiosk.ui.i18n import LANGUAGES
from tests.kiosk.conftest import Shop
from tests.kiosk.ui.conftest import demo_cards

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[3] / "var" / "test-artifacts" / "kiosk-ui"
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]
AXE = Axe()
WCAG_RULES = {"runOnly": {"type": "tag", "values": WCAG}}
COLOUR_RULES = {"runOnly": {"type": "rule", "values": ["color-contrast", "link-in-text-block", "link-name"]}}
CHECKED: set[tuple[str, ...]] = set()  # screens axe has checked in this test session


@pytest.fixture
def empty_engine(tmp_path: Path) -> Iterator[Engine]:
    """SQLite only here (overrides the SQLite/PostgreSQL pair of tests/conftest.py)."""
    eng = create_engine_for(f"sqlite:///{tmp_path / 'kofu.sqlite3'}")
    yield eng
    eng.dispose()


_PLAYWRIGHT: dict[str, Any] = {}  # the Playwright and Chromium of the running test module


def launch_chromium() -> Browser:
    """Debian's Chromium through Playwright (no browser download)."""
    if "browser" not in _PLAYWRIGHT:
        if not Path(CHROMIUM).exists():
            pytest.fail("Debian's chromium is missing: run `make system-deps`")
        _PLAYWRIGHT["playwright"] = sync_playwright().start()
        _PLAYWRIGHT["browser"] = _PLAYWRIGHT["playwright"].chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
    return _PLAYWRIGHT["browser"]  # type: ignore[no-any-return]


def close_chromium() -> None:
    if "browser" in _PLAYWRIGHT:
        _PLAYWRIGHT.pop("browser").close()
        _PLAYWRIGHT.pop("playwright").stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Per module: a running Sync Playwright marks the main thread's event loop as running, which breaks
    `asyncio.run` (pyHanko's signing and validation) in the tests that follow; stopping it clears that."""
    yield launch_chromium()
    close_chromium()


class Server:
    def __init__(self, app: Any) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", ws="none", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the kiosk server did not start")
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def serve(shop: Shop, tmp_path: Path) -> Iterator[Callable[..., str]]:
    servers: list[Server] = []

    def start(**options: float) -> str:
        options = {"idle_seconds": 120.0, "warn_seconds": 30.0, "reminder_seconds": 0.4} | options
        app = create_app(shop.center, lambda: demo_cards(shop), tmp_path / "kiosk-ui", **options)
        servers.append(Server(app))
        return servers[-1].url

    yield start
    for s in servers:
        s.stop()


class Kiosk:
    """One customer at the screen: clicks, screenshots, axe."""

    def __init__(self, page: Page, name: str, *, axe: bool = True) -> None:
        self.page = page
        self.dir = ARTIFACTS / re.sub(r"[^\w.-]+", "_", name)
        self.dir.mkdir(parents=True, exist_ok=True)
        for old in self.dir.glob("*.png"):
            old.unlink()
        self.n = 0
        self.axe = axe
        self.checked: list[str] = []

    @property
    def screen(self) -> str:
        return str(self.page.locator("body").get_attribute("data-screen"))

    def step(self) -> None:
        """Screenshot the step and check it with axe-core; then the same in high contrast (the `contrast`
        class the contrast button sets, toggled here in the page), for the colour rules."""
        self.n += 1
        body = self.page.locator("body")
        contrast = "contrast" in (body.get_attribute("class") or "")
        self.snap(contrast)
        if not self.axe:
            return
        self.checked.append(self.screen)
        key = self.key()
        if key in CHECKED:  # this very screen state passed axe earlier in the session
            return
        CHECKED.add(key)
        self.check(WCAG_RULES)
        if not contrast:
            body.evaluate("b => b.classList.add('contrast')")
            self.snap(True)
            self.check(COLOUR_RULES)
            body.evaluate("b => b.classList.remove('contrast')")

    def key(self) -> tuple[str, ...]:
        """What makes one screen differ from another for accessibility (axe checks each once a session)."""
        state = self.page.evaluate(
            """() => [document.documentElement.lang, document.body.className, document.body.dataset.screen,
                      String(document.querySelector('[data-notice]')?.dataset.notice),
                      String(document.querySelector('[data-code]')?.dataset.code),
                      String(document.querySelectorAll('input, button:not([disabled])').length)]"""
        )
        return tuple(str(x) for x in state)

    def snap(self, contrast: bool) -> None:
        self.page.screenshot(path=str(self.dir / f"{self.n:02d}-{self.screen}{'-contrast' if contrast else ''}.png"))

    def check(self, options: dict[str, Any]) -> None:
        result = AXE.run(self.page, options=options)
        assert result.violations_count == 0, f"{self.screen}: {result.generate_report()}"

    def press(self, value: str) -> Kiosk:
        self.page.click(f'button[value="{value}"]')
        self.page.wait_for_load_state()
        self.step()
        return self

    def pin(self, digits: str) -> Kiosk:
        for d in digits:
            self.page.click(f'button[data-digit="{d}"]')
        assert (
            self.page.locator("#pin").input_value() == digits
            and self.page.locator("#pin").get_attribute("type") == "password"
        )
        return self.press("pin")

    def field(self, name: str) -> str:
        return self.page.locator(f'[data-field="{name}"]').first.inner_text().strip()

    def to_type(self, card: int = 0) -> Kiosk:
        self.step()
        self.press("start").press("accept").press(f"card:{card}").press("service").pin("1234")
        assert self.screen == "remove-card"
        return self.press("removed")


def open_kiosk(chromium: Browser, url: str, name: str, *, lang: str = "ja", contrast: bool = False) -> Kiosk:
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{url}?lang={lang}")
    k = Kiosk(page, name)
    if contrast:
        page.click('button[value="contrast"]')
    return k


def finish(k: Kiosk, *, change: bool) -> None:
    """From the reminder: the voice repeats until stop; then the receipt and back to the start."""
    assert k.screen == "reminder"
    expect(k.page.locator("#reminder")).to_have_attribute("data-spoken", re.compile(r"^[2-9]|\d\d"))
    assert k.page.locator(".tray img").count() >= 1
    img = k.page.locator(".tray img").first
    assert img.evaluate("i => i.complete && i.naturalWidth > 100")  # the printed page as a picture
    if change:
        assert k.page.locator('[data-field="change"]').count() == 1
    k.press("stop")
    assert k.screen == "receipt" and k.page.locator("[data-number]").get_attribute("data-number")
    k.press("done")
    assert k.screen == "start"


@pytest.mark.parametrize("ctype", ["juminhyo", "kisai", "inkan", "shotoku"])
def test_every_certificate_type_from_start_to_receipt(chromium: Browser, serve: Any, ctype: str) -> None:
    k = open_kiosk(chromium, serve(), f"type-{ctype}")
    k.to_type().press(f"type:{ctype}")
    if k.screen == "kind":
        k.page.check('input[name="kind"][value="members"]')
        k.page.check('input[name="members"][value="R2"]')
        k.press("kind")
    if k.screen == "items":
        boxes = k.page.locator('input[name="items"]')
        for i in range(min(2, boxes.count())):
            boxes.nth(i).check()
        k.press("items")
    assert k.screen == "copies"
    k.page.click('[data-step="1"]')
    k.press("copies")
    assert k.screen == "confirm" and k.field("copies") == "2" and k.field("total") == "500円"
    k.press("confirm")
    k.press("coin:100")
    assert k.page.locator('button[value="pay"]').is_disabled() and k.field("due") == "400円"
    k.press("coin:500")
    assert k.field("due") == "0円"
    k.press("pay")
    finish(k, change=True)
    k.page.close()


@pytest.mark.parametrize(("lang", "contrast"), [(lang, False) for lang in LANGUAGES] + [("ja", True), ("en", True)])
def test_every_language_from_start_to_receipt(chromium: Browser, serve: Any, lang: str, contrast: bool) -> None:
    k = open_kiosk(chromium, serve(), f"lang-{lang}{'-contrast' if contrast else ''}", lang=lang, contrast=contrast)
    assert k.page.locator("html").get_attribute("lang") == lang
    k.to_type().press("type:inkan")
    k.press("copies").press("confirm").press("coin:1000").press("pay")
    finish(k, change=True)
    assert {"start", "terms", "card", "service", "pin", "remove-card", "type", "copies", "confirm", "pay"} <= set(
        k.checked
    )
    assert {"reminder", "receipt"} <= set(k.checked)
    k.page.close()


def test_language_switch_keeps_the_screen_and_large_text(chromium: Browser, serve: Any) -> None:
    k = open_kiosk(chromium, serve(), "switch")
    k.press("start")
    size = k.page.locator("h1").evaluate("h => parseFloat(getComputedStyle(h).fontSize)")
    k.press("lang:pt")
    assert k.screen == "terms" and k.page.locator("html").get_attribute("lang") == "pt"
    assert k.page.locator("h1").inner_text() == "Termos de uso"
    k.press("large")
    assert k.page.locator("h1").evaluate("h => parseFloat(getComputedStyle(h).fontSize)") > size * 1.2
    k.press("lang:ja")
    assert k.page.locator("h1").inner_text() == "利用規約"
    k.page.close()


def test_wrong_pin_then_locked_card(chromium: Browser, serve: Any) -> None:
    k = open_kiosk(chromium, serve(), "wrong-pin-locked", lang="en")
    k.step()
    k.press("start").press("accept").press("card:1").press("service")
    assert k.page.locator(".tries").inner_text() == "Tries left: 3"
    k.pin("9999")
    assert k.screen == "pin" and k.page.locator(".tries").inner_text() == "Tries left: 2"
    assert "9999" not in k.page.content()
    k.pin("0000").pin("1111")
    assert k.screen == "ended" and "locked" in k.page.locator(".ending").inner_text()
    k.press("done").press("start").press("accept").press("card:1").press("service")
    assert k.page.locator(".ending").get_attribute("data-code") == "card-pin-blocked"
    k.page.close()


def test_jam_refunds_the_money(chromium: Browser, serve: Any) -> None:
    k = open_kiosk(chromium, serve(), "jam", lang="es")
    k.to_type().press("type:inkan").press("copies").press("confirm")
    k.press("fault:jam")
    assert k.page.locator('button[value="fault:jam"]').get_attribute("aria-pressed") == "true"
    k.press("coin:100").press("coin:100").press("coin:50").press("pay")
    assert k.screen == "ended"
    assert k.page.locator(".ending").get_attribute("data-code") == "printer-jam"
    assert k.field("refund") == "Se le devuelven 250 yenes. Recójalos."
    assert k.page.locator(".tray img").count() == 0
    k.page.close()


def test_idle_timeout_warns_then_cancels_and_refunds(chromium: Browser, serve: Any) -> None:
    k = open_kiosk(chromium, serve(idle_seconds=3.0, warn_seconds=2.0), "timeout", lang="en")
    k.axe = False  # the steps were checked in the other walks; here the clock matters
    k.to_type().press("type:inkan").press("copies").press("confirm").press("coin:100")
    expect(k.page.locator("dialog#idle")).to_be_visible(timeout=3000)
    k.step()
    k.page.wait_for_selector('body[data-screen="ended"]', timeout=5000)
    k.step()
    assert k.page.locator(".ending").get_attribute("data-code") == "timeout"
    assert k.page.locator(".ending").get_attribute("data-refund") == "100"
    k.page.wait_for_selector('body[data-screen="start"]', timeout=6000)  # nobody there: back to the start
    k.page.close()


def test_back_from_the_confirmation_to_change_the_copies(chromium: Browser, serve: Any) -> None:
    k = open_kiosk(chromium, serve(), "correct-copies", lang="ko")
    k.to_type().press("type:inkan").press("copies")
    assert k.screen == "confirm" and k.field("copies") == "1"
    k.press("correct:copies")
    assert k.screen == "copies"
    k.page.click('[data-step="1"]')
    k.page.click('[data-step="1"]')
    k.press("copies")
    assert k.screen == "confirm" and k.field("copies") == "3" and k.field("total") == "750엔"
    k.press("confirm")
    assert k.field("due") == "750엔"
    k.page.close()


def test_the_screen_works_with_the_keyboard_alone(chromium: Browser, serve: Any) -> None:
    k = open_kiosk(chromium, serve(), "keyboard", lang="en")
    page = k.page
    page.locator('button[value="start"]').focus()
    page.keyboard.press("Enter")
    page.wait_for_selector('body[data-screen="terms"]')
    page.locator('button[value="accept"]').focus()
    page.keyboard.press("Enter")
    page.wait_for_selector('body[data-screen="card"]')
    page.locator('button[value="card:0"]').focus()
    page.keyboard.press("Enter")
    page.wait_for_selector('body[data-screen="service"]')
    page.keyboard.press("Tab")  # focus moves with the keyboard
    page.locator('button[value="service"]').focus()
    page.keyboard.press("Enter")
    page.wait_for_selector('body[data-screen="pin"]')
    page.locator("#pin").focus()
    page.keyboard.type("1234")
    page.keyboard.press("Enter")
    page.wait_for_selector('body[data-screen="remove-card"]')
    k.step()
    page.close()
