"""The staff login of `/reports/`: nobody reads the reports without the staff's name and password."""

from __future__ import annotations

import base64
import subprocess
import sys
import warnings
from datetime import UTC, datetime
from pathlib import Path

import pytest
from starlette.exceptions import StarletteDeprecationWarning

from kofu.bootstrap import Container, Settings
from kofu.common.clock import FixedClock
from kofu.common.errors import InvalidInput
from kofu.reports.staff import StaffLogin, basic_credentials, hash_password, password_matches
from kofu.web import create_web_app, demo_reports_staff

from .test_overview_web import home  # noqa: F401  (the fixture)

with warnings.catch_warnings():  # starlette asks for httpx2; the project installs httpx
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

PAGES = [
    "/reports/",
    "/reports/2026-04-01_2027-04-30/",
    "/reports/2026-04-01_2027-04-30/uptake.png",
    "/reports/2026-04-01_2027-04-30/282286/",
    "/reports/2026-04-01_2027-04-30/282286/report.xlsx",
    "/reports/2026-04-01_2027-04-30/281000/",  # not even whether a tenant exists
]
CLOCK = FixedClock(datetime(2027, 4, 30, 3, 0, tzinfo=UTC))


def _client(where: Path, staff: StaffLogin | None = None, **settings: str) -> TestClient:
    c = Container(Settings(home=where, **settings), clock=CLOCK)  # type: ignore[arg-type]
    return TestClient(create_web_app(c, staff=staff))


def _refused(response: object, *, configured: bool = True) -> None:
    r = response  # an httpx.Response
    assert r.status_code == 401  # type: ignore[attr-defined]
    assert r.headers["www-authenticate"].startswith('Basic realm="kofu reports"')  # type: ignore[attr-defined]
    detail = r.json()["detail"]  # type: ignore[attr-defined]
    if configured:
        assert "職員専用" in detail and "staff only" in detail
    else:
        assert "設定されていません" in detail and "No staff login is configured" in detail


def test_without_the_staff_login_every_page_is_401_in_japanese_and_english(home: Path) -> None:  # noqa: F811
    staff, password = StaffLogin.generate("kakari")
    client = _client(home, staff)
    for page in PAGES:
        _refused(client.get(page, follow_redirects=False))
        _refused(client.get(page, auth=("kakari", password + "x")))  # wrong password
        _refused(client.get(page, auth=("other", password)))  # wrong user
        _refused(client.get(page, headers={"Authorization": "Basic not-base64!"}))
        _refused(client.get(page, headers={"Authorization": f"Bearer {password}"}))
    ok = client.get("/reports/?from=2026-04-01&to=2027-04-30", auth=("kakari", password))
    assert ok.status_code == 200 and "コンビニ交付 運用報告（全団体）" in ok.text
    png = client.get("/reports/2026-04-01_2027-04-30/uptake.png", auth=("kakari", password))
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    # the rest of the app is as public as before
    assert client.get("/verify/").status_code == 200 and client.get("/info/").status_code == 200


def test_the_login_comes_from_kofu_reports_staff(home: Path) -> None:  # noqa: F811
    setting = f"jimu:{hash_password('a long staff password')}"
    client = _client(home, reports_staff=setting)
    page = "/reports/2026-04-01_2027-04-30/282286/"
    _refused(client.get(page))
    assert client.get(page, auth=("jimu", "a long staff password")).status_code == 200
    _refused(client.get(page, auth=("jimu", "a long staff passwore")))


def test_with_no_login_configured_nobody_gets_in(home: Path) -> None:  # noqa: F811
    client = _client(home)
    for page in PAGES[:2]:
        _refused(client.get(page), configured=False)
        _refused(client.get(page, auth=("staff", "anything")), configured=False)


