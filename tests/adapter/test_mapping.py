"""Mappings: loading and checking the TOML files, dates, filters, surnames, row reading."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hitmachine.core.errors import InvalidInput
from hitmachine.core.identity import fold_letters
from hitmachine_adapter.dates import DateParser
from hitmachine_adapter.errors import AdapterUsageError
from hitmachine_adapter.mapping import MappingError, load_mapping, parse_mapping, shipped_mappings
from hitmachine_adapter.names import expand_prefix, split_surname
from hitmachine_adapter.rows import FILTERED, Person, RowReader

AGENCIES = ("leerplicht", "schuldhulp", "regieteams", "om", "reclassering")


def doc(**over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "mapping": {"description": "test"},
        "source": {"format": "csv"},
        "columns": {"bsn": "BSN", "given_names": "Voornamen", "prefix": "Voorvoegsel",
                    "surname": "Achternaam", "date_of_birth": "Geboortedatum"},
        "dates": {"formats": ["%d-%m-%Y"]},
    }
    base.update(over)
    return base


def test_every_agency_has_a_shipped_mapping_and_a_sample() -> None:
    shipped = shipped_mappings()
    samples = {p.stem for p in (Path(__file__).parents[2] / "hitmachine_adapter" / "samples").iterdir()}
    for agency in AGENCIES:
        mapping = load_mapping(agency)
        assert mapping.agency == agency
        assert agency in shipped and agency in samples
    assert load_mapping("plain").columns["bsn"] == ("bsn",)


def test_the_shipped_mappings_say_what_the_issue_asks() -> None:
    assert load_mapping("leerplicht").date_formats == ("%d-%m-%Y",)
    schuldhulp = load_mapping("schuldhulp")
    assert (schuldhulp.encoding, schuldhulp.delimiter) == ("cp1252", ";")
    assert "full_surname" in load_mapping("regieteams").columns
    assert load_mapping("reclassering").is_sql


@pytest.mark.parametrize(("change", "says"), [
    ({"extra": {}}, "extra is not a known key"),
    ({"source": {"format": "xlsx"}}, "source.format must be one of"),
    ({"source": {"format": "csv", "encoding": "klingon"}}, "source.encoding"),
    ({"source": {"format": "csv", "delimiter": ";;"}}, "source.delimiter must be one character"),
    ({"source": {"format": "csv", "query": "SELECT 1"}}, "source.query is only for format sql"),
    ({"source": {"format": "sql"}}, "source.query is required"),
    ({"columns": {"given_names": "V", "date_of_birth": "G"}}, "needs surname"),
    ({"columns": {"surname": "A", "full_surname": "A", "given_names": "V",
                  "date_of_birth": "G"}}, "replaces surname and prefix"),
    ({"columns": {"surname": "A", "date_of_birth": "G"}}, "needs given_names"),
    ({"columns": {"surname": "A", "given_names": "V", "date_of_birth": "G", "nickname": "N"}},
     "columns.nickname is not a known key"),
    ({"columns": {"surname": 3, "given_names": "V", "date_of_birth": "G"}}, "columns.surname"),
    ({"dates": {"formats": ["%d-%m-%y"]}}, "two-digit years"),
    ({"dates": {"formats": ["%d-%m"]}}, "needs %d, %m and %Y"),
    ({"dates": {"formats": ["%d-%b-%Y"]}}, "%b is not supported"),
    ({"filter": [{"column": "Status"}]}, "needs exactly one of"),
    ({"filter": [{"column": "Status", "in": "Open"}]}, "must be a list of strings"),
    ({"filter": [{"column": "Status", "empty": "yes"}]}, "must be true or false"),
    # The rejects file shows the reference: never a column the person is read from.
    ({"columns": {"bsn": "BSN", "surname": "A", "given_names": "V", "date_of_birth": "G",
                  "reference": "bsn"}}, "columns.reference must not be a column the person"),
    ({"columns": {"surname": "A", "given_names": "V", "date_of_birth": "G",
                  "reference": ""}}, "columns.reference must be a column name"),
])
def test_a_wrong_mapping_fails_naming_the_key(change: dict[str, object], says: str) -> None:
    with pytest.raises(MappingError) as info:
        parse_mapping(doc(**change), name="test")
    assert says in str(info.value)
    assert info.value.exit_code == 2


def test_a_mapping_by_path_and_a_missing_one(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('[mapping]\n[source]\nformat = "tsv"\n[columns]\nsurname = "a"\n'
                    'given_names = "b"\ndate_of_birth = "c"\n', encoding="utf-8")
    mapping = load_mapping(path)
    assert (mapping.name, mapping.delimiter, mapping.quote) == ("mine", "\t", None)
    with pytest.raises(MappingError, match="neither a file nor a shipped mapping"):
        load_mapping(tmp_path / "nope.toml")
    path.write_text("[mapping\n", encoding="utf-8")
    with pytest.raises(MappingError, match="not valid TOML"):
        load_mapping(path)


# --------------------------------------------------------------------------- dates

@pytest.mark.parametrize(("formats", "text", "expected"), [
    (["%d-%m-%Y"], "04-03-2012", dt.date(2012, 3, 4)),
    (["%d-%m-%Y"], "4-3-2012", dt.date(2012, 3, 4)),
    (["%d-%m-%Y", "%Y-%m-%d"], "2012-03-04", dt.date(2012, 3, 4)),
    (["%Y%m%d"], "20120304", dt.date(2012, 3, 4)),
    (["%d/%m/%Y %H:%M:%S"], "04/03/2012 00:00:00", dt.date(2012, 3, 4)),
    (["%d.%m.%Y"], "04.03.2012", dt.date(2012, 3, 4)),
])
def test_dates_as_the_mapping_says(formats: list[str], text: str, expected: dt.date) -> None:
    assert DateParser(formats).parse(text) == expected


@pytest.mark.parametrize(("formats", "text", "message"), [
    (["%d-%m-%Y"], "2012-03-04", "is not a date as the mapping says (dd-mm-jjjj)"),
    (["%d-%m-%Y"], "31-02-2012", "is not an existing date"),
    (["%Y%m%d"], "2012034", "is not a date as the mapping says"),
    (["%Y%m%d"], "201203045", "is not a date as the mapping says"),
    (["%d-%m-%Y"], "04-03-2012 extra", "is not a date as the mapping says"),
])
def test_a_date_that_does_not_fit_names_the_field_not_the_value(formats: list[str], text: str,
                                                                 message: str) -> None:
    with pytest.raises(InvalidInput) as info:
        DateParser(formats).parse(text)
    assert info.value.errors[0].field == "date_of_birth"
    assert message in info.value.errors[0].message
    assert text not in str(info.value)


@given(st.dates(min_value=dt.date(1880, 1, 1), max_value=dt.date(2100, 12, 31)))
def test_day_first_and_packed_dates_round_trip(day: dt.date) -> None:
    parser = DateParser(["%d-%m-%Y", "%Y%m%d"])
    assert parser.parse(day.strftime("%d-%m-%Y")) == day
    assert parser.parse(day.strftime("%Y%m%d")) == day


# --------------------------------------------------------------------------- surnames

@pytest.mark.parametrize(("combined", "prefix", "surname"), [
    ("Berg, van der", "van der", "Berg"),
    ("van der Berg", "van der", "Berg"),
    ("v.d. Berg", "van der", "Berg"),
    ("V/D Berg", "van der", "Berg"),
    ("Berg, v.d.", "van der", "Berg"),
    ("Hof, van 't", "van 't", "Hof"),
    ("'t Hart", "'t", "Hart"),
    ("Jansen", None, "Jansen"),
    ("  Jansen  ", None, "Jansen"),
    ("Bakker-de Vries", None, "Bakker-de Vries"),
    ("De", None, "De"),
    ("van", None, "van"),
    ("Jansen,", None, "Jansen"),
    ("El Amrani", "El", "Amrani"),
])
def test_combined_surnames_split(combined: str, prefix: str | None, surname: str) -> None:
    assert split_surname(combined) == (prefix, surname)


@pytest.mark.parametrize("combined", ["Berg, Piet", "Berg, van, der", ", van der", "Berg, J."])
def test_a_combined_surname_that_cannot_be_read_is_an_error_without_the_value(
        combined: str) -> None:
    with pytest.raises(InvalidInput) as info:
        split_surname(combined)
    assert info.value.errors[0].field == "surname"
    assert "Berg" not in str(info.value) and "Piet" not in str(info.value)


@given(st.sampled_from(["van der", "van den", "de", "van", "ter", "'t", "van 't", ""]),
       st.text(alphabet="abcdefghijklmnopqrstuvwxyzéëçı", min_size=1, max_size=12))
def test_both_spellings_fold_to_what_the_query_path_folds(prefix: str, base: str) -> None:
    surname = base.capitalize()
    query_fold = fold_letters(f"{prefix}{surname}")
    for spelling in (f"{prefix} {surname}".strip(), f"{surname}, {prefix}" if prefix else surname):
        p, s = split_surname(spelling)
        assert fold_letters(f"{p or ''}{s or ''}") == query_fold


def test_prefix_abbreviations_are_written_out() -> None:
    assert expand_prefix("v.d.") == "van der"
    assert expand_prefix("v/d") == "van der"
    assert expand_prefix("van der") == "van der"
    assert expand_prefix("  ") is None
    assert expand_prefix(None) is None


# --------------------------------------------------------------------------- rows

def reader(**over: object) -> RowReader:
    return RowReader(parse_mapping(doc(**over), name="test"))


def test_a_row_becomes_a_person() -> None:
    r = reader()
    # needed columns: BSN, Voornamen, Voorvoegsel, Achternaam, Geboortedatum
    person = r.read((" 111222333 ", "Jan", "v.d.", "Berg", "04-03-2012"))
    assert person == Person("111222333", "Jan", "van der", "Berg", dt.date(2012, 3, 4))


def test_the_first_filled_in_column_counts() -> None:
    r = reader(columns={"given_names": ["Voornamen", "Roepnaam"], "surname": "A",
                        "date_of_birth": "G"})
    assert r.mapping.needed_columns() == ["Voornamen", "Roepnaam", "A", "G"]
    person = r.read(("  ", "Kim", "Jansen", "01-01-2000"))
    assert isinstance(person, Person) and person.given_names == "Kim"


def test_values_from_a_database_keep_their_types() -> None:
    r = reader()
    person = r.read((111222333, "Jan", None, "Berg", dt.datetime(2012, 3, 4, 0, 0)))
    assert person == Person("111222333", "Jan", None, "Berg", dt.date(2012, 3, 4))
    person = r.read((Decimal("11222333"), "Jan", None, "Berg", dt.date(2012, 3, 4)))
    assert isinstance(person, Person) and person.bsn == "11222333"


def test_every_unusable_field_is_named_at_once() -> None:
    r = reader(columns={"bsn": "B", "given_names": "V", "full_surname": "A", "date_of_birth": "G"})
    with pytest.raises(InvalidInput) as info:
        r.read(("x", "Jan\ufffd", "Berg, Piet", "2012-03-04"))
    assert [e.field for e in info.value.errors] == ["given_names", "surname", "date_of_birth"]
    assert "not valid utf-8 text" in info.value.errors[0].message
    assert "Piet" not in str(info.value) and "Jan" not in str(info.value)


def test_filters_keep_and_leave_out() -> None:
    r = reader(filter=[{"column": "Status", "in": ["Open", "In behandeling"]},
                       {"column": "Einddatum", "empty": True}])
    base = ("", "Jan", "", "Berg", "04-03-2012")
    assert isinstance(r.read((*base, " open ", "")), Person)
    assert isinstance(r.read((*base, "IN BEHANDELING", None)), Person)
    assert r.read((*base, "Afgesloten", "")) is FILTERED
    assert r.read((*base, "Open", "01-01-2026")) is FILTERED
    not_in = reader(filter=[{"column": "Status", "not_in": ["Afgedaan"]}])
    assert not_in.read((*base, "afgedaan")) is FILTERED
    assert isinstance(not_in.read((*base, None)), Person)
    equals = reader(filter=[{"column": "Status", "equals": "Open"}])
    assert equals.read((*base, "Dicht")) is FILTERED


def test_a_filter_on_a_column_the_source_lacks_is_a_usage_error(tmp_path: Path) -> None:
    from hitmachine_adapter.source import open_source

    path = tmp_path / "x.csv"
    path.write_text("BSN,Voornamen,Voorvoegsel,Achternaam,Geboortedatum\n", encoding="utf-8")
    mapping = parse_mapping(doc(filter=[{"column": "Status", "equals": "Open"}]), name="t")
    with pytest.raises(AdapterUsageError, match=r"lacks column.s. Status"):
        open_source(path, mapping)
