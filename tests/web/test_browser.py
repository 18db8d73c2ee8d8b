"""End to end in a real browser: Debian's Chromium, headless, driven by Playwright for
Python, against ``hitmachine serve`` on loopback (SQLite). One server and one browser for
the whole module; each test gets a fresh browser context (its own cookies).

axe-core (from npm: ``npm ci --prefix tests/web``) is injected into every page of the
accessibility test and must find no serious or critical violation.

Set HITMACHINE_SCREENSHOTS=docs/screenshots to (re)write the screenshots of the main pages.
Without Chromium or axe-core these tests are skipped with the reason, unless
HITMACHINE_REQUIRE_BROWSER=1 (as ``.ci/run`` sets): then that is a failure.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from hitmachine.core.principal import Role
from hitmachine.services import admin
from hitmachine.services.context import Context
from hitmachine.services.instance import initialise
from hitmachine.settings import Settings
from hitmachine.store.schema import audit_records
from tests.helpers import publish
from tests.live_server import LiveServer, cli

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).with_name("node_modules") / "axe-core" / "axe.min.js"
REQUIRE = os.environ.get("HITMACHINE_REQUIRE_BROWSER") == "1"
SCREENSHOTS = os.environ.get("HITMACHINE_SCREENSHOTS")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync",
                 "--disable-quic"]

PASSWORD = "paard-batterij-nietje"
COORDINATOR, OFFICER, ADMIN = "Cora Coördinator", "Priya Privacy", "Abel Beheer"
LOCKED = "Lars Vergeetachtig"
ANNA = {"bsn": "111222333", "given_names": "Anna", "surname": "Jansen",
        "date_of_birth": "1980-05-01"}
LOTTE = {"given_names": "Lotte", "prefix": "van der", "surname": "Berg",
         "date_of_birth": "2012-03-04"}
UNKNOWN_BSN = "123456782"
WRONG_BSN = "123456789"  # fails the 11-test
FOLLOWED_BSN = "100000009"  # known to nobody until the follow-up test publishes it
CASE = "VH-2026-0042"
IDENTIFIERS = [ANNA["bsn"], UNKNOWN_BSN, WRONG_BSN, FOLLOWED_BSN, "Jansen", "Lotte",
               "2012-03-04", "04-03-2012", "1980-05-01"]

try:
    from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
    from playwright.sync_api import Error as PlaywrightError
except ImportError:  # pragma: no cover - playwright is in the dev extra
    sync_playwright = None  # type: ignore[assignment]


def _missing() -> str | None:
    if sync_playwright is None:
        return "Playwright for Python is not installed"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    return None


if _missing():
    if REQUIRE:
        pytest.fail(f"{_missing()} (HITMACHINE_REQUIRE_BROWSER=1)", pytrace=False)
    pytest.skip(_missing() or "", allow_module_level=True)


@dataclass
class Instance:
    settings: Settings
    server: LiveServer
    log: Path


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    base = tmp_path_factory.mktemp("browser")
    settings = Settings(database_url=f"sqlite:///{base / 'hitmachine.db'}",
                        keys_dir=base / "keys")
    initialise(settings)
    for role, name in (("coordinator", COORDINATOR), ("privacy-officer", OFFICER),
                       ("admin", ADMIN), ("coordinator", LOCKED)):
        cli(settings, "user", "create", "--role", role, "--name", name, stdin=PASSWORD + "\n")
    log = base / "server.log"
    # One browser signs in from one address many times a minute here; the per-address
    # sign-in limit has its own test (tests/web/test_auth_surface.py).
    # The second factor is off here: these tests are about the pages behind the sign-in;
    # tests/web/test_factor_browser.py signs in with it (the default).
    server = LiveServer(settings, log, extra_env={
        "HITMACHINE_WEB_SECOND_FACTOR_ROLES": "[]",
        "HITMACHINE_SIGN_IN_LIMIT_PER_ADDRESS": "1000/minute",
        "HITMACHINE_SIGN_IN_LIMIT_TOTAL": "1000/minute"}).start()
    ctx = Context.from_settings(settings)
    try:
        with httpx.Client(base_url=server.url) as client:
            for agency, people in (("om", [ANNA]), ("regieteams", [ANNA]),
                                   ("leerplicht", [LOTTE])):
                _, token = admin.create_token(ctx, admin.CONSOLE, name=f"adapter {agency}",
                                              role=Role.ADAPTER, agency=agency,
                                              expires_at=None, request_id="test")
                publish(client, token, agency, people, ctx)  # type: ignore[arg-type]
        yield Instance(settings, server, log)
    finally:
        ctx.close()
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


class Console:
    """Everything the page logged as an error: a CSP violation shows up here."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def watch(self, page: Page) -> Page:
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        return page


