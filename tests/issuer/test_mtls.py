"""`HttpIssuerGateway` against a real uvicorn serving the issuer API over TLS with CERT_REQUIRED on loopback:
the same answers as `InProcessGateway`; strangers (no certificate, another CA, the wrong usage, plain
HTTP) are turned away; timeouts and dead ports become `IssuerUnavailable`."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import httpx
import pytest
import uvicorn
from cryptography.hazmat.primitives import serialization

from kofu.center.gateway import InProcessGateway, IssuedDocument
from kofu.common.errors import KofuError, NotFound
from kofu.issuer import audit
from kofu.issuer.api import create_app, tls_protocol
from kofu.issuer.client import HttpIssuerGateway, IssuerUnavailable, client_context
from kofu.issuer.eligibility import IssueRequest
from kofu.issuer.pki import CENTER_CN, MtlsFiles, Role, create_ca, init_pki, issue_leaf, key_pem, write_private
from kofu.issuer.service import NotEligible
from kofu.issuer.tenant import CertificateType, IssuanceKind
from kofu.ops import KEEP_ALIVE_SECONDS
from kofu.registry.model import CardLink
from kofu.registry.store import RegistryStore
from kofu.verify.service import Outcome

from .conftest import NOW, World

T = "282286"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    url: str
    port: int
    files: MtlsFiles
    world: World
    server: uvicorn.Server

    def gateway(self, **kw: float) -> HttpIssuerGateway:
        return HttpIssuerGateway.from_files(self.url, self.files, **kw)


@pytest.fixture
def served(world: World, tmp_path: Path) -> Iterator[Served]:
    files = init_pki(tmp_path / "mtls-home")
    port = free_port()
    config = uvicorn.Config(
        create_app(world.issuer),
        host="127.0.0.1",
        port=port,
        http=tls_protocol(),
        ssl_certfile=str(files.issuer_cert),
        ssl_keyfile=str(files.issuer_key),
        ssl_ca_certs=str(files.ca_cert),
        ssl_cert_reqs=ssl.CERT_REQUIRED,
        log_level="critical",
        lifespan="off",
        timeout_keep_alive=KEEP_ALIVE_SECONDS,  # as `kofu serve issuer`
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the issuer did not start"
        time.sleep(0.02)
    yield Served(f"https://127.0.0.1:{port}", port, files, world, server)
    server.should_exit = True
    thread.join(timeout=10)


def test_round_trips_match_the_in_process_gateway(served: Served) -> None:
    world = served.world
    local = InProcessGateway(world.issuer)
    with world.engine.begin() as conn:
        RegistryStore(conn).add_card_link(CardLink(T, "R1", "0A1B", date(2025, 1, 1), date(2025, 1, 2)))
    with served.gateway() as remote:
        assert remote.healthz()
        assert remote.identify(cert_serial="0A1B") == local.identify(cert_serial="0A1B")
        assert remote.identify(cert_serial="0A1B") is not None
        assert remote.identify(cert_serial="FFFF") is None
        assert remote.menu(T, "R1", at=NOW, cert_serial="0A1B") == local.menu(T, "R1", at=NOW, cert_serial="0A1B")
        assert remote.menu(T, "R3", at=NOW) == local.menu(T, "R3", at=NOW)  # under 15: person refusals
        assert remote.admit(at=NOW, cert_serial="0A1B") == local.admit(at=NOW, cert_serial="0A1B")
        assert remote.admit(at=NOW, cert_serial="0A1B") == (
            local.identify(cert_serial="0A1B"),
            local.menu(T, "R1", at=NOW, cert_serial="0A1B"),
        )
        assert remote.admit(at=NOW, cert_serial="FFFF") is None
        household = IssueRequest(T, "R1", CertificateType.JUMINHYO, IssuanceKind.HOUSEHOLD, copies=2)
        assert remote.quote(household, at=NOW, cert_serial="0A1B") == local.quote(household, at=NOW)
        shotoku = IssueRequest(T, "R1", CertificateType.SHOTOKU)
        assert remote.quote(shotoku, at=NOW) == local.quote(shotoku, at=NOW)

        doc = remote.issue(household, at=NOW, order_id="O-1", cert_serial="0A1B")
        assert isinstance(doc, IssuedDocument)
        mine = local.issue(household, at=NOW, order_id="O-2", cert_serial="0A1B")
        assert replace(doc, pdf=b"", statement="", number=0) == replace(mine, pdf=b"", statement="", number=0)
        assert doc.number + 1 == mine.number
        assert world.verifier.verify_pdf(doc.pdf).outcome is Outcome.VALID
        record = world.issuer.lookup(T, doc.number)
        assert record is not None and record.order_id == "O-1" and record.channel == "kiosk"

        remote.void(T, doc.number, reason="print-failed")
        assert world.verifier.verify_pdf(doc.pdf).outcome is Outcome.VOIDED
        again = remote.issue(household, at=NOW, order_id="O-2")  # a retried order voids the earlier one
        assert world.verifier.verify_pdf(mine.pdf).outcome is Outcome.VOIDED
        assert world.verifier.verify_pdf(again.pdf).outcome is Outcome.VALID
    assert audit.verify(world.engine) == (5, [])
    assert [k for k, _ in _entries(world)] == ["issued", "issued", "voided", "voided", "issued"]


def test_the_center_keeps_its_tls_connection_over_a_pause(served: Served) -> None:
    """A quiet store: the next call after a pause longer than uvicorn's and httpx's 5 s default uses the same
    connection — no new TCP connection and mutual-TLS handshake per issuance."""
    with served.gateway() as remote:
        assert remote.identify(cert_serial="FFFF") is None
        before = set(served.server.server_state.connections)
        assert len(before) == 1
        time.sleep(6.5)
        assert remote.identify(cert_serial="FFFF") is None
        assert set(served.server.server_state.connections) == before


def test_concurrent_calls_keep_their_connections(served: Served) -> None:
    """The center calls the issuer from up to 40 threads at once: every connection opened for them stays open
    for the next calls (httpx kept only 20 by default and closed the others after each call)."""
    from concurrent.futures import ThreadPoolExecutor

    barrier = threading.Barrier(30)
    with served.gateway() as remote:

        def call(_: int) -> None:
            barrier.wait()
            remote.identify(cert_serial="FFFF")

        with ThreadPoolExecutor(30) as pool:
            list(pool.map(call, range(30)))
        opened = set(served.server.server_state.connections)
        assert len(opened) > 20  # (the 30 calls overlapped enough to need more than httpx's default)
        for _ in range(3):
            remote.identify(cert_serial="FFFF")
        assert set(served.server.server_state.connections) == opened


def _entries(world: World) -> list[tuple[str, str]]:
    from sqlalchemy import select

    t = audit.issuer_audit
    with world.engine.connect() as conn:
        return [(str(r.kind), str(r.data)) for r in conn.execute(select(t.c.kind, t.c.data).order_by(t.c.seq))]


def test_errors_cross_the_wire(served: Served) -> None:
    local = InProcessGateway(served.world.issuer)
    child = IssueRequest(T, "R3", CertificateType.JUMINHYO)
    with pytest.raises(NotEligible) as here:
        local.quote(child, at=NOW)
    with served.gateway() as remote:
        with pytest.raises(NotEligible) as there:
            remote.quote(child, at=NOW)
        assert there.value.refusals == here.value.refusals
        assert there.value.code == "not-eligible" and there.value.message_ja == here.value.message_ja
        with pytest.raises(NotEligible) as issued:
            remote.issue(replace(child, resident_id="R1", copies=99), at=NOW, order_id="O-1")
        assert [r.code.value for r in issued.value.refusals] == ["too-many-copies"]
        with pytest.raises(NotFound):
            remote.void(T, 4242, reason="cancelled")
        with pytest.raises(NotFound):
            remote.menu("999999", "R1", at=NOW)
        with pytest.raises(KofuError) as naive:
            remote.quote(child, at=NOW.replace(tzinfo=None))
        assert naive.value.code == "invalid-input"


def test_a_client_without_a_certificate_cannot_get_in(served: Served) -> None:
    ctx = client_context(ca_cert=served.files.ca_cert, client_cert=None, client_key=None)
    with httpx.Client(verify=ctx, timeout=5) as anonymous, pytest.raises(httpx.TransportError):
        anonymous.get(f"{served.url}/healthz")
    # and at the TLS layer itself: the server's alert ends the connection before any HTTP is answered
    with pytest.raises((ssl.SSLError, ConnectionError)):
        _raw_tls_request(ctx, served.port)


def _raw_tls_request(ctx: ssl.SSLContext, port: int) -> bytes:
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = tls.recv(100)
        if not answer:
            raise ConnectionResetError("closed without an answer")
        return answer


def _foreign_files(tmp_path: Path, served: Served, *, common_name: str = CENTER_CN) -> MtlsFiles:
    """The center's name, but a certificate from a CA the issuer does not know."""
    other = create_ca("another CA")
    key, cert = issue_leaf(other, common_name, Role.CLIENT)
    files = MtlsFiles(tmp_path / "foreign")
    files.directory.mkdir()
    write_private(files.center_key, key_pem(key))
    files.center_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.ca_cert.write_bytes(served.files.ca_cert.read_bytes())  # trusts the real issuer
    return files


