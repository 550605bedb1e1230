"""The signed issuance statement carried by the QR code.

`KOFU1.<payload>.<signature>`, both base64url without padding. The payload is compact JSON:
{"v":1,"t":tenant,"n":issuance number,"k":type,"d":issue date,"h":document hash}. No personal data
in clear: the document hash is salted per issuance, so it cannot be matched against guessed contents.
The signature is Ed25519 by the tenant's statement key (its public half is published by the issuer).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import date

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from kofu.common.errors import InvalidInput

PREFIX = "KOFU1"
MAX_LENGTH = 600


@dataclass(frozen=True)
class Statement:
    tenant: str
    number: int
    kind: str
    issued_on: date
    document_hash: str  # base64url sha-256

    def payload(self) -> bytes:
        body = {
            "v": 1,
            "t": self.tenant,
            "n": self.number,
            "k": self.kind,
            "d": self.issued_on.isoformat(),
            "h": self.document_hash,
        }
        return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode(statement: Statement, key: Ed25519PrivateKey) -> str:
    payload = statement.payload()
    return f"{PREFIX}.{b64u(payload)}.{b64u(key.sign(payload))}"


def decode(text: str) -> tuple[Statement, bytes, bytes]:
    """Parses without checking the signature: (statement, signed payload, signature)."""
    text = text.strip()
    if len(text) > MAX_LENGTH:
        raise InvalidInput("the QR payload is too long to be a kofu statement")
    parts = text.split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise InvalidInput("not a kofu statement (expected KOFU1.<payload>.<signature>)")
    try:
        payload = unb64u(parts[1])
        signature = unb64u(parts[2])
        body = json.loads(payload)
        if not isinstance(body, dict) or body.get("v") != 1:
            raise ValueError("unsupported statement version")
        number = body["n"]
        if not isinstance(number, int) or isinstance(number, bool) or number < 1:
            raise ValueError("issuance number must be a positive integer")
        statement = Statement(
            tenant=str(body["t"]),
            number=number,
            kind=str(body["k"]),
            issued_on=date.fromisoformat(str(body["d"])),
            document_hash=str(body["h"]),
        )
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"malformed kofu statement: {exc}") from exc
    return statement, payload, signature


def signature_ok(public_key: Ed25519PublicKey, payload: bytes, signature: bytes) -> bool:
    try:
        public_key.verify(signature, payload)
    except InvalidSignature:
        return False
    return True
