"""The public service page in Debian's Chromium: axe-core finds no WCAG 2.2 A/AA violation in any kiosk
language, and the step pictures load."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from playwright.sync_api import Browser

from kofu.common.clock import FixedClock
from kofu.info.api import create_router
from kofu.info.i18n import LANGUAGES
from kofu.issuer.tenant import TenantDirectory
from tests.info.test_api import tenants  # noqa: F401  (the fixture)
from tests.kiosk.ui.test_browser import AXE, WCAG_RULES, Server, chromium  # noqa: F401

pytestmark = pytest.mark.slow


@pytest.fixture
def url(tenants: TenantDirectory) -> Iterator[str]:  # noqa: F811
    app = FastAPI()
    app.include_router(create_router(tenants, FixedClock(datetime(2026, 6, 1, 3, 0, tzinfo=UTC))))
    server = Server(app)
    yield server.url
    server.stop()


def test_the_service_page_is_accessible_in_every_language(chromium: Browser, url: str) -> None:  # noqa: F811
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    for lang in LANGUAGES:
        page.goto(f"{url}info/282286?lang={lang}")
        assert page.locator("html").get_attribute("lang") == lang
        result = AXE.run(page, options=WCAG_RULES)
        assert result.violations_count == 0, f"{lang}: {result.generate_report()}"
        pictures = page.locator("ol.steps img")
        assert pictures.count() == 9
        pictures.last.scroll_into_view_if_needed()
        assert pictures.last.evaluate("i => i.decode().then(() => i.naturalWidth)") == 720
    page.close()
