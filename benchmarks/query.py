"""Audited household queries through the real HTTP API, against the ceiling of the stack.

    .venv/bin/python benchmarks/query.py [--entries 1000000] [--seconds 15] [--concurrency 16]
                                         [--workers 2] [--databases sqlite,postgresql]

For each database it fills an index with ``--entries`` entries over the five agencies
(70% BSN + name key, 30% name key only), serves it with ``hitmachine serve --workers 2``
and runs household queries of 4 members (hits and misses, BSN and name-only) at the given
concurrency, each answered only after its audit record is committed. In the same run and
with the same server settings it measures the bare endpoint ``/bench/parse`` that parses
the same body and does nothing else. It prints queries/s, p50/p99 latency and the ratio to
that ceiling, and checks that every answer has its audit record.
Goal (issue 3): at least 50% of the ceiling on both databases, p99 under 50 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import create_engine, func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.loadgen import post_request, run_load  # noqa: E402
from hitmachine.config import Settings  # noqa: E402
from hitmachine.domain.clock import utc_now_iso  # noqa: E402
from hitmachine.domain.identity import normalise_identity  # noqa: E402
from hitmachine.domain.principal import Role  # noqa: E402
from hitmachine.domain.pseudonym import HmacPseudonymiser  # noqa: E402
from hitmachine.instance import initialise  # noqa: E402
from hitmachine.keystore import load_keyring  # noqa: E402
from hitmachine.services import admin  # noqa: E402
from hitmachine.services.context import Context  # noqa: E402
from hitmachine.store.schema import agency_sets, audit_records, entries  # noqa: E402

AGENCIES = ("leerplicht", "schuldhulp", "regieteams", "om", "reclassering")
SURNAMES = ["Jansen", "de Vries", "van den Berg", "Bakker", "Visser", "Smit", "Meijer", "de Boer",
            "Mulder", "de Groot", "Bos", "Vos", "Peters", "Hendriks", "van Leeuwen", "Dekker",
            "Brouwer", "de Wit", "Dijkstra", "Smits", "Yılmaz", "Öztürk", "El Amrani", "Çelik",
            "Kowalczyk", "Wróbel", "Doorson", "Martina", "van der Linden", "Kaya"]
GIVEN = ["Jan", "Anna", "Mohamed", "Sanne", "Pieter", "Fatima", "Daan", "Emma", "Noah", "Julia",
         "Sem", "Lotte", "Ayoub", "Zeynep", "Kacper", "Roxanne", "Luuk", "Iris", "Milan", "Eva"]


def valid_bsns(start: int) -> Iterator[str]:
    base = start
    while True:
        digits = f"{base:08d}"
        total = sum(w * int(d) for w, d in zip(range(9, 1, -1), digits))
        if total % 11 < 10:
            yield digits + str(total % 11)
        base += 1


def person(i: int, bsn: str, rng: random.Random) -> dict[str, str]:
    surname = SURNAMES[i % len(SURNAMES)]
    prefix = ""
    if " " in surname and surname.split()[0] in ("de", "van", "el"):
        *pre, surname = surname.split()
        prefix = " ".join(pre)
    dob = f"{1940 + rng.randrange(80)}-{1 + rng.randrange(12):02d}-{1 + rng.randrange(28):02d}"
    return {"bsn": bsn, "given_names": GIVEN[(i * 7) % len(GIVEN)] + f" {i}x", "prefix": prefix,
            "surname": surname + "".join(chr(97 + int(c)) for c in str(i)), "date_of_birth": dob}


def fill_index(settings: Settings, n: int, rng: random.Random) -> tuple[list[dict[str, str]],
                                                                          list[dict[str, str]]]:
    """Insert ``n`` entries directly (the publish path has its own benchmark) and return a
    sample of published people and of people that are not in the index."""
    pseudonymiser = HmacPseudonymiser(load_keyring(settings.keyring_path))
    bsns = valid_bsns(10_000_000)
    engine = create_engine(settings.database_url, poolclass=NullPool)
    published: list[dict[str, str]] = []
    started = time.perf_counter()
    with engine.begin() as conn:
        now = utc_now_iso()
        conn.execute(insert(agency_sets), [{"agency": a, "generation": 0, "key_version": 1,
                                            "entry_count": n // 5, "updated_at": now}
                                           for a in AGENCIES])
    chunk: list[dict[str, object]] = []
    for i in range(n):
        p = person(i, next(bsns), rng)
        name_only = i % 10 < 3
        ident = normalise_identity(**{**p, "bsn": None} if name_only else p)
        ps = pseudonymiser.pseudonymise([ident], 1)[0]
        chunk.append({"agency": AGENCIES[i % 5], "generation": 0, "key_version": 1,
                      "bsn_pseudonym": ps.bsn, "name_pseudonym": ps.name,
                      "bsn_birth_pseudonym": ps.bsn_birth})
        if i % 997 == 0:
            published.append({**p, "bsn": ""} if name_only else p)
        if len(chunk) == 50_000:
            _insert(engine, chunk)
            chunk = []
    _insert(engine, chunk)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("ANALYZE entries"))
    print(f"  filled {n:,} entries in {time.perf_counter() - started:.0f}s")
    unknown = [person(n + i, next(bsns), rng) for i in range(500)]
    engine.dispose()
    return published, unknown


def _insert(engine: object, rows: list[dict[str, object]]) -> None:
    if not rows:
        return
    with engine.begin() as conn:  # type: ignore[attr-defined]
        if conn.dialect.name == "postgresql":
            raw = conn.connection.dbapi_connection
            with raw.cursor() as cur, cur.copy(
                    "COPY entries (agency, generation, key_version, bsn_pseudonym, name_pseudonym,"
                    " bsn_birth_pseudonym) FROM STDIN") as copy:
                for r in rows:
                    copy.write_row((r["agency"], r["generation"], r["key_version"],
                                    r["bsn_pseudonym"], r["name_pseudonym"],
                                    r["bsn_birth_pseudonym"]))
        else:
            conn.execute(insert(entries), rows)


def households(published: list[dict[str, str]], unknown: list[dict[str, str]],
               rng: random.Random, count: int = 256) -> list[bytes]:
    bodies = []
    for h in range(count):
        members = []
        # Four different people: a query naming one person twice is refused.
        chosen, strangers = iter(rng.sample(published, 4)), iter(rng.sample(unknown, 4))
        for _ in range(4):
            roll = rng.random()
            if roll < 0.5:
                p = next(chosen)
                m = {k: v for k, v in p.items() if v}
            elif roll < 0.6:
                p = next(chosen)
                m = {k: v for k, v in p.items() if v and k != "bsn"}
            else:
                m = {"bsn": next(strangers)["bsn"]}
            members.append(m)
        bodies.append(json.dumps({"purpose": "casusoverleg", "case_reference": f"BENCH-{h}",
                                  "members": members}).encode())
    return bodies


def serve(settings: Settings, port: int, workers: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "HITMACHINE_DATABASE_URL": settings.database_url,
           "HITMACHINE_KEYS_DIR": str(settings.keys_dir), "HITMACHINE_BENCH_ENDPOINT": "1",
           # One token at full speed: the enumeration defence would rightly stop it; this
           # measures the query path (benchmarks/load.py measures with the limits on).
           "HITMACHINE_RATE_LIMITS": os.environ.get("HITMACHINE_RATE_LIMITS", "false")}
    proc = subprocess.Popen([sys.executable, "-m", "hitmachine.cli", "serve", "--port", str(port),
                             "--workers", str(workers), "--no-access-log"],
                            env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"server did not start; see {log}")


def server_cpu_seconds(proc: subprocess.Popen[bytes]) -> float:
    """User + system CPU of the server and its worker processes so far (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    pids = [proc.pid]
    try:
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
        except (OSError, IndexError):
            pass
    return total


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def scratch_postgres(pg_url: str, prefix: str = "hm_bench") -> Iterator[str]:
    """A throwaway PostgreSQL database on the server of ``pg_url``: its URL, dropped after."""
    admin_url = make_url(pg_url)
    db = f"{prefix}_{uuid.uuid4().hex[:8]}"
    engine = create_engine(admin_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{db}"'))
    try:
        yield admin_url.set(database=db).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
        engine.dispose()


def query_count(url: str) -> int:
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(audit_records)
                         .where(audit_records.c.event == "query.household")).scalar_one()
    engine.dispose()
    return int(n)


def bench_database(name: str, url: str, args: argparse.Namespace, workdir: Path) -> dict[str, float]:
    print(f"\n== {name}")
    rng = random.Random(42)
    settings = Settings(database_url=url, keys_dir=workdir / "keys")
    initialise(settings)
    published, unknown = fill_index(settings, args.entries, rng)
    ctx = Context.from_settings(settings)
    _, token = admin.create_token(ctx, admin.CONSOLE, name="benchmark coordinator",
                                  role=Role.COORDINATOR, agency=None, expires_at=None,
                                  request_id="bench")
    ctx.close()
    bodies = households(published, unknown, rng)
    port = free_port()
    proc = serve(settings, port, args.workers, workdir / f"server-{name}.log")
    try:
        audited = [post_request("127.0.0.1", port, "/v1/queries/household", b, token) for b in bodies]
        bare = [post_request("127.0.0.1", port, "/bench/parse", b, token) for b in bodies]
        check = httpx.post(f"http://127.0.0.1:{port}/v1/queries/household", content=bodies[0],
                           headers={"Authorization": f"Bearer {token}",
                                    "Content-Type": "application/json"})
        assert check.status_code == 200, check.text
        hits = sum(m["known"] for b in bodies[:50] for m in httpx.post(
            f"http://127.0.0.1:{port}/v1/queries/household", content=b,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        ).json()["members"])
        print(f"  sample: {hits} of 200 members known (hits and misses mixed)")
        run_load("127.0.0.1", port, bare, concurrency=args.concurrency, seconds=2)  # warm up
        cpu = server_cpu_seconds(proc)
        ceiling = run_load("127.0.0.1", port, bare, concurrency=args.concurrency,
                           seconds=args.seconds)
        bare_cpu = (server_cpu_seconds(proc) - cpu) / max(ceiling.requests, 1)
        before = query_count(url)
        run_load("127.0.0.1", port, audited, concurrency=args.concurrency, seconds=2)  # warm up
        warm = query_count(url) - before
        cpu = server_cpu_seconds(proc)
        result = run_load("127.0.0.1", port, audited, concurrency=args.concurrency,
                          seconds=args.seconds)
        query_cpu = (server_cpu_seconds(proc) - cpu) / max(result.requests, 1)
        recorded = query_count(url) - before - warm
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    print(ceiling.line("bare endpoint (ceiling)") + f"   server CPU {bare_cpu * 1e6:5.0f} µs/req")
    print(result.line("audited household query") + f"   server CPU {query_cpu * 1e6:5.0f} µs/req")
    ok = result.statuses.get(200, 0)
    ratio = result.rate / ceiling.rate
    print(f"  ratio to ceiling {ratio:.0%}; answers {ok}, audit records {recorded}"
          f" ({'all audited' if recorded >= ok else 'MISSING RECORDS'})")
    return {"ceiling": ceiling.rate, "rate": result.rate, "ratio": ratio,
            "p50_ms": result.percentile(50) * 1000, "p99_ms": result.percentile(99) * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--pg-url", default=os.environ.get(
        "HITMACHINE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    args = parser.parse_args()
    print(f"{args.entries:,} entries, concurrency {args.concurrency}, {args.workers} workers, "
          f"{args.seconds:.0f}s per measurement, {os.cpu_count()} CPUs")
    results = {}
    with tempfile.TemporaryDirectory(prefix="hm-bench-") as tmp:
        workdir = Path(tmp)
        for name in args.databases.split(","):
            if name == "sqlite":
                results[name] = bench_database(name, f"sqlite:///{workdir / 'bench.db'}", args, workdir)
            else:
                with scratch_postgres(args.pg_url) as url:
                    results[name] = bench_database(name, url, args, workdir)
    print("\nsummary")
    for name, r in results.items():
        print(f"  {name:<10} {r['rate']:7.0f} q/s of {r['ceiling']:7.0f} ceiling = {r['ratio']:.0%};"
              f" p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms")


if __name__ == "__main__":
    main()
