"""The My Number card chip, at APDU level, and the issuing office's personalisation of it.

A `Card` answers ISO 7816-4 command APDUs exactly like the chip behind a reader would: `process(apdu)`
returns response data + SW1SW2 and never raises, whatever the bytes. Three applications live on it:

- JPKI AP (公的個人認証AP) `D3 92 F0 00 26 01 00 00 00 01`: the user-authentication and signing keys,
  their certificates and CA certificates, the 4-digit auth PIN and the 6–16 character signing password;
- 券面事項入力補助AP `D3 92 10 00 31 00 01 01 04 08`: the 個人番号 and the basic four items (name,
  address, birth date, sex) behind their own 4-digit PIN;
- kofu's municipal card application for the older カードAP方式 (`CARD_AP_AID`): a user ID and the
  card-AP public key, both readable without PIN, its own 4-digit PIN, and an ECDSA P-256 key that signs a
  challenge (INTERNAL AUTHENTICATE) only after that PIN was verified in the card session — so the center
  can tell the card itself from someone who only read its user ID.

See docs/card.md for every EF, command and status word. Retry counters and locks are written through to
the card's store (a card file, see `cardfile.py`) before the answer leaves the card; the verified state
lives only in memory and ends at reset or power-off.

Personalisation (what the municipal office's issuing machine does) is plain Python: `Card.new`, `set_pin`,
`generate_key` (RSA-2048 made inside the card), `generate_card_ap_key` (the card AP's ECDSA P-256 key),
`install_certificate`, `lock_personalisation`, and
`reset_pin` (the office's answer to a blocked PIN). No method returns a private key.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from kofu.card import apdu as iso
from kofu.common.errors import Conflict, InvalidInput, KofuError

log = logging.getLogger(__name__)

ATR = bytes.fromhex("3BE000FF8131FE4514")
JPKI_AID = bytes.fromhex("D392F000260100000001")
KENMEN_AID = bytes.fromhex("D3921000310001010408")
# ISO 7816-5 category F (proprietary, unregistered): F0 "KOFUCAP" 01. Documented in docs/card.md.
CARD_AP_AID = bytes.fromhex("F04B4F4655434150") + b"\x01"

TOKEN = b"JPKIAPICCTOKEN2".ljust(32, b" ")

Slot = Literal["auth", "sign"]
PinName = Literal["auth", "sign", "kenmen", "card_ap"]
SLOTS: tuple[Slot, ...] = ("auth", "sign")
PIN_NAMES: tuple[PinName, ...] = ("auth", "sign", "kenmen", "card_ap")

# EF identifiers
EF_TOKEN, EF_AUTH_CERT, EF_AUTH_CA, EF_AUTH_KEY, EF_AUTH_PIN = 0x0006, 0x000A, 0x000B, 0x0017, 0x0018
EF_SIGN_CERT, EF_SIGN_CA, EF_SIGN_KEY, EF_SIGN_PIN = 0x0001, 0x0002, 0x001A, 0x001B
EF_KENMEN_MYNUMBER, EF_KENMEN_BASIC4, EF_KENMEN_PIN = 0x0001, 0x0002, 0x0011
EF_CARDAP_USER_ID, EF_CARDAP_PUBLIC_KEY, EF_CARDAP_PIN = 0x0001, 0x0002, 0x0011
INS_INTERNAL_AUTHENTICATE = 0x88


@dataclass(frozen=True)
class PinRule:
    max_tries: int
    pattern: re.Pattern[str]
    description: str

    def check(self, value: str) -> bool:
        return self.pattern.fullmatch(value) is not None


PIN_RULES: dict[PinName, PinRule] = {
    "auth": PinRule(3, re.compile(r"[0-9]{4}"), "4 digits"),
    "sign": PinRule(5, re.compile(r"[A-Z0-9]{6,16}"), "6–16 characters A–Z/0–9"),
    "kenmen": PinRule(3, re.compile(r"[0-9]{4}"), "4 digits"),
    "card_ap": PinRule(3, re.compile(r"[0-9]{4}"), "4 digits"),
}

SEX_CODES = {"1": "male", "2": "female", "9": "not applicable", "0": "unknown"}  # JIS X 0303


class PersonalisationLocked(KofuError):
    code = "card-personalisation-locked"


@dataclass(frozen=True)
class Holder:
    """What the 券面事項入力補助AP holds: the card face's four items and the 個人番号."""

    name: str
    address: str
    birth_date: dt.date
    sex: str  # JIS X 0303 code: "1" male, "2" female, "9" not applicable, "0" unknown
    my_number: str  # 12 digits

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[0-9]{12}", self.my_number):
            raise InvalidInput("my_number must be 12 digits", "個人番号は12桁の数字です")
        if self.sex not in SEX_CODES:
            raise InvalidInput("sex must be a JIS X 0303 code (0, 1, 2, 9)", "性別コードが不正です")
        if not self.name or not self.address:
            raise InvalidInput("name and address are required", "氏名と住所は必須です")


