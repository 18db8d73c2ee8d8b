"""The database handle: one engine, SQLite tuned for durability, PostgreSQL pooled.

SQLite runs in WAL mode with ``synchronous=FULL`` (a committed audit record survives a
power cut) and every write transaction starts with ``BEGIN IMMEDIATE``: a deferred
transaction that reads and then writes fails with SQLITE_BUSY under concurrent writers
instead of waiting its turn.

A SQLite database holds case references, pseudonyms and token hashes, so its file is
created 0600 before SQLite opens it (SQLite gives the WAL and shared-memory files the
database file's mode), and a database file, or one of its companions, that the group or
others may read or write is refused, as an exposed key file is.

A coroutine reads and writes PostgreSQL through ``read_async`` and ``write_async``:
asyncio engines (psycopg's asyncio mode) per event loop, so the API's household look-up
and its audit commit wait on their sockets in the loop instead of in worker threads.
SQLite has no such mode (its asyncio wrappers run a thread per connection), so its reads
and writes stay in worker threads.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import threading
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Executable, Row, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from hitmachine.core.files import check_private

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal", ".writer-lock")


class Database:
    def __init__(self, url: str, *, pool_size: int = 8) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self._pool_size = pool_size
        # An asyncio connection belongs to the loop it was opened on: one engine per loop.
        # (reads, writes) per loop
        self._async_engines: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[AsyncEngine, AsyncEngine]] = \
            weakref.WeakKeyDictionary()
        if self.is_sqlite:
            prepare_sqlite_file(url)
            self.engine = create_engine(url, connect_args={"check_same_thread": False,
                                                           "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
                                        pool_size=pool_size, max_overflow=pool_size)
            _tune_sqlite(self.engine)
        else:
            self.engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size,
                                        pool_pre_ping=True)
        self._writer = self.engine.execution_options(hitmachine_write=True)
        self._single = self.engine.execution_options(hitmachine_single_statement=True)
        self._thread_lock = threading.RLock()
        database = self.engine.url.database if self.is_sqlite else None
        self._lock_path = (database + ".writer-lock"
                           if database and database != ":memory:" else None)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    @contextmanager
    def read_one(self) -> Iterator[Connection]:
        """A connection for one read statement: a single statement is consistent on its
        own, so SQLite runs it without the explicit ``BEGIN`` a ``read`` emits (that
        round of BEGIN and ROLLBACK costs as much CPU as the index look-up itself)."""
        with self._single.connect() as conn:
            yield conn

    @property
    def reads_async(self) -> bool:
        """Whether ``read_async`` is open to this database (PostgreSQL)."""
        return not self.is_sqlite

    async def read_async(self, statement: Executable, params: dict[str, Any]
                         ) -> list[Row[Any]]:
        """The rows of one read statement, for a coroutine, on PostgreSQL: the connection
        waits on its socket in the running loop (one asyncio pool per loop;
        ``dispose_async`` closes it).

        Lean on purpose, as it serves every query: autocommit (one statement is consistent
        on its own, so no BEGIN and no ROLLBACK on return) and no ping before each use (a
        round trip more). A connection the server dropped (a restart, an idle timeout) is
        found by the statement itself instead; the pool discards it, and the statement,
        a read, runs once more on a fresh connection."""
        engine = self._async_engine()
        for attempt in (1, 2):
            try:
                async with engine.connect() as conn:
                    return list(await conn.execute(statement, params))
            except DBAPIError as exc:
                if attempt == 2 or not exc.connection_invalidated:
                    raise
        raise AssertionError("unreachable")

    @asynccontextmanager
    async def write_async(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction for a coroutine, on PostgreSQL, committed on normal exit
        and rolled back on an exception."""
        async with self._async_engine(write=True).begin() as conn:
            yield conn

    def _async_engine(self, *, write: bool = False) -> AsyncEngine:
        loop = asyncio.get_running_loop()
        engines = self._async_engines.get(loop)
        if engines is None:
            if self.is_sqlite:
                raise RuntimeError("SQLite has no asyncio connections; use a thread")
            url = self.engine.url.set(drivername="postgresql+psycopg")
            reads = create_async_engine(url, pool_size=self._pool_size,
                                        max_overflow=self._pool_size,
                                        isolation_level="AUTOCOMMIT", pool_reset_on_return=None)
            # No ping before each use: the audit writer repeats a group whose first
            # statement found the connection dropped (AuditWriter).
            writes = create_async_engine(url, pool_size=2, max_overflow=2)
            engines = self._async_engines[loop] = (reads, writes)
        return engines[1] if write else engines[0]

    async def dispose_async(self) -> None:
        """Close the running loop's asyncio pool (at the end of the app's lifespan)."""
        for engine in self._async_engines.pop(asyncio.get_running_loop(), ()):
            await engine.dispose()

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction, committed on normal exit and rolled back on an exception."""
        with self.writer_turn(), self._writer.begin() as conn:
            yield conn

    def writer_connection(self) -> Connection:
        """A connection whose transactions are write transactions (``BEGIN IMMEDIATE`` on
        SQLite), for a writer that keeps it; take ``writer_turn`` around each one."""
        return self._writer.connect()

    @contextmanager
    def writer_turn(self) -> Iterator[None]:
        """Wait for this process's and every other process's SQLite writers, in the kernel.

        SQLite's own busy handler polls with sleeps of 1 to 100 ms, so two worker processes
        committing audit records in turn stall each other; a blocking ``flock`` on a file
        beside the database hands the turn over the moment it is free. PostgreSQL needs
        nothing of the kind."""
        if self._lock_path is None:
            yield
            return
        with self._thread_lock:
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # closing releases the lock

    def dispose(self) -> None:
        self.engine.dispose()


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module; we emit BEGIN ourselves.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # Read index pages through a memory map rather than a read() call each: system
        # calls are the dearest part of a look-up on small VMs. Writes still go via the WAL.
        cur.execute("PRAGMA mmap_size=1073741824")
        cur.execute("PRAGMA cache_size=-65536")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        options = conn.get_execution_options()
        if options.get("hitmachine_single_statement", False):
            return  # autocommit: the statement is its own transaction
        conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get("hitmachine_write", False)
                             else "BEGIN")


def make_null_pool_engine(url: str) -> Engine:
    """A pool-less engine for one-off administrative work (migrations)."""
    if url.startswith("sqlite"):
        prepare_sqlite_file(url)
    return create_engine(url, poolclass=NullPool)


def sqlite_path(url: str) -> str | None:
    """The database file a SQLite URL names, or None for an in-memory database."""
    database = make_url(url).database if url.startswith("sqlite") else None
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database


def prepare_sqlite_file(url: str) -> None:
    """Create the database file 0600 if it is missing, then refuse it (and its WAL, shared
    memory, journal and writer lock) if the group or others may read or write any of them."""
    path = sqlite_path(url)
    if path is None:
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except FileNotFoundError:
        return  # no such directory: SQLite says so when it opens the database
    for companion in SQLITE_COMPANIONS:
        check_private_file(path + companion)


def check_private_file(path: str) -> None:
    try:
        check_private(Path(path), hint=f"{path}*")
    except FileNotFoundError:
        return


__all__ = ["Database", "check_private_file", "make_null_pool_engine", "prepare_sqlite_file",
           "sqlite_path"]
