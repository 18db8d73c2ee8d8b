"""Signals and follow-ups (issue 16): who hears what, when a query or a publish happens.

- A **hit signal** tells an agency that a case was asked about one of its people: a query
  under a purpose with ``signals`` whose answer discloses the agency's hit (after the
  disclosure policy) gives that agency one signal per member, naming the member only by
  the pseudonyms the agency itself published. The agency's adapter maps them back to its
  own reference locally; the service never learns who it is.
- A **partner_query signal** tells the coordinators that a partner asked (two-way).
- A **follow-up** keeps a household query open: after each publish commit the members'
  pseudonyms are joined with the committed set; when the disclosed agencies grow the owner
  gets a **follow_up signal** naming the agencies added.

Every signal is created in the transaction of the audit record of what caused it, with its
own ``signal.create`` record; fetching, acknowledging, expiring, and each follow-up's
opening, change, end and expiry are audited too. The functions here are the use cases the
API (``hitmachine.http.api.routes.signals``) and the web pages call.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection

from hitmachine.core.agencies import Purpose
from hitmachine.core.auditlog.record import AuditRecord, Outcome
from hitmachine.core.clock import iso_utc, local_today, utc_now, utc_now_iso
from hitmachine.core.errors import Forbidden, NotFound
from hitmachine.core.matching import Entry, match_entry, match_verified
from hitmachine.core.policy import disclosed_in_window, disclosure_windows
from hitmachine.core.principal import VEILIGHEIDSHUIS, Permission, Principal, Role
from hitmachine.core.pseudonym.base import PseudonymSet
from hitmachine.services.context import Context
from hitmachine.services.household import HouseholdAnswer, Prepared
from hitmachine.store import audit_log
from hitmachine.store import signals as store
from hitmachine.store.index import Triple
from hitmachine.store.signals import FollowUp, MemberRow, Signal

SYSTEM = Principal(actor="hitmachine", role=Role.ADMIN, agency=None)


@dataclass
class Outbox:
    """The signals a query creates and their ``signal.create`` records: committed with the
    query's own record, all or nothing."""

    signals: list[Signal] = field(default_factory=list)
    records: list[AuditRecord] = field(default_factory=list)

    def bundle(self, record: AuditRecord) -> audit_log.Bundle:
        return audit_log.Bundle((record, *self.records),
                                tuple(s.to_row() for s in self.signals))


# --------------------------------------------------------------------------- who and where

def inbox_of(principal: Principal) -> str:
    """Whose signals the principal reads: an adapter's or partner's own agency's; a
    coordinator's the Veiligheidshuis's inbox."""
    if not principal.may(Permission.READ_SIGNALS):
        raise Forbidden("this role reads no signals")
    if principal.role in (Role.ADAPTER, Role.PARTNER) and principal.agency:
        return principal.agency
    return VEILIGHEIDSHUIS


def contact_of(ctx: Context, organisation: str) -> str:
    agency = ctx.agencies.get(organisation)
    return agency.contact if agency is not None else ctx.settings.contact_desk


def _expiry(ctx: Context, now: dt.datetime) -> str:
    return iso_utc(now + dt.timedelta(days=ctx.settings.signal_expiry_days))


def _created(ctx: Context, principal: Principal, signal: Signal, request_id: str,
             purpose: Purpose | None, subjects: Sequence[dict[str, object]] = ()
             ) -> AuditRecord:
    return AuditRecord.by(
        principal, "signal.create", request_id, Outcome.OK,
        purpose=signal.purpose, legal_basis=purpose.legal_basis.citation if purpose else None,
        case_reference=signal.case_reference, subjects=tuple(subjects),
        agencies=(signal.recipient,) if signal.recipient in ctx.agencies else (),
        detail={"signal": signal.public_id, "kind": signal.kind, "recipient": signal.recipient})


# --------------------------------------------------------------------------- on a query