@dataclass
class PinState:
    value: str | None  # None: not set yet (personalisation)
    tries_left: int


@dataclass
class CardState:
    """Everything the chip keeps in non-volatile memory. The card file persists exactly this."""

    card_id: str
    holder: Holder
    user_id: str
    pins: dict[PinName, PinState]
    keys: dict[Slot, rsa.RSAPrivateKey] = field(default_factory=dict)
    certificates: dict[Slot, bytes] = field(default_factory=dict)
    ca_certificates: dict[Slot, bytes] = field(default_factory=dict)
    personalisation_locked: bool = False
    card_ap_key: ec.EllipticCurvePrivateKey | None = None  # the card AP's own key (カードAP方式); None: older card


# ---------------------------------------------------------------------------------------------- DigestInfo

_DIGEST_INFO_PREFIXES: dict[bytes, hashes.HashAlgorithm] = {
    bytes.fromhex("3021300906052B0E03021A05000414"): hashes.SHA1(),
    bytes.fromhex("3031300D060960864801650304020105000420"): hashes.SHA256(),
    bytes.fromhex("3041300D060960864801650304020205000430"): hashes.SHA384(),
    bytes.fromhex("3051300D060960864801650304020305000440"): hashes.SHA512(),
}


def parse_digest_info(data: bytes) -> tuple[hashes.HashAlgorithm, bytes] | None:
    """A well-formed DER DigestInfo for SHA-1/256/384/512 → (algorithm, digest); anything else → None."""
    for prefix, algorithm in _DIGEST_INFO_PREFIXES.items():
        if data.startswith(prefix) and len(data) == len(prefix) + algorithm.digest_size:
            return algorithm, data[len(prefix) :]
    return None


def digest_info(algorithm: hashes.HashAlgorithm, digest: bytes) -> bytes:
    """DER DigestInfo for a digest (the inverse of `parse_digest_info`)."""
    for prefix, known in _DIGEST_INFO_PREFIXES.items():
        if known.name == algorithm.name:
            if len(digest) != known.digest_size:
                raise InvalidInput(f"a {known.name} digest has {known.digest_size} bytes")
            return prefix + digest
    raise InvalidInput(f"unsupported digest algorithm {algorithm.name}")


# ---------------------------------------------------------------------------------------------- files


def _der_tlv(tag: bytes, value: bytes) -> bytes:
    n = len(value)
    if n < 0x80:
        length = bytes([n])
    elif n < 0x100:
        length = b"\x81" + bytes([n])
    else:
        length = b"\x82" + n.to_bytes(2, "big")
    return tag + length + value