def test_a_certificate_from_another_ca_is_refused(served: Served, tmp_path: Path) -> None:
    files = _foreign_files(tmp_path, served)
    with HttpIssuerGateway.from_files(served.url, files, timeout=5) as impostor, pytest.raises(IssuerUnavailable):
        impostor.identify(cert_serial="0A1B")


def test_the_issuers_own_server_certificate_is_no_client_certificate(served: Served) -> None:
    f = served.files
    gateway = HttpIssuerGateway(served.url, client_cert=f.issuer_cert, client_key=f.issuer_key, ca_cert=f.ca_cert)
    with gateway, pytest.raises(IssuerUnavailable):  # OpenSSL refuses a serverAuth-only client certificate
        gateway.identify(cert_serial="0A1B")


def test_an_unknown_server_is_not_trusted(served: Served, tmp_path: Path) -> None:
    other = init_pki(tmp_path / "elsewhere")  # a different private CA
    f = served.files
    gateway = HttpIssuerGateway(served.url, client_cert=f.center_cert, client_key=f.center_key, ca_cert=other.ca_cert)
    with gateway, pytest.raises(IssuerUnavailable):
        gateway.identify(cert_serial="0A1B")


def test_plain_http_fails(served: Served) -> None:
    with httpx.Client(timeout=5) as plain, pytest.raises(httpx.TransportError):
        plain.post(f"http://127.0.0.1:{served.port}/v1/identify", json={})


