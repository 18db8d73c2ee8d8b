"""The disclosure policy: which hits an answer may show.

Matching (``hitmachine.domain.matching``) finds every agency that knows a person; this
module then drops the hits that no rule allows. It is the last step before the audit
record, so what is audited as disclosed is exactly what the answer shows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from hitmachine.domain.agencies import Agency
from hitmachine.domain.identity import age_on


def disclosable(agency: Agency, date_of_birth: dt.date | None, on: dt.date) -> bool:
    age = age_on(date_of_birth, on) if date_of_birth is not None else None
    return agency.disclosure.allows(age)


def apply_policy(hits: Mapping[str, str], agencies: Mapping[str, Agency],
                 date_of_birth: dt.date | None, on: dt.date) -> dict[str, str]:
    """Keep the hits (agency code -> basis) whose agency's rule allows this member."""
    return {code: basis for code, basis in hits.items()
            if code in agencies and disclosable(agencies[code], date_of_birth, on)}


__all__ = ["apply_policy", "disclosable"]
