"""Create or upgrade the schema with the Alembic migrations shipped in the package."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from hitmachine.core.errors import NotFound, Unavailable

SETTING = "HITMACHINE_DATABASE_URL"

MIGRATIONS = Path(__file__).with_name("migrations")


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def upgrade(engine: Engine) -> None:
    cfg = _config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revisions(engine: Engine) -> tuple[str, ...]:
    with engine.connect() as conn:
        return tuple(MigrationContext.configure(conn).get_current_heads())


@lru_cache(maxsize=1)
def expected_heads() -> frozenset[str]:
    """The revisions this version of the code needs (read once: it scans the scripts)."""
    return frozenset(ScriptDirectory.from_config(_config()).get_heads())


def schema_problem(conn: Connection) -> str | None:
    """Why the schema on ``conn`` cannot serve this code, or None when it is current."""
    found = frozenset(MigrationContext.configure(conn).get_current_heads())
    if not found:
        return "has no Hitmachine schema; run 'hitmachine init' first"
    if found != expected_heads():
        return (f"has schema revision {' + '.join(sorted(found))}, this version needs "
                f"{' + '.join(sorted(expected_heads()))}; run 'hitmachine init'")
    return None


def connect_problem(url: str, exc: DBAPIError) -> Unavailable:
    """One line for a database that cannot be reached: where, and the driver's reason
    (its first line, without the 'connection failed' preamble; never the password)."""
    parsed = make_url(url)
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else ""
    reason = reason.rsplit(" failed: ", 1)[-1].removeprefix("FATAL:").strip()
    if parsed.password:
        reason = reason.replace(str(parsed.password), "***")
    return Unavailable(f"{SETTING}: cannot open the database {_where(parsed)} "
                       f"({reason or type(exc.orig).__name__})")


def check_database(url: str) -> None:
    """Refuse a database this code cannot use, in one line naming the setting: a SQLite
    file that does not exist (never created here), a server that cannot be reached, or a
    schema that is missing or at another revision."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        if not Path(parsed.database).is_file():
            raise NotFound(f"{SETTING}: the SQLite database {parsed.database} does not exist; "
                           f"run 'hitmachine init' first (or check the path)")
        # Read-only: even a file that vanished meanwhile is never created by a check.
        url = f"sqlite:///file:{Path(parsed.database).resolve()}?mode=ro&uri=true"
    connect_args = {} if parsed.get_backend_name() == "sqlite" else {"connect_timeout": 5}
    engine = create_engine(url, poolclass=NullPool, connect_args=connect_args)
    try:
        with engine.connect() as conn:
            problem = schema_problem(conn)
    except DBAPIError as exc:
        raise connect_problem(parsed.render_as_string(hide_password=False), exc) from None
    finally:
        engine.dispose()
    if problem:
        raise Unavailable(f"{SETTING}: the database {_where(parsed)} {problem}")


def _where(parsed: URL) -> str:
    if parsed.get_backend_name() == "sqlite":
        return str(parsed.database)
    return f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"


__all__ = ["check_database", "connect_problem", "current_revision", "expected_heads",
           "head_revision", "schema_problem", "upgrade"]
