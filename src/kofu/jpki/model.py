"""The JPKI domain, pure: certificate kinds, policy and attribute OIDs, the expiry rule, revocation reasons.

No database, no web, no key material here.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from enum import StrEnum

from cryptography import x509

from kofu.common.clock import JST
from kofu.common.errors import InvalidInput


class CertKind(StrEnum):
    """The two JPKI certificates on a card, each under its own CA."""

    AUTH = "auth"  # 利用者証明用電子証明書
    SIGN = "sign"  # 署名用電子証明書

    @property
    def ja(self) -> str:
        return "利用者証明用電子証明書" if self is CertKind.AUTH else "署名用電子証明書"


# Certificate policies of the two JPKI user certificates.
POLICY_AUTH = x509.ObjectIdentifier("1.2.392.200149.8.5.1.3.30")
POLICY_SIGN = x509.ObjectIdentifier("1.2.392.200149.8.5.1.1.10")
POLICY = {CertKind.AUTH: POLICY_AUTH, CertKind.SIGN: POLICY_SIGN}

# SubjectAltName otherName types of the signing certificate (values are UTF8String).
OID_NAME = x509.ObjectIdentifier("1.2.392.200149.8.5.5.1")
OID_NAME_ALT = x509.ObjectIdentifier("1.2.392.200149.8.5.5.2")  # kofu: the name's reading in kana
OID_SEX = x509.ObjectIdentifier("1.2.392.200149.8.5.5.3")
OID_BIRTH_DATE = x509.ObjectIdentifier("1.2.392.200149.8.5.5.4")
OID_ADDRESS = x509.ObjectIdentifier("1.2.392.200149.8.5.5.5")
OID_ADDRESS_ALT = x509.ObjectIdentifier("1.2.392.200149.8.5.5.6")  # kofu: an alternative spelling, optional

# Sex as written in the signing certificate: "1" male, "2" female, "3" not recorded.
SEX_CODES = {"male": "1", "female": "2", "unknown": "3"}

CA_OU = {
    CertKind.AUTH: "JPKI for user authentication",
    CertKind.SIGN: "JPKI for digital signature",
}
CA_OU_AGENCY = "Japan Agency for Local Authority Information Systems"


class RevocationReason(StrEnum):
    """Why a certificate is revoked, in the resident's terms, and its RFC 5280 CRLReason."""

    LOSS = "loss"  # 紛失・盗難
    DEATH = "death"  # 死亡
    RETURN = "return"  # カード返納・廃止
    MOVE_OUT = "move-out"  # 国外転出
    INFO_CHANGE = "info-change"  # 氏名・住所・性別・生年月日の変更 (signing certificate)
    RENEWAL = "renewal"  # 更新 (a new certificate replaces it)

    @property
    def rfc5280(self) -> x509.ReasonFlags:
        return _RFC5280[self]


_RFC5280 = {
    RevocationReason.LOSS: x509.ReasonFlags.key_compromise,
    RevocationReason.DEATH: x509.ReasonFlags.cessation_of_operation,
    RevocationReason.RETURN: x509.ReasonFlags.cessation_of_operation,
    RevocationReason.MOVE_OUT: x509.ReasonFlags.affiliation_changed,
    RevocationReason.INFO_CHANGE: x509.ReasonFlags.superseded,
    RevocationReason.RENEWAL: x509.ReasonFlags.superseded,
}


class CertStatus(StrEnum):
    GOOD = "good"
    REVOKED = "revoked"


@dataclass(frozen=True)
class SignHolder:
    """What the signing certificate says about its holder (基本4情報)."""

    name: str
    sex: str  # "male" | "female" | "unknown"
    birth_date: date
    address: str
    name_kana: str | None = None
    alt_address: str | None = None

    def __post_init__(self) -> None:
        if self.sex not in SEX_CODES:
            raise InvalidInput(f"sex must be one of {sorted(SEX_CODES)}, not {self.sex!r}")
        if not self.name.strip() or not self.address.strip():
            raise InvalidInput("a signing certificate needs a name and an address")


@dataclass(frozen=True)
class CertificateRecord:
    """One certificate the authority issued, as recorded in `jpki_certificates`."""

    serial: str  # upper-case hex, no leading zeros
    kind: CertKind
    not_before: datetime
    not_after: datetime
    der: bytes
    status: CertStatus
    revoked_at: datetime | None = None
    reason: RevocationReason | None = None


def serial_hex(serial: int) -> str:
    return format(serial, "X")


def parse_serial(serial: str | int) -> int:
    """Accepts an int or hex text in any case, with or without `0x` or colons (as openssl prints it)."""
    if isinstance(serial, int):
        return serial
    text = serial.strip().replace(":", "").removeprefix("0x").removeprefix("0X")
    try:
        value = int(text, 16)
    except ValueError:
        raise InvalidInput(f"not a hexadecimal serial number: {serial!r}") from None
    if value <= 0:
        raise InvalidInput(f"serial numbers are positive: {serial!r}")
    return value


def birthday_in(year: int, birth_date: date) -> date:
    """The holder's birthday in `year`; a 29 February birthday falls on 28 February in common years."""
    if birth_date.month == 2 and birth_date.day == 29 and not calendar.isleap(year):
        return date(year, 2, 28)
    return birth_date.replace(year=year)


def fifth_birthday_after(birth_date: date, issued_on: date) -> date:
    """The 5th birthday strictly after the day of issue (a birthday on the day of issue does not count)."""
    first_year = issued_on.year if birthday_in(issued_on.year, birth_date) > issued_on else issued_on.year + 1
    return birthday_in(first_year + 4, birth_date)


def expiry(birth_date: date, issued_at: datetime) -> datetime:
    """notAfter of a user certificate: the end (23:59:59 JST) of the 5th birthday after the day of issue (JST)."""
    if issued_at.tzinfo is None:
        raise InvalidInput("issued_at must be an aware datetime")
    issued_on = issued_at.astimezone(JST).date()
    if birth_date > issued_on:
        raise InvalidInput(f"birth date {birth_date} is after the day of issue {issued_on}")
    last_day = fifth_birthday_after(birth_date, issued_on)
    return datetime.combine(last_day, time(23, 59, 59), tzinfo=JST).astimezone(UTC)
