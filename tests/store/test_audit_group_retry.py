"""Issue 13, finding 4: one audit record the database refuses must fail only its own
request, never the others committed in the same group; issue 15: coroutines awaiting
their record (``append_async``) are settled the same way, whether the writer thread
commits them (SQLite) or a task of their own loop does (PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from hitmachine.core.auditlog.record import AuditRecord, Outcome
from hitmachine.core.errors import Unavailable
from hitmachine.services.context import Context
from hitmachine.services.instance import initialise
from hitmachine.settings import Settings
from hitmachine.store.audit_log import AuditWriter, Bundle, Item
from hitmachine.store.schema import audit_records
from tests.conftest import _truncate_pg


def _record(case_reference: str) -> AuditRecord:
    return AuditRecord(event="query.household", actor="t", role="coordinator",
                       organisation="veiligheidshuis", request_id=case_reference,
                       outcome=Outcome.NO_HIT, case_reference=case_reference)


class RefusingWriter(AuditWriter):
    """The real writer, but a group holding a record marked "bad" fails as PostgreSQL
    fails on a NUL (a DataError): so the logic is tested on either database."""

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx.db)
        self.groups: list[int] = []

    def _insert(self, records: Sequence[AuditRecord | Bundle]) -> None:
        self.groups.append(len(records))
        if _bad(records):
            raise ValueError("refused record")
        super()._insert(records)

    async def _insert_async(self, records: Sequence[AuditRecord | Bundle]) -> None:
        self.groups.append(len(records))
        if _bad(records):
            raise ValueError("refused record")
        await super()._insert_async(records)


def _bad(records: Sequence[AuditRecord | Bundle]) -> bool:
    return any(isinstance(r, AuditRecord) and r.case_reference == "bad" for r in records)


class DownWriter(AuditWriter):
    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx.db)
        self.calls = 0

    def _insert(self, records: Sequence[AuditRecord | Bundle]) -> None:
        self.calls += 1
        raise ConnectionError("database down")


def _group(*refs: str) -> list[tuple[AuditRecord, Future[None]]]:
    """One group as the writer thread takes it from its queue."""
    return [(_record(ref), Future()) for ref in refs]


def _outcomes(group: list[tuple[AuditRecord, Future[None]]]) -> list[BaseException | None]:
    return [done.exception(timeout=0) for _, done in group]


def _stored(ctx: Context) -> list[str]:
    with ctx.db.read() as conn:
        return sorted(r[0] for r in conn.execute(select(audit_records.c.case_reference)))


def test_a_bad_record_in_a_thread_group_fails_alone(ctx: Context) -> None:
    writer = RefusingWriter(ctx)
    group: list[tuple[AuditRecord, Future[None]]] = [
        (_record(ref), Future()) for ref in ("good-1", "bad", "good-2")]
    try:
        writer._commit(group)  # what the writer thread does with one group
    finally:
        writer.close()
    assert group[0][1].result() is None and group[2][1].result() is None
    with pytest.raises(Unavailable):
        group[1][1].result()
    assert _stored(ctx) == ["good-1", "good-2"]


def test_a_database_that_is_down_is_not_retried_record_by_record(ctx: Context) -> None:
    writer = DownWriter(ctx)
    group = _group(*(f"r{i}" for i in range(20)))
    writer._commit(group)
    assert all(isinstance(r, Unavailable) for r in _outcomes(group))
    assert writer.calls == 2  # the group, then one record: not twenty more round trips


@pytest.fixture
def pg_ctx(pg_database: str, tmp_path: Path) -> Iterator[Context]:
    """PostgreSQL only: SQLite stores a NUL, the refusal is PostgreSQL's."""
    _truncate_pg(pg_database)
    settings = Settings(database_url=pg_database, keys_dir=tmp_path / "keys")
    initialise(settings)
    context = Context.from_settings(settings)
    yield context
    context.close()


