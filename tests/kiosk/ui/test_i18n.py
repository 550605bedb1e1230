"""The kiosk's languages: every message translated in every catalog, and no Japanese left on a screen in
another language (except the official certificate titles, marked lang="ja", and residents' names)."""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from sqlalchemy.engine import Engine

from kofu.db.engine import create_engine_for
from kofu.kiosk.ui import app as ui_app
from kofu.kiosk.ui.i18n import LANGUAGES, po_path, translations
from tests.kiosk.ui.conftest import Browser


@pytest.fixture
def empty_engine(tmp_path: Path) -> Iterator[Engine]:
    """SQLite only: the screens' text does not depend on the database (tests/kiosk covers PostgreSQL)."""
    eng = create_engine_for(f"sqlite:///{tmp_path / 'kofu.sqlite3'}")
    yield eng
    eng.dispose()


OFFICIAL_TITLES = {"住民票の写し", "住民票記載事項証明書", "印鑑登録証明書", "所得証明書"}
KANA = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f]")
HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")


def used_messages() -> set[str]:
    """Every message id the kiosk screen uses: _() in the templates, N_() and _() in the Python code."""
    src = Path(ui_app.__file__).parent
    found = extract_from_dir(
        str(src),
        method_map=[("**/templates/**.html", "jinja2"), ("**.py", "python")],
        keywords={"_": None, "gettext": None, "N_": None},
    )
    return {msg for _fn, _line, msg, _comments, _ctx in found if isinstance(msg, str)}


def test_the_extraction_finds_the_screens_messages() -> None:
    used = used_messages()
    assert {"Government services", "I agree", "Stop the announcement", "Certificate of residence"} <= used
    assert len(used) > 100


@pytest.mark.parametrize("lang", sorted(LANGUAGES))
def test_every_message_is_translated(lang: str) -> None:
    with po_path(lang).open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    missing = sorted(m for m in used_messages() if m not in catalog or not str(catalog[m].string or "").strip())
    assert not missing, f"{lang}: {len(missing)} messages without a translation: {missing[:5]}"
    fields = string.Formatter()
    for m in used_messages():
        want = {f for _t, f, _s, _c in fields.parse(m) if f}
        got = {f for _t, f, _s, _c in fields.parse(str(catalog[m].string)) if f}
        assert want == got, f"{lang}: placeholders of {m!r} differ: {got}"
    assert translations(lang).gettext("I agree") == catalog["I agree"].string


class _Text(HTMLParser):
    """The visible text of a page, minus elements marked with another language (the language switch
    names each language in its own script; official certificate titles; residents' names)."""

    def __init__(self, page_lang: str) -> None:
        super().__init__()
        self.page_lang = page_lang
        self.stack: list[tuple[str, bool]] = []
        self.text: list[str] = []
        self.foreign: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in ("meta", "link", "input", "img", "br"):
            return
        skip = tag in ("script", "style") or (a.get("lang") not in (None, self.page_lang) and tag != "html")
        self.stack.append((tag, skip))

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            t, _ = self.stack.pop()
            if t == tag:
                break

    def handle_data(self, data: str) -> None:
        if any(skip for _t, skip in self.stack):
            if data.strip():
                self.foreign.append(data.strip())
            return
        self.text.append(data)


def walk(b: Browser) -> list[str]:
    """The pages of one customer from the start to the receipt, a correction and a cancellation."""
    pages = [b.html]
    for action, fields in [
        ("start", {}),
        ("accept", {}),
        ("card:0", {"method": "jpki"}),
        ("service", {}),
        ("pin", {"pin": "9999"}),
        ("pin", {"pin": "1234"}),
        ("removed", {}),
        ("type:juminhyo", {}),
        ("kind", {"kind": "members", "members": ["R2"]}),
        ("items", {"items": ["household_head", "my_number"]}),
        ("copies", {"copies": "2"}),
        ("correct:copies", {}),
        ("copies", {"copies": "1"}),
        ("confirm", {}),
        ("coin:100", {}),
        ("pay", {}),
        ("coin:1000", {}),
        ("pay", {}),
        ("stop", {}),
        ("done", {}),
        ("start", {}),
        ("cancel", {}),
    ]:
        b.act(action, **fields)
        pages.append(b.html)
    return pages


@pytest.mark.parametrize("lang", sorted(set(LANGUAGES) - {"ja"}))
def test_no_japanese_is_left_on_a_screen_in_another_language(browser: Browser, lang: str) -> None:
    b = browser.act(f"lang:{lang}")
    screens = set()
    for html in walk(b):
        screens.add(re.search(r'data-screen="([^"]+)"', html).group(1))  # type: ignore[union-attr]
        parser = _Text(lang)
        parser.feed(html)
        text = " ".join(parser.text)
        assert not KANA.search(text), f"{lang}: kana on the {screens} screen: {KANA.findall(text)[:10]}"
        if lang != "zh":
            assert not HAN.search(text), f"{lang}: kanji on a screen: {HAN.findall(text)[:10]}"
        titles = {t.strip("（）") for t in parser.foreign} - set(LANGUAGES.values())
        names = set(re.findall(r'data-name="1">([^<]*)<', html))
        assert titles - names <= OFFICIAL_TITLES, titles - names
    assert screens >= {"start", "terms", "card", "service", "pin", "remove-card", "type", "kind", "items"}
    assert screens >= {"copies", "confirm", "pay", "reminder", "receipt", "ended"}


def test_japanese_screens_are_japanese(browser: Browser) -> None:
    pages = walk(browser)
    assert "行政サービス" in pages[0] and "同意する" in pages[1] and "証明書交付サービス" in pages[4]
    assert all('<html lang="ja">' in p for p in pages)
