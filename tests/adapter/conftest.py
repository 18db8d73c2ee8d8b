"""A served instance on loopback with an adapter token per agency, for end-to-end adapter
tests (the ``settings`` fixture makes each run on SQLite and on PostgreSQL)."""

from __future__ import annotations

import csv
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from hitmachine.core.principal import Role
from hitmachine.services import admin
from hitmachine.services.context import Context
from hitmachine.settings import Settings
from hitmachine_adapter.cli import run_sync
from hitmachine_adapter.result import SyncResult
from tests.live_server import KEYRING_AT_ONCE, LiveServer

AGENCIES = ("leerplicht", "schuldhulp", "regieteams", "om", "reclassering")
SAMPLES = Path(__file__).parents[2] / "hitmachine_adapter" / "samples"
PLAIN_HEADER = ["bsn", "given_names", "prefix", "surname", "date_of_birth"]


@dataclass
class World:
    settings: Settings
    server: LiveServer
    keyring: Path
    tokens: dict[str, str]
    coordinator: str
    tmp: Path

    def sync(self, agency: str, source: Path | str, **options: Any) -> SyncResult:
        """One adapter run in this process (one worker: no fork inside pytest)."""
        options.setdefault("workers", 1)
        options.setdefault("keyring", self.keyring)
        return run_sync(agency=agency, source=source, server=self.server.url,
                        token=self.tokens[agency], **options)

    def query(self, members: list[dict[str, str]]) -> list[set[str]]:
        """The agencies the answer discloses, per member (in request order; households of
        at most 20, as the API takes them)."""
        out: list[set[str]] = []
        for start in range(0, len(members), 20):
            r = httpx.post(f"{self.server.url}/v1/queries/household",
                           headers={"Authorization": f"Bearer {self.coordinator}"},
                           json={"purpose": "casusoverleg", "case_reference": "VH-ADAPTER",
                                 "members": members[start:start + 20]}, timeout=30)
            assert r.status_code == 200, r.text
            out += [{a["code"] for a in m["agencies"]} for m in r.json()["members"]]
        return out

    def status(self, agency: str) -> dict[str, Any] | None:
        r = httpx.get(f"{self.server.url}/v1/publish/status",
                      headers={"Authorization": f"Bearer {self.tokens[agency]}"}, timeout=10)
        if r.status_code == 404:
            return None
        assert r.status_code == 200, r.text
        result: dict[str, Any] = r.json()
        return result


def make_tokens(settings: Settings) -> tuple[dict[str, str], str]:
    ctx = Context.from_settings(settings)
    try:
        tokens = {a: admin.create_token(ctx, admin.CONSOLE, name=f"{a} adapter", role=Role.ADAPTER,
                                        agency=a, expires_at=None, request_id="test")[1]
                  for a in AGENCIES}
        coordinator = admin.create_token(ctx, admin.CONSOLE, name="coordinator",
                                         role=Role.COORDINATOR, agency=None, expires_at=None,
                                         request_id="test")[1]
    finally:
        ctx.close()
    return tokens, coordinator


def export_keyring(settings: Settings, out: Path) -> Path:
    ctx = Context.from_settings(settings)
    try:
        admin.export_keyring(ctx, admin.CONSOLE, out, "test")
    finally:
        ctx.close()
    return out


@pytest.fixture(params=["hmac", "oprf"])
def world(request: pytest.FixtureRequest, settings: Settings, tmp_path: Path) -> Iterator[World]:
    """Every end-to-end adapter test runs under both pseudonymisation schemes (issue 8):
    with ``oprf`` the deployment's keyring holds no key, a key service on loopback holds
    versions 1 to 3, and the adapters find their key service token beside their keyring."""
    with ExitStack() as stack:
        if request.param == "oprf":
            settings = oprf_deployment(settings, tmp_path, stack)
        tokens, coordinator = make_tokens(settings)
        keyring = export_keyring(settings, tmp_path / "adapter-keyring.json")
        server = stack.enter_context(LiveServer(settings, tmp_path / "server.log",
                                                extra_env=KEYRING_AT_ONCE))
        yield World(settings, server, keyring, tokens, coordinator, tmp_path)


