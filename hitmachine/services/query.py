"""The household query: pseudonymise → look up → match → policy → audit → answer."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import anyio.to_thread
from sqlalchemy import Connection

from hitmachine.core.agencies import Agency, Purpose
from hitmachine.core.auditlog.record import AuditRecord, Outcome, subject_entries
from hitmachine.core.clock import local_today
from hitmachine.core.errors import FieldError, Forbidden, InvalidInput
from hitmachine.core.identity import Identity, normalise_identity
from hitmachine.core.matching import Basis, Entry, match_verified
from hitmachine.core.policy import apply_policy, unchecked_agencies
from hitmachine.core.principal import Principal
from hitmachine.core.pseudonym.base import PseudonymSet
from hitmachine.core.text import case_reference_problem
from hitmachine.services import metrics, ratelimit
from hitmachine.services import signals as signal_service
from hitmachine.services.context import Context
from hitmachine.services.household import (
    NOT_KNOWN,
    AgencyHit,
    HouseholdAnswer,
    HouseholdQuery,
    MemberAnswer,
    MemberInput,
    Prepared,
)
from hitmachine.store import audit_log, index
from hitmachine.store import signals as signal_store


def household(ctx: Context, principal: Principal, query: HouseholdQuery,
              request_id: str) -> HouseholdAnswer:
    """Answer a household query; the audit record is durable before this returns.

    Blocking throughout (rate-limit store, index read, audit commit): call it from a
    thread, never from the event loop."""
    answer, record = _answer_unrecorded(ctx, principal, query, request_id)
    if record is not None:
        ctx.audit.append(record)
    _count(answer)
    return answer


async def household_async(ctx: Context, principal: Principal, query: HouseholdQuery,
                          request_id: str) -> HouseholdAnswer:
    """``household`` for the event loop, blocking nothing.

    The rate limits count without blocking (``ratelimit.spend_queries_async``), the HMAC
    pseudonyms are computed here, the PostgreSQL look-up waits on its socket in the loop,
    and the loop awaits the audit commit (the writer resolves every record of a group with
    one wake-up). What can only block goes to a worker thread in one hop: a SQLite look-up,
    pseudonyms from the key service, and a follow-up's write transaction."""
    _check_research(ctx, principal, query)
    await ratelimit.spend_queries_async(ctx, principal, len(query.members), request_id)
    pseudonymiser = ctx.pseudonymiser
    if query.follow_up_days or getattr(pseudonymiser, "remote", False) \
            or not ctx.db.reads_async:
        answer, record = await anyio.to_thread.run_sync(_answer_spent, ctx, principal, query,
                                                        request_id)
    else:
        prepared = prepare(ctx, query)
        candidates = await index.lookup_async(ctx.db, *_pseudonyms(prepared.per_version))
        answer, record = _answer_found(ctx, principal, query, prepared, candidates,
                                       request_id)
    if record is not None:
        await ctx.audit.append_async(record)
    _count(answer)
    return answer


Unrecorded = tuple[HouseholdAnswer, AuditRecord | audit_log.Bundle | None]


def _answer_unrecorded(ctx: Context, principal: Principal, query: HouseholdQuery,
                       request_id: str) -> Unrecorded:
    """The answer and what the audit writer must commit before it leaves: the record, or
    the record with the signals it creates (one bundle: no answer without its record, and
    no record without its signals). None: a follow-up, already committed with its record
    in its own transaction."""
    _check_research(ctx, principal, query)
    ratelimit.spend_queries(ctx, principal, len(query.members), request_id)
    return _answer_spent(ctx, principal, query, request_id)


def _answer_spent(ctx: Context, principal: Principal, query: HouseholdQuery,
                  request_id: str) -> Unrecorded:
    """``_answer_unrecorded`` once the limits are counted."""
    prepared = prepare(ctx, query)
    if query.follow_up_days:
        return _with_follow_up(ctx, principal, query, prepared, query.follow_up_days,
                               request_id), None
    candidates = _lookup(ctx, prepared.per_version)
    return _answer_found(ctx, principal, query, prepared, candidates, request_id)


