"""Resource limits, each configured small here: the request body (413, declared or
streamed), members per household query (422), entries per batch and per delta (422) and
open syncs per agency (429). Each is a problem document and changes nothing."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from hitmachine.core.principal import Role
from hitmachine.http.app import create_app
from hitmachine.services import admin
from hitmachine.services.context import Context
from hitmachine.settings import Settings
from hitmachine.store.schema import entries, syncs
from tests.helpers import entry_for, make_bsn

LIMITS = dict(max_body_bytes=4096, max_members=3, max_batch_entries=4, max_delta_entries=4,
              max_open_syncs_per_agency=1)


@pytest.fixture
def small(settings: Settings) -> Iterator[tuple[Context, TestClient, dict[str, str],
                                                dict[str, str]]]:
    ctx = Context.from_settings(settings.model_copy(update=LIMITS))
    tokens = [admin.create_token(ctx, admin.CONSOLE, name=n, role=r, agency=a, expires_at=None,
                                 request_id="test")[1]
              for n, r, a in (("c", Role.COORDINATOR, None), ("om", Role.ADAPTER, "om"))]
    with TestClient(create_app(ctx=ctx), raise_server_exceptions=False) as client:
        yield ctx, client, *({"Authorization": f"Bearer {t}"} for t in tokens)  # type: ignore[misc]
    ctx.close()


def _problem(r: object, status: int) -> None:
    assert r.status_code == status, r.text  # type: ignore[attr-defined]
    assert r.headers["content-type"].startswith("application/problem+json")  # type: ignore[attr-defined]


def _counts(ctx: Context) -> tuple[int, int]:
    with ctx.db.read() as conn:
        return (conn.execute(select(func.count()).select_from(entries)).scalar_one(),
                conn.execute(select(func.count()).select_from(syncs)).scalar_one())


def test_every_limit_answers_with_a_problem(small: tuple[Context, TestClient, dict[str, str],
                                                         dict[str, str]]) -> None:
    ctx, client, coordinator, adapter = small
    body = b'{"purpose": "' + b"x" * 5000 + b'"}'
    _problem(client.post("/v1/queries/household", content=body,
                         headers={**coordinator, "Content-Type": "application/json"}), 413)

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams in
        yield b'{"purpose": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}'
    _problem(client.post("/v1/queries/household", content=chunks(),
                         headers={**coordinator, "Content-Type": "application/json"}), 413)

    rng = random.Random(15)  # different people: the same one twice is another error
    members = [{"bsn": make_bsn(rng)} for _ in range(4)]
    r = client.post("/v1/queries/household", headers=coordinator, json={
        "purpose": "casusoverleg", "case_reference": "VH-1", "members": members})
    _problem(r, 422)
    assert r.json()["errors"][0]["field"] == "members"

    before = _counts(ctx)
    r = client.post("/v1/publish/syncs", json={"agency": "om", "key_version": 1}, headers=adapter)
    assert r.status_code == 201
    sync_id = r.json()["sync_id"]
    _problem(client.post("/v1/publish/syncs", json={"agency": "om", "key_version": 1},
                         headers=adapter), 429)
    entry = entry_for(ctx, bsn="111222333")
    r = client.put(f"/v1/publish/syncs/{sync_id}/batches/0", json={"entries": [entry] * 5},
                   headers=adapter)
    _problem(r, 422)
    r = client.post("/v1/publish/delta", headers=adapter, json={
        "agency": "om", "key_version": 1, "add": [entry] * 3, "remove": [entry] * 2})
    _problem(r, 422)
    assert _counts(ctx) == (before[0], before[1] + 1)  # only the one open sync
