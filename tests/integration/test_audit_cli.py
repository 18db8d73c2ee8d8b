"""``hitmachine audit ...`` as an operator runs it, and the integrator under concurrent
appends from several processes on PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from hitmachine.core.auditlog.record import AuditRecord, Outcome, subject_entries
from hitmachine.core.identity import normalise_identity
from hitmachine.services import audit as service
from hitmachine.services.context import Context
from hitmachine.services.instance import initialise
from hitmachine.settings import Settings
from hitmachine.store.schema import audit_checkpoints, audit_records
from tests.conftest import _truncate_pg
from tests.live_server import cli, env_for


def test_audit_commands_checkpoint_verify_export_subject(settings: Settings,
                                                          tmp_path: Path) -> None:
    ctx = Context.from_settings(settings)
    try:
        anna = ctx.pseudonymiser.pseudonymise([normalise_identity(bsn="111222333")], 1)
        for i in range(6):
            ctx.audit.append(AuditRecord(
                event="query.household", actor="cora", role="coordinator",
                organisation="veiligheidshuis", request_id=f"r{i}", outcome=Outcome.HIT,
                case_reference=f"VH-{i}", subjects=subject_entries(anna) if i == 2 else ()))
    finally:
        ctx.close()
    note = cli(settings, "audit", "checkpoint").stdout
    lines = note.split("\n")
    assert lines[0] == settings.origin and lines[3] == "" and lines[4].startswith("\u2014 ")
    kept = tmp_path / "kept.checkpoint"
    kept.write_text(note, encoding="utf-8")

    ok = cli(settings, "audit", "verify", "--checkpoint", str(kept))
    assert ok.stdout.startswith("OK: ") and "(1 outside)" in ok.stdout

    # The identity comes from stdin only; the result lists the one record about her.
    found = cli(settings, "audit", "subject", stdin="111222333\n")
    assert [line.split("\t")[7] for line in found.stdout.splitlines()[1:]] == ["hit"]
    assert "VH-2" in found.stdout and "1 records concern" in found.stderr
    exported = cli(settings, "audit", "export", "--format", "jsonl", "--event", "query.household")
    items = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [i["case_reference"] for i in items] == [f"VH-{i}" for i in range(6)]

    # Someone edits a record in the database: verify fails and names it.
    ctx = Context.from_settings(settings)
    try:
        with ctx.db.write() as conn:
            conn.execute(update(audit_records).where(audit_records.c.seq == 3)
                         .values(case_reference="VH-edited"))
            events = set(conn.execute(select(audit_records.c.event)).scalars())
    finally:
        ctx.close()
    assert {"audit.checkpoint", "audit.verify", "audit.subject", "audit.export"} <= events
    bad = cli(settings, "audit", "verify", check=False)
    assert bad.returncode == 1 and "first bad seq 3" in bad.stdout, bad.stdout + bad.stderr
    missing = cli(settings, "audit", "verify", "--checkpoint", str(tmp_path / "nope"),
                  check=False)
    assert missing.returncode == 2


WRITER = r"""
import sys, time
from hitmachine.settings import Settings
from hitmachine.core.auditlog.record import AuditRecord, Outcome
from hitmachine.services import audit as service
from hitmachine.services.context import Context

ctx = Context.from_settings(Settings(audit_checkpoint_seconds=1))
integrator = service.Integrator(ctx).start()
n, end = 0, time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    ctx.audit.append(AuditRecord(event="query.household", actor=sys.argv[2], role="coordinator",
                                 organisation="veiligheidshuis", request_id=f"{sys.argv[2]}-{n}",
                                 outcome=Outcome.NO_HIT))
    n += 1
integrator.stop()
ctx.close()
print(n)
"""


@pytest.mark.slow
def test_four_processes_appending_for_ten_seconds_leave_a_log_that_verifies(
        pg_database: str, tmp_path: Path) -> None:
    _truncate_pg(pg_database)
    settings = Settings(database_url=pg_database, keys_dir=tmp_path / "keys")
    initialise(settings)
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, "10", f"w{i}"],
                                env=env_for(settings), stdout=subprocess.PIPE, text=True)
               for i in range(4)]
    counts = [int(w.communicate(timeout=120)[0]) for w in writers]
    assert all(w.returncode == 0 for w in writers)
    ctx = Context.from_settings(settings)
    try:
        service.integrate(ctx)
        with ctx.db.read() as conn:
            c = audit_records.c
            total, distinct, low, high = conn.execute(select(
                func.count(c.seq), func.count(func.distinct(c.seq)), func.min(c.seq),
                func.max(c.seq))).one()
            pending = conn.execute(select(func.count()).where(c.seq.is_(None))).scalar_one()
            checkpoints = conn.execute(select(func.count())
                                       .select_from(audit_checkpoints)).scalar_one()
        result = service.verify(ctx)
    finally:
        ctx.close()
    assert total == distinct == sum(counts) and pending == 0  # nothing else writes here
    assert result.ok, result.problems
    assert result.size == high + 1 and low == 0  # contiguous from 0: no gap, no duplicate
    assert checkpoints >= 5  # signed about every second while records arrived
    print(f"\n[audit concurrency] {sum(counts)} records from 4 processes in 10 s "
          f"({sum(counts) / 10:,.0f}/s), {checkpoints} checkpoints")
