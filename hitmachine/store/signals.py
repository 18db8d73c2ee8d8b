"""Signals and follow-ups in the database (issue 16): rows in, rows out, the one join.

Nothing here holds an identity: a hit signal names its person by the pseudonyms the
receiving agency published; a follow-up keeps its members' pseudonyms and, per
age-bounded agency, the days its rule allows them (``hitmachine.core.policy``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    delete,
    func,
    insert,
    literal_column,
    select,
    true,
    union_all,
    update,
)

from hitmachine.core.clock import utc_now_iso
from hitmachine.store.schema import entries, follow_up_members, follow_ups, signals

SIGNAL_COLUMNS = ("public_id", "kind", "recipient", "sender", "contact", "purpose",
                  "case_reference", "created_at", "expires_at", "acked_at", "request_id",
                  "detail")
KINDS = ("hit", "follow_up", "partner_query")


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True, slots=True)
class Signal:
    kind: str
    recipient: str
    sender: str
    contact: str
    purpose: str
    case_reference: str
    created_at: str
    expires_at: str
    request_id: str
    detail: dict[str, Any] = field(default_factory=dict)
    public_id: str = field(default_factory=new_id)
    acked_at: str | None = None

    def to_values(self) -> tuple[Any, ...]:
        """The row in ``SIGNAL_COLUMNS`` order (what the audit writer's hot path inserts)."""
        return (self.public_id, self.kind, self.recipient, self.sender, self.contact,
                self.purpose, self.case_reference, self.created_at, self.expires_at,
                self.acked_at, self.request_id, _json(self.detail))

    def to_row(self) -> dict[str, Any]:
        return dict(zip(SIGNAL_COLUMNS, self.to_values()))


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _signal(row: Any) -> Signal:
    r = row._mapping
    return Signal(kind=r["kind"], recipient=r["recipient"], sender=r["sender"],
                  contact=r["contact"], purpose=r["purpose"],
                  case_reference=r["case_reference"], created_at=r["created_at"],
                  expires_at=r["expires_at"], request_id=r["request_id"],
                  detail=json.loads(r["detail"]), public_id=r["public_id"],
                  acked_at=r["acked_at"])


def insert_signals(conn: Connection, rows: Sequence[Signal]) -> None:
    if rows:
        conn.execute(insert(signals), [s.to_row() for s in rows])


def list_signals(conn: Connection, recipient: str, *, include_acked: bool = False,
                 limit: int = 500, now: str | None = None) -> list[Signal]:
    """The recipient's live signals, oldest first (open ones only unless ``include_acked``)."""
    stmt = select(signals).where(signals.c.recipient == recipient,
                                 signals.c.expires_at > (now or utc_now_iso()))
    if not include_acked:
        stmt = stmt.where(signals.c.acked_at.is_(None))
    return [_signal(r) for r in conn.execute(stmt.order_by(signals.c.id).limit(limit))]


def get_signal(conn: Connection, public_id: str, recipient: str) -> Signal | None:
    """The recipient's live signal; None for another's (its existence is not told)."""
    row = conn.execute(select(signals).where(
        signals.c.public_id == public_id, signals.c.recipient == recipient,
        signals.c.expires_at > utc_now_iso()).with_for_update()).first()
    return _signal(row) if row is not None else None


def ack_signal(conn: Connection, public_id: str, at: str) -> None:
    conn.execute(update(signals).where(signals.c.public_id == public_id,
                                       signals.c.acked_at.is_(None)).values(acked_at=at))


def expire_signals(conn: Connection, now: str) -> list[Signal]:
    """Delete the signals past their expiry; returns what was deleted (for the audit)."""
    rows = [_signal(r) for r in conn.execute(select(signals).where(
        signals.c.expires_at <= now).order_by(signals.c.id).with_for_update())]
    if rows:
        conn.execute(delete(signals).where(signals.c.public_id.in_([s.public_id for s in rows])))
    return rows


def signal_counts(conn: Connection) -> dict[tuple[str, str, bool], int]:
    """(purpose, kind, acknowledged) -> live signals: counts only, for the statistics."""
    stmt = (select(signals.c.purpose, signals.c.kind, signals.c.acked_at.is_not(None),
                   func.count()).group_by(signals.c.purpose, signals.c.kind,
                                          signals.c.acked_at.is_not(None)))
    return {(p, k, bool(a)): int(n) for p, k, a, n in conn.execute(stmt)}


# --------------------------------------------------------------------------- follow-ups

@dataclass(frozen=True, slots=True)
class MemberRow:
    member: int
    key_version: int
    bsn: bytes | None
    name: bytes | None
    bsn_birth: bytes | None
    windows: dict[str, tuple[str, str]]


@dataclass(frozen=True, slots=True)
class FollowUp:
    id: int
    public_id: str
    owner: str
    actor: str
    purpose: str
    case_reference: str
    agencies: tuple[str, ...]
    opened_at: str
    expires_at: str
    request_id: str
    members: int = 0


def _follow_up(row: Any, members: int = 0) -> FollowUp:
    r = row._mapping
    return FollowUp(int(r["id"]), r["public_id"], r["owner"], r["actor"], r["purpose"],
                    r["case_reference"], tuple(json.loads(r["agencies"])), r["opened_at"],
                    r["expires_at"], r["request_id"], members)


def insert_follow_up(conn: Connection, *, owner: str, actor: str, purpose: str,
                     case_reference: str, agencies: Iterable[str], opened_at: str,
                     expires_at: str, request_id: str, members: Sequence[MemberRow]) -> FollowUp:
    public_id = new_id()
    conn.execute(insert(follow_ups).values(
        public_id=public_id, owner=owner, actor=actor, purpose=purpose,
        case_reference=case_reference, agencies=_json(sorted(set(agencies))),
        opened_at=opened_at, expires_at=expires_at, request_id=request_id))
    row = conn.execute(select(follow_ups).where(follow_ups.c.public_id == public_id)).one()
    if members:
        conn.execute(insert(follow_up_members), [
            {"follow_up_id": row.id, "member": m.member, "key_version": m.key_version,
             "bsn_pseudonym": m.bsn, "name_pseudonym": m.name, "bsn_birth_pseudonym": m.bsn_birth,
             "windows": _json({k: list(v) for k, v in sorted(m.windows.items())})}
            for m in members])
    return _follow_up(row, len({m.member for m in members}))


def list_follow_ups(conn: Connection, owner: str, now: str) -> list[FollowUp]:
    counts = (select(follow_up_members.c.follow_up_id,
                     func.count(follow_up_members.c.member.distinct()).label("n"))
              .group_by(follow_up_members.c.follow_up_id).subquery())
    stmt = (select(follow_ups, counts.c.n)
            .join(counts, counts.c.follow_up_id == follow_ups.c.id, isouter=True)
            .where(follow_ups.c.owner == owner, follow_ups.c.expires_at > now)
            .order_by(follow_ups.c.id))
    return [_follow_up(r, int(r.n or 0)) for r in conn.execute(stmt)]


def get_follow_up(conn: Connection, public_id: str, owner: str) -> FollowUp | None:
    row = conn.execute(select(follow_ups).where(
        follow_ups.c.public_id == public_id, follow_ups.c.owner == owner).with_for_update()
    ).first()
    return _follow_up(row) if row is not None else None


def delete_follow_ups(conn: Connection, ids: Sequence[int]) -> None:
    """The follow-ups and their members' pseudonyms (explicitly: SQLite enforces the
    foreign key's cascade only with a pragma)."""
    if ids:
        conn.execute(delete(follow_up_members).where(follow_up_members.c.follow_up_id.in_(ids)))
        conn.execute(delete(follow_ups).where(follow_ups.c.id.in_(ids)))


def expired_follow_ups(conn: Connection, now: str) -> list[FollowUp]:
    return [_follow_up(r) for r in conn.execute(select(follow_ups).where(
        follow_ups.c.expires_at <= now).order_by(follow_ups.c.id).with_for_update())]


def lock_follow_ups(conn: Connection, ids: Iterable[int], now: str) -> list[FollowUp]:
    """The live follow-ups among ``ids``, locked in id order and read afresh: two publish
    commits of different agencies take turns on a follow-up (neither loses the other's
    agency), and never deadlock."""
    wanted = sorted(set(ids))
    if not wanted:
        return []
    stmt = (select(follow_ups).where(follow_ups.c.id.in_(wanted), follow_ups.c.expires_at > now)
            .order_by(follow_ups.c.id).with_for_update())
    return [_follow_up(r) for r in conn.execute(stmt)]


def set_agencies(conn: Connection, follow_up_id: int, agencies: Iterable[str]) -> None:
    conn.execute(update(follow_ups).where(follow_ups.c.id == follow_up_id)
                 .values(agencies=_json(sorted(set(agencies)))))


# PostgreSQL advisory lock between publish commits (shared: they run side by side) and
# follow-up openings (exclusive). SQLite's BEGIN IMMEDIATE already serialises every writer.
_FOLLOW_UP_LOCK = 0x486D_0016


def lock_out_publishes(conn: Connection) -> None:
    """Wait for every publish commit in flight and keep new ones out until this
    transaction ends: a follow-up opened here then either sees a commit's entries or is
    seen by its re-evaluation, never neither, also for an agency's very first publish
    (which has no ``agency_sets`` row to lock yet)."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(_FOLLOW_UP_LOCK)))


def publish_turn(conn: Connection) -> None:
    """A publish commit's side of ``lock_out_publishes``: taken before anything else in
    its transaction, held to its end."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock_shared(_FOLLOW_UP_LOCK)))


# The re-evaluation's join: each member's pseudonyms against the agency's committed set.
# Two halves (BSN, name key), each an equi-join on one indexed column, so either side's
# index serves it; the matching rules (``core.matching``) then decide in Python on the few
# rows that come back.
Candidate = tuple[int, str, MemberRow, tuple[bytes | None, bytes | None, bytes | None]]


def _candidate_select(on_bsn: bool, agency: str, generation: int, now: str,
                      lateral: bool) -> Any:
    e, f = entries, follow_ups
    fm: Any = follow_up_members
    if lateral:
        # The members in pseudonym order (OFFSET 0: sorted here, not flattened away): the
        # probes then walk the entries' pseudonym index from one end to the other instead
        # of jumping about it, which on a large set is most of their cost.
        column = fm.c.bsn_pseudonym if on_bsn else fm.c.name_pseudonym
        fm = (select(fm).where(column.is_not(None)).order_by(column)
              .offset(literal_column("0")).subquery("m"))
    key = (e.c.bsn_pseudonym == fm.c.bsn_pseudonym) if on_bsn else (
        e.c.name_pseudonym == fm.c.name_pseudonym)
    # "|| ''" and "+ 0": never through the (agency, generation) index. The generation
    # just committed is not yet in the planner's statistics, which may then take it (or
    # the agency) for a few rows and probe the members once per entry, or AND a bitmap of
    # the agency's million entries into every probe; the members (tens of thousands) must
    # probe the pseudonym index alone, which finds about one row each.
    where = and_(key, e.c.agency.op("||")(literal_column("''")) == agency,
                 e.c.generation + 0 == generation, e.c.key_version == fm.c.key_version)
    members = (f.c.id.label("fid"), f.c.agencies.label("agencies"),
               fm.c.member.label("member"), fm.c.key_version.label("kv"),
               fm.c.bsn_pseudonym.label("m_bsn"), fm.c.name_pseudonym.label("m_name"),
               fm.c.bsn_birth_pseudonym.label("m_birth"), fm.c.windows.label("windows"))
    base = fm.join(f, f.c.id == fm.c.follow_up_id)
    if lateral:
        # PostgreSQL: LATERAL fixes the order, members outside, one index probe each
        # (OFFSET 0 keeps the planner from flattening it back into a plain join).
        found = (select(e.c.bsn_pseudonym.label("e_bsn"), e.c.name_pseudonym.label("e_name"),
                        e.c.bsn_birth_pseudonym.label("e_birth")).where(where)
                 .offset(literal_column("0")).lateral())
        return (select(*members, found.c.e_bsn, found.c.e_name, found.c.e_birth)
                .select_from(base.join(found, true())).where(f.c.expires_at > now))
    return (select(*members, e.c.bsn_pseudonym.label("e_bsn"),
                   e.c.name_pseudonym.label("e_name"), e.c.bsn_birth_pseudonym.label("e_birth"))
            .select_from(base.join(e, where)).where(f.c.expires_at > now))


def follow_up_candidates(conn: Connection, agency: str, generation: int, now: str
                         ) -> list[Candidate]:
    """Every (follow-up, member, entry) where a live follow-up's member shares a BSN or
    name-key pseudonym with an entry of ``agency``'s set ``generation``: one statement."""
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        # The plan is a few index probes per member; compiling it (JIT, which the probe
        # count's cost estimate would trigger) takes longer than running it.
        conn.exec_driver_sql("SET LOCAL jit = off")
    stmt = candidate_statement(agency, generation, now, postgres)
    return [_candidate(r) for r in conn.execute(stmt)]


def candidate_statement(agency: str, generation: int, now: str, lateral: bool) -> Any:
    return union_all(_candidate_select(True, agency, generation, now, lateral),
                     _candidate_select(False, agency, generation, now, lateral))


def follow_up_members_for(conn: Connection, bsns: Sequence[bytes], names: Sequence[bytes],
                          now: str) -> list[tuple[int, str, MemberRow]]:
    """The live follow-ups' members sharing a BSN or name-key pseudonym with the given ones
    (a delta's added entries): index look-ups, in chunks the drivers take."""
    fm, f = follow_up_members, follow_ups
    out: list[tuple[int, str, MemberRow]] = []
    chunk = 500
    seen: set[tuple[int, int, int]] = set()
    for column, values in ((fm.c.bsn_pseudonym, bsns), (fm.c.name_pseudonym, names)):
        for start in range(0, len(values), chunk):
            stmt = (select(f.c.id, f.c.agencies, fm.c.member, fm.c.key_version,
                           fm.c.bsn_pseudonym, fm.c.name_pseudonym, fm.c.bsn_birth_pseudonym,
                           fm.c.windows)
                    .select_from(fm.join(f, f.c.id == fm.c.follow_up_id))
                    .where(column.in_(list(values[start:start + chunk])), f.c.expires_at > now))
            for r in conn.execute(stmt):
                key = (int(r[0]), int(r[2]), int(r[3]))
                if key in seen:
                    continue
                seen.add(key)
                out.append((int(r[0]), r[1], _member(r[2], r[3], r[4], r[5], r[6], r[7])))
    return out


def _member(member: Any, kv: Any, bsn: Any, name: Any, birth: Any, windows: str) -> MemberRow:
    return MemberRow(int(member), int(kv), bsn, name, birth,
                     {k: (v[0], v[1]) for k, v in json.loads(windows).items()})


def _candidate(r: Any) -> Candidate:
    return (int(r.fid), r.agencies,
            _member(r.member, r.kv, r.m_bsn, r.m_name, r.m_birth, r.windows),
            (r.e_bsn, r.e_name, r.e_birth))


def follow_up_counts(conn: Connection, now: str) -> dict[str, int]:
    """purpose -> live follow-ups: counts only, for the statistics."""
    stmt = (select(follow_ups.c.purpose, func.count()).where(follow_ups.c.expires_at > now)
            .group_by(follow_ups.c.purpose))
    return {p: int(n) for p, n in conn.execute(stmt)}


__all__ = ["KINDS", "SIGNAL_COLUMNS", "Candidate", "FollowUp", "MemberRow", "Signal",
           "ack_signal", "delete_follow_ups", "expire_signals", "expired_follow_ups",
           "follow_up_candidates", "follow_up_counts", "follow_up_members_for", "get_follow_up",
           "get_signal", "insert_follow_up", "insert_signals", "list_follow_ups",
           "list_signals", "lock_follow_ups", "lock_out_publishes", "new_id", "publish_turn",
           "set_agencies",
           "signal_counts"]
