"""The pseudonymous index: agencies' sets of entries, built by snapshot syncs or deltas.

A snapshot sync writes its entries under a new *generation* (the sync's id) that readers
do not look at; the commit flips ``agency_sets.generation`` to it in one row update and
deletes the old generation in the same transaction. Readers therefore see the old set up
to the commit and the new set after it, never a mix. An abandoned or expired sync's
generation was never visible and is simply deleted.
"""

from __future__ import annotations

import datetime as dt
import functools
import struct
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    Select,
    Table,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from hitmachine.core.clock import iso_utc, utc_now, utc_now_iso
from hitmachine.core.errors import Conflict, LimitExceeded, NotFound
from hitmachine.core.matching import Entry
from hitmachine.store.database import Database
from hitmachine.store.schema import agency_sets, entries, sync_batches, syncs

# (BSN pseudonym, name-key pseudonym[, (BSN, birth date) pseudonym]): an entry without the
# third (as version 1 adapters send) has no birth date for its BSN.
EntryPair = (tuple[bytes | None, bytes | None, bytes | None]
             | tuple[bytes | None, bytes | None])
Triple = tuple[bytes | None, bytes | None, bytes | None]


def full_entry(entry: EntryPair) -> Triple:
    return entry if len(entry) == 3 else (entry[0], entry[1], None)


@dataclass(frozen=True, slots=True)
class SyncInfo:
    id: int
    public_id: str
    agency: str
    key_version: int
    status: str
    opened_at: str
    expires_at: str
    batch_count: int
    entry_count: int


@dataclass(frozen=True, slots=True)
class AgencySet:
    agency: str
    generation: int
    key_version: int | None
    entry_count: int
    updated_at: str


def open_sync(conn: Connection, *, agency: str, key_version: int, ttl_seconds: int,
              max_open: int) -> SyncInfo:
    expire_stale(conn)
    open_count = conn.execute(select(func.count()).select_from(syncs).where(
        syncs.c.agency == agency, syncs.c.status == "open")).scalar_one()
    if open_count >= max_open:
        raise LimitExceeded(f"agency already has {open_count} open syncs; commit or abandon "
                            "one first", field="agency")
    now = utc_now()
    public_id = str(uuid.uuid4())
    values = {"public_id": public_id, "agency": agency, "key_version": key_version,
              "status": "open", "opened_at": iso_utc(now),
              "expires_at": iso_utc(now + dt.timedelta(seconds=ttl_seconds)),
              "closed_at": None, "batch_count": 0, "entry_count": 0}
    conn.execute(insert(syncs).values(**values))
    return get_sync(conn, public_id)


def get_sync(conn: Connection, public_id: str) -> SyncInfo:
    row = conn.execute(select(syncs).where(syncs.c.public_id == public_id)).first()
    if row is None:
        raise NotFound("no such sync")
    return _sync_info(row)


def _lock_sync(conn: Connection, sync: SyncInfo, *, shared: bool = False) -> SyncInfo:
    """The sync's row, locked and read afresh. Every step of a sync (batch, commit, abandon,
    expiry) decides on the state it reads here: on PostgreSQL FOR UPDATE makes commit,
    abandon and expiry take turns with each other and with batches, and a step that waited
    sees what its predecessor left (a second commit finds the sync committed, an abandon
    finds it committed, a batch finds it closed). Batches take FOR KEY SHARE, which only
    FOR UPDATE waits for: an adapter's batches in flight still insert side by side.
    SQLite's BEGIN IMMEDIATE already serialises every writer."""
    stmt = select(syncs).where(syncs.c.id == sync.id).with_for_update(read=shared,
                                                                       key_share=shared)
    row = conn.execute(stmt).first()
    if row is None:
        raise NotFound("no such sync")
    return _sync_info(row)


def _sync_info(row: object) -> SyncInfo:
    r = row._mapping  # type: ignore[attr-defined]
    return SyncInfo(int(r["id"]), r["public_id"], r["agency"], int(r["key_version"]),
                    r["status"], r["opened_at"], r["expires_at"], int(r["batch_count"]),
                    int(r["entry_count"]))


def _require_open(sync: SyncInfo) -> None:
    if sync.status != "open":
        raise Conflict(f"the sync is {sync.status}, not open")
    if sync.expires_at <= utc_now_iso():
        raise Conflict("the sync has expired; open a new one")


