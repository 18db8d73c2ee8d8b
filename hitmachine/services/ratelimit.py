"""Enumeration defence: rate limits per token and per user, and a daily query budget.

A curious insider with a valid token can ask about one BSN after another. Three limits
stand in the way, all counted in one store that every worker shares (Redis when
``HITMACHINE_RATE_LIMIT_STORAGE`` names it; in memory, per process, otherwise):

* ``rate_limit_per_token``: API requests of one token (any operation);
* ``rate_limit_per_user``: household queries of one person, through the API and the web
  pages alike;
* ``query_budget_per_day``: the number of *members* one person may ask about per local
  day. A request that would cross it is refused whole;
* ``sign_in_limit_per_address`` and ``sign_in_limit_total``: web sign-in attempts, counted
  before any password is hashed (Argon2 is slow on purpose, so a flood of attempts must
  be refused before it reaches the hasher);
* ``anonymous_limit_per_address``: API requests without a valid token, per client address.

"One person" is ``Principal.budget_key``: a web account's id, which the tokens made for
that account (``token create --user``) share; otherwise the token's id. Never the name:
``coord1`` and ``COORD1`` would be two budgets.

Crossing ``query_alert_per_day`` members, exhausting the budget, or the first refusal by a
rate limit in a window writes an ``alert.*`` audit record (the privacy officer reads them
with ``GET /v1/audit/records?event=alert.``) and a log line. Each crossing alerts once,
in whichever worker made it: the counters are atomic increments in the shared store.
If the store cannot be reached the request is refused (503): failing open would switch
the defence off exactly when someone floods the service.

The API's coroutines count through the ``*_async`` functions, which block nothing: the
in-process store is a dictionary, and Redis is asked through its asyncio client (one per
event loop, on the same keys as the synchronous client the web pages' threads use). A
refusal or an alert, which writes an audit record, is settled in a worker thread.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import hashlib
import logging
import math
import threading
import time
import weakref
from typing import TYPE_CHECKING, cast
from zoneinfo import ZoneInfo

import anyio.to_thread
from limits import RateLimitItem, parse
from limits.aio.storage import Storage as AsyncStorage
from limits.aio.strategies import FixedWindowRateLimiter as AsyncFixedWindowRateLimiter
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter
from sqlalchemy.engine import make_url

from hitmachine.core.auditlog.record import AuditRecord, Outcome
from hitmachine.core.errors import LimitExceeded, Unavailable
from hitmachine.core.principal import ANONYMOUS, Principal
from hitmachine.services import metrics

if TYPE_CHECKING:
    from hitmachine.services.context import Context
    from hitmachine.settings import Settings

log = logging.getLogger("hitmachine.alert")
_lock = threading.Lock()


class Guard:
    """The limits of one process, over a store that may be shared with other workers."""

    def __init__(self, settings: "Settings") -> None:
        self.settings = settings
        self.enabled = settings.rate_limits
        uri = settings.rate_limit_storage or "memory://"
        # A scheme without "async+" gives the synchronous storage this guard calls.
        self.uri = uri
        self.storage = cast(Storage, storage_from_string(uri, **_options(uri)))
        self.limiter = FixedWindowRateLimiter(self.storage)
        # The in-process store answers without I/O, so a coroutine may count in it directly.
        self.in_process = isinstance(self.storage, MemoryStorage)
        # An asyncio client belongs to the loop it was made on: one per serving loop.
        self._async: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, AsyncFixedWindowRateLimiter] = weakref.WeakKeyDictionary()
        self.per_token: RateLimitItem = parse(settings.rate_limit_per_token)
        self.per_user: RateLimitItem = parse(settings.rate_limit_per_user)
        self.zone = ZoneInfo(settings.timezone)
        # Token and account ids are numbered per database: two deployments (or test runs)
        # sharing one Redis must not count against each other's ids.
        url = make_url(settings.database_url).render_as_string(hide_password=True)
        self.namespace = hashlib.sha256(url.encode("utf-8")).hexdigest()[:12]

    def _hit(self, item: RateLimitItem, *ids: str) -> tuple[bool, float]:
        """(allowed, when the window resets, as a Unix time)."""
        try:
            if self.limiter.hit(item, *ids):
                return True, 0.0
            return False, float(self.limiter.get_window_stats(item, *ids).reset_time)
        except Exception as exc:  # redis errors and the like: refuse, never fail open
            raise _unavailable(exc) from None

    def _incr(self, key: str, expiry: int, amount: int) -> int:
        try:
            return int(self.storage.incr(key, expiry, amount=amount))
        except Exception as exc:
            raise _unavailable(exc) from None

    def _first(self, key: str, expiry: int) -> bool:
        """True exactly once per key and expiry period, across workers."""
        return self._incr("hitmachine/once/" + key, expiry, 1) == 1

    def _async_limiter(self) -> AsyncFixedWindowRateLimiter:
        loop = asyncio.get_running_loop()
        limiter = self._async.get(loop)
        if limiter is None:
            storage = storage_from_string("async+" + self.uri, implementation="redispy",
                                          **_options(self.uri))
            limiter = AsyncFixedWindowRateLimiter(cast(AsyncStorage, storage))
            self._async[loop] = limiter
        return limiter

    async def _hit_async(self, item: RateLimitItem, *ids: str) -> tuple[bool, float]:
        if self.in_process:
            return self._hit(item, *ids)
        limiter = self._async_limiter()
        try:
            if await limiter.hit(item, *ids):
                return True, 0.0
            return False, float((await limiter.get_window_stats(item, *ids)).reset_time)
        except Exception as exc:
            raise _unavailable(exc) from None

    async def _incr_async(self, key: str, expiry: int, amount: int) -> int:
        if self.in_process:
            return self._incr(key, expiry, amount)
        try:
            return int(await self._async_limiter().storage.incr(key, expiry, amount=amount))
        except Exception as exc:
            raise _unavailable(exc) from None


def guard(ctx: "Context") -> Guard:
    """The context's guard, made on first use (the context is built before any worker)."""
    current: Guard | None = getattr(ctx, "guard", None)
    if current is None:
        with _lock:
            current = getattr(ctx, "guard", None)
            if current is None:
                current = Guard(ctx.settings)
                ctx.guard = current
    return current


