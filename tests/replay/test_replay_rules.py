"""The service's rules, through a whole replay on small hand-made households.

One embedded replay (real adapter, real HTTP query API, SQLite) over households built to
hit each rule: age limits on the reference date, name-key matches across spellings, a BSN
mismatch with the same name, a BSN written without its leading zero (both ways round), an
agency without an extract file, and manual answers in all four agreement cells. The right
answers are worked out here, member by member, from the rules as the issue states them.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from hitmachine.replay.engine import run_replay
from hitmachine.replay.model import ReplayOptions, ReplayOutcome
from hitmachine.store.schema import audit_records
from tests.helpers import make_bsn
from tests.replay.util import (
    HOUSEHOLD_HEADER,
    MANUAL_HEADER,
    PERSON_HEADER,
    age_on,
    agreement,
    rule_allows,
    tally,
    write_csv,
)

REFERENCE = dt.date(2022, 3, 1)  # 2022 is a common year: a 29 February birthday is tested
AGENCIES = ("leerplicht", "regieteams", "schuldhulp")  # the extract files; om has none

rng = random.Random(6)


def bsn_with_leading_zero() -> str:
    while True:
        bsn = make_bsn(rng)
        if bsn.startswith("0"):
            return bsn


BSN = {name: make_bsn(rng) for name in ("a1", "a2", "a3", "a4", "a5", "yilmaz", "devries",
                                        "smit", "smit_other", "x1", "x2", "kid")}
ZERO_1, ZERO_2 = bsn_with_leading_zero(), bsn_with_leading_zero()

# household, member, bsn, given names, prefix, surname, date of birth
MEMBERS = [
    # Ages on 2022-03-01, each known (by BSN) at leerplicht and at schuldhulp alike.
    ("AGE", "AGE-1", BSN["a1"], "Daan", "", "Oosterwijk", "2017-03-01"),   # 5 today
    ("AGE", "AGE-2", BSN["a2"], "Sem", "", "Oosterwijk", "2017-03-02"),    # 5 tomorrow
    ("AGE", "AGE-3", BSN["a3"], "Lotte", "", "Oosterwijk", "2004-03-01"),  # 18 today
    ("AGE", "AGE-4", BSN["a4"], "Fleur", "", "Oosterwijk", "2004-03-02"),  # 18 tomorrow
    ("AGE", "AGE-5", BSN["a5"], "Iris", "", "Oosterwijk", "2004-02-29"),   # 18 on 1 March
    # Name keys across spellings; regieteams and schuldhulp registered them without BSN.
    ("NAME", "NAME-1", "", "Jan Willem", "van der", "Berghuizen", "1980-01-01"),
    ("NAME", "NAME-2", "", "Ayşe", "", "Çelikkaya", "1975-05-05"),
    ("NAME", "NAME-3", BSN["yilmaz"], "Mehmet", "", "Yılmazoğlu", "1991-11-30"),
    ("NAME", "NAME-4", "", "Piet", "", "Jansenius", "1970-07-07"),
    ("NAME", "NAME-5", BSN["devries"], "Kees", "de", "Vriesendorp", "1965-01-01"),
    # The same name and birth date under another BSN is another person.
    ("BSN", "BSN-1", BSN["smit"], "Anna", "", "Smitskamp", "1985-04-04"),
    # A BSN with a leading zero, written with eight digits on one side.
    ("ZERO", "ZERO-1", ZERO_1, "Bram", "", "Nulmans", "1960-06-06"),
    ("ZERO", "ZERO-2", ZERO_2.lstrip("0"), "Britt", "", "Nulmans", "1962-02-02"),
    # Nobody knows them (and om, which has no extract here, is never asked).
    ("NONE", "NONE-1", BSN["x1"], "Tess", "", "Onbekendt", "1990-09-09"),
    ("NONE", "NONE-2", BSN["x2"], "Noa", "", "Onbekendt", "2012-12-12"),
    # A child known to schuldhulp: not disclosed, schuldhulp is only asked about adults.
    ("KID", "KID-1", BSN["kid"], "Luuk", "", "Kindermans", "2012-01-01"),
]

AGE_MEMBERS = [m for m in MEMBERS if m[0] == "AGE"]
EXTRACTS = {
    "leerplicht": [m[2:] for m in AGE_MEMBERS],
    "schuldhulp": [
        *(m[2:] for m in AGE_MEMBERS),
        ("", "Cornelis", "de", "Vriesendorp", "1965-01-01"),  # Kees is not C.: other initial
        (BSN["smit_other"], "Anna", "", "Smitskamp", "1985-04-04"),  # another BSN
        (ZERO_1.lstrip("0"), "Bram", "", "Nulmans", "1960-06-06"),   # 8 digits here
        (BSN["kid"], "Luuk", "", "Kindermans", "2012-01-01"),
    ],
    "regieteams": [
        ("", "J.", "", "Van der Berghuizen", "1980-01-01"),   # prefix joined, initial only
        ("", "AYSE", "", "CELIKKAYA", "1975-05-05"),          # no diacritics, capitals
        ("", "Mehmet", "", "Yilmazoglu", "1991-11-30"),       # dotless i and ğ written plain
        ("", "Piet", "", "Janssenius", "1970-07-07"),         # a letter more: another key
        ("", "Anna", "", "Smitskamp", "1985-04-04"),          # no BSN: the name key decides
        (ZERO_2, "Britt", "", "Nulmans", "1962-02-02"),       # 9 digits here
    ],
}


def expected_hits() -> dict[str, set[str]]:
    hits: dict[str, set[str]] = {}
    for _, member, *_rest, born in AGE_MEMBERS:
        age = age_on(dt.date.fromisoformat(born), REFERENCE)
        hits[member] = {a for a in ("leerplicht", "schuldhulp") if rule_allows(a, age)}
    hits.update({
        "NAME-1": {"regieteams"}, "NAME-2": {"regieteams"}, "NAME-3": {"regieteams"},
        "NAME-4": set(),        # Jansenius / Janssenius fold to different letters
        "NAME-5": set(),        # schuldhulp wrote "Cornelis": the first initial differs
        "BSN-1": {"regieteams"},  # schuldhulp: two different BSNs never match
        "ZERO-1": {"schuldhulp"}, "ZERO-2": {"regieteams"},
        "KID-1": set(),         # known at schuldhulp, but 10 years old
    })
    return hits


MANUAL = [  # (household, member, agency, known)
    ("AGE", "AGE-1", "leerplicht", 1),   # machine 1 -> true positive
    ("AGE", "AGE-2", "leerplicht", 1),   # machine 0 (age 4) -> false negative
    ("AGE", "AGE-3", "leerplicht", 0),   # machine 0 (age 18) -> true negative
    ("AGE", "AGE-3", "schuldhulp", 1),   # true positive
    ("AGE", "AGE-4", "schuldhulp", 1),   # machine 0 (age 17) -> false negative
    ("NAME", "NAME-1", "regieteams", 0),  # machine 1 -> false positive
    ("NAME", "NAME-4", "regieteams", 1),  # machine 0 -> false negative
    ("NONE", "NONE-1", "regieteams", 0),  # true negative
    ("NONE", "NONE-1", "om", 1),          # om has no extract: not compared
]


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> tuple[ReplayOutcome, Path]:
    folder = tmp_path_factory.mktemp("rules")
    write_csv(folder / "households.csv", HOUSEHOLD_HEADER, MEMBERS)
    for agency, rows in EXTRACTS.items():
        write_csv(folder / "extracts" / f"{agency}.csv", PERSON_HEADER, rows)
    write_csv(folder / "manual.csv", MANUAL_HEADER, MANUAL)
    outcome = run_replay(ReplayOptions(
        households=folder / "households.csv", extracts=folder / "extracts",
        reference_date=REFERENCE, out=folder / "out", manual=folder / "manual.csv",
        keep_instance=folder / "instance"))
    return outcome, folder


def test_the_test_people_are_what_they_claim() -> None:
    ages = {m[1]: age_on(dt.date.fromisoformat(m[6]), REFERENCE) for m in AGE_MEMBERS}
    assert ages == {"AGE-1": 5, "AGE-2": 4, "AGE-3": 18, "AGE-4": 17, "AGE-5": 18}
    assert len(ZERO_1) == 9 and ZERO_1[0] == "0" and len(ZERO_2.lstrip("0")) == 8


def test_member_hits_follow_the_rules(replayed: tuple[ReplayOutcome, Path]) -> None:
    outcome, _ = replayed
    got = {m: set(a) for m, a in outcome.summary["member_hits"].items()}
    want = expected_hits()
    assert got == {m[1]: want.get(m[1], set()) for m in MEMBERS}


def test_age_limits_on_the_reference_date(replayed: tuple[ReplayOutcome, Path]) -> None:
    hits = replayed[0].summary["member_hits"]
    assert hits["AGE-1"] == ["leerplicht"]          # turns 5 on the reference date
    assert hits["AGE-2"] == []                      # turns 5 the day after
    assert hits["AGE-3"] == ["schuldhulp"]          # turns 18 on the reference date
    assert hits["AGE-4"] == ["leerplicht"]          # still 17
    assert hits["AGE-5"] == ["schuldhulp"]          # 29 February: 18 on 1 March


def test_how_each_hit_was_matched(replayed: tuple[ReplayOutcome, Path]) -> None:
    answers = replayed[0].answers
    assert answers["NAME-1"] == {"regieteams": "name_birthdate"}
    assert answers["NAME-3"] == {"regieteams": "name_birthdate"}  # member has a BSN, row not
    assert answers["BSN-1"] == {"regieteams": "name_birthdate"}
    assert answers["ZERO-1"] == {"schuldhulp": "bsn"}
    assert answers["ZERO-2"] == {"regieteams": "bsn"}


def test_summary_tallies(replayed: tuple[ReplayOutcome, Path]) -> None:
    outcome, _ = replayed
    households: dict[str, list[str]] = {}
    for household, member, *_ in MEMBERS:
        households.setdefault(household, []).append(member)
    want = tally(households, expected_hits(), AGENCIES)
    summary = outcome.summary
    assert {k: summary[k] for k in want} == want
    assert list(summary) == ["households", "individuals", "households_with_hits",
                             "households_without_hits", "individuals_with_hits", "by_agency",
                             "by_combination", "individuals_by_combination", "member_hits",
                             "agreement"]


def test_agency_without_an_extract_takes_no_part(replayed: tuple[ReplayOutcome, Path]) -> None:
    outcome, folder = replayed
    summary = outcome.summary
    assert list(summary["by_agency"]) == list(AGENCIES)
    assert list(summary["agreement"]) == list(AGENCIES)
    assert all(set(a) <= set(AGENCIES) for a in summary["member_hits"].values())
    assert '"om"' not in (folder / "out" / "summary.json").read_text()
    assert outcome.inputs.manual_not_compared == {"om": 1}


def test_agreement_counts(replayed: tuple[ReplayOutcome, Path]) -> None:
    outcome, _ = replayed
    rows = [(m, a, bool(k)) for _, m, a, k in MANUAL]
    want = agreement(rows, expected_hits(), AGENCIES)
    assert outcome.summary["agreement"] == want
    # Every kind of cell is exercised by these rows.
    cells = {c for per in want.values() for c, n in per.items() if n}
    assert cells == {"true_positive", "false_positive", "false_negative", "true_negative"}


def test_every_household_query_is_audited(replayed: tuple[ReplayOutcome, Path]) -> None:
    outcome, folder = replayed
    engine = create_engine(f"sqlite:///{folder / 'instance' / 'hitmachine.db'}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(audit_records.c.case_reference, audit_records.c.purpose,
                                       audit_records.c.detail)
                                .where(audit_records.c.event == "query.household")).all()
            total = conn.execute(select(func.count()).select_from(audit_records)).scalar_one()
    finally:
        engine.dispose()
    prefix = f"replay {outcome.run.run_id} "
    assert sorted(r.case_reference for r in rows) == sorted(
        prefix + h for h in {m[0] for m in MEMBERS})
    assert {r.purpose for r in rows} == {"replay"}
    assert {json.loads(r.detail)["query_date"] for r in rows} == {"2022-03-01"}
    assert total > len(rows)  # the publishing and token creation are audited too


def test_no_raw_identifier_in_the_instance_or_the_output(
        replayed: tuple[ReplayOutcome, Path]) -> None:
    _, folder = replayed
    stored = b"".join(p.read_bytes() for p in (folder / "instance").glob("hitmachine.db*"))
    written = b"".join(p.read_bytes() for p in (folder / "out").iterdir())
    needles = []
    for _, _, bsn, _, _, surname, born in MEMBERS:
        if bsn:
            needles += [bsn.encode(), bsn.lstrip("0").encode()]
        needles += [surname.encode(), surname.upper().encode(), born.encode()]
    for needle in needles:
        assert needle not in stored, needle
        assert needle not in written, needle
