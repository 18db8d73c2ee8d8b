"""Load: 10,000 household queries at concurrency 32 against a served instance on
PostgreSQL with 2 workers, with the enumeration defence switched on.

    .venv/bin/python benchmarks/load.py [--queries 10000] [--concurrency 32] [--workers 2]
                                        [--entries 100000] [--tokens 64] [--redis URL|none]

It fills an index (as ``benchmarks/query.py`` does), creates ``--tokens`` coordinator
tokens (a Veiligheidshuis has many coordinators; one token would rightly be stopped by
its rate limit), serves the instance with ``hitmachine serve --workers 2`` and the rate
limits shared through Redis when it answers, and sends exactly ``--queries`` household
queries of 4 members. It prints throughput and p50/p99 latency, and checks: 0 errors, and
the number of ``query.household`` audit records equals the number of answers.
Exit status 1 when a check fails.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.loadgen import post_request, run_load  # noqa: E402
from benchmarks.query import fill_index, free_port, households, query_count, scratch_postgres, serve  # noqa: E402
from hitmachine.core.principal import Role  # noqa: E402
from hitmachine.services import admin  # noqa: E402
from hitmachine.services.context import Context  # noqa: E402
from hitmachine.services.instance import initialise  # noqa: E402
from hitmachine.settings import Settings  # noqa: E402

REDIS = "redis://127.0.0.1:6379"


def redis_answers(url: str) -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
    except Exception:
        return False


def run(url: str, args: argparse.Namespace, workdir: Path) -> bool:
    rng = random.Random(7)
    settings = Settings(database_url=url, keys_dir=workdir / "keys")
    initialise(settings)
    published, unknown = fill_index(settings, args.entries, rng)
    ctx = Context.from_settings(settings)
    run_id = uuid.uuid4().hex[:8]  # fresh rate-limit keys in a shared Redis
    tokens = [admin.create_token(ctx, admin.CONSOLE, name=f"load {run_id} coordinator {i}",
                                 role=Role.COORDINATOR, agency=None, expires_at=None,
                                 request_id="load")[1] for i in range(args.tokens)]
    ctx.close()
    bodies = households(published, unknown, rng)
    storage = None if args.redis == "none" else args.redis
    if storage and not redis_answers(storage):
        print(f"  Redis does not answer at {storage}: rate limits per worker, in memory")
        storage = None
    os.environ.pop("HITMACHINE_RATE_LIMIT_STORAGE", None)
    if storage:  # the served workers read it (hitmachine.settings)
        os.environ["HITMACHINE_RATE_LIMIT_STORAGE"] = storage
    port = free_port()
    proc = serve(settings, port, args.workers, workdir / "server.log")
    try:
        # One request per (body, token) pair in turn; the generator cycles through them.
        requests = [post_request("127.0.0.1", port, "/v1/queries/household",
                                 bodies[i % len(bodies)], tokens[i % len(tokens)])
                    for i in range(max(len(bodies), len(tokens)) * 4)]
        before = query_count(url)
        result = run_load("127.0.0.1", port, requests, concurrency=args.concurrency,
                          seconds=args.max_seconds, max_requests=args.queries)
        recorded = query_count(url) - before
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    answers = result.statuses.get(200, 0)
    print(result.line(f"{result.requests} household queries"))
    print(f"  statuses {dict(sorted(result.statuses.items()))}; answers {answers}, "
          f"query.household audit records {recorded}; rate limits in "
          f"{'Redis' if storage else 'memory'}")
    denials = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                  if line.startswith("hitmachine_rate_limit_denials_total"))
    print(f"  /metrics: rate-limit denials {denials:.0f}")
    ok = result.requests == args.queries and result.errors == 0 and recorded == answers
    print(f"  {'OK' if ok else 'FAILED'}: {result.errors} errors, "
          f"{'every answer audited' if recorded == answers else 'AUDIT COUNT MISMATCH'}")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--max-seconds", type=float, default=600)
    parser.add_argument("--redis", default=REDIS, help="rate-limit store, or 'none'")
    parser.add_argument("--pg-url", default=os.environ.get(
        "HITMACHINE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    args = parser.parse_args()
    print(f"{args.queries:,} household queries of 4 members, concurrency {args.concurrency}, "
          f"{args.workers} workers, PostgreSQL, {args.entries:,} entries, "
          f"{args.tokens} coordinator tokens, {os.cpu_count()} CPUs")
    with scratch_postgres(args.pg_url, "hm_load") as url, \
            tempfile.TemporaryDirectory(prefix="hm-load-") as tmp:
        ok = run(url, args, Path(tmp))
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
