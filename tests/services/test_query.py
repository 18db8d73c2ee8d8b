"""The household query through the API on both databases: matching rules, disclosure at
the age boundaries, the household summary, key rotation, and the audit record."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from hitmachine.core.errors import Conflict
from hitmachine.core.keystore import WatchedKeyring
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
        [__import__("hitmachine.core.identity", fromlist=["x"]).normalise_identity(bsn="111222333")],
        ctx.pseudonymiser.primary_version)[0]
    assert ps.bsn is not None
    assert subjects[0]["bsn"] == ps.bsn.hex() and subjects[0]["key_version"] == 1


def test_rotation_keeps_everyone_findable(client: TestClient, ctx: Context, tokens: Tokens) -> None:
    # A watcher that looks at the keyring on every query (HITMACHINE_KEYRING_CHECK_SECONDS=0),
    # so the rotation is seen at once.
    ctx.keys = WatchedKeyring(ctx.settings.keyring_path, interval=0).current
    publish(client, tokens["adapter:om"], "om", [PIET], ctx)
    admin.rotate_key(ctx, admin.CONSOLE, "t")
    assert ctx.pseudonymiser.active_versions == (1, 2)
    assert _agencies(query(client, tokens["coordinator"], [PIET])) == [("om", "bsn")]
    with pytest.raises(Conflict):
        admin.retire_key(ctx, admin.CONSOLE, 1, "t")
    publish(client, tokens["adapter:om"], "om", [PIET], ctx, version=2)
    assert _agencies(query(client, tokens["coordinator"], [PIET])) == [("om", "bsn")]
    admin.retire_key(ctx, admin.CONSOLE, 1, "t")
    # mypy keeps the (1, 2) of the assert above: it cannot know retire_key changes the keys.
    assert ctx.pseudonymiser.active_versions == (2,)  # type: ignore[comparison-overlap]
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


# --------------------------------------------------------------------------- issue 13, finding 3
# The age rules rest on the agency's own birth date, not on the one the asker types.

ADULT = {"bsn": "111222333", "date_of_birth": "1980-05-17"}
CHILD_BIRTH = dt.date.today().replace(year=dt.date.today().year - 10, day=1).isoformat()


def test_an_adult_asked_with_a_made_up_child_birth_date_is_not_disclosed(
        client: TestClient, ctx: Context, tokens: Tokens) -> None:
    publish(client, tokens["adapter:leerplicht"], "leerplicht", [ADULT], ctx)
    publish(client, tokens["adapter:om"], "om", [ADULT], ctx)
    made_up = {"bsn": ADULT["bsn"], "date_of_birth": CHILD_BIRTH}
    assert _agencies(query(client, tokens["coordinator"], [made_up])) == [("om", "bsn")]


def test_a_child_asked_with_its_own_birth_date_is_disclosed(
        client: TestClient, ctx: Context, tokens: Tokens) -> None:
    child = {"bsn": "123456782", "date_of_birth": CHILD_BIRTH}
    publish(client, tokens["adapter:leerplicht"], "leerplicht", [child], ctx)
    assert _agencies(query(client, tokens["coordinator"], [child])) == [("leerplicht", "bsn")]


def test_an_agency_without_the_birth_date_pseudonym_is_not_disclosed_by_age(
        client: TestClient, ctx: Context, tokens: Tokens) -> None:
    """A version 1 adapter (65-byte records) sends no birth date: an age-bounded agency's BSN
    hit from it cannot be checked, so it is not disclosed; an unbounded agency's still is."""
    from hitmachine.core import wire
    from tests.helpers import entry_for

    child = {"bsn": "123456782", "date_of_birth": CHILD_BIRTH}
    e = entry_for(ctx, **child)
    assert e["bsn_birthdate"] is not None
    record = bytes((wire.FLAG_BSN,)) + bytes.fromhex(e["bsn"] or "") + bytes(32)
    for agency in ("leerplicht", "om"):
        headers = tokens.header(f"adapter:{agency}")
        sync = client.post("/v1/publish/syncs", headers=headers, json={
            "agency": agency, "key_version": ctx.pseudonymiser.primary_version}).json()
        r = client.put(f"/v1/publish/syncs/{sync['sync_id']}/batches/0", content=record,
                       headers={**headers, "Content-Type": wire.V1_MEDIA_TYPE})
        assert r.status_code == 200, r.text
        assert client.post(f"/v1/publish/syncs/{sync['sync_id']}/commit", headers=headers,
                           json={"batches": 1, "entries": 1}).status_code == 200
    assert _agencies(query(client, tokens["coordinator"], [child])) == [("om", "bsn")]


