"""An authority over the shared `engine` (SQLite and PostgreSQL), card keys, and helpers to forge certificates."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import Engine

from kofu.common.clock import FixedClock
from kofu.jpki.api import create_app
from kofu.jpki.ca import CertificateAuthority
from kofu.jpki.model import POLICY, CertKind
from kofu.jpki.service import Authority

BIRTH = date(1980, 6, 15)


@pytest.fixture(scope="session")
def jpki_keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One pair of CAs for the whole session (RSA key generation is the slow part), valid from 2020 so that
    both the fixed-clock tests (2025) and the real-time ones (openssl, HTTP) fall inside their validity."""
    keys = tmp_path_factory.mktemp("keys") / "jpki"
    for kind in CertKind:
        CertificateAuthority.load_or_create(keys, kind, now=datetime(2020, 1, 1, tzinfo=UTC))
    return keys


@pytest.fixture(scope="session")
def card_key() -> rsa.RSAPrivateKey:
    """Stands in for the key pair generated on the card; only its public half goes to the authority."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def authority(engine: Engine, jpki_keys: Path, clock: FixedClock) -> Authority:
    return Authority(engine, jpki_keys, clock)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live(engine: Engine, jpki_keys: Path) -> Authority:
    """Real time: openssl checks validity and freshness against the system clock."""
    return Authority(engine, jpki_keys, FixedClock(now_utc()))


@pytest.fixture
def responder(live: Authority) -> Iterator[str]:
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(live), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the responder did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def ca_key(keys: Path, kind: CertKind) -> rsa.RSAPrivateKey:
    """The CA's private key, read from its file: tests only (no API returns it)."""
    key = serialization.load_pem_private_key((keys / kind.value / "key.pem").read_bytes(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def forge(
    *,
    issuer: x509.Name,
    signing_key: rsa.RSAPrivateKey,
    public_key: rsa.RSAPublicKey,
    kind: CertKind = CertKind.AUTH,
    subject: x509.Name | None = None,
    not_before: datetime | None = None,
    days: int = 365,
    serial: int | None = None,
    digital_signature: bool = True,
    non_repudiation: bool = False,
    key_encipherment: bool = False,
    policy: bool = True,
) -> x509.Certificate:
    """A certificate built outside the authority (never recorded), for the negative cases."""
    start = not_before or datetime(2025, 1, 1, tzinfo=UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject or x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "forged")]))
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(
            x509.KeyUsage(
                digital_signature=digital_signature,
                content_commitment=non_repudiation,
                key_encipherment=key_encipherment,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    if policy:
        builder = builder.add_extension(
            x509.CertificatePolicies([x509.PolicyInformation(POLICY[kind], None)]), critical=False
        )
    return builder.sign(signing_key, hashes.SHA256())


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def now_utc() -> dt.datetime:
    return datetime.now(UTC).replace(microsecond=0)
