"""Crash safety: a served instance is killed with SIGKILL at a random moment while an
adapter publishes a snapshot and a coordinator asks household queries, ``ROUNDS`` times
on each database. After every kill:

* the agency's set is exactly the old snapshot or the new one (never a mix, never empty);
  when the adapter saw its commit answered, it is the new one;
* every answer the coordinator received has its ``query.household`` audit record (found
  by the request id the client chose);
* the audit log verifies (``hitmachine.services.audit.verify``, and at the end the
  ``hitmachine audit verify`` command).
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from hitmachine.core.principal import Role
from hitmachine.services import admin
from hitmachine.services import audit as audit_service
from hitmachine.services.context import Context
from hitmachine.settings import Settings
from hitmachine.store.schema import agency_sets, audit_records, entries
from tests.helpers import entry_for, make_bsn
from tests.live_server import LiveServer, cli

ROUNDS = int(os.environ.get("HITMACHINE_CRASH_ROUNDS", "50"))
PEOPLE = [{"bsn": make_bsn(random.Random(i))} for i in range(20)]
SNAPSHOTS = [PEOPLE[0:10], PEOPLE[5:15], PEOPLE[10:20]]
ENV = {"HITMACHINE_MAX_OPEN_SYNCS_PER_AGENCY": "1000", "HITMACHINE_LOG_LEVEL": "WARNING",
       "HITMACHINE_AUDIT_CHECKPOINT_SECONDS": "0.2"}


def _visible_set(ctx: Context) -> frozenset[tuple[bytes | None, bytes | None]]:
    with ctx.db.read() as conn:
        generation = conn.execute(select(agency_sets.c.generation)
                                  .where(agency_sets.c.agency == "om")).scalar()
        rows = conn.execute(select(entries.c.bsn_pseudonym, entries.c.name_pseudonym).where(
            entries.c.agency == "om", entries.c.generation == generation)).all()
    return frozenset((r[0], r[1]) for r in rows)


def _audited(ctx: Context, request_ids: list[str]) -> set[str]:
    with ctx.db.read() as conn:
        rows = conn.execute(select(audit_records.c.request_id).where(
            audit_records.c.event == "query.household",
            audit_records.c.request_id.in_(request_ids))).all()
    return {r[0] for r in rows}


def _loop(stop: threading.Event, work: Callable[[httpx.Client], None], url: str) -> None:
    with httpx.Client(base_url=url, timeout=5) as client:
        while not stop.is_set():
            try:
                work(client)
            except httpx.HTTPError:
                return  # the server is gone


def test_sigkill_during_publishes_and_queries(settings: Settings, ctx: Context,
                                              tmp_path: Path) -> None:
    adapter = {"Authorization": "Bearer " + admin.create_token(
        ctx, admin.CONSOLE, name="crash adapter", role=Role.ADAPTER, agency="om",
        expires_at=None, request_id="test")[1]}
    coordinator = {"Authorization": "Bearer " + admin.create_token(
        ctx, admin.CONSOLE, name="crash coordinator", role=Role.COORDINATOR, agency=None,
        expires_at=None, request_id="test")[1]}
    wire = [[entry_for(ctx, **p) for p in snap] for snap in SNAPSHOTS]
    sets = [frozenset((bytes.fromhex(e["bsn"]) if e["bsn"] else None,
                       bytes.fromhex(e["name"]) if e["name"] else None) for e in w)
            for w in wire]
    rng = random.Random(4)
    current: frozenset[Any] = frozenset()  # nothing published yet
    answered: list[str] = []
    new_seen = 0
    for round_no in range(ROUNDS):
        target = (round_no + 1) % len(SNAPSHOTS)
        committed = threading.Event()
        stop = threading.Event()
        counter = iter(range(10**9))

        # The loop's values are bound as defaults: a thread that outlives its join timeout
        # must not see the next round's.
        def publish(client: httpx.Client, target: int = target,
                    committed: threading.Event = committed,
                    stop: threading.Event = stop) -> None:
            r = client.post("/v1/publish/syncs", json={"agency": "om", "key_version": 1},
                            headers=adapter)
            assert r.status_code == 201, r.text
            sync = r.json()["sync_id"]
            r = client.put(f"/v1/publish/syncs/{sync}/batches/0",
                           json={"entries": wire[target]}, headers=adapter)
            assert r.status_code == 200, r.text
            r = client.post(f"/v1/publish/syncs/{sync}/commit",
                            json={"batches": 1, "entries": len(wire[target])}, headers=adapter)
            assert r.status_code == 200, r.text
            committed.set()
            stop.wait()

        def ask(client: httpx.Client, round_no: int = round_no,
                counter: Iterator[int] = counter) -> None:
            rid = f"crash-{round_no}-{next(counter)}"
            r = client.post("/v1/queries/household", headers={**coordinator, "X-Request-ID": rid},
                            json={"purpose": "casusoverleg", "case_reference": "VH-CRASH",
                                  "members": [PEOPLE[0], PEOPLE[12]]})
            if r.status_code == 200:  # the server's own id; the client's stays in detail
                assert r.headers["X-Request-ID"] != rid
                assert r.json()["query_id"] == r.headers["X-Request-ID"]
                answered.append(r.headers["X-Request-ID"])

        server = LiveServer(settings, tmp_path / "server.log", extra_env=ENV).start()
        threads = [threading.Thread(target=_loop, args=(stop, work, server.url))
                   for work in (publish, ask)]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.0, 0.3))
        server.kill()
        stop.set()
        for t in threads:
            t.join(timeout=10)

        visible = _visible_set(ctx)
        assert visible in (current, sets[target]), f"round {round_no}: a mixed set"
        if committed.is_set():
            assert visible == sets[target], f"round {round_no}: an answered commit was lost"
        new_seen += visible != current
        current = visible
        missing = set(answered) - _audited(ctx, answered)
        assert not missing, f"round {round_no}: answers without audit records: {sorted(missing)[:5]}"
        result = audit_service.verify(ctx)
        assert result.ok, (round_no, result.problems)
    # The kills fell before, during and after commits: some rounds changed the set, some not.
    assert 0 < new_seen < ROUNDS or ROUNDS < 10, new_seen
    assert answered, "no query was ever answered"
    out = cli(settings, "audit", "verify")
    assert out.returncode == 0
