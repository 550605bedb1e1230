"""The chip at APDU level: every command path and status word of docs/card.md."""

from __future__ import annotations

import hashlib

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from kofu.card.chip import (
    ATR,
    CARD_AP_AID,
    JPKI_AID,
    KENMEN_AID,
    Card,
    PersonalisationLocked,
    digest_info,
    parse_digest_info,
)
from kofu.common.errors import Conflict, InvalidInput
from tests.card.helpers import AUTH_PIN, CARD_AP_PIN, HOLDER, KENMEN_PIN, SIGN_PASSWORD, USER_ID, personalise

JPKI = "00A4040C0A" + JPKI_AID.hex()
KENMEN = "00A4040C0A" + KENMEN_AID.hex()
CARDAP = f"00A4040C{len(CARD_AP_AID):02X}" + CARD_AP_AID.hex()


def tx(card: Card, hexapdu: str) -> tuple[bytes, int]:
    response = card._execute(bytes.fromhex(hexapdu.replace(" ", "")))
    return response[:-2], int.from_bytes(response[-2:], "big")


def sw(card: Card, hexapdu: str) -> int:
    return tx(card, hexapdu)[1]


def ef(fid: str) -> str:
    return "00A4020C02" + fid


def verify(pin: str) -> str:
    return f"00200080{len(pin):02X}" + pin.encode().hex()


def sha256_di(data: bytes) -> bytes:
    return digest_info(hashes.SHA256(), hashlib.sha256(data).digest())


def sign_apdu(di: bytes, le: str = "00") -> str:
    return f"802A0080{len(di):02X}{di.hex()}{le}"


def test_atr_and_power(card: Card) -> None:
    assert card.power_on() == ATR == bytes.fromhex("3BE000FF8131FE4514")
    assert card.reset() == ATR


# ------------------------------------------------------------------ SELECT


def test_select_applications(card: Card) -> None:
    assert sw(card, JPKI) == 0x9000
    assert sw(card, KENMEN) == 0x9000
    assert sw(card, CARDAP) == 0x9000
    assert sw(card, "00A4040C07A0000003080000") == 0x6A82  # PIV: not here
    assert sw(card, "00A4040C05D276000124") == 0x6A82


def test_select_with_fci_is_tolerated(card: Card) -> None:
    data, status = tx(card, "00A404000A" + JPKI_AID.hex() + "00")
    assert status == 0x9000
    assert data == bytes.fromhex("6F0C840A") + JPKI_AID
    data, status = tx(card, "00A404000A" + JPKI_AID.hex())  # no Le
    assert status == 0x9000 and data.startswith(b"\x6f")
    data, status = tx(card, "00A4020002000A00")
    assert status == 0x9000 and data.startswith(b"\x62")
    assert sw(card, "00A404FF0A" + JPKI_AID.hex()) == 0x6A86


def test_select_ef(card: Card) -> None:
    assert sw(card, ef("000A")) == 0x6A82  # no application selected yet
    assert sw(card, JPKI) == 0x9000
    for fid in ("0006", "000A", "000B", "0017", "0018", "0001", "0002", "001A", "001B"):
        assert sw(card, ef(fid)) == 0x9000, fid
    assert sw(card, ef("0011")) == 0x6A82
    assert sw(card, "00A4020C03000A00") == 0x6700
    assert sw(card, "00A4000C023F00") == 0x6A82  # no MF
    assert sw(card, "00A4080C04000A000B") == 0x6A82  # no paths


def test_failed_select_keeps_current_selection(card: Card) -> None:
    tx(card, JPKI)
    tx(card, ef("0006"))
    assert sw(card, "00A4040C0AD392F000260100000099") == 0x6A82
    assert sw(card, ef("7777")) == 0x6A82
    data, status = tx(card, "00B0000020")
    assert status == 0x9000 and data.startswith(b"JPKIAPICCTOKEN2")


# ------------------------------------------------------------------ READ BINARY


def test_token(card: Card) -> None:
    tx(card, JPKI)
    tx(card, ef("0006"))
    data, status = tx(card, "00B0000000")
    assert data == b"JPKIAPICCTOKEN2".ljust(32, b" ")
    assert status == 0x6282  # Le=00 asked for 256: end of EF first
    data, status = tx(card, "00B0000020")
    assert (len(data), status) == (32, 0x9000)