def for_query(ctx: Context, principal: Principal, case_reference: str, prepared: Prepared,
              candidates: Sequence[Entry], answer: HouseholdAnswer, request_id: str) -> Outbox:
    """The signals a query's answer gives: a hit signal per disclosed (member, agency)
    unless the agency opted out or asked itself; a partner_query signal for a partner's
    query. Nothing for a purpose without ``signals``."""
    out = Outbox()
    purpose = prepared.purpose
    if not purpose.signals:
        return out
    now = utc_now()
    created, expires = iso_utc(now), _expiry(ctx, now)
    sender = principal.organisation
    contact = contact_of(ctx, sender)
    for i, member in enumerate(answer.members):
        for hit in member.agencies:
            agency = ctx.agencies.get(hit.code)
            if agency is None or not agency.signals or hit.code == sender:
                continue
            published = _published(prepared, i, hit.code, candidates)
            signal = Signal(kind="hit", recipient=hit.code, sender=sender, contact=contact,
                            purpose=purpose.code, case_reference=case_reference,
                            created_at=created, expires_at=expires, request_id=request_id,
                            detail={"pseudonyms": published})
            out.signals.append(signal)
            out.records.append(_created(ctx, principal, signal, request_id, purpose,
                                        [{"member": i, **p} for p in published]))
    if principal.role is Role.PARTNER:
        signal = Signal(kind="partner_query", recipient=VEILIGHEIDSHUIS, sender=sender,
                        contact=contact, purpose=purpose.code, case_reference=case_reference,
                        created_at=created, expires_at=expires, request_id=request_id,
                        detail={"partner": sender, "agencies": list(answer.agencies),
                                "multi_agency": answer.multi_agency,
                                "members": len(answer.members)})
        out.signals.append(signal)
        out.records.append(_created(ctx, principal, signal, request_id, purpose))
    return out


def _published(prepared: Prepared, member: int, agency: str, candidates: Sequence[Entry]
               ) -> list[dict[str, object]]:
    """The member's entries as ``agency`` published them (what its adapter can recompute):
    the matching index entries' own pseudonyms, never the query's."""
    out: list[dict[str, object]] = []
    for entry in candidates:
        if entry.agency != agency:
            continue
        sets = prepared.per_version.get(entry.key_version)
        if sets is None or match_entry(sets[member], entry) is None:
            continue
        item: dict[str, object] = {"key_version": entry.key_version,
                                   "bsn": entry.bsn.hex() if entry.bsn else None,
                                   "name": entry.name.hex() if entry.name else None}
        if item not in out:
            out.append(item)
    return out


def check_follow_up_days(purpose: Purpose | None, days: int | None) -> str | None:
    """Why ``follow_up_days`` is refused for ``purpose``, or None."""
    if days is None or purpose is None:
        return None
    if purpose.follow_up_max_days == 0:
        return f"is not allowed for purpose {purpose.code} (no follow-ups)"
    if not 1 <= days <= purpose.follow_up_max_days:
        return f"must be between 1 and {purpose.follow_up_max_days} for purpose {purpose.code}"
    return None


def open_follow_up(conn: Connection, ctx: Context, principal: Principal, case_reference: str,
                   prepared: Prepared, answer: HouseholdAnswer, days: int,
                   request_id: str) -> tuple[FollowUp, AuditRecord]:
    """Keep the query open for ``days`` in the caller's transaction (the query's): its
    members' pseudonyms under every active key version, the agencies disclosed now, and per
    member the days each age rule allows them (no birth date)."""
    today = prepared.on
    last = today + dt.timedelta(days=days)
    members: list[MemberRow] = []
    for i, ident in enumerate(prepared.identities):
        windows = {code: (a.isoformat(), b.isoformat()) for code, (a, b) in
                   disclosure_windows(ctx.agencies, ident.date_of_birth, today, last).items()}
        for version, sets in prepared.per_version.items():
            ps = sets[i]
            members.append(MemberRow(i, version, ps.bsn, ps.name, ps.bsn_birth, windows))
    now = utc_now()
    follow_up = store.insert_follow_up(
        conn, owner=principal.organisation, actor=principal.actor,
        purpose=prepared.purpose.code, case_reference=case_reference,
        agencies=answer.agencies, opened_at=iso_utc(now),
        expires_at=iso_utc(now + dt.timedelta(days=days)), request_id=request_id,
        members=members)
    record = AuditRecord.by(
        principal, "follow_up.open", request_id, Outcome.OK, purpose=prepared.purpose.code,
        legal_basis=prepared.purpose.legal_basis.citation, case_reference=case_reference,
        agencies=answer.agencies,
        detail={"follow_up": follow_up.public_id, "days": days,
                "expires_at": follow_up.expires_at, "members": len(prepared.identities)})
    return follow_up, record


# --------------------------------------------------------------------------- on a publish

