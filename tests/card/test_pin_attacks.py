"""PIN guessing over the real PC/SC stack with raw APDUs (pyscard → pcscd → vpcd → `kofu card insert`):
the counter of the user-authentication PIN survives a warm reset, taking the card off and putting it on
again, `kill -9` of the card process and a restart of pcscd itself; once at 0 the right PIN stays
refused, and neither CHANGE REFERENCE DATA, a status query, re-selecting nor another application's PIN
gives a try back. Only the office's reset (`Card.reset_pin`, what `kofu card reset-pin` does) does.

pcscd is started (and restarted) by this module, under the same lock file as tests/card/test_real_stack.py.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from kofu.card.cardfile import CardFile
from kofu.card.chip import JPKI_AID, KENMEN_AID
from kofu.card.readers import PcscReader
from kofu.common.errors import KofuError
from tests.card.conftest import MASTER
from tests.card.helpers import AUTH_PIN, KENMEN_PIN
from tests.card.pcsc import Pcscd, Stack, pcsc_rig, stop, wait

pytestmark = pytest.mark.slow

SELECT_JPKI = bytes.fromhex("00A4040C0A") + JPKI_AID
SELECT_KENMEN = bytes.fromhex("00A4040C0A") + KENMEN_AID
SELECT_AUTH_PIN = bytes.fromhex("00A4020C020018")
SELECT_KENMEN_PIN = bytes.fromhex("00A4020C020011")
SELECT_AUTH_KEY = bytes.fromhex("00A4020C020017")
STATUS = bytes.fromhex("00200080")


def verify(pin: str) -> bytes:
    data = pin.encode()
    return bytes.fromhex("00200080") + bytes([len(data)]) + data


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Pcscd]]:
    with pcsc_rig(tmp_path_factory.mktemp("pcsc-pin")) as r:
        yield r


class Terminal:
    """Raw APDUs through pyscard; `sw` answers the status word of one command."""

    def __init__(self) -> None:
        self.reader = PcscReader("Virtual PCD")
        self.sent = 0

    def connect(self, timeout: float = 60) -> None:
        def ready() -> bool:
            try:
                self.reader = PcscReader("Virtual PCD")
                self.reader.connect()
                return True
            except KofuError:
                return False

        wait(ready, timeout, "the card in the PC/SC reader", 0.5)

    def sw(self, apdu: bytes) -> int:
        self.sent += 1
        return int.from_bytes(self.reader.transmit(apdu)[-2:], "big")

    def auth_pin(self) -> None:
        assert self.sw(SELECT_JPKI) == 0x9000
        assert self.sw(SELECT_AUTH_PIN) == 0x9000

    def tries(self) -> int:
        self.auth_pin()
        sw = self.sw(STATUS)
        assert sw & 0xFFF0 == 0x63C0, hex(sw)
        return sw & 0x0F

    def close(self) -> None:
        self.reader.disconnect()


def file_tries(card_path: Path) -> int:
    return CardFile(card_path, MASTER).load().pin_tries_left("auth")


def test_pin_counter_survives_reset_reinsertion_kill_and_pcscd_restart(
    rig: tuple[Stack, Pcscd], card_path: Path
) -> None:
    stack, pcscd = rig
    card = stack.insert(card_path)
    term = Terminal()
    try:
        term.connect()
        assert term.tries() == 3
        # impossible PINs (letters, 5 digits, empty-ish) are rejected without spending a try
        for bad in ("12a4", "12345", "１２３４"):
            assert term.sw(verify(bad)) == 0x6A80
        assert term.tries() == 3

        # wrong PIN 1, then a warm reset of the card (SCardReconnect with reset)
        assert term.sw(verify("0000")) == 0x63C2
        term.reader.reset()
        assert term.tries() == 2

        # card taken off (card process ends) and put on again (a new process reads the card file)
        term.close()
        stop(card)
        assert file_tries(card_path) == 2
        card = stack.insert(card_path)
        term.connect()
        assert term.tries() == 2
        term.auth_pin()
        assert term.sw(verify("1111")) == 0x63C1  # wrong PIN 2

        # pcscd restarted under the card: the bridge reconnects, the counter is where it was
        term.close()
        pcscd.stop()
        pcscd.start()
        term.connect()
        assert term.tries() == 1
        term.auth_pin()
        assert term.sw(verify("2222")) == 0x63C0  # wrong PIN 3: blocked

        # kill -9 of the card process right after: the counter was written before the answer
        term.close()
        card.send_signal(signal.SIGKILL)
        card.wait(10)
        assert file_tries(card_path) == 0
        card = stack.insert(card_path)
        term.connect()
        assert term.tries() == 0

        # blocked: nothing gives a try back
        term.auth_pin()
        assert term.sw(verify(AUTH_PIN)) == 0x6984  # the right PIN
        assert term.sw(bytes.fromhex("0024018004") + b"4321") == 0x6984  # CHANGE REFERENCE DATA
        assert term.sw(SELECT_AUTH_KEY) == 0x9000
        assert term.sw(bytes.fromhex("80 2A 00 80 33".replace(" ", "")) + bytes(51) + b"\x00") == 0x6982  # no sign
        assert term.sw(SELECT_KENMEN) == 0x9000 and term.sw(SELECT_KENMEN_PIN) == 0x9000
        assert term.sw(verify(KENMEN_PIN)) == 0x9000  # another application's PIN is its own counter
        term.reader.reset()
        assert term.tries() == 0
        term.auth_pin()
        assert term.sw(verify(AUTH_PIN)) == 0x6984
        assert term.tries() == 0
        term.close()
        stop(card)
        assert file_tries(card_path) == 0

        # the office's reset (what WindowService.reset_pin / `kofu card reset-pin` does to the card file)
        CardFile(card_path, MASTER).load().reset_pin("auth", AUTH_PIN)
        card = stack.insert(card_path)
        term.connect()
        assert term.tries() == 3
        term.auth_pin()
        assert term.sw(verify(AUTH_PIN)) == 0x9000
        print(f"\nPC/SC PIN attack: {term.sent} APDUs; 3 wrong PINs across reset, reinsertion, pcscd restart, kill -9")
    finally:
        term.close()
        stop(card)
