"""The two statements every query runs, on plain DB-API connections.

SQLAlchemy Core builds, caches and binds each statement through several layers; for the
index look-up and the audit insert that costs more CPU than the database work itself
(profiled: ~0.5 ms of a ~2 ms query). Here both are fixed SQL strings executed on a
connection the calling thread keeps, in the driver's own parameter style. Everything else
in the store stays on SQLAlchemy Core.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from hitmachine.domain.audit import ROW_COLUMNS, AuditRecord
from hitmachine.domain.matching import Entry
from hitmachine.store.database import Database

AUDIT_COLUMNS = ROW_COLUMNS


# One INSERT for a whole group of audit rows (PostgreSQL), one array per column: a single
# statement commits atomically in autocommit mode, in one round trip instead of BEGIN, n
# inserts and COMMIT; and its text does not depend on the group size, so the driver
# caches its parsing and the server prepares it once. Binary parameters (%b): psycopg's
# text form escapes every array element in Python, which costs twice as much CPU.
_INSERT_UNNEST = (
    f"INSERT INTO audit_records ({', '.join(ROW_COLUMNS)}) SELECT * FROM unnest("
    + ", ".join("%b::boolean[]" if c == "pruned" else "%b::text[]" for c in ROW_COLUMNS)
    + ")")


@lru_cache(maxsize=256)
def _lookup_sql(marker: str, n_bsn: int, n_name: int) -> str:
    conditions = []
    if n_bsn:
        conditions.append(f"e.bsn_pseudonym IN ({', '.join([marker] * n_bsn)})")
    if n_name:
        conditions.append(f"e.name_pseudonym IN ({', '.join([marker] * n_name)})")
    return ("SELECT e.agency, e.key_version, e.bsn_pseudonym, e.name_pseudonym, "
            "e.bsn_birth_pseudonym FROM entries e "
            "JOIN agency_sets s ON s.agency = e.agency AND s.generation = e.generation "
            f"WHERE {' OR '.join(conditions)}")


class HotPath:
    """Per-thread DB-API connections for the index look-up and the audit insert."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._local = threading.local()
        self._marker = "?" if db.is_sqlite else "%s"
        cols = ", ".join(AUDIT_COLUMNS)
        self._audit_sql = (f"INSERT INTO audit_records ({cols}) "
                           f"VALUES ({', '.join([self._marker] * len(AUDIT_COLUMNS))})")
        self._all: list[Any] = []
        self._lock = threading.Lock()
        self._audit_async: Any = None
        self._audit_loop: asyncio.AbstractEventLoop | None = None

    def _connection(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._db.engine.raw_connection()
            if not self._db.is_sqlite:
                # Each look-up is one statement: no transaction left open between requests.
                assert conn.dbapi_connection is not None  # a fresh, open connection
                conn.dbapi_connection.autocommit = True
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def _discard(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.invalidate()  # a broken connection must not go back to the pool

    def lookup(self, bsns: Sequence[bytes], names: Sequence[bytes]) -> list[Entry]:
        """Called on the event loop directly, also for PostgreSQL: one indexed read costs
        less there as a blocking round trip than through an async driver (measured: 833 vs
        1,255 µs of server CPU per query, and twice the throughput)."""
        if not bsns and not names:
            return []
        sql = _lookup_sql(self._marker, len(bsns), len(names))
        try:
            cur = self._connection().cursor()
            try:
                cur.execute(sql, (*bsns, *names))
                rows = cur.fetchall()
            finally:
                cur.close()
        except Exception:
            self._discard()
            raise
        return [Entry(r[0], int(r[1]), _bytes(r[2]), _bytes(r[3]), _bytes(r[4])) for r in rows]

    async def _connect_async(self) -> Any:
        import psycopg

        url = self._db.engine.url.set(drivername="postgresql")
        return await psycopg.AsyncConnection.connect(url.render_as_string(hide_password=False),
                                                     autocommit=True)

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
                    conn.dbapi_connection.autocommit = False
                    try:
                        cur.executemany(self._audit_sql, rows)
                        conn.dbapi_connection.commit()
                    finally:
                        conn.dbapi_connection.autocommit = True
            finally:
                cur.close()
        except Exception:
            self._rollback_quietly(conn)
            self._discard()
            raise

    async def insert_audit_async(self, records: Sequence[AuditRecord]) -> None:
        """``insert_audit`` from the event loop. SQLite commits on the loop thread's own
        connection: a local fsync, and a thread hand-over per group cost more CPU than it
        (profiled: ~90 µs per query through an executor). PostgreSQL commits over an async
        connection, the whole group in one multi-row INSERT."""
        if self._db.is_sqlite:
            self.insert_audit(records)
            return
        params = [list(column) for column in zip(*(r.to_values() for r in records))]
        conn = self._audit_async
        if conn is None or conn.closed or self._audit_loop is not asyncio.get_running_loop():
            conn = self._audit_async = await self._connect_async()
            self._audit_loop = asyncio.get_running_loop()
        try:
            async with conn.cursor() as cur:
                await cur.execute(_INSERT_UNNEST, params)
        except Exception:
            self._audit_async = None
            await conn.close()
            raise

    def _rollback_quietly(self, conn: Any) -> None:
        try:
            if self._db.is_sqlite:
                conn.cursor().execute("ROLLBACK")
            else:
                conn.dbapi_connection.rollback()
        except Exception:
            pass

    async def aclose(self) -> None:
        audit, self._audit_async = self._audit_async, None
        if audit is not None:
            await audit.close()

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                try:
                    if not self._db.is_sqlite:
                        conn.dbapi_connection.autocommit = False
                    conn.close()
                except Exception:
                    pass
            self._all.clear()


def _bytes(value: Any) -> bytes | None:
    return bytes(value) if value is not None else None


__all__ = ["AUDIT_COLUMNS", "HotPath"]
