"""The record that the query statistics of some days were shown."""

from __future__ import annotations

import datetime as dt

from hitmachine.core.principal import Principal
from hitmachine.services.audit._common import record_action
from hitmachine.services.context import Context


def record_statistics(ctx: Context, principal: Principal, request_id: str, *, since: dt.date,
                      until: dt.date, queries: int, via: str = "web") -> None:
    """Record that the query statistics of these days were shown (``audit.statistics``).
    The figures are computed by the page that lays them out; the record is kept here."""
    record_action(ctx, principal, "audit.statistics", request_id,
           {"from": since.isoformat(), "to": until.isoformat(), "queries": queries,
            "via": via})


__all__ = ["record_statistics"]
