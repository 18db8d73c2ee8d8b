"""The index on a real database: snapshots are atomic, batches idempotent, abandoned and
expired syncs change nothing, deltas add and remove in one step."""

from __future__ import annotations

import hashlib
import threading

import pytest
from sqlalchemy import func, select, update

from hitmachine.core.errors import Conflict, LimitExceeded
from hitmachine.services.context import Context
from hitmachine.store import index
from hitmachine.store.schema import entries, syncs


def p(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def _snapshot(ctx: Context, agency: str, labels: list[str], batch: int = 2) -> None:
    with ctx.db.write() as conn:
        sync = index.open_sync(conn, agency=agency, key_version=1, ttl_seconds=60, max_open=2)
    pairs = [(p(x), None) for x in labels]
    chunks = [pairs[i:i + batch] for i in range(0, len(pairs), batch)]
    for n, chunk in enumerate(chunks):
        with ctx.db.write() as conn:
            index.add_batch(conn, index.get_sync(conn, sync.public_id), n, chunk,
                            hashlib.sha256(repr(chunk).encode()).digest())
    with ctx.db.write() as conn:
        index.commit_sync(conn, index.get_sync(conn, sync.public_id), batches=len(chunks),
                          entry_count=len(pairs))


def _visible(ctx: Context, agency: str, labels: list[str]) -> set[str]:
    with ctx.db.read() as conn:
        found = index.lookup(conn, [p(x) for x in labels], [])
    by_digest = {p(x): x for x in labels}
    return {by_digest[e.bsn] for e in found if e.agency == agency and e.bsn in by_digest}


def test_readers_see_old_set_until_commit_then_new(ctx: Context) -> None:
    old, new = ["a", "b", "c"], ["c", "d", "e", "f"]
    everyone = sorted(set(old) | set(new))
    _snapshot(ctx, "om", old)
    with ctx.db.write() as conn:
        sync = index.open_sync(conn, agency="om", key_version=1, ttl_seconds=60, max_open=2)
    pairs = [(p(x), None) for x in new]
    for n in range(2):
        with ctx.db.write() as conn:
            index.add_batch(conn, index.get_sync(conn, sync.public_id), n, pairs[2 * n:2 * n + 2],
                            bytes([n]) * 32)
        assert _visible(ctx, "om", everyone) == set(old)
    with ctx.db.write() as conn:
        index.commit_sync(conn, index.get_sync(conn, sync.public_id), batches=2, entry_count=4)
    assert _visible(ctx, "om", everyone) == set(new)
    with ctx.db.read() as conn:
        count = conn.execute(select(func.count()).select_from(entries)).scalar_one()
    assert count == len(new)  # the old generation is gone, not just hidden


def test_concurrent_reader_never_sees_a_mix(ctx: Context) -> None:
    sets = [[f"gen{g}-{i}" for i in range(40)] for g in range(6)]
    everyone = [x for s in sets for x in s]
    allowed: list[set[str]] = [set()] + [set(s) for s in sets]
    _snapshot(ctx, "om", sets[0], batch=7)
    seen: list[set[str]] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            seen.append(_visible(ctx, "om", everyone))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for labels in sets[1:]:
            _snapshot(ctx, "om", labels, batch=7)
    finally:
        stop.set()
        thread.join()
    assert len(seen) > 5
    for observed in seen:
        assert observed in allowed, "a reader saw a mix of two generations"


def test_retried_batch_is_applied_once(ctx: Context) -> None:
    with ctx.db.write() as conn:
        sync = index.open_sync(conn, agency="om", key_version=1, ttl_seconds=60, max_open=2)
    pairs = [(p("x"), None), (p("y"), p("y-name"))]
    for attempt in range(3):
        with ctx.db.write() as conn:
            applied = index.add_batch(conn, index.get_sync(conn, sync.public_id), 0, pairs, b"d" * 32)
        assert applied is (attempt == 0)
    with ctx.db.read() as conn:
        info = index.get_sync(conn, sync.public_id)
        stored = conn.execute(select(func.count()).select_from(entries)).scalar_one()
    assert (info.batch_count, info.entry_count, stored) == (1, 2, 2)


def test_other_content_under_a_used_batch_number_conflicts(ctx: Context) -> None:
    with ctx.db.write() as conn:
        sync = index.open_sync(conn, agency="om", key_version=1, ttl_seconds=60, max_open=2)
        index.add_batch(conn, sync, 0, [(p("x"), None)], b"a" * 32)
    with pytest.raises(Conflict), ctx.db.write() as conn:
        index.add_batch(conn, index.get_sync(conn, sync.public_id), 0, [(p("z"), None)], b"b" * 32)


def test_commit_retry_is_a_no_op(ctx: Context) -> None:
    _snapshot(ctx, "om", ["a"])
    with ctx.db.read() as conn:
        sync_row = conn.execute(select(syncs.c.public_id)).scalar_one()
    with ctx.db.write() as conn:
        result, applied = index.commit_sync(conn, index.get_sync(conn, sync_row), batches=1,
                                            entry_count=1)
    assert (result.entry_count, applied) == (1, False)
    with pytest.raises(Conflict), ctx.db.write() as conn:
        index.commit_sync(conn, index.get_sync(conn, sync_row), batches=2, entry_count=1)


def test_abandoned_sync_changes_nothing(ctx: Context) -> None:
    _snapshot(ctx, "om", ["a", "b"])
    with ctx.db.write() as conn:
        sync = index.open_sync(conn, agency="om", key_version=1, ttl_seconds=60, max_open=2)
        index.add_batch(conn, sync, 0, [(p("z"), None)], b"z" * 32)
    with ctx.db.write() as conn:
        index.abandon_sync(conn, index.get_sync(conn, sync.public_id))
    assert _visible(ctx, "om", ["a", "b", "z"]) == {"a", "b"}
    with ctx.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(entries)).scalar_one() == 2
        assert index.get_sync(conn, sync.public_id).status == "abandoned"


