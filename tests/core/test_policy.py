"""Tests of the disclosure policy (hitmachine.core.policy) with the DEFAULT_AGENCIES.

Leerplicht may be told about ages 5..17 and schuldhulp about 18 and over (the rules in
``DEFAULT_AGENCIES``); the other partners about anyone. Ages are whole years on the query
date, a birthday counts as reached on the day itself, and a 29 February birthday is reached
on 1 March in a common year. A 29 February child's 5th and 18th birthdays always fall in a
common year (neither 5 nor 18 is a multiple of 4), so those cases always use 1 March.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hitmachine.core.agencies import DEFAULT_AGENCIES, Agency, DisclosureRule
from hitmachine.core.policy import apply_policy, disclosable, unchecked_agencies

AGENCIES = {agency.code: agency for agency in DEFAULT_AGENCIES}
LEERPLICHT = AGENCIES["leerplicht"]
SCHULDHULP = AGENCIES["schuldhulp"]
UNBOUNDED = ("regieteams", "om", "reclassering")
ONE_DAY = dt.timedelta(days=1)


def nth_birthday(born: dt.date, years: int) -> dt.date:
    """The day someone born on ``born`` turns ``years`` (1 March for 29 February in a common
    year)."""
    try:
        return born.replace(year=born.year + years)
    except ValueError:
        return dt.date(born.year + years, 3, 1)


BIRTH_DATES = [
    pytest.param(dt.date(2001, 6, 15), id="15-june"),
    pytest.param(dt.date(2004, 2, 29), id="29-feb-2004"),
    pytest.param(dt.date(2008, 2, 29), id="29-feb-2008"),
    pytest.param(dt.date(2003, 12, 31), id="31-dec"),
    pytest.param(dt.date(2004, 1, 1), id="1-jan"),
]


def test_the_default_rules_are_the_ones_these_tests_assume() -> None:
    assert LEERPLICHT.disclosure == DisclosureRule(min_age=5, max_age=17)
    assert SCHULDHULP.disclosure == DisclosureRule(min_age=18)
    for code in UNBOUNDED:
        assert not AGENCIES[code].disclosure.age_bounded


def test_29_february_birthdays_at_5_and_18_fall_on_1_march() -> None:
    assert nth_birthday(dt.date(2004, 2, 29), 5) == dt.date(2009, 3, 1)
    assert nth_birthday(dt.date(2008, 2, 29), 18) == dt.date(2026, 3, 1)


# --------------------------------------------------------------------------- leerplicht

@pytest.mark.parametrize("born", BIRTH_DATES)
def test_leerplicht_not_disclosed_the_day_before_the_5th_birthday(born: dt.date) -> None:
    assert not disclosable(LEERPLICHT, born, nth_birthday(born, 5) - ONE_DAY)


@pytest.mark.parametrize("born", BIRTH_DATES)
def test_leerplicht_disclosed_on_the_5th_birthday(born: dt.date) -> None:
    assert disclosable(LEERPLICHT, born, nth_birthday(born, 5))


@pytest.mark.parametrize("born", BIRTH_DATES)
def test_leerplicht_disclosed_the_day_after_the_5th_birthday(born: dt.date) -> None:
    assert disclosable(LEERPLICHT, born, nth_birthday(born, 5) + ONE_DAY)


@pytest.mark.parametrize("born", BIRTH_DATES)
def test_leerplicht_disclosed_the_day_before_the_18th_birthday(born: dt.date) -> None:
    assert disclosable(LEERPLICHT, born, nth_birthday(born, 18) - ONE_DAY)


@pytest.mark.parametrize("born", BIRTH_DATES)
def test_leerplicht_not_disclosed_on_the_18th_birthday(born: dt.date) -> None:
    assert not disclosable(LEERPLICHT, born, nth_birthday(born, 18))


@pytest.mark.parametrize("born", BIRTH_DATES)
def test_leerplicht_not_disclosed_the_day_after_the_18th_birthday(born: dt.date) -> None:
    assert not disclosable(LEERPLICHT, born, nth_birthday(born, 18) + ONE_DAY)


# --------------------------------------------------------------------------- schuldhulp

@pytest.mark.parametrize("born", BIRTH_DATES)
def test_schuldhulp_not_disclosed_around_the_5th_birthday(born: dt.date) -> None:
    fifth = nth_birthday(born, 5)
    assert not any(disclosable(SCHULDHULP, born, day)
                   for day in (fifth - ONE_DAY, fifth, fifth + ONE_DAY))


@pytest.mark.parametrize("born", BIRTH_DATES)
def test_schuldhulp_not_disclosed_the_day_before_the_18th_birthday(born: dt.date) -> None:
    assert not disclosable(SCHULDHULP, born, nth_birthday(born, 18) - ONE_DAY)


@pytest.mark.parametrize("born", BIRTH_DATES)
def test_schuldhulp_disclosed_on_the_18th_birthday(born: dt.date) -> None:
    assert disclosable(SCHULDHULP, born, nth_birthday(born, 18))


@pytest.mark.parametrize("born", BIRTH_DATES)
def test_schuldhulp_disclosed_the_day_after_the_18th_birthday(born: dt.date) -> None:
    assert disclosable(SCHULDHULP, born, nth_birthday(born, 18) + ONE_DAY)


def test_29_february_child_on_28_february_of_the_18th_year_is_still_a_minor() -> None:
    born = dt.date(2008, 2, 29)
    on = dt.date(2026, 2, 28)
    assert disclosable(LEERPLICHT, born, on)
    assert not disclosable(SCHULDHULP, born, on)


# --------------------------------------------------------------------------- unbounded and unknown

@pytest.mark.parametrize("code", UNBOUNDED)
@given(born=st.dates(min_value=dt.date(1880, 1, 1), max_value=dt.date(2030, 12, 31)),
       days_later=st.integers(min_value=0, max_value=120 * 366))
def test_unbounded_agencies_are_disclosed_at_any_age(code: str, born: dt.date,
                                                     days_later: int) -> None:
    assert disclosable(AGENCIES[code], born, born + dt.timedelta(days=days_later))


@pytest.mark.parametrize("code", UNBOUNDED)
def test_unbounded_agencies_are_disclosed_without_a_birth_date(code: str) -> None:
    assert disclosable(AGENCIES[code], None, dt.date(2025, 1, 1))


@pytest.mark.parametrize("code", ["leerplicht", "schuldhulp"])
def test_age_bounded_agencies_are_not_disclosed_without_a_birth_date(code: str) -> None:
    assert not disclosable(AGENCIES[code], None, dt.date(2025, 1, 1))


@given(min_age=st.integers(min_value=0, max_value=100),
       span=st.integers(min_value=0, max_value=50),
       age=st.integers(min_value=0, max_value=150))
def test_a_disclosure_rule_allows_exactly_the_ages_in_its_range(min_age: int, span: int,
                                                               age: int) -> None:
    rule = DisclosureRule(min_age=min_age, max_age=min(min_age + span, 150))
    assert rule.allows(age) == (rule.min_age <= age <= rule.max_age)  # type: ignore[operator]


# --------------------------------------------------------------------------- apply_policy

def test_apply_policy_drops_hits_of_unknown_agencies() -> None:
    hits = {"om": "bsn", "politie": "bsn", "gemeente-x": "name_birthdate"}
    assert apply_policy(hits, AGENCIES, dt.date(1990, 1, 1), dt.date(2025, 1, 1),
                        verified=hits) == \
        {"om": "bsn"}


def test_apply_policy_keeps_the_basis_of_each_hit() -> None:
    hits = {"om": "name_birthdate", "reclassering": "bsn", "schuldhulp": "bsn"}
    assert apply_policy(hits, AGENCIES, dt.date(1990, 1, 1), dt.date(2025, 1, 1),
                        verified=hits) == hits


def test_apply_policy_drops_leerplicht_for_an_adult_and_schuldhulp_for_a_child() -> None:
    hits = {"leerplicht": "bsn", "schuldhulp": "bsn", "regieteams": "bsn"}
    on = dt.date(2025, 1, 1)
    adult = apply_policy(hits, AGENCIES, dt.date(1990, 1, 1), on, verified=hits)
    child = apply_policy(hits, AGENCIES, dt.date(2015, 1, 1), on, verified=hits)
    assert adult == {"schuldhulp": "bsn", "regieteams": "bsn"}
    assert child == {"leerplicht": "bsn", "regieteams": "bsn"}


def test_apply_policy_without_a_birth_date_keeps_only_unbounded_agencies() -> None:
    hits = {code: "name_birthdate" for code in AGENCIES}
    assert apply_policy(hits, AGENCIES, None, dt.date(2025, 1, 1), verified=hits) == \
        {code: "name_birthdate" for code in UNBOUNDED}


def test_apply_policy_uses_the_configured_agencies_not_the_defaults() -> None:
    strict_om = Agency(code="om", name="OM", contact="-", disclosure=DisclosureRule(min_age=12))
    hits = {"om": "bsn"}
    on = dt.date(2025, 1, 1)
    assert apply_policy(hits, {"om": strict_om}, dt.date(2015, 1, 1), on, verified=hits) == {}
    assert apply_policy(hits, {"om": strict_om}, dt.date(2010, 1, 1), on,
                        verified=hits) == {"om": "bsn"}


def test_an_unconfirmed_birth_date_counts_as_no_birth_date() -> None:
    """Issue 13, finding 3: the asker's birth date counts only where the agency's data
    confirm it; elsewhere the age is unknown and every age rule says no."""
    hits = {"leerplicht": "bsn", "schuldhulp": "bsn", "om": "bsn"}
    child, on = dt.date(2015, 1, 1), dt.date(2025, 1, 1)
    assert apply_policy(hits, AGENCIES, child, on, verified=()) == {"om": "bsn"}
    assert apply_policy(hits, AGENCIES, child, on, verified={"leerplicht"}) == {
        "leerplicht": "bsn", "om": "bsn"}


def test_the_unchecked_agencies_are_every_age_bounded_one_without_a_birth_date() -> None:
    assert unchecked_agencies(AGENCIES, None) == ("leerplicht", "schuldhulp")
    assert unchecked_agencies(AGENCIES, dt.date(2015, 1, 1)) == ()
