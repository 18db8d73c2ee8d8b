"""Appending audit records, alone or inside the transaction of the change they record.

Query answers change no state, so their records go through the ``AuditWriter``: requests
hand it their record and wait; one thread commits whatever has queued up in a single
durable transaction (group commit). Sixteen concurrent queries then cost one fsync rather
than sixteen, and still no answer leaves before its record is on disk. The waiting is
never blocking on the event loop: a thread waits on a future (``append``), a coroutine
awaits one (``append_async``). On SQLite a commit waits for every other writer of the
database, in this process or another, so it always runs on the writer's thread, which
resolves a coroutine's future through its loop. On PostgreSQL a coroutine's record is
committed by a task on its own loop instead, over an asyncio connection: the same
grouping and the same statements, without handing every group to a thread and back.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import weakref
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, RowMapping, insert, select
from sqlalchemy.exc import DBAPIError

from hitmachine.core.auditlog.record import AuditRecord
from hitmachine.core.errors import Unavailable
from hitmachine.core.text import check_text
from hitmachine.store.database import Database
from hitmachine.store.schema import audit_records, signals

log = logging.getLogger("hitmachine.audit")

MAX_GROUP = 512
WAIT_SECONDS = 30.0

# Built once: a statement object reused on every group is a hit in SQLAlchemy's compiled
# cache without rebuilding its cache key, and a list of parameter sets makes it one
# executemany on the driver.
_INSERT = insert(audit_records)
_INSERT_SIGNALS = insert(signals)



@dataclass(frozen=True, slots=True)
class Bundle:
    """What one request commits through the writer: its records and the signals they
    record (``hitmachine.store.signals.Signal.to_row`` rows), all or nothing (issue 16)."""

    records: tuple[AuditRecord, ...]
    signal_rows: tuple[dict[str, Any], ...] = ()


# A thread's future, or a coroutine's future with the loop it belongs to.
Waiter = Future[None] | tuple[asyncio.AbstractEventLoop, "asyncio.Future[None]"]
Item = tuple[AuditRecord | Bundle, Waiter]


def append(conn: Connection, records: Sequence[AuditRecord]) -> None:
    """Insert records on ``conn``: they commit, or roll back, with the caller's transaction."""
    if records:
        conn.execute(_INSERT, [r.to_row() for r in records])