def test_the_demo_prints_a_fresh_password_that_logs_in(home: Path) -> None:  # noqa: F811
    c = Container(Settings(home=home), clock=CLOCK)
    staff, how = demo_reports_staff(c)
    password = how.rsplit("password ", 1)[1]
    assert how.startswith("staff login: user staff, password ") and len(password) >= 16
    client = TestClient(create_web_app(c, staff=staff))
    assert client.get("/reports/2026-04-01_2027-04-30/", auth=("staff", password)).status_code == 200
    again, how_again = demo_reports_staff(c)
    assert how_again != how and not again.check("staff", password)  # a new one at each start
    configured = Container(Settings(home=home, reports_staff=staff.setting()), clock=CLOCK)
    kept, told = demo_reports_staff(configured)
    assert kept.check("staff", password) and password not in told and "KOFU_REPORTS_STAFF" in told


def test_hashes_are_salted_scrypt_and_checked_exactly() -> None:
    one, two = hash_password("correct horse"), hash_password("correct horse")
    assert one != two and one.startswith("scrypt$16384$8$1$")
    assert password_matches("correct horse", one) and password_matches("correct horse", two)
    assert not password_matches("correct hors", one) and not password_matches("correct horse", "plain")
    staff = StaffLogin.parse(f"kakari:{one}")
    assert staff.check("kakari", "correct horse") and staff.check("kakari", "correct horse")  # remembered
    assert not staff.check("kakari", "Correct horse") and not staff.check("kakarI", "correct horse")
    assert "correct horse" not in repr(staff)
    for bad in ("kakari", f":{one}", "kakari:plain", "kakari:scrypt$1$2"):
        with pytest.raises(InvalidInput):
            StaffLogin.parse(bad)


def test_basic_credentials_are_utf8_and_may_hold_colons() -> None:
    header = "Basic " + base64.b64encode("係:pass:word".encode()).decode()
    assert basic_credentials(header) == ("係", "pass:word")
    assert basic_credentials(None) is None and basic_credentials("Basic") is None
    assert basic_credentials("Basic " + base64.b64encode(b"no-colon").decode()) is None


def _hash_command(typed: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kofu.reports.staff", "kakari"],
        input=typed,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_hash_command_prints_a_setting_that_parses() -> None:
    run = _hash_command("twelve chars pw\ntwelve chars pw\n")
    assert run.returncode == 0, run.stderr
    line = run.stdout.strip().splitlines()[-1]
    assert line.startswith("KOFU_REPORTS_STAFF='kakari:scrypt$") and "twelve" not in line
    assert StaffLogin.parse(line.split("=", 1)[1].strip("'")).check("kakari", "twelve chars pw")
    short = _hash_command("short\nshort\n")
    assert short.returncode == 2 and "12 characters" in short.stderr


@pytest.mark.slow
def test_in_the_browser_the_reports_need_the_staff_login(home: Path) -> None:  # noqa: F811
    from playwright.sync_api import Error as PlaywrightError

    from tests.kiosk.ui.test_browser import Server, close_chromium, launch_chromium

    staff, password = StaffLogin.generate("kakari")
    server = Server(create_web_app(Container(Settings(home=home), clock=CLOCK), staff=staff))
    try:
        chromium = launch_chromium()
        # Headless Chromium, offered no credentials, gives up on the Basic challenge (a person would see the
        # login prompt); offered wrong ones, it tries them once and shows the 401 page.
        with pytest.raises(PlaywrightError, match="ERR_INVALID_AUTH_CREDENTIALS"):
            chromium.new_context().new_page().goto(server.url + "reports/")
        for user, guess in (("kakari", "guess"), ("someone", password)):
            page = chromium.new_context(http_credentials={"username": user, "password": guess}).new_page()
            refused = page.goto(server.url + "reports/")
            assert refused is not None and refused.status == 401
            assert "職員専用" in page.content() and "staff only" in page.content()
        staff_page = chromium.new_context(http_credentials={"username": "kakari", "password": password}).new_page()
        response = staff_page.goto(server.url + "reports/?from=2026-04-01&to=2027-04-30")
        assert response is not None and response.status == 200
        assert staff_page.title().startswith("コンビニ交付 運用報告（全団体）")
        assert staff_page.url.endswith("/reports/2026-04-01_2027-04-30/")
        chart = staff_page.locator("img").first  # the charts load with the same login
        assert chart.evaluate("img => img.complete && img.naturalWidth > 0")
    finally:
        close_chromium()
        server.stop()
