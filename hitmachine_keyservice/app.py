"""The key service's HTTP API (Starlette; small on purpose).

    GET  /healthz                      200 {"status": "ok"}
    GET  /v1/keys                      the active key versions and the batch limit (token)
    POST /v1/evaluate?version=N        body: n blinded elements, 32 bytes each, concatenated
                                       (application/octet-stream); answer: the n evaluated
                                       elements in the same order (token)

Errors are problem+json naming the field (``version``, ``body``, ``blinded_elements.i``),
never echoing a value. Every evaluation request, granted or refused for its limits, is one
line in the audit log (a count per adapter) before the answer leaves.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hitmachine.core import oprf
from hitmachine.core.errors import (
    AuthenticationFailed,
    FieldError,
    HitmachineError,
    InvalidInput,
    TooLarge,
)
from hitmachine.core.files import Watched
from hitmachine.core.problems import problem_kind
from hitmachine_keyservice import keyfile, tokens
from hitmachine_keyservice.audit import AuditLog
from hitmachine_keyservice.ratelimit import RateLimiter
from hitmachine_keyservice.settings import KeyServiceSettings, load_keyservice_settings
from hitmachine_keyservice.tokens import TokenEntry

MEDIA_TYPE = "application/octet-stream"
PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://hitmachine.example/problems/keyservice/"


def problem(status: int, detail: str, errors: Sequence[FieldError] = (),
            headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"type": TYPE_BASE + str(status), "title": _TITLES.get(status, "Error"),
                            "status": status, "detail": detail}
    if errors:
        body["errors"] = [{"field": e.field, "message": e.message} for e in errors]
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


_TITLES = {401: "Unauthorized", 413: "Payload too large", 422: "Invalid input",
           429: "Too many requests", 503: "Unavailable"}


class KeyService:
    """The state one process serves with: keys, tokens, limits, audit."""

    def __init__(self, settings: KeyServiceSettings) -> None:
        self.settings = settings
        self.keys = Watched(settings.key_path, keyfile.load)
        self.tokens = Watched(settings.tokens_path, lambda p: tokens.load(p).index())
        self.limits = RateLimiter()
        self.audit = AuditLog(settings.audit_path)
        self.limiter = anyio.CapacityLimiter(settings.threads)

    def authenticate(self, request: Request) -> TokenEntry:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        entry = self.tokens.get().get(tokens.token_hash(token.strip())) \
            if scheme.lower() == "bearer" and token.strip() else None
        if entry is None:
            raise AuthenticationFailed("a valid key service token is required")
        return entry

    async def evaluate(self, key: oprf.OprfKey, elements: list[bytes]) -> list[bytes]:
        """Split over the worker threads: libsodium runs without the GIL."""
        parts = max(1, min(self.settings.threads, len(elements) // 2000))
        size = -(-len(elements) // parts)
        pieces = [elements[i:i + size] for i in range(0, len(elements), size)]
        results: list[list[bytes]] = [[] for _ in pieces]
        errors: list[FieldError] = []

        async def run(i: int) -> None:
            try:
                results[i] = await anyio.to_thread.run_sync(key.blind_evaluate_batch, pieces[i],
                                                             limiter=self.limiter)
            except InvalidInput as exc:  # renumber the piece's fields to the whole body's
                errors.extend(_shift(e, i * size) for e in exc.errors)

        async with anyio.create_task_group() as tg:
            for i in range(len(pieces)):
                tg.start_soon(run, i)
        if errors:
            errors.sort(key=lambda e: int(e.field.rpartition(".")[2] or 0))
            raise InvalidInput.many(errors[:oprf.MAX_REPORTED_ERRORS])
        return [z for r in results for z in r]


def _shift(e: FieldError, offset: int) -> FieldError:
    head, _, index = e.field.rpartition(".")
    return FieldError(f"{head}.{int(index) + offset}", e.message) if index.isdigit() else e


def _version(request: Request) -> int:
    raw = request.query_params.get("version", "")
    if not raw.isdigit() or not 0 < int(raw) < 2**31:
        raise InvalidInput("version", "must be a positive key version number")
    return int(raw)


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"at most {limit // oprf.ELEMENT_BYTES} elements per request", field="body")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"at most {limit // oprf.ELEMENT_BYTES} elements per request", field="body")
        chunks.append(chunk)
    return b"".join(chunks)


async def evaluate_endpoint(request: Request) -> Response:
    svc: KeyService = request.app.state.svc
    entry = svc.authenticate(request)
    version = _version(request)
    body = await _body(request, svc.settings.max_batch * oprf.ELEMENT_BYTES)
    if not body or len(body) % oprf.ELEMENT_BYTES:
        raise InvalidInput("body", f"must be one or more {oprf.ELEMENT_BYTES}-byte elements")
    key = svc.keys.get().key(version)
    count = len(body) // oprf.ELEMENT_BYTES
    wait = svc.limits.spend(entry.id, count, entry.per_minute, entry.per_day)
    if wait is not None:
        await anyio.to_thread.run_sync(lambda: svc.audit.append(
            adapter=entry.name, token_id=entry.id, version=version, count=count,
            outcome="rate_limited"))
        retry = "86400" if math.isinf(wait) else str(math.ceil(wait))
        return problem(429, "this token's evaluation limit is reached; try again later",
                       headers={"Retry-After": retry})
    view = memoryview(body)
    elements = [bytes(view[i:i + 32]) for i in range(0, len(body), 32)]
    try:
        evaluated = await svc.evaluate(key, elements)
    except InvalidInput:
        await anyio.to_thread.run_sync(lambda: svc.audit.append(
            adapter=entry.name, token_id=entry.id, version=version, count=count,
            outcome="invalid"))
        raise
    # Recorded (and fsynced) before the answer leaves: a count, never an element.
    await anyio.to_thread.run_sync(lambda: svc.audit.append(
        adapter=entry.name, token_id=entry.id, version=version, count=count, outcome="ok"))
    return Response(b"".join(evaluated), media_type=MEDIA_TYPE)


async def keys_endpoint(request: Request) -> Response:
    svc: KeyService = request.app.state.svc
    svc.authenticate(request)
    return JSONResponse({"versions": list(svc.keys.get().active_versions),
                         "max_batch": svc.settings.max_batch})


async def health_endpoint(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def _hitmachine_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HitmachineError)
    status = problem_kind(exc).status
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return problem(status, exc.detail, exc.errors, headers)


def create_app(settings: KeyServiceSettings | None = None) -> Starlette:
    """The app; refuses to start without a private key file. Without ``settings`` this is
    the entry point of a worker (``uvicorn --factory``), which loads its own once."""
    settings = settings or load_keyservice_settings()
    svc = KeyService(settings)
    app = Starlette(routes=[
        Route("/healthz", health_endpoint, methods=["GET"]),
        Route("/v1/keys", keys_endpoint, methods=["GET"]),
        Route("/v1/evaluate", evaluate_endpoint, methods=["POST"]),
    ], exception_handlers={HitmachineError: _hitmachine_error})
    app.state.svc = svc
    return app


__all__ = ["KeyService", "MEDIA_TYPE", "create_app"]