def add_batch(conn: Connection, sync: SyncInfo, batch_no: int, pairs: Sequence[EntryPair],
              digest: bytes) -> bool:
    """Insert a batch once. A retry of the same batch (same number, same digest) is accepted
    and ignored, so an adapter may resend after a lost response; a different batch under a
    number already used is a conflict. Returns whether the batch was applied now."""
    sync = _lock_sync(conn, sync, shared=True)
    _require_open(sync)
    # Claim the number first: a concurrent claim of it waits for this transaction and then
    # finds the row, instead of both inserting and one failing on the primary key.
    claimed = conn.execute(_dialect_insert(conn)(sync_batches).values(
        sync_id=sync.id, batch_no=batch_no, digest=digest, entry_count=len(pairs))
        .on_conflict_do_nothing(index_elements=["sync_id", "batch_no"])
        .returning(sync_batches.c.batch_no)).first()
    if claimed is None:
        seen = conn.execute(select(sync_batches.c.digest).where(
            sync_batches.c.sync_id == sync.id, sync_batches.c.batch_no == batch_no)).scalar_one()
        if seen != digest:
            raise Conflict(f"batch {batch_no} was already received with other content")
        return False
    _insert_entries(conn, sync.agency, sync.id, sync.key_version, pairs)
    conn.execute(update(syncs).where(syncs.c.id == sync.id).values(
        batch_count=syncs.c.batch_count + 1, entry_count=syncs.c.entry_count + len(pairs)))
    return True


def commit_sync(conn: Connection, sync: SyncInfo, *, batches: int,
                entry_count: int) -> tuple[AgencySet, bool]:
    """Make the sync's generation the agency's visible set. The adapter states how many
    batches and entries it sent, so a lost batch can never commit a partial set. Returns the
    agency's set and whether this call committed it: committing a committed sync again with
    the same counts changes nothing and answers the agency's current set, so an adapter may
    retry a commit whose answer it lost, even while the first is still running."""
    sync = _lock_sync(conn, sync)
    if sync.status == "committed":
        return _recommit(conn, sync, batches, entry_count), False
    _require_open(sync)
    if (sync.batch_count, sync.entry_count) != (batches, entry_count):
        raise Conflict(f"the server received {sync.batch_count} batches with "
                       f"{sync.entry_count} entries, not {batches} with {entry_count}")
    previous = _lock_or_create_agency_set(conn, sync.agency, sync.key_version)
    now = utc_now_iso()
    conn.execute(update(agency_sets).where(agency_sets.c.agency == sync.agency).values(
        generation=sync.id, key_version=sync.key_version, entry_count=sync.entry_count,
        updated_at=now))
    if previous != sync.id:  # never the generation that just became visible
        _delete_generation(conn, sync.agency, previous)
    conn.execute(update(syncs).where(syncs.c.id == sync.id).values(status="committed",
                                                                    closed_at=now))
    conn.execute(delete(sync_batches).where(sync_batches.c.sync_id == sync.id))
    result = agency_set(conn, sync.agency)
    assert result is not None
    return result, True


def _recommit(conn: Connection, sync: SyncInfo, batches: int, entry_count: int) -> AgencySet:
    """A repeated commit: harmless when it states what was committed and that set is still
    the visible one; a conflict otherwise, since the caller's view of the sync is wrong."""
    if (sync.batch_count, sync.entry_count) != (batches, entry_count):
        raise Conflict(f"the sync is already committed, with {sync.batch_count} batches and "
                       f"{sync.entry_count} entries, not {batches} with {entry_count}")
    current = agency_set(conn, sync.agency)
    if current is None or current.generation != sync.id:
        raise Conflict("the sync is already committed and a later sync has replaced its set")
    return current


def _lock_or_create_agency_set(conn: Connection, agency: str, key_version: int) -> int:
    """The agency's visible generation, its row locked; an agency publishing for the first
    time gets an empty generation 0 first. ON CONFLICT DO NOTHING lets two first commits of
    different syncs wait for each other instead of one failing on the unique key."""
    conn.execute(_dialect_insert(conn)(agency_sets).values(
        agency=agency, generation=0, key_version=key_version, entry_count=0,
        updated_at=utc_now_iso()).on_conflict_do_nothing(index_elements=["agency"]))
    current = _lock_agency_set(conn, agency)
    assert current is not None
    return current.generation


def _dialect_insert(conn: Connection) -> Callable[[Table], PgInsert | SqliteInsert]:
    """The dialect's INSERT, which has ON CONFLICT DO NOTHING (both databases support it)."""
    return pg_insert if conn.dialect.name == "postgresql" else sqlite_insert


def abandon_sync(conn: Connection, sync: SyncInfo, *, status: str = "abandoned") -> SyncInfo:
    """Close an open sync without publishing it; returns the sync as it was when closed."""
    sync = _lock_sync(conn, sync)
    if sync.status != "open":
        raise Conflict(f"the sync is {sync.status}, not open")
    _close_unpublished(conn, sync.id, sync.agency, status)
    return sync


