"""The replay's figures, from the machine's answers (and the manual ones, when given).

Pure functions over ids and agency codes: no names, BSNs or birth dates reach this module's
output (the rows where the answers differ carry the member's age in whole years on the
reference date, which the disclosure rules turn on, never the birth date). ``summarise``
gives exactly the ``summary.json`` of docs/replay.md; ``Figures`` adds what the report shows
beside it (multi-agency households, the manual answers' own tally, agreement statistics,
the disagreeing rows with what explains them, the co-occurrence per person).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hitmachine.core.identity import age_on
from hitmachine.replay.inputs import Household, ManualAnswer, ReplayInput

NONE = "none"
CELLS = ("true_positive", "false_positive", "false_negative", "true_negative")


def combination_key(agencies: Collection[str]) -> str:
    """The agency codes of a household's hits, sorted and joined with ``+``, or ``none``."""
    return "+".join(sorted(agencies)) or NONE


def member_hits(households: Sequence[Household], hits: Mapping[str, Collection[str]],
                agencies: Collection[str]) -> dict[str, list[str]]:
    """Every member id (sorted) -> the sorted participating agencies that know them."""
    taking_part = set(agencies)
    out = {m.member_id: sorted(set(hits.get(m.member_id, ())) & taking_part)
           for h in households for m in h.members}
    return dict(sorted(out.items()))


def household_agencies(households: Sequence[Household],
                       by_member: Mapping[str, Sequence[str]]) -> dict[str, set[str]]:
    return {h.household_id: {a for m in h.members for a in by_member[m.member_id]}
            for h in households}


def agreement(manual: Sequence[ManualAnswer], by_member: Mapping[str, Sequence[str]],
              agencies: Sequence[str]) -> dict[str, dict[str, int]]:
    """Per agency, the machine against the manual answer (the reference), over the manual rows."""
    table = {a: dict.fromkeys(CELLS, 0) for a in agencies}
    for answer in manual:
        if answer.agency not in table:
            continue
        machine = answer.agency in by_member.get(answer.member_id, ())
        cell = {(True, True): "true_positive", (True, False): "false_positive",
                (False, True): "false_negative", (False, False): "true_negative"}[
            (machine, answer.known)]
        table[answer.agency][cell] += 1
    return table


def summarise(inputs: ReplayInput, hits: Mapping[str, Collection[str]]) -> dict[str, Any]:
    """``summary.json``: the keys and their order as docs/replay.md specifies them."""
    agencies = inputs.agencies
    by_member = member_hits(inputs.households, hits, agencies)
    per_household = household_agencies(inputs.households, by_member)
    combinations = Counter(combination_key(a) for a in per_household.values())
    without = combinations.get(NONE, 0)
    summary: dict[str, Any] = {
        "households": len(inputs.households),
        "individuals": len(by_member),
        "households_with_hits": len(inputs.households) - without,
        "households_without_hits": without,
        "individuals_with_hits": sum(1 for a in by_member.values() if a),
        "by_agency": {a: {"households": sum(a in s for s in per_household.values()),
                          "individuals": sum(a in s for s in by_member.values())}
                      for a in agencies},
        "by_combination": dict(sorted(combinations.items())),
        # Co-occurrence per person beside the household's: two agencies that each know a
        # different member of a household are a household combination, not a person's.
        "individuals_by_combination": dict(sorted(
            Counter(combination_key(a) for a in by_member.values()).items())),
        "member_hits": by_member,
    }
    if inputs.manual is not None:
        summary["agreement"] = agreement(inputs.manual, by_member, agencies)
    return summary


# --------------------------------------------------------------------------------------------
# What the report adds


@dataclass(frozen=True, slots=True)
class AgreementStats:
    agency: str
    true_positive: int
    false_positive: int
    false_negative: int
    true_negative: int

    @property
    def rows(self) -> int:
        return self.true_positive + self.false_positive + self.false_negative + self.true_negative

    @property
    def agreed(self) -> int:
        return self.true_positive + self.true_negative

    @property
    def share(self) -> float | None:
        """Share of the manual rows on which the machine gave the same answer."""
        return self.agreed / self.rows if self.rows else None

    @property
    def kappa(self) -> float | None:
        """Cohen's kappa: agreement beyond what the two answers' base rates give by chance."""
        n = self.rows
        if not n:
            return None
        machine_yes = (self.true_positive + self.false_positive) / n
        manual_yes = (self.true_positive + self.false_negative) / n
        chance = machine_yes * manual_yes + (1 - machine_yes) * (1 - manual_yes)
        if chance >= 1:
            return None  # both answered the same thing every time: kappa is undefined
        return (self.agreed / n - chance) / (1 - chance)


