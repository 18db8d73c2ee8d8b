"""Issue 13, the attack surface around signing in and anonymous callers: sign-in flooding
and account probing (finding 6), anonymous database writes (7), the statistics page's
SVG check (8), /docs (11), the SQLite file modes (12) and audited administrative reads
(15). Everything runs in process against the app (no network)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hitmachine.domain.principal import Role
from hitmachine.services import admin
from hitmachine.services.context import Context
from tests.conftest import Tokens
from tests.helpers import publish
from tests.web.util import ACCOUNTS, make_accounts, records, sign_in

ANNA = {"bsn": "111222333", "given_names": "Anna", "surname": "Jansen",
        "date_of_birth": "1980-05-01"}


@pytest.fixture
def web(client: TestClient, ctx: Context) -> TestClient:
    make_accounts(ctx)
    return client


def _query(client: TestClient, token: str) -> Any:
    return client.post("/v1/queries/household", headers={"Authorization": f"Bearer {token}"},
                       json={"purpose": "casusoverleg", "case_reference": "VH-1",
                             "members": [{"bsn": ANNA["bsn"]}]})


# --- finding 8: a name with " on...=" in it ----------------------------------------------

def test_a_token_name_that_looks_like_an_event_handler_does_not_break_statistics(
        web: TestClient, ctx: Context, tokens: Tokens) -> None:
    publish(web, tokens["adapter:om"], "om", [ANNA], ctx)
    _, token = admin.create_token(ctx, admin.CONSOLE, name="Team onderzoek=noord",
                                  role=Role.COORDINATOR, agency=None, expires_at=None,
                                  request_id="test")
    assert _query(web, token).status_code == 200
    sign_in(web, "privacy-officer")
    r = web.get("/statistieken")
    assert r.status_code == 200
    assert "Team onderzoek=noord" in r.text and r.text.count('role="img"') == 5


def test_the_svg_check_still_refuses_active_content() -> None:
    from hitmachine.web.charts import check_inert

    safe = '<svg xmlns="http://www.w3.org/2000/svg"><text>Team onderzoek=noord</text></svg>'
    check_inert(safe)
    for bad in ('<svg xmlns="http://www.w3.org/2000/svg"><script>x()</script></svg>',
                '<svg xmlns="http://www.w3.org/2000/svg"><rect onclick="x()"/></svg>',
                '<svg xmlns="http://www.w3.org/2000/svg" style="x"></svg>',
                '<svg xmlns="http://www.w3.org/2000/svg"><foreignObject/></svg>',
                '<svg xmlns="http://www.w3.org/2000/svg" xmlns:l="http://www.w3.org/1999/xlink">'
                '<a l:href="javascript:x()"/></svg>',
                '<svg><text>unclosed</svg>'):
        with pytest.raises(ValueError):
            check_inert(bad)


# --- finding 15: administrative reads are audited ----------------------------------------

def test_administrative_reads_are_audited(web: TestClient, ctx: Context, tokens: Tokens) -> None:
    admin_header = tokens.header("admin")
    assert web.get("/v1/admin/tokens", headers=admin_header).status_code == 200
    [listed] = records(ctx, "token.list")
    assert listed["actor"] == "test admin" and listed["detail"]["count"] == len(tokens)
    assert web.get("/v1/admin/keys", headers=admin_header).status_code == 200
    assert records(ctx, "key.list")[0]["detail"]["count"] >= 1
    adapter = tokens.header("adapter:om")
    assert web.get("/v1/publish/status", headers=adapter).status_code == 404
    publish(web, tokens["adapter:om"], "om", [ANNA], ctx)
    assert web.get("/v1/publish/status", headers=adapter).status_code == 200
    assert [r["detail"]["published"] for r in records(ctx, "publish.status")] == [False, True]
    assert all(r["agencies"] == ["om"] for r in records(ctx, "publish.status"))
    sign_in(web, "admin")
    assert web.get("/beheer/gebruikers").status_code == 200
    [users] = records(ctx, "user.list")
    assert users["actor"] == ACCOUNTS["admin"][0] and users["detail"]["count"] == 3


# --- finding 12: SQLite files are the service user's alone --------------------------------

def test_sqlite_files_are_created_0600_and_an_exposed_one_is_refused(tmp_path: Path) -> None:
    from hitmachine.config import Settings
    from hitmachine.domain.errors import Forbidden
    from hitmachine.instance import initialise
    from hitmachine.store.database import Database

    previous = os.umask(0o022)  # the usual umask, under which SQLite made 0644 files
    try:
        path = tmp_path / "data" / "hitmachine.db"
        settings = Settings(database_url=f"sqlite:///{path}", keys_dir=tmp_path / "keys")
        initialise(settings)
        ctx = Context.from_settings(settings)
        try:
            admin.create_token(ctx, admin.CONSOLE, name="x", role=Role.ADMIN, agency=None,
                               expires_at=None, request_id="test")
            files = [p for p in path.parent.iterdir() if p.name.startswith(path.name)]
            assert {p.name for p in files} >= {path.name, path.name + "-wal",
                                                path.name + "-shm"}
            assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in files} == {
                p.name: 0o600 for p in files}
        finally:
            ctx.close()
        fresh = tmp_path / "fresh.db"  # a database the app opens first is made 0600 too
        Database(f"sqlite:///{fresh}").dispose()
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o600
        for exposed in (path, Path(str(path) + ".writer-lock")):
            exposed.chmod(0o644)
            with pytest.raises(Forbidden, match="chmod 600"):
                Database(settings.database_url)
            exposed.chmod(0o600)
    finally:
        os.umask(previous)