def oprf_deployment(settings: Settings, tmp_path: Path, stack: ExitStack) -> Settings:
    """``settings`` turned into an oprf deployment from the start, with its key service
    (the adapters' token is written to ``tmp_path/keyservice.token``)."""
    from hitmachine.core.keystore import create_keyring
    from tests.keyservice.live import LiveKeyService

    ks = stack.enter_context(LiveKeyService(tmp_path / "keyservice", versions=(1, 2, 3)))
    ks.write_token(settings.keys_dir / "keyservice.token")  # the query path's
    ks.write_token(tmp_path / "keyservice.token")           # the adapters'
    settings = settings.model_copy(update={"pseudonym_scheme": "oprf", "keyservice_url": ks.url})
    settings.keyring_path.unlink()
    create_keyring(settings.keyring_path, "oprf", keyservice_url=ks.url)
    return settings


def load_reclassering(url: str) -> Iterator[str]:
    """The reclassering sample database in a SQLite file (``url`` a sqlite URL naming it)
    or in a schema of its own in the PostgreSQL database at ``url``. Yields the URL an
    adapter reads it at; the PostgreSQL schema is dropped afterwards."""
    script = (SAMPLES / "reclassering.sql").read_text(encoding="utf-8")
    if url.startswith("sqlite"):
        db = sqlite3.connect(make_url(url).database or "")
        db.executescript(script)
        db.commit()
        db.close()
        yield url
        return
    schema = f"reclassering_{uuid.uuid4().hex[:8]}"
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        conn.exec_driver_sql(f"SET LOCAL search_path TO {schema}")
        conn.exec_driver_sql(script)
    try:
        yield make_url(url).update_query_dict({"options": f"-csearch_path={schema}"}
                                              ).render_as_string(hide_password=False)
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        engine.dispose()


@pytest.fixture
def reclassering_db(settings: Settings, tmp_path: Path) -> Iterator[str]:
    """The reclassering sample on the same kind of database as the server."""
    if settings.database_url.startswith("sqlite"):
        yield from load_reclassering(f"sqlite:///{tmp_path / 'reclassering.db'}")
    else:
        yield from load_reclassering(settings.database_url)


@pytest.fixture(params=["sqlite", "postgresql"])
def source_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The reclassering sample on SQLite and on PostgreSQL, without a Hitmachine instance."""
    if request.param == "sqlite":
        yield from load_reclassering(f"sqlite:///{tmp_path / 'reclassering.db'}")
    else:
        yield from load_reclassering(request.getfixturevalue("pg_database"))


def write_plain(path: Path, people: list[dict[str, str]]) -> Path:
    """A source in the plain format (what the query members look like, too)."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=PLAIN_HEADER)
        writer.writeheader()
        writer.writerows({k: p.get(k, "") for k in PLAIN_HEADER} for p in people)
    return path


def people(n: int, seed: int, *, with_bsn: bool = True) -> list[dict[str, str]]:
    """``n`` distinct adults (every agency discloses them), as plain-format rows."""
    import random

    from tests.helpers import make_bsn

    rng = random.Random(seed)
    out = []
    for i in range(n):
        # Distinct surnames: the letters of the seed and the number.
        surname = "Test" + "".join(chr(97 + int(c)) for c in f"{seed}{i:05d}")
        out.append({"bsn": make_bsn(rng) if with_bsn else "", "given_names": "Kim",
                    "prefix": "van der" if i % 3 == 0 else "", "surname": surname,
                    "date_of_birth": f"19{60 + i % 40:02d}-0{1 + i % 9}-1{i % 9}"})
    return out


__all__ = ["AGENCIES", "SAMPLES", "World", "export_keyring", "make_tokens", "people", "write_plain"]
