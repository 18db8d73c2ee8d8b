"""A synthetic, reproducible data set for replaying the Nijmegen Hitmachine test.

In the CityDeal experiment "Hitmachine Nijmegen" the Veiligheidshuis asked three municipal
services by hand about 145 households (239 individuals) from its Top-150: schuldhulp (debt
counselling, asked about adults), leerplicht (school attendance, asked about school-age
children) and the regieteams (care coordination, asked about everyone). For 77 of the 145
households none of the three knew anyone. The real data are of course not available, so
this module invents people, caseloads and the professionals' manual answers such that the
machine's rules reproduce exactly those published figures.

Everything is derived from one ``random.Random(seed)`` and the fixed reference date
2011-03-01, so a seed always yields byte-identical files. Before writing, the generator
re-derives the machine's answers from the rows it is about to write and refuses to write if
they differ from what it planned: the figures hold by construction *and* by check.

Run ``python -m hitmachine.replay.synthetic --out DIR [--seed N]``.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from itertools import pairwise
from pathlib import Path

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


# --------------------------------------------------------------------------------------------
# Names


@dataclass(frozen=True, slots=True)
class Origin:
    """Names of one origin. Given names are listed per generation: ``(born_before, names)``."""

    code: str
    weight: int
    surnames: tuple[tuple[str, str], ...]  # (prefix, surname)
    male: tuple[tuple[int, tuple[str, ...]], ...]
    female: tuple[tuple[int, tuple[str, ...]], ...]
    max_given: int  # Dutch civil records often list three given names, Moroccan ones one


def _names(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def _surnames(text: str) -> tuple[tuple[str, str], ...]:
    """``"van der|Berg;Jansen"`` -> ``(("van der", "Berg"), ("", "Jansen"))``."""
    pairs = []
    for item in text.split(";"):
        prefix, _, surname = item.strip().rpartition("|")
        pairs.append((prefix, surname))
    return tuple(pairs)


DUTCH = Origin(
    "nl", 60,
    _surnames(
        "Jansen;Janssen;Hendriks;Peters;Willems;Gerritsen;Hermsen;Arts;Derksen;Thijssen;"
        "Jacobs;Claassen;Lamers;Verbeek;Kuijpers;Cornelissen;Bakker;Visser;Smit;Meijer;"
        "Mulder;Bos;Dekker;Verheijen;Rutten;Wijnen;Koenen;Evers;Peeters;Timmermans;"
        "Martens;Driessen;Kersten;Pouwels;Wolters;Hoogenboom;van|Dijk;de|Vries;"
        "van der|Berg;van den|Broek;de|Jong;van|Beek;van der|Linden;ter|Horst;in 't|Veld;"
        "van 't|Hof;van den|Heuvel;van|Rossum;de|Graaf;van de|Ven;te|Riele;van|Haren;"
        "den|Hartog;van der|Heijden;van|Gelder;de|Bruijn;van|Leeuwen;van|Essen;ten|Brink"
    ),
    male=(
        (1962, _names("Johannes Gerardus Hendrikus Petrus Wilhelmus Theodorus Antonius "
                      "Cornelis Franciscus Bernardus Adrianus Jacobus")),
        (1988, _names("Mark Dennis Patrick Martijn Jeroen Sander Erik Kevin Michel Ronald "
                      "Marco Robert Raymond Richard Stefan Bart")),
        (9999, _names("Daan Sem Thijs Luuk Jesse Bram Tim Stijn Milan Lucas Levi Noah Finn "
                      "Jayden Dylan Ruben Niels")),
    ),
    female=(
        (1962, _names("Maria Johanna Wilhelmina Hendrika Theodora Petronella Geertruida "
                      "Anna Cornelia Elisabeth Gerarda Adriana")),
        (1988, _names("Linda Sandra Kim Chantal Esther Monique Wendy Petra Nicole Marieke "
                      "Sabrina Miranda Ingrid Angelique Daniëlle Mariëlle")),
        (9999, _names("Emma Sophie Julia Lotte Sanne Fleur Lisa Anouk Eva Noa Tess Zoë "
                      "Chloë Naomi Demi Britt Iris Femke")),
    ),
    max_given=3,
)
TURKISH = Origin(
    "tr", 10,
    _surnames("Yılmaz;Kaya;Demir;Şahin;Çelik;Yıldız;Öztürk;Aydın;Arslan;Doğan;Kılıç;Aslan;"
              "Çetin;Koç;Kurt;Özdemir;Korkmaz;Polat;Erdoğan;Güneş;Bulut;Ünal;Akgül"),
    male=(
        (1985, _names("Mehmet Mustafa Ahmet Ali Hüseyin Hasan İbrahim Murat İsmail Osman "
                      "Halil Süleyman Erkan Serkan")),
        (9999, _names("Emre Burak Yusuf Ömer Kerem Enes Efe Mert Furkan Oğuz Emir Berat")),
    ),
    female=(
        (1985, _names("Fatma Ayşe Emine Hatice Zeynep Özlem Derya Songül Gülsen Sevgi Nurcan")),
        (9999, _names("Elif Merve Büşra Esra Selin Ecrin Yağmur Zehra Kübra Melek Sude")),
    ),
    max_given=2,
)
MOROCCAN = Origin(
    "ma", 12,
    _surnames("El Idrissi;El Amrani;Bouzian;Benali;El Khatib;Ait Ouali;Boukhari;El Hamdaoui;"
              "Azzouzi;Bakkali;Tahiri;Ouali;Chaouch;El Ouardi;Ben Haddou;Aarab;Abdellaoui;"
              "Boujaddayn;Essafi;Ziani;Aït Taleb"),
    male=(
        (1985, _names("Mohamed Ahmed Mustapha Abdelkader Driss Hassan Abdelaziz Mimoun Said "
                      "Rachid Mohammed Abdellah")),
        (9999, _names("Youssef Karim Bilal Ayoub Anas Zakaria Adam Imran Rayan Soufiane "
                      "Nordin Ilias Mohamed")),
    ),
    female=(
        (1985, _names("Fatima Khadija Malika Naima Rachida Samira Latifa Fadma Zohra Habiba "
                      "Aicha")),
        (9999, _names("Nadia Hanan Soumaya Imane Salma Yasmina Aya Nour Ikram Hafsa Sara "
                      "Meryem Kaoutar")),
    ),
    max_given=1,
)
SURINAMESE = Origin(
    "sr", 7,
    _surnames("Pinas;Sapoen;Mahabier;Ramdin;Kromodimedjo;Biharie;Wongsodikromo;Doelwijt;"
              "Sabajo;Brunings;Lieuw-A-Soe;Ramsaran;Jagesar;Kalloe;Sarmo;Amatkarijo;Lachman;"
              "Tjon-A-Fong"),
    male=(
        (1985, _names("Ricardo Romano Glenn Roy Ravi Sunil Anand Jerry Dwight Clyde Errol "
                      "Ramon Harold")),
        (9999, _names("Rishi Jason Jayden Dwayne Giovanni Shaquille Xavier Damian Kevin")),
    ),
    female=(
        (1985, _names("Sharda Shanti Sharon Jennifer Marlene Ingrid Gerda Rita Sandra")),
        (9999, _names("Priya Gianna Kimberley Natasha Ashanti Jamila Shania Kiara Chelsea")),
    ),
    max_given=2,
)
ANTILLEAN = Origin(
    "cw", 5,
    _surnames("Martina;Cijntje;Isenia;Statia;Rosaria;Maduro;Croes;Doran;Wawoe;Koeiman;"
              "Pieternella;Girigorie;Janga;Felida;Sillé"),
    male=(
        (1985, _names("Ruben Juan Sidney Edsel Rignald Eugene Franklin Humphrey Lionel")),
        (9999, _names("Giovanni Shurandy Jurick Quincy Jeandro Jurmen Rigino Djurensly")),
    ),
    female=(
        (1985, _names("Maria Yolanda Jeanine Giselle Sherida Eldrith Marisela Sulaika")),
        (9999, _names("Shurella Shakira Kimberly Giselle Shanaira Jurissa Naisha")),
    ),
    max_given=2,
)
POLISH = Origin(
    "pl", 6,
    _surnames("Kowalczyk;Wróbel;Nowak;Kowalski;Wiśniewski;Wójcik;Kamiński;Lewandowski;"
              "Zieliński;Szymański;Woźniak;Dąbrowski;Kozłowski;Jankowski;Mazur;Krawczyk;"
              "Piotrowski;Grabowski;Pawłowski;Michalski"),
    male=(
        (1985, _names("Piotr Krzysztof Tomasz Paweł Andrzej Marek Marcin Grzegorz Dariusz "
                      "Jarosław")),
        (9999, _names("Michał Łukasz Kamil Jakub Szymon Mateusz Wojciech Bartosz Filip "
                      "Kacper")),
    ),
    female=(
        (1985, _names("Anna Katarzyna Agnieszka Małgorzata Joanna Magdalena Beata Ewa Dorota "
                      "Iwona")),
        (9999, _names("Zofia Julia Natalia Wiktoria Aleksandra Zuzanna Maja Oliwia Hanna "
                      "Lena")),
    ),
    max_given=2,
)
ORIGINS: tuple[Origin, ...] = (DUTCH, TURKISH, MOROCCAN, SURINAMESE, ANTILLEAN, POLISH)

# Surnames a professional reads as "the same" but the machine does not: they fold differently.
NEAR_MISSES = {
    "Jansen": "Janssen", "Janssen": "Jansen", "Hendriks": "Hendrikx", "Peters": "Peeters",
    "Peeters": "Peters", "Claassen": "Klaassen", "Meijer": "Meyer", "Thijssen": "Tijssen",
    "Kuijpers": "Kuypers", "Verheijen": "Verheyen", "Gerritsen": "Gerritse",
    "Derksen": "Dirksen", "Hermsen": "Hermse",
}


def _feminine(surname: str, origin: Origin) -> str:
    """Polish surnames in -ski/-cki take the feminine form -ska/-cka."""
    if origin is POLISH and surname.endswith(("ski", "cki", "dzki")):
        return surname[:-1] + "a"
    return surname


def _given_name_list(origin: Origin, female: bool, born: date) -> tuple[str, ...]:
    for born_before, names in origin.female if female else origin.male:
        if born.year < born_before:
            return names
    raise GenerationError("given-name generations must end with an open upper bound")


# --------------------------------------------------------------------------------------------
# The rules (the generator's own copy; the service has its own implementation)


def fold(text: str) -> str:
    """NFKD, combining marks removed, casefolded, letters only: 'in ’t Veld' -> 'intveld'."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return "".join(ch for ch in bare.casefold() if ch.isalpha())


