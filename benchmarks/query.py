"""Audited household queries through the real HTTP API: server CPU per query, latency.

    .venv/bin/python benchmarks/query.py [--entries 1000000] [--seconds 15] [--workers 2]
                                         [--databases sqlite,postgresql]
                                         [--loop closed|open|both] [--concurrency 16]
                                         [--rate 200] [--connections 256]
                                         [--signals on|off]

For each database it fills an index with ``--entries`` entries over the five agencies
(70% BSN + name key, 30% name key only), serves it with ``hitmachine serve --workers 2``
and sends household queries of 4 members (hits and misses, BSN and name-only), each
answered only after its audit record is committed. It checks that every answer has its
audit record and prints, per mode, the **server CPU per audited query**: user + system CPU
of the server process and all its workers during the measurement, divided by the number
of queries answered 200 (on PostgreSQL also the CPU of the database's backends on this
machine, as a separate figure).

``--loop closed`` (the default): ``--concurrency`` connections each send the next query as
soon as the previous answer is in, for ``--seconds``. In the same run and with the same
server settings it measures the bare endpoint ``/bench/parse`` that parses the same body
and does nothing else, and prints queries/s, p50/p99 latency and the ratio to that ceiling.

``--loop open``: queries are sent at a fixed ``--rate`` per second for ``--seconds``,
whatever the answers do, over up to ``--connections`` connections; each latency runs from
the query's scheduled send time, so queueing counts. It prints p50/p90/p99/max latency,
the achieved rate, errors, and whether the client kept to the schedule.
``--loop both`` runs the two in turn against the same server.

``--signals off`` serves the default purposes with ``signals = false``: the query path as
it was before issue 16 added hit signals (with ``on``, the default, a query of the
``casusoverleg`` purpose also stores a signal and its audit record per disclosed hit).
Issue 15's comparison with the figure before the redesign uses ``off``.

Goal (issue 15): the redesign costs at most 15% more server CPU per audited query than the
figure before it, and the open-loop p99 at a moderate rate (200/s) stays under 50 ms on
both databases.
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
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import create_engine, func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.loadgen import LoadResult, OpenLoopResult, post_request, run_load, run_open_loop  # noqa: E402
from hitmachine.core.agencies import DEFAULT_PURPOSES  # noqa: E402
from hitmachine.core.clock import utc_now_iso  # noqa: E402
from hitmachine.core.identity import normalise_identity  # noqa: E402
from hitmachine.core.keystore import load_keyring  # noqa: E402
from hitmachine.core.principal import Role  # noqa: E402
from hitmachine.core.pseudonym.base import HmacPseudonymiser  # noqa: E402
from hitmachine.services import admin  # noqa: E402
from hitmachine.services.context import Context  # noqa: E402
from hitmachine.services.instance import initialise  # noqa: E402
from hitmachine.settings import Settings  # noqa: E402
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


def serve(settings: Settings, port: int, workers: int, log: Path,
          signals: bool = True) -> subprocess.Popen[bytes]:
    env = {**os.environ, "HITMACHINE_DATABASE_URL": settings.database_url,
           "HITMACHINE_KEYS_DIR": str(settings.keys_dir), "HITMACHINE_BENCH_ENDPOINT": "1",
           # One token at full speed: the enumeration defence would rightly stop it; this
           # measures the query path (benchmarks/load.py measures with the limits on).
           "HITMACHINE_RATE_LIMITS": os.environ.get("HITMACHINE_RATE_LIMITS", "false")}
    if not signals:
        env["HITMACHINE_PURPOSES"] = json.dumps([p.model_copy(update={"signals": False})
                                                 .model_dump(mode="json")
                                                 for p in DEFAULT_PURPOSES])
    proc = subprocess.Popen([sys.executable, "-m", "hitmachine.cli.main", "serve", "--port", str(port),
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


def _process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants, found through every thread's children (Linux /proc)."""
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            pids += _process_tree(int(child))
    return pids


