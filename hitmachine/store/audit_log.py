"""Appending audit records, alone or inside the transaction of the change they record.

Query answers change no state, so their records go through the ``AuditWriter``: requests
hand it their record and wait; one thread commits whatever has queued up in a single
durable transaction (group commit). Sixteen concurrent queries then cost one fsync rather
than sixteen, and still no answer leaves before its record is on disk. The waiting
request is a thread of the server's pool, never the event loop: on SQLite a commit waits
for every other writer of the database, in this process or another.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Connection, RowMapping, insert, select

from hitmachine.core.auditlog.record import AuditRecord
from hitmachine.core.errors import Unavailable
from hitmachine.core.text import check_text
from hitmachine.store.database import Database
from hitmachine.store.hot_path import HotPath
from hitmachine.store.schema import audit_records

log = logging.getLogger("hitmachine.audit")

MAX_GROUP = 512
WAIT_SECONDS = 30.0


def append(conn: Connection, records: Sequence[AuditRecord]) -> None:
    """Insert records on ``conn``: they commit, or roll back, with the caller's transaction."""
    if records:
        conn.execute(insert(audit_records), [r.to_row() for r in records])


class AuditWriter:
    """Durable group commit of audit records for requests that change nothing else."""

    def __init__(self, db: Database, hot: HotPath | None = None) -> None:
        self._db = db
        self._hot = hot or HotPath(db)
        self._queue: queue.SimpleQueue[tuple[AuditRecord, Future[None]] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, record: AuditRecord) -> Future[None]:
        """Queue ``record``; the future completes when it is committed (or fails)."""
        self._ensure_started()
        done: Future[None] = Future()
        self._queue.put((record, done))
        return done

    def append(self, record: AuditRecord) -> None:
        """Block until ``record`` is committed; raise ``Unavailable`` if it cannot be."""
        try:
            self.submit(record).result(timeout=WAIT_SECONDS)
        except Unavailable:
            raise
        except Exception:
            raise Unavailable("the audit record could not be written; no answer is given") from None

    def close(self) -> None:
        with self._lock:
            if self._thread is not None:
                self._queue.put(None)
                self._thread.join(timeout=WAIT_SECONDS)
                self._thread = None

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

    def _commit(self, group: list[tuple[AuditRecord, Future[None]]]) -> None:
        try:
            self._hot.insert_audit([record for record, _ in group])
        except Exception as exc:  # the database is down, full, locked too long, or one bad record
            log.error("audit write failed: %s", type(exc).__name__)
            if len(group) > 1:
                self._commit_one_by_one(group)
                return
            group[0][1].set_exception(_failure())
            return
        for _, done in group:
            done.set_result(None)

    def _commit_one_by_one(self, group: list[tuple[AuditRecord, Future[None]]]) -> None:
        """After a group failed: each record alone, so that one record the database refuses
        fails only its own request. Stops at the first failure that is not about a record."""
        for index, (record, done) in enumerate(group):
            try:
                self._hot.insert_audit([record])
            except Exception as exc:
                done.set_exception(_failure())
                if not _record_fault(exc):
                    for _, rest in group[index + 1:]:
                        rest.set_exception(_failure())
                    return
                continue
            done.set_result(None)


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


__all__ = ["AuditFilter", "AuditWriter", "append", "search"]
