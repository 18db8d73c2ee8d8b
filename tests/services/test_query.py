"""The household query through the API on both databases: matching rules, disclosure at
the age boundaries, the household summary, key rotation, and the audit record."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from hitmachine.services import admin
from hitmachine.services.context import Context
from hitmachine.store.schema import audit_records
from tests.conftest import Tokens
from tests.helpers import publish, query

PIET = {"bsn": "111222333", "given_names": "Piet", "prefix": "van der", "surname": "Berg",
        "date_of_birth": "1975-04-03"}
NAME_ONLY = {k: v for k, v in PIET.items() if k != "bsn"}


def _agencies(r: Any, member: int = 0) -> list[tuple[str, str]]:
    assert r.status_code == 200, r.text
    return [(a["code"], a["basis"]) for a in r.json()["members"][member]["agencies"]]


def test_bsn_match(client: TestClient, ctx: Context, tokens: Tokens) -> None:
    publish(client, tokens["adapter:om"], "om", [PIET], ctx)
    assert _agencies(query(client, tokens["coordinator"], [{"bsn": "111222333"}])) == [("om", "bsn")]


def test_name_key_matches_when_query_lacks_bsn(client: TestClient, ctx: Context,
                                               tokens: Tokens) -> None:
    publish(client, tokens["adapter:om"], "om", [PIET], ctx)
    variant = {"given_names": "piet jan", "surname": "Van Der Berg", "date_of_birth": "1975-04-03"}
    assert _agencies(query(client, tokens["coordinator"], [variant])) == [("om", "name_birthdate")]


def test_name_key_matches_when_entry_lacks_bsn(client: TestClient, ctx: Context,
                                               tokens: Tokens) -> None:
    publish(client, tokens["adapter:reclassering"], "reclassering", [NAME_ONLY], ctx)
    r = query(client, tokens["coordinator"], [PIET])
    assert _agencies(r) == [("reclassering", "name_birthdate")]


def test_different_bsns_never_match_even_with_equal_names(client: TestClient, ctx: Context,
                                                          tokens: Tokens) -> None:
    publish(client, tokens["adapter:om"], "om", [PIET], ctx)
    other = {**PIET, "bsn": "123456782"}
    assert _agencies(query(client, tokens["coordinator"], [other])) == []


def test_bsn_only_query_does_not_match_name_only_entry(client: TestClient, ctx: Context,
                                                       tokens: Tokens) -> None:
    publish(client, tokens["adapter:om"], "om", [NAME_ONLY], ctx)
    assert _agencies(query(client, tokens["coordinator"], [{"bsn": "111222333"}])) == []


def test_leading_zero_bsn(client: TestClient, ctx: Context, tokens: Tokens) -> None:
    publish(client, tokens["adapter:om"], "om", [{"bsn": "12345672"}], ctx)
    assert _agencies(query(client, tokens["coordinator"], [{"bsn": "012.345.672"}])) == [("om", "bsn")]


def _birthday_plus(birth: dt.date, years: int, days: int) -> str:
    return (birth.replace(year=birth.year + years) + dt.timedelta(days=days)).isoformat()


@pytest.mark.parametrize(("years", "days", "leerplicht", "schuldhulp"), [
    (5, -1, False, False), (5, 0, True, False), (5, 1, True, False),
    (18, -1, True, False), (18, 0, False, True), (18, 1, False, True),
])
def test_disclosure_at_age_boundaries(client: TestClient, ctx: Context, tokens: Tokens,
                                      years: int, days: int, leerplicht: bool,
                                      schuldhulp: bool) -> None:
    birth = dt.date(2004, 7, 14)
    person = {"bsn": "111222333", "given_names": "Sam", "surname": "Bakker",
              "date_of_birth": birth.isoformat()}
    for agency in ("leerplicht", "schuldhulp", "regieteams"):
        publish(client, tokens[f"adapter:{agency}"], agency, [person], ctx)
    r = query(client, tokens["researcher"], [person], purpose="replay",
              reference_date=_birthday_plus(birth, years, days))
    codes = {code for code, _ in _agencies(r)}
    assert ("leerplicht" in codes) is leerplicht
    assert ("schuldhulp" in codes) is schuldhulp
    assert "regieteams" in codes  # no age rule


def test_age_bounded_agency_hidden_without_birth_date(client: TestClient, ctx: Context,
                                                      tokens: Tokens) -> None:
    publish(client, tokens["adapter:schuldhulp"], "schuldhulp", [PIET], ctx)
    publish(client, tokens["adapter:om"], "om", [PIET], ctx)
    assert _agencies(query(client, tokens["coordinator"], [{"bsn": "111222333"}])) == [("om", "bsn")]
    assert {c for c, _ in _agencies(query(client, tokens["coordinator"], [PIET]))} == {"om", "schuldhulp"}


def test_household_summary_and_order(client: TestClient, ctx: Context, tokens: Tokens) -> None:
    child = {"bsn": "123456782", "given_names": "Lotte", "surname": "Berg", "prefix": "van der",
             "date_of_birth": (dt.date.today() - dt.timedelta(days=365 * 10)).isoformat()}
    publish(client, tokens["adapter:leerplicht"], "leerplicht", [child], ctx)
    publish(client, tokens["adapter:om"], "om", [PIET], ctx)
    stranger = {"bsn": "100000009"}
    r = query(client, tokens["coordinator"], [stranger, PIET, child])
    body = r.json()
    assert [m["known"] for m in body["members"]] == [False, True, True]
    assert body["household"] == {"agencies": ["leerplicht", "om"], "agency_count": 2,
                                 "multi_agency": True}
    assert set(body) == {"query_id", "members", "household"}
    assert set(body["members"][1]["agencies"][0]) == {"code", "name", "contact", "basis"}
    assert r.headers["cache-control"] == "no-store"


def test_partner_can_query_too(client: TestClient, ctx: Context, tokens: Tokens) -> None:
    publish(client, tokens["adapter:leerplicht"], "leerplicht", [{"bsn": "111222333"}], ctx)
    publish(client, tokens["adapter:om"], "om", [PIET], ctx)
    r = query(client, tokens["partner:leerplicht"], [PIET], purpose="partnervraag")
    assert {c for c, _ in _agencies(r)} == {"om"}  # leerplicht rule: Piet is an adult


def test_query_audit_record(client: TestClient, ctx: Context, tokens: Tokens) -> None:
    publish(client, tokens["adapter:om"], "om", [PIET], ctx)
    r = query(client, tokens["coordinator"], [PIET, {"bsn": "123456782"}])
    with ctx.db.read() as conn:
        rec = conn.execute(select(audit_records).where(
            audit_records.c.event == "query.household")).one()
    assert rec.request_id == r.json()["query_id"]
    assert (rec.actor, rec.role, rec.organisation) == ("test coordinator", "coordinator",
                                                       "veiligheidshuis")
    assert (rec.purpose, rec.case_reference, rec.outcome) == ("casusoverleg", "VH-TEST-1", "hit")
    assert rec.legal_basis and json.loads(rec.agencies) == ["om"]
    subjects = json.loads(rec.subjects)
    assert [s["agencies"] for s in subjects] == [["om"], []]
    ps = ctx.pseudonymiser.pseudonymise(
        [__import__("hitmachine.domain.identity", fromlist=["x"]).normalise_identity(bsn="111222333")],
        ctx.pseudonymiser.primary_version)[0]
    assert subjects[0]["bsn"] == ps.bsn.hex() and subjects[0]["key_version"] == 1


def test_rotation_keeps_everyone_findable(client: TestClient, ctx: Context, tokens: Tokens) -> None:
    from hitmachine.domain.errors import Conflict

    publish(client, tokens["adapter:om"], "om", [PIET], ctx)
    admin.rotate_key(ctx, admin.CONSOLE, "t")
    ctx.keys.__self__.CHECK_INTERVAL = 0  # type: ignore[attr-defined]  # pick it up now
    assert ctx.pseudonymiser.active_versions == (1, 2)
    assert _agencies(query(client, tokens["coordinator"], [PIET])) == [("om", "bsn")]
    with pytest.raises(Conflict):
        admin.retire_key(ctx, admin.CONSOLE, 1, "t")
    publish(client, tokens["adapter:om"], "om", [PIET], ctx, version=2)
    assert _agencies(query(client, tokens["coordinator"], [PIET])) == [("om", "bsn")]
    admin.retire_key(ctx, admin.CONSOLE, 1, "t")
    assert ctx.pseudonymiser.active_versions == (2,)
    assert _agencies(query(client, tokens["coordinator"], [PIET])) == [("om", "bsn")]
    with ctx.db.read() as conn:
        events = [e for (e,) in conn.execute(select(audit_records.c.event))]
    assert "key.rotate" in events and "key.retire" in events


def _block_audit(ctx: Context) -> None:
    with ctx.db.write() as conn:
        if ctx.db.is_sqlite:
            conn.execute(text("CREATE TRIGGER block_audit BEFORE INSERT ON audit_records "
                              "BEGIN SELECT RAISE(ABORT, 'audit disk full'); END"))
        else:
            conn.execute(text("CREATE FUNCTION block_audit() RETURNS trigger AS $$ BEGIN "
                              "RAISE EXCEPTION 'audit disk full'; END $$ LANGUAGE plpgsql"))
            conn.execute(text("CREATE TRIGGER block_audit BEFORE INSERT ON audit_records "
                              "FOR EACH ROW EXECUTE FUNCTION block_audit()"))


def _unblock_audit(ctx: Context) -> None:
    with ctx.db.write() as conn:
        conn.execute(text("DROP TRIGGER block_audit" + ("" if ctx.db.is_sqlite else " ON audit_records")))
        if not ctx.db.is_sqlite:
            conn.execute(text("DROP FUNCTION block_audit()"))


def test_no_answer_without_audit_record(client: TestClient, ctx: Context, tokens: Tokens) -> None:
    publish(client, tokens["adapter:om"], "om", [PIET], ctx)
    _block_audit(ctx)
    try:
        r = query(client, tokens["coordinator"], [PIET])
        assert r.status_code == 503
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "om" not in r.text.lower().split('"') and "known" not in r.text
        # A publish whose audit record fails is not applied either.
        r = client.post("/v1/publish/syncs", json={"agency": "om", "key_version": 1},
                        headers=tokens.header("adapter:om"))
        assert r.status_code == 503
    finally:
        _unblock_audit(ctx)
    with ctx.db.read() as conn:
        opened = conn.execute(text("SELECT count(*) FROM syncs WHERE status = 'open'")).scalar_one()
    assert opened == 0
    assert _agencies(query(client, tokens["coordinator"], [PIET])) == [("om", "bsn")]
