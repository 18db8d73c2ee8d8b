"""Figures for the privacy impact assessment, counted from the audit log.

Only answered household queries count (event ``query.household``, outcome ``hit`` or
``no_hit``): refused or invalid requests are not queries that disclosed anything. A
query "with a hit" disclosed at least one agency; "multi-agency" means two or more
agencies know the household (the answer's ``meerdere domeinen``).

Showing them is audited (``audit.statistics``): ``read`` counts and records in one call, for
the statistics page and the DPIA alike.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select

from hitmachine.core.clock import iso_utc, parse_iso_utc
from hitmachine.core.principal import Principal
from hitmachine.store.schema import audit_records

if TYPE_CHECKING:
    from hitmachine.services.context import Context


@dataclass(frozen=True, slots=True)
class WeekCount:
    week: str            # ISO week, "2025-W47"
    monday: dt.date
    hits: int
    no_hits: int

    @property
    def total(self) -> int:
        return self.hits + self.no_hits


@dataclass(frozen=True, slots=True)
class GroupCount:
    key: str
    label: str
    total: int
    hits: int


@dataclass
class Statistics:
    since: dt.date
    until: dt.date
    total: int = 0
    with_hit: int = 0
    multi_agency: int = 0
    members: int = 0
    per_week: list[WeekCount] = field(default_factory=list)
    per_purpose: list[GroupCount] = field(default_factory=list)
    per_actor: list[GroupCount] = field(default_factory=list)

    @property
    def single_agency(self) -> int:
        return self.with_hit - self.multi_agency

    @property
    def no_hit(self) -> int:
        return self.total - self.with_hit


def iso_week(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def compute(conn: Connection, *, since: dt.date, until: dt.date, since_utc: str,
            until_utc: str, timezone: str, purpose_labels: dict[str, str]) -> Statistics:
    c = audit_records.c
    stmt = (select(c.recorded_at, c.purpose, c.actor, c.outcome, c.agencies, c.detail)
            .where(c.event == "query.household", c.outcome.in_(("hit", "no_hit")),
                   c.recorded_at >= since_utc, c.recorded_at < until_utc)
            .execution_options(yield_per=2000))
    zone = ZoneInfo(timezone)
    stats = Statistics(since, until)
    weeks: dict[str, list[int]] = {}
    purposes: Counter[str] = Counter()
    purpose_hits: Counter[str] = Counter()
    actors: Counter[str] = Counter()
    actor_hits: Counter[str] = Counter()
    for row in conn.execute(stmt):
        hit = row.outcome == "hit"
        day = parse_iso_utc(row.recorded_at).astimezone(zone).date()
        counts = weeks.setdefault(iso_week(day), [0, 0])
        counts[0 if hit else 1] += 1
        stats.total += 1
        stats.with_hit += hit
        purposes[row.purpose or ""] += 1
        purpose_hits[row.purpose or ""] += hit
        actors[row.actor] += 1
        actor_hits[row.actor] += hit
        agencies = _json(row.agencies)
        if isinstance(agencies, list) and len(agencies) >= 2:
            stats.multi_agency += 1
        detail = _json(row.detail)
        members = detail.get("members") if isinstance(detail, dict) else None
        stats.members += members if isinstance(members, int) else 0
    monday = since - dt.timedelta(days=since.weekday())
    while monday <= until:
        label = iso_week(monday)
        hits, no_hits = weeks.get(label, [0, 0])
        stats.per_week.append(WeekCount(label, monday, hits, no_hits))
        monday += dt.timedelta(days=7)
    stats.per_purpose = [GroupCount(k, purpose_labels.get(k, k or "(geen)"), n, purpose_hits[k])
                         for k, n in purposes.most_common()]
    stats.per_actor = [GroupCount(k, k, n, actor_hits[k]) for k, n in actors.most_common()]
    return stats


def read(ctx: Context, principal: Principal, request_id: str, *, since: dt.date,
         until: dt.date, via: str) -> Statistics:
    """The figures of the local days ``since`` to ``until`` (inclusive), recorded as shown."""
    from hitmachine.services import audit as audit_service

    zone = ZoneInfo(ctx.settings.timezone)

    def start_of(day: dt.date) -> str:
        return iso_utc(dt.datetime.combine(day, dt.time.min, tzinfo=zone))

    labels = {code: p.description for code, p in ctx.purposes.items()}
    with ctx.db.read() as conn:
        stats = compute(conn, since=since, until=until, since_utc=start_of(since),
                        until_utc=start_of(until + dt.timedelta(days=1)),
                        timezone=ctx.settings.timezone, purpose_labels=labels)
    audit_service.record_statistics(ctx, principal, request_id, since=since, until=until,
                                    queries=stats.total, via=via)
    return stats


def _json(text: str | None) -> object:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


__all__ = ["GroupCount", "Statistics", "WeekCount", "compute", "iso_week", "read"]
