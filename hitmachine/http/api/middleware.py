"""Plain ASGI middleware (as in starlette's own): request ids, the structured request log
with its metrics, and the body limit."""

from __future__ import annotations

import logging
import os
import random
import re
import time

from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hitmachine.core.auditlog.record import CLIENT_REQUEST_ID
from hitmachine.services import metrics

_CLIENT_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}\Z")
# Request ids need to be unique, not secret: a per-process random generator seeded from the
# OS is ~100x cheaper than uuid4's os.urandom call, which costs ~60 µs on these VMs.
_ids = random.Random(int.from_bytes(os.urandom(16), "big"))


os.register_at_fork(after_in_child=lambda: _ids.seed(int.from_bytes(os.urandom(16), "big")))


def _new_id() -> str:
    return f"{_ids.getrandbits(128):032x}"


class RequestIdMiddleware:
    """Give every request an id of the server's own, echo it in the response's
    ``X-Request-ID``, and keep it in ``scope["state"]`` for the audit record and the logs.
    Every response also gets ``API-Version`` with the full ``version`` (NLGov API Design
    Rules /core/version-header): here, because this layer is outermost and already touches
    every response's headers, which costs less than another layer would.

    A client's ``X-Request-ID`` never becomes the request id: two clients could then share
    one, or one could pick another's. If it is sane (``_CLIENT_ID``: 8 to 64 of
    ``A-Z a-z 0-9 . _ -``) it is kept as ``client_request_id``, which the audit record
    carries in its detail so a client can still find its own request; otherwise dropped."""

    def __init__(self, app: ASGIApp, version: str) -> None:
        self.app = app
        self.version = version

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _new_id()
        version = self.version
        client_id = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                text = value.decode("latin-1")
                if _CLIENT_ID.match(text):
                    client_id = text
                break
        state = scope.setdefault("state", {})
        state["request_id"] = rid
        state["client_request_id"] = client_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = rid
                headers["API-Version"] = version
            await send(message)

        # Copied into the threads of sync routes, like every context variable.
        reset = CLIENT_REQUEST_ID.set(client_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            CLIENT_REQUEST_ID.reset(reset)


access_log = logging.getLogger("hitmachine.access")
# Routes whose success is a publish, for the metrics (by route template, not by body).
PUBLISH_ROUTES = {"/v1/publish/syncs/{sync_id}/commit": "snapshot", "/v1/publish/delta": "delta"}


def outcome_of(status: int) -> str:
    if status < 400:
        return "ok"
    if status in (401, 403):
        return "denied"
    if status == 429:
        return "limited"
    return "invalid" if status < 500 else "error"


class RequestLogMiddleware:
    """One JSON log line and the HTTP metrics per request: request id, actor, event,
    outcome, status, route template and duration. Never the query string or the body, so
    no identifier can reach the log; the path of an API route carries none (sync ids are
    random, token ids are numbers), and unmatched paths are logged as ``-``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        start = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            elapsed = time.perf_counter() - start
            route = getattr(scope.get("route"), "path", None) or "-"
            state = scope.get("state", {})
            principal = state.get("principal")
            metrics.REQUESTS.labels(scope["method"], route, str(status)).inc()
            metrics.DURATION.labels(route).observe(elapsed)
            if status < 300 and route in PUBLISH_ROUTES:
                metrics.PUBLISHES.labels(PUBLISH_ROUTES[route]).inc()
            path = scope["path"] if route != "-" else "-"
            access_log.info(
                "%s %s %d", scope["method"], path, status,
                extra={"request_id": state.get("request_id", "-"),
                       "actor": getattr(principal, "actor", None),
                       "role": getattr(getattr(principal, "role", None), "value", None),
                       "event": state.get("audit_event") or "http.request",
                       "outcome": outcome_of(status), "status": status,
                       "method": scope["method"], "route": route,
                       "request": f"{scope['method']} {path}",
                       "duration_ms": round(elapsed * 1000, 2)})


class BodyLimitMiddleware:
    """Refuse request bodies over ``limit`` bytes with a 413 problem document.

    A declared Content-Length over the limit is refused before the body is read; a chunked
    body is counted as it arrives. The overflow is raised as an HTTPException because
    FastAPI passes those through its body reading unchanged (anything else becomes a 400).
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.limit:
                    response = _too_large(scope)
                    await response(scope, receive, send)
                    return
                break
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise HTTPException(413)
            return message

        await self.app(scope, counting_receive, send)


def _too_large(scope: Scope) -> JSONResponse:
    rid = scope.get("state", {}).get("request_id", "-")
    return JSONResponse({"type": "https://hitmachine.example/problems/request-body-too-large",
                         "title": "Request body too large", "status": 413,
                         "detail": "the request body is larger than this server accepts",
                         "instance": f"urn:request:{rid}"},
                        status_code=413, media_type="application/problem+json")


__all__ = ["BodyLimitMiddleware", "RequestIdMiddleware", "RequestLogMiddleware", "outcome_of"]
