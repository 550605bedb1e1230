"""Every eligibility rule of DOMAIN.md §1, one refusal code each, plus the edges that go wrong in practice."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

import pytest

from kofu.common.clock import JST
from kofu.issuer.eligibility import IssueRequest, RefusalCode, ResidentFacts, evaluate, fiscal_year_of
from kofu.issuer.tenant import CertificateType, IssuanceKind, Maintenance, Stage
from kofu.registry.model import (
    CardLink,
    IncomeRecord,
    ResidentStatus,
    SealRegistration,
    SealStatus,
    SupportMeasure,
)

from .factories import kato, resident

# A Wednesday in November 2026, within hours.
NOON = datetime(2026, 11, 25, 12, 0, tzinfo=JST)
TODAY = NOON.date()

SEAL = SealRegistration("282286", "R1", "S-1", b"png", date(2010, 1, 1), SealStatus.REGISTERED)
INCOME = IncomeRecord("282286", "R1", 2026, {"salary": 4_000_000}, 1_200_000, 2_800_000)


def facts(**changes: object) -> ResidentFacts:
    me = resident()
    base = ResidentFacts(resident=me, household=(me,), seal=SEAL, income=INCOME)
    return replace(base, **changes)  # type: ignore[arg-type]


def codes(req: IssueRequest, f: ResidentFacts, at: datetime = NOON, **tenant: object) -> set[RefusalCode]:
    return {r.code for r in evaluate(kato(**tenant), req, f, at)}


def req(ctype: CertificateType = CertificateType.JUMINHYO, **kw: object) -> IssueRequest:
    return IssueRequest("282286", "R1", ctype, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("ctype", list(CertificateType))
def test_an_ordinary_adult_may_obtain_every_type(ctype: CertificateType) -> None:
    assert codes(req(ctype), facts()) == set()


def test_not_registered() -> None:
    assert codes(req(), facts(resident=None)) == {RefusalCode.NOT_REGISTERED}
    assert codes(req(), facts(resident=resident(tenant="281000"))) == {RefusalCode.NOT_REGISTERED}


def test_under_15_until_the_15th_birthday() -> None:
    born = date(2011, 11, 26)  # turns 15 tomorrow
    assert codes(req(), facts(resident=resident(birth_date=born))) == {RefusalCode.UNDER_15}
    assert codes(req(), facts(resident=resident(birth_date=date(2011, 11, 25)))) == set()


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (ResidentStatus.MOVE_OUT_FILED, RefusalCode.MOVE_OUT_FILED),
        (ResidentStatus.MOVED_OUT, RefusalCode.MOVED_OUT),
        (ResidentStatus.DECEASED, RefusalCode.DECEASED),
    ],
)
def test_status(status: ResidentStatus, code: RefusalCode) -> None:
    assert codes(req(), facts(resident=resident(status=status))) == {code}


def test_support_measure_only_while_active() -> None:
    active = SupportMeasure("282286", "R1", date(2026, 1, 1))
    ended = SupportMeasure("282286", "R1", date(2025, 1, 1), date(2026, 11, 24))
    assert codes(req(), facts(support_measures=(active,))) == {RefusalCode.SUPPORT_MEASURE}
    assert codes(req(), facts(support_measures=(ended,))) == set()


def test_transfer_in_processed_today_is_served_from_tomorrow() -> None:
    moved = facts(resident=resident(moved_in_on=TODAY))
    assert codes(req(), moved) == {RefusalCode.TRANSFERRED_IN_TODAY}
    tomorrow = datetime(2026, 11, 26, 7, 0, tzinfo=JST)
    assert codes(req(), moved, at=tomorrow) == set()


def test_card_issued_or_pin_changed_today_and_revoked_card() -> None:
    new_card = CardLink("282286", "R1", "0A", TODAY, usable_from=date(2026, 11, 26))
    assert codes(req(), facts(card=new_card)) == {RefusalCode.CARD_NOT_YET_USABLE}
    revoked = CardLink("282286", "R1", "0B", date(2020, 1, 1), date(2020, 1, 2), revoked_on=date(2026, 11, 1))
    assert codes(req(), facts(card=revoked)) == {RefusalCode.CARD_REVOKED}


def test_seal_certificate_needs_a_registered_seal() -> None:
    inkan = req(CertificateType.INKAN)
    assert codes(inkan, facts(seal=None)) == {RefusalCode.NO_SEAL}
    cancelled = replace(SEAL, status=SealStatus.CANCELLED, cancelled_on=date(2026, 11, 1))
    assert codes(inkan, facts(seal=cancelled)) == {RefusalCode.SEAL_CANCELLED}
    assert codes(req(), facts(seal=None)) == set()  # other types do not care


def test_income_certificate_years_and_records() -> None:
    weekday_10 = datetime(2026, 11, 25, 10, 0, tzinfo=JST)
    assert codes(req(CertificateType.SHOTOKU), facts(), at=weekday_10) == set()
    last_year = IncomeRecord("282286", "R1", 2025, {"salary": 1}, 0, 0)
    assert codes(req(CertificateType.SHOTOKU, fiscal_year=2025), facts(income=last_year), at=weekday_10) == set()
    assert codes(req(CertificateType.SHOTOKU, fiscal_year=2024), facts(), at=weekday_10) == {
        RefusalCode.FISCAL_YEAR_NOT_OFFERED
    }
    assert codes(req(CertificateType.SHOTOKU), facts(income=None), at=weekday_10) == {RefusalCode.NO_INCOME_RECORD}


def test_fiscal_year_turns_in_april() -> None:
    assert fiscal_year_of(date(2026, 3, 31)) == 2025
    assert fiscal_year_of(date(2026, 4, 1)) == 2026


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2026, 11, 25, 6, 29, tzinfo=JST), {RefusalCode.OUTSIDE_HOURS}),
        (datetime(2026, 11, 25, 6, 30, tzinfo=JST), set()),
        (datetime(2026, 11, 25, 22, 59, tzinfo=JST), set()),
        (datetime(2026, 11, 25, 23, 0, tzinfo=JST), {RefusalCode.OUTSIDE_HOURS}),
        (datetime(2026, 12, 28, 12, 0, tzinfo=JST), set()),
        (datetime(2026, 12, 29, 12, 0, tzinfo=JST), {RefusalCode.NEW_YEAR_CLOSURE}),
        (datetime(2027, 1, 3, 12, 0, tzinfo=JST), {RefusalCode.NEW_YEAR_CLOSURE}),
        (datetime(2027, 1, 4, 12, 0, tzinfo=JST), set()),
        (datetime(2026, 12, 6, 2, 0, tzinfo=JST), {RefusalCode.MAINTENANCE, RefusalCode.OUTSIDE_HOURS}),
        (datetime(2026, 12, 6, 7, 0, tzinfo=JST), set()),
    ],
)
def test_hours_closure_and_maintenance(moment: datetime, expected: set[RefusalCode]) -> None:
    assert codes(req(), facts(), at=moment) == expected


def test_maintenance_inside_hours() -> None:
    window = Maintenance(start=datetime(2026, 11, 25, 11, 0, tzinfo=JST), end=datetime(2026, 11, 25, 13, 0, tzinfo=JST))
    assert codes(req(), facts(), maintenance=(window,)) == {RefusalCode.MAINTENANCE}


def test_per_type_hours_weekdays_only_and_holidays() -> None:
    shotoku = req(CertificateType.SHOTOKU)
    assert codes(shotoku, facts(), at=datetime(2026, 11, 25, 18, 0, tzinfo=JST)) == {RefusalCode.OUTSIDE_HOURS}
    assert codes(shotoku, facts(), at=datetime(2026, 11, 28, 10, 0, tzinfo=JST)) == {RefusalCode.OUTSIDE_HOURS}  # Sat
    assert codes(shotoku, facts(), at=datetime(2026, 11, 23, 10, 0, tzinfo=JST)) == {  # 勤労感謝の日
        RefusalCode.OUTSIDE_HOURS
    }
    assert codes(req(), facts(), at=datetime(2026, 11, 23, 10, 0, tzinfo=JST)) == set()  # 住民票 on a holiday


def test_type_not_offered_yet_and_fee_missing() -> None:
    before = datetime(2018, 5, 31, 10, 0, tzinfo=JST)
    assert codes(req(CertificateType.SHOTOKU), facts(), at=before) == {RefusalCode.TYPE_NOT_OFFERED}


def test_stages() -> None:
    assert codes(req(), facts(), stage=Stage.SETUP) == {RefusalCode.TENANT_NOT_IN_SERVICE}
    assert codes(req(), facts(), stage=Stage.TEST) == {RefusalCode.TEST_ONLY}
    assert codes(req(), facts(), stage=Stage.TEST, test_residents=("R1",)) == set()
    assert codes(req(), facts(), service_start=date(2026, 12, 1)) == {RefusalCode.TENANT_NOT_IN_SERVICE}


def test_items_kinds_copies() -> None:
    assert codes(req(items=("my_number",)), facts()) == {RefusalCode.ITEM_NOT_ALLOWED}  # tenant does not allow it
    assert codes(req(items=("juminhyo_code",)), facts()) == {RefusalCode.ITEM_NOT_ALLOWED}  # never via kiosk
    assert codes(req(CertificateType.INKAN, kind=IssuanceKind.HOUSEHOLD), facts()) == {RefusalCode.KIND_NOT_OFFERED}
    assert codes(req(copies=6), facts()) == {RefusalCode.TOO_MANY_COPIES}
    assert codes(req(copies=0), facts()) == {RefusalCode.TOO_MANY_COPIES}
    assert codes(req(copies=5), facts()) == set()


def test_members_must_be_current_household_members() -> None:
    me = resident()
    wife = resident(resident_id="R2", name="加東　花子", relationship="妻")
    gone = resident(resident_id="R3", relationship="子", status=ResidentStatus.MOVED_OUT)
    household = facts(household=(me, wife, gone))
    assert codes(req(kind=IssuanceKind.MEMBERS, members=("R2",)), household) == set()
    assert codes(req(kind=IssuanceKind.MEMBERS, members=("R3",)), household) == {RefusalCode.MEMBER_NOT_IN_HOUSEHOLD}
    assert codes(req(kind=IssuanceKind.MEMBERS, members=("R9",)), household) == {RefusalCode.MEMBER_NOT_IN_HOUSEHOLD}
    protected = replace(household, members_under_support=frozenset({"R2"}))
    assert codes(req(kind=IssuanceKind.HOUSEHOLD), protected) == {RefusalCode.MEMBER_UNDER_SUPPORT_MEASURE}
    assert codes(req(), protected) == set()  # 本人のみ does not show the protected member


def test_refusals_carry_both_languages() -> None:
    refusals = evaluate(kato(), req(), facts(resident=resident(birth_date=date(2015, 1, 1))), NOON)
    assert [r.code for r in refusals] == [RefusalCode.UNDER_15]
    assert "15歳未満" in refusals[0].message_ja and "under 15" in refusals[0].message_en
