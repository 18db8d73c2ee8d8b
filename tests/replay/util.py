"""Helpers for the replay tests: writing input files, and an independent reading of the rules."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

HOUSEHOLD_HEADER = ("household_id", "member_id", "bsn", "given_names", "prefix", "surname",
                    "date_of_birth")
PERSON_HEADER = HOUSEHOLD_HEADER[2:]
MANUAL_HEADER = ("household_id", "member_id", "agency", "known")


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def age_on(born: dt.date, on: dt.date) -> int:
    """Whole years; the birthday itself counts, and 29 February counts from 1 March."""
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def rule_allows(agency: str, age: int) -> bool:
    """The disclosure rules of the manual test, as the issue states them."""
    return {"leerplicht": 5 <= age <= 17, "schuldhulp": age >= 18}.get(agency, True)


def tally(households: Mapping[str, Sequence[str]], hits: Mapping[str, set[str]],
          agencies: Sequence[str]) -> dict[str, object]:
    """What summary.json must say, worked out from per-member expectations.

    ``households``: household id -> member ids; ``hits``: member id -> agencies (members
    without a hit may be left out)."""
    per_household = {h: set().union(*(hits.get(m, set()) for m in ms))
                     for h, ms in households.items()}
    combinations: dict[str, int] = {}
    for known in per_household.values():
        key = "+".join(sorted(known)) or "none"
        combinations[key] = combinations.get(key, 0) + 1
    members = [m for ms in households.values() for m in ms]
    return {
        "households": len(households),
        "individuals": len(members),
        "households_with_hits": sum(1 for k in per_household.values() if k),
        "households_without_hits": sum(1 for k in per_household.values() if not k),
        "individuals_with_hits": sum(1 for m in members if hits.get(m)),
        "by_agency": {a: {"households": sum(a in k for k in per_household.values()),
                          "individuals": sum(a in hits.get(m, set()) for m in members)}
                      for a in agencies},
        "by_combination": dict(sorted(combinations.items())),
        "member_hits": {m: sorted(hits.get(m, set())) for m in sorted(members)},
    }


def agreement(manual: Iterable[tuple[str, str, bool]], hits: Mapping[str, set[str]],
              agencies: Sequence[str]) -> dict[str, dict[str, int]]:
    """``manual``: (member id, agency, known) rows; the manual answer is the reference."""
    out = {a: {"true_positive": 0, "false_positive": 0, "false_negative": 0,
               "true_negative": 0} for a in agencies}
    for member, agency, known in manual:
        if agency not in out:
            continue
        machine = agency in hits.get(member, set())
        if machine and known:
            out[agency]["true_positive"] += 1
        elif machine:
            out[agency]["false_positive"] += 1
        elif known:
            out[agency]["false_negative"] += 1
        else:
            out[agency]["true_negative"] += 1
    return out
