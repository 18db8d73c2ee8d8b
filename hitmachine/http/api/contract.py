"""The OpenAPI document as the NLGov API Design Rules want it (docs/api.md).

FastAPI writes the document from the routes; this adds what it cannot know, once, when
the document is first asked for (``create_app``):

- ``servers``: the versioned base path ``/v1``, with every path of the API relative to it.
  The routes stay mounted at ``/v1/...``, so the URLs a client calls are the ones they
  always were: a server URL of ``/v1`` plus the path ``/queries/household`` is
  ``/v1/queries/household``. The probes outside the versioned API (``/healthz``,
  ``/readyz``) keep their paths and say so with a server of their own, ``/``.
- the ``API-Version`` header, with the full version, on every response of every operation
  (``RequestIdMiddleware`` sends it);
- ``info.contact`` from the settings (``HITMACHINE_API_CONTACT_*``), and the tags described;
- the problem responses (``problems.document``).

``GET /v1/openapi.json`` publishes the document where the ADR wants it (/core/publish-openapi):
in the API's base path, without a token, readable from any origin. ``/openapi.json`` stays
for the Swagger UI page and existing tooling.

``tests/api/test_openapi.py`` holds the committed ``openapi/openapi.json`` to this, and
``make adr`` lints that file with Logius' ruleset.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from hitmachine import __version__
from hitmachine.http.api import problems
from hitmachine.settings import Settings

# The operations' tags, described once (Swagger UI groups by them).
TAGS = [
    {"name": "queries", "description": "Ask whether the members of a household are known, "
                                       "and at which agencies"},
    {"name": "catalogue", "description": "The agencies and the purposes a query may name"},
    {"name": "publish", "description": "Agencies' adapters publish their pseudonym sets"},
    {"name": "signals", "description": "Signals to agencies and coordinators, and "
                                       "follow-ups (household queries kept open)"},
    {"name": "audit", "description": "The audit log, its signed checkpoints and proofs"},
    {"name": "admin", "description": "API tokens and key versions"},
    {"name": "documentation", "description": "This OpenAPI document"},
    {"name": "health", "description": "Liveness and readiness probes, outside /v1"},
]
API_BASE = "/v1"
VERSION_HEADER = "API-Version"
_HEADER_REF = {"$ref": f"#/components/headers/{VERSION_HEADER}"}


def contact(settings: Settings) -> dict[str, str]:
    return {"name": settings.api_contact_name, "email": settings.api_contact_email,
            "url": settings.api_contact_url}


def document(spec: dict[str, Any], settings: Settings) -> dict[str, Any]:
    problems.document(spec)
    spec["info"]["contact"] = contact(settings)
    spec["servers"] = [{"url": API_BASE, "description": "version 1 of the API, on this host"}]
    spec["tags"] = [dict(t) for t in TAGS]
    paths: dict[str, Any] = {}
    for path, item in spec.get("paths", {}).items():
        for operation in item.values():
            for response in operation.get("responses", {}).values():
                response.setdefault("headers", {})[VERSION_HEADER] = dict(_HEADER_REF)
        if path.startswith(API_BASE + "/"):
            paths[path.removeprefix(API_BASE)] = item
        else:
            # A path-level server replaces the document's: these paths are not under /v1.
            item["servers"] = [{"url": "/", "description": "outside the versioned API"}]
            paths[path] = item
    spec["paths"] = paths
    headers = spec.setdefault("components", {}).setdefault("headers", {})
    headers[VERSION_HEADER] = {
        "description": "The full version of the API that answered (semantic versioning); "
                       "the major version is the one in the base path.",
        "required": True,
        "schema": {"type": "string", "example": __version__},
    }
    return spec


router = APIRouter(prefix=API_BASE, tags=["documentation"])
# Lower case, as ADR 2.1's linter looks for it (header names are case-insensitive).
_ANY_ORIGIN = "access-control-allow-origin"


@router.get(
    "/openapi.json", response_model=dict[str, Any],
    responses={200: {"description": "This document (OpenAPI 3.1)", "headers": {_ANY_ORIGIN: {
        "description": "`*`: any web page may read the document", "required": True,
        "schema": {"type": "string", "const": "*"}}}}})
async def openapi_document(request: Request) -> JSONResponse:
    """The OpenAPI document of this API: no token needed, readable from any origin."""
    # The document is public (openapi/openapi.json) and holds no data: any origin may read it.
    return JSONResponse(request.app.openapi(), headers={_ANY_ORIGIN: "*"})


__all__ = ["API_BASE", "VERSION_HEADER", "contact", "document", "router"]
