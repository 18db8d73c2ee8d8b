"""Wire models of the v1 API. Unknown fields are refused everywhere (``extra="forbid"``):
a field a client thinks it sent but the server ignored would be a silent error."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from hitmachine.core import text
from hitmachine.services import query as query_service

HEX32 = r"^[0-9a-f]{64}$"


def _free_text(value: str) -> str:
    problem = text.text_problem(value)
    if problem is not None:
        raise PydanticCustomError("free_text", problem)
    return value


def _case_reference(value: str) -> str:
    problem = text.case_reference_problem(value)
    if problem is not None:
        raise PydanticCustomError("case_reference", problem)
    return value


def _name(value: str) -> str:
    problem = text.text_problem(value)
    cleaned = " ".join(value.split())
    problem = problem or text.name_problem(cleaned)
    if problem is not None:
        raise PydanticCustomError("name", problem)
    return cleaned


# Every free-text field of the API is one of these (see hitmachine.core.text): no control
# character, lone surrogate or text-direction override gets past them, and the field is
# named in the 422. The web pages validate through these same models, the CLI through the
# same functions.
FreeText = Annotated[str, AfterValidator(_free_text)]
# A case reference is free text that must not hold a BSN (it is kept for years, in clear).
CaseReference = Annotated[str, AfterValidator(_case_reference)]
# A token's or account's name: also no format characters, not reserved, whitespace collapsed.
Name = Annotated[str, AfterValidator(_name)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=4096)


class MemberIn(Strict):
    bsn: str | None = Field(default=None, max_length=32, description="8 or 9 digits; 11-test")
    given_names: FreeText | None = Field(default=None, max_length=200)
    prefix: FreeText | None = Field(default=None, max_length=50, description="tussenvoegsel")
    surname: FreeText | None = Field(default=None, max_length=200)
    date_of_birth: str | None = Field(default=None, max_length=10, description="YYYY-MM-DD")


class HouseholdQueryIn(Strict):
    purpose: str = Field(max_length=32, description="a code from GET /v1/purposes")
    case_reference: CaseReference = Field(
        min_length=1, max_length=200,
        description="the case number: no identifier (one holding a valid BSN is refused)")
    members: list[MemberIn] = Field(min_length=1, max_length=1000)
    # One schema with the format, as JSON Schema allows, where pydantic would write an anyOf
    # with the format inside: the ADR linter looks for ``format`` on the property itself.
    reference_date: Annotated[
        dt.date | None, WithJsonSchema({"type": ["string", "null"], "format": "date"})
    ] = Field(
        default=None, description="only for purposes that replay a test (`replay`), "
                                  "which only a researcher token may ask")
    follow_up_days: int | None = Field(
        default=None, ge=1, le=366, strict=True,
        description="keep the query open this many days (a follow-up): when an agency "
                    "publishes the household later, the asking organisation gets a "
                    "`follow_up` signal. At most the purpose's `follow_up_max_days`")

    def to_query(self) -> query_service.HouseholdQuery:
        """The use case's query: the one mapping, for the API and the web form alike."""
        return query_service.HouseholdQuery(
            purpose=self.purpose, case_reference=self.case_reference,
            members=[query_service.MemberInput(m.bsn, m.given_names, m.prefix, m.surname,
                                               m.date_of_birth) for m in self.members],
            reference_date=self.reference_date, follow_up_days=self.follow_up_days)


class AgencyHitOut(BaseModel):
    code: str
    name: str
    contact: str
    basis: Literal["bsn", "name_birthdate"]


class MemberOut(BaseModel):
    known: bool
    agencies: list[AgencyHitOut]
    unchecked_without_birth_date: list[str] = Field(
        description="agencies with an age rule that could not be checked because the "
                    "member was asked without a date of birth: every such agency, whether "
                    "or not it knows the member (empty when a date of birth was given)")


class HouseholdSummaryOut(BaseModel):
    agencies: list[str]
    agency_count: int
    multi_agency: bool


class FollowUpOut(BaseModel):
    id: str
    purpose: str
    case_reference: str
    agencies: list[str] = Field(description="the agencies disclosed so far")
    multi_agency: bool
    members: int
    opened_at: str
    expires_at: str


class HouseholdAnswerOut(BaseModel):
    query_id: str
    members: list[MemberOut]
    household: HouseholdSummaryOut
    follow_up: FollowUpOut | None = Field(
        default=None, description="present when the query asked `follow_up_days`")


class SignalPseudonymOut(BaseModel):
    key_version: int
    bsn: str | None = Field(description="hex BSN pseudonym, as the agency published it")
    name: str | None = Field(description="hex name-key pseudonym, as the agency published it")