def test_read_certificate_like_opensc(card: Card) -> None:
    tx(card, JPKI)
    tx(card, ef("000A"))
    head, status = tx(card, "00B0000004")
    assert status == 0x9000 and head[:2] == b"\x30\x82"
    size = int.from_bytes(head[2:4], "big") + 4
    out = b""
    while len(out) < size:
        n = min(256, size - len(out))
        chunk, status = tx(card, f"00B0{len(out):04X}{n % 256:02X}")
        assert status == 0x9000 and len(chunk) == n
        out += chunk
    assert out == card.certificate("auth")
    x509.load_der_x509_certificate(out)
    assert sw(card, f"00B0{size:04X}00") == 0x6B00  # offset at/after the end
    assert sw(card, "00B07FFF01") == 0x6B00
    data, status = tx(card, f"00B0{size - 10:04X}00")
    assert (len(data), status) == (10, 0x6282)


def test_read_binary_errors(card: Card) -> None:
    tx(card, JPKI)
    assert sw(card, "00B0000004") == 0x6986  # no current EF
    tx(card, ef("000A"))
    assert sw(card, "00B0800004") == 0x6A86  # short EF identifier: unsupported
    assert sw(card, "00B00000020102") == 0x6700  # data on READ BINARY
    data, status = tx(card, "00B00000")  # no Le: read like P3=00
    assert status == 0x9000 and len(data) == 256


@pytest.mark.parametrize("fid", ["0017", "001A", "0018", "001B"])
def test_keys_and_pins_are_never_readable(card: Card, fid: str) -> None:
    tx(card, JPKI)
    tx(card, ef(fid))
    for offset in ("0000", "0004", "0100"):
        assert sw(card, f"00B0{offset}00") == 0x6986
    tx(card, ef("0018"))
    assert sw(card, verify(AUTH_PIN)) == 0x9000
    tx(card, ef("001B"))
    assert sw(card, verify(SIGN_PASSWORD)) == 0x9000
    tx(card, ef(fid))
    data, status = tx(card, "00B0000000")
    assert (data, status) == (b"", 0x6986)


def test_signing_certificate_needs_the_password(card: Card) -> None:
    tx(card, JPKI)
    tx(card, ef("0001"))
    assert sw(card, "00B0000004") == 0x6982
    tx(card, ef("0002"))
    assert sw(card, "00B0000004") == 0x9000  # the signing CA is public
    tx(card, ef("001B"))
    assert sw(card, verify(SIGN_PASSWORD)) == 0x9000
    tx(card, ef("0001"))
    data, status = tx(card, "00B0000004")
    assert status == 0x9000 and data[:2] == b"\x30\x82"
    card.reset()
    tx(card, JPKI)
    tx(card, ef("0001"))
    assert sw(card, "00B0000004") == 0x6982


# ------------------------------------------------------------------ VERIFY


def test_verify_status_wrong_right_and_blocked(card: Card) -> None:
    tx(card, JPKI)
    assert sw(card, "00200080") == 0x6A88  # no PIN EF selected
    tx(card, ef("0018"))
    assert sw(card, "00200080") == 0x63C3
    assert sw(card, verify("0000")) == 0x63C2
    assert sw(card, "00200080") == 0x63C2
    assert sw(card, verify(AUTH_PIN)) == 0x9000
    assert sw(card, "00200080") == 0x63C3  # the correct PIN restored the counter
    assert sw(card, verify("1111")) == 0x63C2
    assert sw(card, verify("2222")) == 0x63C1
    assert sw(card, verify("3333")) == 0x63C0
    assert sw(card, "00200080") == 0x63C0  # status of a blocked PIN is still 63 Cx
    assert sw(card, verify(AUTH_PIN)) == 0x6984  # even the right PIN
    assert sw(card, verify("0000")) == 0x6984
    assert card.pin_tries_left("auth") == 0


