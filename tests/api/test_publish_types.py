"""The publish API takes numbers as JSON numbers only (issue 13, finding 14): ``"1"`` or
``true`` for a key version is a client's mistake, answered 422 naming the field, and
changes nothing. And a repeated commit is answered as documented (finding 1)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from hitmachine.services.context import Context
from hitmachine.store.schema import audit_records, syncs
from tests.conftest import Tokens
from tests.helpers import entry_for

NOT_INTEGERS: list[Any] = ["1", True, 1.0, "one", None]


def _open(client: TestClient, tokens: Tokens) -> str:
    r = client.post("/v1/publish/syncs", json={"agency": "om", "key_version": 1},
                    headers=tokens.header("adapter:om"))
    assert r.status_code == 201, r.text
    sync: str = r.json()["sync_id"]
    return sync


def _refused(r: Any, field: str) -> None:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert field in [e["field"] for e in r.json()["errors"]], r.text


def _sync_count(ctx: Context) -> int:
    with ctx.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(syncs)).scalar_one())


@pytest.mark.parametrize("value", NOT_INTEGERS)
def test_open_sync_key_version_must_be_an_integer(client: TestClient, tokens: Tokens,
                                                   ctx: Context, value: Any) -> None:
    r = client.post("/v1/publish/syncs", json={"agency": "om", "key_version": value},
                    headers=tokens.header("adapter:om"))
    _refused(r, "key_version")
    assert _sync_count(ctx) == 0


@pytest.mark.parametrize("value", NOT_INTEGERS)
def test_delta_key_version_must_be_an_integer(client: TestClient, tokens: Tokens,
                                              ctx: Context, value: Any) -> None:
    r = client.post("/v1/publish/delta", headers=tokens.header("adapter:om"), json={
        "agency": "om", "key_version": value, "add": [entry_for(ctx, bsn="111222333")]})
    _refused(r, "key_version")
    assert client.get("/v1/publish/status", headers=tokens.header("adapter:om")).status_code == 404


@pytest.mark.parametrize("field", ["batches", "entries"])
def test_commit_counts_must_be_integers(client: TestClient, tokens: Tokens, field: str) -> None:
    sync = _open(client, tokens)
    body: dict[str, Any] = {"batches": 0, "entries": 0, field: "0"}
    r = client.post(f"/v1/publish/syncs/{sync}/commit", json=body,
                    headers=tokens.header("adapter:om"))
    _refused(r, field)


def _commit(client: TestClient, tokens: Tokens, sync: str, batches: int, n: int) -> Any:
    return client.post(f"/v1/publish/syncs/{sync}/commit", json={"batches": batches, "entries": n},
                       headers=tokens.header("adapter:om"))


def test_a_repeated_commit_answers_the_same_set_and_changes_nothing(
        client: TestClient, tokens: Tokens, ctx: Context) -> None:
    sync = _open(client, tokens)
    client.put(f"/v1/publish/syncs/{sync}/batches/0", headers=tokens.header("adapter:om"),
               json={"entries": [entry_for(ctx, bsn="111222333")]}).raise_for_status()
    first = _commit(client, tokens, sync, 1, 1)
    again = _commit(client, tokens, sync, 1, 1)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    with ctx.db.read() as conn:
        details = [r[0] for r in conn.execute(select(audit_records.c.detail).where(
            audit_records.c.event == "publish.commit").order_by(audit_records.c.id))]
    assert [json.loads(d)["applied"] for d in details] == [True, False], details
    assert _commit(client, tokens, sync, 1, 2).status_code == 409  # not what was committed

    later = _open(client, tokens)
    assert _commit(client, tokens, later, 0, 0).status_code == 200
    stale = _commit(client, tokens, sync, 1, 1)  # a late retry must not bring the old set back
    assert stale.status_code == 409, stale.text
    status = client.get("/v1/publish/status", headers=tokens.header("adapter:om")).json()
    assert status["entries"] == 0
