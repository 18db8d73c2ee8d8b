"""Reading pages of the log, recorded as ``audit.read`` by their filter and cursor."""

from __future__ import annotations

from typing import Any

from sqlalchemy import RowMapping

from hitmachine.core.principal import Principal
from hitmachine.services.audit._common import filter_detail, record_action
from hitmachine.services.context import Context
from hitmachine.store import audit_log
from hitmachine.store.audit_log import AuditFilter


def search_records(ctx: Context, principal: Principal, request_id: str,
                   flt: AuditFilter, *, after: int, limit: int) -> list[RowMapping]:
    """One page of records after record ``after``, recorded as ``audit.read``."""
    with ctx.db.read() as conn:
        rows = audit_log.search(conn, flt, after_id=after, limit=limit)
    record_read(ctx, principal, request_id, flt, returned=len(rows), after=after)
    return rows


def record_read(ctx: Context, principal: Principal, request_id: str, flt: AuditFilter, *,
                returned: int, via: str | None = None, **cursor: int | None) -> None:
    """Record that a page of the log was read (``audit.read``), by its filter and cursor.
    For pages a shell lays out itself (the web's newer/older page), after reading it."""
    detail: dict[str, Any] = {"filter": filter_detail(flt), **cursor, "returned": returned}
    if via is not None:
        detail["via"] = via
    record_action(ctx, principal, "audit.read", request_id, detail)


__all__ = ["record_read", "search_records"]
