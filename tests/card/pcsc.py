"""The real PC/SC rig shared by the card tests and the security tests: pcscd + vsmartcard's vpcd + OpenSC.

`pcsc_rig(workdir)` starts a private `pcscd --foreground` with its own reader.conf.d (vpcd on a free port)
and yields the `Stack` (run OpenSC tools, insert a card process) and the `Pcscd` (to restart it). pcscd's
socket (/run/pcscd/pcscd.comm) is machine-wide: a lock file serialises concurrent test runs, and a pcscd
that the rig did not start makes the test fail (KOFU_SKIP_PCSC=1 skips instead on a machine without the
Debian packages vsmartcard-vpcd, pcscd, opensc). Every wait is bounded.
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
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.card.conftest import MASTER

VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
PKCS11_CANDIDATES = [
    Path("/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"),
    Path("/usr/lib/aarch64-linux-gnu/opensc-pkcs11.so"),
    Path("/usr/lib/opensc-pkcs11.so"),
]
TOOLS = ("pcscd", "pkcs15-tool", "pkcs11-tool", "openssl")
LOCK_FILE = Path("/tmp/kofu-test-pcscd.lock")
TOOL_TIMEOUT = 60


def pkcs11_module() -> Path | None:
    return next((p for p in PKCS11_CANDIDATES if p.exists()), None)


def missing() -> list[str]:
    absent = [tool for tool in TOOLS if shutil.which(tool) is None]
    if not VPCD_DRIVER.exists():
        absent.append(str(VPCD_DRIVER))
    if pkcs11_module() is None:
        absent.append("opensc-pkcs11.so")
    return absent


def wait(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def die_with_parent() -> None:
    """In the child: get SIGTERM when the test process dies, so a killed test run leaks no pcscd/card."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def foreign_pcscd() -> bool:
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
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent
            )
        try:
            wait(lambda: "connected to vpcd" in log_path.read_text(), 20, "the card to reach vpcd")
            wait(lambda: self.run("pkcs15-tool", "-D").returncode == 0, 60, "OpenSC to see the card", 1.0)
        except BaseException:
            stop(process)
            raise
        return process


@dataclass
class Pcscd:
    conf: Path
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                ["pcscd", "--foreground", "--config", str(self.conf)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=die_with_parent,
            )
        process = self.process
        wait(lambda: Path("/run/pcscd/pcscd.comm").exists() or process.poll() is not None, 15, "pcscd's socket")
        assert process.poll() is None, self.log.read_text()

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)
            self.process = None
        wait(lambda: not Path("/run/pcscd/pcscd.comm").exists(), 15, "pcscd's socket to go")


@contextmanager
def _hold_lock() -> Iterator[None]:
    with LOCK_FILE.open("a") as lock:
        deadline = time.monotonic() + 300
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    pytest.fail(f"another test run has held {LOCK_FILE} for 5 minutes")
                time.sleep(1)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextmanager
def pcsc_rig(workdir: Path) -> Iterator[tuple[Stack, Pcscd]]:
    """A running pcscd with a vpcd reader, under the machine-wide lock; stopped (and unlocked) afterwards."""
    absent = missing()
    if absent:
        if os.environ.get("KOFU_SKIP_PCSC") == "1":
            pytest.skip(f"PC/SC stack not installed: {', '.join(absent)}")
        pytest.fail(f"PC/SC stack not installed (apt-get install vsmartcard-vpcd pcscd opensc): missing {absent}")
    with _hold_lock():
        if foreign_pcscd():
            pytest.fail("a pcscd this test did not start is running; it owns /run/pcscd/pcscd.comm — stop it first")
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
        pcscd = Pcscd(conf, workdir / "pcscd.log")
        pcscd.start()
        try:
            module = pkcs11_module()
            assert module is not None
            yield Stack(port, workdir, module, key_file), pcscd
        finally:
            pcscd.stop()