@pytest.fixture
def console() -> Console:
    return Console()


def _context(browser: Browser, instance: Instance, **options: Any) -> BrowserContext:
    context = browser.new_context(base_url=instance.server.url, locale="nl-NL",
                                  viewport={"width": 1280, "height": 900}, **options)
    context.set_default_timeout(10_000)
    return context


@pytest.fixture
def page(browser: Browser, instance: Instance, console: Console) -> Iterator[Page]:
    context = _context(browser, instance, accept_downloads=True)
    yield console.watch(context.new_page())
    context.close()
    assert not [e for e in console.errors if "Content Security Policy" in e], console.errors


def sign_in(page: Page, name: str, password: str = PASSWORD) -> None:
    page.goto("/aanmelden")
    page.get_by_label("Gebruikersnaam").fill(name)
    page.get_by_label("Wachtwoord").fill(password)
    page.get_by_role("button", name="Aanmelden").click()


def fill_question(page: Page, *, purpose: str = "casusoverleg", case: str = CASE) -> None:
    page.locator(f"#doel-{purpose}").check()
    page.get_by_label("Zaaknummer").fill(case)


def ask_household(page: Page, members: list[dict[str, str]]) -> None:
    """Fill the query form (adding members with the button) and ask."""
    page.goto("/zoeken")
    fill_question(page)
    for i, member in enumerate(members):
        if i:
            page.get_by_role("button", name="Persoon toevoegen").click()
            expect(page.locator(f"#lid-{i}-bsn")).to_be_focused()
        for name, value in member.items():
            page.locator(f"#lid-{i}-{name}").fill(value)
    page.get_by_role("button", name="Vraag stellen", exact=True).click()


def settled_content(page: Page) -> str:
    """The page's HTML once a navigation in progress (e.g. to an error page) has ended."""
    for _ in range(50):
        try:
            page.wait_for_load_state("load")
            return page.content()
        except PlaywrightError:
            page.wait_for_timeout(100)
    raise AssertionError("the page kept navigating")


def shoot(page: Page, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)


# --- the coordinator ----------------------------------------------------------------------

def test_coordinator_asks_about_a_household_and_sees_the_badges(page: Page,
                                                               instance: Instance) -> None:
    sign_in(page, COORDINATOR)
    expect(page).to_have_url(re.compile(r"/zoeken$"))
    ask_household(page, [{"bsn": ANNA["bsn"]}, {"bsn": UNKNOWN_BSN}])
    expect(page).to_have_url(re.compile(r"/resultaat$"))
    expect(page.get_by_role("heading", name="Resultaat van uw vraag")).to_be_visible()
    known, unknown = page.locator(".uitkomst").nth(0), page.locator(".uitkomst").nth(1)
    expect(known.locator(".badge--bekend")).to_have_text("Bekend")
    expect(known.locator(".organisatie .badge--organisatie")).to_have_text(
        ["Openbaar Ministerie", "Regieteams"])
    expect(known.locator(".badge--basis")).to_have_text(["gevonden op BSN"] * 2)
    expect(known).to_contain_text("OM parket, casusregie")
    expect(unknown.locator(".badge--onbekend")).to_have_text("Niet bekend")
    expect(unknown.locator(".badge--organisatie")).to_have_count(0)
    summary = page.locator(".samenvatting")
    expect(summary).to_contain_text("2 organisaties")
    expect(summary.locator(".badge--domeinen")).to_have_text("Meerdere domeinen")
    # The answer came in the POST's response: nothing identifying in the URL or history.
    assert ANNA["bsn"] not in page.url
    response = page.request.get("/zoeken")
    assert response.headers["cache-control"] == "no-store"