def check_request(ctx: "Context", principal: Principal, request_id: str) -> None:
    """Count one API request against the token's limit; raise 429 over it."""
    g = guard(ctx)
    if not g.enabled:
        return
    who = _token_key(g, principal)
    allowed, reset = g._hit(g.per_token, "token", who)
    if not allowed:
        _deny(ctx, g, principal, request_id, "token", str(g.per_token), who, reset)


async def check_request_async(ctx: "Context", principal: Principal, request_id: str) -> None:
    """``check_request`` for a coroutine."""
    g = guard(ctx)
    if not g.enabled:
        return
    who = _token_key(g, principal)
    allowed, reset = await g._hit_async(g.per_token, "token", who)
    if not allowed:
        await anyio.to_thread.run_sync(_deny, ctx, g, principal, request_id, "token",
                                       str(g.per_token), who, reset)


def _token_key(g: Guard, principal: Principal) -> str:
    return (f"{g.namespace}/token:{principal.token_id}" if principal.token_id is not None
            else f"{g.namespace}/{principal.budget_key}")


def check_sign_in(ctx: "Context", address: str, request_id: str) -> None:
    """Count one sign-in attempt from ``address``; raise 429 over the address's limit or the
    limit of all addresses together. Call before anything is hashed or written. An address
    over its own limit does not use up the shared one."""
    g = guard(ctx)
    if not g.enabled:
        return
    settings = ctx.settings
    for limit, who in ((settings.sign_in_limit_per_address, address),
                       (settings.sign_in_limit_total, "all")):
        item = _item(limit)
        allowed, reset = g._hit(item, "signin", who)
        if not allowed:
            _deny(ctx, g, ANONYMOUS, request_id, "signin", str(item), who, reset)


def check_anonymous(ctx: "Context", address: str, request_id: str) -> None:
    """Count one API request without a valid token from ``address``; raise 429 over the
    limit, so a flood of bad tokens costs a counter, not a database write each."""
    g = guard(ctx)
    if not g.enabled:
        return
    item = _item(ctx.settings.anonymous_limit_per_address)
    allowed, reset = g._hit(item, "anonymous", address)
    if not allowed:
        _deny(ctx, g, ANONYMOUS, request_id, "anonymous", str(item), address, reset)


async def check_anonymous_async(ctx: "Context", address: str, request_id: str) -> None:
    """``check_anonymous`` for a coroutine."""
    g = guard(ctx)
    if not g.enabled:
        return
    item = _item(ctx.settings.anonymous_limit_per_address)
    allowed, reset = await g._hit_async(item, "anonymous", address)
    if not allowed:
        await anyio.to_thread.run_sync(_deny, ctx, g, ANONYMOUS, request_id, "anonymous",
                                       str(item), address, reset)


def first_in_window(ctx: "Context", key: str, seconds: int, window: int) -> bool:
    """True for the first call with ``key`` in window number ``window`` (of ``seconds``
    each), across workers (the shared store counts)."""
    return guard(ctx)._first(f"{key}/{seconds}/{window}", seconds + 60)


@functools.lru_cache(maxsize=32)
def _item(limit: str) -> RateLimitItem:
    return parse(limit)


