"""The audit log as the privacy officer reads it: newest first, filtered, one page at a time.

Keyset paging on ``id`` in both directions (``before`` for older, ``after`` for newer), so
a page stays stable while records keep arriving. The filter is the store's own
``AuditFilter``: the API, the export and these pages select records alike.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, RowMapping, func, select

from hitmachine.core.clock import iso_utc
from hitmachine.store.audit_log import AuditFilter
from hitmachine.store.schema import audit_records

PAGE_SIZE = 50
MAX_DISTINCT = 500


@dataclass(frozen=True, slots=True)
class AuditPage:
    records: list[dict[str, Any]]
    total: int
    newer: int | None    # ``after`` cursor for the newer page, if there is one
    older: int | None    # ``before`` cursor for the older page, if there is one


def page(conn: Connection, flt: AuditFilter, *, before: int | None = None,
         after: int | None = None, limit: int = PAGE_SIZE) -> AuditPage:
    c = audit_records.c
    conditions = flt.conditions()
    if after is not None:
        stmt = (select(audit_records).where(c.id > after, *conditions)
                .order_by(c.id.asc()).limit(limit + 1))
        rows = list(conn.execute(stmt).mappings())
        has_newer = len(rows) > limit
        rows = list(reversed(rows[:limit]))
        has_older = bool(rows) and _exists(conn, c.id < rows[-1]["id"], conditions)
    else:
        stmt = select(audit_records).where(*conditions)
        if before is not None:
            stmt = stmt.where(c.id < before)
        rows = list(conn.execute(stmt.order_by(c.id.desc()).limit(limit + 1)).mappings())
        has_older = len(rows) > limit
        rows = rows[:limit]
        has_newer = bool(rows) and _exists(conn, c.id > rows[0]["id"], conditions)
    total = conn.execute(select(func.count()).select_from(audit_records)
                         .where(*conditions)).scalar_one()
    return AuditPage([_view(r) for r in rows], int(total),
                     newer=rows[0]["id"] if rows and has_newer else None,
                     older=rows[-1]["id"] if rows and has_older else None)


def _exists(conn: Connection, bound: Any, conditions: list[Any]) -> bool:
    c = audit_records.c
    return conn.execute(select(c.id).where(bound, *conditions).limit(1)).first() is not None


def _view(row: RowMapping) -> dict[str, Any]:
    view = dict(row)
    for key in ("subjects", "agencies", "detail"):
        try:
            view[key] = json.loads(row[key]) if row[key] else ([] if key != "detail" else {})
        except (TypeError, ValueError):
            view[key] = row[key]
    view.pop("leaf_hash", None)
    return view


def distinct_values(conn: Connection, column: str) -> list[str]:
    col = audit_records.c[column]
    stmt = select(col).where(col.is_not(None)).distinct().order_by(col).limit(MAX_DISTINCT)
    return [str(v) for v in conn.execute(stmt).scalars()]


def local_day_bounds(since: dt.date | None, until: dt.date | None,
                     timezone: str) -> tuple[str | None, str | None]:
    """A period of local calendar days as UTC instants: [start of ``since``, start of the
    day after ``until``)."""
    zone = ZoneInfo(timezone)

    def start_of(day: dt.date) -> str:
        return iso_utc(dt.datetime.combine(day, dt.time.min, tzinfo=zone))

    return (start_of(since) if since else None,
            start_of(until + dt.timedelta(days=1)) if until else None)


__all__ = ["AuditPage", "PAGE_SIZE", "distinct_values", "local_day_bounds", "page"]