def test_result_is_gone_after_sign_out_and_back(page: Page) -> None:
    sign_in(page, COORDINATOR)
    ask_household(page, [{"bsn": ANNA["bsn"]}])
    expect(page.locator(".badge--bekend")).to_be_visible()
    page.get_by_role("button", name="Afmelden").click()
    expect(page).to_have_url(re.compile(r"/aanmelden\?reden=afgemeld$"))
    expect(page.get_by_role("status")).to_contain_text("U bent afgemeld")
    try:
        page.go_back()
    except Exception:  # the no-store POST result cannot be shown again; that is the point
        pass
    assert ANNA["bsn"] not in settled_content(page)
    page.goto("/zoeken")
    expect(page).to_have_url(re.compile(r"/aanmelden\?volgende=/zoeken$"))


def test_the_match_basis_badge_stays_beside_the_agency(page: Page) -> None:
    """Issue 14 item 12: the basis badge ("gevonden op naam en geboortedatum", the longest)
    sits on the agency badge's line, and the contact beside them, at a desktop width."""
    sign_in(page, COORDINATOR)
    ask_household(page, [{"voornamen": LOTTE["given_names"], "tussenvoegsel": LOTTE["prefix"],
                          "achternaam": LOTTE["surname"], "geboortedatum": "04-03-2012"}])
    organisation = page.locator(".organisatie").first
    expect(organisation.locator(".badge--basis")).to_have_text(
        "gevonden op naam en geboortedatum")
    name = organisation.locator(".badge--organisatie").bounding_box()
    basis = organisation.locator(".badge--basis").bounding_box()
    contact = organisation.locator(".organisatie__contact").bounding_box()
    assert name and basis and contact
    assert abs(basis["y"] - name["y"]) < 4, (name, basis)
    assert basis["x"] > name["x"] + name["width"]
    assert contact["x"] >= basis["x"] + basis["width"], (basis, contact)


def test_the_remove_button_reads_with_spaces(page: Page) -> None:
    sign_in(page, COORDINATOR)
    page.goto("/zoeken")
    page.get_by_role("button", name="Persoon toevoegen").click()
    button = page.locator("[data-verwijder]").first
    assert button.inner_text() == "Persoon 1 verwijderen"
    expect(page.get_by_role("button", name="Persoon 1 verwijderen", exact=True)).to_be_visible()


def test_a_wrong_password_is_reported_once(page: Page) -> None:
    sign_in(page, COORDINATOR, "not the password")
    expect(page.get_by_text(re.compile("klopt niet"))).to_have_count(1)
    expect(page.locator("#naam")).not_to_have_attribute("aria-invalid", "true")
    outline = page.evaluate("getComputedStyle(document.querySelector('#naam')).borderColor")
    plain = page.evaluate("getComputedStyle(document.querySelector('#wachtwoord')).borderColor")
    assert outline == plain


def test_a_wrong_bsn_shows_the_field_error(page: Page) -> None:
    sign_in(page, COORDINATOR)
    ask_household(page, [{"bsn": WRONG_BSN}])
    summary = page.locator("#foutsamenvatting")
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("elfproef")
    field = page.locator("#lid-0-bsn")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_value(WRONG_BSN)
    expect(page.locator("#lid-0-bsn-fout")).to_contain_text("elfproef")
    summary.get_by_role("link").first.click()
    expect(field).to_be_focused()
    assert WRONG_BSN not in page.url