class AuditWriter:
    """Durable group commit of audit records for requests that change nothing else: the
    one group-commit engine of the process, on its own thread and its own connection."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._queue: queue.SimpleQueue[Item | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._conn: Connection | None = None  # the writer thread's own, kept between groups
        self._loop_groups: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, _LoopGroup] = weakref.WeakKeyDictionary()

    def submit(self, record: AuditRecord | Bundle) -> Future[None]:
        """Queue ``record``; the future completes when it is committed (or fails)."""
        self._ensure_started()
        done: Future[None] = Future()
        self._queue.put((record, done))
        return done

    def append(self, record: AuditRecord | Bundle) -> None:
        """Block until ``record`` is committed; raise ``Unavailable`` if it cannot be.
        For threads only: on the event loop, ``await append_async``."""
        try:
            self.submit(record).result(timeout=WAIT_SECONDS)
        except Unavailable:
            raise
        except Exception:
            raise _failure() from None

    async def append_async(self, record: AuditRecord | Bundle) -> None:
        """``append`` for a coroutine: the loop goes on serving while the record commits.

        PostgreSQL: a task of this loop commits the records its coroutines queued, a group
        at a time, over an asyncio connection. SQLite: the writer thread commits (its
        commits wait in the kernel for other writers) and wakes each loop once per group,
        however many of its records the group held."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        if self._db.reads_async:
            # The group's task bounds each commit by WAIT_SECONDS and always settles ``done``:
            # one timer per group instead of one per record.
            self._loop_group(loop).add(record, done)
            await done
            return
        self._ensure_started()
        self._queue.put((record, (loop, done)))
        try:
            async with asyncio.timeout(WAIT_SECONDS):
                await done
        except Unavailable:
            raise
        except TimeoutError:
            raise _failure() from None

    def _loop_group(self, loop: asyncio.AbstractEventLoop) -> "_LoopGroup":
        group = self._loop_groups.get(loop)
        if group is None:
            group = self._loop_groups[loop] = _LoopGroup(self, loop)
        return group

    def close(self) -> None:
        with self._lock:
            if self._thread is not None:
                self._queue.put(None)
                self._thread.join(timeout=WAIT_SECONDS)
                self._thread = None
            self._discard()

    def _ensure_started(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="audit-writer",
                                                    daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            stop = False
            while len(group) < MAX_GROUP:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                group.append(item)
            self._commit(group)
            if stop:
                return

    def _commit(self, group: Sequence[Item]) -> None:
        """Commit one group and tell each waiter how its record fared."""
        _settle(group, self._outcomes([record for record, _ in group]))

    def _outcomes(self, records: list[AuditRecord | Bundle]) -> list[Unavailable | None]:
        try:
            self._insert(records)
        except Exception as exc:  # the database is down, full, locked too long, or one bad record
            log.error("audit write failed: %s", type(exc).__name__)
            if len(records) > 1:
                return self._one_by_one(records)
            return [_failure()]
        return [None] * len(records)

    def _one_by_one(self, records: list[AuditRecord | Bundle]) -> list[Unavailable | None]:
        """After a group failed: each record alone, so that one record the database refuses
        fails only its own request. Stops at the first failure that is not about a record."""
        out: list[Unavailable | None] = []
        for index, record in enumerate(records):
            try:
                self._insert([record])
            except Exception as exc:
                out.append(_failure())
                if not _record_fault(exc):
                    out.extend(_failure() for _ in records[index + 1:])
                    return out
                continue
            out.append(None)
        return out

    def _insert(self, records: Sequence[AuditRecord | Bundle]) -> None:
        """Insert and commit ``records`` (and a bundle's signals) in one durable
        transaction, on the writer's own connection: a pool check-out per group (with
        PostgreSQL's pre-ping) would cost a round trip more. A failed connection is
        dropped; the next group takes a new one."""
        rows, signal_rows = _rows(records)
        try:
            if self._conn is None:
                self._conn = self._db.writer_connection()
            with self._db.writer_turn(), self._conn.begin():
                self._conn.execute(_INSERT, rows)
                if signal_rows:  # no record without its signals, no signal without its record
                    self._conn.execute(_INSERT_SIGNALS, signal_rows)
        except Exception:
            self._discard()
            raise

    async def _outcomes_async(self, records: list[AuditRecord | Bundle]
                        ) -> list[Unavailable | None]:
        """``_outcomes`` for a loop's group: the group, or after a failure each record alone."""
        try:
            await self._insert_async(records)
            return [None] * len(records)
        except Exception as exc:
            log.error("audit write failed: %s", type(exc).__name__)
            if len(records) == 1:
                return [_failure()]
        out: list[Unavailable | None] = []
        for index, record in enumerate(records):
            try:
                await self._insert_async([record])
            except Exception as exc:
                out.append(_failure())
                if not _record_fault(exc):
                    return out + [_failure() for _ in records[index + 1:]]
                continue
            out.append(None)
        return out

    async def _insert_async(self, records: Sequence[AuditRecord | Bundle]) -> None:
        """Insert and commit ``records`` in one transaction, within ``WAIT_SECONDS``.

        No ping before each group (a round trip more): a connection the server dropped
        fails the group's first statement, before anything of it reached the database,
        and the group then runs once more on a fresh connection. A failure after that
        (the commit itself) is not repeated: the group may have committed."""
        rows, signal_rows = _rows(records)
        for attempt in (1, 2):
            sent = False
            try:
                async with asyncio.timeout(WAIT_SECONDS), self._db.write_async() as conn:
                    await conn.execute(_INSERT, rows)
                    sent = True
                    if signal_rows:
                        await conn.execute(_INSERT_SIGNALS, signal_rows)
                return
            except DBAPIError as exc:
                if sent or attempt == 2 or not exc.connection_invalidated:
                    raise

    def _discard(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()  # whatever state it is in, it does not go back to the pool
                conn.close()
            except Exception:
                pass


class _LoopGroup:
    """PostgreSQL group commit on one event loop: the records its coroutines queued, and
    the one task that commits them a group at a time (``AuditWriter.append_async``)."""

    def __init__(self, writer: AuditWriter, loop: asyncio.AbstractEventLoop) -> None:
        self._writer = writer
        self._loop = loop
        self._pending: list[tuple[AuditRecord | Bundle, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    def add(self, record: AuditRecord | Bundle, done: asyncio.Future[None]) -> None:
        self._pending.append((record, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = self._loop.create_task(self._flush())

    async def _flush(self) -> None:
        while self._pending:
            group, self._pending = self._pending[:MAX_GROUP], self._pending[MAX_GROUP:]
            outcomes = await self._writer._outcomes_async([record for record, _ in group])
            _settle_on_loop([(done, outcome) for (_, done), outcome
                             in zip(group, outcomes, strict=True)])


def _rows(records: Sequence[AuditRecord | Bundle]
          ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The audit rows and the signal rows of a group, in order."""
    bundles = [r if isinstance(r, Bundle) else Bundle((r,)) for r in records]
    return ([r.to_row() for b in bundles for r in b.records],
            [row for b in bundles for row in b.signal_rows])


def _settle(group: Sequence[Item], outcomes: Sequence[Unavailable | None]) -> None:
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[None],
                                                        Unavailable | None]]] = {}
    for (_, waiter), outcome in zip(group, outcomes, strict=True):
        if isinstance(waiter, Future):
            if outcome is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(outcome)
        else:
            by_loop.setdefault(waiter[0], []).append((waiter[1], outcome))
    for loop, pairs in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle_on_loop, pairs)
        except RuntimeError:  # that loop has closed: nobody waits any more
            pass


def _settle_on_loop(pairs: list[tuple[asyncio.Future[None], Unavailable | None]]) -> None:
    for done, outcome in pairs:
        if done.done():  # its request was cancelled meanwhile
            continue
        if outcome is None:
            done.set_result(None)
        else:
            done.set_exception(outcome)


def _failure() -> Unavailable:
    return Unavailable("the audit record could not be written; no answer is given")


def _record_fault(exc: Exception) -> bool:
    """Whether the database refused this record's data (a NUL in PostgreSQL text, a value
    too long, a broken constraint), rather than being unreachable, full or locked: then the
    next record may still go in. Anything else fails the rest of the group at once, so a
    database that is down costs one more attempt, not one per record."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(names & {"DataError", "IntegrityError"}) or isinstance(
        exc, (ValueError, TypeError))


@dataclass(frozen=True, slots=True)
class AuditFilter:
    since: str | None = None       # ISO UTC, inclusive
    until: str | None = None       # ISO UTC, exclusive
    event: str | None = None       # exact, or a prefix ending in "." (e.g. "publish.")
    actor: str | None = None
    purpose: str | None = None
    case_reference: str | None = None
    outcome: str | None = None
    organisation: str | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        for name in ("since", "until", "event", "actor", "purpose", "case_reference", "outcome",
                     "organisation"):
            value = getattr(self, name)
            if value:  # the API and web forms refuse these first, naming their own fields
                check_text(name, value)
        c = audit_records.c
        out: list[ColumnElement[bool]] = []
        if self.since:
            out.append(c.recorded_at >= self.since)
        if self.until:
            out.append(c.recorded_at < self.until)
        if self.event:
            out.append(c.event.startswith(self.event, autoescape=True) if self.event.endswith(".")
                       else c.event == self.event)
        for column, value in ((c.actor, self.actor), (c.purpose, self.purpose),
                              (c.case_reference, self.case_reference), (c.outcome, self.outcome),
                              (c.organisation, self.organisation)):
            if value:
                out.append(column == value)
        return out


def search(conn: Connection, flt: AuditFilter, *, after_id: int = 0, limit: int = 100
           ) -> list[RowMapping]:
    """Records in arrival order after ``after_id`` (keyset paging: stable under appends)."""
    stmt = (select(audit_records).where(audit_records.c.id > after_id, *flt.conditions())
            .order_by(audit_records.c.id).limit(limit))
    return [row._mapping for row in conn.execute(stmt)]


__all__ = ["AuditFilter", "AuditWriter", "Bundle", "append", "search"]
