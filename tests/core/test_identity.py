"""Tests of hitmachine.core.identity: BSN normalisation, name keys, identities, ages.

The BSN rule is checked against python-stdnum (``stdnum.nl.bsn``) as an independent
oracle. Our rule: ASCII digits only, 8 or 9 of them (an 8-digit BSN gets its leading zero
back), spaces/dots/dashes only *between* digits, the 11-test, and never ``000000000``.
Where stdnum is more lenient, the difference is pinned down by a ``test_stdnum_differs_*``
test below, so that nobody "fixes" our rule towards stdnum by accident.
"""

from __future__ import annotations

import datetime as dt
import itertools
import unicodedata

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from stdnum.nl import bsn as stdnum_bsn

from hitmachine.core.errors import InvalidInput
from hitmachine.core.identity import (
    IdentifierKind,
    age_on,
    fold_letters,
    is_valid_bsn,
    make_name_key,
    normalise_bsn,
    normalise_identity,
)

# --------------------------------------------------------------------------- helpers

SEPARATORS = " .-"
BSN_WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2)  # the last digit has weight -1 (the 11-test)


def check_digit(first_eight: str) -> int:
    """The ninth digit that makes ``first_eight`` + digit pass the 11-test (10 = none)."""
    return sum(w * int(d) for w, d in zip(BSN_WEIGHTS, first_eight)) % 11


@st.composite
def valid_bsns(draw: st.DrawFn, *, leading_zero: bool = False) -> str:
    """Nine ASCII digits passing the 11-test, built (not filtered) from eight random digits
    (the first one a zero when ``leading_zero``: the BSNs with an eight-digit form)."""
    first = draw(st.text(alphabet="0123456789", min_size=8, max_size=8))
    if leading_zero:
        first = "0" + first[1:]
    digit = check_digit(first)
    assume(digit < 10)
    candidate = first + str(digit)
    assume(candidate != "000000000")
    return candidate


def interleave(digits: str, gaps: list[str]) -> str:
    """``digits`` with ``gaps[i]`` inserted after digit ``i`` (never before the first or
    after the last digit)."""
    return "".join(d + g for d, g in zip(digits, [*gaps[: len(digits) - 1], ""]))


nine_digit_strings = st.text(alphabet="0123456789", min_size=9, max_size=9)
eight_digit_strings = st.text(alphabet="0123456789", min_size=8, max_size=8)
separator_gaps = st.lists(st.text(alphabet=SEPARATORS, max_size=3), min_size=8, max_size=8)
# Every Unicode space (Zs) and dash (Pd): what a pasted BSN may have between its groups.
UNICODE_SEPARATORS = "".join(
    ch for ch in map(chr, range(0x110000))
    if unicodedata.category(ch) in ("Zs", "Pd")) + "."
unicode_separator_gaps = st.lists(st.text(alphabet=UNICODE_SEPARATORS, max_size=3),
                                  min_size=8, max_size=8)


def accepts(raw: str) -> bool:
    try:
        normalise_bsn(raw)
    except InvalidInput:
        return False
    return True


def assert_no_echo(exc: InvalidInput, value: str) -> None:
    """The error never repeats the offending value: not in str(), detail or any message."""
    assert value not in str(exc)
    assert value not in exc.detail
    for err in exc.errors:
        assert value not in err.message


def nth_birthday(born: dt.date, years: int) -> dt.date:
    """The day someone born on ``born`` turns ``years``: 1 March for a 29 February birthday in
    a common year (the Dutch rule cited in ``age_on``'s docstring)."""
    try:
        return born.replace(year=born.year + years)
    except ValueError:
        return dt.date(born.year + years, 3, 1)


ONE_DAY = dt.timedelta(days=1)
# A known-valid BSN from stdnum's own documentation and one derived here by the 11-test.
STDNUM_DOC_BSN = "111222333"
assert stdnum_bsn.is_valid(STDNUM_DOC_BSN)
EXAMPLE_BSN = "012345672"
assert check_digit(EXAMPLE_BSN[:8]) == int(EXAMPLE_BSN[8])
assert stdnum_bsn.is_valid(EXAMPLE_BSN)