class SignalOut(BaseModel):
    """A signal: `hit` (to an agency: a case was asked about one of its people, named by
    the pseudonyms it published), `follow_up` (to the asker of a follow-up: more agencies
    know the household now) or `partner_query` (to the coordinators: a partner asked)."""

    id: str
    kind: Literal["hit", "follow_up", "partner_query"]
    sender: str = Field(description="the asking organisation (an agency code, or "
                                    "`veiligheidshuis`)")
    contact: str = Field(description="the sender's contact desk (for a follow_up "
                                     "signal: the added agency's)")
    purpose: str
    case_reference: str
    created_at: str
    expires_at: str
    acked_at: str | None
    pseudonyms: list[SignalPseudonymOut] = Field(
        default_factory=list, description="hit: the member as the receiving agency published "
                                          "them; its adapter maps them to its own reference")
    follow_up: str | None = Field(default=None, description="follow_up: the follow-up's id")
    added: list[str] = Field(default_factory=list,
                             description="follow_up: the agencies that now know the household")
    agencies: list[str] = Field(default_factory=list,
                                description="follow_up, partner_query: the household's agencies")
    multi_agency: bool | None = None
    partner: str | None = Field(default=None, description="partner_query: who asked")


class AgencyOut(BaseModel):
    code: str
    name: str
    contact: str


class PurposeOut(BaseModel):
    code: str
    description: str
    legal_basis: str


class SyncOpenIn(Strict):
    agency: str = Field(max_length=32)
    # strict: "1" or true is a client's mistake to report, not a number to guess
    key_version: int = Field(ge=1, le=2**31 - 1, strict=True)


class SyncOut(BaseModel):
    sync_id: str
    agency: str
    key_version: int
    status: str
    expires_at: str
    batches: int
    entries: int


class EntryIn(Strict):
    bsn: str | None = Field(default=None, pattern=HEX32, description="hex BSN pseudonym")
    name: str | None = Field(default=None, pattern=HEX32, description="hex name-key pseudonym")
    bsn_birthdate: str | None = Field(
        default=None, pattern=HEX32,
        description="hex pseudonym of the BSN with the agency's birth date for it (needs "
                    "`bsn`): an age-bounded agency's BSN hit is disclosed only when it "
                    "equals the query's")


class BatchIn(Strict):
    entries: list[EntryIn] = Field(max_length=100_000)


class BatchOut(BaseModel):
    sync_id: str
    batch: int
    applied: bool
    batches: int
    entries: int


class CommitIn(Strict):
    batches: int = Field(ge=0, strict=True)
    entries: int = Field(ge=0, strict=True)


class AgencySetOut(BaseModel):
    agency: str
    key_version: int | None
    entries: int
    updated_at: str


class DeltaIn(Strict):
    agency: str = Field(max_length=32)
    key_version: int = Field(ge=1, le=2**31 - 1, strict=True)
    add: list[EntryIn] = Field(default_factory=list, max_length=100_000)
    remove: list[EntryIn] = Field(default_factory=list, max_length=100_000)


class DeltaOut(BaseModel):
    added: int
    removed: int


class TokenCreateIn(Strict):
    name: Name = Field(min_length=1, max_length=128,
                       description="unique among live tokens and web accounts, ignoring case; "
                                   "not `console` or `anonymous`")
    role: Literal["adapter", "coordinator", "partner", "privacy-officer", "admin",
                  "researcher"]
    agency: str | None = Field(default=None, max_length=32)
    expires_at: AwareDatetime | None = Field(
        default=None, description="in the future, at most the configured token lifetime "
                                  "away (the default)")
    user: Name | None = Field(
        default=None, max_length=128,
        description="the web account this token is for (same role); it shares its budget")


class TokenOut(BaseModel):
    id: int
    name: str
    role: str
    agency: str | None
    user_id: int | None = None
    created_at: str
    expires_at: str | None
    revoked_at: str | None


class TokenCreatedOut(BaseModel):
    token: str = Field(description="shown once; only its hash is stored")
    info: TokenOut


class KeyVersionOut(BaseModel):
    version: int
    created: str
    active: bool
    primary: bool


class AuditRecordOut(BaseModel):
    id: int
    seq: int | None
    recorded_at: str
    event: str
    actor: str
    role: str
    organisation: str
    request_id: str
    purpose: str | None
    legal_basis: str | None
    case_reference: str | None
    subjects: list[dict[str, object]]
    outcome: str
    agencies: list[str]
    detail: dict[str, object]


class AuditPageOut(BaseModel):
    records: list[AuditRecordOut]
    next_cursor: int | None


class Problem(BaseModel):
    """RFC 9457 problem details, with the offending fields named in ``errors``."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[dict[str, str]] = Field(default_factory=list)