def test_research_purposes_are_refused_to_coordinators_and_partners(
        client: TestClient, ctx: Context, tokens: Tokens) -> None:
    publish(client, tokens["adapter:leerplicht"], "leerplicht", [ADULT], ctx)
    for who in ("coordinator", "partner:om"):
        r = query(client, tokens[who], [ADULT], purpose="replay", reference_date="1990-01-01")
        assert r.status_code == 403, r.text
        assert [e["field"] for e in r.json()["errors"]] == ["purpose"]
        listed = client.get("/v1/purposes", headers=tokens.header(who)).json()
        assert "replay" not in {p["code"] for p in listed}
    listed = client.get("/v1/purposes", headers=tokens.header("researcher")).json()
    assert [p["code"] for p in listed] == ["replay"]
    # The researcher's replay: the age on the reference date, from the verified birth date.
    r = query(client, tokens["researcher"], [ADULT], purpose="replay",
              reference_date="1990-01-01")
    assert _agencies(r) == [("leerplicht", "bsn")]
    r = query(client, tokens["researcher"], [ADULT])  # a live purpose
    assert r.status_code == 403 and r.json()["errors"][0]["field"] == "purpose"
    assert query(client, tokens["researcher"], [{"bsn": ADULT["bsn"]}], purpose="replay",
                 reference_date="1990-01-01").json()["members"][0]["agencies"] == []


@pytest.mark.parametrize(("members", "field"), [
    ([ADULT, {"bsn": ADULT["bsn"], "date_of_birth": CHILD_BIRTH}], "members.1.bsn"),
    ([{"bsn": "123456782"}, ADULT, {"bsn": "1234.56.782"}], "members.2.bsn"),
    ([NAME_ONLY, {**NAME_ONLY, "given_names": "P."}], "members.1"),
    ([PIET, NAME_ONLY], "members.1"),
])
def test_the_same_person_twice_is_refused(client: TestClient, tokens: Tokens,
                                          members: list[dict[str, str]], field: str) -> None:
    r = query(client, tokens["coordinator"], members)
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == [field]


def test_twins_with_one_initial_and_two_bsns_are_two_people(client: TestClient,
                                                           tokens: Tokens) -> None:
    twin = {**PIET, "bsn": "123456782", "given_names": "Paul"}
    assert query(client, tokens["coordinator"], [PIET, twin]).status_code == 200


def test_without_a_birth_date_the_unchecked_list_is_the_same_hit_or_not(
        client: TestClient, ctx: Context, tokens: Tokens) -> None:
    child = {"bsn": "123456782", "date_of_birth": CHILD_BIRTH}
    publish(client, tokens["adapter:leerplicht"], "leerplicht", [child], ctx)
    publish(client, tokens["adapter:om"], "om", [ADULT], ctx)
    r = query(client, tokens["coordinator"], [{"bsn": child["bsn"]}, {"bsn": ADULT["bsn"]},
                                              {"bsn": "100000009"}])
    members = r.json()["members"]
    assert [m["known"] for m in members] == [False, True, False]
    assert [m["unchecked_without_birth_date"] for m in members] == [
        ["leerplicht", "schuldhulp"]] * 3
    [member] = query(client, tokens["coordinator"], [child]).json()["members"]
    assert member["known"] and member["unchecked_without_birth_date"] == []