def age_on(born: date, when: date = REFERENCE_DATE) -> int:
    """Age in whole years; the birthday itself counts as reached."""
    return when.year - born.year - ((when.month, when.day) < (born.month, born.day))


def discloses(agency: str, age: int) -> bool:
    """Whether a hit at ``agency`` is reported for someone of ``age`` (and whether it was asked)."""
    if agency == LEERPLICHT:
        return 5 <= age <= 17
    if agency == SCHULDHULP:
        return age >= 18
    return True


def bsn_is_valid(bsn: str) -> bool:
    """The 11-test; an 8-digit number is a BSN whose leading zero was dropped."""
    digits = bsn.zfill(9)
    if len(digits) != 9 or not digits.isdigit() or digits == "0" * 9:
        return False
    total = sum(w * int(d) for w, d in zip(range(9, 1, -1), digits[:8])) - int(digits[8])
    return total % 11 == 0


def _normalised_bsn(bsn: str) -> str | None:
    bsn = bsn.strip()
    return bsn.zfill(9) if bsn else None


@dataclass(frozen=True, slots=True)
class Record:
    """One row as written: a household member, or a registration in an agency's extract."""

    bsn: str
    given_names: str
    prefix: str
    surname: str
    date_of_birth: date

    @property
    def name_key(self) -> NameKey:
        return (fold(self.prefix + self.surname), self.date_of_birth.isoformat(),
                fold(self.given_names)[:1])

    def fields(self) -> list[str]:
        return [self.bsn, self.given_names, self.prefix, self.surname,
                self.date_of_birth.isoformat()]


