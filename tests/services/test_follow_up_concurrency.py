"""Follow-up re-evaluation racing publishes and new follow-ups (issue 16), as real parallel
HTTP clients against a served instance with two worker processes, on PostgreSQL (SQLite
serialises every writer, so it has no race to lose).

Four agencies publish the same households at once, each by snapshots and deltas, while
coordinators open follow-ups on them. Afterwards, for every follow-up: the agencies it
started with and the agencies its follow_up signals added are disjoint and together make
all four (nothing lost, nothing twice), and its stored set says the same.
"""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from hitmachine.services.context import Context
from hitmachine.settings import Settings
from hitmachine.store.schema import follow_ups
from tests.conftest import Tokens
from tests.helpers import entry_for
from tests.live_server import LiveServer

AGENCIES = ("om", "reclassering", "regieteams", "schuldhulp")  # no age rule for adults
HOUSEHOLDS = 24


def _bsn(n: int) -> str:
    digits = [int(c) for c in f"{n:08d}"]
    total = sum(d * w for d, w in zip(digits, (9, 8, 7, 6, 5, 4, 3, 2)))
    return f"{n:08d}{total % 11}" if total % 11 < 10 else ""


def _people() -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    n = 10_000_000
    while len(out) < 2 * HOUSEHOLDS:
        n += 1
        bsn = _bsn(n)
        if bsn:
            out.append({"bsn": bsn, "given_names": "Test", "surname": f"Lid{len(out)}",
                        "date_of_birth": "1970-01-01"})
    return out


@pytest.fixture
def server(settings: Settings, ctx: Context, tmp_path: Path) -> Iterator[LiveServer]:
    if ctx.db.is_sqlite:
        pytest.skip("a race of writers needs PostgreSQL; SQLite serialises them")
    with LiveServer(settings, tmp_path / "server.log", workers=2,
                    extra_env={"HITMACHINE_LOG_LEVEL": "WARNING",
                               "HITMACHINE_RATE_LIMITS": "false"}) as live:
        yield live


def test_concurrent_publishes_lose_and_duplicate_nothing(server: LiveServer, ctx: Context,
                                                         tokens: Tokens) -> None:
    people = _people()
    version = ctx.pseudonymiser.primary_version
    wire = [entry_for(ctx, **p) for p in people]
    households = [people[2 * i:2 * i + 2] for i in range(HOUSEHOLDS)]
    errors: list[str] = []
    opened: list[dict[str, Any]] = []
    lock = threading.Lock()
    start = threading.Barrier(len(AGENCIES) + 2)

    def publisher(agency: str, seed: int) -> None:
        rng = random.Random(seed)
        headers = {"Authorization": f"Bearer {tokens[f'adapter:{agency}']}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as c:
            start.wait()
            for round_no in range(3):
                chosen = rng.sample(wire, len(wire) // 2) if round_no < 2 else wire
                if round_no == 1:  # a delta of the rest
                    r = c.post("/v1/publish/delta", json={
                        "agency": agency, "key_version": version,
                        "add": [e for e in wire if e not in chosen]})
                    if r.status_code != 200:
                        errors.append(f"{agency} delta {r.status_code} {r.text}")
                    continue
                r = c.post("/v1/publish/syncs", json={"agency": agency, "key_version": version})
                if r.status_code != 201:
                    errors.append(f"{agency} open {r.status_code} {r.text}")
                    return
                sync = r.json()["sync_id"]
                r = c.put(f"/v1/publish/syncs/{sync}/batches/0", json={"entries": chosen})
                r = c.post(f"/v1/publish/syncs/{sync}/commit",
                           json={"batches": 1, "entries": len(chosen)})
                if r.status_code != 200:
                    errors.append(f"{agency} commit {r.status_code} {r.text}")

    def asker(part: int) -> None:
        with httpx.Client(base_url=server.url, headers=tokens.header("coordinator"),
                          timeout=60) as c:
            start.wait()
            for household in households[part::2]:
                r = c.post("/v1/queries/household", json={
                    "purpose": "casusoverleg", "case_reference": "VH-RACE",
                    "members": household, "follow_up_days": 30})
                if r.status_code != 200:
                    errors.append(f"query {r.status_code} {r.text}")
                    continue
                with lock:
                    opened.append(r.json()["follow_up"])

    threads = [threading.Thread(target=publisher, args=(a, i)) for i, a in enumerate(AGENCIES)]
    threads += [threading.Thread(target=asker, args=(p,)) for p in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert errors == []
    assert len(opened) == HOUSEHOLDS
    r = httpx.get(f"{server.url}/v1/signals", headers=tokens.header("coordinator"),
                  params={"limit": 1000}, timeout=30)
    assert r.status_code == 200, r.text
    added: Counter[tuple[str, str]] = Counter(
        (s["follow_up"], a) for s in r.json() if s["kind"] == "follow_up" for a in s["added"])
    assert all(n == 1 for n in added.values()), [k for k, n in added.items() if n > 1]
    with ctx.db.read() as conn:
        stored = {row.public_id: json.loads(row.agencies)
                  for row in conn.execute(select(follow_ups))}
    for follow_up in opened:
        start_set = set(follow_up["agencies"])
        signalled = {a for (f, a) in added if f == follow_up["id"]}
        assert not start_set & signalled, follow_up
        assert start_set | signalled == set(AGENCIES), (follow_up, signalled)
        assert stored[follow_up["id"]] == sorted(AGENCIES)