def test_verify_sign_password_has_five_tries(card: Card) -> None:
    tx(card, JPKI)
    tx(card, ef("001B"))
    assert sw(card, "00200080") == 0x63C5
    assert sw(card, verify("WRONG1")) == 0x63C4
    assert sw(card, verify(SIGN_PASSWORD)) == 0x9000
    assert sw(card, "00200080") == 0x63C5


@pytest.mark.parametrize("bad", ["123", "12345", "12a4", "١٢٣٤"])
def test_malformed_auth_pins_are_refused_without_using_a_try(card: Card, bad: str) -> None:
    tx(card, JPKI)
    tx(card, ef("0018"))
    data = bad.encode()
    assert sw(card, f"00200080{len(data):02X}{data.hex()}") == 0x6A80
    assert card.pin_tries_left("auth") == 3


@pytest.mark.parametrize("bad", ["ABC12", "abc123", "ABCDEFGHIJKLMNOPQ", "ABC-123"])
def test_malformed_sign_passwords(card: Card, bad: str) -> None:
    tx(card, JPKI)
    tx(card, ef("001B"))
    assert sw(card, verify(bad)) == 0x6A80
    assert card.pin_tries_left("sign") == 5


def test_verify_p1p2(card: Card) -> None:
    tx(card, JPKI)
    tx(card, ef("0018"))
    assert sw(card, "0020000104" + AUTH_PIN.encode().hex()) == 0x6A86
    assert sw(card, "0020018004" + AUTH_PIN.encode().hex()) == 0x6A86


def test_wrong_pin_ends_the_verified_state(card: Card) -> None:
    tx(card, JPKI)
    tx(card, ef("0018"))
    assert sw(card, verify(AUTH_PIN)) == 0x9000
    assert sw(card, verify("9999")) == 0x63C2
    tx(card, ef("0017"))
    assert sw(card, sign_apdu(sha256_di(b"x"))) == 0x6982


# ------------------------------------------------------------------ CHANGE REFERENCE DATA


def test_change_pin(card: Card) -> None:
    tx(card, JPKI)
    tx(card, ef("0018"))
    assert sw(card, "0024018004" + b"9876".hex()) == 0x6982  # not verified
    assert sw(card, verify(AUTH_PIN)) == 0x9000
    assert sw(card, "0024018003" + b"987".hex()) == 0x6A80
    assert sw(card, "0024008008" + b"12349876".hex()) == 0x6A86  # old+new form: not supported
    assert sw(card, "0024018004" + b"9876".hex()) == 0x9000
    card.reset()
    tx(card, JPKI)
    tx(card, ef("0018"))
    assert sw(card, verify(AUTH_PIN)) == 0x63C2
    assert sw(card, verify("9876")) == 0x9000


def test_change_blocked_pin_refused(card: Card) -> None:
    tx(card, JPKI)
    tx(card, ef("0018"))
    for _ in range(3):
        tx(card, verify("0000"))
    assert sw(card, "0024018004" + b"9876".hex()) == 0x6984


# ------------------------------------------------------------------ SIGN


def test_sign_with_auth_key(card: Card) -> None:
    tx(card, JPKI)
    tx(card, ef("0018"))
    assert sw(card, verify(AUTH_PIN)) == 0x9000
    tx(card, ef("0017"))
    for algorithm in (hashes.SHA1(), hashes.SHA256(), hashes.SHA384(), hashes.SHA512()):
        h = hashes.Hash(algorithm)
        h.update(b"message")
        sig, status = tx(card, sign_apdu(digest_info(algorithm, h.finalize())))
        assert status == 0x9000 and len(sig) == 256
        public = x509.load_der_x509_certificate(card.certificate("auth") or b"").public_key()
        assert isinstance(public, rsa.RSAPublicKey)
        public.verify(sig, b"message", padding.PKCS1v15(), algorithm)


