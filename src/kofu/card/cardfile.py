"""The card's non-volatile memory as a JSON file (format `kofu-card/1`, described in docs/card.md).

Public parts are in clear: card id, user ID, the auth and CA certificates, PIN retry counters, the
personalisation lock. Private keys, PIN values, the holder's personal data and the signing certificate
(which carries name and address) are sealed with AES-256-GCM. An HMAC-SHA256 covers the whole document,
so an edited counter or a swapped certificate is refused. Both keys come from HKDF-SHA256 over the
master secret and a per-card salt.

The master secret: a file (by convention `KOFU_HOME/keys/card-master.key`) created with mode 0600 on first
use, or `KOFU_CARD_MASTER_KEY` (64 hex digits) when no file is named.

Every write is atomic (temp file, fsync, rename, fsync of the directory), and `CardFile.load` attaches
the file to the card so that each change of a retry counter is on disk before the card answers.
What this cannot stop: putting back an older copy of the whole file (a rollback restores old counters).
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import json
import os
import secrets
import tempfile
from pathlib import Path
from typing import Any, cast

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from kofu.card.chip import (
    PIN_NAMES,
    PIN_RULES,
    SLOTS,
    Card,
    CardState,
    Holder,
    PinName,
    PinState,
    Slot,
    card_ap_public_key_der,
)
from kofu.common.errors import InvalidInput, KofuError, NotFound

FORMAT = "kofu-card/1"
MASTER_KEY_ENV = "KOFU_CARD_MASTER_KEY"
MASTER_KEY_FILE = Path("keys") / "card-master.key"  # under KOFU_HOME


class CardFileCorrupt(KofuError):
    code = "card-file-corrupt"


def _corrupt(path: Path, why: str) -> CardFileCorrupt:
    return CardFileCorrupt(
        f"card file {path} is corrupt or has been tampered with ({why}); it was not loaded",
        f"カードファイル {path} は破損しているか改ざんされています（{why}）。読み込みません",
    )


# ---------------------------------------------------------------------------------------------- master key


def load_master_key(path: Path | None) -> bytes:
    """The master secret from the file at `path` (created 0600 if absent) or, with no path, from
    `KOFU_CARD_MASTER_KEY` (64 hex digits)."""
    if path is None:
        env = os.environ.get(MASTER_KEY_ENV)
        if not env:
            raise NotFound(f"no card master key: set {MASTER_KEY_ENV} or pass a key file")
        try:
            key = bytes.fromhex(env.strip())
        except ValueError:
            key = b""
        if len(key) < 32:
            raise InvalidInput(f"{MASTER_KEY_ENV} must be at least 64 hex digits (32 bytes)")
        return key
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # someone else created it just now: read theirs
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
    try:
        key = bytes.fromhex(path.read_text().strip())
    except ValueError:
        key = b""
    if len(key) < 32:
        raise InvalidInput(f"card master key file {path} must hold at least 64 hex digits")
    return key


def default_master_key(keys_dir: Path) -> bytes:
    """The deployment's master secret: `KOFU_CARD_MASTER_KEY` when set, else `keys_dir/card-master.key`."""
    if os.environ.get(MASTER_KEY_ENV):
        return load_master_key(None)
    return load_master_key(keys_dir / MASTER_KEY_FILE.name)


def _derive(master: bytes, salt: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"kofu card file v1 " + purpose).derive(master)


