"""Publishing a large export through the adapter to a served instance, against the
database's own bulk-load limit.

    .venv/bin/python benchmarks/publish.py [--rows 1000000] [--databases sqlite,postgresql]
                                           [--server-workers 1] [--adapter-workers N]
                                           [--batch-size 10000] [--republish]

It generates a leerplicht export of ``--rows`` rows (the shipped mapping: comma-separated,
day-first dates; 70% of the people with a BSN and a complete name, 30% by name and birth
date only, 0.2% rejects), then for each database:

1. initialises an instance, serves it with ``hitmachine serve`` on loopback, and runs
   ``hitmachine-adapter sync`` (a separate process, as at an agency) publishing the whole
   export as one snapshot; it prints rows/s end to end, the adapter's local and publishing
   phases, and the peak memory of the adapter (all its processes together, sampled, and
   its main process's VmHWM) and of the server (VmHWM);
2. measures the database's bulk-load limit in the same run: for PostgreSQL a binary COPY
   of as many rows into a scratch table shaped and indexed like ``entries`` (and, for
   reference, without indexes), for SQLite one executemany transaction into such a table;
3. checks that the server's set holds the expected number of entries and that a sample of
   the exported people is found by a query.

``--republish`` publishes the same export a second time (a commit that replaces a full
set). Goal (issue 5): end to end at least 40% of PostgreSQL's COPY limit, adapter memory
under 200 MB whatever the file size.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import random
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.query import free_port, scratch_postgres, valid_bsns  # noqa: E402
from hitmachine.core.principal import Role  # noqa: E402
from hitmachine.services import admin  # noqa: E402
from hitmachine.services.context import Context  # noqa: E402
from hitmachine.services.instance import initialise  # noqa: E402
from hitmachine.settings import Settings  # noqa: E402

SURNAMES = [("", "Jansen"), ("de", "Vries"), ("van den", "Berg"), ("", "Bakker"), ("", "Visser"),
            ("", "Smit"), ("", "Meijer"), ("de", "Boer"), ("", "Mulder"), ("de", "Groot"),
            ("", "Yılmaz"), ("", "Öztürk"), ("", "El Amrani"), ("", "Çelik"), ("", "Wróbel"),
            ("van der", "Linden"), ("", "Kaya"), ("", "Martina"), ("", "Dekker"), ("", "Bos")]
GIVEN = ["Jan", "Anna", "Mohamed", "Sanne", "Pieter", "Fatima", "Daan", "Emma", "Noah", "Julia",
         "Sem", "Lotte", "Ayoub", "Zeynep", "Kacper", "Roxanne", "Luuk", "Iris", "Milan", "Eva"]
HEADER = ["Dossiernummer", "BSN", "Achternaam", "Voorvoegsel", "Voornamen", "Roepnaam",
          "Geboortedatum", "Geslacht", "School", "BRIN", "Soort verzuim", "Meldingsdatum", "Status"]


def generate(path: Path, rows: int, seed: int = 5) -> list[dict[str, str]]:
    """The export; returns a sample of its people as query members."""
    rng = random.Random(seed)
    bsns = valid_bsns(10_000_000)
    sample: list[dict[str, str]] = []
    start = dt.date(2009, 1, 1).toordinal()  # school-age children (5 to 17)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        for i in range(rows):
            prefix, surname = SURNAMES[i % len(SURNAMES)]
            # Unique people: a number spelled in letters makes every surname distinct.
            surname = surname + "".join(chr(97 + int(c)) for c in str(i))
            given = f"{GIVEN[(i * 7) % len(GIVEN)]} {GIVEN[(i * 3) % len(GIVEN)]}"
            born = dt.date.fromordinal(start + rng.randrange(4_000))
            bsn = next(bsns) if i % 10 >= 3 else ""
            dob = born.strftime("%d-%m-%Y")
            if i % 500 == 499:
                bsn = bsn[:-1] + str((int(bsn[-1]) + 1) % 10) if bsn else ""
                dob = "31-02-2001" if not bsn else dob  # a reject either way
            w.writerow([f"LP-{i}", bsn, surname, prefix, given, given.split()[0], dob,
                        "MV"[i % 2], "Dominicus College", "20AC", "Relatief verzuim",
                        "05-01-2026", "Open"])
            if i % 20011 == 0:
                # Leerplicht discloses only for ages 5 to 17: the query gives the birth date.
                member = {"bsn": bsn, "date_of_birth": born.isoformat()} if bsn else {
                    "given_names": given, "prefix": prefix, "surname": surname,
                    "date_of_birth": born.isoformat()}
                sample.append({k: v for k, v in member.items() if v})
    return sample


class PeakMemory:
    """Samples the memory of a process and its children every 50 ms: the sum of their
    resident sets (which counts pages a forked worker shares with its parent twice) and of
    their proportional sets (PSS: shared pages split between the sharers, the honest
    total); also each process's VmHWM (the kernel's own peak of its resident set)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_sum_kb = 0
        self.peak_pss_kb = 0
        self.peak_anon_kb = 0     # private heap and stacks (no mapped files, no shared libs)
        self.hwm_kb: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _tree(self) -> list[int]:
        out, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            out.append(pid)
            try:
                for task in Path(f"/proc/{pid}/task").iterdir():
                    todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
        return out

    def _run(self) -> None:
        while not self._stop.is_set():
            total = pss = anon = 0
            for pid in self._tree():
                rss, hwm, private = _status_kb(pid)
                total += rss
                anon += private
                pss += _pss_kb(pid)
                if hwm:
                    self.hwm_kb[pid] = max(self.hwm_kb.get(pid, 0), hwm)
            self.peak_sum_kb = max(self.peak_sum_kb, total)
            self.peak_pss_kb = max(self.peak_pss_kb, pss)
            self.peak_anon_kb = max(self.peak_anon_kb, anon)
            self._stop.wait(0.05)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _status_kb(pid: int) -> tuple[int, int, int]:
    """VmRSS, VmHWM and RssAnon of a process, in kB."""
    rss = hwm = anon = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
            elif line.startswith("RssAnon:"):
                anon = int(line.split()[1])
    except OSError:
        pass
    return rss, hwm, anon