def spend_queries(ctx: "Context", principal: Principal, members: int, request_id: str) -> None:
    """Count one household query of ``members`` members against the actor's query rate and
    daily budget; raise 429 when either is used up. Call before the query is evaluated."""
    g = guard(ctx)
    if not g.enabled:
        return
    who = f"{g.namespace}/{principal.budget_key}"
    allowed, reset = g._hit(g.per_user, "user", who)
    if not allowed:
        _deny(ctx, g, principal, request_id, "user", str(g.per_user), who, reset)
    now = dt.datetime.now(g.zone)
    used = g._incr(_budget_key(who, now), 2 * 86400, members)
    _settle_budget(ctx, g, principal, request_id, now, used, members)


async def spend_queries_async(ctx: "Context", principal: Principal, members: int,
                              request_id: str) -> None:
    """``spend_queries`` for a coroutine."""
    g = guard(ctx)
    if not g.enabled:
        return
    who = f"{g.namespace}/{principal.budget_key}"
    allowed, reset = await g._hit_async(g.per_user, "user", who)
    if not allowed:
        await anyio.to_thread.run_sync(_deny, ctx, g, principal, request_id, "user",
                                       str(g.per_user), who, reset)
    now = dt.datetime.now(g.zone)
    used = await g._incr_async(_budget_key(who, now), 2 * 86400, members)
    if used < ctx.settings.query_alert_per_day and used <= ctx.settings.query_budget_per_day:
        return  # nothing to alert or refuse: the usual case settles here, on the loop
    await anyio.to_thread.run_sync(_settle_budget, ctx, g, principal, request_id, now, used,
                                   members)


def _budget_key(who: str, now: dt.datetime) -> str:
    return f"hitmachine/budget/{who}/{now.date().isoformat()}"


def _settle_budget(ctx: "Context", g: Guard, principal: Principal, request_id: str,
                   now: dt.datetime, used: int, members: int) -> None:
    """Alert on the request that crossed the alert threshold or the budget, and refuse
    every request over the budget (blocking: an alert commits an audit record)."""
    day = now.date().isoformat()
    before = used - members
    settings = ctx.settings
    if before < settings.query_alert_per_day <= used:
        _alert(ctx, principal, request_id, "alert.query_volume",
               {"members_today": used, "threshold": settings.query_alert_per_day, "day": day})
    if used > settings.query_budget_per_day:
        metrics.RATE_LIMIT_DENIALS.labels("budget").inc()
        if before <= settings.query_budget_per_day:  # the request that crossed it
            _alert(ctx, principal, request_id, "alert.query_budget",
                   {"members_today": used, "budget": settings.query_budget_per_day, "day": day})
        midnight = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(),
                                       tzinfo=g.zone)
        raise LimitExceeded(
            f"the daily query budget of {settings.query_budget_per_day} members is used up",
            field="members", retry_after=max(1, math.ceil((midnight - now).total_seconds())))


def _deny(ctx: "Context", g: Guard, principal: Principal, request_id: str, scope: str,
          limit: str, who: str, reset: float) -> None:
    metrics.RATE_LIMIT_DENIALS.labels(scope).inc()
    retry = max(1, math.ceil(reset - time.time()))
    # One alert per limited party and window (a fixed window has one reset time), not one
    # per refused request.
    if g._first(f"{scope}/{who}/{limit}/{int(reset)}", retry + 60):
        _alert(ctx, principal, request_id, "alert.rate_limit", {"scope": scope, "limit": limit})
    raise LimitExceeded(f"too many requests ({limit} per {scope}); retry later",
                        retry_after=retry)


def _alert(ctx: "Context", principal: Principal, request_id: str, event: str,
           detail: dict[str, object]) -> None:
    ctx.audit.append(AuditRecord.by(principal, event, request_id, Outcome.DENIED
                                    if event != "alert.query_volume" else Outcome.OK,
                                    detail=detail))
    metrics.ALERTS.labels(event).inc()
    log.warning("%s actor=%s", event, principal.actor,
                extra={"event": event, "actor": principal.actor, "request_id": request_id,
                       "outcome": "alert", **{f"alert_{k}": v for k, v in detail.items()}})


def _options(uri: str) -> dict[str, float | str | bool]:
    if uri.startswith("redis"):
        return {"socket_timeout": 1.0, "socket_connect_timeout": 1.0}
    return {}


def _unavailable(exc: Exception) -> Unavailable:
    log.error("rate limit store unavailable: %s", type(exc).__name__,
              extra={"event": "ratelimit.unavailable", "outcome": "error"})
    return Unavailable("the rate limiter is unavailable; nothing was answered, retry later")


__all__ = ["Guard", "check_anonymous", "check_anonymous_async", "check_request",
           "check_request_async", "check_sign_in", "first_in_window", "guard", "spend_queries",
           "spend_queries_async"]
