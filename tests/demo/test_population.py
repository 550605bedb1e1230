"""The synthetic registry: deterministic, consistent, and showing every refusal case for real."""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest

from kofu.demo import mynumber
from kofu.demo.population import fiscal_year_of, generate, salary_income, write_registry_dir
from kofu.demo.showcase import CASES, showcase
from kofu.demo.tenants import MAIN_TENANT
from kofu.issuer.eligibility import fiscal_year_of as issuer_fiscal_year_of

TODAY = date(2025, 6, 15)
KATO = MAIN_TENANT

Rows = list[dict[str, str]]


def _read(path: Path) -> Rows:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _digest(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def _d(text: str) -> date | None:
    return date.fromisoformat(text) if text else None


def _day(text: str) -> date:
    return date.fromisoformat(text)


class Registry:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.residents = _read(directory / "residents.csv")
        self.seals = _read(directory / "seals.csv")
        self.income = _read(directory / "income.csv")
        self.support = _read(directory / "support.csv")
        self.by_id = {r["resident_id"]: r for r in self.residents}


@pytest.fixture(scope="module")
def kato(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    directory = tmp_path_factory.mktemp("kato")
    write_registry_dir(generate(KATO, size=3000, seed=20161006, today=TODAY), directory)
    return Registry(directory)


def test_same_seed_same_bytes_different_seed_different(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    write_registry_dir(generate(KATO, size=800, seed=7, today=TODAY), a)
    write_registry_dir(generate(KATO, size=800, seed=7, today=TODAY), b)
    write_registry_dir(generate(KATO, size=800, seed=8, today=TODAY), c)
    assert _digest(a) == _digest(b)
    assert (a / "residents.csv").read_bytes() != (c / "residents.csv").read_bytes()
    # rewriting into an existing directory gives the same files again
    write_registry_dir(generate(KATO, size=800, seed=7, today=TODAY), c)
    assert _digest(c) == _digest(a)


def test_size_and_columns(kato: Registry) -> None:
    assert len(kato.residents) == 3000
    assert list(kato.residents[0]) == [
        "resident_id", "household_id", "name", "kana", "birth_date", "sex", "relationship", "address",
        "honseki", "hittosha", "became_resident_on", "address_since", "notified_on", "previous_address",
        "status", "status_changed_on", "moved_in_on", "my_number", "juminhyo_code",
    ]  # fmt: skip
    assert list(kato.seals[0]) == ["resident_id", "registration_no", "registered_on", "image", "status", "cancelled_on"]
    assert list(kato.income[0]) == [
        "resident_id", "fiscal_year", "salary", "business", "pension", "real_estate", "other",
        "deductions", "taxable_income",
    ]  # fmt: skip
    assert list(kato.support[0]) == ["resident_id", "started_on", "ended_on"]


def test_names_and_addresses(kato: Registry) -> None:
    for r in kato.residents:
        family, given = r["name"].split("\u3000")
        kana_family, kana_given = r["kana"].split("\u3000")
        assert family and given and kana_family and kana_given
        assert all("\u3041" <= ch <= "\u309f" for ch in kana_family + kana_given), r["kana"]
        assert r["address"].startswith("兵庫県加東市")
        assert r["address"].endswith(("番地",)) or "番地の" in r["address"]
        assert r["sex"] in ("male", "female")
        assert r["honseki"] and r["hittosha"]


def test_households(kato: Registry) -> None:
    households: dict[str, list[dict[str, str]]] = {}
    for r in kato.residents:
        households.setdefault(r["household_id"], []).append(r)
    sizes = Counter(len(m) for m in households.values())
    assert sizes[1] and sizes[2] and sizes[3] and sizes[4]
    for members in households.values():
        heads = [m for m in members if m["relationship"] == "世帯主" and m["status"] not in ("moved-out", "deceased")]
        assert len(heads) == 1
        assert len({m["address"] for m in members}) == 1
        head = heads[0]
        for m in members:
            if m["relationship"] == "妻":
                assert m["name"].split("\u3000")[0] == head["name"].split("\u3000")[0]
                assert m["hittosha"] == head["name"]
            if m["relationship"] == "子":
                assert _day(m["birth_date"]) > _day(head["birth_date"])


def test_age_pyramid(kato: Registry) -> None:
    ages = [(TODAY - _day(r["birth_date"])).days // 365 for r in kato.residents]
    assert 0.10 < sum(1 for a in ages if a < 15) / len(ages) < 0.20
    assert 0.22 < sum(1 for a in ages if a >= 65) / len(ages) < 0.35
    assert max(ages) < 101


def test_dates_are_consistent(kato: Registry) -> None:
    for r in kato.residents:
        birth, became, since, notified = (
            _d(r["birth_date"]), _d(r["became_resident_on"]), _d(r["address_since"]), _d(r["notified_on"])
        )  # fmt: skip
        assert birth and became and since and notified
        assert birth <= became <= since <= notified <= TODAY, r
        moved_in = _d(r["moved_in_on"])
        if moved_in:
            assert became <= moved_in <= TODAY
            assert r["previous_address"]
        if became == birth:
            assert not moved_in
        changed = _d(r["status_changed_on"])
        assert (r["status"] == "resident") == (changed is None)
        if r["status"] in ("moved-out", "deceased"):
            assert changed and since < changed < TODAY
        if r["status"] == "move-out-filed":
            assert changed and changed > TODAY


def test_identifiers(kato: Registry) -> None:
    numbers = [r["my_number"] for r in kato.residents]
    assert all(mynumber.is_valid(n) for n in numbers)
    assert len(set(numbers)) == len(numbers)
    codes = [r["juminhyo_code"] for r in kato.residents]
    assert all(len(c) == 11 and c.isdigit() for c in codes) and len(set(codes)) == len(codes)
    assert len({r["resident_id"] for r in kato.residents}) == len(kato.residents)


def test_seals(kato: Registry) -> None:
    adults = [r for r in kato.residents if (TODAY - _day(r["birth_date"])).days >= 18 * 366]
    assert 0.5 < len(kato.seals) / len(adults) < 0.75
    assert len({s["registration_no"] for s in kato.seals}) == len(kato.seals)
    assert len({s["resident_id"] for s in kato.seals}) == len(kato.seals)
    for s in kato.seals:
        r = kato.by_id[s["resident_id"]]
        assert (kato.dir / s["image"]).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
        registered = _d(s["registered_on"])
        assert registered and _day(r["became_resident_on"]) <= registered <= TODAY
        if r["status"] in ("moved-out", "deceased"):
            assert s["status"] == "cancelled" and s["cancelled_on"] == r["status_changed_on"]
        if s["status"] == "cancelled":
            assert registered < _day(s["cancelled_on"])
        else:
            assert not s["cancelled_on"]
    # one image per surname, shared
    images = {s["image"] for s in kato.seals}
    assert len(images) <= 110 and len(images) < len(kato.seals) / 5


def test_income(kato: Registry) -> None:
    current = fiscal_year_of(TODAY)
    assert current == issuer_fiscal_year_of(TODAY)
    years = Counter(int(i["fiscal_year"]) for i in kato.income)
    assert set(years) == {current - 1, current}
    for i in kato.income:
        amounts = [int(i[k]) for k in ("salary", "business", "pension", "real_estate", "other")]
        deductions, taxable = int(i["deductions"]), int(i["taxable_income"])
        assert deductions >= 430_000
        assert taxable == max(0, sum(amounts) - deductions) // 1000 * 1000
        r = kato.by_id[i["resident_id"]]
        assert _day(r["became_resident_on"]) <= date(int(i["fiscal_year"]), 1, 1)


def test_salary_income_table() -> None:
    assert salary_income(500_000) == 0
    assert salary_income(1_000_000) == 450_000
    assert salary_income(3_000_000) == 3_000_000 - 980_000
    assert salary_income(5_000_000) == 5_000_000 - 1_440_000
    assert salary_income(10_000_000) == 10_000_000 - 1_950_000


def _reasons(reg: Registry, rid: str, today: date) -> set[str]:
    """Independent of kofu.demo.showcase: what the CSV rows say about one resident."""
    r = reg.by_id[rid]
    out: set[str] = set()
    if r["status"] != "resident":
        out.add(r["status"])
    birth = _d(r["birth_date"])
    assert birth
    if (today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))) < 15:
        out.add("under-15")
    for s in reg.support:
        if (
            s["resident_id"] == rid
            and _day(s["started_on"]) <= today
            and (not s["ended_on"] or today <= _day(s["ended_on"]))
        ):
            out.add("support-measure")
    if r["moved_in_on"] == today.isoformat():
        out.add("transferred-in-today")
    seals = [s for s in reg.seals if s["resident_id"] == rid]
    if not seals:
        out.add("no-seal")
    elif not any(s["status"] == "registered" for s in seals):
        out.add("seal-cancelled")
    if not any(i["resident_id"] == rid and int(i["fiscal_year"]) == fiscal_year_of(today) for i in reg.income):
        out.add("no-income")
    return out


def test_showcase_cases_are_real(kato: Registry, tmp_path: Path) -> None:
    pop = generate(KATO, size=3000, seed=20161006, today=TODAY)
    entries = showcase(pop, "加東市", all_cases=True)
    assert [e["case"] for e in entries] == ["eligible", *CASES]
    for e in entries:
        assert e["tenant"] == KATO and e["tenant_name"] == "加東市"
        r = kato.by_id[e["resident_id"]]
        assert r["name"] == e["name"]
        reasons = _reasons(kato, e["resident_id"], TODAY)
        if e["case"] == "eligible":
            assert reasons == set()
            members = [
                m for m in kato.residents if m["household_id"] == r["household_id"] and m["status"] == "resident"
            ]
            assert len(members) >= 2
        else:
            assert e["case"] in reasons
    by_case = {e["case"]: kato.by_id[e["resident_id"]] for e in entries}
    # the cases that need no other reason have none
    for case in ("support-measure", "no-seal", "seal-cancelled", "no-income"):
        assert _reasons(kato, by_case[case]["resident_id"], TODAY) == {case}
    assert _reasons(kato, by_case["under-15"]["resident_id"], TODAY) <= {"under-15", "no-seal", "no-income"}
    assert showcase(pop, "加東市", all_cases=True) == entries  # deterministic


@pytest.mark.parametrize("today", [date(2026, 2, 10), date(2024, 2, 29), date(2025, 4, 1)])
def test_every_case_on_other_days(today: date) -> None:
    pop = generate(KATO, size=500, seed=3, today=today)
    cases = [e["case"] for e in showcase(pop, "加東市", all_cases=True)]
    assert cases == ["eligible", *CASES]
    assert all(r.notified_on <= today for r in pop.residents)
    assert all(r.moved_in_on is None or r.moved_in_on <= today for r in pop.residents)
    assert all(s.started_on < today for s in pop.supports)
    assert min(r.address_since for r in pop.residents) >= today - timedelta(days=366 * 101)


def test_other_tenants_have_their_own_places() -> None:
    pop = generate("283011", size=300, seed=1, today=TODAY)
    assert all(r.address.startswith("兵庫県川辺郡猪名川町") for r in pop.residents)
    pop = generate("281000", size=300, seed=1, today=TODAY)
    assert all(r.address.startswith("兵庫県神戸市") for r in pop.residents)
    assert showcase(pop, "神戸市", all_cases=False)[0]["case"] == "eligible"
