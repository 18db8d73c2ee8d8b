"""Partner agencies and the purposes a query may serve (both configured, see ``Settings``)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_CODE = re.compile(r"^[a-z][a-z0-9_-]{1,31}$")


class DisclosureRule(BaseModel):
    """Ages (whole years on the query date) for which a hit at an agency may be disclosed.

    Leerplicht is only asked about school-age children and schuldhulp only about adults,
    as in the Nijmegen manual test; disclosing more would reveal more than the partners
    agreed to. A member whose age cannot be established (no birth date) is outside every
    age-bounded rule.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_age: int | None = Field(default=None, ge=0, le=150)
    max_age: int | None = Field(default=None, ge=0, le=150)

    @model_validator(mode="after")
    def _bounds_in_order(self) -> DisclosureRule:
        # Reversed bounds would disclose to no age at all, silently.
        if self.min_age is not None and self.max_age is not None and self.min_age > self.max_age:
            raise ValueError("min_age is above max_age")
        return self

    @property
    def age_bounded(self) -> bool:
        return self.min_age is not None or self.max_age is not None

    def allows(self, age: int | None) -> bool:
        if not self.age_bounded:
            return True
        if age is None:
            return False
        if self.min_age is not None and age < self.min_age:
            return False
        return self.max_age is None or age <= self.max_age


