"""Identity normalisation: the one place where a person becomes a canonical value.

Adapters (at the agencies) and the query path (at the Veiligheidshuis) both call this
module. Two slightly different normalisations of the same person would silently turn a
hit into "not known", so there is exactly one implementation and it is strict: whatever
is not clearly a valid BSN or a usable name + birth date is rejected with an error that
names the field and never echoes the value.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass
from enum import Enum

from hitmachine.core.errors import FieldError, InvalidInput

# Between the digit groups of a BSN: dots, and any Unicode space or dash (category Zs, Pd),
# as documents and web pages render them ("111 222 333" with non-breaking spaces,
# "111–222–333" with en dashes). Tabs and other control characters are not separators.
_BSN_SEPARATOR_CATEGORIES = frozenset({"Zs", "Pd"})
_BSN_WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2, -1)
_ZERO_OFFSET = ord("0") * sum(_BSN_WEIGHTS)
_EARLIEST_BIRTH = dt.date(1880, 1, 1)
# Letters that NFKD leaves whole but that registrations routinely write without the mark
# ("Yılmaz" / "Yilmaz", "Wróbel"/"Łukasz" / "Lukasz"): fold them as the clerks do.
_TRANSLITERATE = str.maketrans({"ı": "i", "ł": "l", "Ł": "l", "ø": "o", "Ø": "o",
                                "đ": "d", "Đ": "d", "æ": "ae", "Æ": "ae", "œ": "oe",
                                "Œ": "oe", "þ": "th", "Þ": "th", "ð": "d", "Ð": "d"})


class IdentifierKind(str, Enum):
    """What a pseudonym was made from; part of the hashed message (domain separation)."""

    BSN = "bsn"
    NAME_BIRTHDATE = "name_birthdate"
    # A BSN with the birth date the agency (or the asker) holds for it: lets the service
    # check an asked birth date against the agency's own, for the age rules.
    BSN_BIRTHDATE = "bsn_birthdate"


def normalise_bsn(raw: str, *, field: str = "bsn") -> str:
    """Return the BSN as exactly nine ASCII digits, or raise ``InvalidInput``.

    Dots and any Unicode space or dash *between* digits are tolerated (people copy BSNs
    from letters and web pages that group them); the digits themselves must be ASCII. An
    eight-digit BSN gets its leading zero back. The 11-test decides.
    """
    text = raw.strip()
    if len(text) == 9 and text.isascii() and text.isdigit():  # the common case, unseparated
        if not is_valid_bsn(text):
            raise InvalidInput(field, "is not a valid BSN (fails the 11-test)")
        return text
    if not text:
        raise InvalidInput(field, "is empty")
    if _is_bsn_separator(text[0]) or _is_bsn_separator(text[-1]):
        raise InvalidInput(field, "must be 8 or 9 digits")
    digits = "".join(ch for ch in text if not _is_bsn_separator(ch))
    # isdigit() would accept Arabic-Indic and other Unicode digits; only ASCII is a BSN.
    if not digits.isascii() or not digits.isdigit() or len(digits) not in (8, 9):
        raise InvalidInput(field, "must be 8 or 9 digits")
    digits = digits.zfill(9)
    if not is_valid_bsn(digits):
        raise InvalidInput(field, "is not a valid BSN (fails the 11-test)")
    return digits


def _is_bsn_separator(ch: str) -> bool:
    return ch == "." or unicodedata.category(ch) in _BSN_SEPARATOR_CATEGORIES


def is_valid_bsn(digits: str) -> bool:
    """The 11-test on exactly nine ASCII digits; ``000000000`` is not a BSN."""
    if len(digits) != 9 or not digits.isascii() or not digits.isdigit():
        return False
    if digits == "000000000":
        return False
    # The weighted sum over the ASCII codes, less what the code of "0" (48) contributes:
    # the same as over the digits, without nine int() calls.
    d = digits.encode("ascii")
    total = (9 * d[0] + 8 * d[1] + 7 * d[2] + 6 * d[3] + 5 * d[4] + 4 * d[5] + 3 * d[6]
             + 2 * d[7] - d[8] - _ZERO_OFFSET)
    return total % 11 == 0


# ASCII text is its own NFKD form, has no combining marks, casefolds as lower() and has
# nothing to transliterate; its letters are exactly A-Z and a-z. Deleting the rest with one
# translate() gives fold_letters' result about six times faster (most names are ASCII).
_ASCII_NON_LETTERS = {c: None for c in range(128) if not chr(c).isalpha()}


def fold_letters(text: str) -> str:
    """Fold a name part to its letters: NFKD, combining marks dropped, casefolded.

    "Van der Berg", "van der berg" and "vanderberg" fold alike; so do "Çelik" and "celik".
    """
    if text.isascii():
        return text.translate(_ASCII_NON_LETTERS).lower()
    decomposed = unicodedata.normalize("NFKD", text.translate(_TRANSLITERATE))
    kept = (ch for ch in decomposed if not unicodedata.combining(ch))
    lowered = "".join(kept).casefold().translate(_TRANSLITERATE)
    # casefold can produce new combining marks (e.g. "İ" -> "i̇"); decompose once more.
    return "".join(
        ch for ch in unicodedata.normalize("NFKD", lowered) if ch.isalpha()
    )


def parse_birth_date(raw: str | dt.date, *, field: str = "date_of_birth",
                     today: dt.date | None = None) -> dt.date:
    """An ISO ``YYYY-MM-DD`` birth date that exists, is not in the future and not absurdly old."""
    if isinstance(raw, dt.date):
        value = raw
    else:
        text = raw.strip()
        if len(text) != 10 or text[4] != "-" or text[7] != "-":
            raise InvalidInput(field, "must be a date as YYYY-MM-DD")
        try:
            value = dt.date.fromisoformat(text)
        except ValueError:
            raise InvalidInput(field, "is not an existing date") from None
    if value < _EARLIEST_BIRTH:
        raise InvalidInput(field, "is before 1880")
    if value > (today or dt.date.today()):
        raise InvalidInput(field, "is in the future")
    return value


@dataclass(frozen=True, slots=True)
class NameKey:
    """Surname (with prefix), birth date and first initial, folded: the identity of a person
    without a known BSN."""

    surname: str
    date_of_birth: dt.date
    initial: str

    def canonical(self) -> str:
        # Letters only on both sides of the separators, and a fixed-width date: unambiguous.
        return f"{self.surname}|{self.date_of_birth.isoformat()}|{self.initial}"


def make_name_key(*, surname: str | None, prefix: str | None, given_names: str | None,
                  date_of_birth: str | dt.date | None) -> NameKey:
    """Build a name key from its parts, collecting every missing or unusable part."""
    errors: list[FieldError] = []
    folded_surname = fold_letters(f"{prefix or ''}{surname or ''}")
    if not (surname or "").strip():
        errors.append(FieldError("surname", "is required without a BSN"))
    elif not folded_surname:
        errors.append(FieldError("surname", "has no letters"))
    folded_given = fold_letters(given_names or "")
    if not (given_names or "").strip():
        errors.append(FieldError("given_names", "is required without a BSN"))
    elif not folded_given:
        errors.append(FieldError("given_names", "has no letters"))
    birth: dt.date | None = None
    if date_of_birth is None or (isinstance(date_of_birth, str) and not date_of_birth.strip()):
        errors.append(FieldError("date_of_birth", "is required without a BSN"))
    else:
        try:
            birth = parse_birth_date(date_of_birth)
        except InvalidInput as exc:
            errors.extend(exc.errors)
    if errors:
        raise InvalidInput.many(errors)
    assert birth is not None
    return NameKey(folded_surname, birth, folded_given[0])


@dataclass(frozen=True, slots=True)
class Identity:
    """A normalised person: a BSN, a name key, or both. Never logged, never stored."""

    bsn: str | None
    name_key: NameKey | None
    date_of_birth: dt.date | None

    def identifiers(self) -> list[tuple[IdentifierKind, str]]:
        """The (kind, canonical value) pairs that get pseudonymised."""
        out: list[tuple[IdentifierKind, str]] = []
        if self.bsn is not None:
            out.append((IdentifierKind.BSN, self.bsn))
        if self.name_key is not None:
            out.append((IdentifierKind.NAME_BIRTHDATE, self.name_key.canonical()))
        return out

    def bsn_birthdate(self) -> str | None:
        """The canonical value of the (BSN, birth date) pseudonym, when both are known."""
        if self.bsn is None or self.date_of_birth is None:
            return None
        return f"{self.bsn}|{self.date_of_birth.isoformat()}"


def _present(value: str | dt.date | None) -> bool:
    return isinstance(value, dt.date) or (value is not None and value.strip() != "")


def normalise_identity(*, bsn: str | None = None, given_names: str | None = None,
                       prefix: str | None = None, surname: str | None = None,
                       date_of_birth: str | dt.date | None = None) -> Identity:
    """Normalise what is known of a person.

    Without a BSN, surname, given names and birth date are all required (the name key).
    With a BSN they are optional, but when all three are present the name key is kept as
    well, so that an agency that registered the person without a BSN still finds them.
    A birth date that is given must be valid either way: the disclosure rules need it.
    """
    has_bsn, has_surname, has_given, has_birth = (
        _present(bsn), _present(surname), _present(given_names), _present(date_of_birth))
    if not (has_bsn or has_surname or has_given or has_birth):
        raise InvalidInput("bsn", "a BSN, or surname, given names and date of birth, is required")
    errors: list[FieldError] = []
    norm_bsn: str | None = None
    if has_bsn:
        try:
            norm_bsn = normalise_bsn(bsn or "")
        except InvalidInput as exc:
            errors.extend(exc.errors)
    birth: dt.date | None = None
    if has_birth:
        try:
            birth = parse_birth_date(date_of_birth or "")
        except InvalidInput as exc:
            errors.extend(exc.errors)
    name_key: NameKey | None = None
    if not has_bsn or (has_surname and has_given and has_birth):
        if not errors:
            try:
                name_key = make_name_key(surname=surname, prefix=prefix,
                                         given_names=given_names, date_of_birth=birth)
            except InvalidInput as exc:
                errors.extend(exc.errors)
        elif not has_bsn:
            # Report the missing name parts too, so one round trip shows every problem.
            errors.extend(e for e in _name_key_errors(surname, given_names, date_of_birth)
                          if e not in errors)
    if errors:
        raise InvalidInput.many(errors)
    return Identity(norm_bsn, name_key, birth)


def _name_key_errors(surname: str | None, given_names: str | None,
                     date_of_birth: str | dt.date | None) -> list[FieldError]:
    errs = []
    if not _present(surname):
        errs.append(FieldError("surname", "is required without a BSN"))
    if not _present(given_names):
        errs.append(FieldError("given_names", "is required without a BSN"))
    if not _present(date_of_birth):
        errs.append(FieldError("date_of_birth", "is required without a BSN"))
    return errs


def age_on(date_of_birth: dt.date, on: dt.date) -> int:
    """Age in whole years; a birthday on ``on`` counts as reached. 29 February birthdays are
    reached on 1 March in common years (as Dutch law counts them)."""
    years = on.year - date_of_birth.year
    if (on.month, on.day) < (date_of_birth.month, date_of_birth.day):
        years -= 1
    return years


__all__ = [
    "Identity",
    "IdentifierKind",
    "NameKey",
    "age_on",
    "fold_letters",
    "is_valid_bsn",
    "make_name_key",
    "normalise_bsn",
    "normalise_identity",
    "parse_birth_date",
]
