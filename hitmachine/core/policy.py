"""The disclosure policy: which hits an answer may show.

Matching (``hitmachine.core.matching``) finds every agency that knows a person; this
module then drops the hits that no rule allows. It is the last step before the audit
record, so what is audited as disclosed is exactly what the answer shows.

An age rule rests on the agency's own data, never on the asker's word: the birth date
counts only for the agencies whose data confirm it (``verified``: a name-key match, or the
agency's (BSN, birth date) pseudonym equal to the query's). Elsewhere the member's age is
unknown, and an unknown age is outside every age-bounded rule.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from typing import TypeVar

from hitmachine.core.agencies import Agency
from hitmachine.core.identity import age_on

B = TypeVar("B", bound=str)


def disclosable(agency: Agency, date_of_birth: dt.date | None, on: dt.date) -> bool:
    age = age_on(date_of_birth, on) if date_of_birth is not None else None
    return agency.disclosure.allows(age)


def apply_policy(hits: Mapping[str, B], agencies: Mapping[str, Agency],
                 date_of_birth: dt.date | None, on: dt.date, *,
                 verified: Collection[str]) -> dict[str, B]:
    """Keep the hits (agency code -> basis) whose agency's rule allows this member, with
    ``date_of_birth`` counted only for the agencies in ``verified``."""
    return {code: basis for code, basis in hits.items()
            if code in agencies and disclosable(
                agencies[code], date_of_birth if code in verified else None, on)}


def unchecked_agencies(agencies: Mapping[str, Agency], date_of_birth: dt.date | None
                       ) -> tuple[str, ...]:
    """The agencies whose age rule cannot be checked for a member without a birth date:
    every age-bounded agency, whether or not it knows the member, so the list says nothing
    about a hit."""
    if date_of_birth is not None:
        return ()
    return tuple(sorted(code for code, a in agencies.items() if a.disclosure.age_bounded))


__all__ = ["apply_policy", "disclosable", "unchecked_agencies"]
