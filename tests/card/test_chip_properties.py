"""Property tests: random APDU sequences (random bytes mixed with well-formed commands) against the chip.

Whatever arrives, the card never raises, never answers with private-key material, never signs without a
successful VERIFY since the last reset, and never gives back retry counts without a correct PIN.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from kofu.card.cardfile import CardFile
from kofu.card.chip import CARD_AP_AID, JPKI_AID, KENMEN_AID, PIN_NAMES, Card, digest_info
from tests.card.conftest import MASTER
from tests.card.helpers import AUTH_PIN, CARD_AP_PIN, KENMEN_PIN, SIGN_PASSWORD

AIDS = [JPKI_AID, KENMEN_AID, CARD_AP_AID, JPKI_AID[:-1], bytes.fromhex("A000000308000010000100"), b""]
FIDS = [0x0001, 0x0002, 0x0006, 0x000A, 0x000B, 0x0011, 0x0017, 0x0018, 0x001A, 0x001B, 0x3F00, 0xFFFF]
PINS = [AUTH_PIN, SIGN_PASSWORD, KENMEN_PIN, CARD_AP_PIN, "0000", "9999", "WRONG1", "12", "", "ＡＢＣ"]


def _apdu(cla: int, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = None) -> bytes:
    out = bytes([cla, ins, p1, p2])
    if data:
        out += bytes([len(data)]) + data
    if le is not None:
        out += bytes([le])
    return out


select_ap = st.builds(
    lambda aid, p2: _apdu(0x00, 0xA4, 0x04, p2, aid), st.sampled_from(AIDS), st.sampled_from([0x0C, 0x00, 0x04, 0x01])
)
select_ef = st.builds(lambda fid: _apdu(0x00, 0xA4, 0x02, 0x0C, fid.to_bytes(2, "big")), st.sampled_from(FIDS))
read_binary = st.builds(
    lambda off, le: _apdu(0x00, 0xB0, (off >> 8) & 0xFF, off & 0xFF, le=le),
    st.integers(0, 0x0500) | st.integers(0, 0xFFFF),
    st.none() | st.integers(0, 255),
)
verify = st.builds(lambda pin: _apdu(0x00, 0x20, 0x00, 0x80, pin.encode()), st.sampled_from(PINS))
pin_status = st.just(_apdu(0x00, 0x20, 0x00, 0x80))
change = st.builds(lambda pin: _apdu(0x00, 0x24, 0x01, 0x80, pin.encode()), st.sampled_from(PINS))
good_digest_info = st.builds(lambda m: digest_info(hashes.SHA256(), hashlib.sha256(m).digest()), st.binary(max_size=16))
sign = st.builds(
    lambda di, le: _apdu(0x80, 0x2A, 0x00, 0x80, di, le),
    good_digest_info | st.binary(min_size=1, max_size=80),
    st.none() | st.just(0) | st.integers(1, 255),
)
raw = st.binary(max_size=300)
header_fuzz = st.builds(
    lambda cla, ins, rest: bytes([cla, ins]) + rest,
    st.sampled_from([0x00, 0x80, 0x0C, 0x10, 0x90, 0xFF]),
    st.integers(0, 255),
    st.binary(max_size=40),
)
control = st.sampled_from(["reset", "power_off", "power_on"])
single = st.one_of(select_ap, select_ef, read_binary, verify, pin_status, change, sign, raw, header_fuzz, control)


def _macro(aid: bytes, fid: int, pin: str) -> list[bytes | str]:
    return [_apdu(0x00, 0xA4, 0x04, 0x0C, aid), _apdu(0x00, 0xA4, 0x02, 0x0C, fid.to_bytes(2, "big")), pin_apdu(pin)]


def pin_apdu(pin: str) -> bytes:
    return _apdu(0x00, 0x20, 0x00, 0x80, pin.encode())


# well-formed sessions, so that random sequences do reach verified states and signatures
login = st.sampled_from(
    [
        _macro(JPKI_AID, 0x0018, AUTH_PIN),
        _macro(JPKI_AID, 0x001B, SIGN_PASSWORD),
        _macro(KENMEN_AID, 0x0011, KENMEN_PIN),
        _macro(CARD_AP_AID, 0x0011, CARD_AP_PIN),
        _macro(JPKI_AID, 0x0018, "0000"),
        _macro(JPKI_AID, 0x001B, "WRONG1"),
    ]
)
to_key = st.builds(
    lambda fid: [_apdu(0x00, 0xA4, 0x04, 0x0C, JPKI_AID), _apdu(0x00, 0xA4, 0x02, 0x0C, fid.to_bytes(2, "big"))],
    st.sampled_from([0x0017, 0x001A, 0x0018, 0x000A]),
)
signing = st.builds(lambda a, b, c: [*a, *b, c], login, to_key, sign)
step = st.one_of(single.map(lambda item: [item]), login, to_key, signing)


def _secret_fragments(card: Card) -> list[bytes]:
    fragments: list[bytes] = []
    for key in card._state.keys.values():
        numbers = key.private_numbers()
        for value in (numbers.d, numbers.p, numbers.q, numbers.dmp1, numbers.dmq1, numbers.iqmp):
            encoded = value.to_bytes((value.bit_length() + 7) // 8, "big")
            fragments += [encoded[:12], encoded[len(encoded) // 2 : len(encoded) // 2 + 12], encoded[-12:]]
        der = key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        fragments.append(der[:24])
    fragments += [b"PRIVATE KEY"]
    fragments += [pin.value.encode() for pin in card._state.pins.values() if pin.value and len(pin.value) >= 6]
    return fragments


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chunks=st.lists(step, min_size=1, max_size=30))
def test_random_apdu_sequences(template_card_file: Path, chunks: list[list[bytes | str]]) -> None:
    steps = [item for chunk in chunks for item in chunk]
    card = CardFile(template_card_file, MASTER).load()
    card.attach_store(None)  # in memory: the file stays as the template
    secrets = _secret_fragments(card)
    public = {slot: card.public_key(slot) for slot in ("auth", "sign")}
    verified_since_reset = False
    card.power_on()
    for item in steps:
        before = {name: card.pin_tries_left(name) for name in PIN_NAMES}
        if isinstance(item, str):
            getattr(card, item)()
            verified_since_reset = False
            continue
        response = card._execute(item)  # raises if anything inside the card fails
        assert len(response) >= 2
        data, sw = response[:-2], int.from_bytes(response[-2:], "big")
        for fragment in secrets:
            assert fragment not in response
        is_verify_ok = len(item) > 5 and item[0] == 0x00 and item[1] == 0x20 and sw == 0x9000
        if is_verify_ok:
            verified_since_reset = True
            event("verified")
        if len(item) >= 4 and item[0] == 0x80 and item[1] == 0x2A and sw == 0x9000:
            assert verified_since_reset, "SIGN succeeded without a VERIFY since the last reset"
            event("signed")
            assert len(data) == 256
            body = item[5 : 5 + item[4]]
            ok = False
            for key in public.values():
                assert isinstance(key, rsa.RSAPublicKey)
                try:
                    key.recover_data_from_signature(data, padding.PKCS1v15(), None)
                except Exception:
                    continue
                ok = key.recover_data_from_signature(data, padding.PKCS1v15(), None) == body
                if ok:
                    break
            assert ok, "the signature is not over the DigestInfo that was sent"
        for name in PIN_NAMES:
            after = card.pin_tries_left(name)
            if after > before[name]:
                assert is_verify_ok, f"{name} tries went up without a correct PIN"
        if sw >> 8 != 0x90 and sw not in (0x6282,) and sw >> 8 not in (0x61, 0x6C):
            assert data == b"", f"data returned with an error status {sw:04X}"
