"""The published figures the data set must reproduce, and the generator's fixed choices."""

from __future__ import annotations

from datetime import date

REFERENCE_DATE = date(2011, 3, 1)
DEFAULT_SEED = 20110301

LEERPLICHT = "leerplicht"
SCHULDHULP = "schuldhulp"
REGIETEAMS = "regieteams"
AGENCIES: tuple[str, ...] = (LEERPLICHT, REGIETEAMS, SCHULDHULP)  # sorted: combination keys
JUSTICE: tuple[str, ...] = ("om", "reclassering")

HOUSEHOLDS = 145
INDIVIDUALS = 239
HOUSEHOLDS_WITHOUT_HITS = 77

PERSON_HEADER = ("bsn", "given_names", "prefix", "surname", "date_of_birth")
HOUSEHOLD_HEADER = ("household_id", "member_id", *PERSON_HEADER)
MANUAL_HEADER = ("household_id", "member_id", "agency", "known")

Combination = frozenset[str]
Pair = tuple[str, str]  # (member_id, agency)
NameKey = tuple[str, str, str]

# How many of the 145 households end up with which set of agencies. Most hit households are
# known at one agency, a sizeable minority at two and a few at all three; leerplicht is the
# rarest because only households with a school-age child can be known there.
COMBINATION_PLAN: tuple[tuple[Combination, int], ...] = (
    (frozenset(), HOUSEHOLDS_WITHOUT_HITS),
    (frozenset({SCHULDHULP}), 24),
    (frozenset({REGIETEAMS}), 14),
    (frozenset({LEERPLICHT}), 6),
    (frozenset({SCHULDHULP, REGIETEAMS}), 12),
    (frozenset({LEERPLICHT, REGIETEAMS}), 5),
    (frozenset({LEERPLICHT, SCHULDHULP}), 4),
    (frozenset({LEERPLICHT, SCHULDHULP, REGIETEAMS}), 3),
)

# Household shapes: 100 single adults, 12 childless couples, 20 single parents and 13 two-parent
# families; the numbers of children are chosen so that the members add up to 239.
SINGLES = 100
COUPLES = 12
SINGLE_PARENT_CHILDREN: tuple[int, ...] = (1,) * 7 + (2,) * 9 + (3,) * 3 + (4,)
FAMILY_CHILDREN: tuple[int, ...] = (1,) * 3 + (2,) * 5 + (3,) * 3 + (4, 5)

# Birth dates placed on purpose around the age limits of the disclosure rules.
TURNS_5_TODAY = date(2006, 3, 1)
TURNS_5_TOMORROW = date(2006, 3, 2)
TURNS_18_TODAY = date(1993, 3, 1)
TURNS_18_TOMORROW = date(1993, 3, 2)
EDGE_BIRTH_DATES = (TURNS_5_TODAY, TURNS_5_TOMORROW, TURNS_18_TODAY, TURNS_18_TOMORROW)

# Share of a household member's registrations written without BSN, so matched on name alone.
NAME_ONLY_SHARE = {LEERPLICHT: 0.08, SCHULDHULP: 0.2, REGIETEAMS: 0.3}
# Share of everyone else's registrations without BSN. Justice registrations often lack one.
MISSING_BSN_SHARE = {LEERPLICHT: 0.02, SCHULDHULP: 0.04, REGIETEAMS: 0.1,
                     "om": 0.4, "reclassering": 0.4}
MEMBERS_WITHOUT_BSN = 24  # about 10%: known to the Veiligheidshuis by name and birth date only
LEADING_ZERO_ROWS = 3


class GenerationError(RuntimeError):
    """The generator could not satisfy its own plan (a bug, or an unsuitable seed)."""


__all__ = ["AGENCIES", "COMBINATION_PLAN", "DEFAULT_SEED", "EDGE_BIRTH_DATES", "HOUSEHOLDS",
           "HOUSEHOLDS_WITHOUT_HITS", "HOUSEHOLD_HEADER", "INDIVIDUALS", "JUSTICE",
           "LEADING_ZERO_ROWS", "LEERPLICHT", "MANUAL_HEADER", "MEMBERS_WITHOUT_BSN",
           "MISSING_BSN_SHARE", "NAME_ONLY_SHARE", "PERSON_HEADER", "REFERENCE_DATE",
           "REGIETEAMS", "SCHULDHULP", "SINGLES", "COUPLES", "SINGLE_PARENT_CHILDREN",
           "FAMILY_CHILDREN", "TURNS_5_TODAY", "TURNS_5_TOMORROW", "TURNS_18_TODAY",
           "TURNS_18_TOMORROW", "Combination", "GenerationError", "NameKey", "Pair"]
