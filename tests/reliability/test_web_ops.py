"""The one-process web app (`kofu demo`): /healthz and /metrics for it and its mounted issuer and JPKI,
and one request id per kiosk transaction in the JSON logs (the headless kiosk's own flow)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from kofu.bootstrap import Container
from kofu.card.readers import InProcessReader
from kofu.center.client import CenterClient
from kofu.cli.kiosk import demo_kiosk
from kofu.kiosk.devices import CardSlot, CoinVendor, Printer, ReceiptPrinter, Speaker
from kofu.kiosk.flow import Devices, Kiosk, Script
from kofu.ops import configure_logging
from kofu.web import center_service, create_web_app
from tests.kiosk.test_cli import home  # noqa: F401  (the fixture)

pytestmark = [pytest.mark.reliability]


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    configure_logging("web", stream=stream)
    try:
        yield stream
    finally:
        for h in list(root.handlers):
            root.removeHandler(h)
        for h in saved[0]:
            root.addHandler(h)
        root.setLevel(saved[1])


def test_web_app_health_metrics_and_one_request_id_per_transaction(
    home: tuple[Container, Path],  # noqa: F811
    tmp_path: Path,
    json_logs: io.StringIO,
) -> None:
    c, card_path = home
    service = center_service(c)
    app = create_web_app(c, service)
    kiosk_id, secret = demo_kiosk(c, service)
    center = CenterClient.in_process(app, kiosk_id, secret)
    ids = []
    for _ in range(2):
        reader = InProcessReader(c.window.card_file(card_path).load())
        devices = Devices(CardSlot(), CoinVendor(), Printer(tmp_path / "tray"), Speaker(), ReceiptPrinter(tmp_path))
        result = Kiosk(center, devices).run(Script(card=reader, pins=["1234"], type="juminhyo", coins=[500]))
        assert result.ok, result
        ids.append(center.request_id)
    assert ids[0] != ids[1], "each customer transaction has its own id"

    lines = [json.loads(line) for line in json_logs.getvalue().splitlines()]
    requests = [x for x in lines if x["logger"] == "kofu.http"]
    for rid in ids:
        routes = [x["route"] for x in requests if x["request_id"] == rid]
        assert "/v1/sessions" in routes and "/v1/orders/{order_id}/print-result" in routes, routes
    assert {x["request_id"] for x in requests} == set(ids)

    http = center.http
    assert http.get("/healthz").json() == {"status": "ok"}
    assert http.get("/issuer/healthz").status_code == 200 and http.get("/jpki/healthz").status_code == 200
    for path, service_name in (("/metrics", "web"), ("/issuer/metrics", "issuer"), ("/jpki/metrics", "jpki")):
        metrics = http.get(path)
        assert metrics.status_code == 200 and "# TYPE kofu_http_requests_total counter" in metrics.text
        assert f'service="{service_name}"' in metrics.text
    assert 'route="/v1/orders/{order_id}/documents",service="web",status="200"' in http.get("/metrics").text
