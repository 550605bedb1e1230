"""The municipality's resident registry (住民基本台帳 and related ledgers) as pure domain objects.

Nothing here touches a database. The store maps these to tables; the issuer reads them to decide
eligibility and to compose certificates. Events (`RegistryEvent` subclasses) are the only way the
registry changes after import; `service.apply_event` applies one atomically.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum


class ResidentStatus(StrEnum):
    RESIDENT = "resident"  # 住民
    MOVE_OUT_FILED = "move-out-filed"  # 転出届済（転出予定）
    MOVED_OUT = "moved-out"  # 転出（消除）
    DECEASED = "deceased"  # 死亡（消除）


class Sex(StrEnum):
    MALE = "male"
    FEMALE = "female"

    @property
    def ja(self) -> str:
        return "男" if self is Sex.MALE else "女"


class SealStatus(StrEnum):
    REGISTERED = "registered"
    CANCELLED = "cancelled"  # 廃止


@dataclass(frozen=True)
class Resident:
    tenant: str  # 団体コード (6 digits)
    resident_id: str  # the municipality's own id (宛名番号), never the 住民票コード
    household_id: str
    name: str  # 氏名, full-width space between family and given name: 加東　太郎
    kana: str  # ふりがな: かとう　たろう
    birth_date: date
    sex: Sex
    relationship: str  # 続柄 to the household head: 世帯主, 妻, 夫, 子, 長男, 母 …
    address: str  # 住所
    honseki: str | None  # 本籍 (None for foreign residents)
    hittosha: str | None  # 筆頭者
    became_resident_on: date  # 住民となった年月日
    address_since: date  # 住所を定めた年月日
    notified_on: date  # 届出年月日 (of the last 異動)
    previous_address: str | None  # 従前の住所
    status: ResidentStatus
    status_changed_on: date | None = None  # date of death, move-out, or the filed move-out
    moved_in_on: date | None = None  # the day a 転入 was processed (service resumes the next day)
    my_number: str | None = None  # 個人番号 (12 digits); printed only when asked and allowed
    juminhyo_code: str | None = None  # 住民票コード (11 digits); never printed via a kiosk
    version: int = 1  # bumped by every event; an issuance checks it (ARCHITECTURE rule 4)

    @property
    def is_removed(self) -> bool:
        """消除者: no longer in the resident register."""
        return self.status in (ResidentStatus.MOVED_OUT, ResidentStatus.DECEASED)

    @property
    def is_head(self) -> bool:
        return self.relationship == "世帯主"

    def age_on(self, day: date) -> int:
        # 年齢計算ニ関スル法律: one becomes a year older at the end of the day before the birthday;
        # for counting ages on a given day the calendar comparison is what every system uses.
        years = day.year - self.birth_date.year
        if (day.month, day.day) < (self.birth_date.month, self.birth_date.day):
            years -= 1
        return years


@dataclass(frozen=True)
class Household:
    tenant: str
    household_id: str
    head_resident_id: str
    address: str


@dataclass(frozen=True)
class SealRegistration:
    tenant: str
    resident_id: str
    registration_no: str  # 印鑑登録番号
    image_png: bytes  # 印影
    registered_on: date
    status: SealStatus
    cancelled_on: date | None = None


INCOME_KINDS: dict[str, str] = {
    "salary": "給与所得",
    "business": "事業所得",
    "pension": "公的年金等に係る雑所得",
    "real_estate": "不動産所得",
    "other": "その他の所得",
}


@dataclass(frozen=True)
class IncomeRecord:
    """所得 for one fiscal year (年度); the amounts are those of the previous calendar year."""

    tenant: str
    resident_id: str
    fiscal_year: int  # 年度, e.g. 2025 for 令和7年度 (income of 2024)
    incomes: dict[str, int] = field(default_factory=dict)  # INCOME_KINDS key → yen
    deductions: int = 0  # 所得控除の合計
    taxable_income: int = 0  # 課税標準額

    @property
    def total_income(self) -> int:
        return sum(self.incomes.values())


@dataclass(frozen=True)
class SupportMeasure:
    """支援措置 (DV/stalking protection): while active, no certificate for this person at a kiosk."""

    tenant: str
    resident_id: str
    started_on: date
    ended_on: date | None = None

    def active_on(self, day: date) -> bool:
        return self.started_on <= day and (self.ended_on is None or day <= self.ended_on)


@dataclass(frozen=True)
class CardLink:
    """The user-authentication certificate of a resident's My Number card."""

    tenant: str
    resident_id: str
    cert_serial: str  # hex serial of the 利用者証明用電子証明書
    issued_on: date
    usable_from: date  # the day after issue (or after a PIN change)
    revoked_on: date | None = None
    sign_serial: str | None = None  # the 署名用電子証明書 on the same card (revoked on move-out, death, loss)
    card_app_user_id: str | None = None  # the municipal card application's user ID (カードAP方式)
    card_app_public_key: str | None = None  # base64 DER SubjectPublicKeyInfo of the card AP's key (P-256)


