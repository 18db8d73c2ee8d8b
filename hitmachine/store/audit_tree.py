"""The audit Merkle tree in the database: sequencing records, tree state, checkpoints.

Records are committed first (``hitmachine.store.audit_log``) with ``seq`` NULL. The
integrator (``hitmachine.services.audit.integrator``) then takes the integration lock, gives the
oldest pending records the next contiguous sequence numbers and their leaf hashes, and
saves the grown tree's compact range, all in one transaction: after a crash either the
whole batch is in the tree or none of it.

One integrator at a time, across processes: on PostgreSQL a transaction-level advisory
lock; on SQLite the write lock that ``Database.write()`` takes with BEGIN IMMEDIATE.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, RowMapping, delete, func, insert, or_, select, text, update

from hitmachine.core.auditlog.encoding import LEAF_FIELDS, PRUNED_VALUES, leaf_data_from_values
from hitmachine.core.auditlog.merkle import CompactRange, leaf_hash
from hitmachine.core.clock import utc_now_iso
from hitmachine.core.errors import Damaged
from hitmachine.store.database import Database
from hitmachine.store.schema import audit_checkpoints, audit_records

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
    "oldest_pending",
    "prune_range",
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


class TreeDamaged(Damaged):
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
    with _Driver(conn) as db:
        return _load_state(db)


class _Driver:
    """The driver's own cursor inside ``conn``'s transaction, for the integrator's
    statements. Through SQLAlchemy each costs ~0.2 ms of CPU, and the per-row parameters of
    the UPDATE more than hashing the records does; the background integrator shares its
    process (and the GIL) with the query path. SQL is written with ``?``."""

    def __init__(self, conn: Connection) -> None:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        self.postgres = conn.dialect.name == "postgresql"
        # Any: the drivers' cursors differ (psycopg's execute takes prepare=).
        self._cursor: Any = raw.cursor()

    def __enter__(self) -> _Driver:
        return self

    def __exit__(self, *_: object) -> None:
        self._cursor.close()

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        if self.postgres:
            # prepare=False: psycopg prepares a statement run five times on a connection,
            # and a generic plan made while the table was small then stays cached on the
            # pooled connection (measured: the per-row UPDATE this replaced scanned every
            # pending record for each one it updated, ~1 ms a record).
            self._cursor.execute(sql.replace("?", "%s"), params, prepare=False)
        else:
            self._cursor.execute(sql, params)
        return self._cursor

    def executemany(self, sql: str, params: Iterable[Sequence[Any]]) -> Any:
        self._cursor.executemany(sql.replace("?", "%s") if self.postgres else sql, params)
        return self._cursor


_STATE_COLUMNS = "size, compact_range, root_hash, updated_at"


def _load_state(db: _Driver) -> TreeState:
    row = db.execute(f"SELECT {_STATE_COLUMNS} FROM audit_tree WHERE id = ?",
                     (TREE_ROW,)).fetchone()
    if row is None:
        return EMPTY_STATE
    return TreeState(int(row[0]), bytes(row[1]), bytes(row[2]), row[3])


def _save_state(db: _Driver, compact: CompactRange, *, exists: bool) -> TreeState:
    state = TreeState(compact.size, compact.to_bytes(), compact.root(), utc_now_iso())
    values = (state.size, state.compact_range, state.root_hash, state.updated_at, TREE_ROW)
    if exists:
        db.execute("UPDATE audit_tree SET size = ?, compact_range = ?, root_hash = ?, "
                   "updated_at = ? WHERE id = ?", values)
    else:
        db.execute(f"INSERT INTO audit_tree ({_STATE_COLUMNS}, id) VALUES (?, ?, ?, ?, ?)",
                   values)
    return state


def integrate_batch(conn: Connection, limit: int) -> tuple[int, TreeState]:
    """Sequence up to ``limit`` pending records, oldest (lowest id) first.

    The caller holds the integration lock in ``conn``'s transaction. Refuses to go on
    (``TreeDamaged``) when the tree state does not end where the sequenced records end:
    appending to a tampered log would bury the evidence under new records.
    """
    with _Driver(conn) as db:
        state = _load_state(db)
        last = db.execute("SELECT max(seq) FROM audit_records").fetchone()[0]
        if (state.size == 0 and last is not None) or (state.size > 0 and last != state.size - 1):
            raise TreeDamaged("the audit tree state does not match the sequenced records; "
                              "run 'hitmachine audit verify'")
        rows = db.execute(_PENDING_SQL, (limit,)).fetchall()
        if not rows:
            return 0, state
        compact = state.compact()
        seqs = range(compact.size, compact.size + len(rows))
        hashes = [leaf_hash(leaf_data_from_values(seq, row[0], row[1:]))
                  for seq, row in zip(seqs, rows, strict=True)]
        compact.extend(hashes)
        if _mark_sequenced(db, [row[0] for row in rows], seqs, hashes) != len(rows):
            raise TreeDamaged("pending audit records changed while they were being sequenced")
        return len(rows), _save_state(db, compact, exists=state.updated_at is not None)


_PENDING_SQL = (f"SELECT {', '.join(c.name for c in _PENDING_COLUMNS)} FROM audit_records "
                "WHERE seq IS NULL ORDER BY id LIMIT ?")
# "AND seq IS NULL": a row somebody sequenced meanwhile is not updated, and the count of
# updated rows falls short of the batch (TreeDamaged) instead of the row being overwritten.
_SEQUENCE_SQLITE = "UPDATE audit_records SET seq = ?, leaf_hash = ? WHERE id = ? AND seq IS NULL"
# One statement for the whole batch: per row, a round trip and an executor start cost more
# than the update. The seqs are contiguous and the leaf hashes 32 bytes each, so they go
# as a start and one byte string: arrays of bytea cost more to send and parse than the
# update itself.
_SEQUENCE_POSTGRES = (
    "UPDATE audit_records AS a "
    "SET seq = %(start)s::bigint + v.n - 1, "
    "leaf_hash = substring(%(leaves)s::bytea FROM (v.n - 1)::int * 32 + 1 FOR 32) "
    "FROM unnest(%(ids)s::bigint[]) WITH ORDINALITY AS v(id, n) "
    "WHERE a.id = v.id AND a.seq IS NULL")


def _mark_sequenced(db: _Driver, ids: list[int], seqs: range, hashes: Sequence[bytes]) -> int:
    """Give the records their seq and leaf hash; the number of rows updated."""
    if db.postgres:
        cursor = db.execute(_SEQUENCE_POSTGRES, {"start": seqs.start,
                                                 "leaves": b"".join(hashes), "ids": ids})
    else:
        cursor = db.executemany(_SEQUENCE_SQLITE, zip(seqs, hashes, ids, strict=True))
    return int(cursor.rowcount)


def has_pending(conn: Connection) -> bool:
    """Whether any record waits to be sequenced (one probe of the partial index)."""
    return conn.execute(select(_c.id).where(_c.seq.is_(None)).limit(1)).first() is not None


def oldest_pending(conn: Connection) -> str | None:
    """``recorded_at`` of the first record waiting to be sequenced (the lowest id, one probe
    of the partial index), or None when nothing waits."""
    return conn.execute(select(_c.recorded_at).where(_c.seq.is_(None))
                        .order_by(_c.id).limit(1)).scalar()


def pending_count(conn: Connection) -> int:
    """How many records wait to be sequenced (the partial index on pending records)."""
    return int(conn.execute(select(func.count()).where(_c.seq.is_(None))).scalar_one())


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
        cursor: Any = raw.cursor(name="hm_stream_leaves")  # server-side: memory stays flat
        cursor.itersize = batch  # psycopg's own attribute
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


def prune_range(conn: Connection, cutoff: str) -> tuple[int, int]:
    """(before_seq, count): the longest run of sequenced records from seq 0 that were all
    recorded before ``cutoff``, and how many of them are still to be cleared.

    A run from the start, not "every record older than the cutoff": a record whose
    ``recorded_at`` was set in the past by someone writing to the database is sequenced
    late, and must not stretch the range over the recent records before it. Pruned
    records (``recorded_at`` cleared to "") count as old. Prune records themselves are
    never cleared: each one carries the signed statement the verifier needs.
    """
    young = conn.execute(select(func.min(_c.seq))
                         .where(_c.seq.is_not(None), _c.recorded_at >= cutoff)).scalar()
    if young is None:
        last = conn.execute(select(func.max(_c.seq))).scalar()
        young = 0 if last is None else int(last) + 1
    before_seq = int(young)
    count = conn.execute(select(func.count())
                         .where(*_prunable(cutoff), _c.seq < before_seq)).scalar()
    return before_seq, int(count or 0)


def _prunable(cutoff: str) -> list[Any]:
    return [_c.seq.is_not(None), _c.pruned.is_(False), _c.recorded_at < cutoff,
            _c.event != "audit.prune"]


def clear_contents(conn: Connection, cutoff: str, before_seq: int, limit: int) -> int:
    """Clear the contents of up to ``limit`` prunable records below ``before_seq``, lowest
    seq first. The caller holds the integration lock.

    Each record's contents are checked against its leaf hash first (``TreeDamaged``
    otherwise, nothing cleared in this batch): clearing a record that somebody changed
    would turn the evidence of that change into an authorised pruning.
    """
    rows = conn.execute(select(*LEAF_COLUMNS)
                        .where(*_prunable(cutoff), _c.seq < before_seq)
                        .order_by(_c.seq).limit(limit)).all()
    for row in rows:
        stored = bytes(row[2]) if row[2] is not None else b""
        if leaf_hash(leaf_data_from_values(int(row[0]), int(row[1]), row[4:])) != stored:
            raise TreeDamaged(f"seq {row[0]}: the record does not match its leaf hash, so it "
                              "is not pruned; run 'hitmachine audit verify'")
    if not rows:
        return 0
    # The rows just checked are the prunable ones in this seq range: our code changes a
    # sequenced record only under the integration lock, which the caller holds.
    result = conn.execute(update(audit_records)
                          .where(*_prunable(cutoff), _c.seq >= int(rows[0][0]),
                                 _c.seq <= int(rows[-1][0]))
                          .values(pruned=True, **PRUNED_VALUES))
    return int(result.rowcount or 0)
