"""The application factory: ``create_app(settings)`` builds the whole HTTP service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.responses import Response

from hitmachine import __version__
from hitmachine.http import web
from hitmachine.http.api import contract, docs, problems
from hitmachine.http.api import metrics as metrics_route
from hitmachine.http.api.middleware import (
    BodyLimitMiddleware,
    RequestIdMiddleware,
    RequestLogMiddleware,
)
from hitmachine.http.api.routes import (
    admin,
    audit,
    catalogue,
    health,
    publish,
    queries,
    signals,
)
from hitmachine.http.schemas import HouseholdQueryIn
from hitmachine.services import audit as audit_service
from hitmachine.services import denials
from hitmachine.services import signals as signal_service
from hitmachine.services.context import Context
from hitmachine.settings import Settings, load_settings

DESCRIPTION = """\
Hit/no-hit service of the Veiligheidshuis. Partner agencies publish keyed-hash
pseudonyms of the people they know; the coordinator and partners ask whether the members
of a household are known, and at which agencies. Nothing else about a hit is ever given,
and every action is audited before its answer leaves.
"""


def create_app(settings: Settings | None = None, *, ctx: Context | None = None) -> FastAPI:
    """The app for ``settings`` (or ``ctx``'s). Without either this is the entry point of
    a process run as ``uvicorn --factory hitmachine.http.app:create_app``, and builds the
    one ``Settings`` of that process; ``hitmachine serve`` passes its own down instead."""
    settings = settings or (ctx.settings if ctx else load_settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Built at startup, not import: each uvicorn worker gets its own pool and writer,
        # and the OpenAPI document can be produced without keys or a database.
        owned = ctx is None
        app.state.ctx = ctx or Context.from_settings(settings)
        bound_thread_pool(settings.db_pool_size)
        # Sequences audit records into the Merkle tree and signs checkpoints; one per
        # worker process is fine, the integration lock lets one work at a time.
        integrator = (audit_service.Integrator(app.state.ctx).start()
                      if settings.audit_integrate else None)
        denials.start(app.state.ctx)  # summaries of anonymous refusals, every window
        expirer = signal_service.Expirer(app.state.ctx).start()  # signals, follow-ups
        yield
        expirer.stop()
        denials.stop(app.state.ctx)
        if integrator is not None:
            integrator.stop()
        await app.state.ctx.db.dispose_async()  # this loop's asyncio pool, if it made one
        if owned:
            app.state.ctx.close()

    # No CDN-loaded /docs or /redoc: our own /docs when configured (hitmachine.http.api.docs).
    app = FastAPI(title="Hitmachine", version=__version__, description=DESCRIPTION,
                  lifespan=lifespan, docs_url=None, redoc_url=None)
    if ctx is not None:
        app.state.ctx = ctx
    problems.install(app)
    generate = app.openapi  # FastAPI caches the document; ours post-processes it once
    app.openapi = lambda: app.openapi_schema or contract.document(generate(), settings)  # type: ignore[method-assign]
    app.include_router(contract.router)  # GET /v1/openapi.json
    for module in (health, catalogue, queries, publish, signals, audit, admin):
        app.include_router(module.router)
        if module is queries and settings.bench_endpoint:
            # Right behind the household route: routing walks the routes in order (~110 µs
            # from here to the end of the web pages), and the ceiling must pay what the
            # route it is compared with pays.
            _add_bench_endpoint(app)
    if settings.api_docs:
        docs.install(app)
    web.install(app)  # the pages for people (hitmachine/http/web); not in the OpenAPI document
    if settings.metrics_endpoint:
        app.include_router(metrics_route.router)  # GET /metrics, not in the OpenAPI document
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    app.add_middleware(RequestLogMiddleware)  # JSON request log and HTTP metrics
    # Outermost: every response carries an id and the API version (docs/api.md).
    app.add_middleware(RequestIdMiddleware, version=__version__)
    return app


def bound_thread_pool(db_pool_size: int) -> None:
    """Run at most as many plain-def routes and dependencies at once as the database pool
    has connections (``pool_size`` plus as many overflow, ``store.database``). Every one of
    them may block on the database; a thread past that would only wait for a connection,
    and the pool's wait ends in an error after 30 s where anyio's queue just waits. Async
    routes (``/healthz``) do not take a thread and answer meanwhile."""
    anyio.to_thread.current_default_thread_limiter().total_tokens = 2 * db_pool_size


def _add_bench_endpoint(app: FastAPI) -> None:
    """The ceiling of the stack for ``benchmarks/query.py``: same server, same body parsing,
    nothing else. Off unless HITMACHINE_BENCH_ENDPOINT=1; never in the OpenAPI document."""

    @app.post("/bench/parse", include_in_schema=False)
    async def parse_only(body: HouseholdQueryIn, request: Request) -> Response:
        return Response(b'{"ok":true}', media_type="application/json")


__all__ = ["bound_thread_pool", "create_app"]
