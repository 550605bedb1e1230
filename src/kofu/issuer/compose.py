"""Registry facts + tenant settings → the document a certificate prints (render.model)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import date

from kofu.common.money import format_yen
from kofu.common.wareki import wareki, wareki_year
from kofu.issuer.eligibility import IssueRequest, ResidentFacts, fiscal_year_of, included_people
from kofu.issuer.tenant import ITEM_LABELS_JA, CertificateType, IssuanceKind, TenantSettings
from kofu.registry.model import INCOME_KINDS, Resident
from kofu.render.model import AmountRow, CertificateDocument, DocumentKind, Field, PersonSection

CERTIFICATION_TEXT: dict[CertificateType, str] = {
    CertificateType.JUMINHYO: "この写しは、住民票の原本と相違ないことを証明する。",
    CertificateType.KISAI: "上記の事項は、住民票に記載されていることを証明する。",
    CertificateType.INKAN: "この写しは、登録されている印影と相違ないことを証明する。",
    CertificateType.SHOTOKU: "上記のとおり相違ないことを証明する。",
}


def _person_juminhyo(p: Resident, items: tuple[str, ...]) -> PersonSection:
    fields = [
        Field("氏名", p.name),
        Field("ふりがな", p.kana),
        Field("生年月日", wareki(p.birth_date)),
        Field("性別", p.sex.ja),
    ]
    if "household_head" in items:
        fields.append(Field("続柄", p.relationship))
    fields += [
        Field("住民となった年月日", wareki(p.became_resident_on)),
        Field("住所を定めた年月日", f"{wareki(p.address_since)}　{wareki(p.notified_on)}届出"),
    ]
    if p.previous_address:
        fields.append(Field("従前の住所", p.previous_address))
    if "honseki" in items:
        fields.append(Field("本籍", p.honseki or "（外国人住民のため記載なし）"))
        fields.append(Field("筆頭者", p.hittosha or ""))
    if "my_number" in items:
        fields.append(Field("個人番号", _spaced_my_number(p.my_number)))
    return PersonSection(tuple(fields))


def _spaced_my_number(number: str | None) -> str:
    if not number:
        return "（記載なし）"
    return " ".join(number[i : i + 4] for i in range(0, len(number), 4))


def _person_kisai(p: Resident, head: Resident | None, items: tuple[str, ...]) -> PersonSection:
    fields = [Field("氏名", p.name)]
    values = {
        "birth_date": wareki(p.birth_date),
        "sex": p.sex.ja,
        "address": p.address,
        "household_head": f"{head.name if head else ''}（続柄：{p.relationship}）",
        "honseki": f"{p.honseki or '（記載なし）'}　筆頭者：{p.hittosha or ''}",
        "became_resident_on": wareki(p.became_resident_on),
        "address_since": wareki(p.address_since),
        "notified_on": wareki(p.notified_on),
        "previous_address": p.previous_address or "（記載なし）",
        "my_number": _spaced_my_number(p.my_number),
    }
    for item in items:
        fields.append(Field(ITEM_LABELS_JA[item], values[item]))
    return PersonSection(tuple(fields))


def compose(
    tenant: TenantSettings,
    request: IssueRequest,
    facts: ResidentFacts,
    *,
    issued_on: date,
    number_text: str,
    official_seal_png: bytes,
    verify_hint: str,
) -> CertificateDocument:
    """The document without its statement (the statement commits to this document's digest)."""
    resident = facts.resident
    assert resident is not None, "compose is called only for an eligible resident"
    ctype = request.type
    head = next((p for p in facts.household if p.is_head and not p.is_removed), None)
    header: list[Field] = []
    persons: list[PersonSection] = []
    amounts: list[AmountRow] = []
    amounts_title = ""
    seal_png: bytes | None = None
    notes: list[str] = []

    if ctype is CertificateType.JUMINHYO:
        header.append(Field("住所", resident.address))
        if "household_head" in request.items and head is not None:
            header.append(Field("世帯主", head.name))
        people = included_people(request, facts)
        persons = [_person_juminhyo(p, request.items) for p in people]
        kind_text = {
            IssuanceKind.SELF: "本人のみ",
            IssuanceKind.HOUSEHOLD: "世帯全員",
            IssuanceKind.MEMBERS: "世帯の一部",
        }[request.kind]
        notes.append(f"交付種別：{kind_text}（{len(people)}人）")
    elif ctype is CertificateType.KISAI:
        persons = [_person_kisai(resident, head, request.items)]
    elif ctype is CertificateType.INKAN:
        seal = facts.seal
        assert seal is not None
        seal_png = seal.image_png
        header.append(Field("登録番号", seal.registration_no))
        persons = [
            PersonSection(
                (
                    Field("氏名", resident.name),
                    Field("生年月日", wareki(resident.birth_date)),
                    Field("住所", resident.address),
                )
            )
        ]
    else:
        income = facts.income
        assert income is not None
        year = request.fiscal_year or fiscal_year_of(issued_on)
        amounts_title = f"{wareki_year(year)}度（{wareki_year(year - 1)}分）所得"
        persons = [
            PersonSection(
                (
                    Field("氏名", resident.name),
                    Field("生年月日", wareki(resident.birth_date)),
                    Field("住所", resident.address),
                )
            )
        ]
        for key, label in INCOME_KINDS.items():
            amount = income.incomes.get(key, 0)
            if amount:
                amounts.append(AmountRow(label, format_yen(amount)))
        amounts.append(AmountRow("合計所得金額", format_yen(income.total_income)))
        amounts.append(AmountRow("所得控除額の合計", format_yen(income.deductions)))
        amounts.append(AmountRow("課税標準額", format_yen(income.taxable_income)))

    notes.append("以下余白")
    return CertificateDocument(
        kind=DocumentKind(ctype.value),
        title=ctype.title_ja,
        municipality_name=tenant.name,
        issuance_number=number_text,
        header_fields=tuple(header),
        persons=tuple(persons),
        certification_text=CERTIFICATION_TEXT[ctype],
        issued_on=wareki(issued_on),
        mayor_title=tenant.mayor_title,
        mayor_name=tenant.mayor_name,
        official_seal_png=official_seal_png,
        statement="",
        amounts_title=amounts_title,
        amounts=tuple(amounts),
        seal_impression_png=seal_png,
        notes=tuple(notes),
        verify_hint=verify_hint,
    )


def document_digest(doc: CertificateDocument, salt: bytes) -> bytes:
    """SHA-256 over the canonical content (statement excluded) and a per-issuance salt."""

    def default(value: object) -> object:
        if isinstance(value, bytes):
            return hashlib.sha256(value).hexdigest()
        raise TypeError(type(value).__name__)

    content = dataclasses.asdict(dataclasses.replace(doc, statement=""))
    canonical = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=default)
    return hashlib.sha256(salt + canonical.encode()).digest()
