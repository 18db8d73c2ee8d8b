"""The figures the 3-agency replay over the generated files must reproduce
(``expected.json``)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tools.synthetic.constants import AGENCIES, REFERENCE_DATE, Pair
from tools.synthetic.people import Household
from tools.synthetic.plan import Disagreement


@dataclass(frozen=True)
class SyntheticSummary:
    """The figures the 3-agency replay over the generated files must reproduce."""

    seed: int
    reference_date: str
    households: int
    individuals: int
    households_with_hits: int
    households_without_hits: int
    by_agency: dict[str, dict[str, int]]  # agency -> {"households": n, "individuals": n}
    by_combination: dict[str, int]  # "leerplicht+regieteams" / ... / "none" -> households
    member_hits: dict[str, list[str]]  # only members with at least one disclosed hit
    manual_disagreements: list[tuple[str, str, int, int]]  # member, agency, manual, machine

    def to_json(self) -> str:
        data = {
            "seed": self.seed,
            "reference_date": self.reference_date,
            "households": self.households,
            "individuals": self.individuals,
            "households_with_hits": self.households_with_hits,
            "households_without_hits": self.households_without_hits,
            "by_agency": self.by_agency,
            "by_combination": self.by_combination,
            "member_hits": self.member_hits,
            "manual_disagreements": [
                {"member_id": m, "agency": a, "manual": manual, "machine": machine}
                for m, a, manual, machine in self.manual_disagreements
            ],
        }
        return json.dumps(data, ensure_ascii=False, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> SyntheticSummary:
        data = json.loads(text)
        disagreements = [(d["member_id"], d["agency"], d["manual"], d["machine"])
                         for d in data.pop("manual_disagreements")]
        return cls(**data, manual_disagreements=disagreements)


def combination_key(agencies: Iterable[str]) -> str:
    return "+".join(sorted(agencies)) or "none"


def summarise(seed: int, households: Sequence[Household], hits: set[Pair],
              disagreements: Sequence[Disagreement]) -> SyntheticSummary:
    member_hits: dict[str, list[str]] = {}
    for member_id, agency in sorted(hits):
        member_hits.setdefault(member_id, []).append(agency)
    by_household = {h.household_id: {a for m in h.members for a in member_hits.get(m.member_id, [])}
                    for h in households}
    by_combination: dict[str, int] = {}
    for agencies in by_household.values():
        key = combination_key(agencies)
        by_combination[key] = by_combination.get(key, 0) + 1
    by_agency = {agency: {"households": sum(agency in a for a in by_household.values()),
                          "individuals": sum(agency in a for a in member_hits.values())}
                 for agency in AGENCIES}
    without = by_combination.get("none", 0)
    return SyntheticSummary(
        seed=seed,
        reference_date=REFERENCE_DATE.isoformat(),
        households=len(households),
        individuals=sum(len(h.members) for h in households),
        households_with_hits=len(households) - without,
        households_without_hits=without,
        by_agency=by_agency,
        by_combination=dict(sorted(by_combination.items())),
        member_hits=member_hits,
        manual_disagreements=[(d.member_id, d.agency, d.manual, d.machine)
                              for d in disagreements],
    )


__all__ = ["SyntheticSummary", "combination_key", "summarise"]
