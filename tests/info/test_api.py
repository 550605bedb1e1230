"""The public service page `/info/CODE` from the demo tenants' settings: fees beside window fees, hours,
closed days, who may use it, the steps; in every kiosk language, every message translated."""

from __future__ import annotations

import re
import string
import warnings
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from fastapi import FastAPI
from starlette.exceptions import StarletteDeprecationWarning

import kofu.demo
import kofu.info
from kofu.common.clock import FixedClock
from kofu.info.api import create_router
from kofu.info.i18n import LANGUAGES, LOCALE_DIR, po_file
from kofu.issuer.tenant import CertificateType, TenantDirectory

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

KANA = re.compile(r"[\u3040-\u30ff]")
HAN = re.compile(r"[\u4e00-\u9fff]")
DAY = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)


@pytest.fixture
def tenants(tmp_path: Path) -> TenantDirectory:
    src = Path(kofu.demo.__file__).parent / "tenants"
    for f in src.glob("*.toml"):
        (tmp_path / f.name).write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    return TenantDirectory(tmp_path)


@pytest.fixture
def http(tenants: TenantDirectory) -> Any:
    app = FastAPI()
    app.include_router(create_router(tenants, FixedClock(DAY)))
    return TestClient(app)


def test_kato_city_in_japanese_from_its_settings(http: Any, tenants: TenantDirectory) -> None:
    t = tenants.get("282286")
    page = http.get("/info/282286").text
    assert '<html lang="ja">' in page and "加東市のコンビニ交付" in page
    for c in t.certificates:
        fee = c.fee_on(DAY.date())
        assert fee is not None
        row = re.search(rf'<tr data-type="{c.type.value}">(.*?)</tr>', page, re.S)
        assert row, c.type
        assert CertificateType(c.type).title_ja in row.group(1)
        assert f'data-field="convenience">{fee.convenience}円' in row.group(1)
        assert f'data-field="window">{fee.window}円' in row.group(1)
        assert f"窓口より{fee.window - fee.convenience}円安い" in row.group(1)
    assert f"毎日 {t.hours.open}〜{t.hours.close}" in page and "12月29日から1月3日" in page
    assert "15歳未満" in page and "翌日から" in page and "所得証明書：今年度と過去1年度分" in page
    assert 'href="/kiosk/?lang=ja"' in page


def test_the_fees_follow_the_ordinance_date(tenants: TenantDirectory) -> None:
    app = FastAPI()
    app.include_router(create_router(tenants, FixedClock(datetime(2027, 4, 2, 3, 0, tzinfo=UTC))))
    page = TestClient(app).get("/info/282286").text
    assert 'data-field="convenience">200円' in page and "窓口より100円安い" in page  # FY2027: 200 yen


def test_weekday_hours_maintenance_and_card_app_come_from_the_settings(http: Any, tenants: TenantDirectory) -> None:
    path = tenants.path_of("282286")
    text = path.read_text(encoding="utf-8").replace('days = "all"', 'days = "weekdays"')
    text = text.replace('card_method = "jpki"', 'card_method = "both"')
    text = text.replace(
        "closed_new_year = true",
        "closed_new_year = true\nmaintenance = [{ start = 2026-06-10T01:00:00+09:00, "
        "end = 2026-06-10T05:00:00+09:00 }]",
    )
    path.write_text(text, encoding="utf-8")
    page = http.get("/info/282286?lang=en").text
    assert "Weekdays except national holidays, 06:30–23:00" in page
    assert "Closed for maintenance: 2026-06-10 01:00 – 2026-06-10 05:00" in page
    assert "card application can also be used" in page


def test_unknown_municipality_is_404_and_the_index_lists_all(http: Any, tenants: TenantDirectory) -> None:
    r = http.get("/info/999999")
    assert r.status_code == 404 and "no such municipality" in r.text
    index = http.get("/info/?lang=en").text
    assert all(f'href="{code}?lang=en"' in index for code in tenants.codes())


def used_messages() -> set[str]:
    found = extract_from_dir(
        str(Path(kofu.info.__file__).parent),
        method_map=[("**/templates/**.html", "jinja2"), ("**.py", "python")],
        keywords={"_": None, "N_": None},
    )
    return {m for _f, _l, m, _c, _x in found if isinstance(m, str)}


@pytest.mark.parametrize("lang", sorted(LANGUAGES))
def test_every_message_is_translated(lang: str) -> None:
    with po_file(LOCALE_DIR, "info", lang).open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    used = used_messages()
    assert len(used) > 30
    missing = sorted(m for m in used if m not in catalog or not str(catalog[m].string or "").strip())
    assert not missing, f"{lang}: {missing[:5]}"
    fields = string.Formatter()
    for m in used:
        want = {f for _t, f, _s, _c in fields.parse(m) if f}
        assert want == {f for _t, f, _s, _c in fields.parse(str(catalog[m].string)) if f}, (lang, m)


@pytest.mark.parametrize("lang", sorted(set(LANGUAGES) - {"ja"}))
def test_no_japanese_on_the_page_in_another_language(http: Any, lang: str) -> None:
    page = http.get(f"/info/282286?lang={lang}").text
    assert f'<html lang="{lang}">' in page and "Kato City" in page
    foreign = re.compile(r"<(\w+)[^>]*\blang=\"(?!" + lang + r"\")[^\"]+\"[^>]*>.*?</\1>", re.S)
    text = foreign.sub(" ", page)
    text = re.sub(r"<[^>]+>", " ", text)
    assert not KANA.search(text), KANA.findall(text)[:10]
    if lang != "zh":
        assert not HAN.search(text), HAN.findall(text)[:10]
    titles = set(re.findall(r'<span class="ja" lang="ja">([^<]+)</span>', page))
    assert titles == {CertificateType(t).title_ja for t in ("juminhyo", "kisai", "inkan", "shotoku")}


def test_service_start_in_the_future_says_not_yet(tenants: TenantDirectory) -> None:
    app = FastAPI()
    app.include_router(create_router(tenants, FixedClock(datetime(2016, 10, 6, 3, 0, tzinfo=UTC))))
    page = TestClient(app).get("/info/282286?lang=en").text
    assert "The service is not available yet." in page
    assert date(2016, 10, 6) < tenants.get("282286").service_start