def kenmen_basic4(holder: Holder) -> bytes:
    """EF 0002 of the 券面事項入力補助AP: FF20 { DF22 name, DF23 address, DF24 birth YYYYMMDD, DF25 sex }."""
    inner = b"".join(
        [
            _der_tlv(b"\xdf\x22", holder.name.encode()),
            _der_tlv(b"\xdf\x23", holder.address.encode()),
            _der_tlv(b"\xdf\x24", holder.birth_date.strftime("%Y%m%d").encode()),
            _der_tlv(b"\xdf\x25", holder.sex.encode()),
        ]
    )
    return _der_tlv(b"\xff\x20", inner)


def kenmen_my_number(holder: Holder) -> bytes:
    """EF 0001 of the 券面事項入力補助AP: tag 10, the 12 ASCII digits."""
    return _der_tlv(b"\x10", holder.my_number.encode())


@dataclass(frozen=True)
class _Ef:
    kind: Literal["data", "key", "pin"]
    pin: PinName | None = None  # data: PIN needed to read (None: free); key/pin: the PIN it belongs to
    content: bytes = b""


_App = Literal["jpki", "kenmen", "card_ap"]
_APPS: dict[bytes, _App] = {JPKI_AID: "jpki", KENMEN_AID: "kenmen", CARD_AP_AID: "card_ap"}
_SIGN_KEY_EF: dict[int, Slot] = {EF_AUTH_KEY: "auth", EF_SIGN_KEY: "sign"}


class _PersistFailed(Exception):
    pass


# ---------------------------------------------------------------------------------------------- the card


