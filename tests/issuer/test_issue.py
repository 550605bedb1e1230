"""Issuing real certificates: the PDF says what the registry says, is signed, and verifies."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from kofu.issuer.eligibility import IssueRequest, RefusalCode
from kofu.issuer.service import NotEligible
from kofu.issuer.statement import decode
from kofu.issuer.store import IssuerStore, counters
from kofu.issuer.tenant import CertificateType, IssuanceKind
from kofu.registry.model import Death, SealCancelled
from kofu.registry.service import apply_event
from kofu.verify.service import Outcome
from tests.statements import statements

from .conftest import CHILD, GONE, HEAD, NOW, WIFE, World

T = "282286"


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "doc.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True, text=True)
    return out.stdout


def flat(text: str) -> str:
    return "".join(text.split())


def test_juminhyo_household_prints_current_members_and_chosen_items(world: World, tmp_path: Path) -> None:
    request = IssueRequest(
        T, "R1", CertificateType.JUMINHYO, IssuanceKind.HOUSEHOLD, items=("household_head", "honseki"), copies=2
    )
    issued = world.issuer.issue(request)
    text = flat(pdf_text(issued.pdf, tmp_path))
    assert "住民票の写し" in text
    for person in (HEAD, WIFE, CHILD):
        assert flat(person.name) in text
        assert flat(person.kana) in text
    assert flat(GONE.name) not in text  # removed persons are never printed
    assert "兵庫県加東市社５０番地" in text
    assert "昭和55年6月15日" in text and "昭和57年2月3日" in text and "平成28年8月8日" in text  # births in 和暦
    assert "本籍" in text and "筆頭者" in text and "世帯主" in text and "妻" in text
    assert "個人番号" not in text and "123456789018" not in text  # not asked for
    assert "この写しは、住民票の原本と相違ないことを証明する。" in text
    assert "令和8年11月25日" in text and "加東市長" in text and flat("加東　一郎") in text
    assert issued.record.fee_total == 500 and issued.record.copies == 2
    assert world.verifier.verify_pdf(issued.pdf).outcome is Outcome.VALID


def test_juminhyo_self_only_and_members(world: World, tmp_path: Path) -> None:
    own = flat(pdf_text(world.issuer.issue(IssueRequest(T, "R1", CertificateType.JUMINHYO)).pdf, tmp_path))
    assert flat(HEAD.name) in own and flat(WIFE.name) not in own
    assert "本籍" not in own  # optional item not chosen
    some = world.issuer.issue(IssueRequest(T, "R1", CertificateType.JUMINHYO, IssuanceKind.MEMBERS, members=("R3",)))
    text = flat(pdf_text(some.pdf, tmp_path))
    assert flat(HEAD.name) in text and flat(CHILD.name) in text and flat(WIFE.name) not in text


def test_kisai_certifies_only_chosen_items(world: World, tmp_path: Path) -> None:
    issued = world.issuer.issue(IssueRequest(T, "R2", CertificateType.KISAI, items=("birth_date", "address")))
    text = flat(pdf_text(issued.pdf, tmp_path))
    assert "住民票記載事項証明書" in text and flat(WIFE.name) in text
    assert "昭和57年2月3日" in text and "兵庫県加東市社５０番地" in text
    assert "性別" not in text and "本籍" not in text
    assert "上記の事項は、住民票に記載されていることを証明する。" in text


def test_inkan_prints_the_registered_seal_holder(world: World, tmp_path: Path) -> None:
    issued = world.issuer.issue(IssueRequest(T, "R1", CertificateType.INKAN))
    text = flat(pdf_text(issued.pdf, tmp_path))
    assert "印鑑登録証明書" in text and flat(HEAD.name) in text and "IN-000123" in text
    assert "この写しは、登録されている印影と相違ないことを証明する。" in text
    # the 印影 is an image on the page
    path = tmp_path / "inkan.pdf"
    path.write_bytes(issued.pdf)
    images = subprocess.run(["pdfimages", "-list", str(path)], capture_output=True, text=True, check=True).stdout
    assert len(images.strip().splitlines()) >= 4  # header lines + seal impression + 公印


def test_shotoku_prints_income_of_the_fiscal_year(world: World, tmp_path: Path) -> None:
    issued = world.issuer.issue(IssueRequest(T, "R1", CertificateType.SHOTOKU))
    text = flat(pdf_text(issued.pdf, tmp_path))
    assert "所得証明書" in text and "令和8年度" in text and "令和7年分" in text
    assert "4,820,000円" in text and "360,000円" in text
    assert "5,180,000円" in text  # total income
    assert "1,350,000円" in text and "3,830,000円" in text


def test_numbers_increase_per_tenant_and_are_recorded(world: World) -> None:
    first = world.issuer.issue(IssueRequest(T, "R1", CertificateType.JUMINHYO))
    second = world.issuer.issue(IssueRequest(T, "R1", CertificateType.INKAN))
    assert second.record.number == first.record.number + 1
    stored = world.issuer.lookup(T, second.record.number)
    assert stored is not None and stored.type == "inkan" and stored.status == "issued"
    statement, payload, _ = decode(second.statement)
    assert statement.document_hash == stored.document_hash  # the QR commits to the stored hash
    assert statement.number == second.record.number and statement.tenant == T
    body = json.loads(payload)
    assert set(body) == {"v", "t", "n", "k", "d", "h"}  # tenant, number, type, date, salted hash: nothing else
    assert len(body["h"]) == 43  # a base64url SHA-256, not a name or id
    rest = json.dumps({k: v for k, v in body.items() if k != "h"}, ensure_ascii=False)
    assert "加東" not in rest and "R1" not in rest and "太郎" not in rest  # no personal data in clear


def test_refusal_writes_nothing(world: World) -> None:
    with world.engine.connect() as conn:
        before = conn.execute(select(counters.c.last_number)).scalars().all()
    with pytest.raises(NotEligible) as info:
        world.issuer.issue(IssueRequest(T, "R3", CertificateType.JUMINHYO))  # a 10-year-old
    assert [r.code for r in info.value.refusals] == [RefusalCode.UNDER_15]
    with world.engine.connect() as conn:
        assert conn.execute(select(counters.c.last_number)).scalars().all() == before
        assert IssuerStore(conn).list(T) == []


def test_committed_registry_change_wins_over_a_later_issuance(world: World) -> None:
    """ARCHITECTURE rule 4: the issuance re-reads committed state in its own transaction."""
    world.issuer.issue(IssueRequest(T, "R1", CertificateType.INKAN))
    with world.engine.begin() as conn:
        apply_event(conn, SealCancelled(T, "R1", date(2026, 11, 25), date(2026, 11, 25)), recorded_at=NOW)
    with pytest.raises(NotEligible) as info:
        world.issuer.issue(IssueRequest(T, "R1", CertificateType.INKAN))
    assert info.value.refusals[0].code is RefusalCode.SEAL_CANCELLED

    with world.engine.begin() as conn:
        apply_event(conn, Death(T, "R2", date(2026, 11, 25), date(2026, 11, 25)), recorded_at=NOW)
    household = world.issuer.issue(IssueRequest(T, "R1", CertificateType.JUMINHYO, IssuanceKind.HOUSEHOLD))
    assert household.record.resident_version >= 1
    with pytest.raises(NotEligible):
        world.issuer.issue(IssueRequest(T, "R2", CertificateType.JUMINHYO))


def test_void_then_verify_says_voided(world: World) -> None:
    issued = world.issuer.issue(IssueRequest(T, "R1", CertificateType.JUMINHYO))
    world.issuer.void(T, issued.record.number, reason="print-failed")
    verdict = world.verifier.verify_pdf(issued.pdf)
    assert verdict.outcome is Outcome.VOIDED and verdict.void_reason == "print-failed"
    assert world.verifier.verify_statement(issued.statement).outcome is Outcome.VOIDED


def test_one_byte_change_is_tampered(world: World) -> None:
    issued = world.issuer.issue(IssueRequest(T, "R1", CertificateType.JUMINHYO))
    pdf = bytearray(issued.pdf)
    at = pdf.index(b"BT")  # inside a content stream that the signature covers
    pdf[at + 3] ^= 0x01
    verdict = world.verifier.verify_pdf(bytes(pdf))
    assert verdict.outcome is Outcome.TAMPERED, verdict


def test_statement_forgeries(world: World) -> None:
    issued = world.issuer.issue(IssueRequest(T, "R1", CertificateType.JUMINHYO))
    prefix, _payload, sig = issued.statement.split(".")
    other = world.issuer.issue(IssueRequest(T, "R1", CertificateType.INKAN))
    _, other_payload, _ = other.statement.split(".")
    assert world.verifier.verify_statement(f"{prefix}.{other_payload}.{sig}").outcome is Outcome.TAMPERED
    assert world.verifier.verify_statement("hello").outcome is Outcome.UNKNOWN
    assert world.verifier.verify_statement(issued.statement).outcome is Outcome.VALID


def test_qr_round_trip_through_a_real_decoder(world: World, tmp_path: Path) -> None:
    issued = world.issuer.issue(IssueRequest(T, "R1", CertificateType.KISAI, items=("address",)))
    pdf = tmp_path / "k.pdf"
    pdf.write_bytes(issued.pdf)
    subprocess.run(["pdftoppm", "-r", "150", "-png", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "p")], check=True)
    page = next(tmp_path.glob("p*.png"))
    decoded = subprocess.run(["zbarimg", "--raw", "-q", str(page)], capture_output=True, text=True, check=True)
    payload = decoded.stdout.strip()
    assert payload == issued.statement
    assert world.verifier.verify_statement(payload).outcome is Outcome.VALID


def test_unknown_tenant_key_and_number(world: World) -> None:
    issued = world.issuer.issue(IssueRequest(T, "R1", CertificateType.JUMINHYO))
    from kofu.issuer import keys as keystore
    from kofu.issuer.statement import Statement, encode

    st, _, _ = decode(issued.statement)
    key = keystore.load_tenant_keys(world.keys_dir, T).statement_key
    ghost = encode(replace(st, number=st.number + 1000), key)
    assert world.verifier.verify_statement(ghost).outcome is Outcome.UNKNOWN
    foreign = encode(Statement("281000", 1, "juminhyo", st.issued_on, st.document_hash), key)
    assert world.verifier.verify_statement(foreign).outcome is Outcome.UNKNOWN


def test_a_retried_order_never_leaves_two_live_certificates(world: World) -> None:
    request = IssueRequest(T, "R1", CertificateType.JUMINHYO)
    first = world.issuer.issue(request, order_id="order-1")
    second = world.issuer.issue(request, order_id="order-1")
    assert second.record.number == first.record.number + 1
    earlier = world.issuer.lookup(T, first.record.number)
    assert earlier is not None and earlier.status == "voided" and earlier.void_reason == "retried"
    assert world.verifier.verify_pdf(first.pdf).outcome is Outcome.VOIDED
    assert world.verifier.verify_pdf(second.pdf).outcome is Outcome.VALID


def test_menu_lists_what_the_resident_may_obtain(world: World) -> None:
    menu = world.issuer.menu(T, "R1", at=NOW)
    assert menu.municipality == "加東市" and menu.copies_limit == 5 and menu.refusals == ()
    by_type = {e.type: e for e in menu.entries}
    assert set(by_type) == set(CertificateType)
    assert all(e.available and e.fee_each == 250 and e.window_fee_each == 300 for e in menu.entries)
    assert by_type[CertificateType.SHOTOKU].fiscal_years == (2026, 2025)
    assert IssuanceKind.MEMBERS in by_type[CertificateType.JUMINHYO].kinds
    assert {m.resident_id for m in menu.members} == {"R2", "R3"}  # current members only, not the moved-out R4

    child = world.issuer.menu(T, "R3", at=NOW)
    assert [r.code for r in child.refusals] == [RefusalCode.UNDER_15]
    assert not any(e.available for e in child.entries)


def test_the_resident_and_their_household_are_read_in_one_statement(world: World) -> None:
    """The same resident and household as `get_resident` + `household_members`; one statement without the
    issuance's lock (under it on PostgreSQL: the resident's row locked, then the household, two)."""

    from kofu.issuer.service import read_facts
    from kofu.registry.store import RegistryStore, residents

    for lock in (False, True):
        with world.engine.begin() as conn:
            reg = RegistryStore(conn)
            resident, members = reg.resident_and_household(T, WIFE.resident_id, lock=lock)
            assert resident is not None and resident == reg.get_resident(T, WIFE.resident_id)
            assert members == reg.household_members(T, resident.household_id)
            assert members[0].resident_id == HEAD.resident_id and len(members) == 4
            assert reg.resident_and_household(T, "no-such-resident", lock=lock) == (None, [])
    with statements(world.engine) as sent, world.engine.connect() as conn:
        facts = read_facts(
            RegistryStore(conn), IssueRequest(T, WIFE.resident_id, CertificateType.JUMINHYO), NOW.date(), lock=False
        )
    assert facts.resident is not None and len(facts.household) == 4
    assert sum(f"FROM {residents.name}" in s for s in sent) == 1


def test_support_measures_of_a_household_are_read_in_one_query(world: World) -> None:
    """支援措置 of every member decide the household's certificates; they are read with one query per
    decision, not one per member (the menu, the quote and the issuance each read them)."""

    from kofu.issuer.service import read_facts
    from kofu.registry.model import SupportMeasure
    from kofu.registry.store import RegistryStore, support

    with world.engine.begin() as conn:
        reg = RegistryStore(conn)
        reg.add_support_measure(SupportMeasure(T, WIFE.resident_id, date(2026, 1, 1)))  # active
        reg.add_support_measure(SupportMeasure(T, CHILD.resident_id, date(2024, 1, 1), date(2025, 1, 1)))  # ended
    with statements(world.engine) as sent, world.engine.connect() as conn:
        facts = read_facts(
            RegistryStore(conn),
            IssueRequest(T, HEAD.resident_id, CertificateType.JUMINHYO, IssuanceKind.HOUSEHOLD),
            NOW.date(),
            lock=False,
        )
    assert len(facts.household) == 4
    assert facts.members_under_support == frozenset({WIFE.resident_id})
    assert facts.support_measures == ()  # the head has none
    assert sum(f"FROM {support.name}" in s for s in sent) == 1
    # the wife's own request is refused for her measure (her facts come from the same one query)
    with pytest.raises(NotEligible) as refused:
        world.issuer.quote(IssueRequest(T, WIFE.resident_id, CertificateType.JUMINHYO), at=NOW)
    assert {r.code for r in refused.value.refusals} == {RefusalCode.SUPPORT_MEASURE}