# --------------------------------------------------------------------------- BSN vs stdnum

@given(nine_digit_strings)
def test_is_valid_bsn_agrees_with_stdnum_on_nine_digit_strings(digits: str) -> None:
    assert is_valid_bsn(digits) == stdnum_bsn.is_valid(digits)


@given(nine_digit_strings)
def test_normalise_bsn_accepts_exactly_what_stdnum_accepts_on_nine_digit_strings(
        digits: str) -> None:
    assert accepts(digits) == stdnum_bsn.is_valid(digits)


@given(valid_bsns())
def test_valid_bsns_from_our_strategy_are_valid_for_stdnum(bsn: str) -> None:
    assert stdnum_bsn.is_valid(bsn)
    assert normalise_bsn(bsn) == stdnum_bsn.compact(bsn)


@given(eight_digit_strings)
def test_eight_digit_strings_are_zero_padded_like_stdnum(digits: str) -> None:
    assert accepts(digits) == stdnum_bsn.is_valid(digits)
    if accepts(digits):
        assert normalise_bsn(digits) == stdnum_bsn.compact(digits) == "0" + digits


def test_all_zeros_is_rejected_by_both_rules() -> None:
    # 000000000 passes the bare 11-test (sum 0) but is not a BSN, for stdnum nor for us.
    assert sum(w * 0 for w in BSN_WEIGHTS) % 11 == 0
    assert not stdnum_bsn.is_valid("000000000")
    assert not is_valid_bsn("000000000")
    assert not accepts("000000000")
    assert not accepts("00000000")  # eight zeros pad to nine zeros


@given(st.text(alphabet="0123456789", min_size=1, max_size=7))
def test_seven_or_fewer_digits_are_always_rejected(digits: str) -> None:
    assert not accepts(digits)


def test_stdnum_differs_it_zero_pads_seven_digit_numbers_we_reject_them() -> None:
    # stdnum zero-fills *any* shorter number to nine digits; we only restore one lost
    # leading zero. Find the smallest 7-digit string stdnum accepts rather than hard-code it.
    seven = next(f"{n:07d}" for n in range(10**7) if stdnum_bsn.is_valid(f"{n:07d}"))
    assert stdnum_bsn.is_valid(seven)
    assert is_valid_bsn(seven.zfill(9))
    assert not accepts(seven)


@pytest.mark.parametrize("raw", [f"-{EXAMPLE_BSN}", f"{EXAMPLE_BSN}-", f".{EXAMPLE_BSN}",
                                 f"{EXAMPLE_BSN}.", f"-.{EXAMPLE_BSN}"])
def test_stdnum_differs_it_ignores_leading_and_trailing_dots_and_dashes_we_reject_them(
        raw: str) -> None:
    assert stdnum_bsn.is_valid(raw)
    assert not accepts(raw)


@pytest.mark.parametrize("raw", [
    "\uff10\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff12",  # fullwidth digits
])
def test_stdnum_differs_it_maps_fullwidth_digits_to_ascii_we_reject_them(raw: str) -> None:
    assert stdnum_bsn.is_valid(raw)
    assert not accepts(raw)


# Issue 14 item 11: a BSN as people paste it from a document or a web page.
@pytest.mark.parametrize("raw", [
    pytest.param("012\u00a0345\u00a0672", id="no-break-space"),
    pytest.param("012\u202f345\u202f672", id="narrow-no-break-space"),
    pytest.param("012\u2009345\u2009672", id="thin-space"),
    pytest.param("012\u3000345\u3000672", id="ideographic-space"),
    pytest.param("012\u2013345\u2013672", id="en-dash"),
    pytest.param("012\u2014345\u2014672", id="em-dash"),
    pytest.param("012\u2010345\u2011672", id="hyphen-and-non-breaking-hyphen"),
    pytest.param("012\u2012345\u2012672", id="figure-dash"),
    pytest.param("012\u00a0\u2013\u00a0345\u00a0\u2013\u00a0672", id="spaced-en-dash"),
    pytest.param("\u00a0012 345 672\u00a0", id="no-break-spaces-around"),
])
def test_unicode_spaces_and_dashes_between_groups_are_folded(raw: str) -> None:
    assert normalise_bsn(raw) == EXAMPLE_BSN