def test_postgresql_nul_in_a_group_fails_only_its_own_record(pg_ctx: Context) -> None:
    """The real failure on PostgreSQL: a NUL in text is a DataError for the whole INSERT."""
    ctx = pg_ctx
    writer = AuditWriter(ctx.db)
    group = _group("good-1", "x\x00y", "good-2", "good-3")
    try:
        writer._commit(group)
    finally:
        writer.close()
    results = _outcomes(group)
    assert [r is None for r in results] == [True, False, True, True]
    assert isinstance(results[1], Unavailable)
    assert _stored(ctx) == ["good-1", "good-2", "good-3"]
    with ctx.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(audit_records)).scalar_one() == 3


def test_coroutines_in_one_group_each_learn_their_own_outcome(ctx: Context) -> None:
    """``append_async``'s waiters: the writer settles them through their loop, each with
    its own record's outcome."""
    writer = RefusingWriter(ctx)

    async def run() -> list[BaseException | None]:
        loop = asyncio.get_running_loop()
        group: list[Item] = [(_record(ref), (loop, loop.create_future()))
                             for ref in ("good-1", "bad", "good-2")]
        await asyncio.to_thread(writer._commit, group)  # as the writer thread does
        waiters = [waiter[1] for _, waiter in group if not isinstance(waiter, Future)]
        return await asyncio.gather(*waiters, return_exceptions=True)

    try:
        results = asyncio.run(run())
    finally:
        writer.close()
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], Unavailable)
    assert _stored(ctx) == ["good-1", "good-2"]


def test_records_awaited_on_the_loop_are_committed_in_groups(ctx: Context) -> None:
    writer = RefusingWriter(ctx)

    async def run() -> None:
        await asyncio.gather(*(writer.append_async(_record(f"r{i:02d}")) for i in range(40)))

    try:
        asyncio.run(run())
    finally:
        writer.close()
    assert _stored(ctx) == [f"r{i:02d}" for i in range(40)]
    assert sum(writer.groups) == 40 and len(writer.groups) < 40  # grouped, not one by one


def test_coroutines_on_one_loop_each_learn_their_own_outcome(ctx: Context) -> None:
    """Both commit paths of ``append_async``: a refused record fails its own coroutine
    only, and the others are committed."""
    writer = RefusingWriter(ctx)

    async def run() -> list[BaseException | None]:
        return await asyncio.gather(*(writer.append_async(_record(ref))
                                      for ref in ("good-1", "bad", "good-2")),
                                    return_exceptions=True)

    try:
        results = asyncio.run(run())
    finally:
        writer.close()
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], Unavailable)
    assert _stored(ctx) == ["good-1", "good-2"]


def _drop_other_connections(ctx: Context) -> int:
    """What a database restart or an idle timeout does to pooled connections: every other
    backend of this database terminated. The number terminated."""
    with ctx.db.read() as conn:
        return len(conn.execute(text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()")).all())


def test_postgresql_loop_commits_survive_a_dropped_connection(pg_ctx: Context) -> None:
    """No ping before each group: a pooled connection the server dropped fails the
    group's first statement, and the group commits on a fresh connection instead of
    failing its queries."""
    ctx = pg_ctx
    writer = AuditWriter(ctx.db)

    async def run() -> None:
        await writer.append_async(_record("before"))
        assert _drop_other_connections(ctx) >= 1  # the loop's pooled connection among them
        await writer.append_async(_record("after"))
        await ctx.db.dispose_async()

    try:
        asyncio.run(run())
    finally:
        writer.close()
    assert _stored(ctx) == ["after", "before"]


def test_postgresql_nul_in_a_loop_group_fails_only_its_own_record(pg_ctx: Context) -> None:
    ctx = pg_ctx
    writer = AuditWriter(ctx.db)

    async def run() -> list[BaseException | None]:
        results = await asyncio.gather(*(writer.append_async(_record(ref)) for ref in
                                         ("good-1", "x\x00y", "good-2", "good-3")),
                                       return_exceptions=True)
        await ctx.db.dispose_async()
        return results

    try:
        results = asyncio.run(run())
    finally:
        writer.close()
    assert [r is None for r in results] == [True, False, True, True]
    assert isinstance(results[1], Unavailable)
    assert _stored(ctx) == ["good-1", "good-2", "good-3"]
