"""JpkiClient: what a kiosk or any relying party does with a My Number card, over any `Reader`.

It speaks only APDUs, as a real client must: select the application, select EFs, learn a certificate's
length from its DER header (4 bytes), read it in chunks of at most 256 bytes at offsets, query and verify
PINs, and ask the card to sign a DigestInfo. Status words become typed exceptions: `WrongPin(tries_left)`,
`PinBlocked`, and `CardError(sw)` for anything else.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from kofu.card import apdu as iso
from kofu.card.chip import (
    CARD_AP_AID,
    EF_AUTH_CA,
    EF_AUTH_CERT,
    EF_AUTH_KEY,
    EF_AUTH_PIN,
    EF_CARDAP_PIN,
    EF_CARDAP_PUBLIC_KEY,
    EF_CARDAP_USER_ID,
    EF_KENMEN_BASIC4,
    EF_KENMEN_MYNUMBER,
    EF_KENMEN_PIN,
    EF_SIGN_CA,
    EF_SIGN_CERT,
    EF_SIGN_KEY,
    EF_SIGN_PIN,
    EF_TOKEN,
    INS_INTERNAL_AUTHENTICATE,
    JPKI_AID,
    KENMEN_AID,
)
from kofu.card.readers import Reader
from kofu.common.errors import KofuError

SHA256_DIGEST_INFO_PREFIX = bytes.fromhex("3031300D060960864801650304020105000420")
CHUNK = 256


class CardError(KofuError):
    code = "card-error"

    def __init__(self, sw: int, what: str = "") -> None:
        self.sw = sw
        detail = f"{what}: " if what else ""
        super().__init__(f"{detail}card answered {sw:04X}", f"{detail}カードがエラーを返しました（{sw:04X}）")


class WrongPin(CardError):
    code = "card-wrong-pin"

    def __init__(self, sw: int, tries_left: int) -> None:
        super().__init__(sw, f"wrong PIN, {tries_left} tries left")
        self.tries_left = tries_left
        self.message_ja = f"暗証番号が違います（残り{tries_left}回）"


class PinBlocked(CardError):
    code = "card-pin-blocked"

    def __init__(self, sw: int) -> None:
        super().__init__(sw, "PIN blocked")
        self.message_en = "the PIN is blocked: it must be reset at the municipal office"
        self.message_ja = "暗証番号がロックされています。市区町村窓口で初期化してください"


def _split(response: bytes) -> tuple[bytes, int]:
    if len(response) < 2:
        raise CardError(iso.SW_NO_DIAGNOSIS, "short response")
    return response[:-2], int.from_bytes(response[-2:], "big")


class JpkiClient:
    """The card's applications, seen from the terminal."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader

    # ------------------------------------------------------------------ plumbing

    def send(self, command: iso.Command) -> tuple[bytes, int]:
        return _split(self.reader.transmit(command.encode()))

    def _ok(self, command: iso.Command, what: str) -> bytes:
        data, sw = self.send(command)
        if sw != iso.SW_OK:
            raise CardError(sw, what)
        return data

    def _select_ap(self, aid: bytes, what: str) -> None:
        self._ok(iso.Command(0x00, 0xA4, 0x04, 0x0C, aid), f"select {what}")

    def _select_ef(self, fid: int) -> None:
        self._ok(iso.Command(0x00, 0xA4, 0x02, 0x0C, fid.to_bytes(2, "big")), f"select EF {fid:04X}")

    def _read(self, offset: int, size: int) -> tuple[bytes, int]:
        return self.send(iso.Command(0x00, 0xB0, (offset >> 8) & 0x7F, offset & 0xFF, ne=size))

    def read_ef(self, fid: int) -> bytes:
        """Read a TLV-structured EF: its header gives the length, then chunks of ≤ 256 bytes at offsets."""
        self._select_ef(fid)
        head, sw = self._read(0, 4)
        if sw not in (iso.SW_OK, iso.SW_EOF_BEFORE_LE):
            raise CardError(sw, f"read EF {fid:04X}")
        total = _tlv_total(head)
        if total is None:
            raise CardError(sw, f"EF {fid:04X} does not start with a TLV header")
        out = bytearray(head[:total])
        while len(out) < total:
            chunk, sw = self._read(len(out), min(CHUNK, total - len(out)))
            if sw != iso.SW_OK or not chunk:
                raise CardError(sw, f"read EF {fid:04X} at {len(out)}")
            out += chunk
        return bytes(out)

    def _pin_status(self, fid: int) -> int:
        self._select_ef(fid)
        _, sw = self.send(iso.Command(0x00, 0x20, 0x00, 0x80))
        if sw & 0xFFF0 != 0x63C0:
            raise CardError(sw, "PIN status")
        return sw & 0x0F

    def _verify(self, fid: int, pin: str) -> None:
        self._select_ef(fid)
        _, sw = self.send(iso.Command(0x00, 0x20, 0x00, 0x80, pin.encode()))
        if sw == iso.SW_OK:
            return
        if sw == iso.SW_PIN_BLOCKED or sw == 0x63C0:
            raise PinBlocked(sw)
        if sw & 0xFFF0 == 0x63C0:
            raise WrongPin(sw, sw & 0x0F)
        raise CardError(sw, "VERIFY")

    def _change(self, fid: int, old: str, new: str) -> None:
        self._verify(fid, old)
        self._ok(iso.Command(0x00, 0x24, 0x01, 0x80, new.encode()), "CHANGE REFERENCE DATA")

    def _sign(self, key_fid: int, digest_info: bytes) -> bytes:
        self._select_ef(key_fid)
        return self._ok(iso.Command(0x80, 0x2A, 0x00, 0x80, digest_info, ne=256), "SIGN")

    def reset(self) -> None:
        """End the session (the card forgets every verified PIN)."""
        self.reader.reset()

    # ------------------------------------------------------------------ JPKI AP

    def select_jpki(self) -> None:
        self._select_ap(JPKI_AID, "JPKI AP")

    def read_token(self) -> bytes:
        self.select_jpki()
        self._select_ef(EF_TOKEN)
        data, sw = self._read(0, 32)
        if sw != iso.SW_OK:
            raise CardError(sw, "read token")
        return data

    def read_auth_certificate(self) -> bytes:
        self.select_jpki()
        return self.read_ef(EF_AUTH_CERT)

    def read_auth_ca_certificate(self) -> bytes:
        self.select_jpki()
        return self.read_ef(EF_AUTH_CA)

    def auth_pin_status(self) -> int:
        """Tries left for the user-authentication PIN (0: blocked)."""
        self.select_jpki()
        return self._pin_status(EF_AUTH_PIN)

    def verify_auth_pin(self, pin: str) -> None:
        self.select_jpki()
        self._verify(EF_AUTH_PIN, pin)

    def change_auth_pin(self, old: str, new: str) -> None:
        self.select_jpki()
        self._change(EF_AUTH_PIN, old, new)

    def sign_auth(self, digest_info: bytes) -> bytes:
        """RSA PKCS#1 v1.5 signature with the auth key over a DER DigestInfo (verify the PIN first)."""
        self.select_jpki()
        return self._sign(EF_AUTH_KEY, digest_info)

    def sign_auth_sha256(self, data: bytes) -> bytes:
        return self.sign_auth(SHA256_DIGEST_INFO_PREFIX + hashlib.sha256(data).digest())

    def sign_password_status(self) -> int:
        self.select_jpki()
        return self._pin_status(EF_SIGN_PIN)

    def verify_sign_password(self, password: str) -> None:
        self.select_jpki()
        self._verify(EF_SIGN_PIN, password)

    def change_sign_password(self, old: str, new: str) -> None:
        self.select_jpki()
        self._change(EF_SIGN_PIN, old, new)

    def read_sign_certificate(self) -> bytes:
        """The signing certificate (verify the signing password first in this session)."""
        self.select_jpki()
        return self.read_ef(EF_SIGN_CERT)

    def read_sign_ca_certificate(self) -> bytes:
        self.select_jpki()
        return self.read_ef(EF_SIGN_CA)

    def sign_sign(self, digest_info: bytes) -> bytes:
        self.select_jpki()
        return self._sign(EF_SIGN_KEY, digest_info)

    def sign_sign_sha256(self, data: bytes) -> bytes:
        return self.sign_sign(SHA256_DIGEST_INFO_PREFIX + hashlib.sha256(data).digest())

    # ------------------------------------------------------------------ 券面事項入力補助AP

    def read_kenmen(self, pin: str) -> dict[str, Any]:
        """Verify the 券面事項入力補助AP PIN; return name, address, birth_date, sex and my_number."""
        self._select_ap(KENMEN_AID, "券面事項入力補助AP")
        self._verify(EF_KENMEN_PIN, pin)
        number = _tlv_value(self.read_ef(EF_KENMEN_MYNUMBER), b"\x10")
        basic = _tlv_value(self.read_ef(EF_KENMEN_BASIC4), b"\xff\x20")
        fields: dict[bytes, bytes] = {}
        rest = basic
        while rest:
            tag = rest[:2]
            value = _tlv_value(rest, tag)
            fields[tag] = value
            rest = rest[_tlv_total(rest) or len(rest) :]
        birth = fields[b"\xdf\x24"].decode()
        return {
            "name": fields[b"\xdf\x22"].decode(),
            "address": fields[b"\xdf\x23"].decode(),
            "birth_date": dt.date(int(birth[:4]), int(birth[4:6]), int(birth[6:8])),
            "sex": fields[b"\xdf\x25"].decode(),
            "my_number": number.decode(),
        }

    # ------------------------------------------------------------------ municipal card AP (カードAP方式)

    def read_card_app_user_id(self) -> str:
        self._select_ap(CARD_AP_AID, "card AP")
        self._select_ef(EF_CARDAP_USER_ID)
        data, sw = self._read(0, 256)
        if sw not in (iso.SW_OK, iso.SW_EOF_BEFORE_LE):
            raise CardError(sw, "read user ID")
        return data.decode("ascii")

    def card_app_pin_status(self) -> int:
        self._select_ap(CARD_AP_AID, "card AP")
        return self._pin_status(EF_CARDAP_PIN)

    def verify_card_app_pin(self, pin: str) -> None:
        self._select_ap(CARD_AP_AID, "card AP")
        self._verify(EF_CARDAP_PIN, pin)

    def read_card_app_public_key(self) -> bytes:
        """The card AP's public key (DER SubjectPublicKeyInfo, ECDSA P-256), readable without PIN."""
        self._select_ap(CARD_AP_AID, "card AP")
        return self.read_ef(EF_CARDAP_PUBLIC_KEY)

    def card_app_authenticate(self, challenge: bytes) -> bytes:
        """INTERNAL AUTHENTICATE: the card AP's ECDSA P-256 signature (DER) over SHA-256 of `challenge`.

        The card answers only after `verify_card_app_pin` in this card session (else `69 82`)."""
        if not 1 <= len(challenge) <= 255:
            raise ValueError("a card-AP challenge has 1-255 bytes")
        self._select_ap(CARD_AP_AID, "card AP")
        return self._ok(
            iso.Command(0x00, INS_INTERNAL_AUTHENTICATE, 0x00, 0x00, challenge, ne=256), "INTERNAL AUTHENTICATE"
        )


def _tlv_header(data: bytes) -> tuple[int, int] | None:
    """(header length, value length) of a BER-TLV with a 1- or 2-byte tag, or None."""
    if not data:
        return None
    pos = 2 if data[0] & 0x1F == 0x1F else 1
    if len(data) <= pos:
        return None
    first = data[pos]
    if first < 0x80:
        return pos + 1, first
    n = first & 0x7F
    if n == 0 or n > 2 or len(data) < pos + 1 + n:
        return None
    return pos + 1 + n, int.from_bytes(data[pos + 1 : pos + 1 + n], "big")


def _tlv_total(data: bytes) -> int | None:
    header = _tlv_header(data)
    return None if header is None else header[0] + header[1]


def _tlv_value(data: bytes, tag: bytes) -> bytes:
    header = _tlv_header(data)
    if not data.startswith(tag) or header is None:
        raise CardError(iso.SW_NO_DIAGNOSIS, f"expected tag {tag.hex().upper()}")
    return data[header[0] : header[0] + header[1]]
