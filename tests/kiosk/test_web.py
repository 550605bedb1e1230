"""The one-process web app of `kofu demo`: a kiosk prints through its center API, the printed PDF is
verified on its /verify page, the JPKI authority answers under /jpki, the issuer refuses anyone without
the center's certificate."""

from __future__ import annotations

from pathlib import Path

from kofu.bootstrap import Container
from kofu.card.readers import InProcessReader
from kofu.center.client import CenterClient
from kofu.cli.kiosk import demo_kiosk
from kofu.kiosk.devices import CardSlot, CoinVendor, Printer, ReceiptPrinter, Speaker
from kofu.kiosk.flow import Devices, Kiosk, Script
from kofu.reports.staff import StaffLogin
from kofu.web import center_service, create_web_app

from .test_cli import home  # noqa: F401  (the fixture)


def test_kiosk_prints_through_the_web_app_and_the_page_verifies_it(
    home: tuple[Container, Path],  # noqa: F811
    tmp_path: Path,
) -> None:
    c, card_path = home
    service = center_service(c)
    staff, password = StaffLogin.generate()
    app = create_web_app(c, service, staff=staff)
    kiosk_id, secret = demo_kiosk(c, service)
    assert demo_kiosk(c, service) == (kiosk_id, secret)  # kept in KOFU_HOME/keys, registered once
    center = CenterClient.in_process(app, kiosk_id, secret)
    reader = InProcessReader(c.window.card_file(card_path).load())
    devices = Devices(CardSlot(), CoinVendor(), Printer(tmp_path / "tray"), Speaker(), ReceiptPrinter(tmp_path))
    result = Kiosk(center, devices).run(Script(card=reader, pins=["1234"], type="juminhyo", coins=[500]))
    assert result.ok, result

    http = center.http
    assert http.get("/healthz").json() == {"status": "ok"}
    pdf = Path(result.files[0]).read_bytes()
    page = http.post("/verify/pdf", files={"file": ("c.pdf", pdf, "application/pdf")})
    assert 'data-outcome="valid"' in page.text and (result.number or "?") in page.text
    assert http.get("/jpki/healthz").status_code == 200
    assert http.post("/issuer/v1/identify", json={"cert_serial": "01"}).status_code == 403
    landing = http.get("/")
    for page in ("/kiosk/", "/info/", "/verify/", "/reports/"):
        assert f'href="{page}"' in landing.text
        assert http.get(page, auth=("staff", password)).status_code == 200, page
    assert http.get("/reports/").status_code == 401  # staff only
