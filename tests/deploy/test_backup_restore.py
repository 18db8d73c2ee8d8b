"""The backup and restore of docs/deploy.md, on PostgreSQL, with the commands it names.

A dump without the index's contents (``pg_dump --exclude-table-data``), restored into an
empty database with the keys, passes ``hitmachine audit verify`` against a checkpoint kept
outside from before the dump, keeps accounts and tokens, and holds no index; a checkpoint
taken after the dump fails on the restored log, which is how an operator counts what the
restore lost.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from starlette.testclient import TestClient

from hitmachine.services.context import Context
from hitmachine.settings import Settings
from tests.conftest import PG_URL, Tokens
from tests.helpers import publish, query

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

# As in docs/deploy.md: the index and the web sessions are rebuilt, not restored.
INDEX_TABLES = ("entries", "agency_sets", "syncs", "sync_batches", "web_sessions")
PERSON = {"bsn": "111222333", "given_names": "Jan", "surname": "Jansen",
          "date_of_birth": "1980-01-01"}


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _hitmachine(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HITMACHINE_DATABASE_URL": settings.database_url,
           "HITMACHINE_KEYS_DIR": str(settings.keys_dir)}
    return subprocess.run([str(Path(sys.executable).parent / "hitmachine"), *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def _counts(url: str, tables: tuple[str, ...]) -> dict[str, int]:
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        counts = {t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one())
                  for t in tables}
    engine.dispose()
    return counts


@pytest.fixture
def restore_database() -> Iterator[str]:
    admin = create_engine(PG_URL, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    name = f"hm_restore_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_restore_without_the_index_verifies_against_an_outside_checkpoint(
        settings: Settings, ctx: Context, client: TestClient, tokens: Tokens,
        restore_database: str, tmp_path: Path) -> None:
    publish(client, tokens["adapter:om"], "om", [PERSON], ctx)
    assert query(client, tokens["coordinator"], [PERSON]).status_code == 200
    key = _hitmachine(settings, "audit", "checkpoint", "--key")
    assert key.returncode == 0, key.stderr
    before = _hitmachine(settings, "audit", "checkpoint")  # signs the tree as it is now
    assert before.returncode == 0, before.stderr
    outside = tmp_path / "checkpoint-before.txt"
    outside.write_text(before.stdout, encoding="utf-8")

    dump = tmp_path / "hitmachine.dump"
    subprocess.run(["pg_dump", "--format=custom", f"--file={dump}",
                    *(f"--exclude-table-data={t}" for t in INDEX_TABLES),
                    _libpq(settings.database_url)], check=True, timeout=120)
    tokens_at_dump = _counts(settings.database_url, ("tokens",))["tokens"]

    # What happens after the backup is lost by the restore; a later checkpoint shows it.
    assert query(client, tokens["coordinator"], [PERSON]).status_code == 200
    after = _hitmachine(settings, "audit", "checkpoint")
    assert after.returncode == 0, after.stderr
    later = tmp_path / "checkpoint-after.txt"
    later.write_text(after.stdout, encoding="utf-8")

    subprocess.run(["pg_restore", "--no-owner", f"--dbname={_libpq(restore_database)}",
                    str(dump)], check=True, timeout=120)
    counts: dict[str, Any] = _counts(restore_database, ("audit_records", "tokens",
                                                        *INDEX_TABLES))
    assert counts["tokens"] == tokens_at_dump > 0
    assert counts["audit_records"] > 0
    assert {t: counts[t] for t in INDEX_TABLES} == dict.fromkeys(INDEX_TABLES, 0)
    restored = settings.model_copy(update={"database_url": restore_database})
    init = _hitmachine(restored, "init")
    assert init.returncode == 0, init.stderr

    verify = _hitmachine(restored, "audit", "verify", "--checkpoint", str(outside))
    assert verify.returncode == 0, verify.stdout + verify.stderr
    lost = _hitmachine(restored, "audit", "verify", "--checkpoint", str(later))
    assert lost.returncode == 1, lost.stdout + lost.stderr
    assert "the tail was cut off" in lost.stdout + lost.stderr  # as docs/deploy.md quotes
    assert _hitmachine(restored, "audit", "checkpoint", "--key").stdout == key.stdout

