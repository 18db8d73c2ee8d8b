"""Issue 13, findings 4, 9, 10, 13, 14 (c, d) and 15 (c): free text, names, token expiry,
request ids, budgets keyed on identities, and identifiers in case references."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from hitmachine.core.errors import Conflict, InvalidInput, LimitExceeded
from hitmachine.core.principal import Principal, Role
from hitmachine.core.text import check_name, contains_bsn, text_problem
from hitmachine.http.app import create_app
from hitmachine.services import admin, ratelimit, users
from hitmachine.services.context import Context
from hitmachine.services.instance import initialise
from hitmachine.settings import Settings
from tests.conftest import Tokens, _truncate_pg
from tests.live_server import LiveServer
from tests.web.util import records as _records

PASSWORD = "paard-batterij-nietje"
HOSTILE = ["x\x00y", "a\nb", "\u202eroc", "esc\x1b[31m", "del\x7f", "c1\x85"]


def _query(case_reference: str = "VH-2026-0042", bsn: str = "111222333") -> dict[str, Any]:
    return {"purpose": "casusoverleg", "case_reference": case_reference,
            "members": [{"bsn": bsn}]}


def _fields(r: httpx.Response) -> list[str]:
    return [e["field"] for e in r.json().get("errors", [])]


# --- finding 4: control characters in every free-text field ---------------------------------

def test_text_problem_refuses_controls_surrogates_and_bidi() -> None:
    for bad in [*HOSTILE, "lone \ud800 surrogate", "\u2066isolate", "\u200fmark"]:
        assert text_problem(bad) is not None, repr(bad)
    for good in ["VH-2026-0042", "Zoë d'Ancona", "dossier 12/2026 — vervolg", "\t"[1:]]:
        assert text_problem(good) is None


@pytest.mark.parametrize("bad", HOSTILE)
def test_control_characters_in_a_case_reference_are_a_422_naming_it(
        client: TestClient, tokens: Tokens, ctx: Context, bad: str) -> None:
    r = client.post("/v1/queries/household", json=_query(bad), headers=tokens.header("coordinator"))
    assert r.status_code == 422
    assert _fields(r) == ["case_reference"]
    # Refused before the audit group: and the refusal itself is on record, by field only.
    [record] = _records(ctx, "query.household")
    assert record["outcome"] == "invalid" and record["case_reference"] is None
    assert record["detail"]["fields"] == ["case_reference"]


def test_a_lone_surrogate_is_a_422_not_a_driver_error(client: TestClient, tokens: Tokens) -> None:
    raw = b'{"purpose": "casusoverleg", "case_reference": "x\\ud800y", "members": [{"bsn": "111222333"}]}'
    r = client.post("/v1/queries/household", content=raw,
                    headers={**tokens.header("coordinator"), "Content-Type": "application/json"})
    assert r.status_code == 422 and _fields(r) == ["case_reference"]


def test_member_names_and_audit_filters_refuse_control_characters(
        client: TestClient, tokens: Tokens) -> None:
    body = {"purpose": "casusoverleg", "case_reference": "VH-1",
            "members": [{"given_names": "Jan\x00", "surname": "de\u202eVries",
                         "date_of_birth": "2000-01-01"}]}
    r = client.post("/v1/queries/household", json=body, headers=tokens.header("coordinator"))
    assert r.status_code == 422
    assert sorted(_fields(r)) == ["members.0.given_names", "members.0.surname"]
    for param in ("actor", "case_reference", "event", "purpose", "outcome", "from"):
        r = client.get("/v1/audit/records", params={param: "x\x01y"},
                       headers=tokens.header("privacy-officer"))
        assert r.status_code == 422, param
        assert _fields(r) == [f"query.{param}"], param


@pytest.fixture
def pg_settings(pg_database: str, tmp_path: Path) -> Settings:
    _truncate_pg(pg_database)
    settings = Settings(database_url=pg_database, keys_dir=tmp_path / "keys")
    initialise(settings)
    return settings


def test_postgresql_hostile_case_references_cannot_fail_a_coordinators_queries(
        pg_settings: Settings, tmp_path: Path) -> None:
    """The reproduction: a partner sends NUL case references while a coordinator asks, on
    a real server with real concurrent requests. Every coordinator query is answered; every
    hostile one is a 422 with its own audit record."""
    ctx = Context.from_settings(pg_settings)
    try:
        coordinator = admin.create_token(ctx, admin.CONSOLE, name="coordinator", agency=None,
                                         role=Role.COORDINATOR, expires_at=None,
                                         request_id="t")[1]
        partner = admin.create_token(ctx, admin.CONSOLE, name="partner om", agency="om",
                                     role=Role.PARTNER, expires_at=None, request_id="t")[1]
    finally:
        ctx.close()
    statuses: dict[str, list[int]] = {"coordinator": [], "partner": []}
    lock = threading.Lock()

    def ask(who: str, token: str, body: bytes, n: int) -> None:
        with httpx.Client(base_url=server.url, timeout=30,
                          headers={"Authorization": f"Bearer {token}",
                                   "Content-Type": "application/json"}) as http:
            for _ in range(n):
                code = http.post("/v1/queries/household", content=body).status_code
                with lock:
                    statuses[who].append(code)

    good = json.dumps(_query("VH-2026-0042")).encode()
    hostile = json.dumps(_query("x\x00y")).encode()  # json escapes it as \u0000
    with LiveServer(pg_settings, tmp_path / "server.log") as server:
        threads = ([threading.Thread(target=ask, args=("coordinator", coordinator, good, 30))
                    for _ in range(3)]
                   + [threading.Thread(target=ask, args=("partner", partner, hostile, 30))
                      for _ in range(3)])
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert statuses["coordinator"] == [200] * 90
    assert statuses["partner"] == [422] * 90
    ctx = Context.from_settings(pg_settings)
    try:
        records = _records(ctx, "query.household")
    finally:
        ctx.close()
    assert sum(r["outcome"] == "invalid" and r["actor"] == "partner om" for r in records) == 90
    assert sum(r["outcome"] == "no_hit" for r in records) == 90


# --- finding 15 (c): no BSN in a case reference ---------------------------------------------

def test_contains_bsn_finds_written_bsns_only() -> None:
    assert contains_bsn("zaak 111222333")
    assert contains_bsn("1112.22.333") and contains_bsn("111 222 333")
    assert not contains_bsn("VH-2026-0042")
    assert not contains_bsn("111222334")       # fails the 11-test
    assert not contains_bsn("1112223330")      # part of a longer number
    assert not contains_bsn("20260115")        # a date, not looked for


def test_a_case_reference_holding_a_bsn_is_refused(client: TestClient, tokens: Tokens) -> None:
    for ref in ("111222333", "VH 111222333", "1112.22.333"):
        r = client.post("/v1/queries/household", json=_query(ref),
                        headers=tokens.header("coordinator"))
        assert r.status_code == 422 and _fields(r) == ["case_reference"], ref
        # The value is never echoed. The random request id (in the body's "instance") may
        # hold "111" by chance, which once failed this test: left out of the check.
        assert "111" not in r.text.replace(r.headers["X-Request-ID"], "")
    ok = client.post("/v1/queries/household", json=_query("VH-2026-0042"),
                     headers=tokens.header("coordinator"))
    assert ok.status_code == 200


# --- finding 9: token names, one namespace with accounts, and who acted ---------------------

def _create(client: TestClient, tokens: Tokens, **body: Any) -> httpx.Response:
    r: httpx.Response = client.post("/v1/admin/tokens", json={"role": "coordinator", **body},
                                    headers=tokens.header("admin"))
    return r


@pytest.mark.parametrize("name", ["console", "Console", " anonymous ", "ANONYMOUS", "a\nb",
                                  "\u202eroc", "x\x00y", "tab\there", "zero\u200bwidth"])
def test_token_names_are_checked_like_account_names(
        client: TestClient, tokens: Tokens, name: str) -> None:
    r = _create(client, tokens, name=name)
    assert r.status_code == 422 and _fields(r) == ["name"], r.text


def test_token_names_are_unique_across_tokens_and_accounts(
        client: TestClient, tokens: Tokens, ctx: Context) -> None:
    users.create_user(ctx, admin.CONSOLE, name="Jan de Vries", role=Role.COORDINATOR,
                      password=PASSWORD, request_id="t")
    assert _create(client, tokens, name="JAN  DE VRIES").status_code == 409
    assert _create(client, tokens, name="coord1").status_code == 201
    assert _create(client, tokens, name="COORD1").status_code == 409
    with pytest.raises(Conflict):
        users.create_user(ctx, admin.CONSOLE, name="Coord1", role=Role.COORDINATOR,
                          password=PASSWORD, request_id="t")
    with pytest.raises(InvalidInput):
        users.create_user(ctx, admin.CONSOLE, name="console", role=Role.ADMIN,
                          password=PASSWORD, request_id="t")
    # A revoked token's name is free again: its records keep its own id.
    first = next(t for t in admin.list_tokens(ctx, admin.CONSOLE, "test") if t.name == "coord1")
    admin.revoke_token(ctx, admin.CONSOLE, first.id, "t")
    again = _create(client, tokens, name="Coord1")
    assert again.status_code == 201 and again.json()["info"]["id"] != first.id


def test_concurrent_creations_of_one_name_make_one_token(ctx: Context) -> None:
    outcomes: list[str] = []

    def make(i: int) -> None:
        try:
            admin.create_token(ctx, admin.CONSOLE, name="Twin" if i % 2 else "twin",
                               role=Role.COORDINATOR, agency=None, expires_at=None,
                               request_id=f"t{i}")
            outcomes.append("made")
        except Exception as exc:
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=make, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["Conflict"] * 5 + ["made"]


def test_audit_records_say_which_token_or_account_acted(
        client: TestClient, tokens: Tokens, ctx: Context) -> None:
    r = _create(client, tokens, name="new one")
    assert r.status_code == 201
    admin_token = next(t for t in admin.list_tokens(ctx, admin.CONSOLE, "test") if t.name == "test admin")
    [created] = _records(ctx, "token.create")[-1:]
    assert created["actor"] == "test admin"
    assert created["detail"]["actor_id"] == f"token:{admin_token.id}"
    client.post("/v1/queries/household", json=_query(), headers=tokens.header("coordinator"))
    coordinator = next(t for t in admin.list_tokens(ctx, admin.CONSOLE, "test") if t.name == "test coordinator")
    [query] = _records(ctx, "query.household")
    assert query["detail"]["actor_id"] == f"token:{coordinator.id}"
    # The console acts without a token: no actor_id, and no token can pose as it.
    console = [r for r in _records(ctx, "token.create") if r["actor"] == "console"]
    assert console and all("actor_id" not in r["detail"] for r in console)


# --- finding 10: token expiry ---------------------------------------------------------------

@pytest.mark.parametrize("expires_at", ["2020-01-01T00:00:00Z", "9999-12-31T00:00:00Z",
                                        "0001-01-01T00:00:00+14:00", "2027-01-01T00:00:00"])
def test_token_expiry_must_be_future_bounded_and_in_range(
        client: TestClient, tokens: Tokens, expires_at: str) -> None:
    r = _create(client, tokens, name="expiring", expires_at=expires_at)
    assert r.status_code == 422 and _fields(r) == ["expires_at"], r.text


def test_token_expiry_within_the_lifetime_is_kept(client: TestClient, tokens: Tokens,
                                                  ctx: Context) -> None:
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).replace(microsecond=0)
    r = _create(client, tokens, name="monthly", expires_at=soon.isoformat())
    assert r.status_code == 201
    assert r.json()["info"]["expires_at"].startswith(soon.strftime("%Y-%m-%dT%H:%M:%S"))
    lifetime = ctx.settings.token_lifetime_days
    r = _create(client, tokens, name="default")
    expires = dt.datetime.fromisoformat(r.json()["info"]["expires_at"].replace("Z", "+00:00"))
    assert abs(expires - dt.datetime.now(dt.UTC) - dt.timedelta(days=lifetime)
               ) < dt.timedelta(minutes=5)


# --- finding 13: request ids are the server's ------------------------------------------------

def test_request_ids_are_the_servers_and_the_clients_is_kept_in_detail(
        client: TestClient, tokens: Tokens, ctx: Context) -> None:
    chosen = "shared-request-id-1"
    answers = [client.post("/v1/queries/household", json=_query(), headers={
        **tokens.header(who), "X-Request-ID": chosen}) for who in ("coordinator", "partner:om")]
    ids = [r.headers["X-Request-ID"] for r in answers]
    assert all(r.status_code == 200 for r in answers)
    assert chosen not in ids and ids[0] != ids[1]
    assert [r.json()["query_id"] for r in answers] == ids
    records = _records(ctx, "query.household")
    assert [r["request_id"] for r in records] == ids
    assert [r["detail"]["client_request_id"] for r in records] == [chosen, chosen]
    # An id that is not sane (too long, odd characters) is dropped, not stored.
    client.post("/v1/queries/household", json=_query(),
                headers={**tokens.header("coordinator"), "X-Request-ID": "x" * 65})
    client.post("/v1/queries/household", json=_query(),
                headers={**tokens.header("coordinator"), "X-Request-ID": "bad id <script>"})
    assert all("client_request_id" not in r["detail"]
               for r in _records(ctx, "query.household")[2:])


# --- finding 14 (c): one budget per person, keyed on ids ------------------------------------

def test_budget_is_keyed_on_the_identity_not_the_name_string(settings: Settings) -> None:
    ctx = Context.from_settings(settings.model_copy(update={"query_budget_per_day": 3}))
    try:
        ratelimit.spend_queries(ctx, Principal("coord1", Role.COORDINATOR, None, token_id=7), 2,
                                "r1")
        with pytest.raises(LimitExceeded):
            ratelimit.spend_queries(ctx, Principal("COORD1", Role.COORDINATOR, None, token_id=7),
                                    2, "r2")
        # Another credential that happens to carry the same name has its own budget.
        ratelimit.spend_queries(ctx, Principal("coord1", Role.COORDINATOR, None, token_id=8), 3,
                                "r3")
    finally:
        ctx.close()


def test_a_persons_account_and_token_share_one_budget(settings: Settings) -> None:
    ctx = Context.from_settings(settings.model_copy(update={"query_budget_per_day": 3}))
    try:
        with TestClient(create_app(ctx=ctx), raise_server_exceptions=False) as client:
            account = users.create_user(ctx, admin.CONSOLE, name="Cora", role=Role.COORDINATOR,
                                        password=PASSWORD, request_id="t")
            info, token = admin.create_token(ctx, admin.CONSOLE, name="cora api", agency=None,
                                             role=Role.COORDINATOR, expires_at=None,
                                             request_id="t", user="cora")
            assert info.user_id == account.id
            ratelimit.spend_queries(ctx, account.principal(), 2, "web")  # two on the web page
            r = client.post("/v1/queries/household", json=_query(),
                            headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200  # the third member
            r = client.post("/v1/queries/household", json=_query(),
                            headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 429
            query = _records(ctx, "query.household")[0]  # then the refusal (429)
            assert query["detail"]["actor_id"] == f"token:{info.id}"
            assert query["detail"]["actor_account"] == f"user:{account.id}"
    finally:
        ctx.close()


def test_a_token_for_an_account_must_have_its_role(ctx: Context) -> None:
    users.create_user(ctx, admin.CONSOLE, name="Priya", role=Role.PRIVACY_OFFICER,
                      password=PASSWORD, request_id="t")
    for user, field in (("Priya", "user"), ("nobody", "user")):
        with pytest.raises(InvalidInput) as refused:
            admin.create_token(ctx, admin.CONSOLE, name=f"for {user}", role=Role.COORDINATOR,
                               agency=None, expires_at=None, request_id="t", user=user)
        assert refused.value.field == field


def test_check_name_collapses_spaces_and_keeps_letters() -> None:
    assert check_name("name", "  Zoë   d'Ancona ") == "Zoë d'Ancona"


@pytest.fixture
def web_client(settings: Settings) -> Iterator[tuple[Context, TestClient]]:
    ctx = Context.from_settings(settings.model_copy(update={"query_budget_per_day": 1}))
    with TestClient(create_app(ctx=ctx), raise_server_exceptions=False) as client:
        yield ctx, client
    ctx.close()


def _web_ask(client: TestClient, case_reference: str = "VH-2026-0042") -> httpx.Response:
    from tests.web.util import token_of

    r: httpx.Response = client.post("/resultaat", data={
        "csrf_token": token_of(client, "/zoeken"), "doel": "casusoverleg",
        "zaaknummer": case_reference, "lid-0-bsn": "111222333"})
    return r


# --- finding 14 (d): an exhausted budget on the web pages -----------------------------------

def test_web_budget_exhausted_is_a_clear_429_page(
        web_client: tuple[Context, TestClient]) -> None:
    from tests.web.util import make_accounts, sign_in

    ctx, client = web_client
    make_accounts(ctx)
    assert sign_in(client, "coordinator").status_code == 303
    assert _web_ask(client).status_code == 200
    r = _web_ask(client)
    assert r.status_code == 429
    assert "Dagelijks maximum bereikt" in r.text and "00.00 uur" in r.text
    assert "Het formulier kon niet worden gelezen" not in r.text
    assert 1 <= int(r.headers["Retry-After"]) <= 25 * 3600
    assert 'href="/zoeken"' in r.text  # the page keeps its navigation


# --- finding 15 (c) on the web page ---------------------------------------------------------

def test_web_form_warns_and_refuses_a_bsn_as_case_reference(
        web_client: tuple[Context, TestClient]) -> None:
    from tests.web.util import make_accounts, sign_in

    ctx, client = web_client
    make_accounts(ctx)
    sign_in(client, "coordinator")
    assert "Een zaaknummer met een BSN erin wordt geweigerd" in client.get("/zoeken").text
    r = _web_ask(client, "zaak 111222333")
    assert r.status_code == 422
    assert "Een zaaknummer mag geen BSN bevatten" in r.text
    r = _web_ask(client, "\u202eroc")
    assert r.status_code == 422 and "leesrichting" in r.text