def test_the_query_form_works_with_the_keyboard_alone(page: Page) -> None:
    sign_in(page, COORDINATOR)
    page.goto("/zoeken")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Direct naar de inhoud")
    expect(skip).to_be_focused()
    assert skip.bounding_box()["y"] >= 0  # type: ignore[index]  # visible when focused
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    # Tab to the first purpose, choose it with the space bar, on to the case reference.
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.name") == "doel":
            break
    page.keyboard.press("Space")
    expect(page.locator("#doel-casusoverleg")).to_be_checked()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Zaaknummer")).to_be_focused()
    page.keyboard.type(CASE)
    page.keyboard.press("Tab")
    page.keyboard.type(ANNA["bsn"])
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # focus is visible
    for _ in range(10):  # on to "Persoon toevoegen"
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "lid-toevoegen":
            break
    page.keyboard.press("Enter")
    expect(page.locator("#lid-1-bsn")).to_be_focused()
    expect(page.locator("#leden-melding")).to_have_text("Persoon 2 toegevoegd.")
    page.keyboard.type(UNKNOWN_BSN)
    page.keyboard.press("Enter")  # submits the question, it does not remove anyone
    expect(page).to_have_url(re.compile(r"/resultaat$"))
    expect(page.locator(".uitkomst")).to_have_count(2)


def test_members_are_added_and_removed_in_the_page(page: Page) -> None:
    sign_in(page, COORDINATOR)
    page.goto("/zoeken")
    expect(page.locator("[data-verwijder]:visible")).to_have_count(0)
    add = page.get_by_role("button", name="Persoon toevoegen")
    add.click()
    add.click()
    expect(page.locator("[data-lid]")).to_have_count(3)
    page.locator("#lid-1-bsn").fill(UNKNOWN_BSN)
    page.locator("#lid-2-bsn").fill(ANNA["bsn"])
    page.get_by_role("button", name="Persoon 1 verwijderen").click()
    expect(page.locator("[data-lid]")).to_have_count(2)
    expect(page.locator("#lid-0-bsn")).to_have_value(UNKNOWN_BSN)  # renumbered
    expect(page.locator("#lid-1-bsn")).to_have_value(ANNA["bsn"])
    expect(page.locator("#lid-0-bsn")).to_be_focused()
    expect(page.locator("#leden-melding")).to_have_text("Persoon 1 verwijderd.")
    expect(page.get_by_text("Persoon 2", exact=True)).to_be_visible()


def test_without_javascript_the_form_still_adds_members_and_asks(
        browser: Browser, instance: Instance) -> None:
    context = _context(browser, instance, java_script_enabled=False)
    page = context.new_page()
    try:
        sign_in(page, COORDINATOR)
        page.goto("/zoeken")
        fill_question(page)
        page.locator("#lid-0-bsn").fill(ANNA["bsn"])
        page.get_by_role("button", name="Persoon toevoegen").click()
        expect(page).to_have_url(re.compile(r"/zoeken$"))
        page.locator("#lid-1-bsn").fill(UNKNOWN_BSN)
        expect(page.locator("#lid-0-bsn")).to_have_value(ANNA["bsn"])
        expect(page.locator("#zaaknummer")).to_have_value(CASE)
        page.get_by_role("button", name="Vraag stellen", exact=True).click()
        expect(page.locator(".uitkomst")).to_have_count(2)
    finally:
        context.close()


def test_a_coordinator_cannot_open_privacy_officer_pages(page: Page) -> None:
    sign_in(page, COORDINATOR)
    expect(page.get_by_role("navigation", name="Hoofdmenu").get_by_role("link")).to_have_text(
        ["Vraag stellen", "Meldingen"])
    for path in ("/audit", "/audit/verifieren", "/audit/betrokkene", "/statistieken",
                 "/audit/export?formaat=csv", "/beheer/gebruikers", "/dpia", "/dpia.md"):
        response = page.goto(path)
        assert response is not None and response.status == 403, path
        expect(page.get_by_role("heading", level=1)).to_have_text("Geen toegang")