# --------------------------------------------------------------------------------------------
# Spelling variants


def _strip_marks(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", bare)


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def _variant(record: Record, style: str) -> Record:
    """One way another system may write the same name. The caller checks the key still folds."""
    given, prefix, surname = record.given_names, record.prefix, record.surname
    if style == "strip":  # a system without diacritics: Çelik -> Celik
        return replace(record, given_names=_strip_marks(given), prefix=_strip_marks(prefix),
                       surname=_strip_marks(surname))
    if style == "join_prefix" and prefix:  # one surname field: "Van der Berg"
        return replace(record, prefix="", surname=f"{_capitalised(prefix)} {surname}")
    if style == "concat_upper":  # mainframe style: VANDERBERG, ELIDRISSI
        letters = "".join(c for c in prefix + surname if c.isalpha())
        return replace(record, prefix="", surname=letters.upper())
    if style == "upper":
        return replace(record, prefix=prefix.upper(), surname=surname.upper())
    if style == "first_given":
        return replace(record, given_names=given.split()[0])
    if style == "initials":
        return replace(record, given_names="".join(f"{n[0].upper()}." for n in given.split()))
    if style == "hyphen" and " " in surname:
        return replace(record, surname=surname.replace(" ", "-"))
    if style == "hyphen" and "-" in surname:
        return replace(record, surname=surname.replace("-", " "))
    return record


VARIANT_STYLES = ("strip", "join_prefix", "concat_upper", "upper", "first_given", "initials",
                  "hyphen")
VISIBLE_STYLES = ("strip", "join_prefix", "concat_upper", "hyphen")  # a person may miss these


def _folding_variants(record: Record, styles: Iterable[str]) -> list[str]:
    """Styles that change how ``record`` is written but not its name key.

    Some do not qualify for some names: upper-casing 'Yılmaz' gives 'YILMAZ', which folds to
    'yilmaz' and no longer to 'yılmaz' (the dotless i has no decomposition).
    """
    return [s for s in styles
            if (v := _variant(record, s)) != record and v.name_key == record.name_key]


def _spelled_differently(rng: random.Random, record: Record, *, visible: bool = False) -> Record:
    """``record`` in one or two folding-equal spelling variants."""
    preferred = _folding_variants(record, VISIBLE_STYLES) if visible else []
    styles = preferred or _folding_variants(record, VARIANT_STYLES)
    if not styles:
        return record
    chosen = rng.sample(styles, k=min(len(styles), rng.choice((1, 1, 2))))
    if preferred and not set(chosen) & set(VISIBLE_STYLES):
        chosen.append(preferred[0])
    for style in chosen:
        candidate = _variant(record, style)
        if candidate.name_key == record.name_key:
            record = candidate
    return record


def _near_miss(surname: str) -> str:
    """A surname a person reads as the same one but which folds differently (Jansen/Janssen)."""
    if surname in NEAR_MISSES:
        return NEAR_MISSES[surname]
    if "ij" in surname:
        return surname.replace("ij", "y", 1)
    for i in range(len(surname) - 1):
        if surname[i] == surname[i + 1]:
            return surname[:i] + surname[i + 1:]
    return surname + ("s" if surname.endswith("e") else "e")


# --------------------------------------------------------------------------------------------
# People


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
        first = self._rng.choice(_given_name_list(origin, female, born))
        extra = sum(self._rng.random() < 0.45 for _ in range(origin.max_given - 1))
        if origin is DUTCH:
            # Dutch middle names are the grandparents' traditional names ("Daan Johannes").
            pool = (origin.female if female else origin.male)[0][1]
            extra = max(extra, 1) if born.year < 1962 else extra
        else:
            pool = _given_name_list(origin, female, born)
        middle = self._rng.sample([n for n in pool if n != first], k=extra)
        return " ".join((first, *middle))

    def person(self, origin: Origin, female: bool, born: date,
               family: tuple[str, str] | None = None) -> Record:
        prefix, surname = family or self.family_name(origin)
        surname = _feminine(surname, origin) if female else surname
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


# --------------------------------------------------------------------------------------------
# Which household is known where


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
               if _folding_variants(plan.members[p[0]].person, ("strip", "join_prefix"))]
    pair = _pick(rng, visible, candidates)
    if pair is None:
        return
    member = plan.members[pair[0]]
    row = replace(_spelled_differently(rng, member.person, visible=True), bsn="")
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
    row = replace(person, bsn="", surname=_near_miss(person.surname))
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
        old = replace(_spelled_differently(rng, person), bsn="")
        plan.extra_rows.append((REGIETEAMS, old, "duplicate registration"))
        plan.note("registered twice by the regieteams (one individual)", pair[0])


