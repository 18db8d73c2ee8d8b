"""The second factor in a real browser (headless Chromium, as tests/web/test_browser.py):
enrolment with the QR page, sign-in with a code the test computes with pyotp, a wrong
code and a replayed one refused, a recovery code working once, and a reset from the CLI.
The server runs with the production default: admins and privacy officers need a factor.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlalchemy import select

from hitmachine.services.context import Context
from hitmachine.services.instance import initialise
from hitmachine.settings import Settings
from hitmachine.store.schema import audit_records
from tests.live_server import LiveServer, cli
from tests.web.test_browser import (  # also skips this module without Chromium
    AXE,
    CHROMIUM,
    CHROMIUM_ARGS,
    PASSWORD,
    REQUIRE,
    Console,
    _axe,
    sign_in,
)

ADMIN = "Abel Beheer"
WRONG = "000000"


@dataclass
class Instance:
    settings: Settings
    server: LiveServer
    log: Path


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    base = tmp_path_factory.mktemp("factor")
    settings = Settings(database_url=f"sqlite:///{base / 'hitmachine.db'}",
                        keys_dir=base / "keys")
    assert settings.web_second_factor_roles == ("privacy-officer", "admin")
    initialise(settings)
    cli(settings, "user", "create", "--role", "admin", "--name", ADMIN, stdin=PASSWORD + "\n")
    log = base / "server.log"
    server = LiveServer(settings, log, extra_env={
        "HITMACHINE_SIGN_IN_LIMIT_PER_ADDRESS": "1000/minute",
        "HITMACHINE_SIGN_IN_LIMIT_TOTAL": "1000/minute"}).start()
    try:
        yield Instance(settings, server, log)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser, instance: Instance) -> Iterator[Page]:
    console = Console()
    context = browser.new_context(base_url=instance.server.url, locale="nl-NL",
                                  viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    if AXE.exists():  # an init script: the pages' CSP refuses an injected one
        context.add_init_script(path=str(AXE))
    yield console.watch(context.new_page())
    context.close()
    assert not [e for e in console.errors if "Content Security Policy" in e], console.errors


def _axe_clean(page: Page, name: str) -> None:
    if not AXE.exists():
        if REQUIRE:
            pytest.fail(f"{AXE} is missing: run npm ci --prefix tests/web")
        return
    page.wait_for_load_state("load")
    serious = [f"{name}: {v['id']} ({v['impact']}) {v['help']}" for v in _axe(page)
               if v["impact"] in ("serious", "critical")]
    assert not serious, serious


def _sign_out(page: Page) -> None:
    page.get_by_role("button", name="Afmelden").click()
    expect(page).to_have_url(re.compile(r"/aanmelden\?reden=afgemeld$"))


def _enter(page: Page, code: str) -> None:
    page.get_by_label("Code", exact=True).fill(code)
    page.get_by_role("button", name="Aanmelden").click()


def _events(instance: Instance) -> list[tuple[str, str]]:
    ctx = Context.from_settings(instance.settings)
    try:
        with ctx.db.read() as conn:
            return [(r.event, r.detail) for r in conn.execute(
                select(audit_records.c.event, audit_records.c.detail)
                .order_by(audit_records.c.id))]
    finally:
        ctx.close()


def test_enrol_then_sign_in_with_a_code_and_with_a_recovery_code_once(
        page: Page, instance: Instance) -> None:
    # The password first; an admin without a factor is sent to enrol one.
    sign_in(page, ADMIN)
    expect(page).to_have_url(re.compile(r"/aanmelden/koppelen$"))
    expect(page.get_by_role("img", name=re.compile("QR-code"))).to_be_visible()
    _axe_clean(page, "koppelen")
    secret = page.locator("#sleutel").inner_text().replace(" ", "")
    totp = pyotp.TOTP(secret)
    assert len(secret) == 32
    page.get_by_label("Code uit de app").fill(WRONG if totp.now() != WRONG else "111111")
    page.get_by_role("button", name="Koppelen").click()
    expect(page.locator("#foutsamenvatting")).to_contain_text("klopt niet")
    _axe_clean(page, "koppelen-fout")
    assert page.locator("#sleutel").inner_text().replace(" ", "") == secret  # the same one
    enrolled_code = totp.now()
    page.get_by_label("Code uit de app").fill(enrolled_code)
    page.get_by_role("button", name="Koppelen").click()

    # Signed in, and shown the recovery codes once.
    expect(page.get_by_role("heading", name="Herstelcodes")).to_be_visible()
    _axe_clean(page, "herstelcodes")
    codes = page.locator(".herstelcodes li").all_inner_texts()
    assert len(codes) == 10 and all(re.fullmatch(r"[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}", c)
                                    for c in codes)
    page.get_by_role("link", name=re.compile("verder")).click()
    expect(page).to_have_url(re.compile(r"/(zoeken|audit|beheer/gebruikers)$"))
    _sign_out(page)

    # The password, then the code page: a wrong code and the enrolment's code (a replay
    # while it is still valid) are refused; the next step's code is accepted.
    sign_in(page, ADMIN)
    expect(page).to_have_url(re.compile(r"/aanmelden/code$"))
    _axe_clean(page, "code")
    _enter(page, WRONG if totp.now() != WRONG else "111111")
    expect(page.locator("#foutsamenvatting")).to_contain_text("klopt niet")
    _axe_clean(page, "code-fout")
    _enter(page, enrolled_code)
    expect(page.locator("#foutsamenvatting")).to_contain_text("klopt niet")
    next_code = totp.at(time.time() + 30)
    _enter(page, next_code)
    expect(page).to_have_url(re.compile(r"/(zoeken|audit|beheer/gebruikers)$"))
    _sign_out(page)

    # A recovery code, as typed from paper, works once.
    sign_in(page, ADMIN)
    _enter(page, codes[0].upper().replace("-", " "))
    expect(page).to_have_url(re.compile(r"/(zoeken|audit|beheer/gebruikers)$"))
    _sign_out(page)
    sign_in(page, ADMIN)
    _enter(page, codes[0])
    expect(page.locator("#foutsamenvatting")).to_contain_text("klopt niet")
    _enter(page, codes[1])
    expect(page).to_have_url(re.compile(r"/(zoeken|audit|beheer/gebruikers)$"))

    events = _events(instance)
    names = [e for e, _ in events]
    assert names.count("auth.factor_enrolled") == 1
    assert names.count("auth.factor_verified") == 1
    assert names.count("auth.recovery_code_used") == 2
    assert names.count("auth.factor_failed") == 4
    methods = [d for e, d in events if e == "auth.signin"]
    assert sum('"password+totp"' in d for d in methods) == 2  # enrolment, then a code
    assert sum('"password+recovery_code"' in d for d in methods) == 2

    # A reset from the CLI ends the session; the next sign-in enrols a new factor.
    out = cli(instance.settings, "user", "reset-factor", ADMIN).stdout
    assert "second factor of Abel Beheer removed" in out
    page.goto("/audit")
    expect(page).to_have_url(re.compile(r"/aanmelden"))
    sign_in(page, ADMIN)
    expect(page).to_have_url(re.compile(r"/aanmelden/koppelen$"))
    assert page.locator("#sleutel").inner_text().replace(" ", "") != secret

    # Neither the secret nor a code reached the server's log or the database file.
    log = instance.log.read_text(encoding="utf-8", errors="replace")
    db = Path(instance.settings.database_url.removeprefix("sqlite:///"))
    stored = b"".join(p.read_bytes() for p in (db, db.with_name(db.name + "-wal"))
                      if p.exists())
    for needle in [secret, *codes]:
        assert needle not in log and needle.encode() not in stored


def test_the_code_page_without_a_password_first_goes_back_to_the_password(
        page: Page) -> None:
    page.goto("/aanmelden/code")
    expect(page).to_have_url(re.compile(r"/aanmelden\?reden=code_verlopen$"))
    expect(page.get_by_role("status")).to_contain_text("opnieuw aan")
    page.goto("/aanmelden/koppelen")
    expect(page).to_have_url(re.compile(r"/aanmelden\?reden=code_verlopen$"))