def _answer_found(ctx: Context, principal: Principal, query: HouseholdQuery,
                  prepared: Prepared, candidates: list[Entry], request_id: str) -> Unrecorded:
    answer, record = decide(ctx, principal, query, prepared, candidates, request_id)
    outbox = signal_service.for_query(ctx, principal, query.case_reference, prepared,
                                      candidates, answer, request_id)
    return answer, (outbox.bundle(record) if outbox.signals else record)


def _with_follow_up(ctx: Context, principal: Principal, query: HouseholdQuery,
                    prepared: Prepared, days: int, request_id: str) -> HouseholdAnswer:
    """A query kept open changes state, so it commits like a publish: look-up, answer,
    signals, the follow-up and every record in one write transaction. That transaction
    first waits for the publish commits in flight and holds new ones off, so the
    follow-up's agencies are those of the sets its re-evaluations will start from."""
    with ctx.db.write() as conn:
        signal_store.lock_out_publishes(conn)
        candidates = _lookup_on(conn, prepared.per_version)
        answer, record = decide(ctx, principal, query, prepared, candidates, request_id)
        outbox = signal_service.for_query(ctx, principal, query.case_reference, prepared,
                                          candidates, answer, request_id)
        follow_up, opened = signal_service.open_follow_up(
            conn, ctx, principal, query.case_reference, prepared, answer, days, request_id)
        signal_store.insert_signals(conn, outbox.signals)
        audit_log.append(conn, [record, *outbox.records, opened])
    return replace(answer, follow_up=follow_up)


def record_refused(ctx: Context, principal: Principal, request_id: str,
                   fields: Iterable[str], *, via: str = "web") -> None:
    """Record a household query refused for bad input before it was asked (as the API's
    problem mapper records one): the fields named, never their values."""
    ctx.audit.append(AuditRecord.by(
        principal, "query.household", request_id, Outcome.INVALID,
        detail={"status": 422, "operation": "POST", "via": via, "fields": sorted(fields)}))


def _count(answer: HouseholdAnswer) -> None:
    """The answer in the metrics: counts only."""
    metrics.QUERIES.labels("hit" if answer.agencies else "no_hit").inc()
    metrics.QUERY_MEMBERS.inc(len(answer.members))
    metrics.HITS.inc(sum(1 for m in answer.members if m.known))


def prepare(ctx: Context, query: HouseholdQuery) -> Prepared:
    # Every field error in one answer: the purpose's errors and the members' together, so
    # a caller does not fix one field only to learn of the next on the following try.
    purpose, errors = _purpose(ctx, query.purpose, query.reference_date is not None,
                               query.case_reference, query.follow_up_days)
    identities: list[Identity] = []
    try:
        identities = normalise_members(query.members)
    except InvalidInput as exc:
        errors.extend(exc.errors)
    if len(query.members) > ctx.settings.max_members:
        errors.append(_too_many(ctx))
    if errors or purpose is None:
        raise InvalidInput.many(errors)
    on = query.reference_date or local_today(ctx.settings.timezone)
    pseudonymiser = ctx.pseudonymiser
    per_version = {v: pseudonymiser.pseudonymise(identities, v)
                   for v in pseudonymiser.active_versions}
    return Prepared(purpose, on, identities, per_version, pseudonymiser.primary_version,
                    pseudonymiser.scheme)


def decide(ctx: Context, principal: Principal, query: HouseholdQuery, prepared: Prepared,
           candidates: list[Entry], request_id: str) -> tuple[HouseholdAnswer, AuditRecord]:
    """Match, apply the disclosure policy, and write the answer and its audit record."""
    answers = []
    for i, ident in enumerate(prepared.identities):
        unchecked = unchecked_agencies(ctx.agencies, ident.date_of_birth)
        if not candidates:  # most members of most households: nothing to match
            answers.append(MemberAnswer(False, (), unchecked) if unchecked else NOT_KNOWN)
            continue
        subject = {v: sets[i] for v, sets in prepared.per_version.items()}
        matches = match_verified(subject, candidates)
        hits = apply_policy({code: m.basis for code, m in matches.items()}, ctx.agencies,
                            ident.date_of_birth, prepared.on,
                            verified={code for code, m in matches.items() if m.birth_verified})
        answers.append(_member_answer(ctx.agencies, hits, unchecked))
    union = tuple(sorted({a.code for m in answers for a in m.agencies}))
    record = AuditRecord.by(
        principal, "query.household", request_id,
        Outcome.HIT if union else Outcome.NO_HIT,
        purpose=prepared.purpose.code, legal_basis=prepared.purpose.legal_basis.citation,
        case_reference=query.case_reference,
        subjects=_audit_subjects(prepared.per_version[prepared.primary_version], answers),
        agencies=union,
        detail={"members": len(prepared.identities), "query_date": prepared.on.isoformat(),
                "scheme": prepared.scheme})
    return HouseholdAnswer(request_id, tuple(answers), union), record


