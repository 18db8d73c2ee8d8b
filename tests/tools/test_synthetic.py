"""Tests of the synthetic Nijmegen replay data and its generator.

The matching and disclosure rules are re-implemented here from their description, on purpose
without using the generator's helpers: the committed CSV files must give the published
figures to anyone who reads the rules, not only to the code that wrote them.
"""

from __future__ import annotations

import csv
import json
import unicodedata
from collections.abc import Iterator
from datetime import date
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hitmachine
from tools import synthetic
from tools.synthetic import SyntheticSummary, build_world, generate, main

DATA = Path(hitmachine.__file__).parent / "data" / "nijmegen"
REFERENCE = date(2011, 3, 1)
AGENCIES = ("leerplicht", "schuldhulp", "regieteams")
EXTRACTS = tuple(f"extracts/{a}.csv" for a in AGENCIES)
JUSTICE = ("extracts-justice/om.csv", "extracts-justice/reclassering.csv")
PERSON_HEADER = ["bsn", "given_names", "prefix", "surname", "date_of_birth"]

Row = dict[str, str]


# --------------------------------------------------------------------------------------------
# An independent reading of the rules


def passes_eleven_test(bsn: str) -> bool:
    if not bsn.isdigit() or len(bsn) not in (8, 9):
        return False
    digits = [int(c) for c in bsn.rjust(9, "0")]
    weights = (9, 8, 7, 6, 5, 4, 3, 2, -1)
    return any(digits) and sum(w * d for w, d in zip(weights, digits)) % 11 == 0


@cache  # why: the replay compares every member with every row
def folded(text: str) -> str:
    without_marks = "".join(c for c in unicodedata.normalize("NFKD", text)
                            if unicodedata.category(c) not in ("Mn", "Mc", "Me"))
    return "".join(c for c in without_marks.casefold() if c.isalpha())


def name_key(row: Row) -> tuple[str, str, str]:
    return (folded(row["prefix"] + row["surname"]), row["date_of_birth"],
            folded(row["given_names"])[:1])


def bsn_of(row: Row) -> str:
    return row["bsn"].strip().rjust(9, "0") if row["bsn"].strip() else ""


def same_person(member: Row, row: Row) -> bool:
    if bsn_of(member) and bsn_of(row):
        return bsn_of(member) == bsn_of(row)
    return name_key(member) == name_key(row)


def age(row: Row) -> int:
    born = date.fromisoformat(row["date_of_birth"])
    return REFERENCE.year - born.year - ((REFERENCE.month, REFERENCE.day) < (born.month, born.day))


def applies(agency: str, years: int) -> bool:
    return {"leerplicht": 5 <= years <= 17, "schuldhulp": years >= 18}.get(agency, True)


def read_csv(path: Path) -> list[Row]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def replay(folder: Path) -> dict[str, list[str]]:
    """member_id -> sorted agencies with a disclosed hit (members without hits left out)."""
    members = read_csv(folder / "households.csv")
    hits: dict[str, list[str]] = {}
    for agency in sorted(AGENCIES):
        rows = read_csv(folder / "extracts" / f"{agency}.csv")
        for member in members:
            if applies(agency, age(member)) and any(same_person(member, r) for r in rows):
                hits.setdefault(member["member_id"], []).append(agency)
    return dict(sorted(hits.items()))


def household_of(member_id: str) -> str:
    return member_id.rsplit("-", 1)[0]