def test_sign_refusals(card: Card) -> None:
    di = sha256_di(b"m")
    assert sw(card, sign_apdu(di)) == 0x6986  # nothing selected
    tx(card, JPKI)
    tx(card, ef("0017"))
    assert sw(card, sign_apdu(di)) == 0x6982  # PIN not verified
    tx(card, ef("001B"))
    tx(card, verify(SIGN_PASSWORD))
    tx(card, ef("0017"))
    assert sw(card, sign_apdu(di)) == 0x6982  # the signing password does not open the auth key
    tx(card, ef("0018"))
    tx(card, verify(AUTH_PIN))
    tx(card, ef("000A"))
    assert sw(card, sign_apdu(di)) == 0x6986  # a certificate is not a key
    tx(card, ef("0017"))
    assert sw(card, sign_apdu(b"\x00" * 51)) == 0x6A80  # not a DigestInfo
    assert sw(card, sign_apdu(di[:-1])) == 0x6A80  # short digest
    assert sw(card, sign_apdu(di + b"\x00")) == 0x6A80
    assert sw(card, sign_apdu(b"\x30" * 300)[:0] + "802A0080") == 0x6A80  # no data at all
    assert sw(card, sign_apdu(di).replace("802A0080", "802A0180", 1)) == 0x6A86
    assert sw(card, sign_apdu(di, le="80")) == 0x6C00  # Le too small: resend with 00 (256)
    assert sw(card, sign_apdu(di, le="")) == 0x9000  # no Le: tolerated
    assert sw(card, "002A9E9A" + sign_apdu(di)[8:]) == 0x6D00  # ISO PSO form: not this card's


def test_sign_with_signing_key(card: Card) -> None:
    tx(card, JPKI)
    tx(card, ef("001B"))
    tx(card, verify(SIGN_PASSWORD))
    tx(card, ef("001A"))
    sig, status = tx(card, sign_apdu(sha256_di(b"contract")))
    assert status == 0x9000
    public = x509.load_der_x509_certificate(card.certificate("sign") or b"").public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    public.verify(sig, b"contract", padding.PKCS1v15(), hashes.SHA256())


def test_reset_and_power_off_end_the_session(card: Card) -> None:
    for end in (card.reset, card.power_off):
        tx(card, JPKI)
        tx(card, ef("0018"))
        assert sw(card, verify(AUTH_PIN)) == 0x9000
        end()
        tx(card, JPKI)
        tx(card, ef("0017"))
        assert sw(card, sign_apdu(sha256_di(b"m"))) == 0x6982


def test_selecting_another_application_keeps_verification(card: Card) -> None:
    tx(card, JPKI)
    tx(card, ef("0018"))
    tx(card, verify(AUTH_PIN))
    tx(card, CARDAP)
    tx(card, JPKI)
    tx(card, ef("0017"))
    assert sw(card, sign_apdu(sha256_di(b"m"))) == 0x9000


# ------------------------------------------------------------------ 券面事項入力補助AP and card AP


def test_kenmen_application(card: Card) -> None:
    tx(card, KENMEN)
    tx(card, ef("0001"))
    assert sw(card, "00B0000000") == 0x6982
    tx(card, ef("0011"))
    assert sw(card, "00200080") == 0x63C3
    assert sw(card, verify(AUTH_PIN)) == 0x63C2  # its own PIN, not the auth PIN
    assert sw(card, verify(KENMEN_PIN)) == 0x9000
    tx(card, ef("0001"))
    data, status = tx(card, "00B0000000")
    assert status == 0x6282 and data == b"\x10\x0c" + HOLDER.my_number.encode()
    tx(card, ef("0002"))
    data, status = tx(card, "00B0000000")
    assert data.startswith(b"\xff\x20") and HOLDER.name.encode() in data
    assert b"19800401" in data
    tx(card, JPKI)
    tx(card, ef("0017"))
    assert sw(card, sign_apdu(sha256_di(b"m"))) == 0x6982  # the kenmen PIN opens nothing in the JPKI AP


def test_card_application(card: Card) -> None:
    tx(card, CARDAP)
    tx(card, ef("0001"))
    data, status = tx(card, "00B0000000")
    assert (data.decode(), status) == (USER_ID, 0x6282)
    tx(card, ef("0011"))
    assert sw(card, "00200080") == 0x63C3
    assert sw(card, verify(CARD_AP_PIN)) == 0x9000


# ------------------------------------------------------------------ foreign and malformed commands


