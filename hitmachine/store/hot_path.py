"""The audit writer's group insert, on a plain DB-API connection.

SQLAlchemy Core builds, caches and binds each statement through several layers; for the
audit insert that costs more CPU than the database work itself. Here it is a fixed SQL
string executed on a connection the calling thread keeps, in the driver's own parameter
style. Only the ``AuditWriter`` thread calls it, never the event loop; everything else in
the store, the index look-up included, stays on SQLAlchemy Core.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from hitmachine.core.auditlog.record import ROW_COLUMNS, AuditRecord
from hitmachine.store.database import Database

AUDIT_COLUMNS = ROW_COLUMNS


class HotPath:
    """Per-thread DB-API connections for the audit insert."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._local = threading.local()
        self._marker = "?" if db.is_sqlite else "%s"
        cols = ", ".join(AUDIT_COLUMNS)
        self._audit_sql = (f"INSERT INTO audit_records ({cols}) "
                           f"VALUES ({', '.join([self._marker] * len(AUDIT_COLUMNS))})")
        self._all: list[Any] = []
        self._lock = threading.Lock()

    def _connection(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._db.engine.raw_connection()
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def _discard(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.invalidate()  # a broken connection must not go back to the pool

    def insert_audit(self, records: Sequence[AuditRecord]) -> None:
        """Insert and commit ``records`` in one durable transaction."""
        rows = [r.to_values() for r in records]
        conn = self._connection()
        try:
            cur = conn.cursor()
            try:
                if self._db.is_sqlite:
                    with self._db.writer_turn():
                        cur.execute("BEGIN IMMEDIATE")
                        cur.executemany(self._audit_sql, rows)
                        cur.execute("COMMIT")
                else:
                    # A failed group is rolled back below; the DataError of a refused
                    # record must reach the caller as it is (``audit_log._record_fault``).
                    cur.executemany(self._audit_sql, rows)
                    conn.dbapi_connection.commit()
            finally:
                cur.close()
        except Exception:
            self._rollback_quietly(conn)
            self._discard()
            raise

    def _rollback_quietly(self, conn: Any) -> None:
        try:
            if self._db.is_sqlite:
                conn.cursor().execute("ROLLBACK")
            else:
                conn.dbapi_connection.rollback()
        except Exception:
            pass

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                try:
                    conn.close()
                except Exception:
                    pass
            self._all.clear()


__all__ = ["AUDIT_COLUMNS", "HotPath"]
