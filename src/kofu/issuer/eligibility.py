"""Who may obtain which certificate, when (DOMAIN.md §1). Pure functions over domain objects.

Every refusal is a `Refusal` with a stable `code` and a message in Japanese and English, so that the
kiosk can show it in the resident's language and an operator can count refusals by cause.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

import jpholiday

from kofu.common.clock import JST
from kofu.issuer.tenant import (
    JUMINHYO_OPTIONAL_ITEMS,
    KISAI_ITEMS,
    CertificateType,
    IssuanceKind,
    Stage,
    TenantSettings,
)
from kofu.registry.model import (
    CardLink,
    IncomeRecord,
    Resident,
    ResidentStatus,
    SealRegistration,
    SealStatus,
    SupportMeasure,
)

MINIMUM_AGE = 15


class RefusalCode(StrEnum):
    TENANT_NOT_IN_SERVICE = "tenant-not-in-service"
    TEST_ONLY = "test-only"
    TYPE_NOT_OFFERED = "type-not-offered"
    NEW_YEAR_CLOSURE = "new-year-closure"
    MAINTENANCE = "maintenance"
    OUTSIDE_HOURS = "outside-hours"
    NOT_REGISTERED = "not-registered"
    UNDER_15 = "under-15"
    SUPPORT_MEASURE = "support-measure"
    MOVE_OUT_FILED = "move-out-filed"
    MOVED_OUT = "moved-out"
    DECEASED = "deceased"
    TRANSFERRED_IN_TODAY = "transferred-in-today"
    METHOD_NOT_ACCEPTED = "method-not-accepted"
    CARD_NOT_YET_USABLE = "card-not-yet-usable"
    CARD_REVOKED = "card-revoked"
    NO_SEAL = "no-seal"
    SEAL_CANCELLED = "seal-cancelled"
    FISCAL_YEAR_NOT_OFFERED = "fiscal-year-not-offered"
    NO_INCOME_RECORD = "no-income-record"
    KIND_NOT_OFFERED = "kind-not-offered"
    ITEM_NOT_ALLOWED = "item-not-allowed"
    MEMBER_NOT_IN_HOUSEHOLD = "member-not-in-household"
    MEMBER_UNDER_SUPPORT_MEASURE = "member-under-support-measure"
    TOO_MANY_COPIES = "too-many-copies"


MESSAGES: dict[RefusalCode, tuple[str, str]] = {
    RefusalCode.TENANT_NOT_IN_SERVICE: (
        "Your municipality does not offer convenience-store issuance yet.",
        "お住まいの市区町村ではコンビニ交付サービスを開始していません。",
    ),
    RefusalCode.TEST_ONLY: (
        "The service is in its test period; only test cards can be used.",
        "現在は試験期間中のため、試験用カード以外はご利用いただけません。",
    ),
    RefusalCode.TYPE_NOT_OFFERED: (
        "This certificate is not offered by your municipality at convenience stores.",
        "この証明書はお住まいの市区町村ではコンビニ交付の対象外です。",
    ),
    RefusalCode.NEW_YEAR_CLOSURE: (
        "The service is closed from 29 December to 3 January.",
        "12月29日から1月3日まではサービスを停止しています。",
    ),
    RefusalCode.MAINTENANCE: (
        "The service is stopped for maintenance.",
        "システムメンテナンスのためサービスを停止しています。",
    ),
    RefusalCode.OUTSIDE_HOURS: (
        "This certificate cannot be issued at this time of day.",
        "この証明書は現在の時間帯には交付できません。",
    ),
    RefusalCode.NOT_REGISTERED: (
        "You are not registered as a resident of this municipality.",
        "この市区町村に住民登録がありません。",
    ),
    RefusalCode.UNDER_15: (
        "Persons under 15 cannot use convenience-store issuance.",
        "15歳未満の方はコンビニ交付をご利用いただけません。",
    ),
    RefusalCode.SUPPORT_MEASURE: (
        "This service is not available for your registration. Please ask at the municipal office.",
        "このサービスはご利用いただけません。市区町村の窓口にお問い合わせください。",
    ),
    RefusalCode.MOVE_OUT_FILED: (
        "A move-out has been filed; certificates are available at the municipal office.",
        "転出届を提出済みのため、コンビニ交付はご利用いただけません。",
    ),
    RefusalCode.MOVED_OUT: (
        "You are no longer registered in this municipality (moved out).",
        "転出により住民登録が消除されています。",
    ),
    RefusalCode.DECEASED: (
        "This registration has been closed.",
        "この住民登録は消除されています。",
    ),
    RefusalCode.TRANSFERRED_IN_TODAY: (
        "Your moving-in was processed today; the service is available from tomorrow.",
        "本日転入の手続をされたため、明日からご利用いただけます。",
    ),
    RefusalCode.METHOD_NOT_ACCEPTED: (
        "Your municipality does not accept this way of using the card. Please follow the other procedure.",
        "お住まいの市区町村ではこの方式（利用者証明用電子証明書方式／カードアプリ方式）はご利用いただけません。",
    ),
    RefusalCode.CARD_NOT_YET_USABLE: (
        "Your card (or PIN) is new; the service is available from tomorrow.",
        "カードの交付または暗証番号の変更の当日は利用できません。明日からご利用いただけます。",
    ),
    RefusalCode.CARD_REVOKED: (
        "The certificate on this card has been revoked.",
        "このカードの電子証明書は失効しています。",
    ),
    RefusalCode.NO_SEAL: (
        "You have no registered seal, so a seal registration certificate cannot be issued.",
        "印鑑登録がないため、印鑑登録証明書は交付できません。",
    ),
    RefusalCode.SEAL_CANCELLED: (
        "Your seal registration has been cancelled.",
        "印鑑登録は廃止されています。",
    ),
    RefusalCode.FISCAL_YEAR_NOT_OFFERED: (
        "Income certificates for this fiscal year are not issued at convenience stores.",
        "この年度の所得証明書はコンビニ交付の対象外です。",
    ),
    RefusalCode.NO_INCOME_RECORD: (
        "There is no income record for this fiscal year. Please ask at the municipal office.",
        "この年度の所得の情報がありません。市区町村の窓口にお問い合わせください。",
    ),
    RefusalCode.KIND_NOT_OFFERED: (
        "This issuance kind is not offered for this certificate.",
        "この交付種別は選択できません。",
    ),
    RefusalCode.ITEM_NOT_ALLOWED: (
        "One of the chosen items cannot be printed at a convenience store.",
        "選択された記載事項の一部はコンビニ交付では記載できません。",
    ),
    RefusalCode.MEMBER_NOT_IN_HOUSEHOLD: (
        "A chosen person is not a current member of your household.",
        "選択された方は現在の世帯員ではありません。",
    ),
    RefusalCode.MEMBER_UNDER_SUPPORT_MEASURE: (
        "A certificate including this household member cannot be issued here. Please ask at the office.",
        "この世帯員を含む証明書はコンビニ交付できません。窓口にお問い合わせください。",
    ),
    RefusalCode.TOO_MANY_COPIES: (
        "Too many copies requested.",
        "交付通数が上限を超えています。",
    ),
}


@dataclass(frozen=True)
class Refusal:
    code: RefusalCode
    detail: str = ""  # machine detail, never personal data (e.g. the item name or limit)

    @property
    def message_en(self) -> str:
        return MESSAGES[self.code][0]

    @property
    def message_ja(self) -> str:
        return MESSAGES[self.code][1]


@dataclass(frozen=True)
class IssueRequest:
    tenant: str
    resident_id: str
    type: CertificateType
    kind: IssuanceKind = IssuanceKind.SELF
    members: tuple[str, ...] = ()  # resident ids for kind=members (the requester is always included)
    items: tuple[str, ...] = ()
    copies: int = 1
    fiscal_year: int | None = None  # 所得証明書; None = the current 年度


@dataclass(frozen=True)
class ResidentFacts:
    """What the registry says about the requester and household, read inside the issuance transaction."""

    resident: Resident | None
    household: tuple[Resident, ...] = ()
    seal: SealRegistration | None = None
    income: IncomeRecord | None = None
    support_measures: tuple[SupportMeasure, ...] = ()
    members_under_support: frozenset[str] = frozenset()
    card: CardLink | None = None
    method: str | None = None  # how the card authenticated: "jpki" or "card-app"; None at the window


def fiscal_year_of(day: date) -> int:
    """年度: April to March. The current 年度's income certificate covers the previous calendar year."""
    return day.year if day.month >= 4 else day.year - 1


