"""Tests of matching (hitmachine.core.matching): when an index entry is the query subject.

BSN pseudonyms decide whenever both sides have one; the name key (name + birth date) only
when either side lacks a BSN; pseudonyms are comparable only under one key version; and an
agency that knows the subject on several grounds is reported with the strongest ("bsn").
"""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from hitmachine.core.identity import normalise_identity
from hitmachine.core.keyring import Keyring, KeyVersion
from hitmachine.core.matching import (
    Entry,
    Match,
    match_basis,
    match_entry,
    match_subject,
    match_verified,
)
from hitmachine.core.pseudonym.base import HmacPseudonymiser, PseudonymSet

pseudonyms = st.binary(min_size=32, max_size=32)
maybe_pseudonyms = st.none() | pseudonyms
versions = st.integers(min_value=1, max_value=5)


def entry(bsn: bytes | None, name: bytes | None, *, agency: str = "om",
          version: int = 1) -> Entry:
    return Entry(agency=agency, key_version=version, bsn=bsn, name=name)


def subject(bsn: bytes | None, name: bytes | None, *, version: int = 1) -> PseudonymSet:
    return PseudonymSet(key_version=version, bsn=bsn, name=name)


# --------------------------------------------------------------------------- match_basis

@given(pseudonyms, maybe_pseudonyms, maybe_pseudonyms, versions)
def test_equal_bsn_pseudonyms_match_on_bsn_whatever_the_names(
        bsn: bytes, subject_name: bytes | None, entry_name: bytes | None, version: int) -> None:
    assert match_basis(subject(bsn, subject_name, version=version),
                       entry(bsn, entry_name, version=version)) == "bsn"


@given(pseudonyms, pseudonyms, pseudonyms)
def test_different_bsns_never_match_even_with_equal_names(bsn_a: bytes, bsn_b: bytes,
                                                         name: bytes) -> None:
    if bsn_a == bsn_b:
        bsn_b = bytes(b ^ 0xFF for b in bsn_b)
    assert match_basis(subject(bsn_a, name), entry(bsn_b, name)) is None


@given(pseudonyms, maybe_pseudonyms)
def test_subject_without_bsn_matches_on_equal_name(name: bytes, entry_bsn: bytes | None) -> None:
    assert match_basis(subject(None, name), entry(entry_bsn, name)) == "name_birthdate"


@given(pseudonyms, maybe_pseudonyms)
def test_entry_without_bsn_matches_on_equal_name(name: bytes, subject_bsn: bytes | None) -> None:
    assert match_basis(subject(subject_bsn, name), entry(None, name)) == "name_birthdate"


@given(maybe_pseudonyms, maybe_pseudonyms, pseudonyms, pseudonyms)
def test_different_names_do_not_match_without_a_common_bsn(
        subject_bsn: bytes | None, entry_bsn: bytes | None, name_a: bytes, name_b: bytes) -> None:
    if name_a == name_b:
        name_b = bytes(b ^ 0xFF for b in name_b)
    if subject_bsn is not None and entry_bsn is not None:
        entry_bsn = bytes(b ^ 0xFF for b in subject_bsn)  # keep the BSNs different
    assert match_basis(subject(subject_bsn, name_a), entry(entry_bsn, name_b)) is None


@given(pseudonyms, pseudonyms)
def test_a_bsn_only_side_never_matches_a_name_only_side(bsn: bytes, name: bytes) -> None:
    assert match_basis(subject(bsn, None), entry(None, name)) is None
    assert match_basis(subject(None, name), entry(bsn, None)) is None


@given(pseudonyms, pseudonyms, versions, versions)
def test_different_key_versions_never_match(bsn: bytes, name: bytes,
                                            v_subject: int, v_entry: int) -> None:
    if v_subject == v_entry:
        v_entry += 1
    assert match_basis(subject(bsn, name, version=v_subject),
                       entry(bsn, name, version=v_entry)) is None


# --------------------------------------------------------------------------- match_subject

def test_match_subject_only_compares_under_the_entry_key_version() -> None:
    same_bytes = b"\x01" * 32
    subj = {1: subject(same_bytes, same_bytes, version=1)}
    assert match_subject(subj, [entry(same_bytes, same_bytes, version=2)]) == {}


def test_match_subject_uses_the_pseudonyms_of_each_entry_version() -> None:
    subj = {1: subject(b"\x01" * 32, None, version=1), 2: subject(b"\x02" * 32, None, version=2)}
    entries = [entry(b"\x02" * 32, None, agency="om", version=2),
               entry(b"\x02" * 32, None, agency="reclassering", version=1)]
    assert match_subject(subj, entries) == {"om": "bsn"}


@given(st.permutations(["bsn", "name", "name", "none"]), pseudonyms, pseudonyms, pseudonyms)
def test_several_entries_at_one_agency_report_the_strongest_basis(
        order: list[str], bsn: bytes, name: bytes, other: bytes) -> None:
    if other in (bsn, name):
        other = bytes(b ^ 0xFF for b in other)
    kinds = {"bsn": entry(bsn, None), "name": entry(None, name), "none": entry(other, other)}
    subj = {1: subject(bsn, name)}
    assert match_subject(subj, [kinds[k] for k in order]) == {"om": "bsn"}


