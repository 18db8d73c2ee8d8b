"""Reading the audit log (privacy officer). Reading is itself audited."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import RowMapping

from hitmachine.api.auth import CtxDep, require
from hitmachine.api.problems import request_id
from hitmachine.api.schemas import AuditPageOut, AuditRecordOut
from hitmachine.domain.audit import AuditRecord, Outcome
from hitmachine.domain.principal import Permission, Principal
from hitmachine.store.audit_log import AuditFilter, search

router = APIRouter(prefix="/v1/audit", tags=["audit"])
AuditReader = Annotated[Principal, Depends(require(Permission.READ_AUDIT, "audit.read"))]


@router.get("/records", response_model=AuditPageOut)
def list_records(
    request: Request, ctx: CtxDep, principal: AuditReader,
    since: Annotated[str | None, Query(alias="from", max_length=32)] = None,
    until: Annotated[str | None, Query(alias="to", max_length=32)] = None,
    event: Annotated[str | None, Query(max_length=64)] = None,
    actor: Annotated[str | None, Query(max_length=128)] = None,
    purpose: Annotated[str | None, Query(max_length=32)] = None,
    case_reference: Annotated[str | None, Query(max_length=200)] = None,
    outcome: Annotated[str | None, Query(max_length=16)] = None,
    after: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,  # a database bigint
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditPageOut:
    """Audit records in arrival order, filtered, one page after record ``after``."""
    flt = AuditFilter(since=since, until=until, event=event, actor=actor, purpose=purpose,
                      case_reference=case_reference, outcome=outcome)
    with ctx.db.read() as conn:
        rows = search(conn, flt, after_id=after, limit=limit)
    ctx.audit.append(AuditRecord.by(
        principal, "audit.read", request_id(request), Outcome.OK,
        detail={"filter": {k: v for k, v in asdict(flt).items() if v is not None},
                "after": after, "returned": len(rows)}))
    records = [_record_out(r) for r in rows]
    return AuditPageOut(records=records,
                        next_cursor=records[-1].id if len(records) == limit else None)


def _record_out(m: RowMapping) -> AuditRecordOut:
    plain = {k: m[k] for k in ("id", "seq", "recorded_at", "event", "actor", "role",
                               "organisation", "request_id", "purpose", "legal_basis",
                               "case_reference", "outcome")}
    return AuditRecordOut(**plain, subjects=json.loads(m["subjects"]),
                          agencies=json.loads(m["agencies"]), detail=json.loads(m["detail"]))