def reevaluate(conn: Connection, ctx: Context, principal: Principal, agency: str, *,
               request_id: str, generation: int | None = None,
               added: Sequence[Triple] = (), key_version: int | None = None) -> int:
    """After ``agency``'s publish, in its transaction: the live follow-ups whose household
    the agency now knows (and may disclose) but did not before get a follow_up signal and
    the agency in their set. ``generation``: a snapshot commit (one join with the committed
    set); otherwise a delta's ``added`` entries under ``key_version``. Returns how many
    follow-ups changed."""
    config = ctx.agencies.get(agency)
    if config is None:
        return 0
    now = utc_now_iso()
    today = local_today(ctx.settings.timezone)
    # (follow-up, member) -> its pseudonyms per key version, and the entries they met
    subjects: dict[tuple[int, int], dict[int, PseudonymSet]] = {}
    windows: dict[tuple[int, int], dict[str, tuple[str, str]]] = {}
    met: dict[tuple[int, int], list[Entry]] = {}
    if generation is not None:
        for fid, agencies, member, (e_bsn, e_name, e_birth) in store.follow_up_candidates(
                conn, agency, generation, now):
            if agency in json.loads(agencies):
                continue
            key = (fid, member.member)
            subjects.setdefault(key, {})[member.key_version] = _subject(member)
            windows[key] = member.windows
            met.setdefault(key, []).append(Entry(agency, member.key_version, e_bsn, e_name,
                                                 e_birth))
    elif added and key_version is not None:
        entries = [Entry(agency, key_version, *t) for t in added]
        found = store.follow_up_members_for(
            conn, [e.bsn for e in entries if e.bsn], [e.name for e in entries if e.name], now)
        for fid, agencies, member in found:
            if agency in json.loads(agencies) or member.key_version != key_version:
                continue
            key = (fid, member.member)
            subjects.setdefault(key, {})[member.key_version] = _subject(member)
            windows[key] = member.windows
            met.setdefault(key, []).extend(entries)
    grown: set[int] = set()
    for key, subject in subjects.items():
        if key[0] in grown:
            continue
        match = match_verified(subject, met[key]).get(agency)
        dated = {code: (dt.date.fromisoformat(a), dt.date.fromisoformat(b))
                 for code, (a, b) in windows[key].items()}
        if match is not None and disclosed_in_window(config, dated,
                                                     birth_verified=match.birth_verified,
                                                     on=today):
            grown.add(key[0])
    if not grown:
        return 0
    changed = 0
    new_signals: list[Signal] = []
    records: list[AuditRecord] = []
    moment = utc_now()
    for follow_up in store.lock_follow_ups(conn, grown, now):
        if agency in follow_up.agencies:  # a concurrent commit of this agency came first
            continue
        grown_set = sorted({*follow_up.agencies, agency})
        store.set_agencies(conn, follow_up.id, grown_set)
        purpose = ctx.purposes.get(follow_up.purpose)
        signal = Signal(kind="follow_up", recipient=follow_up.owner, sender=follow_up.owner,
                        contact=config.contact, purpose=follow_up.purpose,
                        case_reference=follow_up.case_reference, created_at=iso_utc(moment),
                        expires_at=_expiry(ctx, moment), request_id=request_id,
                        detail={"follow_up": follow_up.public_id, "added": [agency],
                                "agencies": grown_set, "multi_agency": len(grown_set) >= 2,
                                "contacts": {agency: config.contact}})
        new_signals.append(signal)
        records.append(AuditRecord.by(
            principal, "follow_up.change", request_id, Outcome.OK, purpose=follow_up.purpose,
            legal_basis=purpose.legal_basis.citation if purpose else None,
            case_reference=follow_up.case_reference, agencies=tuple(grown_set),
            detail={"follow_up": follow_up.public_id, "added": [agency],
                    "multi_agency": len(grown_set) >= 2, "signal": signal.public_id}))
        records.append(_created(ctx, principal, signal, request_id, purpose))
        changed += 1
    store.insert_signals(conn, new_signals)
    audit_log.append(conn, records)
    return changed


def _subject(member: MemberRow) -> PseudonymSet:
    return PseudonymSet(member.key_version, member.bsn, member.name, member.bsn_birth)


# --------------------------------------------------------------------------- inbox

def list_signals(ctx: Context, principal: Principal, request_id: str, *,
                 include_acked: bool = False, limit: int = 500) -> list[Signal]:
    """The principal's inbox (``inbox_of``), oldest first: open signals, or also the
    acknowledged ones. Expired signals are deleted first; the fetch is audited with the
    ids it returned."""
    inbox = inbox_of(principal)
    with ctx.db.write() as conn:
        _expire(conn, ctx, request_id)
        found = store.list_signals(conn, inbox, include_acked=include_acked, limit=limit)
        audit_log.append(conn, [AuditRecord.by(
            principal, "signal.fetch", request_id, Outcome.OK,
            agencies=(inbox,) if inbox in ctx.agencies else (),
            detail={"inbox": inbox, "count": len(found), "include_acked": include_acked,
                    "signals": [s.public_id for s in found]})])
    return found


def ack_signal(ctx: Context, principal: Principal, signal_id: str, request_id: str) -> Signal:
    """Acknowledge one of the principal's signals (again: no change). Another inbox's
    signal, or an expired one, is not found."""
    inbox = inbox_of(principal)
    with ctx.db.write() as conn:
        found = store.get_signal(conn, signal_id, inbox)
        if found is None:
            raise NotFound("no such signal in this inbox (acknowledged signals expire "
                           "like the others)")
        at = found.acked_at or utc_now_iso()
        if found.acked_at is None:
            store.ack_signal(conn, signal_id, at)
        audit_log.append(conn, [AuditRecord.by(
            principal, "signal.ack", request_id, Outcome.OK, purpose=found.purpose,
            case_reference=found.case_reference,
            agencies=(inbox,) if inbox in ctx.agencies else (),
            detail={"signal": signal_id, "kind": found.kind,
                    "already": found.acked_at is not None})])
    return dataclasses.replace(found, acked_at=at)


