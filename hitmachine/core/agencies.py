"""Partner agencies and the purposes a query may serve (both configured, see ``Settings``)."""

from __future__ import annotations

import re

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

    @field_validator("code")
    @classmethod
    def _code_shape(cls, v: str) -> str:
        if not _CODE.match(v):
            raise ValueError("agency code must be lowercase letters, digits, '-' or '_'")
        return v


class Purpose(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str
    description: str
    legal_basis: str
    # Only a research replay may ask "as on date X"; live work always asks about today.
    allows_reference_date: bool = False


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

DEFAULT_PURPOSES: tuple[Purpose, ...] = (
    Purpose(code="casusoverleg",
            description="Weging en screening van een casus voor het casusoverleg van het "
                        "Veiligheidshuis",
            legal_basis="AVG art. 6 lid 1 sub e; Convenant Veiligheidshuis, art. 5 (experiment d)"),
    Purpose(code="partnervraag",
            description="Vraag van een ketenpartner over betrokkenheid van andere partners "
                        "bij een persoon of huishouden",
            legal_basis="AVG art. 6 lid 1 sub e; Convenant Veiligheidshuis, art. 5"),
    Purpose(code="replay",
            description="Wetenschappelijke herhaling van de handmatige Hitmachine-test",
            legal_basis="AVG art. 89; Convenant Veiligheidshuis, art. 9 (evaluatie)",
            allows_reference_date=True),
)


__all__ = ["DEFAULT_AGENCIES", "DEFAULT_PURPOSES", "Agency", "DisclosureRule", "Purpose"]