@pytest.mark.parametrize(
    ("apdu", "expected"),
    [
        ("", 0x6700),
        ("00", 0x6700),
        ("00A404", 0x6700),
        ("00CA004F00", 0x6D00),  # GET DATA
        ("00CB3FFF055C035FC10200", 0x6D00),
        ("00C0000010", 0x6D00),  # GET RESPONSE
        ("0084000008", 0x6D00),  # GET CHALLENGE
        ("80CA9F7F00", 0x6D00),
        ("FFCA000000", 0x6E00),  # reader pseudo-APDU
        ("0CA4040C0A" + JPKI_AID.hex(), 0x6E00),  # secure messaging
        ("10A4040C0A" + JPKI_AID.hex(), 0x6884),  # chaining
        ("00A4040C0B" + JPKI_AID.hex(), 0x6700),  # Lc larger than the data
        ("00A4040C08" + JPKI_AID.hex(), 0x6700),  # Lc 8: neither case 3 nor case 4
        ("00A4040C09" + JPKI_AID.hex(), 0x6A82),  # Lc 9: a 9-byte AID and Le=01
        ("00A4040C00", 0x6A82),  # Le=00 short case 2 (no AID)
        ("00A4040C000000", 0x6A82),  # extended Le, no data
        ("00A4040C0000", 0x6700),
        ("00A4040C00000A" + JPKI_AID.hex(), 0x9000),  # extended Lc
        ("00A4040C00000A" + JPKI_AID.hex() + "0000", 0x9000),
    ],
)
def test_foreign_and_malformed(card: Card, apdu: str, expected: int) -> None:
    assert sw(card, apdu) == expected


