"""The floor: the physically irreducible work of one issuance, done back to back in one thread.

    1. the card's signature over a challenge verified with its certificate, and the certificate
       verified against the JPKI CA (the chain);
    2. one transaction: a revocation lookup (the authority's record of the serial), reading the resident,
       allocating the issuance number, inserting the issuance and its audit entry;
    3. hashing the document bytes (a real certificate PDF of this run);
    4. one document signature (RSA-2048 PKCS#1 v1.5 over the SHA-256, the tenant's signing key);
    5. one QR-statement signature (Ed25519, the tenant's statement key).

No rendering framework, no HTTP, no JSON. `floor_per_s` is the rate of this loop on the run's database
(its rows stay in the benchmark's throw-away database with channel `floor`).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

from kofu.bench.world import PIN, TENANT, BenchWorld
from kofu.card.cardfile import CardFile, default_master_key
from kofu.card.client import JpkiClient
from kofu.card.readers import InProcessReader
from kofu.common.ids import new_id
from kofu.issuer import audit
from kofu.issuer.keys import load_tenant_keys
from kofu.issuer.statement import Statement, b64u, encode
from kofu.issuer.store import IssuanceRecord, IssuerStore
from kofu.jpki.store import JpkiStore
from kofu.registry.store import RegistryStore


def _sample_pdf(world: BenchWorld) -> bytes:
    """The bytes of a real certificate of this deployment (issued once, outside the timed loop)."""
    from kofu.issuer.eligibility import IssueRequest
    from kofu.issuer.tenant import CertificateType

    issued = world.container.issuer.issue(IssueRequest(TENANT, world.heads[0], CertificateType.JUMINHYO))
    world.container.issuer.void(TENANT, issued.record.number, reason="bench-sample")
    return issued.pdf


def measure_floor(world: BenchWorld, seconds: float) -> dict[str, Any]:
    c = world.container
    engine = c.engine
    reader = InProcessReader(CardFile(world.cards[0], default_master_key(c.settings.keys_dir)).load())
    reader.connect()
    card = JpkiClient(reader)
    card.select_jpki()
    cert_der = card.read_auth_certificate()
    card.verify_auth_pin(PIN)
    challenge = b"kofu-center-v1|floor|BK-0000|" + secrets.token_bytes(32)
    signature = card.sign_auth_sha256(challenge)
    reader.disconnect()
    root = c.authority.ca_certificate("auth")
    keys = load_tenant_keys(c.settings.keys_dir, TENANT)
    signing_key = serialization.load_pem_private_key(keys.signing.key_pem, None)
    assert isinstance(signing_key, rsa.RSAPrivateKey)
    statement_key = keys.statement_key
    pdf = _sample_pdf(world)
    resident_id = world.heads[0]
    issued_on = datetime.now(UTC).date()

    def once() -> None:
        # 1. card signature and chain
        cert = x509.load_der_x509_certificate(cert_der)
        cert.verify_directly_issued_by(root)
        pub = cert.public_key()
        assert isinstance(pub, rsa.RSAPublicKey)
        pub.verify(signature, challenge, padding.PKCS1v15(), hashes.SHA256())
        serial = cert.serial_number
        now = datetime.now(UTC)
        # 3. hash the document (before the transaction, as the record carries it)
        digest = hashlib.sha256(pdf).digest()
        # 2. revocation lookup, resident, number, issuance + audit: one transaction
        with engine.begin() as conn:
            record_ = JpkiStore(conn).get(serial)
            assert record_ is not None and record_.revoked_at is None
            resident = RegistryStore(conn).get_resident(TENANT, resident_id, lock=True)
            assert resident is not None
            store = IssuerStore(conn)
            number = store.next_number(TENANT)
            record = IssuanceRecord(
                id=new_id(),
                tenant=TENANT,
                number=number,
                type="juminhyo",
                kind="self",
                copies=1,
                fee_each=250,
                resident_id=resident.resident_id,
                resident_version=resident.version,
                channel="floor",
                cert_serial=format(serial, "x"),
                order_id=None,
                issued_at=now,
                issued_on=issued_on,
                document_hash=b64u(digest),
                status="issued",
            )
            store.add(record)
            audit.record_issued(conn, record)
        # 4. one document signature, 5. one QR-statement signature
        signing_key.sign(digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
        encode(Statement(TENANT, number, "juminhyo", issued_on, b64u(digest)), statement_key)

    once()  # warm-up
    count = 0
    samples: list[float] = []
    cpu0 = time.process_time()
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        t0 = time.perf_counter()
        once()
        samples.append(time.perf_counter() - t0)
        count += 1
        if t0 >= deadline:
            break
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    samples.sort()
    return {
        "floor_per_s": round(count / elapsed, 1),
        "floor_p50_ms": round(samples[len(samples) // 2] * 1000, 3),
        "floor_cpu_ms": round(cpu * 1000 / count, 3),  # this process; a database server's CPU is not in it
        "iterations": count,
        "pdf_bytes": len(pdf),
    }
