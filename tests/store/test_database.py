"""Issue 15: the asyncio reads of PostgreSQL (``Database.read_async``), on which the API's
household look-up waits without a worker thread."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import literal, select

from hitmachine.services.context import Context
from hitmachine.store.database import Database
from tests.store.test_audit_group_retry import _drop_other_connections, pg_ctx

__all__ = ["pg_ctx"]  # the PostgreSQL context fixture, used below


def test_a_read_survives_a_connection_the_server_dropped(pg_ctx: Context) -> None:
    """No ping before each use: the statement finds a dropped connection itself and runs
    once more on a fresh one, so a database restart fails no query."""
    ctx = pg_ctx

    async def run() -> list[int]:
        first = await ctx.db.read_async(select(literal(1)), {})
        assert _drop_other_connections(ctx) >= 1  # the loop's pooled connection among them
        second = await ctx.db.read_async(select(literal(2)), {})
        await ctx.db.dispose_async()
        return [first[0][0], second[0][0]]

    assert asyncio.run(run()) == [1, 2]


def test_each_loop_has_its_own_pool(pg_ctx: Context) -> None:
    """An asyncio connection belongs to the loop that opened it: a second loop (a second
    app in one process, as in the tests) gets connections of its own."""
    ctx = pg_ctx

    async def read() -> int:
        rows = await ctx.db.read_async(select(literal(7)), {})
        await ctx.db.dispose_async()
        return int(rows[0][0])

    assert [asyncio.run(read()) for _ in range(3)] == [7, 7, 7]


def test_sqlite_reads_stay_in_threads(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'hitmachine.db'}")
    try:
        assert not db.reads_async
        with pytest.raises(RuntimeError, match="SQLite"):
            asyncio.run(db.read_async(select(literal(1)), {}))
    finally:
        db.dispose()
