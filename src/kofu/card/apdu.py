"""ISO/IEC 7816-4 command APDUs and status words.

`parse_command` turns raw bytes into a `Command` or says which status word the card must answer with; it
never raises on bad input. Both short (Lc/Le one byte) and extended (Lc/Le two bytes after a 00) forms are
understood. `Command.ne` is the number of response bytes the caller accepts, or None when Le is absent
(short Le 00 means 256, extended Le 0000 means 65,536).
"""

from __future__ import annotations

from dataclasses import dataclass

# Status words (SW1SW2) the card answers with.
SW_OK = 0x9000
SW_EOF_BEFORE_LE = 0x6282  # fewer bytes than Le: the end of the EF was reached
SW_MEMORY_FAILURE = 0x6581  # the card could not write its retry counter: nothing was done
SW_WRONG_LENGTH = 0x6700
SW_CHAINING_UNSUPPORTED = 0x6884
SW_SECURITY_NOT_SATISFIED = 0x6982
SW_PIN_BLOCKED = 0x6984
SW_CONDITIONS_NOT_SATISFIED = 0x6985
SW_NOT_ALLOWED = 0x6986  # no current EF, or an EF that can never be read (keys, PINs)
SW_WRONG_DATA = 0x6A80
SW_NOT_FOUND = 0x6A82
SW_WRONG_P1P2 = 0x6A86
SW_REFERENCED_DATA_NOT_FOUND = 0x6A88
SW_OFFSET_OUTSIDE_EF = 0x6B00
SW_INS_UNSUPPORTED = 0x6D00
SW_CLA_UNSUPPORTED = 0x6E00
SW_NO_DIAGNOSIS = 0x6F00


def sw_bytes(sw: int) -> bytes:
    return sw.to_bytes(2, "big")


def tries_sw(tries_left: int) -> int:
    """`63 Cx`: x retries remain (0–15)."""
    return 0x63C0 | max(0, min(tries_left, 15))


@dataclass(frozen=True)
class Command:
    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    ne: int | None = None  # None: Le absent
    extended: bool = False

    def encode(self) -> bytes:
        """The APDU as bytes (short form unless the sizes need the extended one)."""
        head = bytes([self.cla, self.ins, self.p1, self.p2])
        extended = self.extended or len(self.data) > 255 or (self.ne is not None and self.ne > 256)
        body = b""
        if extended:
            if self.data:
                body += b"\x00" + len(self.data).to_bytes(2, "big") + self.data
            if self.ne is not None:
                le = (self.ne % 65536).to_bytes(2, "big")
                body += le if self.data else b"\x00" + le
        else:
            if self.data:
                body += bytes([len(self.data)]) + self.data
            if self.ne is not None:
                body += bytes([self.ne % 256])
        return head + body


class MalformedApdu(ValueError):
    """The bytes are not an APDU; `sw` is the status word to answer."""

    def __init__(self, sw: int) -> None:
        super().__init__(f"malformed APDU ({sw:04X})")
        self.sw = sw


def parse_command(raw: bytes) -> Command:
    """Parse a command APDU (cases 1–4, short and extended); raise `MalformedApdu` on bad lengths."""
    if len(raw) < 4:
        raise MalformedApdu(SW_WRONG_LENGTH)
    cla, ins, p1, p2 = raw[0], raw[1], raw[2], raw[3]
    body = raw[4:]
    n = len(body)
    if n == 0:  # case 1
        return Command(cla, ins, p1, p2)
    if n == 1:  # case 2 short
        return Command(cla, ins, p1, p2, ne=body[0] or 256)
    if body[0] != 0:  # short Lc
        lc = body[0]
        if n == 1 + lc:  # case 3 short
            return Command(cla, ins, p1, p2, data=bytes(body[1:]))
        if n == 2 + lc:  # case 4 short
            return Command(cla, ins, p1, p2, data=bytes(body[1:-1]), ne=body[-1] or 256)
        raise MalformedApdu(SW_WRONG_LENGTH)
    # body[0] == 0 and more than one byte: extended length
    if n == 3:  # case 2 extended
        return Command(cla, ins, p1, p2, ne=int.from_bytes(body[1:3], "big") or 65536, extended=True)
    if n < 3:
        raise MalformedApdu(SW_WRONG_LENGTH)
    lc = int.from_bytes(body[1:3], "big")
    if lc == 0:
        raise MalformedApdu(SW_WRONG_LENGTH)
    if n == 3 + lc:  # case 3 extended
        return Command(cla, ins, p1, p2, data=bytes(body[3:]), extended=True)
    if n == 5 + lc:  # case 4 extended
        ne = int.from_bytes(body[-2:], "big") or 65536
        return Command(cla, ins, p1, p2, data=bytes(body[3:-2]), ne=ne, extended=True)
    raise MalformedApdu(SW_WRONG_LENGTH)
