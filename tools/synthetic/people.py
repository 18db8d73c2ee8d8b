"""Inventing people: BSNs valid by the 11-test, names and birth dates, and the 145
households with their members."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from itertools import pairwise

from tools.synthetic.constants import (
    COUPLES,
    EDGE_BIRTH_DATES,
    FAMILY_CHILDREN,
    HOUSEHOLDS,
    INDIVIDUALS,
    REFERENCE_DATE,
    SINGLE_PARENT_CHILDREN,
    SINGLES,
    GenerationError,
    NameKey,
)
from tools.synthetic.names import DUTCH, ORIGINS, Origin, feminine, given_name_list
from tools.synthetic.rules import Record, age_on, bsn_is_valid


def _dob_between(rng: random.Random, min_age: int, max_age: int) -> date:
    """A birth date giving an age in ``[min_age, max_age]`` on the reference date."""
    latest = REFERENCE_DATE.replace(year=REFERENCE_DATE.year - min_age)
    earliest = REFERENCE_DATE.replace(year=REFERENCE_DATE.year - max_age - 1) + timedelta(days=1)
    return earliest + timedelta(days=rng.randint(0, (latest - earliest).days))


def _adult_dob(rng: random.Random, low: int, high: int, mode: int) -> date:
    age = int(rng.triangular(low, high + 1, mode))
    return _dob_between(rng, min(age, high), min(age, high))


class BsnPool:
    """Draws random BSNs valid by the 11-test, each at most once across the data set."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._used: set[str] = set()

    def draw(self, *, leading_zero: bool = False) -> str:
        while True:
            # Why 1-3 normally: issued BSNs mostly start so; a leading 0 is the exception we
            # want only where we place it (an extract may drop it).
            first = [0, self._rng.randint(1, 9)] if leading_zero else [self._rng.randint(1, 3)]
            digits = first + [self._rng.randint(0, 9) for _ in range(9 - len(first) - 1)]
            check = sum(w * d for w, d in zip(range(9, 1, -1), digits)) % 11
            bsn = "".join(map(str, digits)) + str(check)
            if check < 10 and bsn not in self._used and bsn_is_valid(bsn):
                self._used.add(bsn)
                return bsn


class People:
    """Invents people; household members get name keys unique among members and fillers
    never share a name key with a member, so no match happens by accident."""

    def __init__(self, rng: random.Random, bsns: BsnPool) -> None:
        self._rng = rng
        self._bsns = bsns
        self.member_keys: set[NameKey] = set()

    def origin(self) -> Origin:
        return self._rng.choices(ORIGINS, weights=[o.weight for o in ORIGINS])[0]

    def family_name(self, origin: Origin) -> tuple[str, str]:
        return self._rng.choice(origin.surnames)

    def given_names(self, origin: Origin, female: bool, born: date) -> str:
        first = self._rng.choice(given_name_list(origin, female, born))
        extra = sum(self._rng.random() < 0.45 for _ in range(origin.max_given - 1))
        if origin is DUTCH:
            # Dutch middle names are the grandparents' traditional names ("Daan Johannes").
            pool = (origin.female if female else origin.male)[0][1]
            extra = max(extra, 1) if born.year < 1962 else extra
        else:
            pool = given_name_list(origin, female, born)
        middle = self._rng.sample([n for n in pool if n != first], k=extra)
        return " ".join((first, *middle))

    def person(self, origin: Origin, female: bool, born: date,
               family: tuple[str, str] | None = None) -> Record:
        prefix, surname = family or self.family_name(origin)
        surname = feminine(surname, origin) if female else surname
        given = self.given_names(origin, female, born)
        return Record(self._bsns.draw(), given, prefix, surname, born)

    def member(self, origin: Origin, female: bool, born: date,
               family: tuple[str, str] | None = None, taken: Iterable[str] = ()) -> Record:
        """A household member; ``taken`` are first names already used by siblings."""
        taken = set(taken)
        for _ in range(100):
            record = self.person(origin, female, born, family)
            first_name = record.given_names.split()[0]
            if record.name_key not in self.member_keys and first_name not in taken:
                self.member_keys.add(record.name_key)
                return record
        raise GenerationError("could not find a unique name for a household member")

    def filler(self, min_age: int, max_age: int, female_share: float = 0.5,
               mode: int | None = None) -> Record:
        while True:
            if mode is None:
                born = _dob_between(self._rng, min_age, max_age)
            else:
                born = _adult_dob(self._rng, min_age, max_age, mode)
            record = self.person(self.origin(), self._rng.random() < female_share, born)
            if record.name_key not in self.member_keys:
                return record


# --------------------------------------------------------------------------------------------
# Households


@dataclass(slots=True)
class Member:
    household_id: str
    member_id: str
    person: Record  # the true identity, always with BSN
    role: str  # "index" (the Top-150 person), "partner" or "child"
    bsn_known: bool = True

    @property
    def record(self) -> Record:
        """The member as the Veiligheidshuis knows them (in households.csv)."""
        return self.person if self.bsn_known else replace(self.person, bsn="")

    @property
    def age(self) -> int:
        return age_on(self.person.date_of_birth)


@dataclass(slots=True)
class Household:
    household_id: str
    members: list[Member]

    @property
    def index(self) -> Member:
        return self.members[0]