def serve(settings: Settings, port: int, workers: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "HITMACHINE_DATABASE_URL": settings.database_url,
           "HITMACHINE_KEYS_DIR": str(settings.keys_dir), "PYTHONPATH": str(ROOT),
           "HITMACHINE_PSEUDONYM_SCHEME": settings.pseudonym_scheme,
           "HITMACHINE_KEYSERVICE_URL": settings.keyservice_url or ""}
    proc = subprocess.Popen([sys.executable, "-m", "hitmachine.cli.main", "serve", "--port", str(port),
                             "--workers", str(workers), "--no-access-log"], cwd=ROOT,
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


def run_adapter(args: argparse.Namespace, export: Path, base: str, token_file: Path,
                keyring: Path, state: Path, *, dry_run: bool = False
                ) -> tuple[float, PeakMemory, dict[str, object], str]:
    cmd = [sys.executable, "-m", "hitmachine_adapter.cli", "sync", "--agency", "leerplicht",
           "--source", str(export), "--keyring", str(keyring), "--state-dir", str(state),
           "--batch-size", str(args.batch_size), "--quiet"]
    cmd += ["--dry-run"] if dry_run else ["--server", base, "--token-file", str(token_file)]
    if args.adapter_workers:
        cmd += ["--workers", str(args.adapter_workers)]
    if args.parallel:
        cmd += ["--parallel", str(args.parallel)]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    memory = PeakMemory(proc.pid)
    out, err = proc.communicate()
    elapsed = time.perf_counter() - started
    memory.stop()
    if proc.returncode != 0:
        raise SystemExit(f"adapter failed ({proc.returncode}): {err.decode()}")
    last = json.loads((state / "last-run.json").read_text())
    return elapsed, memory, last, out.decode().strip()


def copy_limit_pg(url: str, rows: int, workdir: Path) -> tuple[float, float]:
    """Rows/s of a binary COPY of ``rows`` entry-shaped rows into a scratch table with the
    indexes of ``entries``, and into one without indexes."""
    data = workdir / "copy.bin"
    with data.open("wb") as fh:
        fh.write(b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0))
        head = struct.pack(">hi", 5, 10) + b"leerplicht" + struct.pack(">iqii", 8, 1, 4, 1)
        for i in range(rows):
            bsn = os.urandom(32) if i % 10 >= 3 else None
            fh.write(head + (struct.pack(">i", 32) + bsn if bsn else struct.pack(">i", -1))
                     + struct.pack(">i", 32) + os.urandom(32))
        fh.write(b"\xff\xff")
    engine = create_engine(url, poolclass=NullPool)
    rates = []
    for indexed in (True, False):
        table = f"scratch_{uuid.uuid4().hex[:8]}"
        with engine.begin() as conn:
            conn.execute(text(f"CREATE TABLE {table} (agency varchar(32) NOT NULL, generation "
                              "bigint NOT NULL, key_version integer NOT NULL, bsn_pseudonym bytea,"
                              " name_pseudonym bytea)"))
            if indexed:
                for cols in ("bsn_pseudonym", "name_pseudonym", "agency, generation"):
                    conn.execute(text(f"CREATE INDEX ON {table} ({cols})"))
        with engine.begin() as conn:
            conn.execute(text("CHECKPOINT"))
        started = time.perf_counter()
        with engine.begin() as conn:
            raw = conn.connection.driver_connection
            with raw.cursor() as cur, cur.copy(f"COPY {table} FROM STDIN (FORMAT BINARY)") as copy, \
                    data.open("rb") as fh:
                while block := fh.read(1 << 20):
                    copy.write(block)
        rates.append(rows / (time.perf_counter() - started))
        with engine.begin() as conn:
            conn.execute(text(f"DROP TABLE {table}"))
    engine.dispose()
    data.unlink()
    return rates[0], rates[1]