@pytest.mark.parametrize("raw", [
    pytest.param("\u2013012345672", id="leading-en-dash"),
    pytest.param("012345672\u2014", id="trailing-em-dash"),
    pytest.param("012\u2212345\u2212672", id="minus-sign-is-no-dash"),
    pytest.param("012\u200b345\u200b672", id="zero-width-space-is-no-space"),
    pytest.param("012\u00a0\uff13\uff14\uff15\u00a0672", id="fullwidth-digits-in-a-group"),
    pytest.param("012\u2013\u0663\u0664\u0665\u2013672", id="arabic-indic-digits-in-a-group"),
])
def test_unicode_folding_stops_at_separators(raw: str) -> None:
    assert not accepts(raw)


def test_surrounding_whitespace_is_trimmed_by_both_rules() -> None:
    # Deliberate in normalise_bsn (raw.strip() before the separator check): a pasted BSN
    # with a trailing newline or a leading space is still that BSN. Only *dots and dashes*
    # at the ends are rejected (see the stdnum_differs tests above).
    for raw in (f" {EXAMPLE_BSN}", f"{EXAMPLE_BSN}\n", f"\t{EXAMPLE_BSN} "):
        assert stdnum_bsn.is_valid(raw)
        assert normalise_bsn(raw) == EXAMPLE_BSN


# --------------------------------------------------------------------------- BSN forms

def test_eight_and_nine_digit_forms_normalise_to_the_same_value() -> None:
    assert normalise_bsn("12345672") == normalise_bsn("012345672") == "012345672"


@pytest.mark.parametrize("raw", ["0123.45.672", "012 345 672", "012-345-672", "12.34.56.72",
                                 "012 - 345 - 672"])
def test_separators_between_digits_are_tolerated(raw: str) -> None:
    assert normalise_bsn(raw) == EXAMPLE_BSN


REJECTED_BSNS = [
    pytest.param("", id="empty"),
    pytest.param("   ", id="blank"),
    pytest.param(".012345672", id="leading-dot"),
    pytest.param("012345672.", id="trailing-dot"),
    pytest.param("-012345672", id="leading-dash"),
    pytest.param("012345672-", id="trailing-dash"),
    pytest.param("01234567a", id="letter"),
    pytest.param("O12345672", id="letter-O-for-zero"),
    pytest.param("012\t345672", id="tab-inside"),
    pytest.param("\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0662", id="arabic-indic"),
    pytest.param("\uff10\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff12", id="fullwidth"),
    pytest.param("01234567\uff12", id="one-fullwidth-digit"),
    pytest.param("1234567", id="seven-digits"),
    pytest.param("0123456720", id="ten-digits"),
    pytest.param("000000000", id="all-zeros"),
    pytest.param("012345673", id="fails-11-test"),
]


@pytest.mark.parametrize("raw", REJECTED_BSNS)
def test_rejected_bsn_names_the_field_bsn(raw: str) -> None:
    with pytest.raises(InvalidInput) as info:
        normalise_bsn(raw)
    assert info.value.field == "bsn"
    assert [e.field for e in info.value.errors] == ["bsn"]


@pytest.mark.parametrize("raw", [p for p in REJECTED_BSNS if str(p.values[0]).strip()])
def test_rejected_bsn_error_never_echoes_the_value(raw: str) -> None:
    with pytest.raises(InvalidInput) as info:
        normalise_bsn(raw)
    assert_no_echo(info.value, raw)
    assert_no_echo(info.value, raw.strip())


@given(nine_digit_strings)
def test_no_rejection_of_a_nine_digit_string_echoes_it(digits: str) -> None:
    assume(not stdnum_bsn.is_valid(digits))
    with pytest.raises(InvalidInput) as info:
        normalise_bsn(digits)
    assert_no_echo(info.value, digits)


