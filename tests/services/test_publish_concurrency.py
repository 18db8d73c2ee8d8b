"""Steps of one sync racing each other, as real concurrent HTTP clients against a served
instance (issue 13, findings 1 and 14): an adapter that retries a commit after a timeout,
or abandons a sync while its commit is still running, or resends a batch number with
other content. On both databases, after every round:

* the agency's visible entries are the old complete set or the complete new one (never
  empty, never partial), and ``agency_sets.entry_count`` and ``GET /v1/publish/status``
  agree with the ``entries`` table;
* every commit of a sync answers 200 with the same set (a repeat changes nothing);
* of a commit and an abandon, exactly one wins and the other answers 409;
* of two different batches under one number, one is applied and the other answers 409;
* two first commits of different syncs both succeed, and an expiry sweep waits for a
  commit in progress instead of deleting the generation it publishes.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete, func, select

from hitmachine.core.clock import utc_now_iso
from hitmachine.services.context import Context
from hitmachine.settings import Settings
from hitmachine.store import index
from hitmachine.store.schema import agency_sets, entries, syncs
from tests.conftest import Tokens
from tests.live_server import LiveServer

ROUNDS = int(os.environ.get("HITMACHINE_PUBLISH_RACE_ROUNDS", "12"))
ENTRIES = 50
Pair = tuple[str | None, str | None]


@pytest.fixture
def server(settings: Settings, ctx: Context, tmp_path: Path) -> Iterator[LiveServer]:
    # ctx first: the instance is initialised before the server opens it.
    with LiveServer(settings, tmp_path / "server.log",
                    extra_env={"HITMACHINE_LOG_LEVEL": "WARNING"}) as live:
        yield live


def _entries(n: int = ENTRIES) -> list[dict[str, str | None]]:
    return [{"bsn": secrets.token_hex(32), "name": secrets.token_hex(32) if i % 3 else None}
            for i in range(n)]


def _as_set(wire: list[dict[str, str | None]]) -> frozenset[Pair]:
    return frozenset((e["bsn"], e["name"]) for e in wire)


def _at_once(url: str, calls: list[Callable[[httpx.Client], httpx.Response]]
             ) -> list[httpx.Response]:
    """Every call from its own thread and connection, released together by a barrier."""
    barrier = threading.Barrier(len(calls))
    out: list[httpx.Response | None] = [None] * len(calls)
    clients = [httpx.Client(base_url=url, timeout=30) for _ in calls]

    def run(i: int) -> None:
        clients[i].get("/readyz")  # the connection is open before the barrier
        barrier.wait()
        out[i] = calls[i](clients[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for c in clients:
        c.close()
    assert all(r is not None for r in out), "a request did not finish"
    return [r for r in out if r is not None]


class Adapter:
    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.headers = {"Authorization": f"Bearer {token}"}
        self.http = httpx.Client(base_url=url, timeout=30, headers=self.headers)

    def open_with_batch(self, wire: list[dict[str, str | None]]) -> str:
        r = self.http.post("/v1/publish/syncs", json={"agency": "om", "key_version": 1})
        assert r.status_code == 201, r.text
        sync: str = r.json()["sync_id"]
        r = self.http.put(f"/v1/publish/syncs/{sync}/batches/0", json={"entries": wire})
        assert r.status_code == 200, r.text
        return sync

    def commit(self, sync: str, n: int = ENTRIES) -> Callable[[httpx.Client], httpx.Response]:
        return lambda c: c.post(f"/v1/publish/syncs/{sync}/commit",
                                json={"batches": 1, "entries": n}, headers=self.headers)

    def put_batch(self, sync: str, n: int, body: list[dict[str, str | None]]
                  ) -> Callable[[httpx.Client], httpx.Response]:
        return lambda c: c.put(f"/v1/publish/syncs/{sync}/batches/{n}",
                               json={"entries": body}, headers=self.headers)

    def abandon(self, sync: str) -> Callable[[httpx.Client], httpx.Response]:
        return lambda c: c.delete(f"/v1/publish/syncs/{sync}", headers=self.headers)

    def status_entries(self) -> int | None:
        r = self.http.get("/v1/publish/status")
        if r.status_code == 404:
            return None
        assert r.status_code == 200, r.text
        count: int = r.json()["entries"]
        return count


def _visible(ctx: Context) -> tuple[frozenset[Pair], int | None]:
    """The agency's visible entries (hex) and the size its set row claims."""
    with ctx.db.read() as conn:
        row = conn.execute(select(agency_sets.c.generation, agency_sets.c.entry_count)
                           .where(agency_sets.c.agency == "om")).first()
        if row is None:
            return frozenset(), None
        rows = conn.execute(select(entries.c.bsn_pseudonym, entries.c.name_pseudonym).where(
            entries.c.agency == "om", entries.c.generation == row.generation)).all()
    return (frozenset((b.hex() if b else None, n.hex() if n else None) for b, n in rows),
            int(row.entry_count))


