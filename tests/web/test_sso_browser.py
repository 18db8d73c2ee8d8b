"""Single sign-on end to end: headless Chromium, ``hitmachine serve`` and a real OpenID
provider process (``oidc-provider-mock``, from the dev extra) on loopback ports.

The provider signs real ID tokens (RS256, its own JWKS) for the people configured below.
It copies a person's extra claims into the ID token after its own, so the person with an
``aud`` claim gets a genuine, correctly signed token for another application: the wrong
audience case. The provider does not check PKCE itself (we send S256 and the verifier).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from hitmachine.services.context import Context
from hitmachine.services.instance import initialise
from hitmachine.settings import Settings
from tests.live_server import LiveServer, cli, free_port
from tests.web.test_browser import AXE, CHROMIUM, CHROMIUM_ARGS, PASSWORD, REQUIRE, _missing, shoot
from tests.web.util import records

try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright
except ImportError:  # pragma: no cover - playwright is in the dev extra
    sync_playwright = None  # type: ignore[assignment]

if importlib.util.find_spec("oidc_provider_mock") is None:  # pragma: no cover - dev extra
    if REQUIRE:
        pytest.fail("oidc-provider-mock (dev extra) is missing (HITMACHINE_REQUIRE_BROWSER=1)",
                    pytrace=False)
    pytest.skip("oidc-provider-mock (dev extra) is missing", allow_module_level=True)
if _missing():  # pragma: no cover - test_browser already failed or skipped the same way
    pytest.skip(_missing() or "", allow_module_level=True)

PROVIDER = "Testgemeente"
CLIENT_ID = "hitmachine"
ROLES = {"hm-coordinatoren": "coordinator", "hm-privacy": "privacy-officer",
         "hm-beheer": "admin"}
PEOPLE = [
    {"sub": "u-1001", "preferred_username": "Cora Centraal",
     "groups": ["iedereen", "hm-coordinatoren"]},
    {"sub": "u-1002", "preferred_username": "Pieter Privacy", "groups": ["hm-privacy"]},
    {"sub": "u-1003", "preferred_username": "Nadia Zonderrol", "groups": ["marketing"]},
    # A correctly signed token, but for another application.
    {"sub": "u-1004", "preferred_username": "Walter Anderapp", "groups": ["hm-coordinatoren"],
     "aud": "een-andere-app"},
    # The name of a local password account: refused, never merged with it.
    {"sub": "u-1005", "preferred_username": "Lokale Lotte", "groups": ["hm-coordinatoren"]},
]


@dataclass
class Sso:
    settings: Settings
    server: LiveServer
    provider_url: str
    ctx: Context


def _start_provider(log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    args = [sys.executable, "-m", "oidc_provider_mock", "--port", str(port),
            "--require-nonce"]
    for person in PEOPLE:
        args += ["--user-claims", json.dumps(person)]
    # The provider refuses plain http unless told; it only listens on loopback here.
    env = {**os.environ, "AUTHLIB_INSECURE_TRANSPORT": "1"}
    process = subprocess.Popen(args, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
                               start_new_session=True)
    # "localhost", not 127.0.0.1 like the app: another site, so that the way back from the
    # provider is the cross-site navigation it is in production (SameSite cookies).
    url = f"http://localhost:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the OpenID provider exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/.well-known/openid-configuration", timeout=1).is_success:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    raise AssertionError("the OpenID provider did not start")


@pytest.fixture(scope="module")
def sso(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sso]:
    base = tmp_path_factory.mktemp("sso")
    settings = Settings(database_url=f"sqlite:///{base / 'hitmachine.db'}",
                        keys_dir=base / "keys")
    initialise(settings)
    cli(settings, "user", "create", "--role", "coordinator", "--name", "Lokale Lotte",
        stdin=PASSWORD + "\n")
    secret = base / "client.secret"
    secret.write_text("geheim-van-de-test\n")
    secret.chmod(0o600)
    provider, provider_url = _start_provider(base / "provider.log")
    server = LiveServer(settings, base / "server.log")
    server.extra_env = {
        "HITMACHINE_OIDC_ISSUER": provider_url, "HITMACHINE_OIDC_CLIENT_ID": CLIENT_ID,
        "HITMACHINE_OIDC_CLIENT_SECRET_FILE": str(secret),
        "HITMACHINE_OIDC_PUBLIC_URL": server.url, "HITMACHINE_OIDC_PROVIDER_NAME": PROVIDER,
        "HITMACHINE_OIDC_ROLES": json.dumps(ROLES),
        "HITMACHINE_SIGN_IN_LIMIT_PER_ADDRESS": "1000/minute",
        "HITMACHINE_SIGN_IN_LIMIT_TOTAL": "1000/minute"}
    ctx = Context.from_settings(settings)
    try:
        server.start()
        yield Sso(settings, server, provider_url, ctx)
    finally:
        ctx.close()
        server.stop()
        provider.terminate()
        provider.wait(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser, sso: Sso) -> Iterator[Page]:
    context = browser.new_context(base_url=sso.server.url, locale="nl-NL")
    context.set_default_timeout(10_000)
    if AXE.exists():  # an init script, as in test_browser: the pages' CSP allows no inline one
        context.add_init_script(path=str(AXE))
    errors: list[str] = []
    page = context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    yield page
    context.close()
    assert not [e for e in errors if "Content Security Policy" in e], errors


def sign_in_at_provider(page: Page, sub: str) -> str:
    """From our sign-in page through the provider's form as ``sub``; returns the callback
    URL the provider sent the browser to."""
    callbacks: list[str] = []
    page.on("request", lambda r: callbacks.append(r.url) if "/aanmelden/sso/terug" in r.url
            else None)
    page.goto("/aanmelden")
    page.get_by_role("link", name=f"Inloggen met {PROVIDER}").click()
    page.get_by_role("button", name=sub, exact=True).click()
    page.wait_for_load_state("load")
    assert callbacks, "the provider did not send the browser back"
    return callbacks[0]


def _last(ctx: Context, event: str) -> dict[str, Any]:
    found = records(ctx, event)
    assert found, f"no {event} record"
    return found[-1]


def test_sign_in_with_a_mapped_group_lands_on_the_start_page_with_the_role(
        page: Page, sso: Sso) -> None:
    callback = sign_in_at_provider(page, "u-1001")
    # The coordinator's start page, signed in (the meta refresh carried the session).
    expect(page).to_have_url(f"{sso.server.url}/zoeken")
    expect(page.locator(".kop__gebruiker")).to_contain_text("Cora Centraal")
    expect(page.locator(".kop__gebruiker")).to_contain_text("coördinator")
    # PKCE, state and nonce went to the provider; the callback carried code and state only.
    assert "code=" in callback and "state=" in callback
    signin = _last(sso.ctx, "auth.signin")
    assert signin["actor"] == "Cora Centraal" and signin["role"] == "coordinator"
    assert signin["detail"]["method"] == "oidc"
    created = _last(sso.ctx, "user.create")
    assert created["detail"]["method"] == "oidc" and created["actor"] == "Cora Centraal"
    # The provider's subject is nowhere in the audit log.
    assert "u-1001" not in json.dumps(records(sso.ctx), default=str)


def test_a_privacy_officer_lands_on_the_audit_pages(page: Page, sso: Sso) -> None:
    sign_in_at_provider(page, "u-1002")
    expect(page.locator(".kop__gebruiker")).to_contain_text("Pieter Privacy")
    assert page.url.startswith(f"{sso.server.url}/audit")


def test_a_replayed_callback_is_refused(page: Page, sso: Sso) -> None:
    callback = sign_in_at_provider(page, "u-1001")
    expect(page).to_have_url(f"{sso.server.url}/zoeken")
    response = page.goto(callback)
    assert response is not None and response.status == 400
    expect(page.get_by_role("heading", name="Aanmelden niet gelukt")).to_be_visible()
    expect(page.locator("main")).to_contain_text("al gebruikt")
    refused = _last(sso.ctx, "auth.signin_failed")
    assert refused["detail"] == {"method": "oidc", "reason": "unknown_state"}
    assert refused["outcome"] == "denied"


def test_a_token_for_another_audience_is_refused(page: Page, sso: Sso) -> None:
    sign_in_at_provider(page, "u-1004")
    expect(page.get_by_role("heading", name="Aanmelden niet gelukt")).to_be_visible()
    expect(page.locator("main")).to_contain_text("kon niet worden gecontroleerd")
    assert _last(sso.ctx, "auth.signin_failed")["detail"] == {
        "method": "oidc", "reason": "wrong_audience"}
    page.goto("/zoeken")  # no session was started
    expect(page).to_have_url(f"{sso.server.url}/aanmelden?volgende=/zoeken")


def test_a_person_without_a_mapped_group_is_refused_and_audited(page: Page, sso: Sso) -> None:
    sign_in_at_provider(page, "u-1003")
    expect(page.get_by_role("heading", name="Aanmelden niet gelukt")).to_be_visible()
    expect(page.locator("main")).to_contain_text("groepen die toegang geven")
    refused = _last(sso.ctx, "auth.signin_failed")
    assert refused["detail"] == {"method": "oidc", "reason": "no_role",
                                 "name": "Nadia Zonderrol"}
    assert refused["actor"] == "anonymous"
    users = cli(sso.settings, "user", "list").stdout
    assert "Nadia Zonderrol" not in users  # no account was made


def test_the_name_of_a_local_account_is_not_taken_over(page: Page, sso: Sso) -> None:
    sign_in_at_provider(page, "u-1005")
    expect(page.get_by_role("heading", name="Aanmelden niet gelukt")).to_be_visible()
    assert _last(sso.ctx, "auth.signin_failed")["detail"]["reason"] == "name_taken"
    page.goto("/zoeken")
    expect(page).to_have_url(f"{sso.server.url}/aanmelden?volgende=/zoeken")


def test_sign_out_ends_the_session_here_and_at_the_provider(page: Page, sso: Sso) -> None:
    sign_in_at_provider(page, "u-1001")
    expect(page).to_have_url(f"{sso.server.url}/zoeken")
    page.get_by_role("button", name="Afmelden").click()
    # The provider's end-session page, with our address to come back to.
    expect(page.get_by_role("heading", name="End Session")).to_be_visible()
    assert page.url.startswith(f"{sso.provider_url}/oauth2/end_session?")
    assert _last(sso.ctx, "auth.signout")["actor"] == "Cora Centraal"
    page.get_by_role("button", name="End session").click()
    expect(page).to_have_url(f"{sso.server.url}/aanmelden?reden=afgemeld")
    expect(page.get_by_role("status")).to_contain_text("U bent afgemeld")
    page.goto("/zoeken")
    expect(page).to_have_url(f"{sso.server.url}/aanmelden?volgende=/zoeken")


def test_the_sign_in_page_offers_both_ways_and_is_accessible(page: Page, sso: Sso) -> None:
    page.goto("/aanmelden")
    expect(page.get_by_role("link", name=f"Inloggen met {PROVIDER}")).to_be_visible()
    expect(page.get_by_role("button", name="Aanmelden")).to_be_visible()
    assert not _axe(page)
    shoot(page, "aanmelden-sso")
    sign_in_at_provider(page, "u-1003")  # the refusal page
    assert not _axe(page)
    shoot(page, "aanmelden-sso-geweigerd")


def _axe(page: Page) -> list[dict[str, Any]]:
    if not AXE.exists():  # pragma: no cover - test_browser reports the missing axe-core
        pytest.skip("axe-core missing (npm ci --prefix tests/web)")
    page.wait_for_load_state("load")
    found: list[dict[str, Any]] = page.evaluate(
        "async () => (await axe.run()).violations.map(v => ({id: v.id, impact: v.impact}))")
    return [v for v in found if v["impact"] in ("serious", "critical")]
