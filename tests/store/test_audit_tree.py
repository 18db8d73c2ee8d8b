"""Tests of hitmachine.store.audit_tree: sequencing in batches, the saved compact range,
refusing to extend a damaged tree, checkpoints thinning and pruning, on both databases."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, update

from hitmachine.core.auditlog.encoding import LEAF_FIELDS, is_cleared, record_leaf_hash
from hitmachine.core.auditlog.merkle import leaf_hash, root
from hitmachine.core.auditlog.record import AuditRecord, Outcome
from hitmachine.services.context import Context
from hitmachine.store import audit_log, audit_tree
from hitmachine.store.schema import audit_records


def add(ctx: Context, n: int, recorded_at: str | None = None) -> None:
    extra: dict[str, Any] = {"recorded_at": recorded_at} if recorded_at else {}
    with ctx.db.write() as conn:
        audit_log.append(conn, [AuditRecord(event="e", actor=f"a{i}", role="r",
                                            organisation="o", request_id=f"q{i}",
                                            outcome=Outcome.OK, **extra) for i in range(n)])


def integrate(ctx: Context, limit: int) -> int:
    with ctx.db.write() as conn:
        audit_tree.lock(conn, wait=True)
        return audit_tree.integrate_batch(conn, limit)[0]


def test_batches_give_contiguous_seqs_and_the_saved_state_is_the_tree(ctx: Context) -> None:
    add(ctx, 7)
    assert [integrate(ctx, 3) for _ in range(4)] == [3, 3, 1, 0]
    with ctx.db.read() as conn:
        rows = conn.execute(select(audit_records).order_by(audit_records.c.id)).mappings().all()
        state = audit_tree.load_state(conn)
        assert audit_tree.sequenced_count(conn) == (7, 0)
        assert not audit_tree.has_pending(conn)
    assert [r["seq"] for r in rows] == list(range(7))
    leaves = [record_leaf_hash(r["seq"], r["id"], dict(r)) for r in rows]
    assert [bytes(r["leaf_hash"]) for r in rows] == leaves
    assert state.size == 7 and state.root_hash == root(leaves)
    assert state.compact().root() == root(leaves)


def test_a_tree_state_that_does_not_fit_the_records_is_not_extended(ctx: Context) -> None:
    add(ctx, 3)
    integrate(ctx, 10)
    with ctx.db.write() as conn:
        conn.execute(update(audit_records).where(audit_records.c.seq == 2).values(seq=None))
    add(ctx, 1)
    with pytest.raises(audit_tree.TreeDamaged):
        integrate(ctx, 10)


def test_pruning_clears_only_what_is_due_and_keeps_the_leaf_hash(ctx: Context) -> None:
    add(ctx, 3, recorded_at="2020-01-01T00:00:00.000000Z")
    add(ctx, 2)
    integrate(ctx, 10)
    with ctx.db.read() as conn:
        # (before_seq, records to clear below it)
        assert audit_tree.prune_range(conn, "2021-01-01T00:00:00.000000Z") == (3, 3)
        before = conn.execute(select(audit_records.c.leaf_hash).order_by(audit_records.c.seq)
                              ).scalars().all()
    with ctx.db.write() as conn:
        assert audit_tree.clear_contents(conn, "2021-01-01T00:00:00.000000Z", 2, 100) == 2
    with ctx.db.read() as conn:
        rows = conn.execute(select(audit_records).order_by(audit_records.c.seq)).mappings().all()
    assert [r["pruned"] for r in rows] == [True, True, False, False, False]
    assert is_cleared([rows[0][f] for f in LEAF_FIELDS])
    assert [r["leaf_hash"] for r in rows] == before


def test_thinning_keeps_the_last_checkpoint_of_each_hour(ctx: Context) -> None:
    with ctx.db.write() as conn:
        for size, at in enumerate(("2025-01-01T10:05:00.000000Z", "2025-01-01T10:55:00.000000Z",
                                   "2025-01-01T11:01:00.000000Z", "2025-01-02T09:00:00.000000Z")):
            audit_tree.insert_checkpoint(conn, size=size, root_hash=bytes(32), note="n",
                                         key_hash=b"\x00" * 4, signed_at=at)
        assert audit_tree.thin_checkpoints(conn, "2025-01-02T00:00:00.000000Z") == 1
        assert [c.size for c in audit_tree.list_checkpoints(conn)] == [1, 2, 3]
        assert audit_tree.latest_checkpoint(conn).size == 3  # type: ignore[union-attr]


def test_a_record_sequenced_meanwhile_stops_the_batch_and_nothing_is_kept(
        ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    add(ctx, 3)
    integrate(ctx, 10)
    add(ctx, 4)
    with ctx.db.read() as conn:
        before = audit_tree.load_state(conn)
    c = audit_records.c
    with pytest.raises(audit_tree.TreeDamaged):
        with ctx.db.write() as conn:
            audit_tree.lock(conn, wait=True)
            real = leaf_hash

            def sequence_one_first(data: bytes) -> bytes:
                # Between reading the pending records and updating them, one of them gets
                # a seq from somebody else (the same transaction: SQLite lets no other in).
                monkeypatch.setattr(audit_tree, "leaf_hash", real)
                newest = select(c.id).where(c.seq.is_(None)).order_by(c.id.desc()).limit(1)
                conn.execute(update(audit_records).where(c.id == newest.scalar_subquery())
                             .values(seq=10**6))
                return real(data)

            monkeypatch.setattr(audit_tree, "leaf_hash", sequence_one_first)
            audit_tree.integrate_batch(conn, 10)
    with ctx.db.read() as conn:
        assert audit_tree.load_state(conn) == before
        assert audit_tree.sequenced_count(conn) == (3, 4)
    assert integrate(ctx, 10) == 4
    with ctx.db.read() as conn:
        rows = conn.execute(select(audit_records).order_by(c.seq)).mappings().all()
        state = audit_tree.load_state(conn)
    leaves = [record_leaf_hash(r["seq"], r["id"], dict(r)) for r in rows]
    assert [r["seq"] for r in rows] == list(range(7))
    assert [bytes(r["leaf_hash"]) for r in rows] == leaves
    assert state.size == 7 and state.root_hash == root(leaves)


def test_a_backdated_record_does_not_stretch_the_prune_range(ctx: Context) -> None:
    """A record given an old recorded_at by a database writer is sequenced late; the range
    to prune stops at the first recent record before it (issue 13, finding 2)."""
    add(ctx, 2, recorded_at="2020-01-01T00:00:00.000000Z")
    add(ctx, 2)
    add(ctx, 1, recorded_at="2019-01-01T00:00:00.000000Z")
    integrate(ctx, 10)
    with ctx.db.read() as conn:
        assert audit_tree.prune_range(conn, "2021-01-01T00:00:00.000000Z") == (2, 2)


def test_pruning_refuses_a_record_that_no_longer_matches_its_leaf(ctx: Context) -> None:
    add(ctx, 2, recorded_at="2020-01-01T00:00:00.000000Z")
    add(ctx, 1)
    integrate(ctx, 10)
    # Backdating a recent record to get it pruned: its leaf no longer matches.
    with ctx.db.write() as conn:
        conn.execute(update(audit_records).where(audit_records.c.seq == 2)
                     .values(recorded_at="2020-01-01T00:00:00.000000Z"))
    with pytest.raises(audit_tree.TreeDamaged), ctx.db.write() as conn:
        audit_tree.clear_contents(conn, "2021-01-01T00:00:00.000000Z", 3, 100)
    with ctx.db.read() as conn:
        assert not any(conn.execute(select(audit_records.c.pruned)).scalars())
