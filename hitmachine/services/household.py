"""The household query's values: what is asked, what is prepared for the look-up, and what
is answered. Their own module, so that the query use case and the signals it raises
(``services.signals``) both use them without importing each other."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from hitmachine.core.agencies import Purpose
from hitmachine.core.identity import Identity
from hitmachine.core.matching import Basis
from hitmachine.core.pseudonym.base import PseudonymSet
from hitmachine.store.signals import FollowUp


@dataclass(frozen=True, slots=True)
class MemberInput:
    bsn: str | None = None
    given_names: str | None = None
    prefix: str | None = None
    surname: str | None = None
    date_of_birth: str | None = None


@dataclass(frozen=True, slots=True)
class HouseholdQuery:
    purpose: str
    case_reference: str
    members: Sequence[MemberInput]
    reference_date: dt.date | None = None
    # Keep the query open this many days (a follow-up, issue 16); None: answer only.
    follow_up_days: int | None = None


@dataclass(frozen=True, slots=True)
class AgencyHit:
    code: str
    name: str
    contact: str
    basis: Basis


@dataclass(frozen=True, slots=True)
class MemberAnswer:
    known: bool
    agencies: tuple[AgencyHit, ...]
    # Age-bounded agencies whose rule could not be checked: the query gave no birth date.
    # The same list whether or not one of them knows the member, so it reveals nothing.
    unchecked: tuple[str, ...] = ()


NOT_KNOWN = MemberAnswer(False, ())


@dataclass(frozen=True, slots=True)
class HouseholdAnswer:
    query_id: str
    members: tuple[MemberAnswer, ...]
    agencies: tuple[str, ...]
    follow_up: FollowUp | None = None

    @property
    def agency_count(self) -> int:
        return len(self.agencies)

    @property
    def multi_agency(self) -> bool:
        return len(self.agencies) >= 2


@dataclass(frozen=True, slots=True)
class Prepared:
    """A query normalised and pseudonymised, ready for the look-up."""

    purpose: Purpose
    on: dt.date
    identities: list[Identity]
    per_version: dict[int, list[PseudonymSet]]
    primary_version: int
    scheme: str


__all__ = ["NOT_KNOWN", "AgencyHit", "HouseholdAnswer", "HouseholdQuery", "MemberAnswer",
           "MemberInput", "Prepared"]