def _check(ctx: Context, adapter: Adapter, expected: frozenset[Pair], round_no: int) -> None:
    visible, claimed = _visible(ctx)
    assert visible == expected, (
        f"round {round_no}: {len(visible)} entries visible, expected {len(expected)}")
    assert claimed == len(visible) == adapter.status_entries(), round_no
    with ctx.db.read() as conn:  # no generation is left behind either
        stored = conn.execute(select(func.count()).select_from(entries)
                              .where(entries.c.agency == "om")).scalar_one()
    assert stored == len(visible), round_no


def test_overlapping_commits_of_one_sync_publish_it_once(
        server: LiveServer, ctx: Context, tokens: Tokens) -> None:
    adapter = Adapter(server.url, tokens["adapter:om"])
    for round_no in range(ROUNDS):
        wire = _entries()
        sync = adapter.open_with_batch(wire)
        answers = _at_once(server.url, [adapter.commit(sync)] * (2 + round_no % 3))
        assert [r.status_code for r in answers] == [200] * len(answers), \
            [(r.status_code, r.text) for r in answers]
        assert {r.json()["entries"] for r in answers} == {ENTRIES}
        _check(ctx, adapter, _as_set(wire), round_no)
    with ctx.db.read() as conn:  # one commit applied the set, the repeats changed nothing
        committed = conn.execute(select(func.count()).select_from(syncs)
                                 .where(syncs.c.status == "committed")).scalar_one()
    assert committed == ROUNDS


def test_commit_racing_abandon_leaves_the_old_set_or_the_new(
        server: LiveServer, ctx: Context, tokens: Tokens) -> None:
    adapter = Adapter(server.url, tokens["adapter:om"])
    first = _entries()
    adapter.http.post(f"/v1/publish/syncs/{adapter.open_with_batch(first)}/commit",
                      json={"batches": 1, "entries": ENTRIES}).raise_for_status()
    current = _as_set(first)
    outcomes = set()
    for round_no in range(ROUNDS):
        wire = _entries()
        sync = adapter.open_with_batch(wire)
        calls = [adapter.commit(sync), adapter.abandon(sync)]
        if round_no % 2:
            calls.insert(0, adapter.commit(sync))  # a retried commit as well
        statuses = [r.status_code for r in _at_once(server.url, calls)]
        *commits, abandon = statuses
        if abandon == 204:  # the abandon came first: every commit finds the sync closed
            assert commits == [409] * len(commits), statuses
        else:
            assert abandon == 409 and commits == [200] * len(commits), statuses
            current = _as_set(wire)
        outcomes.add(abandon)
        _check(ctx, adapter, current, round_no)
    assert outcomes, "no round ran"


def test_one_batch_number_with_two_contents_at_once_is_409_not_503(
        server: LiveServer, ctx: Context, tokens: Tokens) -> None:
    adapter = Adapter(server.url, tokens["adapter:om"])
    for round_no in range(ROUNDS):
        r = adapter.http.post("/v1/publish/syncs", json={"agency": "om", "key_version": 1})
        sync = r.json()["sync_id"]
        bodies = [_entries(20), _entries(20)]
        answers = _at_once(server.url, [adapter.put_batch(sync, 0, b) for b in bodies])
        statuses = sorted(r.status_code for r in answers)
        assert statuses == [200, 409], (round_no, [(r.status_code, r.text) for r in answers])
        winner = bodies[[r.status_code for r in answers].index(200)]
        r = adapter.http.post(f"/v1/publish/syncs/{sync}/commit",
                              json={"batches": 1, "entries": 20})
        assert r.status_code == 200, r.text
        _check(ctx, adapter, _as_set(winner), round_no)