def test_the_field_name_can_be_chosen_by_the_caller() -> None:
    with pytest.raises(InvalidInput) as info:
        normalise_bsn("12", field="members.3.bsn")
    assert info.value.field == "members.3.bsn"


# --------------------------------------------------------------------------- BSN properties

@given(valid_bsns())
def test_normalised_bsn_is_exactly_nine_ascii_digits(bsn: str) -> None:
    out = normalise_bsn(bsn)
    assert len(out) == 9 and out.isascii() and out.isdigit()


@given(valid_bsns())
def test_normalising_is_idempotent(bsn: str) -> None:
    once = normalise_bsn(bsn)
    assert normalise_bsn(once) == once


@given(valid_bsns(), separator_gaps)
def test_separators_between_digits_never_change_the_result(bsn: str, gaps: list[str]) -> None:
    assert normalise_bsn(interleave(bsn, gaps)) == normalise_bsn(bsn)


@given(valid_bsns(), unicode_separator_gaps)
def test_unicode_spaces_and_dashes_between_digits_never_change_the_result(
        bsn: str, gaps: list[str]) -> None:
    assert normalise_bsn(interleave(bsn, gaps)) == bsn


@given(valid_bsns(), st.integers(min_value=0, max_value=8),
       st.sampled_from([c for c in map(chr, range(0x110000))
                        if unicodedata.category(c) == "Nd" and not c.isascii()]))
def test_a_non_ascii_digit_anywhere_is_refused(bsn: str, at: int, digit: str) -> None:
    assert not accepts(bsn[:at] + digit + bsn[at + 1:])


@given(valid_bsns(leading_zero=True), separator_gaps)
def test_dropping_the_leading_zero_with_separators_never_changes_the_result(
        bsn: str, gaps: list[str]) -> None:
    assert normalise_bsn(interleave(bsn[1:], gaps)) == bsn


# --------------------------------------------------------------------------- fold_letters

def _without_iota_subscript(ch: str) -> bool:
    # Polytonic Greek iota subscript (U+0345 in the decomposition, e.g. "ᾳ") is the one place
    # where str.upper() *adds a letter* ("ᾳ".upper() == "ΑΙ") while fold_letters drops the
    # subscript as a combining mark, so case variants fold differently. No Dutch registry
    # writes names in polytonic Greek; the case-insensitivity property excludes it.
    return "\u0345" not in unicodedata.normalize("NFD", ch)


letters = st.characters(categories=("Lu", "Ll", "Lt", "Lm", "Lo")).filter(_without_iota_subscript)
latin_letters = st.characters(min_codepoint=0x41, max_codepoint=0x24F,
                              categories=("Lu", "Ll", "Lt"))
name_words = st.text(alphabet=latin_letters, min_size=1, max_size=8)
name_separators = st.text(alphabet=" -'.", min_size=1, max_size=3)
combining_marks = st.characters(min_codepoint=0x300, max_codepoint=0x36F)


@given(st.text())
def test_fold_letters_is_idempotent(text: str) -> None:
    once = fold_letters(text)
    assert fold_letters(once) == once


@given(st.text())
def test_fold_letters_output_is_letters_only_without_combining_marks(text: str) -> None:
    out = fold_letters(text)
    assert all(ch.isalpha() for ch in out)
    assert not any(unicodedata.combining(ch) for ch in out)


@given(st.text(alphabet=letters, max_size=12))
def test_fold_letters_is_case_insensitive(text: str) -> None:
    folded = fold_letters(text)
    assert fold_letters(text.upper()) == folded
    assert fold_letters(text.lower()) == folded
    assert fold_letters(text.title()) == folded


@given(st.lists(name_words, min_size=2, max_size=4), st.data())
def test_separators_between_name_parts_do_not_change_the_fold(parts: list[str],
                                                              data: st.DataObject) -> None:
    joined = parts[0]
    for part in parts[1:]:
        joined += data.draw(name_separators) + part
    assert fold_letters(joined) == fold_letters("".join(parts))


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1,
               max_size=10), st.data())
