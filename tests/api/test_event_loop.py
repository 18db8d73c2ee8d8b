"""Issue 15: nothing that blocks runs on the event loop.

One served worker (so one event loop) while something outside it is slow: another
process holding a write transaction on the database, or a rate-limit store that accepts
connections and never answers. A query then waits (or fails closed), but ``/healthz`` on
the same worker answers within ``BOUND`` the whole time: the waiting happens on pool
threads, not on the loop that serves every request.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import httpx
from sqlalchemy import text

from hitmachine.services.context import Context
from hitmachine.settings import Settings
from tests.conftest import Tokens
from tests.live_server import LiveServer

HOLD = 3.0   # seconds the outside obstacle lasts
BOUND = 0.5  # what a health check may take meanwhile
QUERY = {"purpose": "casusoverleg", "case_reference": "VH-LOOP-1",
         "members": [{"bsn": "111222333"}, {"bsn": "123456782"}]}


def _serve(settings: Settings, tmp_path: Path, **env: str) -> LiveServer:
    return LiveServer(settings, tmp_path / "server.log", workers=1,
                      extra_env={"HITMACHINE_LOG_LEVEL": "WARNING", **env})


def _ask(url: str, token: str, out: list[tuple[int, float]]) -> None:
    start = time.monotonic()
    r = httpx.post(f"{url}/v1/queries/household", json=QUERY, timeout=60,
                   headers={"Authorization": f"Bearer {token}"})
    out.append((r.status_code, time.monotonic() - start))


def _in_background(target: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def _health_latencies(url: str, seconds: float) -> list[float]:
    """``/healthz`` asked again and again for ``seconds``, each on a fresh connection."""
    out: list[float] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        start = time.monotonic()
        r = httpx.get(f"{url}/healthz", timeout=30)
        out.append(time.monotonic() - start)
        assert r.status_code == 200
        time.sleep(0.05)
    return out


@contextmanager
def _write_transaction_held(ctx: Context) -> Iterator[None]:
    """Another process's slow write transaction, as a publish commit or a prune holds it.

    SQLite: this process's writer turn and ``BEGIN IMMEDIATE`` (every writer waits for it).
    PostgreSQL: the index table locked, so a look-up waits as behind a long migration."""
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with ctx.db.write() as conn:
            if not ctx.db.is_sqlite:
                conn.execute(text("LOCK TABLE entries, audit_records IN ACCESS EXCLUSIVE MODE"))
            conn.execute(text("SELECT 1"))
            held.set()
            release.wait(HOLD)

    holder = _in_background(hold)
    assert held.wait(10), "the test could not take the write lock"
    try:
        yield
    finally:
        release.set()
        holder.join(timeout=30)


@contextmanager
def _stalled_redis() -> Iterator[str]:
    """A loopback server that accepts every connection and never answers a byte."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.2)
    stop = threading.Event()
    accepted: list[socket.socket] = []

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    acceptor = _in_background(accept)
    try:
        yield f"redis://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        acceptor.join(timeout=5)
        for conn in accepted:
            conn.close()
        listener.close()


def _while_slow(url: str, obstacle: AbstractContextManager[object], token: str,
                queries: int) -> tuple[list[float], list[tuple[int, float]]]:
    """Start ``queries`` queries into the obstacle, then time health checks meanwhile."""
    answers: list[tuple[int, float]] = []
    with obstacle:
        askers = [_in_background(lambda: _ask(url, token, answers)) for _ in range(queries)]
        time.sleep(0.3)  # the queries are waiting now
        latencies = _health_latencies(url, HOLD - 1.0)
    for asker in askers:
        asker.join(timeout=60)
    return latencies, answers


def test_health_answers_while_a_write_transaction_is_held(
        settings: Settings, ctx: Context, tokens: Tokens, tmp_path: Path) -> None:
    with _serve(settings, tmp_path) as live:
        warm: list[tuple[int, float]] = []
        _ask(live.url, tokens["coordinator"], warm)  # token cached, connections open
        assert warm[0][0] == 200
        latencies, answers = _while_slow(live.url, _write_transaction_held(ctx),
                                         tokens["coordinator"], queries=2)
    assert max(latencies) < BOUND, f"/healthz took {max(latencies):.2f} s behind a query"
    # The queries did wait for the lock (the scenario is real), and then answered.
    assert [status for status, _ in answers] == [200, 200]
    assert min(elapsed for _, elapsed in answers) > 1.0


def test_health_answers_while_the_rate_limit_store_stalls(
        settings: Settings, ctx: Context, tokens: Tokens, tmp_path: Path) -> None:
    with _stalled_redis() as redis_url:
        with _serve(settings, tmp_path, HITMACHINE_RATE_LIMITS="true",
                    HITMACHINE_RATE_LIMIT_STORAGE=redis_url) as live:
            latencies, answers = _while_slow(live.url, _nothing(), tokens["coordinator"],
                                             queries=4)
    assert max(latencies) < BOUND, f"/healthz took {max(latencies):.2f} s behind a query"
    # Refused, never let through unlimited, once the store's timeout runs out.
    assert [status for status, _ in answers] == [503] * 4


@contextmanager
def _audit_commits_held(ctx: Context) -> Iterator[None]:
    """Another process holding up audit commits but not the index: SQLite's writer turn,
    or PostgreSQL's audit table locked against writes (reads, the integrator's too, go
    on). Look-ups still run; commits wait."""
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with ctx.db.write() as conn:
            if not ctx.db.is_sqlite:
                conn.execute(text("LOCK TABLE audit_records IN SHARE MODE"))
            conn.execute(text("SELECT 1"))
            held.set()
            release.wait(HOLD)

    holder = _in_background(hold)
    assert held.wait(10), "the test could not take the lock"
    try:
        yield
    finally:
        release.set()
        holder.join(timeout=30)


def test_queries_waiting_for_their_audit_commit_hold_no_pool_thread(
        settings: Settings, ctx: Context, tokens: Tokens, tmp_path: Path) -> None:
    """A query awaits its audit commit on the loop (``AuditWriter.append_async``): with
    commits held up and more queries waiting than the pool has threads (four, with a
    database pool of two), a plain-def route still gets a thread at once."""
    token = tokens["coordinator"]
    with _serve(settings, tmp_path, HITMACHINE_DB_POOL_SIZE="2") as live:
        warm: list[tuple[int, float]] = []
        _ask(live.url, token, warm)
        assert warm[0][0] == 200
        answers: list[tuple[int, float]] = []
        with _audit_commits_held(ctx):
            askers = [_in_background(lambda: _ask(live.url, token, answers)) for _ in range(8)]
            time.sleep(0.5)  # the queries are waiting for their commits now
            start = time.monotonic()
            r = httpx.get(f"{live.url}/v1/agencies", timeout=30,
                          headers={"Authorization": f"Bearer {token}"})
            elapsed = time.monotonic() - start
            answered_meanwhile = len(answers)
        for asker in askers:
            asker.join(timeout=60)
    assert r.status_code == 200
    assert elapsed < BOUND, f"/v1/agencies took {elapsed:.2f} s behind waiting queries"
    assert answered_meanwhile == 0  # the queries were still waiting for their commits
    assert [status for status, _ in answers] == [200] * 8


@contextmanager
def _nothing() -> Iterator[None]:
    yield
