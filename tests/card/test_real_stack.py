"""The real PC/SC stack: pcscd + vsmartcard's vpcd + OpenSC, talking to a kofu card through the vpcd bridge.

Each test starts what it needs: its own `pcscd -f` with a private reader.conf.d (vpcd on a free port), and
the card in a separate process (`kofu card insert`), so that "restart the card" is a real process restart.
pcscd's socket (/run/pcscd/pcscd.comm) is machine-wide: a lock file serialises concurrent test runs, and a
pcscd that this test did not start makes the test fail (set KOFU_SKIP_PCSC=1 to skip these tests on a
machine without the Debian packages). Every wait is bounded.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from kofu.card.cardfile import CardFile
from tests.card.conftest import MASTER
from tests.card.helpers import AUTH_PIN, CARD_AP_PIN
from tests.card.pcsc import Stack, pcsc_rig, stop

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with pcsc_rig(tmp_path_factory.mktemp("pcsc")) as (rig, _pcscd):
        yield rig


def _cert_pem(card_path: Path, slot: str = "auth") -> bytes:
    der = CardFile(card_path, MASTER).load().certificate(slot)  # type: ignore[arg-type]
    assert der is not None
    return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)


def test_opensc_reads_the_card(stack: Stack, card_path: Path) -> None:
    process = stack.insert(card_path)
    try:
        dump = stack.run("pkcs15-tool", "-D", check=True).stdout
        assert "PKCS#15 Card [JPKI]" in dump
        assert "User Authentication Certificate" in dump and "Tries left     : 3" in dump
        listing = stack.run("pkcs15-tool", "--list-certificates", check=True).stdout
        assert "User Authentication Certificate" in listing
        pem = stack.run("pkcs15-tool", "--read-certificate", "01", check=True).stdout
        assert x509.load_pem_x509_certificate(pem.encode()) == x509.load_pem_x509_certificate(_cert_pem(card_path))
    finally:
        stop(process)


def test_pkcs11_signature_verifies_with_openssl(stack: Stack, card_path: Path) -> None:
    (stack.workdir / "data").write_bytes(b"kofu real-stack signature test\n")
    cert = x509.load_pem_x509_certificate(_cert_pem(card_path))
    (stack.workdir / "pub.pem").write_bytes(
        cert.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    (stack.workdir / "sig").unlink(missing_ok=True)
    process = stack.insert(card_path)
    try:
        signed = stack.pkcs11(
            "--login",
            "--pin",
            AUTH_PIN,
            "--sign",
            "--mechanism",
            "SHA256-RSA-PKCS",
            "--id",
            "01",
            "-i",
            "data",
            "-o",
            "sig",
        )
        assert signed.returncode == 0, signed.stderr
        verified = stack.run("openssl", "dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig", "data")
        assert verified.returncode == 0 and "Verified OK" in verified.stdout, verified.stdout + verified.stderr
    finally:
        stop(process)


def test_pcsc_reader_and_client(stack: Stack, card_path: Path) -> None:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from kofu.card.client import CardError, JpkiClient
    from kofu.card.readers import PcscReader

    process = stack.insert(card_path)
    reader = PcscReader("Virtual PCD")
    try:
        assert reader.connect() == bytes.fromhex("3BE000FF8131FE4514")
        client = JpkiClient(reader)
        assert client.read_auth_certificate() == CardFile(card_path, MASTER).load().certificate("auth")
        assert client.auth_pin_status() == 3
        client.verify_auth_pin(AUTH_PIN)
        assert len(client.sign_auth_sha256(b"over PC/SC")) == 256
        reader.reset()
        assert client.auth_pin_status() == 3
        # the card AP proves the card through PC/SC too: INTERNAL AUTHENTICATE after its PIN, not before
        public = serialization.load_der_public_key(client.read_card_app_public_key())
        assert isinstance(public, ec.EllipticCurvePublicKey)
        with pytest.raises(CardError) as refused:
            client.card_app_authenticate(b"over PC/SC")
        assert refused.value.sw == 0x6982
        client.verify_card_app_pin(CARD_AP_PIN)
        public.verify(client.card_app_authenticate(b"over PC/SC"), b"over PC/SC", ec.ECDSA(hashes.SHA256()))
    finally:
        reader.disconnect()
        stop(process)


def test_three_wrong_pins_lock_the_card_across_a_restart(stack: Stack, card_path: Path) -> None:
    (stack.workdir / "data").write_bytes(b"x")
    login = ("--login", "--sign", "--mechanism", "SHA256-RSA-PKCS", "--id", "01", "-i", "data", "-o", "sig-x")
    process = stack.insert(card_path)
    try:
        for attempt in range(3):
            result = stack.pkcs11("--pin", "0000", *login)
            assert result.returncode != 0 and "CKR_PIN_INCORRECT" in result.stderr, (attempt, result.stderr)
    finally:
        stop(process)
    assert CardFile(card_path, MASTER).load().pin_tries_left("auth") == 0
    process = stack.insert(card_path)  # a new card process reads the counters back from the card file
    try:
        pins = stack.run("pkcs15-tool", "--list-pins", check=True).stdout
        assert "Tries left     : 0" in pins
        result = stack.pkcs11("--pin", AUTH_PIN, *login)
        assert result.returncode != 0, "a blocked PIN must not log in, even the right one"
    finally:
        stop(process)
    assert CardFile(card_path, MASTER).load().pin_tries_left("auth") == 0