def test_combining_accents_on_ascii_letters_do_not_change_the_fold(base: str,
                                                                   data: st.DataObject) -> None:
    accented = "".join(ch + data.draw(st.text(alphabet=combining_marks, max_size=2))
                       for ch in base)
    assert fold_letters(accented) == fold_letters(base) == base.lower()
    assert fold_letters(unicodedata.normalize("NFC", accented)) == base.lower()


def test_decomposed_and_precomposed_accents_fold_to_the_bare_letter() -> None:
    decomposed = "e\u0301"
    precomposed = "\u00e9"
    assert unicodedata.normalize("NFC", decomposed) == precomposed
    assert fold_letters(decomposed) == fold_letters(precomposed) == fold_letters("e") == "e"


@pytest.mark.parametrize(("marked", "plain"), [("Çelik", "Celik"), ("Yılmaz", "Yilmaz"),
                                               ("Wróbel", "Wrobel"), ("Łukasz", "Lukasz"),
                                               ("Øvergaard", "Overgaard"), ("Müller", "Muller")])
def test_marked_letters_fold_like_their_plain_spelling(marked: str, plain: str) -> None:
    assert fold_letters(marked) == fold_letters(plain)


def test_different_surnames_stay_different() -> None:
    assert fold_letters("Jansen") != fold_letters("Janssen")


# --------------------------------------------------------------------------- name keys

BIRTH = dt.date(1990, 5, 17)


def key(surname: str, given: str = "Jan", prefix: str | None = None,
        birth: dt.date | str = BIRTH) -> str:
    return make_name_key(surname=surname, prefix=prefix, given_names=given,
                         date_of_birth=birth).canonical()


def test_spellings_of_van_der_berg_give_one_name_key() -> None:
    spellings = {
        key("van der Berg"),
        key("Van der Berg"),
        key("Berg", prefix="van der"),
        key("vanderberg"),
        key("Van Der Berg"),
    }
    assert len(spellings) == 1


def test_name_key_keeps_birth_date_and_initial() -> None:
    name_key = make_name_key(surname="Berg", prefix="van der", given_names="Jan",
                             date_of_birth="1990-05-17")
    assert name_key.surname == "vanderberg"
    assert name_key.date_of_birth == BIRTH
    assert name_key.initial == "j"


def test_name_keys_differ_by_birth_date() -> None:
    assert key("Berg", birth=BIRTH) != key("Berg", birth=BIRTH + ONE_DAY)


def test_name_keys_differ_by_initial() -> None:
    assert key("Berg", given="Jan") != key("Berg", given="Piet")


def test_jansen_and_janssen_give_different_name_keys() -> None:
    assert key("Jansen") != key("Janssen")


@pytest.mark.parametrize(("marked", "plain"), [("Çelik", "Celik"), ("Yılmaz", "Yilmaz"),
                                               ("Wróbel", "Wrobel")])
def test_marked_surnames_give_the_plain_name_key(marked: str, plain: str) -> None:
    assert key(marked) == key(plain)


@pytest.mark.parametrize(("given", "initial"), [("Jan Pieter", "j"), (" émile", "e"),
                                                ("Łukasz", "l"), ("ÉMILE", "e"),
                                                ("- Anne", "a")])
def test_initial_is_the_first_folded_letter_of_the_given_names(given: str, initial: str) -> None:
    assert make_name_key(surname="Berg", prefix=None, given_names=given,
                         date_of_birth=BIRTH).initial == initial


@given(st.lists(name_words, min_size=1, max_size=3))
def test_initial_is_always_the_first_letter_of_the_folded_given_names(words: list[str]) -> None:
    given_names = " ".join(words)
    folded = fold_letters(given_names)
    assume(folded)
    assert make_name_key(surname="Berg", prefix=None, given_names=given_names,
                         date_of_birth=BIRTH).initial == folded[0]


