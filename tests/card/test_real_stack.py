"""The real PC/SC stack: pcscd + vsmartcard's vpcd + OpenSC, talking to a kofu card through the vpcd bridge.

Each test starts what it needs: its own `pcscd -f` with a private reader.conf.d (vpcd on a free port), and
the card in a separate process (`kofu card insert`), so that "restart the card" is a real process restart.
pcscd's socket (/run/pcscd/pcscd.comm) is machine-wide: a lock file serialises concurrent test runs, and a
pcscd that this test did not start makes the test fail (set KOFU_SKIP_PCSC=1 to skip these tests on a
machine without the Debian packages). Every wait is bounded.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from kofu.card.cardfile import CardFile
from tests.card.conftest import MASTER
from tests.card.helpers import AUTH_PIN, CARD_AP_PIN

pytestmark = pytest.mark.slow

VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
PKCS11_CANDIDATES = [
    Path("/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"),
    Path("/usr/lib/aarch64-linux-gnu/opensc-pkcs11.so"),
    Path("/usr/lib/opensc-pkcs11.so"),
]
TOOLS = ("pcscd", "pkcs15-tool", "pkcs11-tool", "openssl")
LOCK_FILE = Path("/tmp/kofu-test-pcscd.lock")
TOOL_TIMEOUT = 60


def _pkcs11_module() -> Path | None:
    return next((p for p in PKCS11_CANDIDATES if p.exists()), None)


def _missing() -> list[str]:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if not VPCD_DRIVER.exists():
        missing.append(str(VPCD_DRIVER))
    if _pkcs11_module() is None:
        missing.append("opensc-pkcs11.so")
    return missing


def _wait(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the test process dies, so a killed test run leaks no pcscd/card."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _foreign_pcscd() -> bool:
    out = subprocess.run(["pgrep", "-x", "pcscd"], capture_output=True, text=True, timeout=10)
    return bool(out.stdout.strip())


@dataclass
class Stack:
    port: int
    workdir: Path
    module: Path
    master_key_file: Path

    def run(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            list(args), capture_output=True, text=True, timeout=TOOL_TIMEOUT, cwd=self.workdir, check=False
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{args[0]} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result

    def pkcs11(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run("pkcs11-tool", "--module", str(self.module), *args)

    def insert(self, card_file: Path) -> subprocess.Popen[bytes]:
        """Start the card process and wait until OpenSC sees the JPKI card."""
        log_path = self.workdir / f"card-{time.monotonic_ns()}.log"
        code = "from kofu.cli.card import app; app()"
        command = [sys.executable, "-c", code, "insert", str(card_file), "--vpcd-port", str(self.port)]
        command += ["--master-key", str(self.master_key_file)]
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent
            )
        try:
            _wait(lambda: "connected to vpcd" in log_path.read_text(), 20, "the card to reach vpcd")
            _wait(lambda: self.run("pkcs15-tool", "-D").returncode == 0, 60, "OpenSC to see the card", 1.0)
        except BaseException:
            _stop(process)
            raise
        return process


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    missing = _missing()
    if missing:
        if os.environ.get("KOFU_SKIP_PCSC") == "1":
            pytest.skip(f"PC/SC stack not installed: {', '.join(missing)}")
        pytest.fail(f"PC/SC stack not installed (apt-get install vsmartcard-vpcd pcscd opensc): missing {missing}")
    lock = LOCK_FILE.open("a")
    deadline = time.monotonic() + 300
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() > deadline:
                pytest.fail(f"another test run has held {LOCK_FILE} for 5 minutes")
            time.sleep(1)
    pcscd: subprocess.Popen[bytes] | None = None
    try:
        if _foreign_pcscd():
            pytest.fail("a pcscd this test did not start is running; it owns /run/pcscd/pcscd.comm — stop it first")
        workdir = tmp_path_factory.mktemp("pcsc")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        conf = workdir / "reader.conf.d"
        conf.mkdir()
        (conf / "vpcd").write_text(
            f'FRIENDLYNAME "Virtual PCD"\nDEVICENAME /dev/null:0x{port:04X}\n'
            f"LIBPATH {VPCD_DRIVER}\nCHANNELID 0x{port:04X}\n"
        )
        key_file = workdir / "card-master.key"
        key_file.write_text(MASTER.hex())
        key_file.chmod(0o600)
        with (workdir / "pcscd.log").open("wb") as log:
            pcscd = subprocess.Popen(
                ["pcscd", "--foreground", "--config", str(conf)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,
            )
        _wait(lambda: Path("/run/pcscd/pcscd.comm").exists() or pcscd.poll() is not None, 15, "pcscd's socket")
        assert pcscd.poll() is None, (workdir / "pcscd.log").read_text()
        module = _pkcs11_module()
        assert module is not None
        yield Stack(port, workdir, module, key_file)
    finally:
        if pcscd is not None:
            _stop(pcscd)
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()


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
        _stop(process)


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
        _stop(process)


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
        _stop(process)


def test_three_wrong_pins_lock_the_card_across_a_restart(stack: Stack, card_path: Path) -> None:
    (stack.workdir / "data").write_bytes(b"x")
    login = ("--login", "--sign", "--mechanism", "SHA256-RSA-PKCS", "--id", "01", "-i", "data", "-o", "sig-x")
    process = stack.insert(card_path)
    try:
        for attempt in range(3):
            result = stack.pkcs11("--pin", "0000", *login)
            assert result.returncode != 0 and "CKR_PIN_INCORRECT" in result.stderr, (attempt, result.stderr)
    finally:
        _stop(process)
    assert CardFile(card_path, MASTER).load().pin_tries_left("auth") == 0
    process = stack.insert(card_path)  # a new card process reads the counters back from the card file
    try:
        pins = stack.run("pkcs15-tool", "--list-pins", check=True).stdout
        assert "Tries left     : 0" in pins
        result = stack.pkcs11("--pin", AUTH_PIN, *login)
        assert result.returncode != 0, "a blocked PIN must not log in, even the right one"
    finally:
        _stop(process)
    assert CardFile(card_path, MASTER).load().pin_tries_left("auth") == 0
