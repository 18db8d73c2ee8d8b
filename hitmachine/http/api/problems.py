"""Errors to RFC 9457 problem+json, in one place — and the audit record of every refusal.

A denied request (401/403) is audited as ``auth.denied`` (a caller without a valid token:
once per address and window, the rest summarised, ``hitmachine.services.denials``);
invalid input to an audited operation is audited under that operation's event with outcome ``invalid``. No problem
document repeats the value that was wrong, only the field.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from hitmachine import __version__
from hitmachine.core.auditlog.record import Outcome
from hitmachine.core.errors import FieldError, HitmachineError, Unavailable
from hitmachine.core.principal import ANONYMOUS
from hitmachine.core.problems import problem_kind
from hitmachine.http.api.auth import principal_for_failure
from hitmachine.http.peer import client_address
from hitmachine.http.schemas import Problem
from hitmachine.services import denials
from hitmachine.services import query as query_service

log = logging.getLogger("hitmachine.http.api")
PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://hitmachine.example/problems/"


def problem(status: int, title: str, detail: str, *, code: str, request: Request | None = None,
            errors: list[FieldError] | None = None, headers: dict[str, str] | None = None
            ) -> JSONResponse:
    body: dict[str, Any] = {"type": TYPE_BASE + code, "title": title, "status": status,
                            "detail": detail}
    if request is not None:
        body["instance"] = "urn:request:" + request_id(request)
    if errors:
        body["errors"] = [{"field": e.field, "message": e.message} for e in errors]
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def request_id(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", "-"))


def _audit_failure(request: Request, status: int, errors: list[FieldError]) -> None:
    """Write the refusal's audit record; raise ``Unavailable`` if that is impossible."""
    state = request.scope.get("state", {})
    event = state.get("audit_event")
    if status in (401, 403) or (status == 429 and state.get("principal") is None):
        event, outcome = "auth.denied", Outcome.DENIED  # (429: no valid token, too often)
    elif event is None or status >= 500:
        return  # not an audited operation (unknown path, health check, ...)
    else:
        outcome = Outcome.INVALID
    ctx = request.app.state.ctx
    principal = principal_for_failure(request)
    if principal == ANONYMOUS:  # no valid token: one record per address and window
        event, outcome = "auth.denied", Outcome.DENIED
    denials.audit_refusal(
        ctx, principal, client_address(request), event, request_id(request), outcome,
        {"status": status, "operation": state.get("operation", request.method),
         "fields": sorted({e.field for e in errors})})


def _respond(request: Request, status: int, title: str, detail: str, code: str,
             errors: list[FieldError], headers: dict[str, str] | None = None) -> JSONResponse:
    try:
        _audit_failure(request, status, errors)
    except Unavailable as exc:
        kind = problem_kind(exc)
        return problem(kind.status, kind.title, exc.detail, code=kind.code, request=request)
    return problem(status, title, detail, code=code, request=request, errors=errors,
                   headers=headers)


def handle_hitmachine_error(request: Request, exc: HitmachineError) -> JSONResponse:
    kind = problem_kind(exc)
    headers = None
    if kind.status == 401:
        headers = {"WWW-Authenticate": 'Bearer realm="hitmachine"'}
    retry = getattr(exc, "retry_after", None)
    if retry is not None:
        headers = {"Retry-After": str(retry)}
    if kind.status >= 500:  # not the caller's doing: nothing of theirs to audit as refused
        return problem(kind.status, kind.title, exc.detail, code=kind.code, request=request)
    return _respond(request, kind.status, kind.title, exc.detail, kind.code, exc.errors, headers)


def handle_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [_field_error(e) for e in exc.errors()]
    errors.extend(_semantic_errors(request, exc.body, errors))
    detail = "; ".join(f"{e.field}: {e.message}" for e in errors[:5])
    return _respond(request, 422, "Invalid input", detail, "invalid-input", errors)


