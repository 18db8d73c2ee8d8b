"""``GET /metrics``: Prometheus exposition of ``hitmachine.services.metrics`` (counts only).

Not in the OpenAPI document and not behind a token, as scrapers expect; it carries no
identifier, pseudonym or actor name. Bind the server to an internal address, or switch
it off with ``HITMACHINE_METRICS_ENDPOINT=false``, where that matters.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from hitmachine.services import metrics

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def prometheus(request: Request) -> Response:
    body, media = await run_in_threadpool(metrics.render, request.app.state.ctx)
    return Response(body, media_type=media)


__all__ = ["router"]