# ---- events: the only way the registry changes after the initial import ----


@dataclass(frozen=True)
class RegistryEvent:
    tenant: str
    resident_id: str
    effective_on: date  # 異動日
    notified_on: date  # 届出日 / 処理日

    kind: str = field(init=False, default="event")


@dataclass(frozen=True)
class TransferIn(RegistryEvent):
    """転入: a new resident; joins or founds a household."""

    household_id: str = ""
    name: str = ""
    kana: str = ""
    birth_date: date = date(1970, 1, 1)
    sex: Sex = Sex.MALE
    relationship: str = "世帯主"
    address: str = ""
    previous_address: str = ""
    honseki: str | None = None
    hittosha: str | None = None
    my_number: str | None = None
    kind: str = field(init=False, default="transfer-in")


@dataclass(frozen=True)
class Relocation(RegistryEvent):
    """転居: a new address within the municipality (the whole household moves unless it is split)."""

    address: str = ""
    kind: str = field(init=False, default="relocation")


@dataclass(frozen=True)
class MoveOutFiled(RegistryEvent):
    """転出届: the resident filed a move-out; effective_on is the planned move date."""

    destination: str = ""
    kind: str = field(init=False, default="move-out-filed")


@dataclass(frozen=True)
class MoveOut(RegistryEvent):
    """転出: removed from the register (消除)."""

    destination: str = ""
    kind: str = field(init=False, default="move-out")


@dataclass(frozen=True)
class Death(RegistryEvent):
    """死亡: removed from the register (消除)."""

    kind: str = field(init=False, default="death")


@dataclass(frozen=True)
class HouseholdChange(RegistryEvent):
    """世帯変更: moves the resident to another (possibly new) household with a new 続柄."""

    household_id: str = ""
    relationship: str = ""
    kind: str = field(init=False, default="household-change")


@dataclass(frozen=True)
class SealRegistered(RegistryEvent):
    """印鑑登録: a new registration replaces any earlier one."""

    registration_no: str = ""
    image_png: bytes = b""
    kind: str = field(init=False, default="seal-registered")


@dataclass(frozen=True)
class SealCancelled(RegistryEvent):
    """印鑑廃止."""

    kind: str = field(init=False, default="seal-cancelled")


@dataclass(frozen=True)
class SupportMeasureStarted(RegistryEvent):
    kind: str = field(init=False, default="support-start")


@dataclass(frozen=True)
class SupportMeasureEnded(RegistryEvent):
    kind: str = field(init=False, default="support-end")


@dataclass(frozen=True)
class IncomeUpdated(RegistryEvent):
    """所得更新: the income record of one fiscal year is replaced as a whole."""

    fiscal_year: int = 0
    incomes: dict[str, int] = field(default_factory=dict)
    deductions: int = 0
    taxable_income: int = 0
    kind: str = field(init=False, default="income-update")


EVENT_TYPES: dict[str, type[RegistryEvent]] = {
    cls.__dataclass_fields__["kind"].default: cls  # type: ignore[misc]
    for cls in (
        TransferIn,
        Relocation,
        MoveOutFiled,
        MoveOut,
        Death,
        HouseholdChange,
        SealRegistered,
        SealCancelled,
        SupportMeasureStarted,
        SupportMeasureEnded,
        IncomeUpdated,
    )
}
