"""The audit Merkle tree in the database: sequencing records, tree state, checkpoints.

Records are committed first (``hitmachine.store.audit_log``) with ``seq`` NULL. The
integrator (``hitmachine.services.audit``) then takes the integration lock, gives the
oldest pending records the next contiguous sequence numbers and their leaf hashes, and
saves the grown tree's compact range, all in one transaction: after a crash either the
whole batch is in the tree or none of it.

One integrator at a time, across processes: on PostgreSQL a transaction-level advisory
lock; on SQLite the write lock that ``Database.write()`` takes with BEGIN IMMEDIATE.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, RowMapping, bindparam, delete, func, insert, or_, select, text, update

from hitmachine.domain.audit_encoding import LEAF_FIELDS, PRUNED_VALUES, leaf_data_from_values
from hitmachine.domain.clock import utc_now_iso
from hitmachine.domain.errors import Conflict
from hitmachine.domain.merkle import CompactRange, leaf_hash
from hitmachine.store.database import Database
from hitmachine.store.schema import audit_checkpoints, audit_records, audit_tree

__all__ = [
    "CheckpointRow",
    "TreeDamaged",
    "TreeState",
    "clear_contents",
    "find_by_subject",
    "has_pending",
    "insert_checkpoint",
    "integrate_batch",
    "latest_checkpoint",
    "leaf_hashes",
    "list_checkpoints",
    "load_state",
    "lock",
    "prune_candidates",
    "record_at",
    "records_by_request_id",
    "sequenced_count",
    "snapshot",
    "stream_leaves",
    "thin_checkpoints",
]

# pg_advisory_xact_lock key of the integrator: the bytes "hm-audit" as a bigint.
LOCK_KEY = int.from_bytes(b"hm-audit", "big")
TREE_ROW = 1

_c = audit_records.c
# seq, id, leaf_hash, pruned, then the leaf fields: the shape the verifier streams.
LEAF_COLUMNS = (_c.seq, _c.id, _c.leaf_hash, _c.pruned, *(_c[f] for f in LEAF_FIELDS))
_PENDING_COLUMNS = (_c.id, *(_c[f] for f in LEAF_FIELDS))


class TreeDamaged(Conflict):
    """The stored tree state disagrees with the records: somebody changed the database."""


@dataclass(frozen=True, slots=True)
class TreeState:
    size: int
    compact_range: bytes
    root_hash: bytes
    updated_at: str | None

    def compact(self) -> CompactRange:
        return CompactRange.from_bytes(self.compact_range)


@dataclass(frozen=True, slots=True)
class CheckpointRow:
    id: int
    size: int
    root_hash: bytes
    note: str
    key_hash: str
    signed_at: str


_EMPTY = CompactRange()
EMPTY_STATE = TreeState(0, _EMPTY.to_bytes(), _EMPTY.root(), None)


@contextmanager
def snapshot(db: Database) -> Iterator[Connection]:
    """A read-only transaction that sees one consistent state of the whole database.

    SQLite in WAL mode gives every read transaction a snapshot; PostgreSQL needs
    REPEATABLE READ for that (its default isolation re-reads per statement).
    """
    with db.engine.connect() as conn:
        if not db.is_sqlite:
            conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn


def lock(conn: Connection, *, wait: bool) -> bool:
    """Take the integration lock for the rest of this transaction; False if busy.

    On SQLite the caller's BEGIN IMMEDIATE transaction already excludes every writer.
    """
    if conn.dialect.name != "postgresql":
        return True
    if wait:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
        return True
    return bool(conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"),
                             {"k": LOCK_KEY}).scalar())


def load_state(conn: Connection) -> TreeState:
    row = conn.execute(select(audit_tree).where(audit_tree.c.id == TREE_ROW)).first()
    if row is None:
        return EMPTY_STATE
    return TreeState(int(row.size), bytes(row.compact_range), bytes(row.root_hash),
                     row.updated_at)


def _save_state(conn: Connection, compact: CompactRange, *, exists: bool) -> TreeState:
    now = utc_now_iso()
    values = {"size": compact.size, "compact_range": compact.to_bytes(),
              "root_hash": compact.root(), "updated_at": now}
    if exists:
        conn.execute(update(audit_tree).where(audit_tree.c.id == TREE_ROW).values(**values))
    else:
        conn.execute(insert(audit_tree).values(id=TREE_ROW, **values))
    return TreeState(compact.size, values["compact_range"], values["root_hash"], now)


def integrate_batch(conn: Connection, limit: int) -> tuple[int, TreeState]:
    """Sequence up to ``limit`` pending records, oldest (lowest id) first.

    The caller holds the integration lock in ``conn``'s transaction. Refuses to go on
    (``TreeDamaged``) when the tree state does not end where the sequenced records end:
    appending to a tampered log would bury the evidence under new records.
    """
    state = load_state(conn)
    exists = state.updated_at is not None
    last = conn.execute(select(func.max(_c.seq))).scalar()
    if (state.size == 0 and last is not None) or (state.size > 0 and last != state.size - 1):
        raise TreeDamaged("the audit tree state does not match the sequenced records; "
                          "run 'hitmachine audit verify'")
    rows = conn.execute(select(*_PENDING_COLUMNS).where(_c.seq.is_(None))
                        .order_by(_c.id).limit(limit)).all()
    if not rows:
        return 0, state
    compact = state.compact()
    start = compact.size
    hashes: list[bytes] = []
    params: list[dict[str, Any]] = []
    for offset, row in enumerate(rows):
        seq = start + offset
        digest = leaf_hash(leaf_data_from_values(seq, row[0], row[1:]))
        hashes.append(digest)
        params.append({"_id": row[0], "_seq": seq, "_leaf": digest})
    compact.extend(hashes)
    # "AND seq IS NULL" makes a row that somebody sequenced meanwhile fail loudly below.
    result = conn.execute(
        update(audit_records)
        .where(_c.id == bindparam("_id"), _c.seq.is_(None))
        .values(seq=bindparam("_seq"), leaf_hash=bindparam("_leaf")),
        params)
    if result.rowcount not in (-1, len(params)):
        raise TreeDamaged("pending audit records changed while they were being sequenced")
    return len(rows), _save_state(conn, compact, exists=exists)


def has_pending(conn: Connection) -> bool:
    """Whether any record waits to be sequenced (one probe of the partial index)."""
    return conn.execute(select(_c.id).where(_c.seq.is_(None)).limit(1)).first() is not None


def sequenced_count(conn: Connection) -> tuple[int, int]:
    """(sequenced, pending) record counts."""
    row = conn.execute(select(func.count(_c.seq), func.count())).one()
    return int(row[0]), int(row[1]) - int(row[0])


def stream_leaves(conn: Connection, *, batch: int = 20_000) -> Iterator[Sequence[Any]]:
    """Every sequenced record as (seq, id, leaf_hash, pruned, *LEAF_FIELDS), by seq.

    Streamed with a server-side cursor on PostgreSQL, so a log of millions of records
    never sits in memory whole.
    """
    # The driver's own cursor: the verifier reads every row of the log, and SQLAlchemy's
    # result processing would double the time of a million-row pass.
    columns = ", ".join(c.name for c in LEAF_COLUMNS)
    sql = f"SELECT {columns} FROM audit_records WHERE seq IS NOT NULL ORDER BY seq"
    raw = conn.connection.dbapi_connection
    assert raw is not None
    if conn.dialect.name == "postgresql":
        cursor = raw.cursor(name="hm_stream_leaves")  # server-side: memory stays flat
        cursor.itersize = batch
    else:
        cursor = raw.cursor()
    try:
        cursor.execute(sql)
        while rows := cursor.fetchmany(batch):
            yield from rows
    finally:
        cursor.close()


def leaf_hashes(conn: Connection, size: int) -> list[bytes]:
    """The leaf hashes of seq 0 .. size-1, in order; ``TreeDamaged`` if any is missing."""
    if size <= 0:
        return []
    stmt = (select(_c.leaf_hash).where(_c.seq.is_not(None), _c.seq < size).order_by(_c.seq))
    hashes = [bytes(h) if h is not None else b"" for h in conn.execute(stmt).scalars()]
    if len(hashes) != size or any(len(h) != 32 for h in hashes):
        raise TreeDamaged("the audit log is missing leaf hashes below the requested size; "
                          "run 'hitmachine audit verify'")
    return hashes


def record_at(conn: Connection, seq: int) -> RowMapping | None:
    row = conn.execute(select(audit_records).where(_c.seq == seq)).first()
    return row._mapping if row is not None else None


def records_by_request_id(conn: Connection, request_id: str,
                          organisation: str | None = None) -> list[RowMapping]:
    """Sequenced or not, in arrival order; only those of ``organisation`` when given."""
    stmt = select(audit_records).where(_c.request_id == request_id)
    if organisation is not None:
        stmt = stmt.where(_c.organisation == organisation)
    return [r._mapping for r in conn.execute(stmt.order_by(_c.id))]


def find_by_subject(conn: Connection, hex_pseudonyms: Sequence[str]) -> list[RowMapping]:
    """Records that may mention any of the pseudonyms (hex), in arrival order.

    A substring match on the JSON text; the caller confirms each row exactly. A data
    subject request is rare, so a scan of the table is acceptable where an index of
    pseudonyms would be a second copy of them to keep, prune and protect.
    """
    if not hex_pseudonyms:
        return []
    stmt = (select(audit_records)
            .where(or_(*(_c.subjects.contains(h, autoescape=True) for h in hex_pseudonyms)))
            .order_by(_c.id))
    return [r._mapping for r in conn.execute(stmt)]


def latest_checkpoint(conn: Connection) -> CheckpointRow | None:
    row = conn.execute(select(audit_checkpoints)
                       .order_by(audit_checkpoints.c.size.desc()).limit(1)).first()
    return _checkpoint(row) if row is not None else None


def list_checkpoints(conn: Connection) -> list[CheckpointRow]:
    rows = conn.execute(select(audit_checkpoints).order_by(audit_checkpoints.c.size))
    return [_checkpoint(r) for r in rows]


def _checkpoint(row: Any) -> CheckpointRow:
    return CheckpointRow(int(row.id), int(row.size), bytes(row.root_hash), row.note,
                         row.key_hash, row.signed_at)


def insert_checkpoint(conn: Connection, *, size: int, root_hash: bytes, note: str,
                      key_hash: bytes, signed_at: str) -> None:
    conn.execute(insert(audit_checkpoints).values(
        size=size, root_hash=root_hash, note=note, key_hash=key_hash.hex(), signed_at=signed_at))


def thin_checkpoints(conn: Connection, before: str) -> int:
    """Keep only the last checkpoint of each UTC hour among those signed before ``before``."""
    cp = audit_checkpoints.c
    keep = (select(func.max(cp.id)).where(cp.signed_at < before)
            .group_by(func.substr(cp.signed_at, 1, 13)))
    result = conn.execute(delete(audit_checkpoints)
                          .where(cp.signed_at < before, cp.id.not_in(keep)))
    return int(result.rowcount or 0)


def prune_candidates(conn: Connection, cutoff: str) -> tuple[int, int | None]:
    """(count, highest seq) of the sequenced, unpruned records recorded before ``cutoff``.

    Prune records themselves are never pruned: each one authorises the pruning below it
    (``before_seq``), and the verifier needs to read that.
    """
    row = conn.execute(select(func.count(), func.max(_c.seq)).where(*_prunable(cutoff))).one()
    return int(row[0]), (int(row[1]) if row[1] is not None else None)


def _prunable(cutoff: str) -> list[Any]:
    return [_c.seq.is_not(None), _c.pruned.is_(False), _c.recorded_at < cutoff,
            _c.event != "audit.prune"]


def clear_contents(conn: Connection, cutoff: str, before_seq: int, limit: int) -> int:
    """Clear the contents of up to ``limit`` prunable records below ``before_seq``."""
    ids = (select(_c.id).where(*_prunable(cutoff), _c.seq < before_seq)
           .order_by(_c.seq).limit(limit))
    result = conn.execute(update(audit_records).where(_c.id.in_(ids))
                          .values(pruned=True, **PRUNED_VALUES))
    return int(result.rowcount or 0)