def test_name_only_entries_at_an_agency_report_name_birthdate() -> None:
    name = b"\x07" * 32
    subj = {1: subject(None, name)}
    assert match_subject(subj, [entry(None, name), entry(b"\x08" * 32, name)]) == \
        {"om": "name_birthdate"}


def test_each_agency_is_reported_separately() -> None:
    bsn, name = b"\x01" * 32, b"\x02" * 32
    subj = {1: subject(bsn, name)}
    entries = [entry(bsn, None, agency="om"), entry(None, name, agency="leerplicht"),
               entry(b"\x03" * 32, name, agency="schuldhulp")]
    assert match_subject(subj, entries) == {"om": "bsn", "leerplicht": "name_birthdate"}


def test_no_entries_no_hits() -> None:
    assert match_subject({1: subject(b"\x01" * 32, None)}, []) == {}


# --------------------------------------------------------------------------- end to end

CREATED = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
PSEUDONYMISER = HmacPseudonymiser(Keyring("hmac", (KeyVersion(1, b"\x11" * 32, CREATED),
                                                   KeyVersion(2, b"\x22" * 32, CREATED))))
JAN = {"surname": "Berg", "prefix": "van der", "given_names": "Jan",
       "date_of_birth": "1990-05-17"}


def pseudonymise(version: int = 1, /, **person: str) -> PseudonymSet:
    return PSEUDONYMISER.pseudonymise([normalise_identity(**person)], version)[0]


def as_entry(ps: PseudonymSet, agency: str = "om") -> Entry:
    return Entry(agency=agency, key_version=ps.key_version, bsn=ps.bsn, name=ps.name)


def test_two_people_with_one_name_and_birth_date_but_different_bsns_do_not_match() -> None:
    queried = pseudonymise(bsn="012345672", **JAN)
    registered = pseudonymise(bsn="111222333", **JAN)
    assert queried.name == registered.name
    assert match_basis(queried, as_entry(registered)) is None


def test_a_person_registered_without_bsn_is_found_by_name_and_birth_date() -> None:
    queried = pseudonymise(bsn="012345672", **JAN)
    registered = pseudonymise(surname="VANDERBERG", given_names="jan",
                              date_of_birth="1990-05-17")
    assert match_basis(queried, as_entry(registered)) == "name_birthdate"


def test_the_same_person_under_two_key_versions_does_not_match() -> None:
    queried = pseudonymise(1, bsn="012345672")
    registered = pseudonymise(2, bsn="012345672")
    assert match_basis(queried, as_entry(registered)) is None
    assert match_subject({1: queried}, [as_entry(registered)]) == {}
    assert match_subject({1: queried, 2: pseudonymise(2, bsn="012345672")},
                         [as_entry(registered)]) == {"om": "bsn"}


# --------------------------------------------------------------------------- verified birth dates
# (issue 13, finding 3): an age rule may count the query's birth date only when the agency's
# own data confirm it.

def test_a_bsn_match_confirms_the_birth_date_only_with_equal_birth_pseudonyms() -> None:
    bsn, born, other = b"\x01" * 32, b"\x02" * 32, b"\x03" * 32
    asked = PseudonymSet(1, bsn, None, born)
    assert match_entry(asked, Entry("om", 1, bsn, None, born)) == Match("bsn", True)
    assert match_entry(asked, Entry("om", 1, bsn, None, other)) == Match("bsn", False)
    assert match_entry(asked, Entry("om", 1, bsn, None, None)) == Match("bsn", False)
    assert match_entry(PseudonymSet(1, bsn, None), Entry("om", 1, bsn, None, born)) == \
        Match("bsn", False)


def test_a_name_key_match_confirms_the_birth_date() -> None:
    name = b"\x04" * 32
    assert match_entry(PseudonymSet(1, None, name), Entry("om", 1, None, name)) == \
        Match("name_birthdate", True)


def test_match_verified_prefers_a_confirmed_birth_date_then_the_bsn() -> None:
    bsn, born, name = b"\x01" * 32, b"\x02" * 32, b"\x04" * 32
    asked = {1: PseudonymSet(1, bsn, name, born)}
    unconfirmed = Entry("leerplicht", 1, bsn, None, None)
    by_name = Entry("leerplicht", 1, None, name)
    confirmed = Entry("leerplicht", 1, bsn, None, born)
    assert match_verified(asked, [unconfirmed, by_name]) == {
        "leerplicht": Match("name_birthdate", True)}
    assert match_verified(asked, [by_name, confirmed, unconfirmed]) == {
        "leerplicht": Match("bsn", True)}
    assert match_verified(asked, [unconfirmed]) == {"leerplicht": Match("bsn", False)}