# --------------------------------------------------------------------------------------------
# Rows


def _hit_row(rng: random.Random, member: Member, mode: str) -> Record:
    person = member.person
    if mode == "bsn":  # as registered; some systems abbreviate or capitalise
        return _spelled_differently(rng, person) if rng.random() < 0.25 else person
    if mode == "bsn8":
        return replace(person, bsn=person.bsn[1:])
    if mode == "bsn_misspelled":
        return replace(person, surname=_near_miss(person.surname))
    # Name only. If the Veiligheidshuis lacks the BSN the agency may still have it.
    keeps_bsn = not member.bsn_known and rng.random() < 0.5
    row = _spelled_differently(rng, person)
    return replace(row, bsn=person.bsn if keeps_bsn else "")


def member_rows(rng: random.Random, plan: Plan) -> dict[str, list[Record]]:
    rows: dict[str, list[Record]] = {agency: [] for agency in AGENCIES}
    members = plan.members
    for pair in sorted(plan.hits):
        row = plan.preset_rows.get(pair) or _hit_row(rng, members[pair[0]], plan.modes[pair])
        rows[pair[1]].append(row)
        if not _normalised_bsn(row.bsn) or not members[pair[0]].bsn_known:
            plan.note(f"matched on name only ({pair[1]})", pair[0])
    for agency, row, _ in plan.extra_rows:
        rows[agency].append(row)
    return rows