AgeLimits = tuple[int | None, int | None]


@dataclass(frozen=True, slots=True)
class Disagreement:
    """A manual row the machine answered otherwise, with what explains it: the basis of the
    machine's match, and the member's age on the reference date beside the agency's rule."""

    household_id: str
    member_id: str
    agency: str
    manual: bool
    machine: bool
    basis: str | None = None         # "bsn" or "name_birthdate" when the machine knew them
    age: int | None = None           # whole years on the reference date
    limits: AgeLimits | None = None  # the agency's rule, when known (embedded runs)

    @property
    def outside_rule(self) -> bool:
        """The age falls outside the agency's rule: a hit there is never disclosed."""
        if self.limits is None or self.age is None:
            return False
        low, high = self.limits
        return (low is not None and self.age < low) or (high is not None and self.age > high)


@dataclass(frozen=True)
class Figures:
    summary: dict[str, Any]
    agencies: tuple[str, ...]
    multi_agency_households: int
    households_by_agency_count: dict[int, int]   # 0, 1, 2, ... agencies -> households
    individuals_by_agency_count: dict[int, int]  # 0, 1, 2, ... agencies -> individuals
    agreement: tuple[AgreementStats, ...] | None
    disagreements: tuple[Disagreement, ...]
    manual_households_without_known: int | None  # the manual answers' own "without a hit"
    manual_rows: int
    manual_not_compared: dict[str, int]
    basis: dict[str, dict[str, int]]             # agency -> {"bsn": n, "name_birthdate": n}


def figures(inputs: ReplayInput, summary: dict[str, Any],
            bases: Mapping[str, Mapping[str, str]] | None = None,
            age_limits: Mapping[str, AgeLimits] | None = None) -> Figures:
    """``bases``: member id -> agency -> basis of the match, as the query API answered;
    ``age_limits``: agency -> (min, max) age of its disclosure rule, where known."""
    agencies = inputs.agencies
    by_member: dict[str, list[str]] = summary["member_hits"]
    counts = Counter(len(a) for a in household_agencies(inputs.households, by_member).values())
    person_counts = Counter(len(a) for a in by_member.values())
    ages = {m.member_id: age_on(m.date_of_birth, inputs.reference_date)
            for h in inputs.households for m in h.members}
    stats: tuple[AgreementStats, ...] | None = None
    disagreements: list[Disagreement] = []
    manual_without: int | None = None
    if inputs.manual is not None:
        stats = tuple(AgreementStats(a, **summary["agreement"][a]) for a in agencies)
        for answer in inputs.manual:
            machine = answer.agency in by_member.get(answer.member_id, ())
            if machine != answer.known:
                basis = (bases or {}).get(answer.member_id, {}).get(answer.agency)
                disagreements.append(Disagreement(
                    answer.household_id, answer.member_id, answer.agency, answer.known,
                    machine, basis=basis if machine else None,
                    age=ages.get(answer.member_id),
                    limits=(age_limits or {}).get(answer.agency)))
        known = {a.household_id for a in inputs.manual if a.known}
        manual_without = sum(1 for h in inputs.households if h.household_id not in known)
    by_basis = {a: {"bsn": 0, "name_birthdate": 0} for a in agencies}
    for member_id, per_agency in (bases or {}).items():
        for agency, how in per_agency.items():
            if agency in by_basis and how in by_basis[agency] and agency in by_member.get(member_id, ()):
                by_basis[agency][how] += 1
    return Figures(
        summary=summary, agencies=agencies,
        multi_agency_households=sum(v for k, v in counts.items() if k >= 2),
        households_by_agency_count={k: counts.get(k, 0) for k in range(len(agencies) + 1)},
        individuals_by_agency_count={k: person_counts.get(k, 0)
                                     for k in range(len(agencies) + 1)},
        agreement=stats,
        disagreements=tuple(sorted(disagreements, key=lambda d: (d.member_id, d.agency))),
        manual_households_without_known=manual_without,
        manual_rows=len(inputs.manual or ()),
        manual_not_compared=dict(inputs.manual_not_compared),
        basis=by_basis)


__all__ = ["CELLS", "NONE", "AgreementStats", "Disagreement", "Figures", "agreement",
           "combination_key", "figures", "household_agencies", "member_hits", "summarise"]