def insert_limit_sqlite(workdir: Path, rows: int) -> float:
    """Rows/s of one executemany transaction into an entries-shaped, indexed SQLite table
    (WAL, synchronous=FULL, as the server runs)."""
    import sqlite3

    path = workdir / "scratch.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE t (agency VARCHAR(32) NOT NULL, generation BIGINT NOT NULL, "
               "key_version INTEGER NOT NULL, bsn_pseudonym BLOB, name_pseudonym BLOB)")
    for cols in ("bsn_pseudonym", "name_pseudonym", "agency, generation"):
        db.execute(f"CREATE INDEX ix_{cols.replace(', ', '_')} ON t ({cols})")
    batch = [("leerplicht", 1, 1, os.urandom(32) if i % 10 >= 3 else None, os.urandom(32))
             for i in range(rows)]
    started = time.perf_counter()
    db.execute("BEGIN")
    db.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?)", batch)
    db.execute("COMMIT")
    rate = rows / (time.perf_counter() - started)
    db.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return rate


def bench_database(name: str, url: str, args: argparse.Namespace, workdir: Path, export: Path,
                   sample: list[dict[str, str]], scheme: str = "hmac") -> dict[str, float]:
    """Serve an instance on ``url``, publish the export through the adapter, then measure
    the database's own bulk-load limit; returns the figures for the summary. With ``oprf``
    a key service runs beside it (``benchmarks/keyservice.py``) on the same machine."""
    print(f"\n== {name} ({scheme})")
    settings = Settings(database_url=url, keys_dir=workdir / f"keys-{name}-{scheme}")
    if scheme == "oprf":
        from benchmarks.keyservice import KeyServiceProcess

        ks = KeyServiceProcess(workdir / f"keyservice-{name}")
        settings = Settings(database_url=url, keys_dir=settings.keys_dir,
                            pseudonym_scheme="oprf", keyservice_url=ks.url)
        settings.keys_dir.mkdir(mode=0o700)
        ks.write_token(settings.keys_dir / "keyservice.token")
        ks.write_token(workdir / "keyservice.token")  # beside the adapter's keyring
    initialise(settings)
    ctx = Context.from_settings(settings)
    _, token = admin.create_token(ctx, admin.CONSOLE, name="bench adapter", role=Role.ADAPTER,
                                  agency="leerplicht", expires_at=None, request_id="bench")
    _, coordinator = admin.create_token(ctx, admin.CONSOLE, name="bench coordinator",
                                        role=Role.COORDINATOR, agency=None, expires_at=None,
                                        request_id="bench")
    keyring = workdir / f"adapter-keyring-{name}-{scheme}.json"
    admin.export_keyring(ctx, admin.CONSOLE, keyring, "bench")
    ctx.close()
    token_file = workdir / f"token-{name}"
    token_file.write_text(token)
    token_file.chmod(0o600)
    port = free_port()
    proc = serve(settings, port, args.server_workers, workdir / f"server-{name}.log")
    base = f"http://127.0.0.1:{port}"
    out: dict[str, float] = {}
    try:
        runs = 2 if args.republish else 1
        server_memory = PeakMemory(proc.pid)
        for n in range(runs):
            state = workdir / f"state-{name}-{n}"
            elapsed, memory, last, summary = run_adapter(args, export, base, token_file,
                                                         keyring, state)
            rate = args.rows / elapsed
            label = "first publish" if n == 0 else "republish (replaces the set)"
            print(f"  {label}: {summary}")
            print(f"    {args.rows:,} rows in {elapsed:.1f}s = {rate:,.0f} rows/s end to end "
                  f"(local {last['read_s']:.1f}s = {args.rows / last['read_s']:,.0f} rows/s, "
                  f"publishing {last['publish_s']:.1f}s = "
                  f"{int(last['entries_published']) / last['publish_s']:,.0f} entries/s)")
            print(f"    adapter peak memory: {memory.peak_pss_kb / 1024:.0f} MB (PSS, all "
                  f"{len(memory.hwm_kb)} processes; RSS sum {memory.peak_sum_kb / 1024:.0f} MB), "
                  f"main process VmHWM {memory.hwm_kb.get(memory.pid, 0) / 1024:.0f} MB")
            out.setdefault("rate", rate)
            out.setdefault("adapter_mb", memory.peak_pss_kb / 1024)
        server_memory.stop()
        server_hwm = sum(_status_kb(pid)[1] for pid in _server_pids(proc.pid))
        # VmHWM counts the pages of the database file SQLite maps (mmap_size) as resident;
        # RssAnon is the server's own memory (heap, stacks, buffers).
        print(f"    server peak memory: {server_memory.peak_anon_kb / 1024:.0f} MB own (RssAnon, "
              f"sampled), VmHWM {server_hwm / 1024:.0f} MB (all processes; includes mapped "
              "database pages)")
        out["server_mb"] = server_memory.peak_anon_kb / 1024
        status = httpx.get(f"{base}/v1/publish/status",
                           headers={"Authorization": f"Bearer {token}"}).json()
        found = httpx.post(f"{base}/v1/queries/household",
                           headers={"Authorization": f"Bearer {coordinator}"},
                           json={"purpose": "casusoverleg", "case_reference": "BENCH-PUBLISH",
                                 "members": sample[:20]}, timeout=30).json()
        known = sum(m["known"] for m in found["members"])
        print(f"    server set: {status['entries']:,} entries; sample query: {known} of "
              f"{len(sample[:20])} people found")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if scheme == "oprf":
            ks.stop()
    if name == "sqlite":
        limit = insert_limit_sqlite(workdir, args.rows)
        print(f"  SQLite bulk insert limit (one transaction, same indexes): {limit:,.0f} rows/s")
    else:
        limit, bare = copy_limit_pg(url, args.rows, workdir)
        print(f"  PostgreSQL COPY limit (same indexes as entries): {limit:,.0f} rows/s "
              f"(without indexes {bare:,.0f} rows/s)")
    out["limit"] = limit
    print(f"  end to end = {out['rate'] / limit:.0%} of that limit")
    return out


