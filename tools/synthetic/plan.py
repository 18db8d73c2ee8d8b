"""Planning before any row is written: which household is known where, which members are
hits, and the deliberate details (disagreements, leading zeros, namesakes, duplicates)."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date

from tools.synthetic.constants import (
    COMBINATION_PLAN,
    LEADING_ZERO_ROWS,
    LEERPLICHT,
    MEMBERS_WITHOUT_BSN,
    NAME_ONLY_SHARE,
    REGIETEAMS,
    SCHULDHULP,
    TURNS_5_TODAY,
    TURNS_5_TOMORROW,
    TURNS_18_TODAY,
    TURNS_18_TOMORROW,
    Combination,
    GenerationError,
    Pair,
)
from tools.synthetic.names import NEAR_MISSES
from tools.synthetic.people import BsnPool, Household, Member
from tools.synthetic.rules import Record, discloses
from tools.synthetic.spelling import folding_variants, near_miss, spelled_differently


def _has_school_age_child(household: Household) -> bool:
    return any(discloses(LEERPLICHT, m.age) for m in household.members)


def assign_combinations(rng: random.Random, households: Sequence[Household],
                        edges: dict[date, Member]) -> dict[str, Combination]:
    """Deal the planned agency combinations out over the households."""
    pool = [combo for combo, count in COMBINATION_PLAN for _ in range(count)]
    assigned: dict[str, Combination] = {}

    def take(household_id: str, accept: Callable[[Combination], bool]) -> None:
        options = [c for c in pool if accept(c)]
        if not options:
            raise GenerationError("the combination plan cannot be dealt out")
        choice = rng.choice(options)
        pool.remove(choice)
        assigned[household_id] = choice

    # The child turning 5 today is a leerplicht hit in a household that has another hit too
    # (its manual answer differs); the one turning 18 tomorrow is a leerplicht hit as well.
    take(edges[TURNS_5_TODAY].household_id, lambda c: LEERPLICHT in c and len(c) >= 2)
    take(edges[TURNS_18_TOMORROW].household_id, lambda c: LEERPLICHT in c)
    # These two are in the leerplicht extract but not disclosed: their households stay "none".
    take(edges[TURNS_5_TOMORROW].household_id, lambda c: not c)
    take(edges[TURNS_18_TODAY].household_id, lambda c: not c)
    open_households = [h for h in households if h.household_id not in assigned]
    for household in rng.sample(open_households, k=len(open_households)):
        if _has_school_age_child(household) and any(LEERPLICHT in c for c in pool):
            take(household.household_id, lambda c: LEERPLICHT in c)
    if any(LEERPLICHT in c for c in pool):
        raise GenerationError("too few households with a school-age child")
    rest = [h.household_id for h in households if h.household_id not in assigned]
    rng.shuffle(pool)
    assigned.update(zip(rest, pool, strict=True))
    return assigned


OTHER_MEMBER_SHARE = {LEERPLICHT: 0.35, SCHULDHULP: 0.3, REGIETEAMS: 0.5}


def choose_hits(rng: random.Random, household: Household, combo: Combination,
                forced: dict[str, Member]) -> set[Pair]:
    """Which members are known at each agency of ``combo`` (at least one per agency)."""
    hits: set[Pair] = set()
    for agency in sorted(combo):
        eligible = [m for m in household.members if discloses(agency, m.age)]
        if agency in forced:
            primary = forced[agency]
        elif agency == LEERPLICHT:
            primary = rng.choice(eligible)
        else:  # debts and care coordination start with the Top-150 person or first adult
            primary = eligible[0]
        for member in eligible:
            if member is primary or rng.random() < OTHER_MEMBER_SHARE[agency]:
                hits.add((member.member_id, agency))
    return hits


# --------------------------------------------------------------------------------------------
# The deliberate details


@dataclass(frozen=True, slots=True)
class Disagreement:
    member_id: str
    agency: str
    manual: int
    machine: int
    reason: str


@dataclass(slots=True)
class Plan:
    """Everything decided before rows are written."""

    households: list[Household]
    edges: dict[date, Member]
    combos: dict[str, Combination]
    hits: set[Pair]
    modes: dict[Pair, str] = field(default_factory=dict)  # how each hit row is written
    preset_rows: dict[Pair, Record] = field(default_factory=dict)
    extra_rows: list[tuple[str, Record, str]] = field(default_factory=list)  # agency, row, why
    disagreements: list[Disagreement] = field(default_factory=list)
    notes: dict[str, list[str]] = field(default_factory=dict)  # README: member ids per feature

    @property
    def members(self) -> dict[str, Member]:
        return {m.member_id: m for h in self.households for m in h.members}

    def hits_of(self, household_id: str) -> list[Pair]:
        return sorted(p for p in self.hits if p[0].rpartition("-")[0] == household_id)

    def note(self, feature: str, member_id: str) -> None:
        self.notes.setdefault(feature, []).append(member_id)


def _pick(rng: random.Random, preferred: Sequence[Pair], fallback: Sequence[Pair]) -> Pair | None:
    options = list(preferred) or list(fallback)
    return rng.choice(sorted(options)) if options else None


def forget_some_bsns(rng: random.Random, plan: Plan) -> None:
    """Some members are known to the Veiligheidshuis by name and birth date only."""
    members = sorted(plan.members.values(), key=lambda m: m.member_id)
    for member in rng.sample(members, k=MEMBERS_WITHOUT_BSN):
        member.bsn_known = False
        plan.note("members without BSN", member.member_id)


def choose_modes(rng: random.Random, plan: Plan) -> None:
    for pair in sorted(plan.hits):
        member = plan.members[pair[0]]
        name_only = not member.bsn_known or rng.random() < NAME_ONLY_SHARE[pair[1]]
        plan.modes[pair] = "name" if name_only else "bsn"


def _used_households(plan: Plan) -> set[str]:
    return {d.member_id.rpartition("-")[0] for d in plan.disagreements}


def _disagree(plan: Plan, pair: Pair, manual: int, reason: str) -> None:
    machine = int(pair in plan.hits)
    plan.disagreements.append(Disagreement(pair[0], pair[1], manual, machine, reason))


def disagreement_turning_five(plan: Plan) -> None:
    child = plan.edges[TURNS_5_TODAY]
    _disagree(plan, (child.member_id, LEERPLICHT), 0,
              "turns 5 on the reference date; the attendance officer answered no because "
              "compulsory schooling only starts the month after the fifth birthday")


def disagreement_missed_variant(rng: random.Random, plan: Plan) -> None:
    """A hit whose registration is spelled differently, which the professional overlooked."""
    used = _used_households(plan)
    candidates = [pair for h in plan.households if h.household_id not in used
                  and len(plan.hits_of(h.household_id)) >= 2
                  for pair in plan.hits_of(h.household_id)]
    visible = [p for p in candidates
               if folding_variants(plan.members[p[0]].person, ("strip", "join_prefix"))]
    pair = _pick(rng, visible, candidates)
    if pair is None:
        return
    member = plan.members[pair[0]]
    row = replace(spelled_differently(rng, member.person, visible=True), bsn="")
    plan.modes[pair], plan.preset_rows[pair] = "name", row
    written = " ".join(filter(None, (row.given_names, row.prefix, row.surname)))
    _disagree(plan, pair, 0, f"registered without BSN as '{written}'; the professional's "
                             "search for the name as the Veiligheidshuis spells it missed it")


def disagreement_closed_case(rng: random.Random, plan: Plan) -> None:
    """A professional remembers a debt-counselling case closed before the extract was made."""
    used = _used_households(plan)
    candidates = [(m.member_id, SCHULDHULP) for h in plan.households
                  if h.household_id not in used and plan.hits_of(h.household_id)
                  for m in h.members
                  if m.age >= 18 and (m.member_id, SCHULDHULP) not in plan.hits]
    preferred = [p for p in candidates if SCHULDHULP not in plan.combos[p[0].rpartition("-")[0]]]
    pair = _pick(rng, preferred, candidates)
    if pair is not None:
        _disagree(plan, pair, 1, "the debt counsellor remembered a case closed in 2010; "
                                 "closed cases are not in the extract")


def disagreement_near_miss(rng: random.Random, plan: Plan) -> None:
    """A registration spelled Janssen for a Jansen, without BSN: a person links it, the key not."""
    used = _used_households(plan)
    candidates: list[Pair] = []
    for household in plan.households:
        if household.household_id in used or not plan.hits_of(household.household_id):
            continue
        for member in household.members:
            agency = REGIETEAMS if (member.member_id, REGIETEAMS) not in plan.hits else SCHULDHULP
            if discloses(agency, member.age) and (member.member_id, agency) not in plan.hits:
                candidates.append((member.member_id, agency))
    members = plan.members
    known_pairs = [p for p in candidates if members[p[0]].person.surname in NEAR_MISSES]
    pair = _pick(rng, known_pairs, candidates)
    if pair is None:
        return
    person = members[pair[0]].person
    row = replace(person, bsn="", surname=near_miss(person.surname))
    if row.name_key in {m.record.name_key for m in members.values()}:
        return  # would match someone else; leave this disagreement out
    plan.extra_rows.append((pair[1], row, "near-miss spelling without BSN"))
    _disagree(plan, pair, 1, f"registered without BSN as '{row.surname}' instead of "
                             f"'{person.surname}'; the professional recognised the person, "
                             "the name key differs")


def disagreement_family_answer(rng: random.Random, plan: Plan) -> None:
    """A regieteam answers yes for a child because it knows the family through a parent."""
    used = _used_households(plan)
    candidates = [(m.member_id, REGIETEAMS) for h in plan.households
                  if h.household_id not in used and REGIETEAMS in plan.combos[h.household_id]
                  for m in h.members
                  if m.role == "child" and (m.member_id, REGIETEAMS) not in plan.hits]
    pair = _pick(rng, candidates, [])
    if pair is not None:
        _disagree(plan, pair, 1, "the regieteam knows the family through a parent's case and "
                                 "answered yes for the child too; the child is not registered")


def use_leading_zero_bsns(rng: random.Random, plan: Plan, bsns: BsnPool) -> None:
    """A few members get a BSN starting with 0 that one extract writes with 8 digits."""
    disputed = {(d.member_id, d.agency) for d in plan.disagreements}
    candidates = sorted(p for p, mode in plan.modes.items()
                        if mode == "bsn" and p not in disputed)
    chosen: list[Pair] = []
    for pair in rng.sample(candidates, k=len(candidates)):
        if len(chosen) == LEADING_ZERO_ROWS:
            break
        if all(pair[0] != other[0] for other in chosen):
            chosen.append(pair)
    for pair in chosen:
        member = plan.members[pair[0]]
        member.person = replace(member.person, bsn=bsns.draw(leading_zero=True))
        plan.modes[pair] = "bsn8"
        plan.note("BSN written without its leading zero", f"{pair[0]} ({pair[1]})")


def use_misspelled_bsn_row(rng: random.Random, plan: Plan) -> None:
    """One registration spells the surname differently but has the BSN: the BSN decides."""
    disputed = {(d.member_id, d.agency) for d in plan.disagreements}
    candidates = sorted(p for p, mode in plan.modes.items() if mode == "bsn" and p not in disputed)
    if candidates:
        pair = rng.choice(candidates)
        plan.modes[pair] = "bsn_misspelled"
        plan.note("different spelling, same BSN (matches)", f"{pair[0]} ({pair[1]})")


def add_undisclosed_rows(rng: random.Random, plan: Plan, bsns: BsnPool) -> None:
    """Registrations of household members that must not count as hits."""
    for born in (TURNS_5_TOMORROW, TURNS_18_TODAY):
        member = plan.edges[born]
        plan.extra_rows.append((LEERPLICHT, member.person, "outside the leerplicht ages"))
        plan.note("in the leerplicht extract, not disclosed (age)", member.member_id)
    # Leerplicht also keeps young adults without a diploma (RMC, up to 23).
    edge_ids = {m.member_id for m in plan.edges.values()}
    young_adults = sorted((m for m in plan.members.values()
                           if m.role == "child" and 18 <= m.age <= 22
                           and m.member_id not in edge_ids), key=lambda m: m.member_id)
    if young_adults:
        member = rng.choice(young_adults)
        plan.extra_rows.append((LEERPLICHT, member.person, "RMC registration of a young adult"))
        plan.note("in the leerplicht extract, not disclosed (age)", member.member_id)
    _add_namesake(rng, plan, bsns)
    _add_duplicate(rng, plan)


def _add_namesake(rng: random.Random, plan: Plan, bsns: BsnPool) -> None:
    """Same name and birth date as a member but another BSN: a different person, no match."""
    quiet = sorted(m.member_id for h in plan.households if not plan.combos[h.household_id]
                   for m in h.members if m.age >= 18 and m.bsn_known and m.role != "child")
    member = plan.members[rng.choice(quiet)]
    plan.extra_rows.append((SCHULDHULP, replace(member.person, bsn=bsns.draw()), "namesake"))
    plan.note("namesake with another BSN (no match)", member.member_id)


def _add_duplicate(rng: random.Random, plan: Plan) -> None:
    """One person registered twice by the regieteams (an old record without BSN)."""
    candidates = sorted(p for p, mode in plan.modes.items() if mode == "bsn" and p[1] == REGIETEAMS)
    if candidates:
        pair = rng.choice(candidates)
        person = plan.members[pair[0]].person
        old = replace(spelled_differently(rng, person), bsn="")
        plan.extra_rows.append((REGIETEAMS, old, "duplicate registration"))
        plan.note("registered twice by the regieteams (one individual)", pair[0])


__all__ = ["Disagreement", "Plan", "add_undisclosed_rows", "assign_combinations", "choose_hits",
           "choose_modes", "disagreement_closed_case", "disagreement_family_answer",
           "disagreement_missed_variant", "disagreement_near_miss", "disagreement_turning_five",
           "forget_some_bsns", "use_leading_zero_bsns", "use_misspelled_bsn_row"]