def _canonical(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise ValueError("expected base64 text")
    return base64.b64decode(text, validate=True)


# ---------------------------------------------------------------------------------------------- encode


def _encode(card: Card, master: bytes, salt: bytes) -> bytes:
    state: CardState = card._state  # the card file is the card's own memory
    secret = {
        "holder": {
            "name": state.holder.name,
            "address": state.holder.address,
            "birth_date": state.holder.birth_date.isoformat(),
            "sex": state.holder.sex,
            "my_number": state.holder.my_number,
        },
        "pins": {name: state.pins[name].value for name in PIN_NAMES},
        "keys": {
            slot: _b64(
                key.private_bytes(
                    serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                )
            )
            for slot, key in state.keys.items()
        },
        "sign_certificate": _b64(state.certificates["sign"]) if "sign" in state.certificates else None,
    }
    if state.card_ap_key is not None:  # absent on cards made before the card AP had a key
        secret["card_ap_key"] = _b64(
            state.card_ap_key.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    nonce = secrets.token_bytes(12)
    aad = f"{FORMAT}:{state.card_id}".encode()
    sealed = AESGCM(_derive(master, salt, b"enc")).encrypt(nonce, _canonical(secret), aad)
    doc: dict[str, Any] = {
        "format": FORMAT,
        "card_id": state.card_id,
        "salt": _b64(salt),
        "personalisation_locked": state.personalisation_locked,
        "user_id": state.user_id,
        "pin_tries_left": {name: state.pins[name].tries_left for name in PIN_NAMES},
        "auth_certificate": _b64(state.certificates["auth"]) if "auth" in state.certificates else None,
        "ca_certificates": {slot: _b64(der) for slot, der in state.ca_certificates.items()},
        "public_keys": {
            slot: _b64(
                key.public_key().public_bytes(
                    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
                )
            )
            for slot, key in state.keys.items()
        },
        "sealed": {"nonce": _b64(nonce), "ciphertext": _b64(sealed)},
    }
    if state.card_ap_key is not None:
        doc["card_ap_public_key"] = _b64(card_ap_public_key_der(state.card_ap_key.public_key()))
    doc["mac"] = hmac.new(_derive(master, salt, b"mac"), _canonical(doc), "sha256").hexdigest()
    return json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False).encode() + b"\n"


def _decode(raw: bytes, master: bytes, path: Path) -> CardState:
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _corrupt(path, "not JSON") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise _corrupt(path, f"not a {FORMAT} document")
    mac = doc.pop("mac", None)
    try:
        salt = _unb64(doc.get("salt"))
    except ValueError as exc:
        raise _corrupt(path, "bad salt") from exc
    expected = hmac.new(_derive(master, salt, b"mac"), _canonical(doc), "sha256").hexdigest()
    if not isinstance(mac, str) or not hmac.compare_digest(mac, expected):
        raise _corrupt(path, "integrity check failed — or the master key is not this card's")
    try:
        card_id = doc["card_id"]
        sealed = doc["sealed"]
        aad = f"{FORMAT}:{card_id}".encode()
        aead = AESGCM(_derive(master, salt, b"enc"))
        plain = aead.decrypt(_unb64(sealed["nonce"]), _unb64(sealed["ciphertext"]), aad)
        secret = json.loads(plain)
        h = secret["holder"]
        holder = Holder(h["name"], h["address"], dt.date.fromisoformat(h["birth_date"]), h["sex"], h["my_number"])
        pins: dict[PinName, PinState] = {}
        for name in PIN_NAMES:
            tries = doc["pin_tries_left"][name]
            if not isinstance(tries, int) or not 0 <= tries <= PIN_RULES[name].max_tries:
                raise ValueError(f"bad retry counter for {name}")
            pins[name] = PinState(secret["pins"][name], tries)
        keys: dict[Slot, rsa.RSAPrivateKey] = {}
        for slot, der in secret["keys"].items():
            key = serialization.load_der_private_key(
                _unb64(der), None, unsafe_skip_rsa_key_validation=True
            )  # MAC checked
            if slot not in SLOTS or not isinstance(key, rsa.RSAPrivateKey):
                raise ValueError("bad key")
            keys[cast(Slot, slot)] = key
        certificates: dict[Slot, bytes] = {}
        if doc["auth_certificate"] is not None:
            certificates["auth"] = _unb64(doc["auth_certificate"])
        if secret["sign_certificate"] is not None:
            certificates["sign"] = _unb64(secret["sign_certificate"])
        ca_certificates = {cast(Slot, slot): _unb64(der) for slot, der in doc["ca_certificates"].items()}
        card_ap_key: ec.EllipticCurvePrivateKey | None = None
        if secret.get("card_ap_key") is not None:
            loaded = serialization.load_der_private_key(_unb64(secret["card_ap_key"]), None)
            if not isinstance(loaded, ec.EllipticCurvePrivateKey) or loaded.curve.name != "secp256r1":
                raise ValueError("bad card AP key")
            card_ap_key = loaded
        return CardState(
            card_id=card_id,
            holder=holder,
            user_id=doc["user_id"],
            pins=pins,
            keys=keys,
            certificates=certificates,
            ca_certificates=ca_certificates,
            personalisation_locked=bool(doc["personalisation_locked"]),
            card_ap_key=card_ap_key,
        )
    except InvalidTag as exc:
        raise _corrupt(path, "sealed part does not decrypt") from exc
    except (KeyError, TypeError, ValueError, KofuError) as exc:
        raise _corrupt(path, f"unreadable content: {exc}") from exc


# ---------------------------------------------------------------------------------------------- file


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class CardFile:
    """A card file at `path`, sealed under `master_key` (see `load_master_key`)."""

    def __init__(self, path: Path, master_key: bytes) -> None:
        if len(master_key) < 32:
            raise InvalidInput("the card master key must have at least 32 bytes")
        self.path = Path(path)
        self._master = master_key
        self._salt: bytes | None = None

    def save(self, card: Card) -> None:
        """Write the card (atomically) and keep it written through from now on."""
        self._write(card)
        card.attach_store(self._write)

    def _write(self, card: Card) -> None:
        if self._salt is None:
            self._salt = secrets.token_bytes(16)
        _atomic_write(self.path, _encode(card, self._master, self._salt))

    def load(self) -> Card:
        """Read and check the file; the card comes back attached (every change is written through)."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError as exc:
            raise NotFound(f"no card file at {self.path}", f"カードファイル {self.path} がありません") from exc
        state = _decode(raw, self._master, self.path)
        self._salt = _unb64(json.loads(raw)["salt"])
        return Card(state, store=self._write)
