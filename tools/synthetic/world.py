"""Putting it together: plan, rows, manual answers and summary for one seed, checked
against the plan, and written as the data set's files."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from tools.synthetic.constants import (
    AGENCIES,
    DEFAULT_SEED,
    HOUSEHOLDS,
    HOUSEHOLDS_WITHOUT_HITS,
    INDIVIDUALS,
    JUSTICE,
    LEERPLICHT,
    REGIETEAMS,
    SCHULDHULP,
    TURNS_5_TODAY,
    TURNS_18_TOMORROW,
    GenerationError,
    Pair,
)
from tools.synthetic.people import BsnPool, Member, People, build_households
from tools.synthetic.plan import (
    Plan,
    add_undisclosed_rows,
    assign_combinations,
    choose_hits,
    choose_modes,
    disagreement_closed_case,
    disagreement_family_answer,
    disagreement_missed_variant,
    disagreement_near_miss,
    disagreement_turning_five,
    forget_some_bsns,
    use_leading_zero_bsns,
    use_misspelled_bsn_row,
)
from tools.synthetic.rows import (
    as_written,
    filler_people,
    justice_member_rows,
    machine_hits,
    member_rows,
)
from tools.synthetic.rules import Record, bsn_is_valid, discloses
from tools.synthetic.summary import SyntheticSummary, summarise

MANUAL_ORDER = (LEERPLICHT, SCHULDHULP, REGIETEAMS)  # the order the coordinator asked in


def manual_answers(plan: Plan) -> list[tuple[str, str, str, int]]:
    """The professionals' answers: the machine's, except for the deliberate disagreements."""
    overrides = {(d.member_id, d.agency): d.manual for d in plan.disagreements}
    answers = []
    for household in plan.households:
        for member in household.members:
            for agency in MANUAL_ORDER:
                if discloses(agency, member.age):  # only asked where the rule applies
                    pair = (member.member_id, agency)
                    known = overrides.get(pair, int(pair in plan.hits))
                    answers.append((household.household_id, member.member_id, agency, known))
    return answers


@dataclass(slots=True)
class World:
    plan: Plan
    files: dict[str, list[Record]]  # relative path -> rows
    manual: list[tuple[str, str, str, int]]
    summary: SyntheticSummary


def extract_path(code: str) -> str:
    return f"extracts/{code}.csv" if code in AGENCIES else f"extracts-justice/{code}.csv"


def _plan(rng: random.Random, bsns: BsnPool, people: People) -> Plan:
    households, edges = build_households(rng, people)
    combos = assign_combinations(rng, households, edges)
    hits: set[Pair] = set()
    for household in households:
        forced: dict[str, Member] = {}
        for child in (edges[TURNS_5_TODAY], edges[TURNS_18_TOMORROW]):  # other households
            if child.household_id == household.household_id:
                forced[LEERPLICHT] = child
        hits |= choose_hits(rng, household, combos[household.household_id], forced)
    plan = Plan(households, edges, combos, hits)
    forget_some_bsns(rng, plan)
    choose_modes(rng, plan)
    disagreement_turning_five(plan)
    disagreement_missed_variant(rng, plan)
    disagreement_closed_case(rng, plan)
    disagreement_near_miss(rng, plan)
    disagreement_family_answer(rng, plan)
    use_leading_zero_bsns(rng, plan, bsns)
    use_misspelled_bsn_row(rng, plan)
    add_undisclosed_rows(rng, plan, bsns)
    return plan


def build_world(seed: int = DEFAULT_SEED) -> World:
    """Plan the households and answers, write the caseloads, and check them against the plan."""
    rng = random.Random(seed)
    bsns = BsnPool(rng)
    people = People(rng, bsns)
    plan = _plan(rng, bsns, people)
    rows = member_rows(rng, plan) | justice_member_rows(rng, plan)
    for code, persons in filler_people(rng, people).items():
        rows[code].extend(as_written(rng, person, code) for person in persons)
    for code in (*AGENCIES, *JUSTICE):
        rng.shuffle(rows[code])  # why: household members must not sit at the top
    manual = manual_answers(plan)
    summary = summarise(seed, plan.households, plan.hits, plan.disagreements)
    _check(plan, rows, manual, summary)
    return World(plan, {extract_path(c): rows[c] for c in (*AGENCIES, *JUSTICE)}, manual,
                 summary)


def _check(plan: Plan, rows: dict[str, list[Record]], manual: Sequence[tuple[str, str, str, int]],
           summary: SyntheticSummary) -> None:
    """Refuse to write data whose machine answers differ from the plan."""
    if machine_hits(plan.households, rows) != plan.hits:
        raise GenerationError("the extracts do not produce the planned hits")
    if (summary.households, summary.individuals) != (HOUSEHOLDS, INDIVIDUALS):
        raise GenerationError("wrong number of households or individuals")
    if summary.households_without_hits != HOUSEHOLDS_WITHOUT_HITS:
        raise GenerationError("wrong number of households without hits")
    manual_hit_households = {household_id for household_id, _, _, known in manual if known}
    if HOUSEHOLDS - len(manual_hit_households) != HOUSEHOLDS_WITHOUT_HITS:
        raise GenerationError("the manual answers change the number of households without hits")
    members = plan.members.values()
    bsns = [m.record.bsn for m in members] + [r.bsn for rs in rows.values() for r in rs]
    if not all(bsn_is_valid(b) for b in bsns if b):
        raise GenerationError("an invalid BSN was generated")


__all__ = ["World", "build_world", "extract_path", "manual_answers"]
