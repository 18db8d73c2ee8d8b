"""Enumeration defence: a scripted enumeration of 10,000 BSNs by one coordinator token is
stopped within the daily budget and flagged with ``alert.*`` audit records that the
privacy officer reads; per-token and per-user rate limits answer 429 with Retry-After;
with Redis the counts are shared by separate app instances (as by uvicorn workers)."""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hitmachine.core.principal import Role
from hitmachine.http.app import create_app
from hitmachine.services import admin, users
from hitmachine.services.context import Context
from hitmachine.settings import Settings
from tests.helpers import make_bsn

REDIS_URL = "redis://127.0.0.1:6379"
REQUIRE_REDIS = os.environ.get("HITMACHINE_REQUIRE_REDIS") == "1"


def _client(settings: Settings, **limits: Any) -> tuple[Context, TestClient]:
    ctx = Context.from_settings(settings.model_copy(update=limits))
    return ctx, TestClient(create_app(ctx=ctx), raise_server_exceptions=False)


def _token(ctx: Context, role: Role, name: str | None = None,
           user: str | None = None) -> dict[str, str]:
    token = admin.create_token(ctx, admin.CONSOLE, name=name or f"{role.value} {uuid.uuid4().hex[:8]}",
                               role=role, agency=None, expires_at=None, request_id="test",
                               user=user)[1]
    return {"Authorization": f"Bearer {token}"}


def _ask(client: TestClient, headers: dict[str, str], bsns: list[str]) -> Any:
    return client.post("/v1/queries/household", headers=headers, json={
        "purpose": "casusoverleg", "case_reference": "VH-ENUM",
        "members": [{"bsn": b} for b in bsns]})


def _alerts(client: TestClient, officer: dict[str, str], event: str = "alert.") -> list[Any]:
    r = client.get("/v1/audit/records", params={"event": event, "limit": 1000}, headers=officer)
    assert r.status_code == 200, r.text
    records: list[Any] = r.json()["records"]
    return records


@pytest.fixture
def limited(settings: Settings) -> Iterator[tuple[Context, TestClient]]:
    ctx, client = _client(settings, query_budget_per_day=1000, query_alert_per_day=400,
                          rate_limit_per_user="100000/minute",
                          rate_limit_per_token="100000/minute")
    with client:
        yield ctx, client
    ctx.close()


def test_enumeration_of_10000_bsns_is_stopped_and_flagged(
        limited: tuple[Context, TestClient]) -> None:
    ctx, client = limited
    rng = random.Random(9)
    bsns = [make_bsn(rng) for _ in range(10_000)]
    coordinator = _token(ctx, Role.COORDINATOR, "curious coordinator")
    per_query = ctx.settings.max_members
    answered = refused = 0
    for start in range(0, len(bsns), per_query):
        r = _ask(client, coordinator, bsns[start:start + per_query])
        if r.status_code == 200:
            answered += len(r.json()["members"])
        else:
            assert r.status_code == 429, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
            assert int(r.headers["Retry-After"]) > 0
            refused += 1
    budget = ctx.settings.query_budget_per_day
    assert answered <= budget and answered >= budget - per_query, answered
    assert refused == len(bsns) // per_query - answered // per_query
    officer = _token(ctx, Role.PRIVACY_OFFICER)
    alerts = _alerts(client, officer)
    assert [(a["event"], a["actor"]) for a in alerts] == [
        ("alert.query_volume", "curious coordinator"), ("alert.query_budget", "curious coordinator")]
    assert alerts[1]["detail"]["budget"] == budget
    # Alerts name the actor, never a subject: no BSN, no pseudonym.
    assert all(a["subjects"] == [] for a in alerts)
    assert not any(b in str(alerts) for b in bsns)
    # Another coordinator is not affected by the first one's budget.
    assert _ask(client, _token(ctx, Role.COORDINATOR), bsns[:3]).status_code == 200


def test_rate_limit_per_token_and_per_user(settings: Settings) -> None:
    ctx, client = _client(settings, rate_limit_per_token="5/minute",
                          rate_limit_per_user="3/minute")
    with client:
        users.create_user(ctx, admin.CONSOLE, name="hasty", role=Role.COORDINATOR,
                          password="correct horse battery", request_id="test")
        token = _token(ctx, Role.COORDINATOR, "hasty api 1", user="hasty")
        statuses = [_ask(client, token, ["111222333"]).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]  # the user's query rate
        statuses = [client.get("/v1/agencies", headers=token).status_code for _ in range(3)]
        assert statuses == [200, 429, 429]  # the token's request rate: 5 used
        r = client.get("/v1/agencies", headers=token)
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
        assert r.headers["content-type"].startswith("application/problem+json")
        # A second token of the same user shares the user's query rate, not the token's.
        second = _token(ctx, Role.COORDINATOR, "hasty api 2", user="hasty")
        assert client.get("/v1/agencies", headers=second).status_code == 200
        assert _ask(client, second, ["111222333"]).status_code == 429
        alerts = _alerts(client, _token(ctx, Role.PRIVACY_OFFICER), "alert.rate_limit")
        scopes = sorted(a["detail"]["scope"] for a in alerts)
        assert scopes == ["token", "user"]  # one alert per limit and window, not per refusal
    ctx.close()


def test_rate_limits_can_be_switched_off(settings: Settings) -> None:
    ctx, client = _client(settings, rate_limits=False, rate_limit_per_token="1/minute",
                          query_budget_per_day=1)
    with client:
        token = _token(ctx, Role.COORDINATOR)
        assert [_ask(client, token, ["111222333", "123456782"]).status_code
                for _ in range(3)] == [200, 200, 200]
    ctx.close()


def _redis_up() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=1).ping())
    except Exception:
        return False


def test_budget_is_shared_by_workers_through_redis(settings: Settings) -> None:
    if not _redis_up():
        if REQUIRE_REDIS:
            pytest.fail(f"Redis not reachable at {REDIS_URL} (HITMACHINE_REQUIRE_REDIS=1)")
        pytest.skip(f"Redis not reachable at {REDIS_URL}")
    limits = dict(rate_limit_storage=REDIS_URL, query_budget_per_day=10, query_alert_per_day=6)
    one, first = _client(settings, **limits)
    two, second = _client(settings, **limits)
    actor = f"coordinator {uuid.uuid4().hex}"  # fresh keys in the shared store
    with first, second:
        token = _token(one, Role.COORDINATOR, actor)
        bsns = [make_bsn(random.Random(i)) for i in range(4)]
        assert _ask(first, token, bsns).status_code == 200    # 4
        assert _ask(second, token, bsns).status_code == 200   # 8: crosses the alert at 6
        assert _ask(first, token, bsns).status_code == 429    # 12 > 10
        assert _ask(second, token, bsns[:1]).status_code == 429
        events = [a["event"] for a in _alerts(first, _token(one, Role.PRIVACY_OFFICER))]
        assert events == ["alert.query_volume", "alert.query_budget"]
    one.close()
    two.close()


def test_redis_down_refuses_rather_than_fails_open(settings: Settings) -> None:
    ctx, client = _client(settings, rate_limit_storage="redis://127.0.0.1:9")
    with client:
        r = _ask(client, _token(ctx, Role.COORDINATOR), ["111222333"])
        assert r.status_code == 503
        assert r.headers["content-type"].startswith("application/problem+json")
    ctx.close()
