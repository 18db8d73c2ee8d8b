"""The web pages through the app, on both databases: sessions, CSRF, roles, the query and
its audit record, field errors, and the headers every page carries."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from hitmachine.core.clock import iso_utc, utc_now
from hitmachine.http.app import create_app
from hitmachine.http.web.middleware import CSP
from hitmachine.http.web.sessions import COOKIE, SIGN_IN_COOKIE
from hitmachine.services.context import Context
from hitmachine.store.schema import web_sessions
from hitmachine.store.users import hash_session_id
from tests.conftest import Tokens
from tests.helpers import publish
from tests.web.util import ACCOUNTS, PASSWORD, csrf, make_accounts, records, sign_in, token_of

ANNA = {"bsn": "111222333", "given_names": "Anna", "surname": "Jansen",
        "date_of_birth": "1980-05-01"}
LOTTE = {"given_names": "Lotte", "prefix": "van der", "surname": "Berg",
         "date_of_birth": "2012-03-04"}
UNKNOWN_BSN = "123456782"
PAGES = {  # path -> roles that may open it
    "/zoeken": {"coordinator"},
    "/meldingen": {"coordinator"},
    "/audit": {"privacy-officer"},
    "/statistieken": {"privacy-officer"},
    "/audit/betrokkene": {"privacy-officer"},
    "/dpia": {"privacy-officer"},
    "/beheer/gebruikers": {"admin"},
}


@pytest.fixture
def web(client: TestClient, ctx: Context) -> TestClient:
    make_accounts(ctx)
    return client


def _ask(client: TestClient, members: list[dict[str, str]], **fields: str) -> Any:
    data = {"csrf_token": token_of(client, "/zoeken"), "doel": "casusoverleg",
            "zaaknummer": "VH-2026-0042", **fields}
    for i, m in enumerate(members):
        data.update({f"lid-{i}-{k}": v for k, v in m.items()})
    return client.post("/resultaat", data=data)


def test_signing_in_sets_a_strict_httponly_cookie_and_a_new_session(web: TestClient,
                                                                    ctx: Context) -> None:
    pre = "p" * 43  # a session id planted before sign-in is worth nothing after it
    web.cookies.set(COOKIE, pre, domain="testserver.local")
    page = web.get("/aanmelden")
    cookie = page.headers["set-cookie"]  # the sign-in form's token; no session is stored
    assert cookie.startswith(SIGN_IN_COOKIE) and "Path=/aanmelden" in cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
    r = sign_in(web, "coordinator")
    assert r.status_code == 303 and r.headers["location"] == "/zoeken"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
    assert web.cookies[COOKIE] != pre
    with ctx.db.read() as conn:
        hashes = {row.session_hash for row in conn.execute(select(web_sessions))}
    assert hashes == {hash_session_id(web.cookies[COOKIE])}
    [signin] = records(ctx, "auth.signin")
    assert signin["actor"] == ACCOUNTS["coordinator"][0] and signin["role"] == "coordinator"


def test_the_cookie_is_secure_over_https(ctx: Context) -> None:
    make_accounts(ctx)
    with TestClient(create_app(ctx=ctx), base_url="https://hitmachine.test") as c:
        r = c.get("/aanmelden")
        assert "Secure" in r.headers["set-cookie"]
        assert r.headers["strict-transport-security"].startswith("max-age=")
        assert sign_in(c, "coordinator").status_code == 303
        assert c.get("/zoeken").status_code == 200


def test_wrong_password_shows_an_error_and_five_lock_the_account(web: TestClient,
                                                                 ctx: Context) -> None:
    for _ in range(5):
        r = sign_in(web, "coordinator", "not the password")
        assert r.status_code == 401 and "klopt niet" in r.text and "geblokkeerd" in r.text
    r = sign_in(web, "coordinator")  # locked: the same answer as a wrong password
    assert r.status_code == 401 and "klopt niet" in r.text
    assert len(records(ctx, "auth.locked")) == 1
    # The administrator unlocks it on the web page.
    admin_client = TestClient(web.app)
    assert sign_in(admin_client, "admin").status_code == 303
    page = admin_client.get("/beheer/gebruikers")
    assert "Geblokkeerd" in page.text
    r = admin_client.post("/beheer/gebruikers/ontgrendelen",
                          data={"csrf_token": csrf(page.text),
                                "gebruiker": ACCOUNTS["coordinator"][0]})
    assert r.status_code == 200 and "ontgrendeld" in r.text
    assert records(ctx, "auth.unlock")[0]["actor"] == ACCOUNTS["admin"][0]
    assert sign_in(web, "coordinator").status_code == 303


def test_empty_sign_in_fields_are_field_errors(web: TestClient) -> None:
    page = web.get("/aanmelden")
    r = web.post("/aanmelden", data={"csrf_token": csrf(page.text), "naam": "", "wachtwoord": ""})
    assert r.status_code == 422
    assert 'href="#naam"' in r.text and 'href="#wachtwoord"' in r.text


@pytest.mark.parametrize("path", sorted(PAGES))
def test_pages_need_a_session(web: TestClient, path: str) -> None:
    r = web.get(path, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/aanmelden?volgende={path}"


def test_sign_in_continues_to_the_page_asked_for_if_the_role_may(web: TestClient) -> None:
    page = web.get("/aanmelden?volgende=/audit")
    assert 'name="volgende" value="/audit"' in page.text
    r = web.post("/aanmelden", data={"csrf_token": csrf(page.text), "naam": "Priya Privacy",
                                     "wachtwoord": PASSWORD, "volgende": "/audit"},
                 follow_redirects=False)
    assert r.headers["location"] == "/audit"
    other = TestClient(web.app)
    page = other.get("/aanmelden?volgende=//evil.example/x")
    assert "volgende" not in page.text  # not one of ours: ignored


@pytest.mark.parametrize("who", sorted(ACCOUNTS))
def test_each_role_opens_only_its_own_pages(web: TestClient, ctx: Context, who: str) -> None:
    assert sign_in(web, who).status_code == 303
    denied = 0
    for path, allowed in PAGES.items():
        r = web.get(path)
        if who in allowed:
            assert r.status_code == 200, (who, path)
        else:
            denied += 1
            assert r.status_code == 403 and "Geen toegang" in r.text, (who, path)
            assert r.headers["content-type"].startswith("text/html")
    denials = records(ctx, "auth.denied")
    assert len(denials) == denied
    assert all(d["actor"] == ACCOUNTS[who][0] and d["detail"]["reason"] == "role"
               for d in denials)


def test_a_post_without_or_with_a_wrong_csrf_token_is_refused(web: TestClient,
                                                              ctx: Context) -> None:
    assert sign_in(web, "coordinator").status_code == 303
    body = {"doel": "casusoverleg", "zaaknummer": "VH-1", "lid-0-bsn": ANNA["bsn"]}
    r = web.post("/resultaat", data=body)
    assert r.status_code == 403 and "Formulier verlopen of ongeldig" in r.text
    r = web.post("/resultaat", data={**body, "csrf_token": "x" * 43})
    assert r.status_code == 403
    other = TestClient(web.app)  # a token from someone else's session is no good either
    sign_in(other, "coordinator")
    r = web.post("/resultaat", data={**body, "csrf_token": token_of(other, "/zoeken")})
    assert r.status_code == 403
    assert r.text.count(ANNA["bsn"]) == 0
    r = web.post("/afmelden", data={})
    assert r.status_code == 403
    assert [d["detail"]["reason"] for d in records(ctx, "auth.denied")] == ["csrf"] * 4
    assert records(ctx, "query.household") == []  # nothing was asked
    fresh = TestClient(web.app)  # no session at all: refused, not redirected
    assert fresh.post("/resultaat", data=body).status_code == 403
    page = fresh.get("/aanmelden")
    assert fresh.post("/aanmelden", data={"naam": "x", "wachtwoord": "y"}).status_code == 403
    assert "csrf_token" in page.text


def test_sign_out_ends_the_session(web: TestClient, ctx: Context) -> None:
    sign_in(web, "coordinator")
    old = web.cookies[COOKIE]
    r = web.post("/afmelden", data={"csrf_token": token_of(web, "/zoeken")},
                 follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/aanmelden?reden=afgemeld"
    assert "U bent afgemeld" in web.get("/aanmelden?reden=afgemeld").text
    replay = TestClient(web.app, cookies={COOKIE: old})
    assert replay.get("/zoeken", follow_redirects=False).status_code == 303
    [out] = records(ctx, "auth.signout")
    assert out["detail"] == {"reason": "user", "actor_id": out["detail"]["actor_id"]}
    assert out["actor"] == ACCOUNTS["coordinator"][0] and out["detail"]["actor_id"].startswith("user:")


def test_an_idle_session_times_out(web: TestClient, ctx: Context) -> None:
    sign_in(web, "coordinator")
    assert web.get("/zoeken").status_code == 200
    idle = ctx.settings.web_idle_timeout_minutes
    stale = iso_utc(utc_now() - dt.timedelta(minutes=idle, seconds=5))
    with ctx.db.write() as conn:
        conn.execute(update(web_sessions).values(last_seen_at=stale))
    r = web.get("/zoeken", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/aanmelden?reden=idle"
    assert "automatisch afgemeld" in web.get("/aanmelden?reden=idle").text
    [out] = records(ctx, "auth.signout")
    assert {k: v for k, v in out["detail"].items() if k != "actor_id"} == {"reason": "idle"}
    assert web.get("/zoeken", follow_redirects=False).status_code == 303


def test_activity_keeps_a_session_alive(web: TestClient, ctx: Context) -> None:
    sign_in(web, "coordinator")
    idle = ctx.settings.web_idle_timeout_minutes
    almost = iso_utc(utc_now() - dt.timedelta(minutes=idle - 1))
    with ctx.db.write() as conn:
        conn.execute(update(web_sessions).values(last_seen_at=almost))
    assert web.get("/zoeken").status_code == 200
    with ctx.db.read() as conn:
        seen = conn.execute(select(web_sessions.c.last_seen_at)).scalar_one()
    assert seen > almost


def test_the_web_query_is_the_api_query_and_audited_alike(web: TestClient, ctx: Context,
                                                         tokens: Tokens) -> None:
    publish(web, tokens["adapter:om"], "om", [ANNA], ctx)
    publish(web, tokens["adapter:regieteams"], "regieteams", [ANNA], ctx)
    publish(web, tokens["adapter:leerplicht"], "leerplicht", [LOTTE], ctx)
    sign_in(web, "coordinator")
    r = _ask(web, [{"bsn": ANNA["bsn"]},
                   {"voornamen": "Lotte", "tussenvoegsel": "van der", "achternaam": "Berg",
                    "geboortedatum": "04-03-2012"},
                   {"bsn": UNKNOWN_BSN}])
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    assert r.url.path == "/resultaat" and not r.history  # rendered in the POST's response
    html = r.text
    assert html.count("badge--bekend") == 2 and html.count("badge--onbekend") == 1
    assert "Meerdere domeinen" in html and "3 organisaties" in html
    assert "gevonden op naam en geboortedatum" in html and "OM parket" in html
    [record] = records(ctx, "query.household")
    assert record["actor"] == ACCOUNTS["coordinator"][0] and record["role"] == "coordinator"
    assert record["outcome"] == "hit" and record["purpose"] == "casusoverleg"
    assert record["case_reference"] == "VH-2026-0042"
    assert record["agencies"] == ["leerplicht", "om", "regieteams"]
    assert [s["agencies"] for s in record["subjects"]] == [["om", "regieteams"],
                                                          ["leerplicht"], []]
    assert ANNA["bsn"] not in str(record) and "Lotte" not in str(record)


def test_a_wrong_bsn_is_a_field_error_and_audited_as_invalid(web: TestClient,
                                                            ctx: Context) -> None:
    sign_in(web, "coordinator")
    r = _ask(web, [{"bsn": "123456789"}, {"voornamen": "Piet", "geboortedatum": "31-02-2001"}],
             doel="", zaaknummer="")
    assert r.status_code == 422
    summary = re.findall(r'<li><a href="#([^"]+)">([^<]+)</a>', r.text)
    fields = [f for f, _ in summary]
    assert fields == ["doel-casusoverleg", "zaaknummer", "lid-0-bsn", "lid-1-achternaam",
                      "lid-1-geboortedatum"]  # in the order of the form
    assert "elfproef" in dict(summary)["lid-0-bsn"]
    assert 'id="lid-0-bsn-fout"' in r.text and 'aria-invalid="true"' in r.text
    assert 'value="123456789"' in r.text  # kept in the form, so it can be corrected
    [record] = records(ctx, "query.household")
    assert record["outcome"] == "invalid"
    assert "members.0.bsn" in record["detail"]["fields"]
    assert "123456789" not in str(record)


def test_members_are_added_and_removed_without_javascript(web: TestClient) -> None:
    sign_in(web, "coordinator")
    token = token_of(web, "/zoeken")
    base = {"csrf_token": token, "doel": "casusoverleg", "zaaknummer": "VH-7",
            "lid-0-bsn": ANNA["bsn"]}
    r = web.post("/zoeken", data={**base, "actie": "toevoegen"})
    assert r.status_code == 200 and 'id="lid-1-bsn"' in r.text and "autofocus" in r.text
    assert 'value="VH-7"' in r.text and 'checked' in r.text
    r = web.post("/zoeken", data={**base, "lid-1-bsn": UNKNOWN_BSN, "actie": "verwijder-0"})
    assert 'id="lid-1-bsn"' not in r.text and f'value="{UNKNOWN_BSN}"' in r.text
    assert r.headers["cache-control"] == "no-store"


def test_no_identifier_in_any_url(web: TestClient, ctx: Context, tokens: Tokens) -> None:
    publish(web, tokens["adapter:om"], "om", [ANNA], ctx)
    sign_in(web, "coordinator")
    r = _ask(web, [{"bsn": ANNA["bsn"]}])
    seen = [str(h.url) for h in r.history] + [str(r.url)]
    seen += [h.headers.get("location", "") for h in r.history]
    assert not any(ANNA["bsn"] in u for u in seen)
    assert web.get("/resultaat", follow_redirects=False).headers["location"] == "/zoeken"
    assert 'method="post" action="/resultaat"' in web.get("/zoeken").text


def test_security_headers_on_every_web_response(web: TestClient) -> None:
    for path, status in (("/aanmelden", 200), ("/zoeken", 303), ("/static/app.css", 200),
                         ("/bestaat-niet", 404), ("/", 303)):
        r = web.get(path + ("?v=1" if path.startswith("/static") else ""),
                    follow_redirects=False)
        assert r.status_code == status, path
        assert r.headers["content-security-policy"] == CSP
        assert "'unsafe-inline'" not in CSP and "frame-ancestors 'none'" in CSP
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert r.headers["x-content-type-options"] == "nosniff"
    assert web.get("/static/app.css").headers["cache-control"].startswith("public")
    assert web.get("/aanmelden").headers["cache-control"] == "no-store"
    # The API's responses are the API's own.
    assert "content-security-policy" not in web.get("/healthz").headers


def test_unknown_pages_and_methods_are_html_pages(web: TestClient) -> None:
    r = web.get("/bestaat-niet")
    assert r.status_code == 404 and "Pagina niet gevonden" in r.text
    assert r.headers["content-type"].startswith("text/html")
    r = web.put("/zoeken")
    assert r.status_code == 405 and "text/html" in r.headers["content-type"]
    assert web.get("/v1/bestaat-niet").headers["content-type"].startswith(
        "application/problem+json")


def test_a_body_that_is_not_a_form_is_refused_as_a_page(web: TestClient) -> None:
    sign_in(web, "coordinator")
    r = web.post("/resultaat", content=b'{"lid-0-bsn": "1"}',
                 headers={"content-type": "application/json"})
    assert r.status_code == 400 and "text/html" in r.headers["content-type"]
    r = web.post("/resultaat", content=b"a=%ff%fe", headers={
        "content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400


def test_audit_log_page_filters_pages_and_is_audited(web: TestClient, ctx: Context) -> None:
    sign_in(web, "coordinator")
    for n in range(3):
        _ask(web, [{"bsn": UNKNOWN_BSN}], zaaknummer=f"VH-{n}")
    officer = TestClient(web.app)
    sign_in(officer, "privacy-officer")
    r = officer.get("/audit?gebeurtenis=query.household&zaaknummer=VH-1")
    assert r.status_code == 200
    assert "<strong>1</strong> record gevonden" in r.text and "VH-1" in r.text
    r = officer.get("/audit?gebeurtenis=query.&gebruiker=Cora+Co%C3%B6rdinator")
    assert "<strong>3</strong> records gevonden" in r.text
    read = records(ctx, "audit.read")
    assert read[-1]["actor"] == "Priya Privacy"
    assert read[-1]["detail"]["filter"] == {"event": "query.", "actor": "Cora Coördinator"}
    r = officer.get("/audit?van=31-02-2025&tot=2025-01-01&uitkomst=nope")
    assert r.status_code == 422
    assert 'href="#van"' in r.text and 'href="#uitkomst"' in r.text


def test_audit_log_paging_walks_every_record_once(web: TestClient, ctx: Context) -> None:
    from hitmachine.http.web import auditview
    from hitmachine.store.audit_log import AuditFilter

    sign_in(web, "coordinator")
    for n in range(7):
        _ask(web, [{"bsn": UNKNOWN_BSN}], zaaknummer=f"VH-P{n}")
    flt = AuditFilter(event="query.household")
    seen: list[int] = []
    with ctx.db.read() as conn:
        page = auditview.page(conn, flt, limit=3)
        assert page.total == 7 and page.newer is None
        while True:
            seen += [r["id"] for r in page.records]
            if page.older is None:
                break
            page = auditview.page(conn, flt, before=page.older, limit=3)
        back = auditview.page(conn, flt, after=page.records[0]["id"], limit=3)
    assert seen == sorted(seen, reverse=True) and len(set(seen)) == 7
    assert [r["id"] for r in back.records] == seen[3:6] and back.older == seen[5]


def test_statistics_page_draws_charts_and_is_audited(web: TestClient, ctx: Context,
                                                     tokens: Tokens) -> None:
    publish(web, tokens["adapter:om"], "om", [ANNA], ctx)
    publish(web, tokens["adapter:regieteams"], "regieteams", [ANNA], ctx)
    sign_in(web, "coordinator")
    _ask(web, [{"bsn": ANNA["bsn"]}])
    _ask(web, [{"bsn": UNKNOWN_BSN}], doel="partnervraag")
    _ask(web, [{"bsn": "123456789"}])  # invalid: not counted
    officer = TestClient(web.app)
    sign_in(officer, "privacy-officer")
    r = officer.get("/statistieken")
    assert r.status_code == 200
    assert r.text.count('role="img"') == 5 and "<script" not in r.text.split("<main")[1]
    assert "50%" in r.text  # one of two with a hit, and that one multi-agency
    [stat] = records(ctx, "audit.statistics")
    assert stat["detail"]["queries"] == 2 and stat["actor"] == "Priya Privacy"
    r = officer.get("/statistieken?van=2025-02-01&tot=2025-01-01")
    assert r.status_code == 422 and 'href="#tot"' in r.text
    r = officer.get("/statistieken?van=2000-01-01&tot=2000-01-31")
    assert r.status_code == 200 and "geen vragen" in r.text


def test_the_dpia_page_and_its_markdown_are_audited(web: TestClient, ctx: Context) -> None:
    sign_in(web, "privacy-officer")
    assert '<a href="/dpia">DPIA</a>' in web.get("/audit").text
    r = web.get("/dpia")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    assert r.text.count("<h2 id=") == 9 and r.text.count("<table>") == 9
    assert 'href="/dpia.md"' in r.text and "Wet gemeentelijke schuldhulpverlening" in r.text
    md = web.get("/dpia.md")
    assert md.status_code == 200 and md.headers["content-type"].startswith("text/markdown")
    assert md.text.startswith("# Beschrijving van de verwerking") and "attachment" in \
        md.headers["content-disposition"]
    reads = records(ctx, "dpia.read")
    assert [r["detail"]["via"] for r in reads] == ["web", "web-md"]
    assert all(r["actor"] == "Priya Privacy" for r in reads)
    assert [s["detail"]["via"] for s in records(ctx, "audit.statistics")] == ["dpia-web",
                                                                            "dpia-web-md"]
    coordinator = TestClient(web.app)
    sign_in(coordinator, "coordinator")
    assert coordinator.get("/dpia.md").status_code == 403
    assert len(records(ctx, "dpia.read")) == 2


# --- issue 14 item 12: the texts on the pages ---------------------------------------------

def test_a_refused_sign_in_is_shown_once_and_marks_no_field(web: TestClient) -> None:
    """Neither field is known to be the wrong one, so the error is the summary's alone
    (a missing field keeps its error beside the field as well)."""
    r = sign_in(web, "coordinator", "not the password")
    assert r.status_code == 401 and r.text.count("klopt niet") == 1, r.text
    naam = re.search(r'<input[^>]*id="naam"[^>]*>', r.text)
    assert naam and "aria-invalid" not in naam.group(0) and "invoer--fout" not in naam.group(0)
    assert 'id="naam-fout"' not in r.text and "veld--fout" not in r.text
    assert 'href="#naam"' in r.text


def test_the_remove_button_keeps_its_spaces(web: TestClient) -> None:
    """The button is a flex box: each loose text run would be a flex item of its own and
    lose the spaces around the number, reading "Persoon1verwijderen". One inner span
    keeps the label one run."""
    sign_in(web, "coordinator")
    token = token_of(web, "/zoeken")
    r = web.post("/zoeken", data={"csrf_token": token, "doel": "casusoverleg",
                                  "zaaknummer": "VH-7", "lid-0-bsn": ANNA["bsn"],
                                  "actie": "toevoegen"})
    buttons = re.findall(r"<button[^>]*data-verwijder[^>]*>(.*?)</button>", r.text, re.S)
    assert buttons
    for inner in buttons:
        assert re.fullmatch(r"<span>Persoon <span data-nummer>\d*</span> verwijderen</span>",
                            inner.strip()), inner


def test_the_privacy_officer_is_named_in_dutch(web: TestClient, ctx: Context,
                                               tokens: Tokens) -> None:
    publish(web, tokens["adapter:om"], "om", [ANNA], ctx)
    sign_in(web, "privacy-officer")
    pages = [web.get("/audit")]
    token = token_of(web, "/audit/betrokkene")
    pages.append(web.post("/audit/betrokkene", data={"csrf_token": token, "bsn": ANNA["bsn"]}))
    for page in pages:
        assert page.status_code == 200, page.text
        assert "functionaris gegevensbescherming" in page.text
        assert "privacy officer" not in page.text.lower()


def test_the_coordinator_form_offers_no_research_purpose(web: TestClient, ctx: Context) -> None:
    """Issue 14 item 12 and issue 13 finding 3: a replay is a researcher token's."""
    sign_in(web, "coordinator")
    page = web.get("/zoeken").text
    assert 'value="casusoverleg"' in page and 'value="replay"' not in page
    r = _ask(web, [{"bsn": ANNA["bsn"]}], doel="replay")
    assert r.status_code == 422
    assert re.findall(r'<li><a href="#([^"]+)">', r.text) == ["doel-casusoverleg"]


def test_the_result_says_which_agencies_could_not_be_checked(web: TestClient, ctx: Context,
                                                             tokens: Tokens) -> None:
    publish(web, tokens["adapter:om"], "om", [ANNA], ctx)
    sign_in(web, "coordinator")
    r = _ask(web, [{"bsn": ANNA["bsn"]}, {"bsn": UNKNOWN_BSN}])
    assert r.status_code == 200, r.text
    text = re.sub(r"\s+", " ", r.text)
    assert text.count("Niet na te gaan zonder geboortedatum:</strong> Leerplicht, "
                      "Schuldhulpverlening.") == 2, text[text.find("Per persoon"):][:1500]


def test_the_same_person_twice_is_a_field_error(web: TestClient) -> None:
    sign_in(web, "coordinator")
    r = _ask(web, [{"bsn": ANNA["bsn"]}, {"bsn": ANNA["bsn"], "geboortedatum": "01-01-2015"}])
    assert r.status_code == 422
    summary = dict(re.findall(r'<li><a href="#([^"]+)">([^<]+)</a>', r.text))
    assert list(summary) == ["lid-1-bsn"]
    assert "dezelfde persoon als persoon 1" in summary["lid-1-bsn"]
