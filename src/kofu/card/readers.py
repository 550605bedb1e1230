"""Card readers: one protocol, three ways to reach a card.

- `InProcessReader(card)`: the card object in this process (tests, the embedded demo).
- `PcscReader`: a real reader through PC/SC (pcscd + pyscard); works for physical cards and for a kofu
  card behind the vpcd bridge alike. It completes `61 xx` (GET RESPONSE) and `6C xx` (resend with the
  right Le) itself, as ISO 7816-3/-4 asks of a T=0 terminal.
- The vpcd bridge (`vpcd.py`) is the other direction: it puts a kofu card *into* PC/SC.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from kofu.card.chip import Card
from kofu.common.errors import KofuError, NotFound


class ReaderError(KofuError):
    code = "card-reader-error"


@runtime_checkable
class Reader(Protocol):
    def connect(self) -> bytes:
        """Power the card and return its ATR."""
        ...

    def transmit(self, apdu: bytes) -> bytes:
        """Send one command APDU; return response data + SW1SW2."""
        ...

    def reset(self) -> bytes:
        """Reset the card (ends the session: nothing selected, nothing verified); return the ATR."""
        ...

    def disconnect(self) -> None:
        """Power the card down."""
        ...


class InProcessReader:
    """A reader whose slot holds a `Card` object of this process."""

    def __init__(self, card: Card) -> None:
        self.card = card
        self.apdus = 0

    def connect(self) -> bytes:
        return self.card.power_on()

    def transmit(self, apdu: bytes) -> bytes:
        self.apdus += 1
        return self.card.process(apdu)

    def reset(self) -> bytes:
        return self.card.reset()

    def disconnect(self) -> None:
        self.card.power_off()


class PcscReader:
    """A PC/SC reader (via pyscard). `name`: a reader name or a substring of it; None: the first reader."""

    MAX_CHAIN = 64  # GET RESPONSE rounds before giving up

    def __init__(self, name: str | None = None) -> None:
        self.name = name
        self._connection: Any = None

    @staticmethod
    def reader_names() -> list[str]:
        from smartcard.System import readers  # type: ignore[import-untyped]

        try:
            return [str(r) for r in readers()]
        except Exception as exc:  # pcscd not running, no service
            raise ReaderError(f"PC/SC is not available: {exc}", "PC/SC が利用できません") from exc

    def _pick(self) -> Any:
        from smartcard.System import readers

        try:
            available = readers()
        except Exception as exc:
            raise ReaderError(f"PC/SC is not available: {exc}", "PC/SC が利用できません") from exc
        for reader in available:
            if self.name is None or self.name in str(reader):
                return reader
        raise NotFound(f"no PC/SC reader matching {self.name!r}", "カードリーダーが見つかりません")

    def connect(self) -> bytes:
        from smartcard.Exceptions import CardConnectionException, NoCardException  # type: ignore[import-untyped]

        connection = self._pick().createConnection()
        try:
            connection.connect()
        except (NoCardException, CardConnectionException) as exc:
            raise ReaderError(f"no card in the reader: {exc}", "カードが置かれていません") from exc
        self._connection = connection
        return bytes(connection.getATR())

    def _raw(self, apdu: bytes) -> tuple[bytes, int, int]:
        from smartcard.Exceptions import CardConnectionException

        if self._connection is None:
            raise ReaderError("the reader is not connected", "カードリーダーに接続していません")
        try:
            data, sw1, sw2 = self._connection.transmit(list(apdu))
        except CardConnectionException as exc:
            raise ReaderError(f"card communication failed: {exc}", "カードとの通信に失敗しました") from exc
        return bytes(data), sw1, sw2

    def transmit(self, apdu: bytes) -> bytes:
        data, sw1, sw2 = self._raw(apdu)
        if sw1 == 0x6C and len(apdu) >= 5:  # wrong Le: resend with Le = SW2 (short form)
            data, sw1, sw2 = self._raw(_with_short_le(apdu, sw2))
        out = bytearray(data)
        rounds = 0
        while sw1 == 0x61:  # more data: GET RESPONSE
            rounds += 1
            if rounds > self.MAX_CHAIN:
                raise ReaderError("card kept answering 61 xx", "カードの応答が終わりません")
            more, sw1, sw2 = self._raw(bytes([apdu[0] & 0x03, 0xC0, 0x00, 0x00, sw2]))
            out += more
        return bytes(out) + bytes([sw1, sw2])

    def reset(self) -> bytes:
        from smartcard.scard import SCARD_RESET_CARD  # type: ignore[import-untyped]

        if self._connection is None:
            return self.connect()
        self._connection.reconnect(disposition=SCARD_RESET_CARD)
        return bytes(self._connection.getATR())

    def disconnect(self) -> None:
        if self._connection is not None:
            try:
                self._connection.disconnect()
            finally:
                self._connection = None


def _with_short_le(apdu: bytes, le: int) -> bytes:
    """The same short APDU with Le replaced (or added)."""
    head, body = apdu[:4], apdu[4:]
    if len(body) == 1:  # case 2
        return head + bytes([le])
    lc = body[0]
    if len(body) in (1 + lc, 2 + lc):  # case 3 or 4
        return head + body[: 1 + lc] + bytes([le])
    return apdu
