"""The cost of the audit Merkle tree: query throughput with and without the integrator,
integration speed, and ``audit verify`` over 1,000,000 records.

    .venv/bin/python benchmarks/audit.py [--entries 100000] [--seconds 10] [--concurrency 16]
                                         [--workers 2] [--verify-records 1000000]
                                         [--databases sqlite,postgresql]

For each database: the index is filled as in ``benchmarks/query.py`` and the audited
household query is run through ``hitmachine serve`` twice, with
HITMACHINE_AUDIT_INTEGRATE=false and =true (alternating, twice each, best of each kept),
so the difference is what sequencing records into the tree and signing checkpoints costs
the query path. Then ``--verify-records`` records are written straight into the table
with their seq and leaf hash (as the integrator leaves them), a checkpoint is signed, and
``services.audit.verify`` (what ``hitmachine audit verify`` runs) is timed.
Goals (issue 4): integration costs under 10% of query throughput; verify of 1,000,000
records under 20 s.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, insert, text
from sqlalchemy.pool import NullPool

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.loadgen import post_request, run_load  # noqa: E402
from benchmarks.query import fill_index, free_port, households, scratch_postgres, serve  # noqa: E402
from hitmachine.core.auditlog.encoding import LEAF_FIELDS, leaf_data_from_values  # noqa: E402
from hitmachine.core.auditlog.merkle import CompactRange, leaf_hash  # noqa: E402
from hitmachine.core.auditlog.record import AuditRecord, Outcome  # noqa: E402
from hitmachine.core.principal import Role  # noqa: E402
from hitmachine.services import admin  # noqa: E402
from hitmachine.services import audit as service  # noqa: E402
from hitmachine.services.context import Context  # noqa: E402
from hitmachine.services.instance import initialise  # noqa: E402
from hitmachine.settings import Settings  # noqa: E402
from hitmachine.store.schema import audit_records, audit_tree  # noqa: E402


def query_rates(settings: Settings, args: argparse.Namespace, workdir: Path,
                name: str) -> dict[str, float]:
    rng = random.Random(7)
    published, unknown = fill_index(settings, args.entries, rng)
    ctx = Context.from_settings(settings)
    _, token = admin.create_token(ctx, admin.CONSOLE, name="bench", role=Role.COORDINATOR,
                                  agency=None, expires_at=None, request_id="bench")
    ctx.close()
    bodies = households(published, unknown, rng)
    best: dict[str, float] = {}
    for round_no in range(2):
        for integrate in ("false", "true"):
            os.environ["HITMACHINE_AUDIT_INTEGRATE"] = integrate
            port = free_port()
            reqs = [post_request("127.0.0.1", port, "/v1/queries/household", b, token)
                    for b in bodies]
            proc = serve(settings, port, args.workers, workdir / f"server-{name}-{integrate}.log")
            try:
                run_load("127.0.0.1", port, reqs, concurrency=args.concurrency, seconds=2)
                result = run_load("127.0.0.1", port, reqs, concurrency=args.concurrency,
                                  seconds=args.seconds)
            finally:
                proc.terminate()
                proc.wait(timeout=30)
            label = "with integrator" if integrate == "true" else "without integrator"
            print(result.line(f"{label} (round {round_no + 1})"))
            best[integrate] = max(best.get(integrate, 0.0), result.rate)
    os.environ.pop("HITMACHINE_AUDIT_INTEGRATE", None)
    ctx = Context.from_settings(settings)
    try:
        started = time.perf_counter()
        pending_done = service.integrate(ctx)
        with ctx.db.read() as conn:
            sequenced = conn.execute(text("SELECT count(seq) FROM audit_records")).scalar_one()
        print(f"  after the runs: {sequenced:,} records sequenced "
              f"({pending_done:,} left to the final integrate, "
              f"{time.perf_counter() - started:.1f}s)")
    finally:
        ctx.close()
    cost = 1 - best["true"] / best["false"]
    print(f"  records appended/s: {best['false']:,.0f} without, {best['true']:,.0f} with "
          f"the integrator: integration costs {cost:.1%} of query throughput")
    return {"without": best["false"], "with": best["true"], "cost": cost}


def integration_rate(settings: Settings, n: int) -> float:
    """Pending records sequenced per second by ``services.audit.integrate`` alone."""
    ctx = Context.from_settings(settings)
    try:
        record = AuditRecord(event="query.household", actor="bench", role="coordinator",
                             organisation="veiligheidshuis", request_id="x",
                             outcome=Outcome.NO_HIT, purpose="casusoverleg",
                             case_reference="BENCH").to_row()
        with ctx.db.write() as conn:
            conn.execute(insert(audit_records), [dict(record, request_id=f"p{i}")
                                                 for i in range(n)])
        started = time.perf_counter()
        done = service.integrate(ctx)
        elapsed = time.perf_counter() - started
    finally:
        ctx.close()
    print(f"  integrator alone: {done:,} pending records sequenced in {elapsed:.2f}s "
          f"= {done / elapsed:,.0f} records/s")
    return done / elapsed


def fill_log(settings: Settings, n: int) -> None:
    """``n`` sequenced records written directly, leaf hashes computed as the integrator
    would, and the tree state saved; appended after whatever is in the log already."""
    engine = create_engine(settings.database_url, poolclass=NullPool)
    base = AuditRecord(event="query.household", actor="coordinator 1", role="coordinator",
                       organisation="veiligheidshuis", request_id="", outcome=Outcome.HIT,
                       purpose="casusoverleg", legal_basis="Convenant Veiligheidshuis, art. 4",
                       case_reference="", agencies=("om", "regieteams"),
                       subjects=({"member": 0, "key_version": 1, "bsn": "ab" * 32,
                                  "name": "cd" * 32, "agencies": ["om"]},),
                       detail={"members": 1, "query_date": "2026-01-01",
                               "scheme": "hmac"}).to_row()
    started = time.perf_counter()
    with engine.begin() as conn:
        rows = conn.execute(text("SELECT id, seq, leaf_hash FROM audit_records "
                                 "WHERE seq IS NOT NULL ORDER BY seq")).all()
        max_id = conn.execute(text("SELECT coalesce(max(id), 0) FROM audit_records")).scalar_one()
        compact = CompactRange()
        compact.extend([bytes(r[2]) for r in rows])
    start_seq, next_id = compact.size, max_id + 1
    chunk: list[dict[str, object]] = []
    for i in range(n):
        seq, rid = start_seq + i, next_id + i
        row = dict(base, id=rid, seq=seq, request_id=f"bench-{i:09d}",
                   case_reference=f"VH-{i % 9973}")
        digest = leaf_hash(leaf_data_from_values(seq, rid, [row[f] for f in LEAF_FIELDS]))
        row["leaf_hash"] = digest
        chunk.append(row)
        if len(chunk) == 50_000:
            compact.extend([r["leaf_hash"] for r in chunk])  # type: ignore[misc]
            _insert(engine, chunk)
            chunk = []
    compact.extend([r["leaf_hash"] for r in chunk])  # type: ignore[misc]
    _insert(engine, chunk)
    with engine.begin() as conn:
        conn.execute(audit_tree.delete())
        conn.execute(insert(audit_tree).values(id=1, size=compact.size,
                                               compact_range=compact.to_bytes(),
                                               root_hash=compact.root(),
                                               updated_at="2026-01-01T00:00:00.000000Z"))
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT setval(pg_get_serial_sequence('audit_records', 'id'), "
                              ":v)"), {"v": next_id + n})
            conn.execute(text("ANALYZE audit_records"))
    engine.dispose()
    print(f"  wrote {n:,} sequenced records in {time.perf_counter() - started:.0f}s")


def _insert(engine: object, rows: list[dict[str, object]]) -> None:
    if not rows:
        return
    with engine.begin() as conn:  # type: ignore[attr-defined]
        if conn.dialect.name == "postgresql":
            cols = list(rows[0])
            raw = conn.connection.dbapi_connection
            with raw.cursor() as cur, cur.copy(
                    f"COPY audit_records ({', '.join(cols)}) FROM STDIN") as copy:
                for r in rows:
                    copy.write_row(tuple(r[c] for c in cols))
        else:
            conn.execute(insert(audit_records), rows)


def verify_time(settings: Settings, n: int) -> tuple[float, int]:
    fill_log(settings, n)
    ctx = Context.from_settings(settings)
    try:
        service.sign_checkpoint_now(ctx)
        started = time.perf_counter()
        result = service.verify(ctx)
        elapsed = time.perf_counter() - started
    finally:
        ctx.close()
    assert result.ok, result.problems
    print(f"  audit verify: {result.size:,} records, {result.checkpoints_checked} checkpoints "
          f"in {elapsed:.1f}s = {result.size / elapsed:,.0f} records/s")
    return elapsed, result.size


def bench_database(name: str, url: str, args: argparse.Namespace, workdir: Path) -> dict[str, float]:
    print(f"\n== {name}")
    settings = Settings(database_url=url, keys_dir=workdir / f"keys-{name}")
    initialise(settings)
    out = query_rates(settings, args, workdir, name) if args.seconds > 0 else {}
    out["integrate_rate"] = integration_rate(settings, 50_000)
    out["verify_s"], out["verify_n"] = verify_time(settings, args.verify_records)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--verify-records", type=int, default=1_000_000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--pg-url", default=os.environ.get(
        "HITMACHINE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    args = parser.parse_args()
    print(f"{args.entries:,} index entries, concurrency {args.concurrency}, {args.workers} "
          f"workers, {args.seconds:.0f}s per measurement, {os.cpu_count()} CPUs")
    results = {}
    with tempfile.TemporaryDirectory(prefix="hm-bench-audit-") as tmp:
        workdir = Path(tmp)
        for name in args.databases.split(","):
            if name == "sqlite":
                results[name] = bench_database(name, f"sqlite:///{workdir / 'bench.db'}", args,
                                               workdir)
                continue
            with scratch_postgres(args.pg_url) as url:
                results[name] = bench_database(name, url, args, workdir)
    print("\nsummary")
    for name, r in results.items():
        line = f"  {name:<10}"
        if "cost" in r:
            line += (f" {r['without']:6.0f} q/s without, {r['with']:6.0f} with the integrator "
                     f"(cost {r['cost']:.1%}, goal < 10%);")
        line += (f" integrator {r['integrate_rate']:,.0f} rec/s; verify "
                 f"{r['verify_n']:,.0f} records {r['verify_s']:.1f}s (goal: 1,000,000 < 20 s)")
        print(line)


if __name__ == "__main__":
    main()