def memory_flat(args: argparse.Namespace, workdir: Path, export: Path) -> None:
    """The adapter's peak memory on a tenth of the export and on all of it (dry runs: the
    local half, where a run could grow with the file)."""
    from hitmachine.core.keystore import create_keyring

    keyring = workdir / "dry-keyring.json"
    create_keyring(keyring)
    tenth = workdir / "tenth.csv"
    with export.open("rb") as src, tenth.open("wb") as dst:
        for i, line in enumerate(src):
            if i > args.rows // 10:
                break
            dst.write(line)
    for path, rows in ((tenth, args.rows // 10), (export, args.rows)):
        elapsed, memory, _, _ = run_adapter(args, path, "", keyring, keyring,
                                            workdir / f"dry-{rows}", dry_run=True)
        print(f"dry run (local half only), {rows:,} rows: {rows / elapsed:,.0f} rows/s, adapter "
              f"peak {memory.peak_pss_kb / 1024:.0f} MB PSS ({len(memory.hwm_kb)} processes), "
              f"main process VmHWM {memory.hwm_kb.get(memory.pid, 0) / 1024:.0f} MB")
    tenth.unlink()


def _server_pids(pid: int) -> list[int]:
    out = [pid]
    try:
        out += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        pass
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--server-workers", type=int, default=1)
    parser.add_argument("--adapter-workers", type=int, default=0, help="0: the adapter decides")
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--parallel", type=int, default=0, help="batches in flight (0: default)")
    parser.add_argument("--republish", action="store_true")
    parser.add_argument("--schemes", default="hmac",
                        help="pseudonymisation schemes to publish with: hmac, oprf or hmac,oprf")
    parser.add_argument("--pg-url", default=os.environ.get(
        "HITMACHINE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    args = parser.parse_args()
    print(f"{args.rows:,} rows, batches of {args.batch_size:,}, server workers "
          f"{args.server_workers}, {os.cpu_count()} CPUs")
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="hm-bench-publish-") as tmp:
        workdir = Path(tmp)
        export = workdir / "leerplicht-export.csv"
        started = time.perf_counter()
        sample = generate(export, args.rows)
        print(f"generated {export.name}: {export.stat().st_size / 1e6:.0f} MB in "
              f"{time.perf_counter() - started:.0f}s")
        memory_flat(args, workdir, export)
        for name in args.databases.split(","):
            if name == "sqlite":
                for scheme in args.schemes.split(","):
                    results[f"{name}/{scheme}"] = bench_database(
                        name, f"sqlite:///{workdir / f'bench-{scheme}.db'}", args, workdir,
                        export, sample, scheme)
                continue
            with scratch_postgres(args.pg_url) as url:
                for scheme in args.schemes.split(","):
                    results[f"{name}/{scheme}"] = bench_database(name, url, args, workdir,
                                                                 export, sample, scheme)
    print("\nsummary")
    for name, r in results.items():
        print(f"  {name:<10} {r['rate']:8,.0f} rows/s end to end; limit {r['limit']:8,.0f} rows/s "
              f"= {r['rate'] / r['limit']:.0%}; adapter {r['adapter_mb']:.0f} MB, "
              f"server {r['server_mb']:.0f} MB")
    for name in args.databases.split(","):
        if f"{name}/hmac" in results and f"{name}/oprf" in results:
            ratio = results[f"{name}/hmac"]["rate"] / results[f"{name}/oprf"]["rate"]
            print(f"  {name}: oprf takes {ratio:.1f}x the time of hmac (goal: within 3x)")
    if "postgresql/hmac" in results:
        pg = results["postgresql/hmac"]
        print(f"  goal: end to end >= 40% of PostgreSQL COPY ({pg['rate'] / pg['limit']:.0%}), "
              f"adapter < 200 MB ({max(r['adapter_mb'] for r in results.values()):.0f} MB)")


if __name__ == "__main__":
    main()