def _semantic_errors(request: Request, body: Any, found: list[FieldError]) -> list[FieldError]:
    """The errors the operation itself would find in the fields the schema accepted (an
    unknown purpose, an invalid BSN, ...). The schema's validation runs first and stops
    the request; without these the caller would learn of them only on the next try."""
    check = _SEMANTIC_CHECKS.get(str(request.scope.get("state", {}).get("audit_event")))
    if check is None or not isinstance(body, dict):
        return []
    flagged = {e.field for e in found}
    return [e for e in check(request.app.state.ctx, body, flagged) if e.field not in flagged]


_SEMANTIC_CHECKS: dict[str, Callable[[Any, dict[str, Any], set[str]], list[FieldError]]] = {
    "query.household": query_service.raw_field_errors,
}


def handle_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    titles = {404: "Not found", 405: "Method not allowed", 413: "Request body too large",
              400: "Bad request", 415: "Unsupported media type"}
    title = titles.get(exc.status_code, "Error")
    detail = exc.detail if isinstance(exc.detail, str) else title
    if exc.status_code == 413:
        detail = "the request body is larger than this server accepts"
    return _respond(request, exc.status_code, title, detail,
                    title.lower().replace(" ", "-"), [], dict(exc.headers or {}))


def _route_path(request: Request) -> str:
    route = request.scope.get("route")
    return str(route.path) if route else "-"


def handle_database_error(request: Request, exc: DBAPIError) -> JSONResponse:
    # The transaction rolled back, so nothing changed; the caller may retry. The statement
    # and its parameters (pseudonyms) stay out of the log.
    log.error("database error %s on %s %s", type(exc.orig).__name__, request.method,
              _route_path(request))
    return problem(503, "Service unavailable",
                   "the database did not accept the change; nothing was changed, retry later",
                   code="unavailable", request=request, headers={"Retry-After": "5"})


def handle_unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Log the type only: a message may quote data, and data may be an identifier.
    log.error("unexpected %s on %s %s", type(exc).__name__, request.method,
              _route_path(request))
    # Starlette sends this answer from outside every middleware of ours, so the headers
    # RequestIdMiddleware gives every other response are set here.
    return problem(500, "Internal error", "an unexpected error occurred; it has been logged",
                   code="internal", request=request,
                   headers={"X-Request-ID": request_id(request), "API-Version": __version__})


def _field_error(err: Any) -> FieldError:
    loc = [str(p) for p in err.get("loc", ()) if p not in ("body",)]
    if err.get("type") == "json_invalid":
        return FieldError("body", "is not valid JSON")
    if err.get("type") == "missing" and not loc:
        return FieldError("body", "is required")
    field = ".".join(loc) or "body"
    message = str(err.get("msg", "is invalid"))
    if err.get("type") == "extra_forbidden":
        message = "is not a known field"
    return FieldError(field, message)


def document(spec: dict[str, Any]) -> dict[str, Any]:
    """Make the OpenAPI document say what the handlers above really send: every error
    response of every operation is ``application/problem+json`` with the ``Problem`` schema
    (FastAPI documents its 422 as plain JSON of another shape), and a ``default`` response
    covers the statuses an operation does not list (401, 403, 404, 413, 429, 503, ...)."""
    ref = {"$ref": "#/components/schemas/Problem"}
    problem_content = {PROBLEM_JSON: {"schema": ref}}
    for item in spec.get("paths", {}).values():
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            for status, response in responses.items():
                if status == "default" or int(status) >= 400:
                    response["content"] = problem_content
            responses["default"] = {"description": "A problem (RFC 9457)",
                                    "content": problem_content}
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    if "Problem" not in schemas:

        schemas["Problem"] = Problem.model_json_schema()
    return spec


def install(app: FastAPI) -> None:
    app.add_exception_handler(HitmachineError, handle_hitmachine_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, handle_validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, handle_http_error)  # type: ignore[arg-type]
    app.add_exception_handler(DBAPIError, handle_database_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, handle_unexpected)


__all__ = ["PROBLEM_JSON", "document", "install", "problem", "request_id"]