class Card:
    """One card: its non-volatile state, the chip's volatile session, and the personalisation API."""

    def __init__(self, state: CardState, *, store: Callable[[Card], None] | None = None) -> None:
        self._state = state
        self._store = store
        self._lock = threading.RLock()
        self._powered = False
        self._app: _App | None = None
        self._ef: int | None = None
        self._verified: set[PinName] = set()

    # ------------------------------------------------------------------ creation and persistence

    @classmethod
    def new(cls, holder: Holder, *, user_id: str, card_id: str | None = None) -> Card:
        """A blank card for a holder: no keys, no certificates, PINs unset."""
        if not re.fullmatch(r"[0-9A-Za-z]{1,32}", user_id):
            raise InvalidInput("user_id must be 1–32 letters or digits", "利用者IDは英数字32文字以内です")
        pins = {name: PinState(None, PIN_RULES[name].max_tries) for name in PIN_NAMES}
        state = CardState(card_id=card_id or secrets.token_hex(8), holder=holder, user_id=user_id, pins=pins)
        return cls(state)

    def attach_store(self, store: Callable[[Card], None] | None) -> None:
        """Write the card through `store` after every change of its non-volatile state."""
        self._store = store

    def _commit(self) -> None:
        if self._store is None:
            return
        try:
            self._store(self)
        except Exception as exc:
            log.error("card %s: could not write its state: %s", self._state.card_id, exc)
            raise _PersistFailed from exc

    @property
    def card_id(self) -> str:
        return self._state.card_id

    # ------------------------------------------------------------------ personalisation

    def _require_open(self) -> None:
        if self._state.personalisation_locked:
            raise PersonalisationLocked(
                "the card's personalisation is locked", "このカードの発行処理は完了しています（変更できません）"
            )

    def set_pin(self, which: PinName, value: str) -> None:
        """Set a PIN during personalisation (resets its counter)."""
        with self._lock:
            self._require_open()
            self._set_pin(which, value)

    def reset_pin(self, which: PinName, new_value: str) -> None:
        """The office's PIN reset (初期化): a new value and a full counter, also after the card was locked."""
        with self._lock:
            self._set_pin(which, new_value)

    def _set_pin(self, which: PinName, value: str) -> None:
        rule = PIN_RULES.get(which)
        if rule is None:
            raise InvalidInput(f"unknown PIN {which!r}")
        if not rule.check(value):
            raise InvalidInput(f"the {which} PIN must be {rule.description}", "暗証番号の形式が不正です")
        self._state.pins[which] = PinState(value, rule.max_tries)
        self._verified.discard(which)
        self._commit()

    def generate_key(self, slot: Slot) -> rsa.RSAPublicKey:
        """Generate the slot's RSA-2048 key pair inside the card; returns only the public key."""
        with self._lock:
            self._require_open()
            if slot not in SLOTS:
                raise InvalidInput(f"unknown key slot {slot!r}")
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self._state.keys[slot] = key
            self._state.certificates.pop(slot, None)
            self._state.ca_certificates.pop(slot, None)
            self._commit()
            return key.public_key()

    def generate_card_ap_key(self) -> ec.EllipticCurvePublicKey:
        """Generate the card AP's ECDSA P-256 key pair inside the card; returns only the public key."""
        with self._lock:
            self._require_open()
            key = ec.generate_private_key(ec.SECP256R1())
            self._state.card_ap_key = key
            self._commit()
            return key.public_key()

    def card_ap_public_key(self) -> ec.EllipticCurvePublicKey | None:
        key = self._state.card_ap_key
        return key.public_key() if key is not None else None

    def public_key(self, slot: Slot) -> rsa.RSAPublicKey | None:
        key = self._state.keys.get(slot)
        return key.public_key() if key is not None else None

    def install_certificate(self, slot: Slot, cert_der: bytes, ca_der: bytes) -> None:
        """Store the slot's certificate and its CA's; the certificate must certify the card's own key."""
        with self._lock:
            self._require_open()
            key = self._state.keys.get(slot)
            if key is None:
                raise Conflict(f"no {slot} key on the card: generate it first", "鍵が生成されていません")
            try:
                cert = x509.load_der_x509_certificate(cert_der)
                x509.load_der_x509_certificate(ca_der)
            except ValueError as exc:
                raise InvalidInput(f"not a DER certificate: {exc}", "証明書の形式が不正です") from exc
            spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            if cert.public_key().public_bytes(*spki) != key.public_key().public_bytes(*spki):
                raise InvalidInput(
                    f"the {slot} certificate does not certify this card's key",
                    "証明書の公開鍵がカードの鍵と一致しません",
                )
            if len(cert_der) > 0x7FFF or len(ca_der) > 0x7FFF:
                raise InvalidInput("certificate too large for the card")
            self._state.certificates[slot] = cert_der
            self._state.ca_certificates[slot] = ca_der
            self._commit()

    def lock_personalisation(self) -> None:
        """End personalisation: keys, certificates and PINs can no longer be set (reset_pin still works)."""
        with self._lock:
            self._require_open()
            state = self._state
            missing = [f"{name} PIN" for name in ("auth", "kenmen", "card_ap") if state.pins[name].value is None]
            if "auth" not in state.certificates:
                missing.append("auth certificate")
            if "sign" in state.keys and "sign" not in state.certificates:
                missing.append("sign certificate")
            if "sign" in state.certificates and state.pins["sign"].value is None:
                missing.append("sign password")
            if missing:
                raise Conflict("personalisation incomplete: " + ", ".join(missing), "発行処理が完了していません")
            state.personalisation_locked = True
            self._commit()

    # ------------------------------------------------------------------ public facts (no personal data)

    def pin_tries_left(self, which: PinName) -> int:
        return self._state.pins[which].tries_left

    def certificate(self, slot: Slot) -> bytes | None:
        return self._state.certificates.get(slot)

    def ca_certificate(self, slot: Slot) -> bytes | None:
        return self._state.ca_certificates.get(slot)

    @property
    def personalisation_locked(self) -> bool:
        return self._state.personalisation_locked

    # ------------------------------------------------------------------ contacts

    def power_on(self) -> bytes:
        """Cold reset: a fresh session (nothing selected, nothing verified); returns the ATR."""
        with self._lock:
            self._powered = True
            self._clear_session()
            return ATR

    def reset(self) -> bytes:
        """Warm reset: same as power-on for this card."""
        return self.power_on()

    def power_off(self) -> None:
        with self._lock:
            self._powered = False
            self._clear_session()

    @property
    def atr(self) -> bytes:
        return ATR

    def _clear_session(self) -> None:
        self._app = None
        self._ef = None
        self._verified = set()

    def process(self, apdu: bytes) -> bytes:
        """Answer one command APDU with response data + SW1SW2. Never raises."""
        try:
            return self._execute(apdu)
        except Exception:  # a card answers; it does not crash
            log.exception("card %s: internal error", self._state.card_id)
            with self._lock:
                self._clear_session()
            return iso.sw_bytes(iso.SW_NO_DIAGNOSIS)

    def _execute(self, apdu: bytes) -> bytes:
        """`process` without the last-resort guard (tests call this to see real exceptions)."""
        with self._lock:
            if not self._powered:  # a command on an unpowered contact powers the chip up first
                self.power_on()
            try:
                command = iso.parse_command(bytes(apdu))
            except iso.MalformedApdu as exc:
                return iso.sw_bytes(exc.sw)
            try:
                data, sw = self._dispatch(command)
            except _PersistFailed:
                return iso.sw_bytes(iso.SW_MEMORY_FAILURE)
            return data + iso.sw_bytes(sw)

    # ------------------------------------------------------------------ command dispatch

    def _dispatch(self, c: iso.Command) -> tuple[bytes, int]:
        if c.cla & ~0x10 not in (0x00, 0x80):
            return b"", iso.SW_CLA_UNSUPPORTED
        if c.cla & 0x10:
            return b"", iso.SW_CHAINING_UNSUPPORTED
        if c.cla == 0x00:
            handler = {
                0xA4: self._select,
                0xB0: self._read_binary,
                0x20: self._verify,
                0x24: self._change,
                INS_INTERNAL_AUTHENTICATE: self._internal_authenticate,
            }.get(c.ins)
        elif c.cla == 0x80:
            handler = {0x2A: self._sign}.get(c.ins)
        else:
            return b"", iso.SW_CLA_UNSUPPORTED
        if handler is None:
            return b"", iso.SW_INS_UNSUPPORTED
        return handler(c)

    def _files(self, app: _App) -> dict[int, _Ef]:
        s = self._state
        files: dict[int, _Ef] = {}
        if app == "jpki":
            files[EF_TOKEN] = _Ef("data", None, TOKEN)
            layout: tuple[tuple[Slot, int, int, int, int, PinName | None], ...] = (
                ("auth", EF_AUTH_CERT, EF_AUTH_CA, EF_AUTH_KEY, EF_AUTH_PIN, None),
                ("sign", EF_SIGN_CERT, EF_SIGN_CA, EF_SIGN_KEY, EF_SIGN_PIN, "sign"),
            )
            for slot, cert_ef, ca_ef, key_ef, pin_ef, cert_pin in layout:
                pin_name: PinName = slot
                if slot in s.certificates:
                    files[cert_ef] = _Ef("data", cert_pin, s.certificates[slot])
                    files[ca_ef] = _Ef("data", None, s.ca_certificates[slot])
                if slot in s.keys:
                    files[key_ef] = _Ef("key", pin_name)
                if s.pins[pin_name].value is not None:
                    files[pin_ef] = _Ef("pin", pin_name)
        elif app == "kenmen":
            files[EF_KENMEN_MYNUMBER] = _Ef("data", "kenmen", kenmen_my_number(s.holder))
            files[EF_KENMEN_BASIC4] = _Ef("data", "kenmen", kenmen_basic4(s.holder))
            if s.pins["kenmen"].value is not None:
                files[EF_KENMEN_PIN] = _Ef("pin", "kenmen")
        else:
            files[EF_CARDAP_USER_ID] = _Ef("data", None, s.user_id.encode())
            if s.card_ap_key is not None:
                files[EF_CARDAP_PUBLIC_KEY] = _Ef("data", None, card_ap_public_key_der(s.card_ap_key.public_key()))
            if s.pins["card_ap"].value is not None:
                files[EF_CARDAP_PIN] = _Ef("pin", "card_ap")
        return files

    def _current(self) -> _Ef | None:
        if self._app is None or self._ef is None:
            return None
        return self._files(self._app).get(self._ef)

    # SELECT ------------------------------------------------------------

    def _select(self, c: iso.Command) -> tuple[bytes, int]:
        if c.p1 == 0x04:  # by DF name (AID)
            app = _APPS.get(c.data)
            if app is None:
                return b"", iso.SW_NOT_FOUND
            if c.p2 not in (0x00, 0x04, 0x0C):
                return b"", iso.SW_WRONG_P1P2
            self._app, self._ef = app, None
            if c.p2 == 0x0C:
                return b"", iso.SW_OK
            return _fit(_der_tlv(b"\x6f", _der_tlv(b"\x84", c.data)), c.ne)
        if c.p1 == 0x02:  # EF under the current DF
            if self._app is None:
                return b"", iso.SW_NOT_FOUND
            if len(c.data) != 2:
                return b"", iso.SW_WRONG_LENGTH
            fid = int.from_bytes(c.data, "big")
            ef = self._files(self._app).get(fid)
            if ef is None:
                return b"", iso.SW_NOT_FOUND
            if c.p2 not in (0x00, 0x04, 0x0C):
                return b"", iso.SW_WRONG_P1P2
            self._ef = fid
            if c.p2 == 0x0C:
                return b"", iso.SW_OK
            fcp = (_der_tlv(b"\x80", len(ef.content).to_bytes(2, "big")) if ef.kind == "data" else b"") + _der_tlv(
                b"\x83", c.data
            )
            return _fit(_der_tlv(b"\x62", fcp), c.ne)
        return b"", iso.SW_NOT_FOUND  # MF, paths, parent DF: this card has none of them

    # READ BINARY -------------------------------------------------------

    def _read_binary(self, c: iso.Command) -> tuple[bytes, int]:
        if c.p1 & 0x80:  # short EF identifier: not supported
            return b"", iso.SW_WRONG_P1P2
        if c.data:
            return b"", iso.SW_WRONG_LENGTH
        ef = self._current()
        if ef is None or ef.kind != "data":
            return b"", iso.SW_NOT_ALLOWED
        if ef.pin is not None and ef.pin not in self._verified:
            return b"", iso.SW_SECURITY_NOT_SATISFIED
        offset = (c.p1 << 8) | c.p2
        if offset >= len(ef.content):
            return b"", iso.SW_OFFSET_OUTSIDE_EF
        wanted = c.ne if c.ne is not None else 256  # T=0 style: Le absent reads like P3=00
        chunk = ef.content[offset : offset + wanted]
        return chunk, (iso.SW_OK if len(chunk) == wanted else iso.SW_EOF_BEFORE_LE)

    # VERIFY / CHANGE REFERENCE DATA ------------------------------------

    def _current_pin(self) -> PinName | None:
        ef = self._current()
        return ef.pin if ef is not None and ef.kind == "pin" else None

    def _verify(self, c: iso.Command) -> tuple[bytes, int]:
        if c.p1 != 0x00 or c.p2 != 0x80:
            return b"", iso.SW_WRONG_P1P2
        name = self._current_pin()
        if name is None:
            return b"", iso.SW_REFERENCED_DATA_NOT_FOUND
        pin = self._state.pins[name]
        if not c.data:  # status query: always 63 Cx (also 63 C0 when blocked), as middleware expects
            return b"", iso.tries_sw(pin.tries_left)
        if pin.tries_left <= 0:
            return b"", iso.SW_PIN_BLOCKED
        candidate = _ascii(c.data)
        if candidate is None or not PIN_RULES[name].check(candidate):
            return b"", iso.SW_WRONG_DATA  # not a possible PIN: rejected without using a try
        assert pin.value is not None
        # Anti-tearing: spend the try (and write it) before comparing; give it back only on success.
        pin.tries_left -= 1
        self._verified.discard(name)
        self._commit()
        if hmac.compare_digest(candidate.encode(), pin.value.encode()):
            pin.tries_left = PIN_RULES[name].max_tries
            self._commit()
            self._verified.add(name)
            return b"", iso.SW_OK
        return b"", iso.tries_sw(pin.tries_left)

    def _change(self, c: iso.Command) -> tuple[bytes, int]:
        # Supported form: 00 24 01 80 Lc <new PIN>, after VERIFY of the same PIN in this session.
        if c.p1 != 0x01 or c.p2 != 0x80:
            return b"", iso.SW_WRONG_P1P2
        name = self._current_pin()
        if name is None:
            return b"", iso.SW_REFERENCED_DATA_NOT_FOUND
        pin = self._state.pins[name]
        if pin.tries_left <= 0:
            return b"", iso.SW_PIN_BLOCKED
        if name not in self._verified:
            return b"", iso.SW_SECURITY_NOT_SATISFIED
        candidate = _ascii(c.data)
        if candidate is None or not PIN_RULES[name].check(candidate):
            return b"", iso.SW_WRONG_DATA
        old = pin.value
        pin.value = candidate
        try:
            self._commit()
        except _PersistFailed:
            pin.value = old
            raise
        return b"", iso.SW_OK

    # SIGN (proprietary COMPUTE DIGITAL SIGNATURE) ------------------------

    def _sign(self, c: iso.Command) -> tuple[bytes, int]:
        if c.p1 != 0x00 or c.p2 != 0x80:
            return b"", iso.SW_WRONG_P1P2
        if self._app != "jpki" or self._ef not in _SIGN_KEY_EF:
            return b"", iso.SW_NOT_ALLOWED
        slot = _SIGN_KEY_EF[self._ef]
        key = self._state.keys.get(slot)
        if key is None:
            return b"", iso.SW_REFERENCED_DATA_NOT_FOUND
        if slot not in self._verified:
            return b"", iso.SW_SECURITY_NOT_SATISFIED
        parsed = parse_digest_info(c.data)
        if parsed is None:
            return b"", iso.SW_WRONG_DATA
        algorithm, digest = parsed
        size = key.key_size // 8
        if c.ne is not None and c.ne < size:
            return b"", 0x6C00 | (size & 0xFF)  # 6C xx: resend with Le = xx (00 = 256)
        signature = key.sign(digest, padding.PKCS1v15(), utils.Prehashed(algorithm))
        return signature, iso.SW_OK

    # INTERNAL AUTHENTICATE (card AP: the card proves itself) ----------

    def _internal_authenticate(self, c: iso.Command) -> tuple[bytes, int]:
        # 00 88 00 00 Lc challenge 00, card AP selected: ECDSA P-256 / SHA-256 over the challenge, DER.
        if c.p1 != 0x00 or c.p2 != 0x00:
            return b"", iso.SW_WRONG_P1P2
        if self._app != "card_ap":
            return b"", iso.SW_CONDITIONS_NOT_SATISFIED
        key = self._state.card_ap_key
        if key is None:
            return b"", iso.SW_REFERENCED_DATA_NOT_FOUND
        if "card_ap" not in self._verified:  # also when blocked: a blocked PIN is never verified
            return b"", iso.SW_SECURITY_NOT_SATISFIED
        if not c.data:
            return b"", iso.SW_WRONG_LENGTH
        return _fit(key.sign(c.data, ec.ECDSA(hashes.SHA256())), c.ne)


def card_ap_public_key_der(key: ec.EllipticCurvePublicKey) -> bytes:
    """EF 0002 of the card AP: the card-AP public key as DER SubjectPublicKeyInfo."""
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _fit(data: bytes, ne: int | None) -> tuple[bytes, int]:
    if ne is None or len(data) <= ne:
        return data, iso.SW_OK
    return b"", 0x6C00 | (len(data) & 0xFF)  # 6C xx: resend with Le = xx


def _ascii(data: bytes) -> str | None:
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        return None
