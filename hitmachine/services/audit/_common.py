"""What every audit use case shares: writing its own record, and a filter as record detail."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from hitmachine.core.auditlog.record import AuditRecord, Outcome
from hitmachine.core.principal import Principal
from hitmachine.services.context import Context
from hitmachine.store.audit_log import AuditFilter


def record_action(ctx: Context, principal: Principal, event: str, request_id: str,
           detail: dict[str, Any], outcome: Outcome = Outcome.OK) -> None:
    ctx.audit.append(AuditRecord.by(principal, event, request_id, outcome, detail=detail))


def filter_detail(flt: AuditFilter) -> dict[str, Any]:
    return {k: v for k, v in asdict(flt).items() if v is not None}
