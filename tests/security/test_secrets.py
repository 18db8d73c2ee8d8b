"""Secrets: tokens are random, stored only as hashes and expire by default; the server
refuses to start with a key file or keys directory that others can read or write."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import select

from hitmachine.core.clock import utc_now
from hitmachine.core.principal import Role
from hitmachine.services import admin
from hitmachine.services.context import Context
from hitmachine.settings import Settings
from hitmachine.store.schema import tokens as token_table
from tests.live_server import cli


def test_tokens_are_random_hashed_and_expire_by_default(ctx: Context, client: TestClient) -> None:
    made = [admin.create_token(ctx, admin.CONSOLE, name=f"t{i}", role=Role.COORDINATOR,
                               agency=None, expires_at=None, request_id="test")
            for i in range(3)]
    plain = [token for _, token in made]
    assert len(set(plain)) == 3 and all(len(t) >= 40 for t in plain)
    with ctx.db.read() as conn:
        stored = conn.execute(select(token_table)).all()
    dump = repr(stored).encode()
    assert not any(t.encode() in dump or t[3:].encode() in dump for t in plain)
    for info, _ in made:
        assert info.expires_at is not None
        expires = dt.datetime.fromisoformat(info.expires_at.replace("Z", "+00:00"))
        assert abs(expires - utc_now() - dt.timedelta(days=ctx.settings.token_lifetime_days)
                   ) < dt.timedelta(minutes=1)
    # Revoked: refused at once in this process.
    headers = {"Authorization": f"Bearer {plain[0]}"}
    assert client.get("/v1/agencies", headers=headers).status_code == 200
    admin.revoke_token(ctx, admin.CONSOLE, made[0][0].id, "test")
    assert client.get("/v1/agencies", headers=headers).status_code == 401


def test_serve_refuses_any_exposed_key_file(settings: Settings) -> None:
    extra = settings.keys_dir / "checkpoint.key"
    assert extra.exists()
    extra.chmod(0o640)
    result = cli(settings, "serve", "--port", "1", check=False)
    assert result.returncode == 2 and "chmod 600" in result.stderr
    extra.chmod(0o600)
    settings.keys_dir.chmod(0o777)
    result = cli(settings, "serve", "--port", "1", check=False)
    assert result.returncode == 2 and "chmod 700" in result.stderr
    settings.keys_dir.chmod(0o700)

