"""A source database: the mapping's query over any database SQLAlchemy reaches, streamed
through a server-side cursor in a read-only transaction. SQLAlchemy is imported when a
database source is opened, not before: a CSV run never loads it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hitmachine_adapter.errors import AdapterUsageError
from hitmachine_adapter.mapping import Mapping
from hitmachine_adapter.rows import Row, locate

_STREAM_ROWS = 2000


class SqlSource:
    """A query over any database SQLAlchemy reaches, streamed in a read-only transaction."""

    total = None

    def __init__(self, url: str, mapping: Mapping) -> None:
        from sqlalchemy import text
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError, SQLAlchemyError

        try:
            parsed = make_url(url)
        except ArgumentError:
            raise AdapterUsageError("the source is not a valid database URL") from None
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3 is installed
        self.description = parsed.render_as_string(hide_password=True)
        self._count = 0
        try:
            self._engine = _engine(parsed)
        except (ModuleNotFoundError, ImportError) as exc:
            raise AdapterUsageError(f"the database driver for {parsed.drivername} is not "
                                    f"installed ({exc.name or exc})") from None
        except SQLAlchemyError as exc:
            raise AdapterUsageError(f"cannot use {self.description}: {type(exc).__name__}") from None
        try:
            self._conn = self._engine.connect()
        except SQLAlchemyError as exc:
            self._engine.dispose()
            raise AdapterUsageError(f"cannot connect to the source database {self.description}:"
                                    f" {_connect_error(exc, parsed.password)}") from None
        try:
            dialect = self._engine.dialect.name
            if dialect == "postgresql":
                self._conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            elif dialect == "sqlite":
                self._conn.exec_driver_sql("PRAGMA query_only = ON")
            self._result = self._conn.execution_options(
                stream_results=True, yield_per=_STREAM_ROWS).execute(text(mapping.query or ""))
        except SQLAlchemyError as exc:
            self.close()
            raise AdapterUsageError(f"{self.description}: the mapping's query failed: "
                                    f"{_db_error(exc)}") from None
        self.columns = [str(k) for k in self._result.keys()]
        try:
            self._where = locate(self.columns, mapping, "the query result")
        except AdapterUsageError:
            self.close()
            raise

    def position(self) -> int:
        return self._count

    def close(self) -> None:
        conn = getattr(self, "_conn", None)
        if conn is not None:
            try:
                conn.rollback()
                conn.close()
            except Exception:  # closing a broken connection; nothing left to protect
                pass
            self._conn = None
        self._engine.dispose()

    def rows(self) -> Iterator[Row]:
        from sqlalchemy.exc import SQLAlchemyError

        where = self._where
        try:
            for number, record in enumerate(self._result, start=1):
                self._count = number
                yield number, None, tuple([record[i] for i in where])
        except SQLAlchemyError as exc:
            raise AdapterUsageError(f"{self.description}: reading the query result failed: "
                                    f"{_db_error(exc)}; nothing was published") from None
        finally:
            self.close()


_CONNECT_TIMEOUT = 15  # seconds; a database that does not answer must not hang the run


def _engine(url: Any) -> Any:
    """An engine that only reads. A SQLite file is opened read-only (``mode=ro``): a
    mistyped path must not quietly create an empty database and publish nobody."""
    import sqlite3
    import urllib.parse

    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    database = url.database or ""
    if url.get_backend_name() == "sqlite" and database not in ("", ":memory:") \
            and not database.startswith("file:"):
        path = Path(database).expanduser()
        if not path.is_file():
            raise AdapterUsageError(f"the source database {path} does not exist (a SQLite "
                                    "source is only read, never created)")
        uri = f"file:{urllib.parse.quote(str(path.resolve()))}?mode=ro"
        return create_engine("sqlite://", poolclass=NullPool,
                             creator=lambda: sqlite3.connect(uri, uri=True))
    args: dict[str, Any] = {}
    if url.get_backend_name() == "postgresql" and "connect_timeout" not in url.query:
        args["connect_timeout"] = _CONNECT_TIMEOUT
    return create_engine(url, poolclass=NullPool, connect_args=args)


def _connect_error(exc: Exception, password: str | None) -> str:
    """Why a connection failed, as the driver says it (no row is involved yet, so the
    message holds none), on one line and without the password."""
    orig = getattr(exc, "orig", None) or exc
    text = " ".join(str(orig).split())
    if password:
        text = text.replace(str(password), "***")
    return text or type(orig).__name__


def _db_error(exc: Exception) -> str:
    """What went wrong, without anything a row could have put in the message: the error
    class and SQLSTATE, and the message itself only for syntax and access errors (class
    42), which name tables and columns, not data."""
    orig = getattr(exc, "orig", None) or exc
    name = type(orig).__name__
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    diag = getattr(orig, "diag", None)
    if state and str(state).startswith("42"):
        primary = getattr(diag, "message_primary", None) if diag else None
        return f"{name} [{state}] {primary or ''}".strip()
    if state:
        return f"{name} [{state}]"
    if name == "OperationalError" and type(orig).__module__.startswith("sqlite3"):
        return f"{name}: {orig}"  # SQLite: "no such table: x", "near ...: syntax error"
    return name


__all__ = ["SqlSource"]
