"""The Alembic migrations build exactly the schema that ``hitmachine.store.schema`` declares."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from hitmachine.settings import Settings
from hitmachine.store import migrate
from hitmachine.store.database import make_null_pool_engine
from hitmachine.store.schema import metadata


def test_migrations_match_the_declared_schema(settings: Settings) -> None:
    engine = make_null_pool_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        # SQLite cannot tell BIGINT from INTEGER primary keys apart; ignore type-only noise.
        significant = [d for d in diff if not (isinstance(d, list) and d and d[0][0] == "modify_type")]
        assert significant == [], significant
        assert set(migrate.current_revisions(engine)) == set(_heads())
    finally:
        engine.dispose()


def test_upgrade_is_idempotent(settings: Settings) -> None:
    engine = make_null_pool_engine(settings.database_url)
    try:
        before = migrate.current_revisions(engine)
        migrate.upgrade(engine)
        assert migrate.current_revisions(engine) == before
    finally:
        engine.dispose()


def _heads() -> tuple[str, ...]:
    from alembic.script import ScriptDirectory

    from hitmachine.store.migrate import _config

    return tuple(ScriptDirectory.from_config(_config()).get_heads())