def is_new_year_closure(day: date) -> bool:
    return (day.month == 12 and day.day >= 29) or (day.month == 1 and day.day <= 3)


def is_weekday(day: date) -> bool:
    return day.weekday() < 5 and not jpholiday.is_holiday(day)


def check_service(tenant: TenantSettings, ctype: CertificateType, moment: datetime) -> list[Refusal]:
    """Is this certificate type served at this moment (stage, offer, closures, maintenance, hours)?"""
    local = moment.astimezone(JST)
    day = local.date()
    refusals: list[Refusal] = []
    if tenant.stage is Stage.SETUP or (tenant.stage is Stage.LIVE and day < tenant.service_start):
        return [Refusal(RefusalCode.TENANT_NOT_IN_SERVICE)]
    cert = tenant.certificate(ctype)
    if cert is None or not cert.offered_on(day):
        return [Refusal(RefusalCode.TYPE_NOT_OFFERED, ctype.value)]
    if tenant.closed_new_year and is_new_year_closure(day):
        refusals.append(Refusal(RefusalCode.NEW_YEAR_CLOSURE))
    if any(m.start <= moment < m.end for m in tenant.maintenance):
        refusals.append(Refusal(RefusalCode.MAINTENANCE))
    hours = cert.hours or tenant.hours
    minutes = local.hour * 60 + local.minute
    open_t = hours.open_time
    if not (open_t.hour * 60 + open_t.minute <= minutes < hours.close_minutes):
        refusals.append(Refusal(RefusalCode.OUTSIDE_HOURS, f"{hours.open}-{hours.close}"))
    elif hours.days == "weekdays" and not is_weekday(day):
        refusals.append(Refusal(RefusalCode.OUTSIDE_HOURS, "weekdays"))
    return refusals