def _as_written(rng: random.Random, person: Record, agency: str) -> Record:
    row = _spelled_differently(rng, person) if rng.random() < 0.15 else person
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
                    row = replace(_spelled_differently(rng, row), bsn="")
                rows[code].append(row)
    return rows


# --------------------------------------------------------------------------------------------
# The machine's answers (the generator's own check)


def matched_member_ids(members: Iterable[Member], rows: Iterable[Record]) -> set[str]:
    """Members matched by at least one row: equal BSNs, or equal name keys if a BSN is missing."""
    rows = list(rows)
    bsns = {b for r in rows if (b := _normalised_bsn(r.bsn))}
    keys_without_bsn = {r.name_key for r in rows if not _normalised_bsn(r.bsn)}
    all_keys = {r.name_key for r in rows}
    matched = set()
    for member in members:
        record = member.record
        bsn = _normalised_bsn(record.bsn)
        if (bsn in bsns or record.name_key in keys_without_bsn) if bsn else (
                record.name_key in all_keys):
            matched.add(member.member_id)
    return matched


def machine_hits(households: Sequence[Household], extracts: dict[str, list[Record]]) -> set[Pair]:
    members = [m for h in households for m in h.members]
    ages = {m.member_id: m.age for m in members}
    return {(member_id, agency) for agency in AGENCIES
            for member_id in matched_member_ids(members, extracts[agency])
            if discloses(agency, ages[member_id])}