def _shapes(rng: random.Random) -> list[tuple[str, int]]:
    shapes = [("single", 0)] * SINGLES + [("couple", 0)] * COUPLES
    shapes += [("single_parent", n) for n in SINGLE_PARENT_CHILDREN]
    shapes += [("family", n) for n in FAMILY_CHILDREN]
    rng.shuffle(shapes)
    size = sum(n + (2 if kind in ("couple", "family") else 1) for kind, n in shapes)
    if len(shapes) != HOUSEHOLDS or size != INDIVIDUALS:
        raise GenerationError("household shapes do not add up to 145 / 239")
    return shapes


MAX_CHILD_SPAN_DAYS = 22 * 365  # so that a mother was 18 to 44 years old at every birth
MIN_SIBLING_GAP_DAYS = 400


def _child_birth_dates(rng: random.Random, count: int, edge: date | None) -> list[date]:
    while True:
        # The first child is school-age: most Top-150 families with children have one.
        born = [_dob_between(rng, 5, 17)]
        for _ in range(count - 1):
            low, high = rng.choices(((0, 4), (5, 17), (18, 24)), weights=(25, 50, 25))[0]
            born.append(_dob_between(rng, low, high))
        if edge is not None:
            born[1] = edge
        born.sort()
        gaps = [(later - earlier).days for earlier, later in pairwise(born)]
        if sum(gaps) <= MAX_CHILD_SPAN_DAYS and all(gap >= MIN_SIBLING_GAP_DAYS for gap in gaps):
            return born


def _parent_birth_dates(rng: random.Random, kids: Sequence[date]) -> tuple[date, date]:
    """(father, mother): the mother was 18 to 40 at her first child, at most 44 at her last."""
    if kids:
        span = (kids[-1] - kids[0]).days
        mother = kids[0] - timedelta(days=rng.randint(18 * 366, min(40 * 365, 44 * 365 - span)))
        father = mother - timedelta(days=rng.randint(-3 * 365, 9 * 365))
        return father, mother
    father = _adult_dob(rng, 18, 62, 27)
    mother = father + timedelta(days=rng.randint(-2 * 365, 6 * 365))
    if age_on(mother) < 18:  # a young man's partner is about his age or older
        mother = father - timedelta(days=rng.randint(30, 3 * 365))
    return father, mother


def _adults(rng: random.Random, kind: str, origin: Origin, father: date,
            mother: date) -> list[tuple[bool, date, Origin]]:
    """(female, born, origin) of the adults, the Top-150 person first."""
    if kind == "single":
        female = rng.random() < 0.15  # the Top-150 is mostly men
        return [(female, mother if female else father, origin)]
    if kind == "single_parent":
        female = rng.random() < 0.85
        return [(female, mother if female else father, origin)]
    partner_origin = origin if rng.random() < 0.85 else DUTCH
    couple = [(False, father, origin), (True, mother, partner_origin)]
    return couple[::-1] if rng.random() < 0.25 else couple


def _children_family(people: People, rng: random.Random, origin: Origin, index: Record,
                     father: Record | None) -> tuple[str, str]:
    """Children carry their father's surname; a single mother's often that of an absent one."""
    if father is not None:
        return father.prefix, father.surname
    if rng.random() < 0.5:
        return index.prefix, _masculine(index.surname)
    return people.family_name(origin)


def _masculine(surname: str) -> str:
    return surname[:-1] + "i" if surname.endswith(("ska", "cka", "dzka")) else surname


def _build_household(people: People, rng: random.Random, household_id: str, kind: str,
                     children: int, edge: date | None) -> Household:
    origin = people.origin()
    kids = _child_birth_dates(rng, children, edge) if children else []
    father_born, mother_born = _parent_birth_dates(rng, kids)
    members: list[Member] = []
    father: Record | None = None
    for female, born, adult_origin in _adults(rng, kind, origin, father_born, mother_born):
        person = people.member(adult_origin, female, born)
        role = "partner" if members else "index"
        members.append(Member(household_id, f"{household_id}-{len(members) + 1}", person, role))
        father = father if female else person
    family = _children_family(people, rng, origin, members[0].person, father)
    for born in kids:
        siblings = [m.person.given_names.split()[0] for m in members if m.role == "child"]
        person = people.member(origin, rng.random() < 0.5, born, family, siblings)
        members.append(Member(household_id, f"{household_id}-{len(members) + 1}", person, "child"))
    return Household(household_id, members)


def build_households(rng: random.Random,
                     people: People) -> tuple[list[Household], dict[date, Member]]:
    """The 145 households, and the children born on the edge dates (keyed by that date)."""
    shapes = _shapes(rng)
    with_two_children = [i for i, (_, n) in enumerate(shapes) if n >= 2]
    slots = dict(zip(rng.sample(with_two_children, k=len(EDGE_BIRTH_DATES)), EDGE_BIRTH_DATES))
    households = [_build_household(people, rng, f"H{i + 1:03d}", kind, n, slots.get(i))
                  for i, (kind, n) in enumerate(shapes)]
    edges = {born: next(m for m in households[i].members
                        if m.role == "child" and m.person.date_of_birth == born)
             for i, born in slots.items()}
    return households, edges


__all__ = ["BsnPool", "Household", "Member", "People", "build_households"]