def expire_stale(conn: Connection) -> int:
    """Close every open sync past its expiry; their entries were never visible."""
    # Locked in id order (two expiries never deadlock); a sync being committed meanwhile
    # is waited for, and PostgreSQL then re-checks its status and leaves it out.
    stale = conn.execute(select(syncs.c.id, syncs.c.agency).where(
        syncs.c.status == "open", syncs.c.expires_at <= utc_now_iso())
        .order_by(syncs.c.id).with_for_update()).all()
    for sync_id, agency in stale:
        _close_unpublished(conn, int(sync_id), agency, "expired")
    return len(stale)


def _close_unpublished(conn: Connection, sync_id: int, agency: str, status: str) -> None:
    _delete_generation(conn, agency, sync_id)
    conn.execute(delete(sync_batches).where(sync_batches.c.sync_id == sync_id))
    conn.execute(update(syncs).where(syncs.c.id == sync_id).values(status=status,
                                                                    closed_at=utc_now_iso()))


def apply_delta(conn: Connection, *, agency: str, key_version: int, add: Sequence[EntryPair],
                remove: Sequence[EntryPair]) -> tuple[int, int]:
    """Add and remove entries of the visible set in the caller's (one) transaction."""
    current = _lock_agency_set(conn, agency)
    if current is None:
        conn.execute(insert(agency_sets).values(agency=agency, generation=0, key_version=key_version,
                                                entry_count=0, updated_at=utc_now_iso()))
        generation = 0
    else:
        generation = current.generation
    removed = 0
    for bsn, name, bsn_birth in map(full_entry, remove):
        removed += conn.execute(delete(entries).where(
            entries.c.agency == agency, entries.c.generation == generation,
            entries.c.key_version == key_version,
            entries.c.bsn_pseudonym.is_not_distinct_from(bsn),
            entries.c.name_pseudonym.is_not_distinct_from(name),
            entries.c.bsn_birth_pseudonym.is_not_distinct_from(bsn_birth))).rowcount
    _insert_entries(conn, agency, generation, key_version, add)
    conn.execute(update(agency_sets).where(agency_sets.c.agency == agency).values(
        entry_count=agency_sets.c.entry_count + len(add) - removed, key_version=key_version,
        updated_at=utc_now_iso()))
    return len(add), removed


def lookup(conn: Connection, bsn_pseudonyms: Sequence[bytes],
           name_pseudonyms: Sequence[bytes]) -> list[Entry]:
    """Every visible entry sharing a BSN or a name-key pseudonym with the subjects; the
    matching rules then decide which of them count (``domain.matching``)."""
    if not bsn_pseudonyms and not name_pseudonyms:
        return []
    return _entries(conn.execute(*_lookup_call(bsn_pseudonyms, name_pseudonyms)))


async def lookup_async(db: Database, bsn_pseudonyms: Sequence[bytes],
                       name_pseudonyms: Sequence[bytes]) -> list[Entry]:
    """``lookup`` for a coroutine, on PostgreSQL (``Database.read_async``)."""
    if not bsn_pseudonyms and not name_pseudonyms:
        return []
    return _entries(await db.read_async(*_lookup_call(bsn_pseudonyms, name_pseudonyms)))


def _lookup_call(bsn_pseudonyms: Sequence[bytes], name_pseudonyms: Sequence[bytes]
                 ) -> tuple[Select[str, int, bytes | None, bytes | None, bytes | None],
                            dict[str, bytes]]:
    params = {f"b{i}": value for i, value in enumerate(bsn_pseudonyms)}
    params.update({f"n{i}": value for i, value in enumerate(name_pseudonyms)})
    return _lookup_statement(len(bsn_pseudonyms), len(name_pseudonyms)), params


def _entries(rows: Iterable[Sequence[Any]]) -> list[Entry]:
    return [Entry(r[0], int(r[1]), r[2], r[3], r[4]) for r in rows]


@functools.lru_cache(maxsize=256)
def _lookup_statement(n_bsn: int, n_name: int
                      ) -> Select[str, int, bytes | None, bytes | None, bytes | None]:
    """The look-up for one shape of query, built once: every query runs it, and building
    a select with ``in_()`` on each call (and expanding its IN lists at execution) cost
    ~0.4 ms of CPU per query, more than the database's work. One statement object per
    shape also makes SQLAlchemy's compiled cache a hit without rebuilding its cache key.
    Separate bound parameters rather than an expanding one: the SQL is then fixed."""
    conditions = []
    if n_bsn:
        conditions.append(entries.c.bsn_pseudonym.in_([bindparam(f"b{i}") for i in range(n_bsn)]))
    if n_name:
        conditions.append(entries.c.name_pseudonym.in_([bindparam(f"n{i}")
                                                        for i in range(n_name)]))
    return (select(entries.c.agency, entries.c.key_version, entries.c.bsn_pseudonym,
                   entries.c.name_pseudonym, entries.c.bsn_birth_pseudonym)
            .join(agency_sets, and_(agency_sets.c.agency == entries.c.agency,
                                    agency_sets.c.generation == entries.c.generation))
            .where(or_(*conditions)))