def test_expired_sync_is_closed_and_cannot_commit(ctx: Context) -> None:
    _snapshot(ctx, "om", ["a"])
    with ctx.db.write() as conn:
        sync = index.open_sync(conn, agency="om", key_version=1, ttl_seconds=60, max_open=2)
        index.add_batch(conn, sync, 0, [(p("z"), None)], b"z" * 32)
        conn.execute(update(syncs).where(syncs.c.id == sync.id)
                     .values(expires_at="2000-01-01T00:00:00.000000Z"))
    with pytest.raises(Conflict), ctx.db.write() as conn:
        index.commit_sync(conn, index.get_sync(conn, sync.public_id), batches=1, entry_count=1)
    with ctx.db.write() as conn:
        assert index.expire_stale(conn) == 1
    assert _visible(ctx, "om", ["a", "z"]) == {"a"}
    with ctx.db.read() as conn:
        assert index.get_sync(conn, sync.public_id).status == "expired"
        assert conn.execute(select(func.count()).select_from(entries)).scalar_one() == 1


def test_open_syncs_per_agency_are_limited(ctx: Context) -> None:
    with ctx.db.write() as conn:
        index.open_sync(conn, agency="om", key_version=1, ttl_seconds=60, max_open=1)
    with pytest.raises(LimitExceeded), ctx.db.write() as conn:
        index.open_sync(conn, agency="om", key_version=1, ttl_seconds=60, max_open=1)
    with ctx.db.write() as conn:  # another agency is not affected
        index.open_sync(conn, agency="leerplicht", key_version=1, ttl_seconds=60, max_open=1)


def test_delta_adds_and_removes_atomically(ctx: Context) -> None:
    _snapshot(ctx, "om", ["a", "b"])
    with ctx.db.write() as conn:
        added, removed = index.apply_delta(conn, agency="om", key_version=1,
                                           add=[(p("c"), None)], remove=[(p("a"), None)])
    assert (added, removed) == (1, 1)
    assert _visible(ctx, "om", ["a", "b", "c"]) == {"b", "c"}
    with ctx.db.read() as conn:
        current = index.agency_set(conn, "om")
    assert current is not None and current.entry_count == 2


def test_failed_delta_rolls_back_whole(ctx: Context) -> None:
    _snapshot(ctx, "om", ["a"])
    with pytest.raises(RuntimeError), ctx.db.write() as conn:
        index.apply_delta(conn, agency="om", key_version=1, add=[(p("c"), None)],
                          remove=[(p("a"), None)])
        raise RuntimeError("crash before commit")
    assert _visible(ctx, "om", ["a", "c"]) == {"a"}


def test_delta_on_an_agency_that_never_published(ctx: Context) -> None:
    with ctx.db.write() as conn:
        index.apply_delta(conn, agency="reclassering", key_version=1, add=[(p("r"), None)], remove=[])
    assert _visible(ctx, "reclassering", ["r"]) == {"r"}


def test_delta_removes_name_only_entries(ctx: Context) -> None:
    with ctx.db.write() as conn:
        index.apply_delta(conn, agency="om", key_version=1,
                          add=[(None, p("n1")), (p("b"), p("n2"))], remove=[])
        _, removed = index.apply_delta(conn, agency="om", key_version=1, add=[],
                                       remove=[(None, p("n1")), (p("b"), p("n2"))])
    assert removed == 2