def test_the_privacy_officer_opens_the_dpia_from_the_menu_and_prints_it(page: Page) -> None:
    sign_in(page, OFFICER)
    page.get_by_role("navigation", name="Hoofdmenu").get_by_role("link", name="DPIA").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Beschrijving van de verwerking (DPIA)")
    expect(page.get_by_role("heading", level=2)).to_have_count(9)
    expect(page.get_by_role("table", name="Ketenpartners en verstrekkingsregels")).to_be_visible()
    page.emulate_media(media="print")  # the printed page: no menu, header or download link
    expect(page.get_by_role("navigation", name="Hoofdmenu")).to_be_hidden()
    expect(page.get_by_role("link", name="Download als Markdown")).to_be_hidden()
    expect(page.get_by_role("table", name="Tegenstanders")).to_be_visible()


def test_a_form_post_without_csrf_token_is_refused(page: Page, console: Console) -> None:
    sign_in(page, COORDINATOR)
    page.goto("/zoeken")
    fill_question(page)
    page.locator("#lid-0-bsn").fill(ANNA["bsn"])
    page.evaluate("document.querySelector('#vraag input[name=csrf_token]').remove()")
    page.get_by_role("button", name="Vraag stellen", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Formulier verlopen of ongeldig")
    expect(page.locator(".badge--bekend")).to_have_count(0)
    # The same post from script, with the session cookie but no token: refused too.
    refused = page.request.post("/resultaat", form={"doel": "casusoverleg", "zaaknummer": CASE,
                                                    "lid-0-bsn": ANNA["bsn"]})
    assert refused.status == 403
    # And the CSP is enforced: an injected inline script does not run.
    page.evaluate("() => { const s = document.createElement('script');"
                  " s.textContent = 'window.ran = true'; document.body.append(s); }")
    assert page.evaluate("window.ran === undefined")
    assert any("Content Security Policy" in e for e in console.errors)
    console.errors.clear()


def test_five_wrong_passwords_lock_the_account(page: Page, instance: Instance) -> None:
    for attempt in range(1, 6):
        sign_in(page, LOCKED, "dit is het niet")
        expect(page.locator("#foutsamenvatting")).to_be_visible()
        if attempt < 5:
            expect(page.locator("#foutsamenvatting")).to_contain_text("klopt niet")
    expect(page.locator("#foutsamenvatting")).to_contain_text("geblokkeerd")
    sign_in(page, LOCKED)  # the right password, too late
    expect(page.locator("#foutsamenvatting")).to_contain_text("geblokkeerd")
    expect(page).to_have_url(re.compile(r"/aanmelden$"))
    listed = cli(instance.settings, "user", "list").stdout
    assert re.search(rf"locked until .*\t{LOCKED}$", listed, re.MULTILINE), listed
    cli(instance.settings, "user", "unlock", "--name", LOCKED)
    sign_in(page, LOCKED)
    expect(page).to_have_url(re.compile(r"/zoeken$"))


# --- the privacy officer --------------------------------------------------------------------

def test_privacy_officer_filters_verifies_exports_and_finds_the_subject(
        page: Page, browser: Browser, instance: Instance) -> None:
    # The coordinator asks about a household with a unique case reference.
    coordinator = _context(browser, instance)
    cpage = coordinator.new_page()
    sign_in(cpage, COORDINATOR)
    cpage.goto("/zoeken")
    fill_question(cpage, case="VH-2026-0777")
    cpage.locator("#lid-0-bsn").fill(ANNA["bsn"])
    cpage.get_by_role("button", name="Vraag stellen", exact=True).click()
    expect(cpage.locator(".badge--bekend")).to_be_visible()
    coordinator.close()

    sign_in(page, OFFICER)
    expect(page).to_have_url(re.compile(r"/audit$"))
    # Filter the log.
    page.get_by_label("Gebeurtenis").select_option("query.household")
    page.get_by_label("Zaaknummer").fill("VH-2026-0777")
    page.get_by_label("Gebruiker").fill(COORDINATOR)
    page.get_by_role("button", name="Filteren").click()
    expect(page.get_by_role("status")).to_contain_text("1 record gevonden")
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(COORDINATOR)
    expect(rows.first).to_contain_text("VH-2026-0777")
    expect(rows.first).to_contain_text("om, regieteams")
    # Export the selection, as CSV and as JSON lines.
    with page.expect_download() as download:
        page.get_by_role("button", name="CSV").click()
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert download.value.suggested_filename.endswith(".csv")
    exported = list(csv.DictReader(io.StringIO(text)))
    assert len(exported) == 1 and "VH-2026-0777" in text and ANNA["bsn"] not in text
    with page.expect_download() as download:
        page.get_by_role("button", name="JSON Lines").click()
    lines = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["case_reference"] == "VH-2026-0777"
    # Verify the chain.
    page.get_by_role("navigation", name="Hoofdmenu").get_by_role(
        "link", name="Keten verifiëren").click()
    page.get_by_role("button", name="Keten verifiëren").click()
    expect(page.locator(".melding--succes")).to_contain_text("De keten is intact")
    expect(page.locator("#checkpoint")).to_contain_text(instance.settings.origin)
    # The data-subject request finds the coordinator's query.
    page.get_by_role("link", name="Inzageverzoek").click()
    page.get_by_label("BSN").fill(ANNA["bsn"])
    page.get_by_role("button", name="Records zoeken").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Overzicht voor een inzageverzoek")
    row = page.locator("tbody tr", has_text="VH-2026-0777").filter(
        has_text="Vraag over huishouden")
    expect(row).to_have_count(1)
    # the query's hit signals to the two agencies are processing about her too (issue 16)
    signalled = page.locator("tbody tr", has_text="VH-2026-0777").filter(
        has_text="Melding verstuurd")
    expect(signalled).to_have_text([re.compile("Gemeld aan: Openbaar Ministerie"),
                                    re.compile("Gemeld aan: Regieteams")])
    expect(row).to_contain_text(COORDINATOR)
    expect(row).to_contain_text("Bekend bij: Openbaar Ministerie, Regieteams")
    expect(page.get_by_role("button", name="Afdrukken")).to_be_visible()
    assert ANNA["bsn"] not in page.url


def test_the_statistics_page_shows_charts(page: Page, browser: Browser,
                                          instance: Instance) -> None:
    # Its own question first: charts are drawn only once there is something to count, and
    # this test must not depend on the ones before it having asked.
    coordinator = _context(browser, instance)
    cpage = coordinator.new_page()
    sign_in(cpage, COORDINATOR)
    ask_household(cpage, [{"bsn": ANNA["bsn"]}])
    expect(cpage.locator(".badge--bekend")).to_be_visible()
    coordinator.close()

    sign_in(page, OFFICER)
    page.goto("/statistieken")
    expect(page.locator("svg[role=img]")).to_have_count(5)
    expect(page.locator(".kengetal").first).to_contain_text(re.compile(r"vra(ag|gen)"))
    page.get_by_text("Cijfers als tabel").first.click()
    expect(page.locator("#tabel-week")).to_be_visible()


# --- signals and follow-ups (issue 16) -------------------------------------------------------

def test_a_followed_household_reaches_the_inbox_and_is_acknowledged_axe_clean(
        browser: Browser, instance: Instance, console: Console) -> None:
    """Ask, press "Volg dit huishouden", a second agency publishes the household (through
    the API, as its adapter would), and the coordinator's inbox shows the signal, which
    is acknowledged with its button; axe finds nothing serious on the inbox either way.
    ("axe" in the name: ``make screenshots`` runs it too, before the axe tour, so that the
    tour's inbox screenshot shows a signal and a follow-up.)"""
    if not AXE.exists():
        reason = f"{AXE} is missing: run npm ci --prefix tests/web"
        if REQUIRE:
            pytest.fail(reason + " (HITMACHINE_REQUIRE_BROWSER=1)")
        pytest.skip(reason)
    context = _context(browser, instance)
    context.add_init_script(path=str(AXE))
    page = console.watch(context.new_page())
    sign_in(page, COORDINATOR)
    page.goto("/zoeken")
    fill_question(page, case="VH-2026-0099")
    page.locator("#lid-0-bsn").fill(FOLLOWED_BSN)
    page.get_by_role("button", name="Vraag stellen", exact=True).click()
    expect(page.locator(".badge--onbekend")).to_have_text("Niet bekend")
    days = page.get_by_label("Aantal dagen")
    expect(days).to_have_value("90")  # the purpose's maximum
    days.fill("30")
    page.get_by_role("button", name="Volg dit huishouden").click()
    expect(page.get_by_role("heading", name="Dit huishouden wordt gevolgd")).to_be_visible()
    assert FOLLOWED_BSN not in page.url

    ctx = Context.from_settings(instance.settings)
    try:
        _, token = admin.create_token(ctx, admin.CONSOLE, name="adapter reclassering",
                                      role=Role.ADAPTER, agency="reclassering",
                                      expires_at=None, request_id="test")
        with httpx.Client(base_url=instance.server.url) as client:
            publish(client, token, "reclassering", [{"bsn": FOLLOWED_BSN}],  # type: ignore[arg-type]
                    ctx)
    finally:
        ctx.close()

    page.goto("/zoeken")
    page.get_by_role("link", name="Meldingen (1 nieuw)").click()
    expect(page.get_by_role("heading", name="Nieuw (1)")).to_be_visible()
    card = page.locator(".uitkomst--bekend")
    expect(card).to_contain_text("Volgvraag: nieuwe partner")
    expect(card).to_contain_text("is nu bekend bij Reclassering")
    expect(card).to_contain_text("Reclassering, unit Veiligheidshuis")
    expect(page.locator("table")).to_contain_text("VH-2026-0099")
    serious = [v for v in _axe(page) if v["impact"] in ("serious", "critical")]
    card.get_by_role("button", name=re.compile(r"^Afhandelen")).click()
    expect(page.get_by_role("status")).to_have_text("De melding is afgehandeld.")
    expect(page.get_by_role("heading", name="Nieuw (0)")).to_be_visible()
    expect(page.get_by_role("heading", name="Afgehandeld (1)")).to_be_visible()
    expect(page.get_by_role("link", name="Meldingen", exact=True)).to_be_visible()
    serious += [v for v in _axe(page) if v["impact"] in ("serious", "critical")]
    assert not serious, [(v["id"], v["help"]) for v in serious]
    context.close()


# --- accessibility and screenshots ------------------------------------------------------

def _axe(page: Page) -> list[dict[str, Any]]:
    result = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    return list(result)


AXE_REPORT: dict[str, list[str]] = {}


def test_axe_finds_no_serious_or_critical_violation_on_any_page(
        browser: Browser, instance: Instance) -> None:
    if not AXE.exists():
        reason = f"{AXE} is missing: run npm ci --prefix tests/web"
        if REQUIRE:
            pytest.fail(reason + " (HITMACHINE_REQUIRE_BROWSER=1)")
        pytest.skip(reason)
    serious: list[str] = []

    def check(page: Page, name: str) -> None:
        page.wait_for_load_state("load")
        violations = _axe(page)
        AXE_REPORT[name] = [f"{v['id']} ({v['impact']}): {len(v['nodes'])}" for v in violations]
        serious.extend(f"{name}: {v['id']} ({v['impact']}) {v['help']} — "
                       f"{[n['target'] for n in v['nodes']][:3]}"
                       for v in violations if v["impact"] in ("serious", "critical"))
        shoot(page, name)

    def context() -> tuple[BrowserContext, Page]:
        ctx = _context(browser, instance)
        ctx.add_init_script(path=str(AXE))
        return ctx, ctx.new_page()

    ctx, page = context()
    page.goto("/aanmelden")
    check(page, "aanmelden")
    page.get_by_role("button", name="Aanmelden").click()
    check(page, "aanmelden-fout")
    sign_in(page, COORDINATOR)
    page.goto("/zoeken")
    check(page, "zoeken")
    ask_household(page, [{"bsn": ANNA["bsn"]},
                         {"voornamen": LOTTE["given_names"], "tussenvoegsel": LOTTE["prefix"],
                          "achternaam": LOTTE["surname"], "geboortedatum": "04-03-2012"},
                         {"bsn": UNKNOWN_BSN}])
    expect(page.locator(".uitkomst")).to_have_count(3)
    check(page, "resultaat")
    ask_household(page, [{"bsn": WRONG_BSN}, {"voornamen": "Piet", "geboortedatum": "31-02-2001"}])
    check(page, "zoeken-fout")
    page.goto("/meldingen")
    check(page, "meldingen")
    page.goto("/audit")
    check(page, "geen-toegang")
    page.goto("/bestaat-niet")
    check(page, "niet-gevonden")
    ctx.close()

    ctx, page = context()
    sign_in(page, OFFICER)
    page.goto("/audit")
    check(page, "auditlog")
    page.goto("/audit?van=31-02-2025")
    check(page, "auditlog-fout")
    page.goto("/audit/verifieren")
    page.get_by_role("button", name="Keten verifiëren").click()
    expect(page.locator(".melding--succes")).to_be_visible()
    check(page, "verifieren")
    page.goto("/audit/betrokkene")
    check(page, "betrokkene")
    page.get_by_role("button", name="Records zoeken").click()
    check(page, "betrokkene-fout")
    page.get_by_label("BSN").fill(ANNA["bsn"])
    page.get_by_role("button", name="Records zoeken").click()
    check(page, "betrokkene-overzicht")
    page.goto("/statistieken")
    check(page, "statistieken")
    page.goto("/dpia")
    check(page, "dpia")
    ctx.close()

    ctx, page = context()
    sign_in(page, ADMIN)
    page.goto("/beheer/gebruikers")
    check(page, "gebruikers")
    ctx.close()
    print("\naxe-core " + page_version_note() + ", violations per page (any impact):")
    for name, found in AXE_REPORT.items():
        print(f"  {name}: {', '.join(found) if found else 'none'}")
    assert not serious, "\n".join(serious)


def page_version_note() -> str:
    head = AXE.read_text(encoding="utf-8")[:40]
    match = re.search(r"axe v([\d.]+)", head)
    return match.group(1) if match else "?"


# --- what must never leave a trace ----------------------------------------------------------

def test_no_identifier_reached_the_access_log_or_the_database(instance: Instance) -> None:
    log = instance.log.read_text(encoding="utf-8", errors="replace")
    assert "POST /resultaat" in log and "GET /zoeken" in log  # the access log was written
    db = Path(instance.settings.database_url.removeprefix("sqlite:///"))
    stored = b"".join(p.read_bytes() for p in (db, db.with_name(db.name + "-wal"))
                      if p.exists())
    for needle in IDENTIFIERS:
        assert needle not in log, f"{needle} in the server's log"
        assert needle.encode() not in stored, f"{needle} in the database"
    ctx = Context.from_settings(instance.settings)
    try:
        with ctx.db.read() as conn:
            events = {r.event for r in conn.execute(select(audit_records.c.event))}
    finally:
        ctx.close()
    assert {"auth.signin", "auth.signin_failed", "auth.signout", "auth.locked", "auth.denied",
            "query.household", "audit.read", "audit.verify", "audit.statistics",
            "follow_up.open", "follow_up.change", "signal.fetch", "signal.ack"} <= events