def evaluate(ctx: Context, principal: Principal, query: HouseholdQuery,
             request_id: str) -> tuple[HouseholdAnswer, AuditRecord]:
    """The answer and its audit record. The answer must not leave before the record is
    committed: callers use ``household`` or ``household_async``, never this alone."""
    prepared = prepare(ctx, query)
    return decide(ctx, principal, query, prepared, _lookup(ctx, prepared.per_version),
                  request_id)


def normalise_members(members: Sequence[MemberInput]) -> list[Identity]:
    errors: list[FieldError] = []
    identities: list[Identity] = []
    for i, m in enumerate(members):
        try:
            identities.append(normalise_identity(bsn=m.bsn, given_names=m.given_names,
                                                 prefix=m.prefix, surname=m.surname,
                                                 date_of_birth=m.date_of_birth))
        except InvalidInput as exc:
            errors.extend(exc.under(f"members.{i}").errors)
    if not members:
        errors.append(FieldError("members", "needs at least one member"))
    if errors:
        raise InvalidInput.many(errors)
    _refuse_repeats(identities)
    return identities


def _refuse_repeats(identities: Sequence[Identity]) -> None:
    """A person may appear once: twice, with two birth dates, the age rules would judge the
    one the asker likes. Same BSN, or same name key unless two different BSNs say they are
    two people (twins with one initial)."""
    errors: list[FieldError] = []
    by_bsn: dict[str, int] = {}
    by_name: dict[str, tuple[int, str | None]] = {}
    for i, ident in enumerate(identities):
        if ident.bsn is not None:
            first = by_bsn.setdefault(ident.bsn, i)
            if first != i:
                errors.append(FieldError(f"members.{i}.bsn",
                                         f"names the same person as members.{first}"))
                continue
        if ident.name_key is not None:
            first, first_bsn = by_name.setdefault(ident.name_key.canonical(), (i, ident.bsn))
            if first != i and (first_bsn is None or ident.bsn is None):
                errors.append(FieldError(f"members.{i}", f"names the same person as members."
                                         f"{first} (same surname, initial and date of birth)"))
    if errors:
        raise InvalidInput.many(errors)


def _check_research(ctx: Context, principal: Principal, query: HouseholdQuery) -> None:
    """Research purposes (a replay, asked as on a reference date) are the researcher's
    alone, and a researcher asks nothing live: a coordinator could otherwise pick the date
    that makes an age rule disclose."""
    purpose = ctx.purposes.get(query.purpose)
    research = purpose is not None and purpose.allows_reference_date
    if research and not principal.may_research():
        raise Forbidden("research purposes are for a researcher token only",
                        errors=[FieldError("purpose", "is a research purpose: only a "
                                                      "researcher token may ask it")])
    if principal.may_research() and not research:
        raise Forbidden("a researcher token asks research purposes only",
                        errors=[FieldError("purpose", "is not a research purpose")])
    # A reference date needs a research purpose (``_purpose``), so it is a researcher's too.