# --------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def expected() -> dict[str, object]:
    data: dict[str, object] = json.loads((DATA / "expected.json").read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def members() -> list[Row]:
    return read_csv(DATA / "households.csv")


@pytest.fixture(scope="module")
def replayed() -> dict[str, list[str]]:
    return replay(DATA)


def files_under(folder: Path) -> Iterator[Path]:
    return (p.relative_to(folder) for p in sorted(folder.rglob("*")) if p.is_file())


# --------------------------------------------------------------------------------------------
# Reproducibility


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    generate(tmp_path / "a", seed=42)
    generate(tmp_path / "b", seed=42)
    names = list(files_under(tmp_path / "a"))
    assert names == list(files_under(tmp_path / "b"))
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_other_seed_gives_other_people(tmp_path: Path) -> None:
    generate(tmp_path / "a", seed=1)
    generate(tmp_path / "b", seed=2)
    first, second = (tmp_path / d / "households.csv" for d in ("a", "b"))
    assert first.read_bytes() != second.read_bytes()


def test_committed_files_equal_a_fresh_generation(tmp_path: Path) -> None:
    summary = generate(tmp_path)
    names = list(files_under(tmp_path))
    assert names == list(files_under(DATA)), "regenerate: python -m tools.synthetic --out hitmachine/data/nijmegen"
    for name in names:
        assert (tmp_path / name).read_bytes() == (DATA / name).read_bytes(), name
    assert summary == SyntheticSummary.from_json((DATA / "expected.json").read_text("utf-8"))


def test_command_line_writes_the_data_set(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--out", str(tmp_path), "--seed", "7"]) == 0
    assert "77 without a hit" in capsys.readouterr().out
    assert {str(p) for p in files_under(tmp_path)} >= {"households.csv", "manual.csv",
                                                       "expected.json", "README.md", *EXTRACTS}


def test_summary_survives_json() -> None:
    summary = build_world(3).summary
    assert SyntheticSummary.from_json(summary.to_json()) == summary


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_every_seed_reproduces_the_published_figures(seed: int) -> None:
    summary = build_world(seed).summary
    assert (summary.households, summary.individuals) == (145, 239)
    assert (summary.households_with_hits, summary.households_without_hits) == (68, 77)
    assert 4 <= len(summary.manual_disagreements) <= 6


# --------------------------------------------------------------------------------------------
# Shape of the committed files


def test_figures_145_households_239_individuals_77_without_hit(
        members: list[Row], expected: dict[str, object]) -> None:
    assert len({m["household_id"] for m in members}) == 145
    assert len(members) == 239
    assert expected["households"] == 145 and expected["individuals"] == 239
    assert expected["households_without_hits"] == 77
    assert expected["households_with_hits"] == 68
    assert expected["by_combination"]["none"] == 77  # type: ignore[index]


def test_files_have_the_documented_headers() -> None:
    with (DATA / "households.csv").open(encoding="utf-8") as handle:
        assert handle.readline() == "household_id,member_id," + ",".join(PERSON_HEADER) + "\n"
    for name in (*EXTRACTS, *JUSTICE):
        with (DATA / name).open(encoding="utf-8") as handle:
            assert handle.readline() == ",".join(PERSON_HEADER) + "\n", name
    with (DATA / "manual.csv").open(encoding="utf-8") as handle:
        assert handle.readline() == "household_id,member_id,agency,known\n"
    for path in DATA.rglob("*.csv"):
        assert b"\r" not in path.read_bytes(), path


def test_household_and_member_ids(members: list[Row]) -> None:
    ids = [m["member_id"] for m in members]
    assert len(ids) == len(set(ids))
    assert sorted({m["household_id"] for m in members}) == [f"H{i:03d}" for i in range(1, 146)]
    for member in members:
        assert household_of(member["member_id"]) == member["household_id"]


def test_households_mix_singles_couples_and_families(members: list[Row]) -> None:
    sizes: dict[str, int] = {}
    for member in members:
        sizes[member["household_id"]] = sizes.get(member["household_id"], 0) + 1
    assert 1 in sizes.values() and 2 in sizes.values() and max(sizes.values()) >= 5
    ages = [age(m) for m in members]
    assert any(a < 5 for a in ages) and any(5 <= a <= 17 for a in ages)
    assert sum(a >= 18 for a in ages) > len(ages) / 2


def test_every_bsn_passes_the_eleven_test(members: list[Row]) -> None:
    for name in ("households.csv", *EXTRACTS, *JUSTICE):
        for row in read_csv(DATA / name):
            assert not row["bsn"] or passes_eleven_test(row["bsn"]), (name, row["bsn"])
    household_bsns = [m["bsn"] for m in members if m["bsn"]]
    assert all(len(b) == 9 for b in household_bsns)
    assert len(household_bsns) == len(set(household_bsns))
    assert len(household_bsns) < len(members)  # some members are known by name only


def test_people_are_unique_by_bsn_across_the_data_set(members: list[Row]) -> None:
    """Whoever has a BSN has one identity: the same BSN never carries two birth dates."""
    born: dict[str, str] = {}
    for name in ("households.csv", *EXTRACTS, *JUSTICE):
        for row in read_csv(DATA / name):
            if row["bsn"]:
                assert born.setdefault(bsn_of(row), row["date_of_birth"]) == row["date_of_birth"]


def test_extract_sizes_look_like_whole_caseloads() -> None:
    sizes = {name: len(read_csv(DATA / name)) for name in (*EXTRACTS, *JUSTICE)}
    assert 550 <= sizes["extracts/leerplicht.csv"] <= 700
    assert 850 <= sizes["extracts/schuldhulp.csv"] <= 1000
    assert 250 <= sizes["extracts/regieteams.csv"] <= 400
    for name in JUSTICE:
        rows = read_csv(DATA / name)
        assert 0.3 <= sum(not r["bsn"] for r in rows) / len(rows) <= 0.5
        assert sum(age(r) >= 18 for r in rows) / len(rows) >= 0.8


def test_justice_extracts_include_household_members(members: list[Row]) -> None:
    for name in JUSTICE:
        rows = read_csv(DATA / name)
        assert sum(any(same_person(m, r) for r in rows) for m in members) >= 20, name


# --------------------------------------------------------------------------------------------
# The rules over the committed files


def test_oracle_reads_the_rules_as_specified() -> None:
    def row(given: str, prefix: str, surname: str, bsn: str = "") -> Row:
        return {"bsn": bsn, "given_names": given, "prefix": prefix, "surname": surname,
                "date_of_birth": "1980-01-01"}

    same = [row("Jan", "van der", "Berg"), row("J.", "", "Van der Berg"),
            row("jan", "", "vanderberg"), row("JAN", "VAN DER", "BERG")]
    assert len({name_key(r) for r in same}) == 1
    assert name_key(row("Ayşe", "", "Çelik")) == name_key(row("Ayse", "", "Celik"))
    assert name_key(row("Jan", "", "Jansen")) != name_key(row("Jan", "", "Janssen"))
    assert not same_person(row("Jan", "", "Jansen", "111222333"),
                           row("Jan", "", "Jansen", "123456782"))
    assert same_person(row("Jan", "", "Jansen", "012345672"), row("X", "", "Y", "12345672"))
    assert passes_eleven_test("111222333") and not passes_eleven_test("111222334")
    # The generator's own helpers agree on the same examples.
    assert synthetic.fold("in 't Veld") == folded("in 't Veld") == "intveld"
    assert synthetic.bsn_is_valid("12345672") and not synthetic.bsn_is_valid("000000000")


def test_independent_replay_gives_77_households_without_hit(
        members: list[Row], replayed: dict[str, list[str]]) -> None:
    with_hit = {household_of(member_id) for member_id in replayed}
    assert len({m["household_id"] for m in members} - with_hit) == 77


def test_independent_replay_gives_the_expected_member_hits(
        replayed: dict[str, list[str]], expected: dict[str, object]) -> None:
    assert replayed == expected["member_hits"]


def test_independent_replay_gives_the_expected_tallies(
        members: list[Row], replayed: dict[str, list[str]], expected: dict[str, object]) -> None:
    per_household: dict[str, set[str]] = {m["household_id"]: set() for m in members}
    for member_id, agencies in replayed.items():
        per_household[household_of(member_id)].update(agencies)
    combinations: dict[str, int] = {}
    for known_at in per_household.values():
        key = "+".join(sorted(known_at)) or "none"
        combinations[key] = combinations.get(key, 0) + 1
    assert combinations == expected["by_combination"]
    by_agency = {a: {"households": sum(a in s for s in per_household.values()),
                     "individuals": sum(a in s for s in replayed.values())} for a in AGENCIES}
    assert by_agency == expected["by_agency"]


def test_agency_combinations_are_spread(expected: dict[str, object]) -> None:
    combinations: dict[str, int] = expected["by_combination"]  # type: ignore[assignment]
    by_size = {n: sum(v for k, v in combinations.items() if k != "none" and k.count("+") == n - 1)
               for n in (1, 2, 3)}
    assert by_size[1] > by_size[2] > by_size[3] > 0


# --------------------------------------------------------------------------------------------
# Manual answers


def test_manual_rows_ask_what_applies_to_existing_members(members: list[Row]) -> None:
    by_id = {m["member_id"]: m for m in members}
    manual = read_csv(DATA / "manual.csv")
    asked = set()
    for answer in manual:
        member = by_id[answer["member_id"]]
        assert member["household_id"] == answer["household_id"]
        assert applies(answer["agency"], age(member)), answer
        assert answer["known"] in ("0", "1")
        asked.add((answer["member_id"], answer["agency"]))
    assert len(asked) == len(manual)
    assert asked == {(m["member_id"], a) for m in members for a in AGENCIES if applies(a, age(m))}


def test_manual_answers_differ_from_the_machine_only_where_declared(
        replayed: dict[str, list[str]], expected: dict[str, object]) -> None:
    differences = set()
    manual_hit_households = set()
    for answer in read_csv(DATA / "manual.csv"):
        machine = int(answer["agency"] in replayed.get(answer["member_id"], []))
        if int(answer["known"]) != machine:
            differences.add((answer["member_id"], answer["agency"], int(answer["known"]), machine))
        if answer["known"] == "1":
            manual_hit_households.add(answer["household_id"])
    declared = {(d["member_id"], d["agency"], d["manual"], d["machine"])
                for d in expected["manual_disagreements"]}  # type: ignore[attr-defined]
    assert differences == declared
    assert 4 <= len(declared) <= 6
    assert {(m, k) for _, _, m, k in declared} == {(0, 1), (1, 0)}  # both kinds of mistake
    assert 145 - len(manual_hit_households) == 77  # the published figure holds for both


# --------------------------------------------------------------------------------------------
# The deliberate details


def matches_in(name: str, members: list[Row]) -> list[tuple[Row, Row]]:
    rows = read_csv(DATA / name)
    return [(m, r) for m in members for r in rows if same_person(m, r)]


def test_some_hits_rest_on_the_name_key_alone_with_other_spellings(members: list[Row]) -> None:
    by_name = [(m, r) for name in EXTRACTS for m, r in matches_in(name, members)
               if not (m["bsn"] and r["bsn"])]
    assert len(by_name) >= 10
    assert any(not m["bsn"] for m, _ in by_name) and any(not r["bsn"] for _, r in by_name)
    respelled = [(m, r) for m, r in by_name
                 if (m["prefix"], m["surname"]) != (r["prefix"], r["surname"])]
    assert any(m["prefix"] and not r["prefix"] for m, r in respelled)  # prefix joined
    assert any(folded(m["surname"]) == folded(r["surname"]) and m["surname"] != r["surname"]
               for m, r in respelled)


def test_an_extract_writes_a_bsn_without_its_leading_zero(members: list[Row]) -> None:
    short = [(m, r) for name in EXTRACTS for m, r in matches_in(name, members)
             if len(r["bsn"]) == 8]
    assert short and all(m["bsn"] == "0" + r["bsn"] for m, r in short if m["bsn"])


def test_a_namesake_with_another_bsn_does_not_match(members: list[Row]) -> None:
    by_key = {name_key(m): m for m in members if m["bsn"]}
    namesakes = [(by_key[name_key(r)], r) for name in EXTRACTS for r in read_csv(DATA / name)
                 if r["bsn"] and name_key(r) in by_key
                 and bsn_of(by_key[name_key(r)]) != bsn_of(r)]
    assert namesakes
    assert all(not same_person(m, r) for m, r in namesakes)


def test_leerplicht_knows_members_it_may_not_disclose(members: list[Row]) -> None:
    outside = [m for m, _ in matches_in("extracts/leerplicht.csv", members)
               if not applies("leerplicht", age(m))]
    assert any(age(m) < 5 for m in outside) and any(age(m) >= 18 for m in outside)


def test_birthdays_on_and_after_the_reference_date(
        members: list[Row], replayed: dict[str, list[str]]) -> None:
    born = {m["date_of_birth"]: m for m in members}
    assert {"2006-03-01", "2006-03-02", "1993-03-01", "1993-03-02"} <= set(born)
    assert age(born["2006-03-01"]) == 5 and age(born["2006-03-02"]) == 4
    assert age(born["1993-03-01"]) == 18 and age(born["1993-03-02"]) == 17
    assert "leerplicht" in replayed[born["2006-03-01"]["member_id"]]
    assert "leerplicht" not in replayed.get(born["2006-03-02"]["member_id"], [])


def test_names_include_diacritics_and_prefixes(members: list[Row]) -> None:
    text = " ".join(m["given_names"] + " " + m["surname"] for m in members)
    assert any(unicodedata.normalize("NFKD", c) != c for c in text)
    assert {m["prefix"] for m in members} & {"van", "de", "van der", "van den", "ter", "in 't"}