def test_name_key_canonical_form_joins_folded_surname_iso_date_and_initial() -> None:
    canonical = key("Berg", given="Jan")
    assert canonical == f"berg|{BIRTH.isoformat()}|j"


# --------------------------------------------------------------------------- identities

NAME = {"surname": "Berg", "prefix": "van der", "given_names": "Jan",
        "date_of_birth": "1990-05-17"}
NAME_PARTS = ("surname", "given_names", "date_of_birth")


def test_bsn_only_gives_a_bsn_identity() -> None:
    ident = normalise_identity(bsn="12345672")
    assert ident.bsn == EXAMPLE_BSN
    assert ident.name_key is None
    assert ident.date_of_birth is None
    assert ident.identifiers() == [(IdentifierKind.BSN, EXAMPLE_BSN)]


def test_name_only_gives_a_name_key_identity() -> None:
    ident = normalise_identity(**NAME)
    assert ident.bsn is None
    assert ident.name_key == make_name_key(**NAME)
    assert ident.date_of_birth == BIRTH
    assert ident.identifiers() == [(IdentifierKind.NAME_BIRTHDATE,
                                    make_name_key(**NAME).canonical())]


MISSING_SUBSETS = [combo for n in (1, 2) for combo in itertools.combinations(NAME_PARTS, n)]


@pytest.mark.parametrize("missing", MISSING_SUBSETS, ids="+".join)
def test_without_a_bsn_every_missing_name_part_is_reported_at_once(
        missing: tuple[str, ...]) -> None:
    person = {k: v for k, v in NAME.items() if k not in missing}
    with pytest.raises(InvalidInput) as info:
        normalise_identity(**person)
    assert {e.field for e in info.value.errors} == set(missing)


@pytest.mark.parametrize("missing", MISSING_SUBSETS, ids="+".join)
def test_blank_name_parts_count_as_missing(missing: tuple[str, ...]) -> None:
    person = {k: ("  " if k in missing else v) for k, v in NAME.items()}
    with pytest.raises(InvalidInput) as info:
        normalise_identity(**person)
    assert {e.field for e in info.value.errors} == set(missing)


def test_missing_name_parts_and_a_bad_date_are_reported_together() -> None:
    with pytest.raises(InvalidInput) as info:
        normalise_identity(surname="Berg", date_of_birth="2021-02-29")
    assert {e.field for e in info.value.errors} == {"given_names", "date_of_birth"}


def test_bsn_with_a_complete_name_keeps_both() -> None:
    ident = normalise_identity(bsn="012.345.672", **NAME)
    assert ident.bsn == EXAMPLE_BSN
    assert ident.name_key == make_name_key(**NAME)
    assert [kind for kind, _ in ident.identifiers()] == [IdentifierKind.BSN,
                                                        IdentifierKind.NAME_BIRTHDATE]


@pytest.mark.parametrize("missing", MISSING_SUBSETS, ids="+".join)
def test_bsn_with_a_partial_name_keeps_only_the_bsn(missing: tuple[str, ...]) -> None:
    person = {k: v for k, v in NAME.items() if k not in missing}
    ident = normalise_identity(bsn=EXAMPLE_BSN, **person)
    assert ident.bsn == EXAMPLE_BSN
    assert ident.name_key is None
    assert ident.date_of_birth == (BIRTH if "date_of_birth" in person else None)


def test_an_invalid_bsn_is_not_rescued_by_a_complete_name() -> None:
    with pytest.raises(InvalidInput) as info:
        normalise_identity(bsn="012345673", **NAME)
    assert [e.field for e in info.value.errors] == ["bsn"]


IMPOSSIBLE_DATES = ["2021-02-29", "2020-13-01", "2020-1-1", "01-02-2020", "2020-02-30",
                    "2020-00-10", "1990/05/17", "17-05-1990", "1879-12-31"]


@pytest.mark.parametrize("raw", IMPOSSIBLE_DATES)
def test_impossible_birth_dates_are_rejected_without_echo(raw: str) -> None:
    with pytest.raises(InvalidInput) as info:
        normalise_identity(**{**NAME, "date_of_birth": raw})
    assert [e.field for e in info.value.errors] == ["date_of_birth"]
    assert_no_echo(info.value, raw)