def _purpose(ctx: Context, code: str, has_reference_date: bool,
             case_reference: str | None, follow_up_days: int | None = None
             ) -> tuple[Purpose | None, list[FieldError]]:
    errors: list[FieldError] = []
    purpose = ctx.purposes.get(code)
    if purpose is None:
        errors.append(FieldError("purpose",
                                 "is not a configured purpose (see GET /v1/purposes)"))
    elif has_reference_date and not purpose.allows_reference_date:
        errors.append(FieldError("reference_date",
                                 "is only allowed for a purpose that replays a test"))
    if case_reference is not None and not case_reference.strip():
        errors.append(FieldError("case_reference", "is required"))
    elif case_reference is not None and (problem := case_reference_problem(case_reference)):
        errors.append(FieldError("case_reference", problem))
    if problem := signal_service.check_follow_up_days(purpose, follow_up_days):
        errors.append(FieldError("follow_up_days", problem))
    return purpose, errors


def _too_many(ctx: Context) -> FieldError:
    return FieldError("members", f"at most {ctx.settings.max_members} members per query")


MEMBER_FIELDS = ("bsn", "given_names", "prefix", "surname", "date_of_birth")


def raw_field_errors(ctx: Context, body: Mapping[str, Any],
                     flagged: set[str]) -> list[FieldError]:
    """The errors ``prepare`` would report, found in a raw request body whose shape the
    schema already refused for other fields (``flagged``): the API reports all of them at
    once. Only the parts that are well-typed and not already flagged are checked."""
    purpose = body.get("purpose")
    case_reference = body.get("case_reference")
    errors: list[FieldError] = []
    if isinstance(purpose, str) and "purpose" not in flagged:
        days = body.get("follow_up_days")
        _, errors = _purpose(ctx, purpose, body.get("reference_date") is not None
                             and "reference_date" not in flagged,
                             case_reference if isinstance(case_reference, str)
                             and "case_reference" not in flagged else None,
                             days if isinstance(days, int) and not isinstance(days, bool)
                             and "follow_up_days" not in flagged else None)
    members = body.get("members")
    if isinstance(members, list) and "members" not in flagged:
        if len(members) > ctx.settings.max_members:
            errors.append(_too_many(ctx))
        for i, member in enumerate(members):
            errors.extend(_raw_member_errors(member, f"members.{i}", flagged))
    return errors


def _raw_member_errors(member: object, at: str, flagged: set[str]) -> list[FieldError]:
    if (not isinstance(member, dict) or any(f == at or f.startswith(at + ".") for f in flagged)
            or not all(isinstance(member.get(k), str | None) for k in MEMBER_FIELDS)):
        return []
    try:
        normalise_identity(**{k: member.get(k) for k in MEMBER_FIELDS})
    except InvalidInput as exc:
        return exc.under(at).errors
    return []


def _lookup(ctx: Context, per_version: dict[int, list[PseudonymSet]]) -> list[Entry]:
    with ctx.db.read_one() as conn:
        return _lookup_on(conn, per_version)


def _lookup_on(conn: Connection, per_version: dict[int, list[PseudonymSet]]) -> list[Entry]:
    return index.lookup(conn, *_pseudonyms(per_version))


def _pseudonyms(per_version: dict[int, list[PseudonymSet]]) -> tuple[list[bytes], list[bytes]]:
    """The BSN and the name-key pseudonyms to look up, under every active key version."""
    bsns = [p.bsn for sets in per_version.values() for p in sets if p.bsn is not None]
    names = [p.name for sets in per_version.values() for p in sets if p.name is not None]
    return bsns, names


def _member_answer(agencies: dict[str, Agency], hits: dict[str, Basis],
                   unchecked: tuple[str, ...]) -> MemberAnswer:
    if not hits and not unchecked:
        return NOT_KNOWN
    shown = tuple(AgencyHit(code, agencies[code].name, agencies[code].contact, basis)
                  for code, basis in sorted(hits.items()))
    return MemberAnswer(bool(shown), shown, unchecked)


def _audit_subjects(primary: list[PseudonymSet], answers: list[MemberAnswer]
                    ) -> tuple[dict[str, object], ...]:
    subjects = subject_entries(primary)
    return tuple({**s, "agencies": [a.code for a in answers[i].agencies]}
                 for i, s in enumerate(subjects))


__all__ = ["AgencyHit", "HouseholdAnswer", "HouseholdQuery", "MemberAnswer", "MemberInput",
           "evaluate", "household", "household_async", "normalise_members", "record_refused"]
