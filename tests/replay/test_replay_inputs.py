"""The replay checks every input file before anything is published, and says where each
problem is (file, line, column) without repeating the offending value."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hitmachine.cli.main import app
from hitmachine.cli.replay import parse_adapter_tokens, parse_reference_date
from hitmachine.core.errors import InvalidInput
from hitmachine.replay.inputs import Problem, ReplayInputError, load_inputs
from hitmachine.replay.model import ReplayOptions
from tests.replay.util import HOUSEHOLD_HEADER, MANUAL_HEADER, PERSON_HEADER, write_csv

REFERENCE = dt.date(2020, 6, 15)
AGENCIES = ("leerplicht", "schuldhulp", "regieteams", "om", "reclassering")
GOOD_BSN = "111222333"
OTHER_BSN = "123456782"
MEMBERS = [
    ("H1", "H1-1", GOOD_BSN, "Anna", "", "Jansen", "1980-05-01"),
    ("H1", "H1-2", "", "Mehmet", "", "Yılmaz", "2010-11-30"),
    ("H2", "H2-1", OTHER_BSN, "", "", "", "1975-01-01"),
]
EXTRACT = [(GOOD_BSN, "Anna", "", "Jansen", "1980-05-01"),
           ("", "Mehmet", "", "Yilmaz", "2010-11-30")]


def make(tmp_path: Path, *, members: Sequence[tuple[str, ...]] | None = None,
         household_header: tuple[str, ...] = HOUSEHOLD_HEADER,
         extracts: Mapping[str, Sequence[tuple[str, ...]]] | None = None,
         manual: Sequence[tuple[str, ...]] | None = None) -> dict[str, Path]:
    paths = {"households": write_csv(tmp_path / "households.csv", household_header,
                                     members if members is not None else MEMBERS)}
    for agency, rows in (extracts if extracts is not None else {"regieteams": EXTRACT}).items():
        write_csv(tmp_path / "extracts" / f"{agency}.csv", PERSON_HEADER, rows)
    (tmp_path / "extracts").mkdir(exist_ok=True)
    paths["extracts"] = tmp_path / "extracts"
    if manual is not None:
        paths["manual"] = write_csv(tmp_path / "manual.csv", MANUAL_HEADER, manual)
    return paths


def load(paths: dict[str, Path]):  # type: ignore[no-untyped-def]
    return load_inputs(households=paths["households"], extracts=paths["extracts"],
                       reference_date=REFERENCE, agencies=AGENCIES, manual=paths.get("manual"))


def problems(paths: dict[str, Path]) -> list[Problem]:
    with pytest.raises(ReplayInputError) as caught:
        load(paths)
    return caught.value.problems


def where(p: Problem) -> tuple[str, int | None, str | None]:
    return (Path(p.file).name, p.line, p.column)


def test_valid_input_is_read_in_file_order(tmp_path: Path) -> None:
    paths = make(tmp_path, manual=[("H1", "H1-1", "regieteams", "1"),
                                   ("H1", "H1-2", "om", "0")])
    inputs = load(paths)
    assert [h.household_id for h in inputs.households] == ["H1", "H2"]
    assert [m.member_id for m in inputs.members] == ["H1-1", "H1-2", "H2-1"]
    assert [m.line for m in inputs.members] == [2, 3, 4]
    assert inputs.agencies == ("regieteams",)
    assert inputs.extracts[0].rows == 2
    # The om row asks an agency without an extract: not compared, but counted.
    assert [(a.member_id, a.agency, a.known) for a in inputs.manual or ()] == [
        ("H1-1", "regieteams", True)]
    assert inputs.manual_not_compared == {"om": 1}
    assert inputs.members[2].query_fields() == {"bsn": OTHER_BSN, "date_of_birth": "1975-01-01"}


def test_missing_column_names_file_line_and_column(tmp_path: Path) -> None:
    header = tuple(c for c in HOUSEHOLD_HEADER if c != "date_of_birth")
    paths = make(tmp_path, household_header=header, members=[row[:-1] for row in MEMBERS])
    found = problems(paths)
    assert [where(p) for p in found] == [("households.csv", 1, "date_of_birth")]
    assert "missing from the header" in str(found[0])


def test_missing_column_in_an_extract(tmp_path: Path) -> None:
    paths = make(tmp_path)
    write_csv(paths["extracts"] / "schuldhulp.csv", ("bsn", "given_names", "surname",
                                                     "date_of_birth"), [])
    assert [where(p) for p in problems(paths)] == [("schuldhulp.csv", 1, "prefix")]


@pytest.mark.parametrize("value, message", [
    ("15-01-1980", "is not a date as YYYY-MM-DD"),
    ("1980-02-30", "is not a date as YYYY-MM-DD"),
    ("2021-01-01", "is after the reference date"),
    ("1870-01-01", "is before 1880"),
    ("", "is required"),
])
def test_bad_birth_date_in_households(tmp_path: Path, value: str, message: str) -> None:
    members = [MEMBERS[0], (*MEMBERS[1][:6], value), MEMBERS[2]]
    found = problems(make(tmp_path, members=members))
    assert [where(p) for p in found] == [("households.csv", 3, "date_of_birth")]
    assert message in found[0].message
    if value:
        assert value not in str(found[0])


def test_bad_date_in_an_extract_names_its_line(tmp_path: Path) -> None:
    rows = [*EXTRACT, ("", "Piet", "", "Smit", "1990-13-01")]
    found = problems(make(tmp_path, extracts={"regieteams": rows}))
    assert [where(p) for p in found] == [("regieteams.csv", 4, "date_of_birth")]
    assert "1990-13-01" not in str(found[0])


def test_duplicate_member_id(tmp_path: Path) -> None:
    members = [*MEMBERS, ("H3", "H1-2", "", "Piet", "", "Smit", "1990-01-01")]
    found = problems(make(tmp_path, members=members))
    assert [where(p) for p in found] == [("households.csv", 5, "member_id")]
    assert "duplicate member id H1-2 (first on line 3)" in found[0].message


def test_unknown_agency_file_name(tmp_path: Path) -> None:
    paths = make(tmp_path, extracts={"regieteams": EXTRACT, "politie": EXTRACT})
    found = problems(paths)
    assert [where(p) for p in found] == [("politie.csv", None, None)]
    assert "'politie' is not a configured agency" in found[0].message


def test_other_files_in_the_extracts_directory(tmp_path: Path) -> None:
    paths = make(tmp_path)
    (paths["extracts"] / "README.md").write_text("documentation is ignored\n")
    (paths["extracts"] / ".hidden.csv").write_text("ignored\n")
    assert load(paths).agencies == ("regieteams",)
    (paths["extracts"] / "schuldhulp.xlsx").write_bytes(b"PK")
    assert [where(p) for p in problems(paths)] == [("schuldhulp.xlsx", None, None)]


def test_an_empty_extracts_directory(tmp_path: Path) -> None:
    found = problems(make(tmp_path, extracts={}))
    assert [(Path(p.file).name, p.message) for p in found] == [
        ("extracts", "holds no <agency code>.csv extract")]


def test_bsn_failing_the_eleven_test_is_named_not_shown(tmp_path: Path) -> None:
    members = [("H1", "H1-1", "111222334", "Anna", "", "Jansen", "1980-05-01")]
    found = problems(make(tmp_path, members=members))
    assert [where(p) for p in found] == [("households.csv", 2, "bsn")]
    assert "11-test" in found[0].message and "111222334" not in str(found[0])


def test_a_row_the_adapter_would_skip_is_an_error(tmp_path: Path) -> None:
    rows = [*EXTRACT, ("", "Piet", "", "", "1990-01-01"), ("12345", "", "", "", "")]
    found = problems(make(tmp_path, extracts={"regieteams": rows}))
    assert [where(p) for p in found] == [("regieteams.csv", 4, "surname"),
                                         ("regieteams.csv", 5, "bsn")]


def test_bad_manual_answers(tmp_path: Path) -> None:
    manual = [("H1", "H1-1", "regieteams", "ja"),        # known must be 0 or 1
              ("H1", "H9-9", "regieteams", "1"),         # no such member
              ("H2", "H1-2", "regieteams", "1"),         # member of another household
              ("H1", "H1-1", "politie", "1"),            # not an agency
              ("H1", "H1-2", "regieteams", "0"),
              ("H1", "H1-2", "regieteams", "1")]         # asked twice
    found = problems(make(tmp_path, manual=manual))
    assert [where(p) for p in found] == [
        ("manual.csv", 2, "known"), ("manual.csv", 3, "member_id"),
        ("manual.csv", 4, "household_id"), ("manual.csv", 5, "agency"),
        ("manual.csv", 7, "agency")]
    assert "must be 0 or 1" in found[0].message
    assert "member H1-2 is in household H1 (households file, line 3)" in found[2].message
    assert "first on line 6" in found[4].message


def test_every_problem_in_every_file_is_reported_at_once(tmp_path: Path) -> None:
    members = [*MEMBERS, ("H3", "H3-1", "", "Piet", "", "Smit", "1990-02-30")]
    paths = make(tmp_path, members=members,
                 extracts={"regieteams": [*EXTRACT, ("", "X", "", "Y", "bad")],
                           "onbekend": EXTRACT},
                 manual=[("H1", "H1-1", "regieteams", "2")])
    found = problems(paths)
    assert sorted(where(p) for p in found) == sorted([
        ("households.csv", 5, "date_of_birth"), ("manual.csv", 2, "known"),
        ("onbekend.csv", None, None), ("regieteams.csv", 4, "date_of_birth")])


def test_line_numbers_count_physical_lines(tmp_path: Path) -> None:
    """A quoted field spanning two lines, and blank lines, do not shift later line numbers."""
    text = ("household_id,member_id,bsn,given_names,prefix,surname,date_of_birth\n"
            'H1,H1-1,,"Anna\nMaria",,Jansen,1980-05-01\n'
            "\n"
            "H1,H1-2,,Piet,,Smit,1990-02-30\n")
    paths = make(tmp_path)
    paths["households"].write_text(text, encoding="utf-8")
    assert [where(p) for p in problems(paths)] == [("households.csv", 5, "date_of_birth")]


def test_not_utf8_and_unquoted_commas(tmp_path: Path) -> None:
    paths = make(tmp_path)
    paths["households"].write_bytes(
        b"household_id,member_id,bsn,given_names,prefix,surname,date_of_birth\n"
        b"H1,H1-1,,Anna,,Jansen,1980-05-01\n"
        b"H1,H1-2,,Jan, Piet,,Smit,1990-01-01\n"
        b"H1,H1-3,,Ren\xe9,,Smit,1990-01-01\n")
    found = problems(paths)
    assert [where(p) for p in found] == [("households.csv", 3, None), ("households.csv", 4, None)]
    assert "8 fields, the header 7" in found[0].message
    assert "not UTF-8" in found[1].message


def test_byte_order_mark_and_header_case_are_accepted(tmp_path: Path) -> None:
    paths = make(tmp_path)
    text = paths["households"].read_text(encoding="utf-8")
    paths["households"].write_text("\ufeff" + text.replace("member_id", "Member_ID", 1),
                                   encoding="utf-8")
    assert len(load(paths).members) == 3


def test_options_that_cannot_work_are_refused(tmp_path: Path) -> None:
    base: dict[str, Any] = dict(households=tmp_path / "h.csv", extracts=tmp_path,
                                out=tmp_path / "out", reference_date=REFERENCE)
    cases: list[tuple[dict[str, Any], str]] = [
        (dict(server="http://127.0.0.1:9"), "token"),
        (dict(token="x"), "token"),
        (dict(keyring=tmp_path / "k.json"), "keyring"),
        (dict(publish=False), "no-publish"),
        (dict(server="http://x", token="t", keep_instance=tmp_path / "i"), "keep-instance"),
        (dict(reference_date=dt.date.today() + dt.timedelta(days=1)), "reference-date"),
    ]
    for extra, field in cases:
        with pytest.raises(InvalidInput) as caught:
            ReplayOptions(**{**base, **extra}).check()
        assert caught.value.field == field, extra


def test_reference_date_and_adapter_token_parsing(tmp_path: Path) -> None:
    assert parse_reference_date("2011-03-01") == dt.date(2011, 3, 1)
    for bad in ("2011-3-1", "01-03-2011", "2011-02-30"):
        with pytest.raises(InvalidInput):
            parse_reference_date(bad)
    file = tmp_path / "tokens"
    file.write_text("# adapter tokens\nleerplicht = hm_a\n\nschuldhulp=hm_b\n")
    assert parse_adapter_tokens(["om=hm_c"], file) == {
        "om": "hm_c", "leerplicht": "hm_a", "schuldhulp": "hm_b"}
    with pytest.raises(InvalidInput) as caught:
        parse_adapter_tokens(["om:hm_secret"], None)
    assert "hm_secret" not in caught.value.detail
    with pytest.raises(InvalidInput):
        parse_adapter_tokens(["om=a", "om=b"], None)


def test_command_reports_problems_and_publishes_nothing(tmp_path: Path) -> None:
    """Exit 2, every problem on its own line; the embedded instance is never even made."""
    members = [*MEMBERS, ("H3", "H1-1", "", "Piet", "", "Smit", "1990-02-30")]
    paths = make(tmp_path, members=members, extracts={"regieteams": EXTRACT, "politie": []})
    instance = tmp_path / "instance"
    result = CliRunner().invoke(app, [
        "replay", "--households", str(paths["households"]), "--extracts", str(paths["extracts"]),
        "--reference-date", REFERENCE.isoformat(), "--out", str(tmp_path / "out"),
        "--keep-instance", str(instance)])
    assert result.exit_code == 2, result.output
    output = result.output
    assert f"{paths['households']}, line 5, column member_id: duplicate member id H1-1" in output
    assert f"{paths['households']}, line 5, column date_of_birth" in output
    assert "politie.csv: 'politie' is not a configured agency" in output
    assert "3 problems in the input files; nothing was published" in output
    assert not instance.exists() and not (tmp_path / "out").exists()


def test_a_purpose_without_reference_date_is_refused_before_starting(tmp_path: Path) -> None:
    paths = make(tmp_path)
    result = CliRunner().invoke(app, [
        "replay", "--households", str(paths["households"]), "--extracts", str(paths["extracts"]),
        "--reference-date", REFERENCE.isoformat(), "--out", str(tmp_path / "out"),
        "--purpose", "casusoverleg"])
    assert result.exit_code == 2, result.output
    assert "--purpose does not allow a reference date" in result.output
    assert not (tmp_path / "out").exists()
