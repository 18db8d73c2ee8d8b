"""Issue 15: the API's coroutines count their rate limits without blocking the loop
(``*_async``), in the same windows as the web pages' threads (the synchronous calls):
in process, and through Redis with an asyncio client on the same keys."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from hitmachine.core.errors import LimitExceeded
from hitmachine.core.principal import Principal, Role
from hitmachine.services import ratelimit
from hitmachine.services.context import Context
from hitmachine.settings import Settings
from hitmachine.store.schema import audit_records
from tests.security.test_enumeration import REDIS_URL, REQUIRE_REDIS, _redis_up


@pytest.fixture(params=["memory", "redis"])
def limited(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Context]:
    storage = None
    if request.param == "redis":
        if not _redis_up():
            if REQUIRE_REDIS:
                pytest.fail(f"Redis not reachable at {REDIS_URL} (HITMACHINE_REQUIRE_REDIS=1)")
            pytest.skip(f"Redis not reachable at {REDIS_URL}")
        storage = REDIS_URL
    ctx = Context.from_settings(settings.model_copy(update=dict(
        rate_limits=True, rate_limit_storage=storage, rate_limit_per_token="3/minute",
        rate_limit_per_user="1000/minute", query_budget_per_day=10,
        query_alert_per_day=6)))
    yield ctx
    ctx.close()


def _principal() -> Principal:
    # A token id of its own per run: Redis keeps its windows between test runs.
    return Principal(actor="coordinator", role=Role.COORDINATOR, agency=None,
                     token_id=uuid.uuid4().int % 10**12, user_id=uuid.uuid4().int % 10**12)


def _events(ctx: Context) -> list[str]:
    with ctx.db.read() as conn:
        return [r[0] for r in conn.execute(select(audit_records.c.event)
                                           .order_by(audit_records.c.id))]


def test_threads_and_coroutines_count_in_one_window(limited: Context) -> None:
    ctx, principal = limited, _principal()
    ratelimit.check_request(ctx, principal, "r1")
    asyncio.run(ratelimit.check_request_async(ctx, principal, "r2"))
    ratelimit.check_request(ctx, principal, "r3")
    with pytest.raises(LimitExceeded) as refused:
        asyncio.run(ratelimit.check_request_async(ctx, principal, "r4"))
    assert refused.value.retry_after is not None and refused.value.retry_after >= 1
    with pytest.raises(LimitExceeded):
        ratelimit.check_request(ctx, principal, "r5")
    assert _events(ctx) == ["alert.rate_limit"]  # once per window, written in a thread


def test_the_daily_budget_is_one_sum_for_threads_and_coroutines(limited: Context) -> None:
    ctx, principal = limited, _principal()
    ratelimit.spend_queries(ctx, principal, 4, "q1")                       # 4
    asyncio.run(ratelimit.spend_queries_async(ctx, principal, 4, "q2"))    # 8: alert at 6
    with pytest.raises(LimitExceeded):
        asyncio.run(ratelimit.spend_queries_async(ctx, principal, 4, "q3"))  # 12 > 10
    with pytest.raises(LimitExceeded):
        ratelimit.spend_queries(ctx, principal, 1, "q4")
    assert _events(ctx) == ["alert.query_volume", "alert.query_budget"]
