"""Every response carries ``API-Version`` with the full version (NLGov API Design Rules
/core/version-header; docs/api.md): answers, problems of every kind, probes, metrics and
the web pages alike."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from hitmachine import __version__
from tests.conftest import Tokens
from tests.helpers import query


def _versioned(response: object) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    assert headers.get("API-Version") == __version__, (response, dict(headers))
    assert headers.get("X-Request-ID"), dict(headers)


def test_answers_and_probes_carry_the_version(client: TestClient, tokens: Tokens) -> None:
    r = query(client, tokens["coordinator"], [{"bsn": "123456782"}])
    assert r.status_code == 200, r.text
    _versioned(r)
    for path in ("/v1/agencies", "/healthz", "/readyz", "/metrics"):
        r = client.get(path, headers=tokens.header("coordinator"))
        assert r.status_code == 200, (path, r.text)
        _versioned(r)
    r = client.get("/aanmelden")  # a web page: the same middleware, the same header
    assert r.status_code == 200
    _versioned(r)


def test_problems_carry_the_version(client: TestClient, tokens: Tokens) -> None:
    cases = [
        client.get("/v1/agencies"),  # 401: no token
        client.get("/v1/admin/keys", headers=tokens.header("coordinator")),  # 403
        client.get("/v1/no-such-thing", headers=tokens.header("coordinator")),  # 404
        client.post("/v1/queries/household", headers=tokens.header("coordinator"),
                    json={"purpose": "nope"}),  # 422
        # 413, refused by the body limit before the app reads the body
        client.post("/v1/queries/household", headers={
            **tokens.header("coordinator"), "Content-Length": str(10**9)}, content=b"{}"),
    ]
    assert [r.status_code for r in cases] == [401, 403, 404, 422, 413]
    for r in cases:
        assert r.headers["content-type"].startswith("application/problem+json")
        _versioned(r)


def test_server_errors_carry_the_version(client: TestClient) -> None:
    app = client.app  # under /v1: an API path, answered with problems (web paths get pages)

    async def database_gone() -> None:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    async def broken() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/v1/test/database-gone", database_gone)  # type: ignore[attr-defined]
    app.add_api_route("/v1/test/broken", broken)  # type: ignore[attr-defined]
    r = client.get("/v1/test/database-gone")
    assert r.status_code == 503 and r.json()["status"] == 503
    _versioned(r)
    # Starlette answers an unhandled exception outside every middleware of ours.
    r = client.get("/v1/test/broken")
    assert r.status_code == 500 and r.json()["status"] == 500
    _versioned(r)
