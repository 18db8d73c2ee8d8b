"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL comes from HITMACHINE_TEST_POSTGRES_URL (default: the local server, trust auth,
database ``test``). Each test session gets its own database created there, migrated once
and truncated between tests. Without a server the PostgreSQL half is skipped with the
reason shown; with HITMACHINE_REQUIRE_POSTGRES=1 (as ``.ci/run`` sets) that is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from hitmachine.core.principal import Role
from hitmachine.http.app import create_app
from hitmachine.services import admin
from hitmachine.services.context import Context
from hitmachine.services.instance import initialise
from hitmachine.settings import Settings

PG_URL = os.environ.get("HITMACHINE_TEST_POSTGRES_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("HITMACHINE_REQUIRE_POSTGRES") == "1"
AGENCIES = ("leerplicht", "schuldhulp", "regieteams", "om", "reclassering")


def _pg_admin_engine() -> Engine:
    return create_engine(PG_URL, poolclass=NullPool, isolation_level="AUTOCOMMIT",
                         connect_args={"connect_timeout": 3})


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this session (and xdist worker), dropped at the end."""
    try:
        admin_engine = _pg_admin_engine()
        with admin_engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        reason = f"PostgreSQL not reachable at {make_url(PG_URL).render_as_string()}: {type(exc).__name__}"
        if REQUIRE_PG:
            pytest.fail(reason + " (HITMACHINE_REQUIRE_POSTGRES=1)")
        pytest.skip(reason)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"hm_test_{worker}_{uuid.uuid4().hex[:8]}"
    with admin_engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin_engine.connect() as conn:
            conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin_engine.dispose()


def _truncate_pg(url: str) -> None:
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as conn:
        # Every table the migrations made (whatever module declares it), but the revision.
        names = [n for n in inspect(conn).get_table_names() if n != "alembic_version"]
        if names:
            conn.execute(text(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hitmachine.db'}"
    url: str = request.getfixturevalue("pg_database")
    _truncate_pg(url)
    return url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    # Without the second factor: the tests that sign in as the privacy officer or the admin
    # are about their pages. The factor's own tests (tests/services/test_factor.py,
    # tests/web/test_factor*.py) use the default, which requires it of those roles.
    s = Settings(database_url=database_url, keys_dir=tmp_path / "keys",
                 web_second_factor_roles=())
    initialise(s)
    return s


@pytest.fixture
def ctx(settings: Settings) -> Iterator[Context]:
    context = Context.from_settings(settings)
    yield context
    context.close()


@pytest.fixture
def client(ctx: Context) -> Iterator[TestClient]:
    with TestClient(create_app(ctx=ctx), raise_server_exceptions=False) as c:
        yield c


class Tokens(dict[str, str]):
    """role name (or ``adapter:<agency>`` / ``partner:<agency>``) -> bearer token."""

    def header(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self[key]}"}


@pytest.fixture
def tokens(ctx: Context) -> Tokens:
    out = Tokens()
    for role in (Role.COORDINATOR, Role.PRIVACY_OFFICER, Role.ADMIN, Role.RESEARCHER):
        out[role.value] = admin.create_token(ctx, admin.CONSOLE, name=f"test {role.value}",
                                             role=role, agency=None, expires_at=None,
                                             request_id="test")[1]
    for agency in AGENCIES:
        for role in (Role.ADAPTER, Role.PARTNER):
            out[f"{role.value}:{agency}"] = admin.create_token(
                ctx, admin.CONSOLE, name=f"test {role.value} {agency}", role=role,
                agency=agency, expires_at=None, request_id="test")[1]
    return out
