"""Readiness tells how long audit records have waited outside the Merkle tree, and fails
when the integrator has stopped hashing them (issue 13, finding 15: until a record is
hashed a database writer can change it unseen, so that window is bounded)."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient

from hitmachine.core.auditlog.record import AuditRecord, Outcome
from hitmachine.core.clock import iso_utc, utc_now
from hitmachine.http.app import create_app
from hitmachine.services import audit as service
from hitmachine.services.context import Context
from hitmachine.store import audit_log


def _pending(ctx: Context, seconds_ago: float) -> None:
    record = AuditRecord(event="query.household", actor="coord", role="coordinator",
                         organisation="veiligheidshuis", request_id="r", outcome=Outcome.NO_HIT,
                         recorded_at=iso_utc(utc_now() - dt.timedelta(seconds=seconds_ago)))
    with ctx.db.write() as conn:
        audit_log.append(conn, [record])


def test_readiness_fails_while_records_wait_too_long_for_the_integrator(
        ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    # The integrator of this process has stopped (it died, or the tree is damaged).
    monkeypatch.setattr(service.Integrator, "start", lambda self: self)
    with TestClient(create_app(ctx=ctx), raise_server_exceptions=False) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["audit_pending_seconds"] == 0
        _pending(ctx, 2)
        ready = client.get("/readyz")
        assert ready.status_code == 200 and 1 < ready.json()["audit_pending_seconds"] < 30
        service.integrate(ctx)
        _pending(ctx, service.PENDING_LIMIT_SECONDS + 30)
        stalled = client.get("/readyz")
        assert stalled.status_code == 503
        assert stalled.json()["reason"] == "audit-integration-stalled"
        service.integrate(ctx)
        assert client.get("/readyz").status_code == 200
