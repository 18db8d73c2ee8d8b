"""The second factor's pages over HTTP (both databases): what the cookie between password
and code can and cannot do, CSRF, the sign-in rate limits, lock-out and the next page.
The browser test (tests/web/test_factor_browser.py) walks the same pages in Chromium."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from hitmachine.http.app import create_app
from hitmachine.services.context import Context
from hitmachine.settings import Settings
from hitmachine.store.schema import web_sessions
from tests.web.util import ACCOUNTS, PASSWORD, csrf, make_accounts, records, sign_in

ADMIN = ACCOUNTS["admin"][0]
_SECRET = re.compile(r'id="sleutel">([A-Z2-7 ]+)</p>')


@pytest.fixture
def fctx(settings: Settings) -> Iterator[Context]:
    """The shared fixtures switch the factor off; these tests run with the default."""
    changed = settings.model_copy(update={
        "web_second_factor_roles": Settings().web_second_factor_roles})
    context = Context.from_settings(changed)
    make_accounts(context)
    yield context
    context.close()


@pytest.fixture
def fweb(fctx: Context) -> Iterator[TestClient]:
    with TestClient(create_app(ctx=fctx), raise_server_exceptions=False) as c:
        yield c


def _sessions(ctx: Context) -> int:
    with ctx.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(web_sessions)).scalar_one())


def _enrol(web: TestClient, who: str = "admin") -> pyotp.TOTP:
    """Sign in as ``who`` and enrol; returns the factor (the session is started)."""
    r = sign_in(web, who)
    assert r.status_code == 303 and r.headers["location"] == "/aanmelden/koppelen"
    page = web.get("/aanmelden/koppelen")
    match = _SECRET.search(page.text)
    assert match, page.text
    totp = pyotp.TOTP(match.group(1).replace(" ", ""))
    done = web.post("/aanmelden/koppelen", data={"csrf_token": csrf(page.text),
                                                 "code": totp.now()})
    assert done.status_code == 200 and "Herstelcodes" in done.text
    return totp


def _post_code(web: TestClient, code: str, **headers: str) -> Any:
    page = web.get("/aanmelden/code")
    assert page.status_code == 200, page.text
    return web.post("/aanmelden/code", data={"csrf_token": csrf(page.text), "code": code},
                    headers=headers, follow_redirects=False)


def test_the_password_alone_starts_no_session_and_opens_no_page(
        fweb: TestClient, fctx: Context) -> None:
    r = sign_in(fweb, "admin")
    assert r.status_code == 303 and r.headers["location"] == "/aanmelden/koppelen"
    cookie = r.headers["set-cookie"]
    assert "hm_factor=" in cookie and "HttpOnly" in cookie and "Path=/aanmelden" in cookie
    assert "samesite=strict" in cookie.lower() and "hm_session" not in cookie
    assert _sessions(fctx) == 0
    for path in ("/beheer/gebruikers", "/audit"):
        assert fweb.get(path, follow_redirects=False).headers["location"].startswith(
            "/aanmelden")
    assert records(fctx, "auth.signin") == []
    # The enrolment page has no script and loads nothing from elsewhere.
    page = fweb.get("/aanmelden/koppelen")
    assert page.status_code == 200 and "<svg" in page.text and 'role="img"' in page.text
    assert "otpauth://" not in page.text  # only inside the QR code, never as text or link
    assert page.headers["cache-control"] == "no-store"


def test_a_coordinator_signs_in_with_the_password_alone(fweb: TestClient,
                                                        fctx: Context) -> None:
    r = sign_in(fweb, "coordinator")
    assert r.status_code == 303 and r.headers["location"] == "/zoeken"
    assert _sessions(fctx) == 1


def test_the_code_page_needs_the_sign_in_token_and_this_origin(
        fweb: TestClient, fctx: Context) -> None:
    totp = _enrol(fweb)
    fweb.post("/afmelden", data={"csrf_token": csrf(fweb.get("/beheer/gebruikers").text)})
    sign_in(fweb, "admin")
    page = fweb.get("/aanmelden/code")
    form = {"csrf_token": csrf(page.text), "code": totp.at(time.time() + 30)}
    assert fweb.post("/aanmelden/code", data={**form, "csrf_token": "x" * 43}).status_code \
        == 403
    assert fweb.post("/aanmelden/code", data=form,
                     headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert records(fctx, "auth.denied")[-1]["detail"]["reason"] == "csrf"
    assert records(fctx, "auth.factor_failed") == []  # refused before any code was checked
    r = fweb.post("/aanmelden/code", data=form, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/beheer/gebruikers"
    assert "hm_factor=\"\"" in r.headers["set-cookie"] or "hm_factor=;" in \
        r.headers["set-cookie"]


def test_the_next_page_survives_the_code(fweb: TestClient) -> None:
    totp = _enrol(fweb, "privacy-officer")
    fweb.post("/afmelden", data={"csrf_token": csrf(fweb.get("/audit").text)})
    page = fweb.get("/aanmelden?volgende=/statistieken")
    r = fweb.post("/aanmelden", data={"csrf_token": csrf(page.text),
                                      "naam": ACCOUNTS["privacy-officer"][0],
                                      "wachtwoord": PASSWORD, "volgende": "/statistieken"},
                  follow_redirects=False)
    assert r.headers["location"] == "/aanmelden/code"
    done = _post_code(fweb, totp.at(time.time() + 30))
    assert done.status_code == 303 and done.headers["location"] == "/statistieken"


def test_codes_count_against_the_sign_in_rate_limit(settings: Settings) -> None:
    changed = settings.model_copy(update={
        "web_second_factor_roles": ("admin",), "sign_in_limit_per_address": "3/minute"})
    ctx = Context.from_settings(changed)
    try:
        make_accounts(ctx)
        web = TestClient(create_app(ctx=ctx), client=("192.0.2.7", 5000))
        assert sign_in(web, "admin").status_code == 303          # 1: the password
        page = web.get("/aanmelden/koppelen")
        form = {"csrf_token": csrf(page.text), "code": "000000"}
        statuses = [web.post("/aanmelden/koppelen", data=form).status_code for _ in range(3)]
        assert statuses == [401, 401, 429]                      # 2, 3, then over
        last = web.post("/aanmelden/koppelen", data=form)
        assert last.status_code == 429 and int(last.headers["retry-after"]) >= 1
        assert "te vaak" in last.text
        assert len(records(ctx, "auth.factor_failed")) == 2  # the refused ones unchecked
    finally:
        ctx.close()


def test_an_empty_code_is_asked_for_again_and_not_counted(fweb: TestClient,
                                                          fctx: Context) -> None:
    sign_in(fweb, "admin")
    page = fweb.get("/aanmelden/koppelen")
    r = fweb.post("/aanmelden/koppelen", data={"csrf_token": csrf(page.text), "code": " "})
    assert r.status_code == 422 and "Vul de code" in r.text
    assert records(fctx, "auth.factor_failed") == []


def test_wrong_codes_lock_and_send_back_to_the_password(fweb: TestClient,
                                                        fctx: Context) -> None:
    totp = _enrol(fweb)
    fweb.post("/afmelden", data={"csrf_token": csrf(fweb.get("/beheer/gebruikers").text)})
    sign_in(fweb, "admin")
    wrong = "000000" if totp.now() != "000000" else "111111"
    for _ in range(fctx.settings.web_lockout_attempts - 1):
        r = _post_code(fweb, wrong)
        assert r.status_code == 401 and "klopt niet" in r.text
    r = _post_code(fweb, wrong)
    assert r.status_code == 303 and r.headers["location"] == "/aanmelden?reden=code_geblokkeerd"
    assert len(records(fctx, "auth.locked")) == 1
    page = fweb.get(r.headers["location"])
    assert "te vaak een verkeerde code" in page.text
    # The right password now gets the same answer as any refusal, and no code page.
    r = sign_in(fweb, "admin")
    assert r.status_code == 401
    assert fweb.get("/aanmelden/code", follow_redirects=False).headers["location"] \
        == "/aanmelden?reden=code_verlopen"