def test_process_never_raises_on_internal_error(card: Card, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(card, "_dispatch", boom)
    assert card.process(bytes.fromhex(JPKI)) == b"\x6f\x00"


# ------------------------------------------------------------------ DigestInfo


def test_digest_info_round_trip() -> None:
    di = sha256_di(b"x")
    parsed = parse_digest_info(di)
    assert parsed is not None and parsed[0].name == "sha256" and parsed[1] == hashlib.sha256(b"x").digest()
    assert parse_digest_info(di[:-1]) is None
    assert parse_digest_info(b"") is None
    with pytest.raises(InvalidInput):
        digest_info(hashes.SHA256(), b"short")
    with pytest.raises(InvalidInput):
        digest_info(hashes.MD5(), b"\x00" * 16)


# ------------------------------------------------------------------ personalisation


def test_personalisation_rules() -> None:
    card = Card.new(HOLDER, user_id=USER_ID)
    with pytest.raises(Conflict):
        card.lock_personalisation()  # nothing set
    with pytest.raises(InvalidInput):
        card.set_pin("auth", "12345")
    with pytest.raises(InvalidInput):
        card.set_pin("sign", "abc123")
    with pytest.raises(Conflict):
        card.install_certificate("auth", b"", b"")  # no key yet
    personalise(card, with_sign=False)
    with pytest.raises(PersonalisationLocked):
        card.generate_key("auth")
    with pytest.raises(PersonalisationLocked):
        card.set_pin("auth", "1111")
    # a card without a signing certificate has no signing EFs
    card.power_on()
    tx(card, JPKI)
    for fid in ("0001", "0002", "001A", "001B"):
        assert sw(card, ef(fid)) == 0x6A82


def test_certificate_must_match_the_card_key(card: Card) -> None:
    other = Card.new(HOLDER, user_id=USER_ID)
    other.generate_key("auth")
    with pytest.raises(InvalidInput):
        other.install_certificate("auth", card.certificate("auth") or b"", card.ca_certificate("auth") or b"")
    with pytest.raises(InvalidInput):
        other.install_certificate("auth", b"not a certificate", b"neither")


def test_reset_pin_unblocks(card: Card) -> None:
    tx(card, JPKI)
    tx(card, ef("0018"))
    for _ in range(3):
        tx(card, verify("0000"))
    assert sw(card, verify(AUTH_PIN)) == 0x6984
    card.reset_pin("auth", "2468")
    assert card.pin_tries_left("auth") == 3
    assert sw(card, verify("2468")) == 0x9000


def test_no_api_returns_a_private_key(card: Card) -> None:
    public = [name for name in dir(card) if not name.startswith("_")]
    for name in public:
        value = getattr(card, name)
        if callable(value):
            continue
        assert "Private" not in type(value).__name__, name


# ------------------------------------------------------------------ card AP: INTERNAL AUTHENTICATE


def internal_authenticate(challenge: bytes, le: str = "00") -> str:
    return f"00880000{len(challenge):02X}{challenge.hex()}{le}"


def card_ap_public_key(card: Card) -> ec.EllipticCurvePublicKey:
    tx(card, CARDAP)
    tx(card, ef("0002"))
    der, status = tx(card, "00B0000000")
    assert status == 0x6282  # free to read, shorter than 256 bytes
    key = serialization.load_der_public_key(der)
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
    assert der == card.card_ap_public_key().public_bytes(*SPKI)  # type: ignore[union-attr]
    return key


SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def test_card_ap_signs_a_challenge_only_after_its_pin_in_this_session(card: Card) -> None:
    public = card_ap_public_key(card)
    challenge = b"kofu-center-v1|session|K1|nonce"
    assert sw(card, internal_authenticate(challenge)) == 0x6982  # user id readable, but no signature without PIN
    tx(card, ef("0011"))
    assert sw(card, verify("0000")) == 0x63C2
    assert sw(card, internal_authenticate(challenge)) == 0x6982
    assert sw(card, verify(CARD_AP_PIN)) == 0x9000
    signature, status = tx(card, internal_authenticate(challenge))
    assert status == 0x9000
    public.verify(signature, challenge, ec.ECDSA(hashes.SHA256()))
    with pytest.raises(InvalidSignature):
        public.verify(signature, challenge + b"x", ec.ECDSA(hashes.SHA256()))
    assert card.pin_tries_left("card_ap") == 3  # signing counts nothing
    tx(card, CARDAP)  # selecting again keeps the session's verification
    assert sw(card, internal_authenticate(b"again")) == 0x9000
    card.reset()
    tx(card, CARDAP)
    assert sw(card, internal_authenticate(challenge)) == 0x6982  # a new card session needs the PIN again


def test_card_ap_internal_authenticate_refusals(card: Card) -> None:
    tx(card, CARDAP)
    tx(card, ef("0011"))
    tx(card, verify(CARD_AP_PIN))
    assert sw(card, "0088000000") == 0x6700  # Le only, no challenge
    assert sw(card, "00880000") == 0x6700
    assert sw(card, "00880001" + "0401020304" + "00") == 0x6A86  # P2 ≠ 00
    assert sw(card, "00880100" + "0401020304" + "00") == 0x6A86  # P1 ≠ 00
    data, status = tx(card, internal_authenticate(b"abcd", le="08"))
    assert data == b"" and status & 0xFF00 == 0x6C00  # Le too small: resend with the length it names
    tx(card, JPKI)  # the JPKI AP has no INTERNAL AUTHENTICATE: the card AP's key is only the card AP's
    assert sw(card, internal_authenticate(b"abcd")) == 0x6985
    tx(card, KENMEN)
    assert sw(card, internal_authenticate(b"abcd")) == 0x6985


def test_card_ap_blocked_pin_gives_no_signature(card: Card) -> None:
    tx(card, CARDAP)
    tx(card, ef("0011"))
    for _ in range(3):
        tx(card, verify("0000"))
    assert sw(card, verify(CARD_AP_PIN)) == 0x6984
    assert sw(card, internal_authenticate(b"abcd")) == 0x6982


def test_an_older_card_without_a_card_ap_key() -> None:
    card = Card.new(HOLDER, user_id=USER_ID)
    card.set_pin("card_ap", CARD_AP_PIN)
    tx(card, CARDAP)
    assert sw(card, ef("0002")) == 0x6A82  # no public key EF
    tx(card, ef("0011"))
    assert sw(card, verify(CARD_AP_PIN)) == 0x9000
    assert sw(card, internal_authenticate(b"abcd")) == 0x6A88
    card.generate_card_ap_key()
    assert sw(card, internal_authenticate(b"abcd")) == 0x9000


def test_the_card_ap_key_is_made_only_during_personalisation(card: Card) -> None:
    before = card.card_ap_public_key()
    with pytest.raises(PersonalisationLocked):
        card.generate_card_ap_key()
    assert card.card_ap_public_key() == before
