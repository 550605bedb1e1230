"""A synthetic resident registry for one municipality, deterministic from a seed.

`generate(code, size=..., seed=..., today=...)` builds households (single, couple, couple with children,
single parent, three generations, elderly parent with an adult child) whose members have consistent
names, ages, addresses, 本籍/筆頭者 and dates; then 印鑑登録 for about 60% of adults, income records for the
last two 年度, and a few residents in every situation that makes コンビニ交付 refuse (支援措置, 転出,
転出届済, 死亡, 印鑑廃止, 本日転入 …). `write_registry_dir` writes the CSV directory that
`kofu.registry.service.import_directory` reads.

Determinism: everything comes from one `random.Random` seeded with a string built from the seed and the
tenant code (string seeds are hashed with SHA-512, the same on every platform and Python version); the
code iterates only lists, tuples and insertion-ordered dicts, never sets.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TypeVar

from kofu.demo import mynumber
from kofu.demo.names import SURNAMES, full_name, given_names
from kofu.demo.places import ELSEWHERE, MUNICIPALITIES, Place, zenkaku
from kofu.demo.seals import seal_png
from kofu.registry.csvio import INCOME_HEADER, RESIDENT_HEADER, SEAL_HEADER, SUPPORT_HEADER

_T = TypeVar("_T")

HEAD = "世帯主"
BASIC_DEDUCTION = 430_000  # 住民税の基礎控除
SEAL_DIR = "seals"

# the import format's columns, in the documented order
RESIDENT_COLUMNS = RESIDENT_HEADER
SEAL_COLUMNS = SEAL_HEADER
INCOME_COLUMNS = INCOME_HEADER
SUPPORT_COLUMNS = SUPPORT_HEADER


@dataclass(slots=True)
class ResidentRow:
    resident_id: str
    household_id: str
    name: str
    kana: str
    birth_date: date
    sex: str  # male / female
    relationship: str
    address: str
    honseki: str | None
    hittosha: str | None
    became_resident_on: date
    address_since: date
    notified_on: date
    previous_address: str | None
    status: str = "resident"  # resident / move-out-filed / moved-out / deceased
    status_changed_on: date | None = None
    moved_in_on: date | None = None
    my_number: str = ""
    juminhyo_code: str = ""
    role: str = "none"  # income role; not written to the CSV

    @property
    def surname(self) -> str:
        return self.name.split("\u3000", 1)[0]

    @property
    def is_removed(self) -> bool:
        return self.status in ("moved-out", "deceased")

    def age_on(self, day: date) -> int:
        years = day.year - self.birth_date.year
        if (day.month, day.day) < (self.birth_date.month, self.birth_date.day):
            years -= 1
        return years


@dataclass(slots=True)
class SealRow:
    resident_id: str
    registration_no: str
    registered_on: date
    image: str  # PNG path relative to the CSV directory
    status: str = "registered"  # registered / cancelled
    cancelled_on: date | None = None


@dataclass(slots=True)
class IncomeRow:
    resident_id: str
    fiscal_year: int
    salary: int = 0
    business: int = 0
    pension: int = 0
    real_estate: int = 0
    other: int = 0
    deductions: int = BASIC_DEDUCTION
    taxable_income: int = 0

    @property
    def total(self) -> int:
        return self.salary + self.business + self.pension + self.real_estate + self.other


@dataclass
class SupportRow:
    resident_id: str
    started_on: date
    ended_on: date | None = None


@dataclass
class Population:
    tenant: str
    seed: int
    today: date
    residents: list[ResidentRow] = field(default_factory=list)
    seals: list[SealRow] = field(default_factory=list)
    incomes: list[IncomeRow] = field(default_factory=list)
    supports: list[SupportRow] = field(default_factory=list)
    images: dict[str, bytes] = field(default_factory=dict)  # relative path → PNG

    @property
    def households(self) -> int:
        return len({r.household_id: None for r in self.residents})


def fiscal_year_of(day: date) -> int:
    """年度 (April–March), as the issuer counts it."""
    return day.year if day.month >= 4 else day.year - 1


def income_years(today: date) -> tuple[int, int]:
    """The two 年度 with income records: the previous and the current."""
    current = fiscal_year_of(today)
    return (current - 1, current)


def _ri(rng: random.Random, low: int, high: int) -> int:
    """An integer in [low, high] from one `random()` draw (faster than randint, and just as stable)."""
    return low + int(rng.random() * (high - low + 1))


def _pick(rng: random.Random, items: Sequence[_T]) -> _T:
    return items[int(rng.random() * len(items))]


def years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


# ---- the generator ----


@dataclass
class _Member:
    sex: str
    birth: date
    relationship: str
    surname: tuple[str, str]
    hittosha: str | None
    role: str
    given: tuple[str, str] = ("", "")


# household kinds and their share of households (rural/suburban Hyogo, roughly the 2020 census)
_HOUSEHOLD_KINDS: tuple[tuple[str, float], ...] = (
    ("single", 0.31),
    ("couple", 0.24),
    ("couple_children", 0.22),
    ("single_parent", 0.07),
    ("three_generations", 0.09),
    ("elderly_parent", 0.07),
)

# distinct surnames are not equally common: weight ~ 1 / (rank + 8)
_SURNAME_WEIGHTS = tuple(1.0 / (rank + 8) for rank in range(len(SURNAMES)))
_SURNAME_CUM: tuple[float, ...] = tuple(sum(_SURNAME_WEIGHTS[: i + 1]) for i in range(len(_SURNAME_WEIGHTS)))


_SURNAME_INDEX: dict[str, int] = {kanji: i for i, (kanji, _) in enumerate(SURNAMES)}


class _Generator:
    def __init__(self, code: str, size: int, seed: int, today: date) -> None:
        if code not in MUNICIPALITIES:
            raise ValueError(f"no demo places for tenant {code}")
        self.code = code
        self.size = size
        self.seed = seed
        self.today = today
        self.rng = random.Random(f"kofu-demo:{seed}:{code}")
        self.places = MUNICIPALITIES[code]
        self.used_my_numbers: set[str] = set()
        self.used_codes: set[str] = set()
        self.pop = Population(tenant=code, seed=seed, today=today)
        self.households: list[list[ResidentRow]] = []

    # -- small helpers --

    def between(self, start: date, end: date) -> date:
        if end <= start:
            return start
        return date.fromordinal(_ri(self.rng, start.toordinal(), end.toordinal()))

    def birth_for_age(self, age: int) -> date:
        first = years_before(self.today, age + 1) + timedelta(days=1)
        return self.between(first, years_before(self.today, age))

    def age(self, low: int, high: int, mode: float | None = None) -> int:
        return int(self.rng.triangular(low, high + 0.999, mode if mode is not None else (low + high) / 2))

    def surname(self) -> tuple[str, str]:
        return self.rng.choices(SURNAMES, cum_weights=_SURNAME_CUM, k=1)[0]

    def given(self, sex: str, birth: date) -> tuple[str, str]:
        return _pick(self.rng, given_names(sex == "male", birth.year))

    def person_name(self, surname: tuple[str, str], sex: str, birth: date) -> str:
        """A name for someone not in the registry (a parent who is 筆頭者 elsewhere or deceased)."""
        return full_name(surname[0], self.given(sex, birth)[0])

    def local_address(self) -> str:
        return _address(self.rng, _pick(self.rng, self.places))

    def elsewhere_address(self) -> str:
        return _address(self.rng, _pick(self.rng, ELSEWHERE))

    def notified_after(self, day: date, days: int = 14) -> date:
        return min(self.today, day + timedelta(days=_ri(self.rng, 0, days)))

    def my_number(self) -> str:
        while True:
            number = mynumber.random_my_number(self.rng)
            if number not in self.used_my_numbers:
                self.used_my_numbers.add(number)
                return number

    def juminhyo_code(self) -> str:
        while True:
            code = str(_ri(self.rng, 10_000_000_000, 99_999_999_999))
            if code not in self.used_codes:
                self.used_codes.add(code)
                return code

    def working_role(self, sex: str, age: int, spouse: bool) -> str:
        r = self.rng.random()
        if age < 18:
            return "none"
        if age <= 22:
            return "salary" if r < 0.3 else "none"
        if age < 65:
            if sex == "male":
                return "salary" if r < 0.85 else ("business" if r < 0.95 else "none")
            if spouse:
                return "salary" if r < 0.45 else ("parttime" if r < 0.75 else ("business" if r < 0.8 else "none"))
            return "salary" if r < 0.8 else ("business" if r < 0.88 else ("parttime" if r < 0.95 else "none"))
        if age < 75:
            return "pension" if r < 0.7 else ("pension_salary" if r < 0.9 else "pension_business")
        return "pension_rent" if r < 0.06 else "pension"

    # -- households --

    def children(self, mother_age: int, surname: tuple[str, str], hittosha: str | None) -> list[_Member]:
        count = self.rng.choices((1, 2, 3), weights=(0.40, 0.45, 0.15), k=1)[0]
        oldest = min(mother_age - 20, 24)
        if oldest < 0:
            return []
        ages: list[int] = []
        age = _ri(self.rng, max(0, oldest - 12), oldest)
        for _ in range(count):
            if age < 0:
                break
            ages.append(age)
            age -= _ri(self.rng, 1, 5)
        out = []
        for a in ages:
            sex = _pick(self.rng, ("male", "female"))
            out.append(_Member(sex, self.birth_for_age(a), "子", surname, hittosha, self.working_role(sex, a, False)))
        return out

    def household(self, kind: str) -> list[_Member]:
        rng = self.rng
        surname = self.surname()
        if kind == "single":
            band = rng.random()
            if band < 0.3:
                age, sex = self.age(19, 34, 24), ("male" if rng.random() < 0.58 else "female")
            elif band < 0.52:
                age, sex = self.age(35, 64), ("male" if rng.random() < 0.6 else "female")
            else:
                age, sex = self.age(65, 99, 80), ("male" if rng.random() < 0.3 else "female")
            birth = self.birth_for_age(age)
            if age < 40:  # still in the parents' 戸籍
                hittosha = self.person_name(surname, "male", years_before(birth, 30))
            elif sex == "female" and age >= 65:  # widow: the late husband's 戸籍
                hittosha = self.person_name(surname, "male", years_before(birth, 3))
            else:
                hittosha = None  # own 戸籍 (set below to the person's own name)
            return [_Member(sex, birth, HEAD, surname, hittosha, self.working_role(sex, age, False))]
        if kind in ("couple", "couple_children", "three_generations"):
            if kind == "couple":
                head_age = self.age(25, 55, 30) if rng.random() < 0.25 else self.age(58, 95, 73)
            elif kind == "couple_children":
                head_age = self.age(26, 58, 40)
            else:
                head_age = self.age(34, 62, 48)
            wife_age = max(20, head_age - _ri(rng, -2, 6))
            head_birth = self.birth_for_age(head_age)
            head_name_given = self.given("male", head_birth)
            head_name = full_name(surname[0], head_name_given[0])
            members = [
                _Member("male", head_birth, HEAD, surname, head_name, self.working_role("male", head_age, False)),
                _Member(
                    "female",
                    self.birth_for_age(wife_age),
                    "妻",
                    surname,
                    head_name,
                    self.working_role("female", wife_age, True),
                ),
            ]
            members[0].given = head_name_given
            if kind == "couple":
                return members
            members += self.children(wife_age, surname, head_name)
            if kind == "three_generations":
                grand_age = min(99, head_age + _ri(rng, 25, 34))
                grand_birth = self.birth_for_age(grand_age)
                grandfather = self.person_name(surname, "male", grand_birth)
                alive = rng.choices(("both", "mother", "father"), weights=(0.5, 0.4, 0.1), k=1)[0]
                if alive in ("both", "father"):
                    father = _Member(
                        "male", grand_birth, "父", surname, None, self.working_role("male", grand_age, False)
                    )
                    members.append(father)
                    grandfather = ""  # named below from the member itself
                if alive in ("both", "mother"):
                    mother_age = min(99, grand_age - _ri(rng, 0, 4))
                    members.append(
                        _Member(
                            "female",
                            self.birth_for_age(mother_age),
                            "母",
                            surname,
                            grandfather or None,
                            self.working_role("female", mother_age, True),
                        )
                    )
            return members
        if kind == "single_parent":
            female = rng.random() < 0.85
            sex = "female" if female else "male"
            age = self.age(25, 55, 40)
            birth = self.birth_for_age(age)
            given = self.given(sex, birth)
            name = full_name(surname[0], given[0])
            head = _Member(sex, birth, HEAD, surname, name, self.working_role(sex, age, False))
            head.given = given
            kids = self.children(age if female else age - 2, surname, name)
            return [head, *kids[:2]]
        # elderly parent living with an unmarried adult child, who is the head
        parent_age = self.age(72, 99, 82)
        parent_sex = "female" if rng.random() < 0.8 else "male"
        parent_birth = self.birth_for_age(parent_age)
        child_age = max(35, parent_age - _ri(rng, 25, 36))
        child_sex = "male" if rng.random() < 0.55 else "female"
        if parent_sex == "male":
            parent_given = self.given("male", parent_birth)
            father_name = full_name(surname[0], parent_given[0])
        else:
            parent_given = ("", "")
            father_name = self.person_name(surname, "male", years_before(parent_birth, 3))
        child = _Member(
            child_sex,
            self.birth_for_age(child_age),
            HEAD,
            surname,
            father_name,
            self.working_role(child_sex, child_age, False),
        )
        parent = _Member(
            parent_sex,
            parent_birth,
            "父" if parent_sex == "male" else "母",
            surname,
            father_name,
            self.working_role(parent_sex, parent_age, False),
        )
        parent.given = parent_given
        return [child, parent]

    def build_households(self) -> None:
        kinds = tuple(k for k, _ in _HOUSEHOLD_KINDS)
        weights = tuple(w for _, w in _HOUSEHOLD_KINDS)
        remaining = self.size
        next_resident = 1_000_000_001
        next_household = 20_000_001
        today = self.today
        while remaining > 0:
            kind = self.rng.choices(kinds, weights=weights, k=1)[0]
            members = self.household(kind)[:remaining]
            remaining -= len(members)
            household_id = str(next_household)
            next_household += 1
            head = members[0]
            # names: head first so that a 父 member's name can be his 筆頭者 name, and the mother's
            for m in members:
                if not m.given[0]:
                    m.given = self.given(m.sex, m.birth)
            father = next((m for m in members if m.relationship == "父"), None)
            for m in members:
                if m.hittosha is None and m is head:
                    m.hittosha = full_name(m.surname[0], m.given[0])
                if m.hittosha is None and father is not None:
                    m.hittosha = full_name(father.surname[0], father.given[0])
                if m.hittosha is None:
                    m.hittosha = full_name(m.surname[0], m.given[0])
            # 本籍: mostly in this municipality
            honseki = self.local_address() if self.rng.random() < 0.78 else self.elsewhere_address()
            single_elsewhere = len(members) == 1 and head.hittosha != full_name(head.surname[0], head.given[0])
            if single_elsewhere and self.rng.random() < 0.5:
                honseki = self.elsewhere_address()  # a young single keeps the parents' 本籍 back home
            address = self.local_address()
            # the day the household settled at its current address
            earliest = max(years_before(today, 45), years_before(head.birth, -20))
            latest = today - timedelta(days=20)
            settled = self.between(min(earliest, latest - timedelta(days=1)), latest)
            from_outside = self.rng.random() < 0.35
            previous_outside = self.elsewhere_address()
            previous_local = self.local_address()
            rows: list[ResidentRow] = []
            for m in members:
                moved_in: date | None = None
                if m.birth > settled:  # born at this address
                    became = since = m.birth
                    previous: str | None = None
                    notified = self.notified_after(m.birth, 13)
                elif from_outside:
                    became = since = settled
                    previous = previous_outside
                    notified = moved_in = self.notified_after(settled)
                else:
                    since = settled
                    previous = previous_local
                    notified = self.notified_after(settled)
                    if self.rng.random() < 0.75:
                        became = m.birth
                    else:  # moved into the municipality earlier, then moved house within it
                        adult = years_before(m.birth, -18)
                        became = self.between(min(adult, settled - timedelta(days=2)), settled - timedelta(days=1))
                        moved_in = min(self.notified_after(became), since)
                rows.append(
                    ResidentRow(
                        resident_id=str(next_resident),
                        household_id=household_id,
                        name=full_name(m.surname[0], m.given[0]),
                        kana=full_name(m.surname[1], m.given[1]),
                        birth_date=m.birth,
                        sex=m.sex,
                        relationship=m.relationship,
                        address=address,
                        honseki=honseki,
                        hittosha=m.hittosha,
                        became_resident_on=became,
                        address_since=since,
                        notified_on=notified,
                        previous_address=previous,
                        moved_in_on=moved_in,
                        my_number=self.my_number(),
                        juminhyo_code=self.juminhyo_code(),
                        role=m.role,
                    )
                )
                next_resident += 1
            self.households.append(rows)
            self.pop.residents.extend(rows)

    # -- the cases that make コンビニ交付 refuse --

    def pick(self, candidates: Sequence[ResidentRow], count: int, taken: set[str]) -> list[ResidentRow]:
        pool = [r for r in candidates if r.resident_id not in taken]
        chosen = self.rng.sample(pool, min(count, len(pool)))
        chosen.sort(key=lambda r: r.resident_id)
        for r in chosen:
            taken.add(r.resident_id)
        return chosen

    def special_cases(self) -> None:
        today = self.today
        n = len(self.pop.residents)
        taken: set[str] = set()
        month_ago = today - timedelta(days=30)
        # 本日転入: whole small households (adults without children) whose 転入 was processed today
        small = [
            h
            for h in self.households
            if len(h) <= 2 and all(20 <= r.age_on(today) <= 60 for r in h) and h[0].address_since < month_ago
        ]
        for household in self.rng.sample(small, min(max(3, round(n * 0.0001)), len(small))):
            moved = today - timedelta(days=_ri(self.rng, 0, 7))
            previous = self.elsewhere_address()
            for r in household:
                r.became_resident_on = r.address_since = moved
                r.notified_on = r.moved_in_on = today
                r.previous_address = previous
                taken.add(r.resident_id)
        settled = [r for r in self.pop.residents if r.address_since < month_ago and r.notified_on < month_ago]
        # 死亡: elderly members (never the head, so every household keeps one active head)
        elderly = [r for r in settled if r.relationship != HEAD and r.age_on(today) >= 70]
        for r in self.pick(elderly, max(3, round(n * 0.004)), taken):
            r.status = "deceased"
            r.status_changed_on = self.between(
                max(r.notified_on + timedelta(days=1), today - timedelta(days=700)), today - timedelta(days=1)
            )
            r.notified_on = min(today, r.status_changed_on + timedelta(days=_ri(self.rng, 0, 6)))
        # 転出: grown-up children who left
        leavers = [r for r in settled if r.relationship == "子" and 18 <= r.age_on(today) <= 40]
        for r in self.pick(leavers, max(3, round(n * 0.004)), taken):
            r.status = "moved-out"
            r.status_changed_on = self.between(
                max(r.notified_on + timedelta(days=15), today - timedelta(days=700)), today - timedelta(days=1)
            )
            r.notified_on = max(r.notified_on, r.status_changed_on - timedelta(days=_ri(self.rng, 0, 13)))
        # 転出届済: filed a move-out that takes effect in the coming days
        filers = [r for r in settled if 18 <= r.age_on(today) <= 70 and (r.relationship != HEAD or r.role != "none")]
        for r in self.pick(filers, max(3, round(n * 0.001)), taken):
            r.status = "move-out-filed"
            r.status_changed_on = today + timedelta(days=_ri(self.rng, 1, 14))
            r.notified_on = today - timedelta(days=_ri(self.rng, 0, 6))
        # 支援措置 (DV/stalking protection): mostly women; some measures have ended
        women = [r for r in settled if r.sex == "female" and 20 <= r.age_on(today) <= 60]
        for r in self.pick(women, max(3, round(n * 0.001)), taken):
            start = self.between(max(r.became_resident_on, today - timedelta(days=1500)), today - timedelta(days=1))
            self.pop.supports.append(SupportRow(r.resident_id, start))
        long_settled = [r for r in women if r.became_resident_on < today - timedelta(days=600)]
        for r in self.pick(long_settled, max(2, round(n * 0.0005)), taken):
            start = self.between(max(r.became_resident_on, today - timedelta(days=2000)), today - timedelta(days=400))
            end = self.between(start + timedelta(days=180), today - timedelta(days=1))
            self.pop.supports.append(SupportRow(r.resident_id, start, end))
        self.pop.supports.sort(key=lambda s: s.resident_id)

    # -- 印鑑登録 --

    def seals(self) -> None:
        today = self.today
        number = 1
        for r in self.pop.residents:
            age = r.age_on(today)
            if age < 18 or r.moved_in_on == today:
                continue
            chance = 0.35 if age < 30 else (0.65 if age < 65 else 0.78)
            if self.rng.random() >= chance:
                continue
            last = (r.status_changed_on - timedelta(days=1)) if r.is_removed and r.status_changed_on else today
            first = max(r.became_resident_on, years_before(r.birth_date, -18))
            if first > last:
                continue
            surname = r.surname
            image = f"{SEAL_DIR}/{_SURNAME_INDEX[surname]:03d}.png"
            if image not in self.pop.images:
                self.pop.images[image] = seal_png(surname)
            seal = SealRow(r.resident_id, f"{number:07d}", self.between(first, last), image)
            number += 1
            if r.is_removed and r.status_changed_on:  # 職権抹消 with the removal
                seal.status, seal.cancelled_on = "cancelled", r.status_changed_on
            self.pop.seals.append(seal)
        # 印鑑廃止 by the holder: about 3% of the registrations of current residents
        active = [s for s in self.pop.seals if s.status == "registered" and s.registered_on < today - timedelta(days=2)]
        for s in sorted(
            self.rng.sample(active, min(len(active), max(3, round(len(active) * 0.03)))),
            key=lambda s: s.resident_id,
        ):
            s.status = "cancelled"
            s.cancelled_on = self.between(s.registered_on + timedelta(days=1), today - timedelta(days=1))

    # -- 所得 --

    def incomes(self) -> None:
        by_household: dict[str, list[ResidentRow]] = {}
        for r in self.pop.residents:
            by_household.setdefault(r.household_id, []).append(r)
        years = income_years(self.today)
        for r in self.pop.residents:
            if r.role == "none":
                continue
            base = self.income_base(r)
            for i, fy in enumerate(years):
                jan1 = date(fy, 1, 1)
                if r.became_resident_on > jan1 or r.age_on(date(fy - 1, 12, 31)) < 18:
                    continue
                if r.is_removed and r.status_changed_on is not None and r.status_changed_on < jan1:
                    continue
                drift = 1.0 if i == len(years) - 1 else self.rng.uniform(0.94, 1.03)
                self.pop.incomes.append(self.income_row(r, fy, base, drift, by_household[r.household_id]))

    def income_base(self, r: ResidentRow) -> dict[str, int]:
        rng = self.rng
        age = r.age_on(self.today)
        out: dict[str, int] = {}
        if r.role in ("salary", "pension_salary"):
            factor = 0.6 if age <= 22 else 0.75 if age < 30 else 1.0 if age < 40 else 1.2 if age < 60 else 0.8
            gross = rng.triangular(2_400_000, 8_000_000, 3_800_000) * factor
            out["salary_gross"] = int(gross * (0.6 if r.role == "pension_salary" else 1.0))
        if r.role == "parttime":
            out["salary_gross"] = int(rng.uniform(600_000, 1_500_000))
        if r.role in ("business", "pension_business"):
            out["business"] = int(rng.triangular(800_000, 6_000_000, 2_500_000))
        if r.role.startswith("pension"):
            out["pension_gross"] = int(rng.triangular(600_000, 3_000_000, 1_800_000))
        if r.role == "pension_rent":
            out["real_estate"] = int(rng.uniform(300_000, 2_000_000))
        out["life_insurance"] = _ri(rng, 0, 70) * 1000 if rng.random() < 0.5 else 0
        return out

    def income_row(
        self, r: ResidentRow, fy: int, base: dict[str, int], drift: float, household: list[ResidentRow]
    ) -> IncomeRow:
        def yen(value: float) -> int:
            return int(value) // 1000 * 1000

        row = IncomeRow(r.resident_id, fy)
        gross = yen(base.get("salary_gross", 0) * drift)
        row.salary = salary_income(gross)
        row.business = yen(base.get("business", 0) * drift)
        pension_gross = yen(base.get("pension_gross", 0))
        row.pension = max(0, pension_gross - 1_100_000)  # 公的年金等控除 (65 and over)
        row.real_estate = yen(base.get("real_estate", 0) * drift)
        deductions = BASIC_DEDUCTION + base.get("life_insurance", 0)
        deductions += yen(gross * 0.145 + row.business * 0.12 + (90_000 if pension_gross else 0))  # 社会保険料
        if r.relationship == HEAD:
            on = date(fy - 1, 12, 31)
            for m in household:
                if m is r or m.is_removed:
                    continue
                if m.relationship == "妻" and m.role in ("none", "parttime"):
                    deductions += 330_000  # 配偶者控除
                elif m.relationship == "子" and m.role == "none":
                    age = m.age_on(on)
                    deductions += 450_000 if 19 <= age <= 22 else (330_000 if 16 <= age <= 18 else 0)
        row.deductions = deductions
        row.taxable_income = max(0, row.total - deductions) // 1000 * 1000
        return row


def salary_income(gross: int) -> int:
    """給与所得: the salary minus 給与所得控除 (the table in force since 2020)."""
    if gross <= 550_000:
        return 0
    if gross <= 1_625_000:
        deduction = 550_000
    elif gross <= 1_800_000:
        deduction = int(gross * 0.4) - 100_000
    elif gross <= 3_600_000:
        deduction = int(gross * 0.3) + 80_000
    elif gross <= 6_600_000:
        deduction = int(gross * 0.2) + 440_000
    elif gross <= 8_500_000:
        deduction = int(gross * 0.1) + 1_100_000
    else:
        deduction = 1_950_000
    return max(0, gross - deduction)


def _address(rng: random.Random, place: Place) -> str:
    town = _pick(rng, place.towns)
    if place.chome:
        return (
            f"{place.prefix}{town}{zenkaku(_ri(rng, 1, 6))}丁目{zenkaku(_ri(rng, 1, 30))}番{zenkaku(_ri(rng, 1, 25))}号"
        )
    lot = f"{place.prefix}{town}{zenkaku(_ri(rng, 1, 2400))}番地"
    if rng.random() < 0.3:
        lot += f"の{zenkaku(_ri(rng, 1, 15))}"
    return lot


def generate(code: str, *, size: int, seed: int, today: date) -> Population:
    """The synthetic registry of tenant `code` with `size` residents (removed ones included)."""
    if size < 1:
        raise ValueError("a population needs at least one resident")
    gen = _Generator(code, size, seed, today)
    gen.build_households()
    gen.special_cases()
    gen.seals()
    gen.incomes()
    return gen.pop


# ---- CSV output ----


def write_registry_dir(pop: Population, directory: Path) -> None:
    """Writes residents.csv, seals.csv, income.csv, support.csv and the seal images into `directory`.

    Files from an earlier run are replaced; seal images no longer referenced are removed.
    """
    directory.mkdir(parents=True, exist_ok=True)

    def write(name: str, header: Sequence[str], rows: list[list[object]]) -> None:
        with (directory / name).open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)  # None → "", date → ISO 8601 (str)

    write(
        "residents.csv",
        RESIDENT_COLUMNS,
        [[getattr(r, c) for c in RESIDENT_COLUMNS] for r in pop.residents],
    )
    write("seals.csv", SEAL_COLUMNS, [[getattr(s, c) for c in SEAL_COLUMNS] for s in pop.seals])
    write("income.csv", INCOME_COLUMNS, [[getattr(i, c) for c in INCOME_COLUMNS] for i in pop.incomes])
    write("support.csv", SUPPORT_COLUMNS, [[getattr(s, c) for c in SUPPORT_COLUMNS] for s in pop.supports])
    seal_dir = directory / SEAL_DIR
    seal_dir.mkdir(exist_ok=True)
    wanted = {Path(rel).name for rel in pop.images}
    for stale in sorted(seal_dir.glob("*.png")):
        if stale.name not in wanted:
            stale.unlink()
    for rel, png in pop.images.items():
        path = directory / rel
        if not path.exists() or path.read_bytes() != png:
            path.write_bytes(png)