# --------------------------------------------------------------------------- follow-ups

def _owner(principal: Principal) -> str:
    if not principal.may(Permission.QUERY) or principal.may_research():
        raise Forbidden("follow-ups are for coordinators and partners")
    return principal.organisation


def list_follow_ups(ctx: Context, principal: Principal, request_id: str) -> list[FollowUp]:
    """The open follow-ups of the principal's organisation (the coordinators share the
    Veiligheidshuis's), expired ones deleted first; audited."""
    owner = _owner(principal)
    with ctx.db.write() as conn:
        _expire(conn, ctx, request_id)
        found = store.list_follow_ups(conn, owner, utc_now_iso())
        audit_log.append(conn, [AuditRecord.by(
            principal, "follow_up.list", request_id, Outcome.OK,
            detail={"owner": owner, "count": len(found)})])
    return found


def end_follow_up(ctx: Context, principal: Principal, follow_up_id: str,
                  request_id: str) -> FollowUp:
    """End one of the organisation's follow-ups: its pseudonyms are deleted now."""
    owner = _owner(principal)
    with ctx.db.write() as conn:
        found = store.get_follow_up(conn, follow_up_id, owner)
        if found is None or found.expires_at <= utc_now_iso():
            raise NotFound("no such follow-up (it may have ended or expired)")
        store.delete_follow_ups(conn, [found.id])
        audit_log.append(conn, [AuditRecord.by(
            principal, "follow_up.end", request_id, Outcome.OK, purpose=found.purpose,
            case_reference=found.case_reference, agencies=found.agencies,
            detail={"follow_up": found.public_id})])
    return found


# --------------------------------------------------------------------------- expiry

def expire(ctx: Context, request_id: str = "expiry") -> tuple[int, int]:
    """Delete expired signals and follow-ups (their pseudonyms with them); audited.
    Returns (signals, follow-ups) deleted."""
    with ctx.db.write() as conn:
        return _expire(conn, ctx, request_id)


def _expire(conn: Connection, ctx: Context, request_id: str) -> tuple[int, int]:
    now = utc_now_iso()
    gone = store.expire_signals(conn, now)
    ended = store.expired_follow_ups(conn, now)
    store.delete_follow_ups(conn, [f.id for f in ended])
    records = []
    if gone:
        records.append(AuditRecord.by(
            SYSTEM, "signal.expire", request_id, Outcome.OK,
            agencies=tuple(sorted({s.recipient for s in gone if s.recipient in ctx.agencies})),
            detail={"count": len(gone), "signals": [s.public_id for s in gone]}))
    for follow_up in ended:
        records.append(AuditRecord.by(
            SYSTEM, "follow_up.expire", request_id, Outcome.OK, purpose=follow_up.purpose,
            case_reference=follow_up.case_reference, agencies=follow_up.agencies,
            detail={"follow_up": follow_up.public_id, "owner": follow_up.owner}))
    audit_log.append(conn, records)
    return len(gone), len(ended)


class Expirer:
    """The periodic expiry job of one process (like the audit integrator): every
    ``signal_expiry_interval_seconds``."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "Expirer":
        self._thread = threading.Thread(target=self._run, name="signal-expiry", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        log = logging.getLogger("hitmachine.signals")
        while not self._stop.wait(self._ctx.settings.signal_expiry_interval_seconds):
            try:
                expire(self._ctx)
            except Exception as exc:  # the database is away: try again next round
                log.warning("signal expiry failed: %s", type(exc).__name__)


# --------------------------------------------------------------------------- statistics

@dataclass(frozen=True, slots=True)
class Counts:
    """Counts only, per purpose: for the privacy officer's statistics page."""

    signals: dict[tuple[str, str, bool], int]   # (purpose, kind, acknowledged) -> count
    follow_ups: dict[str, int]                  # purpose -> open follow-ups


def counts(ctx: Context) -> Counts:
    with ctx.db.read() as conn:
        return Counts(store.signal_counts(conn), store.follow_up_counts(conn, utc_now_iso()))


__all__ = ["SYSTEM", "Counts", "Expirer", "Outbox", "ack_signal", "check_follow_up_days",
           "contact_of", "counts", "end_follow_up", "expire", "for_query", "inbox_of",
           "list_follow_ups", "list_signals", "open_follow_up", "reevaluate"]
