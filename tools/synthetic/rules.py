"""The rules the data set is built on: the service's own (``hitmachine.core``) for the BSN
11-test, ages, the disclosure rules and the matching the generator checks its output with.

One rule is the data set's own: ``fold``, the name folding its README states (NFKD, marks
dropped, casefolded, letters only). The service's ``fold_letters`` also transliterates a few
letters NFKD leaves alone (ı, ł, ø, ...), so it folds at least as much: a spelling variant
the generator writes must fold equal under the stated rule, so that it matches under both
(and the shipped files stay what they are).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date

from hitmachine.core.agencies import DEFAULT_AGENCIES
from hitmachine.core.identity import age_on as _age_on
from hitmachine.core.identity import is_valid_bsn, make_name_key, normalise_bsn
from tools.synthetic.constants import REFERENCE_DATE, NameKey

_DISCLOSURE = {agency.code: agency.disclosure for agency in DEFAULT_AGENCIES}


def fold(text: str) -> str:
    """NFKD, combining marks removed, casefolded, letters only: 'in ’t Veld' -> 'intveld'."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return "".join(ch for ch in bare.casefold() if ch.isalpha())


def age_on(born: date, when: date = REFERENCE_DATE) -> int:
    """Age in whole years; the birthday itself counts as reached."""
    return _age_on(born, when)


def discloses(agency: str, age: int) -> bool:
    """Whether a hit at ``agency`` is reported for someone of ``age`` (and whether it was asked):
    the service's default disclosure rule of that agency."""
    rule = _DISCLOSURE.get(agency)
    return rule is None or rule.allows(age)


def bsn_is_valid(bsn: str) -> bool:
    """The 11-test; an 8-digit number is a BSN whose leading zero was dropped."""
    return is_valid_bsn(bsn.zfill(9))


def normalised_bsn(bsn: str) -> str | None:
    """The BSN as the service reads it (nine digits), None when the row has none."""
    return normalise_bsn(bsn) if bsn.strip() else None


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

    @property
    def service_key(self) -> str:
        """The name key as the service computes it (``hitmachine.core.identity``)."""
        return make_name_key(surname=self.surname, prefix=self.prefix,
                             given_names=self.given_names,
                             date_of_birth=self.date_of_birth).canonical()


__all__ = ["Record", "age_on", "bsn_is_valid", "discloses", "fold", "normalised_bsn"]
