"""Writing the rows of the extracts, and the machine's answers over them by the service's
own rules (the generator's check)."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import replace

from tools.synthetic.constants import (
    AGENCIES,
    JUSTICE,
    LEERPLICHT,
    MISSING_BSN_SHARE,
    REGIETEAMS,
    SCHULDHULP,
    Pair,
)
from tools.synthetic.people import Household, Member, People
from tools.synthetic.plan import Plan
from tools.synthetic.rules import Record, discloses, normalised_bsn
from tools.synthetic.spelling import near_miss, spelled_differently


def _hit_row(rng: random.Random, member: Member, mode: str) -> Record:
    person = member.person
    if mode == "bsn":  # as registered; some systems abbreviate or capitalise
        return spelled_differently(rng, person) if rng.random() < 0.25 else person
    if mode == "bsn8":
        return replace(person, bsn=person.bsn[1:])
    if mode == "bsn_misspelled":
        return replace(person, surname=near_miss(person.surname))
    # Name only. If the Veiligheidshuis lacks the BSN the agency may still have it.
    keeps_bsn = not member.bsn_known and rng.random() < 0.5
    row = spelled_differently(rng, person)
    return replace(row, bsn=person.bsn if keeps_bsn else "")


def member_rows(rng: random.Random, plan: Plan) -> dict[str, list[Record]]:
    rows: dict[str, list[Record]] = {agency: [] for agency in AGENCIES}
    members = plan.members
    for pair in sorted(plan.hits):
        row = plan.preset_rows.get(pair) or _hit_row(rng, members[pair[0]], plan.modes[pair])
        rows[pair[1]].append(row)
        if not normalised_bsn(row.bsn) or not members[pair[0]].bsn_known:
            plan.note(f"matched on name only ({pair[1]})", pair[0])
    for agency, row, _ in plan.extra_rows:
        rows[agency].append(row)
    return rows


def as_written(rng: random.Random, person: Record, agency: str) -> Record:
    row = spelled_differently(rng, person) if rng.random() < 0.15 else person
    return replace(row, bsn="") if rng.random() < MISSING_BSN_SHARE[agency] else row


def filler_people(rng: random.Random, people: People) -> dict[str, list[Record]]:
    """Each caseload's people outside the 145 households; some are known at several places."""
    schuldhulp = [people.filler(18, 75, 0.45, mode=38) for _ in range(900)]
    pupils = [people.filler(5, 17) for _ in range(560)]
    leerplicht = pupils + [people.filler(18, 22) for _ in range(30)]  # RMC young adults
    leerplicht += [people.filler(4, 4) for _ in range(10)]  # registered ahead of age 5
    regieteams = rng.sample(schuldhulp, 90) + rng.sample(pupils, 45)
    regieteams += [people.filler(0, 70) for _ in range(165)]
    om = rng.sample(schuldhulp, 60) + [people.filler(12, 65, 0.12, mode=24) for _ in range(420)]
    reclassering = rng.sample(om, 120) + [people.filler(18, 65, 0.12, mode=27)
                                          for _ in range(110)]
    return {LEERPLICHT: leerplicht, SCHULDHULP: schuldhulp, REGIETEAMS: regieteams,
            "om": om, "reclassering": reclassering}


def justice_member_rows(rng: random.Random, plan: Plan) -> dict[str, list[Record]]:
    """Most Top-150 people are known in the criminal justice chain; that is how they came in."""
    rows: dict[str, list[Record]] = {code: [] for code in JUSTICE}
    for member in sorted(plan.members.values(), key=lambda m: m.member_id):
        index, adult = member.role == "index", member.age >= 18
        chances = {"om": 0.75 if index else 0.15 if adult else 0.1 if member.age >= 12 else 0.0,
                   "reclassering": 0.45 if index else 0.05 if adult else 0.0}
        for code in JUSTICE:
            if rng.random() < chances[code]:
                row = member.person
                if rng.random() < MISSING_BSN_SHARE[code]:
                    row = replace(spelled_differently(rng, row), bsn="")
                rows[code].append(row)
    return rows


# --------------------------------------------------------------------------------------------
# The machine's answers (the generator's own check)


def matched_member_ids(members: Iterable[Member], rows: Iterable[Record]) -> set[str]:
    """Members matched by at least one row: equal BSNs, or equal name keys if a BSN is missing
    (BSNs and name keys as the service reads them)."""
    rows = list(rows)
    bsns = {b for r in rows if (b := normalised_bsn(r.bsn))}
    keys_without_bsn = {r.service_key for r in rows if not normalised_bsn(r.bsn)}
    all_keys = {r.service_key for r in rows}
    matched = set()
    for member in members:
        record = member.record
        bsn = normalised_bsn(record.bsn)
        if (bsn in bsns or record.service_key in keys_without_bsn) if bsn else (
                record.service_key in all_keys):
            matched.add(member.member_id)
    return matched


def machine_hits(households: Sequence[Household], extracts: dict[str, list[Record]]) -> set[Pair]:
    members = [m for h in households for m in h.members]
    ages = {m.member_id: m.age for m in members}
    return {(member_id, agency) for agency in AGENCIES
            for member_id in matched_member_ids(members, extracts[agency])
            if discloses(agency, ages[member_id])}


__all__ = ["as_written", "filler_people", "justice_member_rows", "machine_hits",
           "matched_member_ids", "member_rows"]
