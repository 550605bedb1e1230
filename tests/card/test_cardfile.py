"""The card file: sealed secrets, integrity, write-through counters, master keys."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from kofu.card.cardfile import MASTER_KEY_ENV, CardFile, CardFileCorrupt, default_master_key, load_master_key
from kofu.card.chip import JPKI_AID, Card
from kofu.card.client import JpkiClient
from kofu.card.readers import InProcessReader
from kofu.common.errors import InvalidInput, NotFound
from tests.card.conftest import MASTER
from tests.card.helpers import AUTH_PIN, CARD_AP_PIN, HOLDER, KENMEN_PIN, SIGN_PASSWORD, USER_ID


def wrong_pin(card: Card, times: int = 1) -> None:
    card.process(bytes.fromhex("00A4040C0A") + JPKI_AID)
    card.process(bytes.fromhex("00A4020C020018"))
    for _ in range(times):
        card.process(bytes.fromhex("0020008004") + b"0000")


def test_secrets_are_not_in_clear(card_path: Path) -> None:
    text = card_path.read_text()
    for pin in (AUTH_PIN, SIGN_PASSWORD, KENMEN_PIN):
        assert f'"{pin}"' not in text
    for secret in (SIGN_PASSWORD, HOLDER.my_number, HOLDER.name, HOLDER.address, "PRIVATE"):
        assert secret not in text
    doc = json.loads(text)
    assert doc["format"] == "kofu-card/1"
    assert doc["user_id"] == USER_ID
    assert doc["pin_tries_left"] == {"auth": 3, "sign": 5, "kenmen": 3, "card_ap": 3}
    assert doc["personalisation_locked"] is True
    card = CardFile(card_path, MASTER).load()
    sealed = base64.b64decode(doc["sealed"]["ciphertext"])
    for slot in ("auth", "sign"):
        key = card._state.keys[slot]
        d = key.private_numbers().d.to_bytes(256, "big")
        assert d[:16] not in sealed and d[:16] not in text.encode()


def test_counters_are_written_through_and_survive_reload(card: Card, card_path: Path) -> None:
    wrong_pin(card)
    assert json.loads(card_path.read_text())["pin_tries_left"]["auth"] == 2
    reloaded = CardFile(card_path, MASTER).load()
    assert reloaded.pin_tries_left("auth") == 2


def test_locked_pin_stays_locked_after_restart(card: Card, card_path: Path) -> None:
    wrong_pin(card, 3)
    card.power_off()
    restarted = CardFile(card_path, MASTER).load()
    assert restarted.pin_tries_left("auth") == 0
    restarted.process(bytes.fromhex("00A4040C0A") + JPKI_AID)
    restarted.process(bytes.fromhex("00A4020C020018"))
    assert restarted.process(bytes.fromhex("0020008004") + AUTH_PIN.encode()) == b"\x69\x84"
    assert restarted.process(bytes.fromhex("00200080")) == b"\x63\xc0"


def test_verified_state_is_not_persisted(card: Card, card_path: Path) -> None:
    card.process(bytes.fromhex("00A4040C0A") + JPKI_AID)
    card.process(bytes.fromhex("00A4020C020018"))
    assert card.process(bytes.fromhex("0020008004") + AUTH_PIN.encode()) == b"\x90\x00"
    assert "verified" not in card_path.read_text()


def _tamper(path: Path, edit: object) -> None:
    doc = json.loads(path.read_text())
    assert callable(edit)
    edit(doc)
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d["pin_tries_left"].__setitem__("auth", 3) or d["pin_tries_left"].__setitem__("auth", 9),
        lambda d: d["pin_tries_left"].__setitem__("sign", 4),
        lambda d: d.__setitem__("user_id", "999"),
        lambda d: d.__setitem__("personalisation_locked", False),
        lambda d: d["ca_certificates"].__setitem__("auth", d["ca_certificates"]["sign"]),
        lambda d: d.__setitem__("auth_certificate", d["ca_certificates"]["auth"]),
        lambda d: d["sealed"].__setitem__("nonce", base64.b64encode(b"\x00" * 12).decode()),
        lambda d: d.pop("mac"),
        lambda d: d.__setitem__("card_id", "0" * 16),
    ],
)
def test_tampering_is_refused(card_path: Path, edit: object) -> None:
    _tamper(card_path, edit)
    with pytest.raises(CardFileCorrupt, match="corrupt or has been tampered"):
        CardFile(card_path, MASTER).load()


def test_resealed_with_a_valid_mac_but_swapped_ciphertext_is_refused(card_path: Path, tmp_path: Path) -> None:
    # an attacker with the master key could do anything; without it, even a copied sealed blob fails
    other_path = tmp_path / "other.json"
    other = Card.new(HOLDER, user_id=USER_ID)
    other.set_pin("auth", "9999")
    CardFile(other_path, MASTER).save(other)
    doc = json.loads(card_path.read_text())
    doc["sealed"] = json.loads(other_path.read_text())["sealed"]
    card_path.write_text(json.dumps(doc))
    with pytest.raises(CardFileCorrupt):
        CardFile(card_path, MASTER).load()


def test_garbage_and_wrong_key(card_path: Path) -> None:
    with pytest.raises(CardFileCorrupt, match="master key"):
        CardFile(card_path, b"\x01" * 32).load()
    card_path.write_text("{not json")
    with pytest.raises(CardFileCorrupt):
        CardFile(card_path, MASTER).load()
    card_path.write_text('{"format": "something else"}')
    with pytest.raises(CardFileCorrupt):
        CardFile(card_path, MASTER).load()
    with pytest.raises(NotFound):
        CardFile(card_path.parent / "missing.json", MASTER).load()


def test_write_failure_answers_memory_failure_and_changes_nothing(card: Card, card_path: Path) -> None:
    def fail(_: Card) -> None:
        raise OSError("disk full")

    before = card_path.read_bytes()
    card.attach_store(fail)
    card.process(bytes.fromhex("00A4040C0A") + JPKI_AID)
    card.process(bytes.fromhex("00A4020C020018"))
    assert card.process(bytes.fromhex("0020008004") + b"0000") == b"\x65\x81"
    assert card_path.read_bytes() == before


def test_atomic_write_leaves_no_temp_files(card: Card, card_path: Path) -> None:
    wrong_pin(card, 2)
    assert sorted(p.name for p in card_path.parent.iterdir()) == ["card.json"]


def test_master_key_file_created_0600(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MASTER_KEY_ENV, raising=False)
    path = tmp_path / "keys" / "card-master.key"
    key = load_master_key(path)
    assert len(key) == 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_master_key(path) == key
    path.write_text("short")
    with pytest.raises(InvalidInput):
        load_master_key(path)
    with pytest.raises(NotFound):
        load_master_key(None)


def test_master_key_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MASTER_KEY_ENV, "ab" * 32)
    assert load_master_key(None) == b"\xab" * 32
    assert load_master_key(tmp_path / "named.key") != b"\xab" * 32  # a named file wins
    assert default_master_key(tmp_path) == b"\xab" * 32  # the deployment default: the environment first
    monkeypatch.delenv(MASTER_KEY_ENV)
    assert default_master_key(tmp_path) == load_master_key(tmp_path / "card-master.key")
    monkeypatch.setenv(MASTER_KEY_ENV, "nothex")
    with pytest.raises(InvalidInput):
        load_master_key(None)


def test_the_card_ap_key_is_sealed_and_survives_reload(card_path: Path) -> None:
    card = CardFile(card_path, MASTER).load()
    public = card.card_ap_public_key()
    assert public is not None
    doc = json.loads(card_path.read_text())
    spki = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert base64.b64decode(doc["card_ap_public_key"]) == spki  # public: in clear, under the MAC
    private = card._state.card_ap_key
    assert private is not None
    scalar = private.private_numbers().private_value.to_bytes(32, "big")
    assert scalar[:16] not in card_path.read_bytes() and scalar[:16] not in base64.b64decode(
        doc["sealed"]["ciphertext"]
    )
    reloaded = CardFile(card_path, MASTER).load()
    reader = InProcessReader(reloaded)
    reader.connect()
    client = JpkiClient(reader)
    client.verify_card_app_pin(CARD_AP_PIN)
    public.verify(client.card_app_authenticate(b"after reload"), b"after reload", ec.ECDSA(hashes.SHA256()))


def test_a_swapped_card_ap_public_key_is_refused(card_path: Path) -> None:
    doc = json.loads(card_path.read_text())
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    doc["card_ap_public_key"] = base64.b64encode(
        other.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ).decode()
    card_path.write_text(json.dumps(doc))
    with pytest.raises(CardFileCorrupt):
        CardFile(card_path, MASTER).load()
