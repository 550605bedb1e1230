"""The issuer API in-process (TestClient): every endpoint, refusals as 422 with codes, 404, bad bodies, and
the center-only rule (the peer certificate's CN from the ASGI TLS extension)."""

from __future__ import annotations

import base64
import hashlib
import warnings
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from starlette.exceptions import StarletteDeprecationWarning

from kofu.issuer.api import create_app
from kofu.issuer.pki import CENTER_CN, Role, create_ca, issue_leaf
from kofu.registry.model import CardLink
from kofu.registry.store import RegistryStore
from kofu.verify.service import Outcome

from .conftest import NOW, World

with warnings.catch_warnings():  # starlette asks for httpx2; httpx is what this project installs
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

T = "282286"
AT = NOW.isoformat()


def with_peer(app: Any, common_name: str | None) -> Callable[..., Any]:
    """The app as uvicorn with `tls_protocol()` presents it: the client certificate in the TLS extension."""
    chain: list[str] = []
    if common_name is not None:
        _, cert = issue_leaf(create_ca(), common_name, Role.CLIENT)
        chain = [cert.public_bytes(serialization.Encoding.PEM).decode()]

    async def asgi(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope = {**scope, "extensions": {"tls": {"client_cert_chain": chain}}}
        await app(scope, receive, send)

    return asgi


@pytest.fixture
def client(world: World) -> TestClient:
    return TestClient(with_peer(create_app(world.issuer), CENTER_CN))


def request(type_: str = "juminhyo", resident: str = "R1", **more: Any) -> dict[str, Any]:
    return {"tenant": T, "resident_id": resident, "type": type_, **more}


def test_healthz_and_openapi(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/identify", "/v1/admit", "/v1/menu", "/v1/quote", "/v1/issue", "/v1/void", "/healthz"} <= set(paths)


def test_identify(world: World, client: TestClient) -> None:
    with world.engine.begin() as conn:
        RegistryStore(conn).add_card_link(CardLink(T, "R1", "0A1B", date(2025, 1, 1), date(2025, 1, 2)))
    card = client.post("/v1/identify", json={"cert_serial": "0A1B"}).json()["card"]
    assert card["tenant"] == T and card["resident_id"] == "R1" and card["usable_from"] == "2025-01-02"
    assert client.post("/v1/identify", json={"cert_serial": "FFFF"}).json() == {"card": None}


def test_admit_is_identify_and_menu_in_one_call(world: World, client: TestClient) -> None:
    with world.engine.begin() as conn:
        RegistryStore(conn).add_card_link(CardLink(T, "R1", "0A1B", date(2025, 1, 1), date(2025, 1, 2)))
    admitted = client.post("/v1/admit", json={"cert_serial": "0A1B", "at": AT})
    assert admitted.status_code == 200
    card = client.post("/v1/identify", json={"cert_serial": "0A1B"}).json()["card"]
    menu = client.post("/v1/menu", json={"tenant": T, "resident_id": "R1", "at": AT, "cert_serial": "0A1B"}).json()
    assert admitted.json() == {"card": card, "menu": menu}
    assert client.post("/v1/admit", json={"cert_serial": "FFFF", "at": AT}).json() == {"card": None, "menu": None}
    assert client.post("/v1/admit", json={"cert_serial": "0A1B"}).status_code == 422  # `at` is required
    naive = client.post("/v1/admit", json={"cert_serial": "0A1B", "at": "2026-04-01T10:00:00"})
    assert naive.status_code == 422


def test_menu(client: TestClient) -> None:
    response = client.post("/v1/menu", json={"tenant": T, "resident_id": "R1", "at": AT})
    assert response.status_code == 200
    menu = response.json()
    assert menu["tenant"] == T and menu["municipality"] == "加東市"
    assert {e["type"] for e in menu["entries"]} >= {"juminhyo", "inkan"}
    assert {m["resident_id"] for m in menu["members"]} == {"R2", "R3"}
    child = client.post("/v1/menu", json={"tenant": T, "resident_id": "R3", "at": AT}).json()
    assert [r["code"] for r in child["refusals"]] == ["under-15"]


def test_quote_and_refusal(client: TestClient) -> None:
    quote = client.post("/v1/quote", json={"request": request(copies=2), "at": AT}).json()
    assert quote["copies"] == 2 and quote["total"] == 2 * quote["fee_each"] > 0
    refused = client.post("/v1/quote", json={"request": request(resident="R3"), "at": AT})
    assert refused.status_code == 422
    body = refused.json()
    assert body["error"] == "not-eligible"
    assert body["refusals"][0]["code"] == "under-15"
    assert body["refusals"][0]["message_ja"].startswith("15歳未満")
    assert set(body["refusals"][0]) == {"code", "message_en", "message_ja", "detail"}


def test_issue_and_void(world: World, client: TestClient) -> None:
    response = client.post("/v1/issue", json={"request": request("inkan"), "at": AT, "order_id": "O-1"})
    assert response.status_code == 200, response.text
    body = response.json()
    pdf = base64.b64decode(body["pdf_base64"])
    assert hashlib.sha256(pdf).hexdigest() == body["pdf_sha256"]
    assert body["tenant"] == T and body["copies"] == 1 and body["statement"].startswith("KOFU1.")
    assert world.verifier.verify_pdf(pdf).outcome is Outcome.VALID
    voided = client.post("/v1/void", json={"tenant": T, "number": body["number"], "reason": "print-failed"})
    assert voided.json() == {"tenant": T, "number": body["number"], "status": "voided", "reason": "print-failed"}
    assert world.verifier.verify_pdf(pdf).outcome is Outcome.VOIDED


def test_issue_refused(client: TestClient) -> None:
    response = client.post("/v1/issue", json={"request": request(copies=99), "at": AT, "order_id": "O-2"})
    assert response.status_code == 422
    assert [r["code"] for r in response.json()["refusals"]] == ["too-many-copies"]


def test_not_found(client: TestClient) -> None:
    missing = client.post("/v1/void", json={"tenant": T, "number": 999, "reason": "cancelled"})
    assert missing.status_code == 404 and missing.json()["error"] == "not-found"
    unknown_tenant = client.post("/v1/menu", json={"tenant": "999999", "resident_id": "R1", "at": AT})
    assert unknown_tenant.status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"request": request("nosuchtype"), "at": AT},
        {"request": request(), "at": "2026-11-25T10:00:00"},  # no time zone
        {"request": request(), "at": AT, "surprise": 1},
        {"at": AT},
    ],
)
def test_bad_bodies(client: TestClient, body: dict[str, Any]) -> None:
    response = client.post("/v1/quote", json=body)
    assert response.status_code == 422
    assert "detail" in response.json()


@pytest.mark.parametrize("peer", [None, "kofu-kiosk", "kofu-issuer"])
def test_only_the_center_may_call(world: World, peer: str | None) -> None:
    client = TestClient(with_peer(create_app(world.issuer), peer))
    for path, body in (("/v1/identify", {"cert_serial": "0A1B"}), ("/v1/admit", {"cert_serial": "0A1B", "at": AT})):
        response = client.post(path, json=body)
        assert response.status_code == 403
        assert response.json()["error"] == "forbidden"
    assert client.get("/healthz").status_code == 200  # the TLS handshake already keeps strangers out


def test_without_tls_information_the_app_refuses(world: World, tmp_path: Path) -> None:
    plain = TestClient(create_app(world.issuer))
    assert plain.post("/v1/identify", json={}).status_code == 403
    trusting = TestClient(create_app(world.issuer, client_cn=None))
    assert trusting.post("/v1/identify", json={}).json() == {"card": None}
