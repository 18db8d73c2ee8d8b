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


Window = tuple[dt.date, dt.date]


def disclosure_windows(agencies: Mapping[str, Agency], date_of_birth: dt.date | None,
                       start: dt.date, end: dt.date) -> dict[str, Window]:
    """For each age-bounded agency, the first and last day in ``start``..``end`` on which
    its rule allows a member born on ``date_of_birth`` (none: never). A follow-up keeps
    these instead of the birth date: the same rule (``disclosable``) decides, day by day,
    and outside a birthday that falls in the period they say no more than an answer does."""
    out: dict[str, Window] = {}
    if date_of_birth is None:
        return out
    days = (end - start).days
    for code, agency in agencies.items():
        if not agency.disclosure.age_bounded:
            continue
        allowed = [start + dt.timedelta(days=i) for i in range(days + 1)
                   if disclosable(agency, date_of_birth, start + dt.timedelta(days=i))]
        if allowed:
            # An age rule is an interval of ages, so the allowed days are one interval too.
            out[code] = (allowed[0], allowed[-1])
    return out


def disclosed_in_window(agency: Agency, windows: Mapping[str, Window], *,
                        birth_verified: bool, on: dt.date) -> bool:
    """``apply_policy`` for a member known only by pseudonyms and windows: an agency
    without an age rule always; an age-bounded one when its data confirm the birth date
    (as the query requires) and ``on`` lies in the window computed from it."""
    if not agency.disclosure.age_bounded:
        return True
    window = windows.get(agency.code)
    return birth_verified and window is not None and window[0] <= on <= window[1]


__all__ = ["Window", "apply_policy", "disclosable", "disclosed_in_window", "disclosure_windows",
           "unchecked_agencies"]