def _process_cpu(pid: int) -> float:
    """User + system CPU seconds of one process (all its threads) so far; 0 once gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError):
        return 0.0


def server_cpu_seconds(proc: subprocess.Popen[bytes]) -> float:
    """User + system CPU of the server and its worker processes so far."""
    return sum(_process_cpu(pid) for pid in _process_tree(proc.pid))


def backend_cpu_seconds(database: str) -> dict[int, float]:
    """CPU so far of each local PostgreSQL backend connected to ``database``, by pid (a
    backend names its database in its process title)."""
    found: dict[int, float] = {}
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            title = cmdline.read_bytes()
        except OSError:
            continue
        if title.startswith(b"postgres: ") and f" {database} ".encode() in title:
            pid = int(cmdline.parent.name)
            found[pid] = _process_cpu(pid)
    return found


@dataclass(frozen=True)
class CpuSample:
    server: float
    backends: dict[int, float]


class CpuMeter:
    """CPU spent by the server (and the database's local backends) between two samples."""

    def __init__(self, proc: subprocess.Popen[bytes], database: str | None) -> None:
        self._proc, self._database = proc, database
        self._start = self.sample()

    def sample(self) -> CpuSample:
        backends = backend_cpu_seconds(self._database) if self._database else {}
        return CpuSample(server_cpu_seconds(self._proc), backends)

    def per_query(self, label: str, answered: int) -> tuple[float, str]:
        """Server CPU seconds per answered query since the meter started, and a line
        saying so."""
        end = self.sample()
        server = end.server - self._start.server
        per_query = server / max(answered, 1)
        line = (f"  server CPU per audited query ({label}): {per_query * 1e6:.0f} µs"
                f"  [user+system of the server and its workers: {server:.2f} s"
                f" over {answered:,} answered queries]")
        if self._database:
            # A backend that ended during the run is missed; one that started counts fully.
            backends = sum(cpu - self._start.backends.get(pid, 0.0)
                           for pid, cpu in end.backends.items())
            line += (f"\n  PostgreSQL backend CPU per audited query ({label}):"
                     f" {backends / max(answered, 1) * 1e6:.0f} µs (not in the figure above)")
        return per_query, line


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


@dataclass(frozen=True)
class Target:
    """A served instance under test, with the pre-encoded requests to send it."""

    url: str
    port: int
    proc: subprocess.Popen[bytes]
    audited: list[bytes]
    bare: list[bytes]

    @property
    def pg_database(self) -> str | None:
        parsed = make_url(self.url)
        return parsed.database if parsed.get_backend_name() == "postgresql" else None


def prepare(url: str, entries: int, workdir: Path) -> tuple[str, list[bytes]]:
    """Initialise an instance with a filled index: a coordinator token and query bodies."""
    rng = random.Random(42)
    settings = Settings(database_url=url, keys_dir=workdir / "keys")
    initialise(settings)
    published, unknown = fill_index(settings, entries, rng)
    ctx = Context.from_settings(settings)
    _, token = admin.create_token(ctx, admin.CONSOLE, name="benchmark coordinator",
                                  role=Role.COORDINATOR, agency=None, expires_at=None,
                                  request_id="bench")
    ctx.close()
    return token, households(published, unknown, rng)


def sample_check(port: int, token: str, bodies: list[bytes]) -> None:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    endpoint = f"http://127.0.0.1:{port}/v1/queries/household"
    check = httpx.post(endpoint, content=bodies[0], headers=headers)
    assert check.status_code == 200, check.text
    hits = sum(m["known"] for b in bodies[:50]
               for m in httpx.post(endpoint, content=b, headers=headers).json()["members"])
    print(f"  sample: {hits} of 200 members known (hits and misses mixed)")


def audit_line(result: LoadResult, recorded: int) -> str:
    ok = result.answered
    return (f"  answers {ok}, query.household audit records {recorded}"
            f" ({'all audited' if recorded >= ok else 'MISSING RECORDS'})")


def measure_closed(target: Target, args: argparse.Namespace) -> dict[str, float]:
    print(f"  closed loop, concurrency {args.concurrency}, {args.seconds:.0f}s:")
    run_load("127.0.0.1", target.port, target.bare, concurrency=args.concurrency, seconds=2)
    cpu = CpuMeter(target.proc, None)
    ceiling = run_load("127.0.0.1", target.port, target.bare, concurrency=args.concurrency,
                       seconds=args.seconds)
    bare_cpu, _ = cpu.per_query("bare", ceiling.answered)
    run_load("127.0.0.1", target.port, target.audited, concurrency=args.concurrency, seconds=2)
    before = query_count(target.url)
    cpu = CpuMeter(target.proc, target.pg_database)
    result = run_load("127.0.0.1", target.port, target.audited, concurrency=args.concurrency,
                      seconds=args.seconds)
    query_cpu, cpu_line = cpu.per_query("closed loop", result.answered)
    recorded = query_count(target.url) - before
    print(ceiling.line("  bare endpoint (ceiling)")
          + f"   server CPU {bare_cpu * 1e6:5.0f} µs/req")
    print(result.line("  audited household query"))
    print(cpu_line)
    ratio = result.rate / ceiling.rate
    print(f"  ratio to ceiling {ratio:.0%}")
    print(audit_line(result, recorded))
    return {"ceiling": ceiling.rate, "rate": result.rate, "ratio": ratio,
            "p50_ms": result.percentile(50) * 1000, "p99_ms": result.percentile(99) * 1000,
            "cpu_us": query_cpu * 1e6}


def measure_open(target: Target, args: argparse.Namespace) -> dict[str, float]:
    print(f"  open loop, {args.rate:.0f} queries/s, {args.seconds:.0f}s:")
    run_open_loop("127.0.0.1", target.port, target.audited, rate=args.rate, seconds=2,
                  connections=args.connections)
    before = query_count(target.url)
    cpu = CpuMeter(target.proc, target.pg_database)
    result: OpenLoopResult = run_open_loop("127.0.0.1", target.port, target.audited,
                                           rate=args.rate, seconds=args.seconds,
                                           connections=args.connections)
    query_cpu, cpu_line = cpu.per_query(f"open loop at {args.rate:.0f}/s", result.answered)
    recorded = query_count(target.url) - before
    print("\n".join("  " + line for line in result.lines()))
    print(cpu_line)
    print(audit_line(result, recorded))
    return {"open_rate": result.rate, "open_p50_ms": result.percentile(50) * 1000,
            "open_p99_ms": result.percentile(99) * 1000,
            "open_max_ms": result.percentile(100) * 1000, "open_errors": result.errors,
            "open_kept_up": float(result.kept_up), "open_cpu_us": query_cpu * 1e6}


def bench_database(name: str, url: str, args: argparse.Namespace, workdir: Path) -> dict[str, float]:
    print(f"\n== {name}")
    token, bodies = prepare(url, args.entries, workdir)
    port = free_port()
    proc = serve(Settings(database_url=url, keys_dir=workdir / "keys"), port, args.workers,
                 workdir / f"server-{name}.log", signals=args.signals == "on")
    target = Target(url, port, proc,
                    [post_request("127.0.0.1", port, "/v1/queries/household", b, token)
                     for b in bodies],
                    [post_request("127.0.0.1", port, "/bench/parse", b, token) for b in bodies])
    results: dict[str, float] = {}
    try:
        sample_check(port, token, bodies)
        if args.loop in ("closed", "both"):
            results |= measure_closed(target, args)
        if args.loop in ("open", "both"):
            results |= measure_open(target, args)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    return results


def summary_line(name: str, r: dict[str, float]) -> str:
    parts = []
    if "rate" in r:
        parts.append(f"closed {r['rate']:.0f} q/s of {r['ceiling']:.0f} ceiling = {r['ratio']:.0%},"
                     f" p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms,"
                     f" server CPU {r['cpu_us']:.0f} µs/query")
    if "open_rate" in r:
        kept = "" if r["open_kept_up"] else " (CLIENT FELL BEHIND)"
        goal = "met" if r["open_p99_ms"] < 50 and not r["open_errors"] else "NOT MET"
        parts.append(f"open {r['open_rate']:.0f} q/s, p50 {r['open_p50_ms']:.1f} ms,"
                     f" p99 {r['open_p99_ms']:.1f} ms (< 50 ms: {goal}),"
                     f" max {r['open_max_ms']:.1f} ms, errors {r['open_errors']:.0f},"
                     f" server CPU {r['open_cpu_us']:.0f} µs/query{kept}")
    return f"  {name:<10} " + f"\n  {'':<10} ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--loop", choices=("closed", "open", "both"), default="closed")
    parser.add_argument("--concurrency", type=int, default=16, help="closed loop: connections")
    parser.add_argument("--rate", type=float, default=200, help="open loop: queries per second")
    parser.add_argument("--connections", type=int, default=256,
                        help="open loop: most connections open at once")
    parser.add_argument("--signals", choices=("on", "off"), default="on",
                        help="off: the purposes without hit signals (the path before issue 16)")
    parser.add_argument("--pg-url", default=os.environ.get(
        "HITMACHINE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    args = parser.parse_args()
    if min(args.entries, args.seconds, args.workers, args.concurrency, args.rate,
           args.connections) <= 0:
        parser.error("--entries, --seconds, --workers, --concurrency, --rate and --connections"
                     " must be positive")
    print(f"{args.entries:,} entries, {args.workers} workers, {args.seconds:.0f}s per measurement,"
          f" {args.loop} loop (concurrency {args.concurrency}, rate {args.rate:.0f}/s),"
          f" signals {args.signals},"
          f" {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    results = {}
    with tempfile.TemporaryDirectory(prefix="hm-bench-") as tmp:
        workdir = Path(tmp)
        for name in args.databases.split(","):
            if name == "sqlite":
                results[name] = bench_database(name, f"sqlite:///{workdir / 'bench.db'}", args, workdir)
            else:
                with scratch_postgres(args.pg_url) as url:
                    results[name] = bench_database(name, url, args, workdir)
    print(f"\nsummary (load average {os.getloadavg()[0]:.2f})")
    for name, r in results.items():
        print(summary_line(name, r))


if __name__ == "__main__":
    main()