def test_first_commits_of_two_syncs_at_once_both_succeed(
        server: LiveServer, ctx: Context, tokens: Tokens) -> None:
    """The agency's set row does not exist yet: neither commit may fail on its unique key."""
    adapter = Adapter(server.url, tokens["adapter:om"])
    for round_no in range(ROUNDS):
        with ctx.db.write() as conn:  # the agency has never published
            conn.execute(delete(agency_sets).where(agency_sets.c.agency == "om"))
            conn.execute(delete(entries).where(entries.c.agency == "om"))
        wires = [_entries(), _entries()]
        syncs_ = [adapter.open_with_batch(w) for w in wires]
        answers = _at_once(server.url, [adapter.commit(s) for s in syncs_])
        assert [r.status_code for r in answers] == [200, 200], [r.text for r in answers]
        visible, _ = _visible(ctx)
        assert visible in (_as_set(wires[0]), _as_set(wires[1])), round_no
        _check(ctx, adapter, visible, round_no)


def test_expiry_waits_for_a_commit_in_progress(ctx: Context) -> None:
    """A commit that passed the expiry check a moment before the deadline, and an expiry
    sweep (run by any open) on another connection after it: the sweep must find the sync
    committed, not delete the generation that has just become visible."""
    pairs: list[tuple[bytes | None, bytes | None]] = [
        (secrets.token_bytes(32), None) for _ in range(ENTRIES)]
    with ctx.db.write() as conn:
        sync = index.open_sync(conn, agency="om", key_version=1, ttl_seconds=1, max_open=5)
        index.add_batch(conn, sync, 0, pairs, b"\x01" * 32)
    errors: list[BaseException] = []

    def sweep() -> None:
        try:
            with ctx.db.write() as conn:
                index.open_sync(conn, agency="leerplicht", key_version=1, ttl_seconds=60,
                                max_open=5)
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    sweeper = threading.Thread(target=sweep)
    with ctx.db.write() as conn:
        index.commit_sync(conn, index.get_sync(conn, sync.public_id), batches=1,
                          entry_count=ENTRIES)
        while index.get_sync(conn, sync.public_id).expires_at > utc_now_iso():
            time.sleep(0.05)
        sweeper.start()
        time.sleep(0.5)  # the sweep runs (or waits) while this commit is still open
    sweeper.join(timeout=30)
    assert not errors, errors
    with ctx.db.read() as conn:
        assert index.get_sync(conn, sync.public_id).status == "committed"
        current = index.agency_set(conn, "om")
        stored = conn.execute(select(func.count()).select_from(entries).where(
            entries.c.agency == "om", entries.c.generation == sync.id)).scalar_one()
    assert current is not None and current.generation == sync.id
    assert stored == current.entry_count == ENTRIES


def test_batches_in_flight_side_by_side_then_commit(
        server: LiveServer, ctx: Context, tokens: Tokens) -> None:
    """An adapter sends several batches of one sync at once (``parallel``): all are applied,
    none waits for a deadlock to be broken, and the commit publishes them all."""
    adapter = Adapter(server.url, tokens["adapter:om"])
    for round_no in range(ROUNDS // 2):
        r = adapter.http.post("/v1/publish/syncs", json={"agency": "om", "key_version": 1})
        sync = r.json()["sync_id"]
        bodies = [_entries(30) for _ in range(4)]
        answers = _at_once(server.url, [adapter.put_batch(sync, n, b)
                                        for n, b in enumerate(bodies)])
        assert [r.status_code for r in answers] == [200] * 4, [r.text for r in answers]
        r = adapter.http.post(f"/v1/publish/syncs/{sync}/commit",
                              json={"batches": 4, "entries": 120})
        assert r.status_code == 200, r.text
        _check(ctx, adapter, frozenset().union(*map(_as_set, bodies)), round_no)