def test_unreachable_and_timeout_are_issuer_unavailable(tmp_path: Path) -> None:
    files = init_pki(tmp_path / "keys")
    dead = HttpIssuerGateway.from_files(f"https://127.0.0.1:{free_port()}", files, timeout=2)
    with dead, pytest.raises(IssuerUnavailable) as unreachable:
        dead.identify(cert_serial="0A1B")
    assert unreachable.value.code == "issuer-unavailable"

    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        slow = HttpIssuerGateway.from_files(f"https://127.0.0.1:{port}", files, timeout=0.3)
        started = time.monotonic()
        with slow, pytest.raises(IssuerUnavailable) as timed_out:
            slow.issue(IssueRequest(T, "R1", CertificateType.JUMINHYO), at=NOW, order_id="O-1")
        assert time.monotonic() - started < 5
        assert "in time" in timed_out.value.message_en


def test_a_center_falls_back_to_identify_and_menu_on_an_issuer_without_admit(served: Served) -> None:
    """A rolling upgrade: the center is new, the issuer an earlier release whose router has no /v1/admit."""
    world = served.world
    app = served.server.config.app
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", "") != "/v1/admit"]
    local = InProcessGateway(world.issuer)
    with world.engine.begin() as conn:
        RegistryStore(conn).add_card_link(CardLink(T, "R1", "0A1B", date(2025, 1, 1), date(2025, 1, 2)))
    with served.gateway() as remote:
        assert remote.admit(at=NOW, cert_serial="0A1B") == local.admit(at=NOW, cert_serial="0A1B")
        assert remote.admit(at=NOW, cert_serial="FFFF") is None
        assert not remote._has_admit  # asked once, then straight to the two calls
    with served.gateway() as remote, pytest.raises(NotFound):
        remote.void(T, 4242, reason="cancelled")  # the issuer's own not-found (with its code) is still one
