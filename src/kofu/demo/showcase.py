"""Showcase residents: one resident per situation worth demonstrating, picked deterministically.

For every tenant one `eligible` resident (an adult with a registered seal and income records, not under
支援措置, not transferred in today, in a household of at least two current members none of whom is
under 支援措置); for the main demo tenant also one resident per refusal case.
"""

from __future__ import annotations

import random
from typing import Any

from kofu.demo.population import Population, ResidentRow, fiscal_year_of

CASES: tuple[str, ...] = (
    "under-15",
    "support-measure",
    "moved-out",
    "move-out-filed",
    "deceased",
    "no-seal",
    "seal-cancelled",
    "transferred-in-today",
    "no-income",
)

# the certificate whose request shows the case, and the refusal code the issuer answers with
CASE_CERTIFICATE: dict[str, str] = {
    "eligible": "juminhyo",
    "under-15": "juminhyo",
    "support-measure": "juminhyo",
    "moved-out": "juminhyo",
    "move-out-filed": "juminhyo",
    "deceased": "juminhyo",
    "no-seal": "inkan",
    "seal-cancelled": "inkan",
    "transferred-in-today": "juminhyo",
    "no-income": "shotoku",
}
CASE_REFUSAL: dict[str, str | None] = {
    "eligible": None,
    "under-15": "under-15",
    "support-measure": "support-measure",
    "moved-out": "moved-out",
    "move-out-filed": "move-out-filed",
    "deceased": "deceased",
    "no-seal": "no-seal",
    "seal-cancelled": "seal-cancelled",
    "transferred-in-today": "transferred-in-today",
    "no-income": "no-income-record",
}
_STATUS_CASES = {"moved-out": "moved-out", "move-out-filed": "move-out-filed", "deceased": "deceased"}
# reasons that necessarily come with a case and do not spoil it as an example
_IMPLIED: dict[str, frozenset[str]] = {
    "under-15": frozenset({"no-seal", "no-income"}),
    "transferred-in-today": frozenset({"no-seal", "no-income"}),
    "moved-out": frozenset({"no-seal", "seal-cancelled", "no-income"}),
    "move-out-filed": frozenset({"no-seal", "no-income"}),
    "deceased": frozenset({"no-seal", "seal-cancelled", "no-income"}),
}


class Facts:
    """Indexes over one population, answering the questions the showcase asks."""

    def __init__(self, pop: Population) -> None:
        self.pop = pop
        today = pop.today
        self.seal_status: dict[str, str] = {}
        for s in pop.seals:
            if self.seal_status.get(s.resident_id) != "registered":
                self.seal_status[s.resident_id] = s.status
        current = fiscal_year_of(today)
        self.income = {i.resident_id for i in pop.incomes if i.fiscal_year == current}
        self.support = {
            s.resident_id for s in pop.supports if s.started_on <= today and (s.ended_on is None or today <= s.ended_on)
        }
        self.any_support = {s.resident_id for s in pop.supports}
        self.members: dict[str, list[ResidentRow]] = {}
        for r in pop.residents:
            self.members.setdefault(r.household_id, []).append(r)
        self._reasons = {r.resident_id: self._compute(r) for r in pop.residents}

    def reasons(self, r: ResidentRow) -> set[str]:
        """Every demo case that applies to `r` (empty = may obtain every certificate type)."""
        return self._reasons[r.resident_id]

    def _compute(self, r: ResidentRow) -> set[str]:
        today = self.pop.today
        out: set[str] = set()
        if r.status != "resident":
            out.add(r.status)
        if r.age_on(today) < 15:
            out.add("under-15")
        if r.resident_id in self.support:
            out.add("support-measure")
        if r.moved_in_on is not None and r.moved_in_on >= today:
            out.add("transferred-in-today")
        seal = self.seal_status.get(r.resident_id)
        if seal is None:
            out.add("no-seal")
        elif seal == "cancelled":
            out.add("seal-cancelled")
        if r.resident_id not in self.income:
            out.add("no-income")
        return out

    def household(self, r: ResidentRow) -> list[ResidentRow]:
        return [m for m in self.members[r.household_id] if not m.is_removed]


def _entry(pop: Population, tenant_name: str, r: ResidentRow, case: str, facts: Facts) -> dict[str, Any]:
    return {
        "tenant": pop.tenant,
        "tenant_name": tenant_name,
        "resident_id": r.resident_id,
        "name": r.name,
        "kana": r.kana,
        "birth_date": r.birth_date.isoformat(),
        "age": r.age_on(pop.today),
        "household_id": r.household_id,
        "household_size": len(facts.household(r)),
        "case": case,
        "certificate": CASE_CERTIFICATE[case],
        "expected_refusal": CASE_REFUSAL[case],
        "today": pop.today.isoformat(),
    }


def pick_eligible(pop: Population, facts: Facts, *, min_household: int = 2) -> ResidentRow | None:
    today = pop.today
    candidates = [
        r
        for r in pop.residents
        if not facts.reasons(r)
        and 20 <= r.age_on(today) <= 75
        and r.resident_id not in facts.any_support
        and len(facts.household(r)) >= min_household
        and not any(m.resident_id in facts.any_support for m in facts.household(r))
        and not any(m.moved_in_on == today for m in facts.household(r))
    ]
    if not candidates:
        return None
    return random.Random(f"kofu-showcase:{pop.seed}:{pop.tenant}:eligible").choice(candidates)


def pick_case(pop: Population, facts: Facts, case: str) -> ResidentRow | None:
    """A resident showing `case`, preferring one for whom nothing else (not implied by it) applies."""
    implied = _IMPLIED.get(case, frozenset())
    having = [r for r in pop.residents if case in facts.reasons(r) and (case != "under-15" or r.age_on(pop.today) >= 6)]
    clean = [r for r in having if facts.reasons(r) - implied == {case}]
    pool = clean or having
    if not pool:
        return None
    return random.Random(f"kofu-showcase:{pop.seed}:{pop.tenant}:{case}").choice(pool)


def showcase(pop: Population, tenant_name: str, *, all_cases: bool) -> list[dict[str, Any]]:
    facts = Facts(pop)
    out: list[dict[str, Any]] = []
    eligible = pick_eligible(pop, facts) or pick_eligible(pop, facts, min_household=1)
    if eligible is not None:
        out.append(_entry(pop, tenant_name, eligible, "eligible", facts))
    if all_cases:
        for case in CASES:
            r = pick_case(pop, facts, case)
            if r is not None:
                out.append(_entry(pop, tenant_name, r, case, facts))
    return out


def missing_cases(entries: list[dict[str, Any]], tenant: str, *, all_cases: bool) -> list[str]:
    have = {e["case"] for e in entries if e["tenant"] == tenant}
    wanted = ("eligible", *CASES) if all_cases else ("eligible",)
    return [c for c in wanted if c not in have]
