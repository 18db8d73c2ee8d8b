"""Bad input gets a clear 4xx problem+json naming the field, never echoes the value, and
changes nothing in the index."""

from __future__ import annotations

import random
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from hitmachine.services.context import Context
from hitmachine.store.schema import entries, syncs
from tests.conftest import Tokens
from tests.helpers import entry_for, make_bsn, publish, query

GOOD = {"bsn": "111222333"}


def _assert_problem(r: Any, status: int, field: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["status"] == status and body["title"] and body["type"]
    fields = [e["field"] for e in body.get("errors", [])]
    assert field in fields, (field, fields)
    return body


def _index_state(ctx: Context) -> tuple[int, int]:
    with ctx.db.read() as conn:
        return (conn.execute(select(func.count()).select_from(entries)).scalar_one(),
                conn.execute(select(func.count()).select_from(syncs)).scalar_one())


@pytest.mark.parametrize(("member", "field", "secret"), [
    ({"bsn": "123456789"}, "members.1.bsn", "123456789"),
    ({"bsn": "12-34"}, "members.1.bsn", "12-34"),
    ({"bsn": "abcdefghi"}, "members.1.bsn", "abcdefghi"),
    ({"surname": "Jansen", "given_names": "Piet", "date_of_birth": "2021-02-29"},
     "members.1.date_of_birth", "2021-02-29"),
    ({"surname": "Jansen", "given_names": "Piet", "date_of_birth": "31-12-1990"},
     "members.1.date_of_birth", "31-12-1990"),
    ({"surname": "Jansen", "date_of_birth": "1990-01-01"}, "members.1.given_names", "Jansen"),
    ({}, "members.1.bsn", None),
    ({"bsn": "111222333", "shoe_size": 44}, "members.1.shoe_size", None),
])
def test_bad_member_is_422_naming_the_field(client: TestClient, tokens: Tokens,
                                             member: dict[str, Any], field: str,
                                             secret: str | None) -> None:
    r = query(client, tokens["coordinator"], [GOOD, member])
    _assert_problem(r, 422, field)
    if secret:
        assert secret not in r.text


def test_unknown_purpose(client: TestClient, tokens: Tokens) -> None:
    _assert_problem(query(client, tokens["coordinator"], [GOOD], purpose="curiosity"), 422, "purpose")


def test_reference_date_only_for_replay(client: TestClient, tokens: Tokens) -> None:
    r = query(client, tokens["coordinator"], [GOOD], reference_date="2011-03-01")
    _assert_problem(r, 422, "reference_date")
    assert query(client, tokens["researcher"], [GOOD], purpose="replay",
                 reference_date="2011-03-01").status_code == 200


def test_unknown_top_level_field(client: TestClient, tokens: Tokens) -> None:
    r = query(client, tokens["coordinator"], [GOOD], reason="just checking")
    _assert_problem(r, 422, "reason")


def test_too_many_members(client: TestClient, tokens: Tokens, ctx: Context) -> None:
    rng = random.Random(15)  # different people: the same one twice is another error
    members = [{"bsn": make_bsn(rng)} for _ in range(ctx.settings.max_members + 1)]
    _assert_problem(query(client, tokens["coordinator"], members), 422, "members")


@pytest.mark.parametrize("raw", [b"{not json", b"", b"[]", b'"members"'])
def test_malformed_json_body(client: TestClient, tokens: Tokens, raw: bytes) -> None:
    r = client.post("/v1/queries/household", content=raw,
                    headers={**tokens.header("coordinator"), "Content-Type": "application/json"})
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"][0]["field"]


def test_unknown_agency_on_open(client: TestClient, tokens: Tokens, ctx: Context) -> None:
    before = _index_state(ctx)
    r = client.post("/v1/publish/syncs", json={"agency": "belastingdienst", "key_version": 1},
                    headers=tokens.header("adapter:om"))
    _assert_problem(r, 422, "agency")
    assert _index_state(ctx) == before


def test_unknown_key_version(client: TestClient, tokens: Tokens, ctx: Context) -> None:
    r = client.post("/v1/publish/syncs", json={"agency": "om", "key_version": 7},
                    headers=tokens.header("adapter:om"))
    _assert_problem(r, 422, "key_version")


def _open(client: TestClient, tokens: Tokens) -> str:
    r = client.post("/v1/publish/syncs", json={"agency": "om", "key_version": 1},
                    headers=tokens.header("adapter:om"))
    assert r.status_code == 201
    sync_id: str = r.json()["sync_id"]
    return sync_id


def test_oversized_batch_is_refused_whole(client: TestClient, tokens: Tokens, ctx: Context) -> None:
    sync_id = _open(client, tokens)
    before = _index_state(ctx)
    entry = entry_for(ctx, bsn="111222333")
    big = [entry] * (ctx.settings.max_batch_entries + 1)
    r = client.put(f"/v1/publish/syncs/{sync_id}/batches/0", json={"entries": big},
                   headers=tokens.header("adapter:om"))
    _assert_problem(r, 422, "entries")
    assert _index_state(ctx) == before


def test_batch_with_one_bad_entry_stores_nothing(client: TestClient, tokens: Tokens,
                                                 ctx: Context) -> None:
    sync_id = _open(client, tokens)
    good = entry_for(ctx, bsn="111222333")
    for bad, field in [({"bsn": "zz" * 32}, "entries.2.bsn"), ({"bsn": None, "name": None}, "entries.2"),
                       ({"bsn": "ab"}, "entries.2.bsn"), ({"pseudonym": "x"}, "entries.2.pseudonym")]:
        before = _index_state(ctx)
        r = client.put(f"/v1/publish/syncs/{sync_id}/batches/0", json={"entries": [good, good, bad]},
                       headers=tokens.header("adapter:om"))
        _assert_problem(r, 422, field)
        assert _index_state(ctx) == before
    status = client.put(f"/v1/publish/syncs/{sync_id}/batches/0", json={"entries": [good]},
                        headers=tokens.header("adapter:om"))
    assert status.status_code == 200 and status.json()["applied"] is True


def test_bad_delta_changes_nothing(client: TestClient, tokens: Tokens, ctx: Context) -> None:
    publish(client, tokens["adapter:om"], "om", [{"bsn": "111222333"}], ctx)
    before = _index_state(ctx)
    r = client.post("/v1/publish/delta", headers=tokens.header("adapter:om"), json={
        "agency": "om", "key_version": 1, "add": [entry_for(ctx, bsn="123456782")],
        "remove": [{"bsn": "not-hex"}]})
    _assert_problem(r, 422, "remove.0.bsn")
    assert _index_state(ctx) == before


def test_commit_with_wrong_counts_is_409_and_changes_nothing(client: TestClient, tokens: Tokens,
                                                             ctx: Context) -> None:
    sync_id = _open(client, tokens)
    client.put(f"/v1/publish/syncs/{sync_id}/batches/0",
               json={"entries": [entry_for(ctx, bsn="111222333")]}, headers=tokens.header("adapter:om"))
    r = client.post(f"/v1/publish/syncs/{sync_id}/commit", json={"batches": 2, "entries": 2},
                    headers=tokens.header("adapter:om"))
    assert r.status_code == 409
    assert query(client, tokens["coordinator"], [GOOD]).json()["members"][0]["known"] is False


def test_unknown_sync_is_404(client: TestClient, tokens: Tokens) -> None:
    r = client.put("/v1/publish/syncs/00000000-0000-4000-8000-000000000000/batches/0",
                   json={"entries": []}, headers=tokens.header("adapter:om"))
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")


def test_unknown_path_and_method_are_problems(client: TestClient) -> None:
    r = client.get("/v1/nothing-here")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    r = client.delete("/v1/agencies")
    assert r.status_code == 405 and r.headers["content-type"].startswith("application/problem+json")


def test_oversized_body_is_413(client: TestClient, tokens: Tokens, ctx: Context) -> None:
    blob = b'{"purpose": "' + b"x" * (ctx.settings.max_body_bytes + 10) + b'"}'
    r = client.post("/v1/queries/household", content=blob,
                    headers={**tokens.header("coordinator"), "Content-Type": "application/json"})
    assert r.status_code == 413
    assert r.headers["content-type"].startswith("application/problem+json")


def _fields(r: Any) -> set[str]:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    return {e["field"] for e in r.json()["errors"]}


def test_every_field_error_in_one_answer(client: TestClient, tokens: Tokens) -> None:
    """Issue 14 item 10: an unknown purpose and a missing case reference come together,
    as do an unknown purpose and a member's invalid BSN, so one try shows them all."""
    headers = tokens.header("coordinator")
    r = client.post("/v1/queries/household", headers=headers,
                    json={"purpose": "curiosity", "members": [GOOD, {"bsn": "123456789"}]})
    assert _fields(r) == {"purpose", "case_reference", "members.1.bsn"}
    assert "123456789" not in r.text and "curiosity" not in r.text
    r = query(client, tokens["coordinator"], [GOOD, {"bsn": "123456789"}], purpose="curiosity")
    assert _fields(r) == {"purpose", "members.1.bsn"}
    r = query(client, tokens["coordinator"], [{"bsn": "123456789"}, {"shoe_size": 44}],
              reference_date="2011-03-01")
    assert _fields(r) == {"reference_date", "members.0.bsn", "members.1.shoe_size"}


def test_all_errors_with_too_many_members(client: TestClient, tokens: Tokens,
                                          ctx: Context) -> None:
    rng = random.Random(15)  # different people: the same one twice is another error
    members = [{"bsn": make_bsn(rng)} for _ in range(ctx.settings.max_members + 1)]
    r = query(client, tokens["coordinator"], members, purpose="curiosity")
    assert _fields(r) == {"purpose", "members"}