class Agency(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str
    name: str
    contact: str
    disclosure: DisclosureRule = DisclosureRule()
    # Hit signals (issue 16): whether this agency hears that a case was asked about one of
    # its people. An agency may opt out; it is then told nothing, and nothing is kept for it.
    signals: bool = True

    @field_validator("code")
    @classmethod
    def _code_shape(cls, v: str) -> str:
        if not _CODE.match(v):
            raise ValueError("agency code must be lowercase letters, digits, '-' or '_'")
        return v


# The lawful grounds of AVG/GDPR art. 6(1) a purpose can rest on, with their Dutch citation.
AvgGround = Literal["6.1.a", "6.1.b", "6.1.c", "6.1.d", "6.1.e", "6.1.f"]
AVG_GROUNDS: dict[str, str] = {
    "6.1.a": "AVG art. 6 lid 1 sub a (toestemming)",
    "6.1.b": "AVG art. 6 lid 1 sub b (overeenkomst)",
    "6.1.c": "AVG art. 6 lid 1 sub c (wettelijke verplichting)",
    "6.1.d": "AVG art. 6 lid 1 sub d (vitaal belang)",
    "6.1.e": "AVG art. 6 lid 1 sub e (taak van algemeen belang)",
    "6.1.f": "AVG art. 6 lid 1 sub f (gerechtvaardigd belang)",
}
# What else the processing needs beyond art. 6: the exceptions for special categories
# (art. 9), for criminal-law data (art. 10 with UAVG art. 33) and for research (art. 89).
SpecialGround = Literal["9.2.g", "9.2.j", "10", "89"]
SPECIAL_GROUNDS: dict[str, str] = {
    "9.2.g": "AVG art. 9 lid 2 sub g (zwaarwegend algemeen belang)",
    "9.2.j": "AVG art. 9 lid 2 sub j (wetenschappelijk onderzoek)",
    "10": "AVG art. 10 jo. UAVG art. 33 (strafrechtelijke gegevens)",
    "89": "AVG art. 89 (waarborgen bij wetenschappelijk onderzoek)",
}
# The national laws and agreements a purpose may cite, by code: a closed list, so that a
# register entry never cites a law by a misspelt or ambiguous name.
LawCode = Literal["uavg", "wgs", "leerplichtwet", "wpg", "wjsg", "jeugdwet", "wmo2015",
                  "participatiewet", "gemeentewet", "convenant-zvh"]
LAWS: dict[str, str] = {
    "uavg": "Uitvoeringswet Algemene verordening gegevensbescherming",
    "wgs": "Wet gemeentelijke schuldhulpverlening",
    "leerplichtwet": "Leerplichtwet 1969",
    "wpg": "Wet politiegegevens",
    "wjsg": "Wet justitiële en strafvorderlijke gegevens",
    "jeugdwet": "Jeugdwet",
    "wmo2015": "Wet maatschappelijke ondersteuning 2015",
    "participatiewet": "Participatiewet",
    "gemeentewet": "Gemeentewet",
    "convenant-zvh": "Convenant Zorg- en Veiligheidshuis",
}
_ARTICLE = re.compile(r"^[\w .,()/-]{1,60}$")


class LegalSource(BaseModel):
    """A national law (or the covenant) and, where one applies, its article."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    law: LawCode
    article: str = ""

    @field_validator("article")
    @classmethod
    def _article_shape(cls, v: str) -> str:
        if v and not _ARTICLE.match(v):
            raise ValueError("article must be a short reference such as 'art. 39f' "
                             "(letters, digits, spaces and . , ( ) / -)")
        return v

    @property
    def citation(self) -> str:
        return f"{LAWS[self.law]}, {self.article}" if self.article else LAWS[self.law]


class LegalBasis(BaseModel):
    """The legal basis of a purpose, for the audit record, the processing register and the
    DPIA (``hitmachine dpia``): one art. 6 ground, the further grounds the data need, and
    at least one national source that makes the task (or the research) lawful."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ground: AvgGround
    special: tuple[SpecialGround, ...] = ()
    sources: tuple[LegalSource, ...] = Field(min_length=1)

    @field_validator("special")
    @classmethod
    def _special_once(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(v)) != len(v):
            raise ValueError("names a ground more than once")
        return v

    @property
    def citation(self) -> str:
        """One line, as the audit record keeps it: ``AVG art. 6 lid 1 sub e; ...``."""
        parts = [AVG_GROUNDS[self.ground].split(" (")[0]]
        parts += [SPECIAL_GROUNDS[s].split(" (")[0] for s in self.special]
        parts += [s.citation for s in self.sources]
        return "; ".join(parts)

    def __str__(self) -> str:
        return self.citation


class Purpose(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str
    description: str
    legal_basis: LegalBasis
    # Only a research replay may ask "as on date X"; live work always asks about today.
    allows_reference_date: bool = False
    # Issue 16: whether a disclosed hit under this purpose tells the agency that has it (a
    # hit signal), and a partner's query tells the Veiligheidshuis (a partner_query signal).
    signals: bool = False
    # The longest a query under this purpose may be kept open as a follow-up (volgvraag),
    # in days; 0: not allowed.
    follow_up_max_days: int = Field(default=90, ge=0, le=366)

    @model_validator(mode="after")
    def _research_is_quiet(self) -> Purpose:
        # A replay asks about yesterday's people on a chosen date for research: telling the
        # agencies, or following the household, would act on an experiment.
        if self.allows_reference_date and (self.signals or self.follow_up_max_days):
            raise ValueError("a research purpose (allows_reference_date) cannot have signals "
                             "or follow-ups (signals false, follow_up_max_days 0)")
        return self


DEFAULT_AGENCIES: tuple[Agency, ...] = (
    Agency(code="leerplicht", name="Leerplicht", contact="Bureau Leerplicht, 024 329 9999",
           disclosure=DisclosureRule(min_age=5, max_age=17)),
    Agency(code="schuldhulp", name="Schuldhulpverlening",
           contact="Schuldhulpverlening gemeente, 024 329 8888",
           disclosure=DisclosureRule(min_age=18)),
    Agency(code="regieteams", name="Regieteams", contact="Regieteam wijkcoördinator, 024 329 7777"),
    Agency(code="om", name="Openbaar Ministerie", contact="OM parket, casusregie 088 699 0000"),
    Agency(code="reclassering", name="Reclassering",
           contact="Reclassering, unit Veiligheidshuis 088 804 1000"),
)

# Casework of the Veiligheidshuis: a public task (art. 6(1)(e)) of the municipality and its
# partners. A hit at the OM or the Reclassering reveals involvement with criminal law, so
# art. 10 with UAVG art. 33 applies too; the partners may share under their own laws
# (schuldhulp: Wgs; leerplicht: Leerplichtwet; OM and Reclassering: Wjsg art. 39f for a
# samenwerkingsverband) and the covenant binds them. The privacy officer checks the articles
# against the local covenant before going live; the configuration can replace all of it.
_CASE_WORK = LegalBasis(ground="6.1.e", special=("10",), sources=(
    LegalSource(law="convenant-zvh", article="art. 5"),
    LegalSource(law="wgs"),
    LegalSource(law="leerplichtwet"),
    LegalSource(law="wjsg", article="art. 39f"),
    LegalSource(law="uavg", article="art. 33"),
))

DEFAULT_PURPOSES: tuple[Purpose, ...] = (
    Purpose(code="casusoverleg",
            description="Weging en screening van een casus voor het casusoverleg van het "
                        "Veiligheidshuis",
            legal_basis=_CASE_WORK, signals=True),
    Purpose(code="partnervraag",
            description="Vraag van een ketenpartner over betrokkenheid van andere partners "
                        "bij een persoon of huishouden",
            legal_basis=_CASE_WORK, signals=True),
    Purpose(code="replay",
            description="Wetenschappelijke herhaling van de handmatige Hitmachine-test",
            legal_basis=LegalBasis(ground="6.1.e", special=("10", "89"), sources=(
                LegalSource(law="convenant-zvh", article="art. 9 (evaluatie)"),
                LegalSource(law="uavg", article="art. 24"))),
            allows_reference_date=True, follow_up_max_days=0),
)


__all__ = ["AVG_GROUNDS", "DEFAULT_AGENCIES", "DEFAULT_PURPOSES", "LAWS", "SPECIAL_GROUNDS",
           "Agency", "AvgGround", "DisclosureRule", "LawCode", "LegalBasis", "LegalSource",
           "Purpose", "SpecialGround"]
