"""Signals and follow-ups (issue 16) through the API, on both databases: who is told what,
when, and that every step is audited."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from hitmachine.core.clock import iso_utc, utc_now
from hitmachine.services import signals as signal_service
from hitmachine.services.context import Context
from hitmachine.store.schema import audit_records, follow_up_members, follow_ups, signals
from tests.conftest import Tokens
from tests.helpers import entry_for, publish, query

PIET = {"bsn": "111222333", "given_names": "Piet", "prefix": "van der", "surname": "Berg",
        "date_of_birth": "1975-04-03"}
ANNA = {"bsn": "123456782", "given_names": "Anna", "surname": "Berg",
        "date_of_birth": "1977-08-09"}


def _child(today: dt.date, age: int) -> dict[str, str]:
    born = today.replace(year=today.year - age) - dt.timedelta(days=10)
    return {"bsn": "100000009", "given_names": "Kim", "surname": "Berg",
            "date_of_birth": born.isoformat()}


def inbox(client: TestClient, token: str, **params: Any) -> list[dict[str, Any]]:
    r = client.get("/v1/signals", headers={"Authorization": f"Bearer {token}"}, params=params)
    assert r.status_code == 200, r.text
    result: list[dict[str, Any]] = r.json()
    return result


def events(ctx: Context, prefix: str) -> list[dict[str, Any]]:
    with ctx.db.read() as conn:
        rows = conn.execute(select(audit_records).where(
            audit_records.c.event.startswith(prefix)).order_by(audit_records.c.id)).all()
    return [{**r._mapping, "detail": json.loads(r.detail)} for r in rows]


def test_a_disclosed_hit_signals_the_agency_with_its_own_pseudonyms(
        client: TestClient, ctx: Context, tokens: Tokens) -> None:
    publish(client, tokens["adapter:om"], "om", [PIET], ctx)
    publish(client, tokens["adapter:reclassering"], "reclassering", [ANNA], ctx)
    r = query(client, tokens["coordinator"], [PIET, ANNA])
    assert r.status_code == 200, r.text
    om = inbox(client, tokens["adapter:om"])
    assert len(om) == 1
    signal = om[0]
    published = entry_for(ctx, **PIET)
    assert signal["kind"] == "hit" and signal["sender"] == "veiligheidshuis"
    assert signal["contact"] == ctx.settings.contact_desk
    assert (signal["purpose"], signal["case_reference"]) == ("casusoverleg", "VH-TEST-1")
    assert signal["pseudonyms"] == [{"key_version": ctx.pseudonymiser.primary_version,
                                     "bsn": published["bsn"], "name": published["name"]}]
    # nothing about the other member, nor about reclassering's hit
    assert str(entry_for(ctx, **ANNA)["bsn"]) not in json.dumps(om)
    assert "reclassering" not in json.dumps(om)
    # the partner token of the same agency reads the same inbox; another agency has none
    assert [s["id"] for s in inbox(client, tokens["partner:om"])] == [signal["id"]]
    assert inbox(client, tokens["adapter:leerplicht"]) == []
    created = events(ctx, "signal.create")
    assert sorted(json.loads(c["agencies"])[0] for c in created) == ["om", "reclassering"]
    query_record = events(ctx, "query.household")[0]
    assert {c["request_id"] for c in created} == {query_record["request_id"]}


def test_signals_need_the_purpose_and_the_agency_to_take_part(
        client: TestClient, ctx: Context, tokens: Tokens) -> None:
    publish(client, tokens["adapter:om"], "om", [PIET], ctx)
    ctx.purposes["casusoverleg"] = ctx.purposes["casusoverleg"].model_copy(
        update={"signals": False})
    assert query(client, tokens["coordinator"], [PIET]).status_code == 200
    assert inbox(client, tokens["adapter:om"]) == []
    ctx.purposes["casusoverleg"] = ctx.purposes["casusoverleg"].model_copy(
        update={"signals": True})
    ctx.agencies["om"] = ctx.agencies["om"].model_copy(update={"signals": False})
    assert query(client, tokens["coordinator"], [PIET]).status_code == 200
    assert inbox(client, tokens["adapter:om"]) == []
    with ctx.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(signals)).scalar_one() == 0


def test_an_age_rule_withheld_hit_gives_no_signal(client: TestClient, ctx: Context,
                                                  tokens: Tokens) -> None:
    adult = _child(dt.date.today(), 30)
    publish(client, tokens["adapter:leerplicht"], "leerplicht", [adult], ctx)
    r = query(client, tokens["coordinator"], [adult])
    assert r.json()["members"][0]["agencies"] == []
    assert inbox(client, tokens["adapter:leerplicht"]) == []


def test_ack_and_fetch_are_audited_and_bound_to_the_inbox(client: TestClient, ctx: Context,
                                                          tokens: Tokens) -> None:
    publish(client, tokens["adapter:om"], "om", [PIET], ctx)
    query(client, tokens["coordinator"], [PIET])
    signal_id = inbox(client, tokens["adapter:om"])[0]["id"]
    other = client.post(f"/v1/signals/{signal_id}/ack", headers=tokens.header("adapter:leerplicht"))
    assert other.status_code == 404
    r = client.post(f"/v1/signals/{signal_id}/ack", headers=tokens.header("adapter:om"))
    assert r.status_code == 200 and r.json()["acked_at"]
    again = client.post(f"/v1/signals/{signal_id}/ack", headers=tokens.header("adapter:om"))
    assert again.json()["acked_at"] == r.json()["acked_at"]
    assert inbox(client, tokens["adapter:om"]) == []
    assert [s["id"] for s in inbox(client, tokens["adapter:om"], state="all")] == [signal_id]
    acks = events(ctx, "signal.ack")
    assert [a["detail"].get("already") for a in acks if a["outcome"] == "ok"] == [False, True]
    assert [a["actor"] for a in acks if a["outcome"] != "ok"] == ["test adapter leerplicht"]
    fetches = [e for e in events(ctx, "signal.fetch") if e["outcome"] == "ok"]
    assert fetches[0]["detail"]["signals"] == [signal_id]
    bad = client.post("/v1/signals/not-a-uuid/ack", headers=tokens.header("adapter:om"))
    assert bad.status_code == 422 and "signal_id" in bad.text
    assert client.get("/v1/signals", headers=tokens.header("privacy-officer")).status_code == 403


def test_a_partner_query_reaches_the_coordinators(client: TestClient, ctx: Context,
                                                  tokens: Tokens) -> None:
    publish(client, tokens["adapter:om"], "om", [PIET], ctx)
    publish(client, tokens["adapter:reclassering"], "reclassering", [PIET], ctx)
    r = query(client, tokens["partner:schuldhulp"], [PIET], purpose="partnervraag")
    assert r.status_code == 200, r.text
    hub = inbox(client, tokens["coordinator"])
    assert [s["kind"] for s in hub] == ["partner_query"]
    assert hub[0]["partner"] == "schuldhulp" and hub[0]["agencies"] == ["om", "reclassering"]
    assert hub[0]["multi_agency"] is True and hub[0]["case_reference"] == "VH-TEST-1"
    assert hub[0]["contact"] == ctx.agencies["schuldhulp"].contact
    # and the agencies with the hit hear of it, with the partner as the sender
    assert inbox(client, tokens["adapter:om"])[0]["sender"] == "schuldhulp"


def test_a_partner_is_not_signalled_about_its_own_query(client: TestClient, ctx: Context,
                                                        tokens: Tokens) -> None:
    publish(client, tokens["adapter:om"], "om", [PIET], ctx)
    query(client, tokens["partner:om"], [PIET], purpose="partnervraag")
    assert inbox(client, tokens["adapter:om"]) == []


# --------------------------------------------------------------------------- follow-ups

def _follow(client: TestClient, tokens: Tokens, members: list[dict[str, Any]],
            days: int = 30) -> dict[str, Any]:
    r = query(client, tokens["coordinator"], members, follow_up_days=days)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


def _follow_up_signals(client: TestClient, tokens: Tokens) -> list[dict[str, Any]]:
    return [s for s in inbox(client, tokens["coordinator"]) if s["kind"] == "follow_up"]


def test_follow_up_signals_once_when_a_second_agency_publishes(
        client: TestClient, ctx: Context, tokens: Tokens) -> None:
    publish(client, tokens["adapter:om"], "om", [PIET], ctx)
    answer = _follow(client, tokens, [PIET, ANNA])
    follow_up = answer["follow_up"]
    assert follow_up["agencies"] == ["om"] and follow_up["members"] == 2
    # a publish that adds nothing (om again, the same set): no signal
    publish(client, tokens["adapter:om"], "om", [PIET], ctx)
    publish(client, tokens["adapter:regieteams"], "regieteams", [{"bsn": "100000009"}], ctx)
    assert _follow_up_signals(client, tokens) == []
    # a second agency registers a member: one signal
    publish(client, tokens["adapter:reclassering"], "reclassering", [ANNA], ctx)
    found = _follow_up_signals(client, tokens)
    assert len(found) == 1
    assert found[0]["added"] == ["reclassering"] and found[0]["multi_agency"] is True
    assert found[0]["agencies"] == ["om", "reclassering"]
    assert found[0]["follow_up"] == follow_up["id"]
    assert found[0]["contact"] == ctx.agencies["reclassering"].contact
    # the same agency publishing again: nothing new
    publish(client, tokens["adapter:reclassering"], "reclassering", [ANNA, PIET], ctx)
    assert len(_follow_up_signals(client, tokens)) == 1
    listed = client.get("/v1/follow-ups", headers=tokens.header("coordinator")).json()
    assert [f["agencies"] for f in listed] == [["om", "reclassering"]]
    changes = events(ctx, "follow_up.change")
    assert len(changes) == 1 and changes[0]["actor"] == "test adapter reclassering"


def test_follow_up_by_delta(client: TestClient, ctx: Context, tokens: Tokens) -> None:
    _follow(client, tokens, [PIET])
    version = ctx.pseudonymiser.primary_version
    headers = tokens.header("adapter:schuldhulp")
    r = client.post("/v1/publish/delta", headers=headers, json={
        "agency": "schuldhulp", "key_version": version, "add": [entry_for(ctx, **ANNA)]})
    assert r.status_code == 200, r.text
    assert _follow_up_signals(client, tokens) == []
    r = client.post("/v1/publish/delta", headers=headers, json={
        "agency": "schuldhulp", "key_version": version, "add": [entry_for(ctx, **PIET)]})
    assert r.status_code == 200, r.text
    found = _follow_up_signals(client, tokens)
    assert [(s["added"], s["multi_agency"]) for s in found] == [(["schuldhulp"], False)]


def test_follow_up_respects_the_age_rules(client: TestClient, ctx: Context,
                                          tokens: Tokens) -> None:
    today = dt.date.today()
    adult, pupil = _child(today, 30), {**_child(today, 10), "bsn": "100000010"}
    pupil["bsn"] = "100000022"
    _follow(client, tokens, [adult, pupil])
    # leerplicht knows both; its rule (5-17) discloses the pupil only, with the birth date
    # its own data confirm (name key or the (BSN, birth date) pseudonym)
    publish(client, tokens["adapter:leerplicht"], "leerplicht", [adult], ctx)
    assert _follow_up_signals(client, tokens) == []
    publish(client, tokens["adapter:leerplicht"], "leerplicht", [adult, pupil], ctx)
    assert [s["added"] for s in _follow_up_signals(client, tokens)] == [["leerplicht"]]
    with ctx.db.read() as conn:
        windows = [json.loads(w) for (w,) in conn.execute(select(follow_up_members.c.windows))]
    assert all("schuldhulp" not in w or w["schuldhulp"] for w in windows)


def test_an_ended_follow_up_gives_nothing_and_keeps_nothing(
        client: TestClient, ctx: Context, tokens: Tokens) -> None:
    follow_up = _follow(client, tokens, [PIET])["follow_up"]
    r = client.delete(f"/v1/follow-ups/{follow_up['id']}", headers=tokens.header("coordinator"))
    assert r.status_code == 204
    with ctx.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(follow_up_members)).scalar_one() == 0
    publish(client, tokens["adapter:om"], "om", [PIET], ctx)
    assert _follow_up_signals(client, tokens) == []
    again = client.delete(f"/v1/follow-ups/{follow_up['id']}", headers=tokens.header("coordinator"))
    assert again.status_code == 404
    # another organisation cannot end (or see) the coordinators' follow-ups
    other = _follow(client, tokens, [ANNA])["follow_up"]
    r = client.delete(f"/v1/follow-ups/{other['id']}", headers=tokens.header("partner:om"))
    assert r.status_code == 404
    assert client.get("/v1/follow-ups", headers=tokens.header("partner:om")).json() == []
    assert [e["outcome"] for e in events(ctx, "follow_up.end")][:1] == ["ok"]


@pytest.mark.parametrize("days,purpose", [(91, "casusoverleg"), (0, "casusoverleg"),
                                          (5, "replay")])
def test_follow_up_days_are_bounded_by_the_purpose(client: TestClient, tokens: Tokens,
                                                   days: int, purpose: str) -> None:
    r = query(client, tokens["coordinator"], [PIET], purpose=purpose, follow_up_days=days)
    assert r.status_code in (403, 422), r.text
    if r.status_code == 422:
        assert "follow_up_days" in r.text


def test_expiry_deletes_signals_and_follow_ups_with_records(
        client: TestClient, ctx: Context, tokens: Tokens) -> None:
    publish(client, tokens["adapter:om"], "om", [PIET], ctx)
    _follow(client, tokens, [PIET])
    past = iso_utc(utc_now() - dt.timedelta(seconds=1))
    with ctx.db.write() as conn:
        conn.execute(update(signals).values(expires_at=past))
        conn.execute(update(follow_ups).values(expires_at=past))
    assert inbox(client, tokens["adapter:om"]) == []  # expired on read
    with ctx.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(signals)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(follow_up_members)).scalar_one() == 0
    assert [e["detail"]["count"] for e in events(ctx, "signal.expire")] == [1]
    assert len(events(ctx, "follow_up.expire")) == 1
    assert signal_service.expire(ctx) == (0, 0)


def test_follow_up_opening_is_audited_without_identifiers(
        client: TestClient, ctx: Context, tokens: Tokens) -> None:
    _follow(client, tokens, [PIET], days=14)
    opened = events(ctx, "follow_up.open")
    assert len(opened) == 1 and opened[0]["detail"]["days"] == 14
    with ctx.db.read() as conn:
        dump = json.dumps([[str(v) for v in r] for r in conn.execute(select(follow_up_members))])
        dump += json.dumps([[str(v) for v in r] for r in conn.execute(select(follow_ups))])
    for raw in ("111222333", "Piet", "Berg", "1975-04-03"):
        assert raw not in dump
