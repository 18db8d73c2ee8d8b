"""The coordinators' inbox "Meldingen", "Volg dit huishouden" on the result page, and the
signal counts on the statistics page (issue 16 item 5), through the app on both databases."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hitmachine.services.context import Context
from tests.conftest import Tokens
from tests.helpers import publish, query
from tests.web.util import ACCOUNTS, csrf, make_accounts, records, sign_in, token_of

ANNA = {"bsn": "111222333", "given_names": "Anna", "surname": "Jansen",
        "date_of_birth": "1980-05-01"}
CASE = "VH-2026-0077"


@pytest.fixture
def web(client: TestClient, ctx: Context) -> TestClient:
    make_accounts(ctx)
    return client


def _ask(client: TestClient, **fields: str) -> Any:
    data = {"csrf_token": token_of(client, "/zoeken"), "doel": "casusoverleg",
            "zaaknummer": CASE, "lid-0-bsn": ANNA["bsn"], **fields}
    return client.post("/resultaat", data=data)


def _follow(client: TestClient, result_html: str, days: str) -> Any:
    """Press "Volg dit huishouden" on a result page: its own form, hidden fields and all."""
    form = result_html.split('id="volgen-titel"', 1)[1].split("</form>", 1)[0]
    data = {name: value for name, value in
            re.findall(r'name="([^"]+)" value="([^"]*)"', form)}
    assert data["lid-0-bsn"] == ANNA["bsn"] and data["doel"] == "casusoverleg"
    return client.post("/resultaat", data={**data, "volgdagen": days})


def _inbox_ids(html: str, field: str) -> list[str]:
    return re.findall(rf'name="{field}" value="([^"]+)"', html)


@pytest.mark.parametrize("who", sorted(ACCOUNTS))
def test_only_a_coordinator_opens_the_inbox_and_sees_it_in_the_menu(
        web: TestClient, ctx: Context, who: str) -> None:
    assert sign_in(web, who).status_code == 303
    r = web.get("/meldingen")
    if who == "coordinator":
        assert r.status_code == 200 and "<h1>Meldingen</h1>" in r.text
        assert 'href="/meldingen" aria-current="page">Meldingen</a>' in r.text
        assert {r["event"] for r in records(ctx)} >= {"signal.fetch", "follow_up.list"}
        return
    assert r.status_code == 403 and "Geen toegang" in r.text
    assert 'href="/meldingen"' not in r.text  # not in their menu either
    [denied] = records(ctx, "auth.denied")
    assert denied["detail"]["reason"] == "role"
    assert records(ctx, "signal.fetch") == [] and records(ctx, "follow_up.list") == []
    token = csrf(r.text)  # the session's own token: refused for the role, not the token
    for path, field in (("/meldingen/afhandelen", "melding"),
                        ("/meldingen/volgvraag-beeindigen", "volgvraag")):
        r = web.post(path, data={"csrf_token": token, field: "x"})
        assert r.status_code == 403
    assert records(ctx, "signal.ack") == [] and records(ctx, "follow_up.end") == []


def test_the_inbox_needs_a_session_and_its_forms_a_csrf_token(web: TestClient,
                                                            ctx: Context) -> None:
    r = web.get("/meldingen", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/aanmelden?volgende=/meldingen"
    sign_in(web, "coordinator")
    for path, field in (("/meldingen/afhandelen", "melding"),
                        ("/meldingen/volgvraag-beeindigen", "volgvraag")):
        assert web.post(path, data={field: "x"}).status_code == 403
        assert web.post(path, data={field: "x", "csrf_token": "y" * 43}).status_code == 403
    assert [d["detail"]["reason"] for d in records(ctx, "auth.denied")] == ["csrf"] * 4


def test_follow_ack_and_end_through_the_forms(web: TestClient, ctx: Context,
                                              tokens: Tokens) -> None:
    publish(web, tokens["adapter:om"], "om", [ANNA], ctx)
    sign_in(web, "coordinator")
    first = _ask(web)
    assert first.status_code == 200 and "Volg dit huishouden" in first.text
    assert 'id="volgdagen"' in first.text and 'value="90"' in first.text  # the purpose's max
    assert ANNA["bsn"] not in str(first.url)
    followed = _follow(web, first.text, "30")
    assert followed.status_code == 200, followed.text
    assert "Dit huishouden wordt gevolgd" in followed.text and "Volg dit huishouden</h2>" \
        not in followed.text
    asked = records(ctx, "query.household")
    assert len(asked) == 2  # the follow-up is a new, audited query
    [opened] = records(ctx, "follow_up.open")
    assert opened["request_id"] == asked[1]["request_id"] and opened["detail"]["days"] == 30

    page = web.get("/meldingen")
    assert "Lopende volgvragen (1)" in page.text and CASE in page.text
    assert "Nieuw (0)" in page.text and "Meldingen (" not in page.text.split("<main")[0]

    # a second agency publishes the household: the coordinator hears of it
    publish(web, tokens["adapter:regieteams"], "regieteams", [ANNA], ctx)
    page = web.get("/meldingen")
    assert "Meldingen (1 nieuw)" in page.text.split("<main")[0]
    assert "Volgvraag: nieuwe partner" in page.text and "ook bekend bij Regieteams" in page.text
    assert "Meerdere domeinen" in page.text and "Regieteam wijkcoördinator" in page.text
    [signal_id] = _inbox_ids(page.text, "melding")
    [follow_up_id] = _inbox_ids(page.text, "volgvraag")

    r = web.post("/meldingen/afhandelen", data={"csrf_token": csrf(page.text),
                                                "melding": signal_id}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/meldingen?klaar=melding"
    page = web.get(r.headers["location"])
    assert "De melding is afgehandeld." in page.text
    assert "Nieuw (0)" in page.text and "Afgehandeld (1)" in page.text
    assert _inbox_ids(page.text, "melding") == []
    [ack] = records(ctx, "signal.ack")
    assert ack["detail"]["signal"] == signal_id and ack["actor"] == ACCOUNTS["coordinator"][0]

    r = web.post("/meldingen/volgvraag-beeindigen",
                 data={"csrf_token": csrf(page.text), "volgvraag": follow_up_id})
    assert r.status_code == 200 and "De volgvraag is beëindigd" in r.text
    assert "Lopende volgvragen (0)" in r.text
    [end] = records(ctx, "follow_up.end")
    assert end["detail"]["follow_up"] == follow_up_id
    # ending it again, or a made-up id: a Dutch "not found" page, nothing recorded
    r = web.post("/meldingen/volgvraag-beeindigen",
                 data={"csrf_token": csrf(r.text), "volgvraag": follow_up_id})
    assert r.status_code == 404 and "Volgvraag niet gevonden" in r.text
    r = web.post("/meldingen/afhandelen", data={"csrf_token": csrf(r.text), "melding": "nee"})
    assert r.status_code == 404 and "Melding niet gevonden" in r.text
    assert len(records(ctx, "follow_up.end")) == 1 and len(records(ctx, "signal.ack")) == 1
    # a publish after the end signals nothing
    publish(web, tokens["adapter:leerplicht"], "leerplicht", [ANNA], ctx)
    assert "Nieuw (0)" in web.get("/meldingen").text


def test_a_partner_query_reaches_the_inbox(web: TestClient, ctx: Context,
                                           tokens: Tokens) -> None:
    publish(web, tokens["adapter:om"], "om", [ANNA], ctx)
    r = query(web, tokens["partner:regieteams"], [{"bsn": ANNA["bsn"]}], purpose="partnervraag")
    assert r.status_code == 200, r.text
    sign_in(web, "coordinator")
    page = web.get("/meldingen")
    assert "Meldingen (1 nieuw)" in page.text and "Partnervraag" in page.text
    assert "Regieteams vroeg naar een huishouden van 1 persoon" in page.text
    assert "Bekend bij: Openbaar Ministerie" in page.text and ANNA["bsn"] not in page.text


def test_too_many_days_is_a_dutch_error_at_the_field(web: TestClient, ctx: Context) -> None:
    sign_in(web, "coordinator")
    first = _ask(web)
    for days, message in (("91", "1 tot en met 90 dagen"), ("0", "1 tot en met 90 dagen"),
                          ("dertig", "als een heel getal")):
        r = _follow(web, first.text, days)
        assert r.status_code == 422 and message in r.text, days
        assert 'href="#volgdagen"' in r.text  # the summary links to the field
        assert 'id="volgdagen" name="volgdagen"' in r.text and 'aria-invalid="true"' in r.text
        assert 'id="volgdagen-fout"' in r.text
        assert ANNA["bsn"] in r.text  # the form keeps what was typed
    refused = [r for r in records(ctx, "query.household") if r["outcome"] == "invalid"]
    assert [r["detail"]["fields"] for r in refused] == [["follow_up_days"]] * 3
    assert records(ctx, "follow_up.open") == []
    # emptied on that page: asked without following
    r = _ask(web, volgdagen="")
    assert r.status_code == 200 and records(ctx, "follow_up.open") == []


def test_no_follow_form_for_a_purpose_without_follow_ups(web: TestClient, ctx: Context) -> None:
    ctx.purposes["casusoverleg"] = ctx.purposes["casusoverleg"].model_copy(
        update={"follow_up_max_days": 0})
    sign_in(web, "coordinator")
    r = _ask(web)
    assert r.status_code == 200 and "Volg dit huishouden" not in r.text
    r = _ask(web, volgdagen="10")  # posted anyway: refused at the field
    assert r.status_code == 422 and "niet worden gevolgd" in r.text
    assert records(ctx, "follow_up.open") == []


def test_the_privacy_officer_sees_signal_counts_per_purpose(web: TestClient, ctx: Context,
                                                            tokens: Tokens) -> None:
    publish(web, tokens["adapter:om"], "om", [ANNA], ctx)
    r = query(web, tokens["partner:regieteams"], [{"bsn": ANNA["bsn"]}], purpose="partnervraag")
    assert r.status_code == 200
    sign_in(web, "coordinator")
    _follow(web, _ask(web).text, "10")
    officer = TestClient(web.app)
    sign_in(officer, "privacy-officer")
    page = officer.get("/statistieken")
    assert page.status_code == 200
    table = page.text.split('id="tabel-meldingen"', 1)[1].split("</table>", 1)[0]
    rows = {row.split("</th>")[0].rsplit(">", 1)[1].split(":")[0]:
            [c for c in re.findall(r'class="getal">([^<]*)</td>', row)]
            for row in table.split("<tr>")[2:]}
    # partnervraag: a hit signal to om and a partner_query signal to the Veiligheidshuis;
    # casusoverleg: two hit signals to om (the question and the follow-up's), one follow-up
    assert rows == {"casusoverleg": ["2", "0", "0", "0", "1"],
                    "partnervraag": ["1", "0", "1", "0", "0"]}
    assert ANNA["bsn"] not in page.text and CASE not in page.text