# --------------------------------------------------------------------------------------------
# Summary


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


# --------------------------------------------------------------------------------------------
# Putting it together


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
        rows[code].extend(_as_written(rng, person, code) for person in persons)
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


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[str | int]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def write_world(world: World, out_dir: Path) -> None:
    household_rows = [[m.household_id, m.member_id, *m.record.fields()]
                      for h in world.plan.households for m in h.members]
    _write_csv(out_dir / "households.csv", HOUSEHOLD_HEADER, household_rows)
    for relative, rows in world.files.items():
        _write_csv(out_dir / relative, PERSON_HEADER, [r.fields() for r in rows])
    _write_csv(out_dir / "manual.csv", MANUAL_HEADER, world.manual)
    (out_dir / "expected.json").write_text(world.summary.to_json(), encoding="utf-8")
    (out_dir / "README.md").write_text(render_readme(world), encoding="utf-8")


def generate(out_dir: Path, seed: int = DEFAULT_SEED) -> SyntheticSummary:
    """Write the synthetic Nijmegen data set for ``seed`` into ``out_dir``."""
    world = build_world(seed)
    write_world(world, Path(out_dir))
    return world.summary


# --------------------------------------------------------------------------------------------
# README


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _justice_figures(world: World) -> list[str]:
    plan = world.plan
    members = list(plan.members.values())
    quiet = {h.household_id for h in plan.households if not plan.combos[h.household_id]}
    lines = []
    known_anywhere: set[str] = set()
    for code in JUSTICE:
        rows = world.files[extract_path(code)]
        matched = matched_member_ids(members, rows)
        known_anywhere |= matched
        without = sum(not r.bsn for r in rows)
        lines.append(f"- `{extract_path(code)}`: {len(rows)} rows, {without} "
                     f"({round(100 * without / len(rows))}%) without BSN; "
                     f"{len(matched)} household members match.")
    reached = {m.rpartition("-")[0] for m in known_anywhere} & quiet
    lines.append(f"- {len(reached)} of the {len(quiet)} households without a hit at the three "
                 "municipal services have a member in at least one justice extract (matching "
                 "rule only, no disclosure rule applied).")
    return lines


README_INTRO = """\
# Synthetic replay data: Hitmachine Nijmegen

**Everything in this folder is synthetic.** No real person is described. Names are drawn from
lists of common Dutch, Turkish, Moroccan, Surinamese, Antillean and Polish names; BSNs are
random numbers that pass the 11-test; birth dates are random. Any resemblance to a real
person is coincidental.

The data re-enact the manual test of the CityDeal experiment *Hitmachine Nijmegen*: the
Veiligheidshuis asked schuldhulp (debt counselling, for adults), leerplicht (school
attendance, for school-age children) and the regieteams (municipal care coordination, for
everyone) about 145 households (239 individuals) from its Top-150. For 77 of the 145
households none of the three knew anyone. The data are built so that the Hitmachine's rules,
applied to the extracts below, give exactly those figures.

Generated by

    python -m hitmachine.replay.synthetic --out hitmachine/data/nijmegen --seed {seed}

({seed} is the default seed). The generator is deterministic: the same seed gives
byte-identical files, and a test checks that the committed files equal a fresh generation.
Do not edit these files by hand; change the generator and regenerate.
"""

README_RULES = """\
## Rules

Reference date: {reference_date}. An extract row matches a household member when both have a
BSN and the BSNs are equal (an 8-digit BSN is padded with a leading zero), or, when either
side has no BSN, when their name keys are equal. The name key is prefix + surname folded
(Unicode NFKD, combining marks removed, casefolded, letters only), the ISO birth date, and the
folded first letter of the given names. Two different BSNs never match.

A match is disclosed for leerplicht only for members aged 5 to 17 inclusive on the reference
date, for schuldhulp only for members aged 18 or over, for the regieteams always. A household
has a hit when at least one member has a disclosed hit at one of the three services.
"""