def _status_refusal(resident: Resident) -> Refusal | None:
    return {
        ResidentStatus.MOVE_OUT_FILED: Refusal(RefusalCode.MOVE_OUT_FILED),
        ResidentStatus.MOVED_OUT: Refusal(RefusalCode.MOVED_OUT),
        ResidentStatus.DECEASED: Refusal(RefusalCode.DECEASED),
    }.get(resident.status)


def check_resident(tenant: TenantSettings, facts: ResidentFacts, today: date) -> list[Refusal]:
    """May this person use the service at all (independent of the certificate chosen)?"""
    resident = facts.resident
    if resident is None or resident.tenant != tenant.code:
        return [Refusal(RefusalCode.NOT_REGISTERED)]
    refusals: list[Refusal] = []
    status = _status_refusal(resident)
    if status is not None:
        return [status]
    if tenant.stage is Stage.TEST and resident.resident_id not in tenant.test_residents:
        refusals.append(Refusal(RefusalCode.TEST_ONLY))
    if any(m.active_on(today) for m in facts.support_measures):
        refusals.append(Refusal(RefusalCode.SUPPORT_MEASURE))
    if resident.age_on(today) < MINIMUM_AGE:
        refusals.append(Refusal(RefusalCode.UNDER_15))
    if resident.moved_in_on is not None and resident.moved_in_on >= today:
        refusals.append(Refusal(RefusalCode.TRANSFERRED_IN_TODAY))
    if facts.method is not None and tenant.card_method not in (facts.method, "both"):
        refusals.append(Refusal(RefusalCode.METHOD_NOT_ACCEPTED, facts.method))
    card = facts.card
    if card is not None:
        if card.revoked_on is not None and card.revoked_on <= today:
            refusals.append(Refusal(RefusalCode.CARD_REVOKED))
        elif card.usable_from > today:
            refusals.append(Refusal(RefusalCode.CARD_NOT_YET_USABLE))
    return refusals