@pytest.mark.parametrize("raw", IMPOSSIBLE_DATES)
def test_impossible_birth_dates_are_rejected_even_with_a_bsn(raw: str) -> None:
    with pytest.raises(InvalidInput) as info:
        normalise_identity(bsn=EXAMPLE_BSN, date_of_birth=raw)
    assert [e.field for e in info.value.errors] == ["date_of_birth"]
    assert_no_echo(info.value, raw)


def test_a_future_birth_date_is_rejected_without_echo() -> None:
    tomorrow = (dt.date.today() + ONE_DAY).isoformat()
    with pytest.raises(InvalidInput) as info:
        normalise_identity(**{**NAME, "date_of_birth": tomorrow})
    assert [e.field for e in info.value.errors] == ["date_of_birth"]
    assert_no_echo(info.value, tomorrow)


def test_today_is_an_acceptable_birth_date() -> None:
    today = dt.date.today()
    assert normalise_identity(**{**NAME, "date_of_birth": today.isoformat()}).date_of_birth \
        == today


@pytest.mark.parametrize("person", [{}, {"bsn": "", "surname": " ", "given_names": "",
                                         "date_of_birth": ""}, {"prefix": "van der"}])
def test_nothing_usable_is_an_error_on_the_bsn_field(person: dict[str, str]) -> None:
    with pytest.raises(InvalidInput) as info:
        normalise_identity(**person)
    assert info.value.field == "bsn"
    assert [e.field for e in info.value.errors] == ["bsn"]


# --------------------------------------------------------------------------- age_on

@pytest.mark.parametrize(("on", "age"), [
    (dt.date(2010, 6, 14), 9),   # the day before the 10th birthday
    (dt.date(2010, 6, 15), 10),  # the birthday itself counts as reached
    (dt.date(2010, 6, 16), 10),  # the day after
    (dt.date(2000, 6, 15), 0),   # the day of birth
    (dt.date(2001, 6, 14), 0),
])
def test_age_on_counts_a_birthday_as_reached(on: dt.date, age: int) -> None:
    assert age_on(dt.date(2000, 6, 15), on) == age


@pytest.mark.parametrize(("on", "age"), [
    (dt.date(2005, 2, 28), 0),  # common year: not yet 1 on 28 February ...
    (dt.date(2005, 3, 1), 1),   # ... reached on 1 March
    (dt.date(2007, 2, 28), 2),
    (dt.date(2007, 3, 1), 3),
    (dt.date(2008, 2, 28), 3),  # leap year: the day before the real birthday
    (dt.date(2008, 2, 29), 4),  # leap year: reached on 29 February itself
    (dt.date(2008, 3, 1), 4),
])
def test_age_on_for_a_29_february_birthday(on: dt.date, age: int) -> None:
    assert age_on(dt.date(2004, 2, 29), on) == age


@given(st.dates(min_value=dt.date(1880, 1, 1), max_value=dt.date(2100, 12, 31)),
       st.integers(min_value=0, max_value=120))
def test_age_on_changes_exactly_on_the_nth_birthday(born: dt.date, years: int) -> None:
    birthday = nth_birthday(born, years)
    assume(birthday <= dt.date.max - ONE_DAY)
    assert age_on(born, birthday) == years
    assert age_on(born, birthday + ONE_DAY) == years
    if years > 0:
        assert age_on(born, birthday - ONE_DAY) == years - 1


@given(st.dates(min_value=dt.date(1880, 1, 1), max_value=dt.date(2100, 12, 31)),
       st.integers(min_value=0, max_value=150 * 366), st.integers(min_value=0, max_value=366))
def test_age_on_never_decreases_over_time(born: dt.date, days_after_birth: int,
                                          step: int) -> None:
    earlier = born + dt.timedelta(days=days_after_birth)
    later = earlier + dt.timedelta(days=step)
    assert age_on(born, earlier) <= age_on(born, later)
