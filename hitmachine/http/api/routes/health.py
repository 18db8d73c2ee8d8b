"""Liveness and readiness, for load balancers and orchestrators. No authentication."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from hitmachine.http.api.auth import CtxDep
from hitmachine.services import audit as audit_service
from hitmachine.store.migrate import schema_problem

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    # On the event loop, blocking nothing: it answers even when every pool thread waits
    # on the database or the rate-limit store, which is what a liveness probe must see.
    return {"status": "ok"}


@router.get("/readyz")
def readyz(ctx: CtxDep) -> JSONResponse:
    """The database answers with the schema this code needs and the keys are loaded: the
    service can answer queries."""
    # And audit records reach the Merkle tree in time (docs/audit-log.md): until hashed, a
    # record is open to change by whoever can write the database.
    try:
        with ctx.db.read() as conn:
            conn.execute(text("SELECT 1"))
            problem = schema_problem(conn)
        ctx.pseudonymiser.active_versions  # noqa: B018 - raises if the keyring is unusable
        pending = audit_service.pending_seconds(ctx)
    except Exception as exc:  # report, never crash the probe
        return JSONResponse({"status": "unavailable", "reason": type(exc).__name__},
                            status_code=503)
    if problem is not None:  # every other request would fail: not ready
        return JSONResponse({"status": "unavailable", "reason": f"the database {problem}"},
                            status_code=503)
    body = {"audit_pending_seconds": round(min(pending, 1e9), 3)}
    if ctx.settings.audit_integrate and pending > audit_service.PENDING_LIMIT_SECONDS:
        return JSONResponse({"status": "unavailable", "reason": "audit-integration-stalled",
                             **body}, status_code=503)
    return JSONResponse({"status": "ready", **body})