def allowed_fiscal_years(tenant: TenantSettings, today: date) -> list[int]:
    cert = tenant.certificate(CertificateType.SHOTOKU)
    if cert is None:
        return []
    current = fiscal_year_of(today)
    return [current - back for back in range(cert.fiscal_years_back + 1)]


def check_request(tenant: TenantSettings, request: IssueRequest, facts: ResidentFacts, today: date) -> list[Refusal]:
    """The certificate-specific rules: kind, members, items, copies, seal, income year."""
    cert = tenant.certificate(request.type)
    if cert is None:
        return [Refusal(RefusalCode.TYPE_NOT_OFFERED, request.type.value)]
    refusals: list[Refusal] = []
    if request.kind not in cert.kinds:
        refusals.append(Refusal(RefusalCode.KIND_NOT_OFFERED, request.kind.value))
    allowed_items = KISAI_ITEMS if request.type is CertificateType.KISAI else JUMINHYO_OPTIONAL_ITEMS
    for item in request.items:
        if item not in allowed_items or item not in cert.items:
            refusals.append(Refusal(RefusalCode.ITEM_NOT_ALLOWED, item))
    if not 1 <= request.copies <= tenant.copies_limit:
        refusals.append(Refusal(RefusalCode.TOO_MANY_COPIES, str(tenant.copies_limit)))
    for person in included_people(request, facts):
        if person.resident_id in facts.members_under_support and person.resident_id != request.resident_id:
            refusals.append(Refusal(RefusalCode.MEMBER_UNDER_SUPPORT_MEASURE))
            break
    if request.kind is IssuanceKind.MEMBERS:
        current = {p.resident_id for p in facts.household if not p.is_removed}
        if not request.members or any(m not in current for m in request.members):
            refusals.append(Refusal(RefusalCode.MEMBER_NOT_IN_HOUSEHOLD))
    if request.type is CertificateType.INKAN:
        if facts.seal is None:
            refusals.append(Refusal(RefusalCode.NO_SEAL))
        elif facts.seal.status is SealStatus.CANCELLED:
            refusals.append(Refusal(RefusalCode.SEAL_CANCELLED))
    if request.type is CertificateType.SHOTOKU:
        year = request.fiscal_year or fiscal_year_of(today)
        if year not in allowed_fiscal_years(tenant, today):
            refusals.append(Refusal(RefusalCode.FISCAL_YEAR_NOT_OFFERED, str(year)))
        elif facts.income is None or facts.income.fiscal_year != year:
            refusals.append(Refusal(RefusalCode.NO_INCOME_RECORD, str(year)))
    return refusals


def included_people(request: IssueRequest, facts: ResidentFacts) -> list[Resident]:
    """The people printed on the certificate, head first. Removed persons (消除者) are never included."""
    if facts.resident is None:
        return []
    if request.type is not CertificateType.JUMINHYO or request.kind is IssuanceKind.SELF:
        return [facts.resident]
    active = [p for p in facts.household if not p.is_removed]
    if request.kind is IssuanceKind.HOUSEHOLD:
        return active
    wanted = {*request.members, request.resident_id}
    return [p for p in active if p.resident_id in wanted]


def evaluate(tenant: TenantSettings, request: IssueRequest, facts: ResidentFacts, moment: datetime) -> list[Refusal]:
    """All refusals for this request at this moment; an empty list means it may be issued."""
    today = moment.astimezone(JST).date()
    refusals = check_service(tenant, request.type, moment)
    if refusals and refusals[0].code in (RefusalCode.TENANT_NOT_IN_SERVICE, RefusalCode.TYPE_NOT_OFFERED):
        return refusals
    person = check_resident(tenant, facts, today)
    if person and person[0].code in (
        RefusalCode.NOT_REGISTERED,
        RefusalCode.MOVED_OUT,
        RefusalCode.DECEASED,
        RefusalCode.MOVE_OUT_FILED,
    ):
        return refusals + person
    return refusals + person + check_request(tenant, request, facts, today)


def next_service_day(day: date) -> date:
    return day + timedelta(days=1)