def agency_set(conn: Connection, agency: str) -> AgencySet | None:
    row = conn.execute(select(agency_sets).where(agency_sets.c.agency == agency)).first()
    return _agency_set(row) if row is not None else None


def all_sets(conn: Connection) -> list[AgencySet]:
    return [_agency_set(r) for r in conn.execute(select(agency_sets).order_by(agency_sets.c.agency))]


def key_versions_in_use(conn: Connection) -> dict[str, set[int]]:
    """Agency -> key versions of its visible entries (for safe key retirement)."""
    stmt = (select(entries.c.agency, entries.c.key_version).distinct()
            .join(agency_sets, and_(agency_sets.c.agency == entries.c.agency,
                                    agency_sets.c.generation == entries.c.generation)))
    out: dict[str, set[int]] = {}
    for agency, version in conn.execute(stmt):
        out.setdefault(agency, set()).add(int(version))
    return out


def _lock_agency_set(conn: Connection, agency: str) -> AgencySet | None:
    # FOR UPDATE serialises concurrent commits and deltas of one agency on PostgreSQL;
    # SQLite's BEGIN IMMEDIATE already serialises every writer.
    stmt = select(agency_sets).where(agency_sets.c.agency == agency).with_for_update()
    row = conn.execute(stmt).first()
    return _agency_set(row) if row is not None else None


def _agency_set(row: object) -> AgencySet:
    r = row._mapping  # type: ignore[attr-defined]
    return AgencySet(r["agency"], int(r["generation"]), r["key_version"], int(r["entry_count"]),
                     r["updated_at"])


def _insert_entries(conn: Connection, agency: str, generation: int, key_version: int,
                    pairs: Sequence[EntryPair]) -> None:
    """Bulk insert in the caller's transaction: PostgreSQL (psycopg 3) by binary COPY, about
    three times the rows per second of an executemany; SQLite by a plain executemany of
    tuples; anything else through SQLAlchemy."""
    if not pairs:
        return
    rows = [full_entry(e) for e in pairs]
    dialect = conn.dialect
    if dialect.name == "postgresql" and dialect.driver == "psycopg":
        _copy_entries(conn, agency, generation, key_version, rows)
    elif dialect.name == "sqlite":
        conn.exec_driver_sql(
            "INSERT INTO entries (agency, generation, key_version, bsn_pseudonym, "
            "name_pseudonym, bsn_birth_pseudonym) VALUES (?, ?, ?, ?, ?, ?)",
            [(agency, generation, key_version, *entry) for entry in rows])
    else:
        conn.execute(insert(entries), [
            {"agency": agency, "generation": generation, "key_version": key_version,
             "bsn_pseudonym": bsn, "name_pseudonym": name, "bsn_birth_pseudonym": bsn_birth}
            for bsn, name, bsn_birth in rows])


_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_COPY_NULL = struct.pack(">i", -1)
_COPY_BYTEA32 = struct.pack(">i", 32)


def _copy_entries(conn: Connection, agency: str, generation: int, key_version: int,
                  pairs: Sequence[Triple]) -> None:
    """COPY ... FROM STDIN in PostgreSQL's binary format, built here in one buffer: per row
    the field count, then each field as a 4-byte length (-1 for NULL) and its bytes."""
    agency_b = agency.encode("utf-8")
    head = (struct.pack(">hi", 6, len(agency_b)) + agency_b
            + struct.pack(">iqii", 8, generation, 4, key_version))
    null, size = _COPY_NULL, _COPY_BYTEA32
    body = b"".join(
        head + (size + bsn if bsn is not None else null) + (size + name if name is not None else null)
        + (size + bsn_birth if bsn_birth is not None else null)
        for bsn, name, bsn_birth in pairs)
    driver = conn.connection.driver_connection
    with driver.cursor() as cur:  # type: ignore[union-attr]
        with cur.copy("COPY entries (agency, generation, key_version, bsn_pseudonym, "
                      "name_pseudonym, bsn_birth_pseudonym) FROM STDIN (FORMAT BINARY)"
                      ) as copy:
            copy.write(_COPY_HEADER + body + b"\xff\xff")


def _delete_generation(conn: Connection, agency: str, generation: int) -> None:
    conn.execute(delete(entries).where(entries.c.agency == agency,
                                       entries.c.generation == generation))


__all__ = ["AgencySet", "EntryPair", "SyncInfo", "Triple", "abandon_sync", "add_batch",
           "agency_set", "all_sets", "apply_delta", "commit_sync", "expire_stale",
           "full_entry", "get_sync", "key_versions_in_use", "lookup", "lookup_async",
           "open_sync"]
