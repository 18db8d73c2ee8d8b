"""Issue 13, the attack surface around signing in and anonymous callers: sign-in flooding
and account probing (finding 6), anonymous database writes (7), the statistics page's
SVG check (8), /docs (11), the SQLite file modes (12) and audited administrative reads
(15). Everything runs in process against the app (no network)."""

from __future__ import annotations

import asyncio
import os
import re
import stat
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from hitmachine.core.principal import Role
from hitmachine.http.app import create_app
from hitmachine.http.web.middleware import CSP, SECURITY_HEADERS
from hitmachine.services import admin, denials, users
from hitmachine.services.context import Context
from hitmachine.settings import Settings
from hitmachine.store.schema import web_sessions
from tests.conftest import Tokens
from tests.helpers import publish
from tests.web.util import ACCOUNTS, PASSWORD, csrf, make_accounts, records, sign_in

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
    from hitmachine.http.web.charts import check_inert

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
    from hitmachine.core.errors import Forbidden
    from hitmachine.services.instance import initialise
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


# --- finding 6: sign-in flooding and account probing --------------------------------------

class HashSpy:
    """Counts Argon2 verifications, and notes whether any ran on an event loop."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        self.on_loop = 0
        real = users._verify

        def spy(password_hash: str, password: str) -> bool:
            self.calls += 1
            try:
                asyncio.get_running_loop()
                self.on_loop += 1
            except RuntimeError:
                pass
            return real(password_hash, password)

        monkeypatch.setattr(users, "_verify", spy)


def _app(settings: Settings, **changes: Any) -> tuple[Context, Any]:
    ctx = Context.from_settings(settings.model_copy(update=changes))
    make_accounts(ctx)
    return ctx, create_app(ctx=ctx)


def _attempt(client: TestClient, name: str, password: str, **headers: str) -> Any:
    page = client.get("/aanmelden")
    return client.post("/aanmelden", data={"csrf_token": csrf(page.text), "naam": name,
                                          "wachtwoord": password}, headers=headers,
                       follow_redirects=False)


def test_the_11th_sign_in_from_one_address_is_429_without_hashing(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = HashSpy(monkeypatch)
    ctx, app = _app(settings, sign_in_limit_per_address="10/minute",
                    sign_in_limit_total="15/minute")
    try:
        one = TestClient(app, client=("192.0.2.1", 5000))
        for n in range(10):
            assert _attempt(one, f"niemand {n}", "x" * 20).status_code == 401
        assert spy.calls == 10
        r = _attempt(one, "niemand", "x" * 20)
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert "te vaak" in r.text
        r = _attempt(one, ACCOUNTS["coordinator"][0], PASSWORD)  # even the right password
        assert r.status_code == 429 and spy.calls == 10
        assert len(records(ctx, "auth.signin_failed")) == 10
        # Other addresses share the overall limit: 15 a minute, of which 10 are used.
        other = TestClient(app, client=("192.0.2.2", 5000))
        statuses = [_attempt(other, "niemand", "x" * 20).status_code for _ in range(6)]
        assert statuses == [401] * 5 + [429] and spy.calls == 15
    finally:
        ctx.close()


def test_locked_unknown_disabled_and_wrong_get_the_same_answer_after_the_same_work(
        web: TestClient, ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = HashSpy(monkeypatch)
    coordinator = ACCOUNTS["coordinator"][0]
    users.set_disabled(ctx, admin.CONSOLE, ACCOUNTS["admin"][0], True, "test")
    for _ in range(ctx.settings.web_lockout_attempts):
        assert _attempt(web, coordinator, "niet het wachtwoord").status_code == 401
    answers = {
        "wrong": _attempt(web, ACCOUNTS["privacy-officer"][0], "niet het wachtwoord"),
        "locked, right password": _attempt(web, coordinator, PASSWORD),
        "locked, wrong password": _attempt(web, coordinator, "niet het wachtwoord"),
        "unknown": _attempt(web, "Niemand Bekend", PASSWORD),
        "disabled": _attempt(web, ACCOUNTS["admin"][0], PASSWORD),
    }
    assert spy.calls == ctx.settings.web_lockout_attempts + len(answers)  # one each
    assert spy.on_loop == 0  # Argon2 never ran on the event loop
    bodies = set()
    for case, r in answers.items():
        assert r.status_code == 401, case
        name = re.search(r'name="naam"[^>]*value="([^"]*)"', r.text)
        bodies.add(r.text.replace(name.group(1), "NAAM") if name else r.text)
    assert len(bodies) == 1
    reasons = [r["detail"]["reason"] for r in records(ctx, "auth.signin_failed")][-5:]
    assert sorted(reasons) == ["bad_password", "disabled", "locked", "locked",
                               "unknown_account"]


def test_an_overlong_password_is_refused_unhashed_with_the_same_answer(
        web: TestClient, ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = HashSpy(monkeypatch)
    waste = spy.calls
    long = _attempt(web, ACCOUNTS["coordinator"][0], "x" * (users.MAX_PASSWORD_LENGTH + 1))
    assert long.status_code == 401 and spy.calls == waste
    assert records(ctx, "auth.signin_failed")[-1]["detail"]["reason"] == "password_too_long"
    wrong = _attempt(web, ACCOUNTS["coordinator"][0], "x" * 20)
    assert wrong.status_code == 401 and spy.calls == waste + 1
    assert long.text == wrong.text


# --- finding 7: anonymous requests and the database ---------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def time(self) -> float:
        return self.now


def test_repeated_anonymous_refusals_are_summarised_and_limited(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr(denials, "time", clock)
    ctx, app = _app(settings, anonymous_limit_per_address="8/minute",
                    denial_summary_seconds=60)
    try:
        caller = TestClient(app, client=("192.0.2.7", 5000), raise_server_exceptions=False)
        bad = {"Authorization": "Bearer hm_not-a-token"}
        statuses = [caller.get("/v1/agencies", headers=bad).status_code for _ in range(10)]
        assert statuses == [401] * 8 + [429] * 2
        [first] = records(ctx, "auth.denied")
        assert first["actor"] == "anonymous" and first["detail"]["address"] == "192.0.2.7"
        assert records(ctx, denials.SUMMARY_EVENT) == []
        clock.now += 60  # the next window: its first refusal writes the last one's summary
        # (still 429: the rate limiter keeps its own, real, clock)
        assert caller.get("/v1/agencies").status_code in (401, 429)
        assert len(records(ctx, "auth.denied")) == 2
        [summary] = records(ctx, denials.SUMMARY_EVENT)
        assert summary["detail"]["address"] == "192.0.2.7"
        assert summary["detail"]["denials"] == 9
        assert summary["detail"]["by_status_and_reason"] == {"401 token": 7, "429 token": 2}
        caller.get("/v1/agencies", headers=bad)
        denials.flush(ctx)  # at shutdown, an unfinished window is written as well
        assert [s["detail"]["denials"] for s in records(ctx, denials.SUMMARY_EVENT)] == [9, 1]
    finally:
        ctx.close()


def test_the_sign_in_page_writes_nothing_and_its_form_still_needs_its_token(
        web: TestClient, ctx: Context) -> None:
    before = len(records(ctx))
    for _ in range(5):
        fresh = TestClient(web.app)
        assert fresh.get("/aanmelden").status_code == 200
    with ctx.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(web_sessions)).scalar() == 0
    assert len(records(ctx)) == before
    name = ACCOUNTS["coordinator"][0]
    page = web.get("/aanmelden")
    token = csrf(page.text)
    form = {"csrf_token": token, "naam": name, "wachtwoord": PASSWORD}
    stranger = TestClient(web.app)  # the token without its cookie
    assert stranger.post("/aanmelden", data=form).status_code == 403
    assert web.post("/aanmelden", data={**form, "csrf_token": "y" * 43}).status_code == 403
    for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"},
                    {"Sec-Fetch-Site": "same-site"}):
        assert web.post("/aanmelden", data=form, headers=headers).status_code == 403
    r = web.post("/aanmelden", data=form, headers={"Origin": "http://testserver",
                                                   "Sec-Fetch-Site": "same-origin"},
                 follow_redirects=False)
    assert r.status_code == 303
    with ctx.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(web_sessions)).scalar() == 1


# --- finding 11: /docs --------------------------------------------------------------------

def test_docs_are_off_by_default_and_no_page_loads_a_cdn(client: TestClient) -> None:
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        r = client.get(path)
        assert r.status_code == 404 and r.headers["content-security-policy"] == CSP, path
    assert client.get("/openapi.json").status_code == 200  # the contract stays


def test_configured_docs_come_from_the_app_with_the_pages_headers(settings: Settings) -> None:
    ctx = Context.from_settings(settings.model_copy(update={"api_docs": True}))
    try:
        with TestClient(create_app(ctx=ctx)) as c:
            page = c.get("/docs")
            assert page.status_code == 200
            for name, value in SECURITY_HEADERS.items():
                assert page.headers[name] == value, name
            scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page.text, re.DOTALL)
            assert scripts and all(body == "" for _, body in scripts)  # nothing inline
            sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
            assert sources and all(s.startswith("/docs/assets/") for s in sources), sources
            for source in sources:
                asset = c.get(source)
                assert asset.status_code == 200, source
                assert asset.headers["content-security-policy"] == CSP
            assert "SwaggerUIBundle" in c.get("/docs/assets/init.js").text
            assert c.get("/docs/assets/index.html").status_code == 404
    finally:
        ctx.close()
