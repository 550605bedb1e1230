"""The staff login of the report pages (`/reports/`): one user name and a scrypt hash of its password.

The setting is `KOFU_REPORTS_STAFF="USER:scrypt$N$r$p$SALT$KEY"` (SALT and KEY in URL-safe base64); make it
with `python -m kofu.reports.staff USER` (asks for the password, prints the line). The browser asks for the
name and password (HTTP Basic, over the deployment's TLS); without them, or with wrong ones, the answer is 401
with a Japanese and an English message. `kofu demo` makes a fresh password at each start and prints it.
Neither the name nor the password is ever logged.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import hmac
import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import HTTPException, Request

from kofu.common.errors import InvalidInput

_N, _R, _P = 2**14, 8, 1  # scrypt cost: 16 MiB, some 40 ms of CPU per check
_REALM = 'Basic realm="kofu reports", charset="UTF-8"'
_MAX_REMEMBERED = 64


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, salt: bytes | None = None) -> str:
    """`scrypt$N$r$p$SALT$KEY` for `password` (a fresh random salt unless one is given)."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, maxmem=64 * 1024 * 1024, dklen=32)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(key)}"


def password_matches(password: str, stored: str) -> bool:
    """Whether `password` hashes to `stored` (compared in constant time)."""
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = _unb64(key)
        got = hashlib.scrypt(
            password.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p), maxmem=64 * 1024 * 1024, dklen=32
        )
    except ValueError:
        return False
    return hmac.compare_digest(got, expected)


@dataclass
class StaffLogin:
    """Who may read the reports. `check` remembers the credentials it accepted (as a keyed digest), so the
    charts of one page do not cost one scrypt each."""

    user: str
    password_hash: str
    _accepted: set[bytes] = field(default_factory=set, repr=False)
    _key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)

    @classmethod
    def parse(cls, setting: str) -> StaffLogin:
        """From `USER:HASH` (the KOFU_REPORTS_STAFF setting)."""
        user, sep, stored = setting.partition(":")
        if not sep or not user or not stored.startswith("scrypt$") or stored.count("$") != 5:
            raise InvalidInput(
                "KOFU_REPORTS_STAFF must be USER:scrypt$… (make it with python -m kofu.reports.staff USER)",
                "KOFU_REPORTS_STAFF は USER:scrypt$… の形で設定してください",
            )
        return cls(user, stored)

    @classmethod
    def generate(cls, user: str = "staff") -> tuple[StaffLogin, str]:
        """A login with a fresh random password (the demo's); returns it with the password."""
        password = secrets.token_urlsafe(12)
        return cls(user, hash_password(password)), password

    def setting(self) -> str:
        return f"{self.user}:{self.password_hash}"

    def check(self, user: str, password: str) -> bool:
        digest = hmac.digest(self._key, f"{user}\0{password}".encode(), "sha256")
        if digest in self._accepted:
            return True
        ok = password_matches(password, self.password_hash)  # always hashed, whoever the user
        ok = hmac.compare_digest(user.encode(), self.user.encode()) and ok
        if ok:
            if len(self._accepted) >= _MAX_REMEMBERED:
                self._accepted.clear()
            self._accepted.add(digest)
        return ok


def basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """(user, password) from an `Authorization: Basic …` header (UTF-8), or None."""
    scheme, _, param = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(param.strip(), validate=True).decode("utf-8").partition(":")
    except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
        return None
    return (user, password) if sep else None


def staff_required(login: StaffLogin | None) -> Callable[[Request], None]:
    """A FastAPI dependency: lets the request through with the staff's name and password, else 401."""

    def check(request: Request) -> None:
        if login is None:
            raise HTTPException(
                401,
                "報告ページのスタッフ用ログインが設定されていません（KOFU_REPORTS_STAFF）。"
                " / No staff login is configured for the reports (set KOFU_REPORTS_STAFF).",
                headers={"WWW-Authenticate": _REALM},
            )
        credentials = basic_credentials(request.headers.get("authorization"))
        if credentials is None or not login.check(*credentials):
            raise HTTPException(
                401,
                "報告ページは職員専用です。スタッフのユーザー名とパスワードでログインしてください。"
                " / The reports are for staff only: log in with the staff user name and password.",
                headers={"WWW-Authenticate": _REALM},
            )

    return check


def main(argv: list[str]) -> int:
    """`python -m kofu.reports.staff USER`: asks for a password, prints the KOFU_REPORTS_STAFF line."""
    if len(argv) != 1 or ":" in argv[0] or not argv[0]:
        print("usage: python -m kofu.reports.staff USER   (asks for the password)", file=sys.stderr)
        return 2
    password = getpass.getpass("password: ")
    if len(password) < 12 or getpass.getpass("again: ") != password:
        print("the password must have 12 characters or more, typed twice the same", file=sys.stderr)
        return 2
    print(f"KOFU_REPORTS_STAFF='{argv[0]}:{hash_password(password)}'")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