README_FILES = """\
## Files

UTF-8, comma-separated, one header line, dates as YYYY-MM-DD. The extracts have the columns
`bsn,given_names,prefix,surname,date_of_birth`.
"""

README_MANUAL = """\
## Manual answers

`manual.csv` asks leerplicht about members aged 5 to 17, schuldhulp about members aged 18 or
over and the regieteams about everyone (`known` is 0 or 1). The answers equal the machine's
except in the rows below. All are in households that have a hit either way, so the manual
answers also give 77 households without a hit.
"""


def _readme_files(world: World) -> str:
    sizes = {relative: len(rows) for relative, rows in world.files.items()}
    rows: list[tuple[str, object, str]] = [
        ("`households.csv`", world.summary.individuals,
         ("the 145 households and their members; `bsn` is empty for members known by name "
          "and birth date only")),
    ]
    rows += [(f"`{extract_path(a)}`", sizes[extract_path(a)],
              f"the whole {a} caseload: the household members it knows and everyone else")
             for a in AGENCIES]
    rows += [(f"`{extract_path(c)}`", sizes[extract_path(c)],
              "justice-chain registrations for the demo (not part of the 3-service test)")
             for c in JUSTICE]
    rows += [("`manual.csv`", len(world.manual),
              "the professionals' answers, one row per (member, service) that was asked"),
             ("`expected.json`", "", "the machine's expected figures and per-member hits")]
    return README_FILES + "\n" + _table(("file", "rows", "content"), rows) + "\n"


def _readme_figures(summary: SyntheticSummary) -> str:
    agencies = [(a, v["households"], v["individuals"]) for a, v in summary.by_agency.items()]
    return "\n".join((
        "## Figures\n",
        (f"{summary.households} households, {summary.individuals} individuals; "
         f"{summary.households_with_hits} households with a hit, "
         f"{summary.households_without_hits} without.\n"),
        _table(("service", "households", "individuals"), agencies) + "\n",
        _table(("combination", "households"), summary.by_combination.items()) + "\n",
        ("`expected.json` holds these figures and, in `member_hits`, every member with at\n"
         "least one disclosed hit (members without a hit are left out).\n"),
    ))


def _readme_manual(plan: Plan) -> str:
    rows = [(d.member_id, d.agency, d.manual, d.machine, d.reason) for d in plan.disagreements]
    return README_MANUAL + "\n" + _table(("member", "service", "manual", "machine", "why"),
                                         rows) + "\n"


def _readme_details(plan: Plan) -> str:
    features = [f"- {feature}: {', '.join(sorted(ids))}"
                for feature, ids in sorted(plan.notes.items())]
    edges = [f"{m.member_id} born {born.isoformat()} (age {m.age})"
             for born, m in sorted(plan.edges.items())]
    return ("## Deliberate details\n\n" + "\n".join(features) + "\n\n"
            + "Birth dates around the age limits: " + ", ".join(edges) + ".\n")


def render_readme(world: World) -> str:
    return "\n".join((
        README_INTRO.format(seed=world.summary.seed),
        _readme_files(world),
        README_RULES.format(reference_date=world.summary.reference_date),
        _readme_figures(world.summary),
        _readme_manual(world.plan),
        _readme_details(world.plan),
        "## Justice extracts\n\n" + "\n".join(_justice_figures(world)) + "\n",
    ))


# --------------------------------------------------------------------------------------------
# Command line


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hitmachine.replay.synthetic",
        description="Generate the synthetic Nijmegen replay data set.")
    parser.add_argument("--out", type=Path, required=True, help="directory to write into")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help=f"random seed (default {DEFAULT_SEED})")
    args = parser.parse_args(argv)
    summary = generate(args.out, args.seed)
    print(f"{summary.households} households, {summary.individuals} individuals, "
          f"{summary.households_without_hits} without a hit -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
