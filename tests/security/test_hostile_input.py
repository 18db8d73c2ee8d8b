"""Hostile input of every kind gets a 4xx problem+json, never a 500, and changes nothing:
wrong types, huge strings, deeply nested JSON, invalid UTF-8, a wrong content type and
unknown fields, sent to each operation that reads a body."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from hitmachine.services.context import Context
from hitmachine.store.schema import entries, syncs
from hitmachine.store.schema import tokens as token_table
from tests.conftest import Tokens

SYNC = "00000000-0000-4000-8000-000000000000"
# (method, path, the token that may call it, a valid body)
OPERATIONS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("POST", "/v1/queries/household", "coordinator",
     {"purpose": "casusoverleg", "case_reference": "VH-1", "members": [{"bsn": "111222333"}]}),
    ("POST", "/v1/publish/syncs", "adapter:om", {"agency": "om", "key_version": 1}),
    ("PUT", f"/v1/publish/syncs/{SYNC}/batches/0", "adapter:om", {"entries": []}),
    ("POST", f"/v1/publish/syncs/{SYNC}/commit", "adapter:om", {"batches": 0, "entries": 0}),
    ("POST", "/v1/publish/delta", "adapter:om", {"agency": "om", "key_version": 1}),
    ("POST", "/v1/admin/tokens", "admin", {"name": "x", "role": "coordinator"}),
]
DEEP = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
HOSTILE: dict[str, tuple[bytes, str]] = {
    "not json": (b"{members: [", "application/json"),
    "wrong types": (b'{"purpose": 7, "members": {"bsn": []}, "agency": [], "key_version": "x",'
                    b' "entries": 5, "batches": "many", "name": {}, "role": 1}', "application/json"),
    "huge string": (b'{"purpose": "' + b"x" * 2_000_000 + b'", "agency": "' + b"y" * 1000 + b'"}',
                    "application/json"),
    "deep nesting": (DEEP, "application/json"),
    "deep array": (b"[" * 200_000 + b"]" * 200_000, "application/json"),
    "invalid utf-8": (b'{"purpose": "\xff\xfe\xc3(", "case_reference": "\xed\xa0\x80"}',
                      "application/json"),
    "utf-16": ('{"purpose": "casusoverleg"}'.encode("utf-16"), "application/json"),
    "wrong content type": (b'{"purpose": "casusoverleg"}', "text/plain"),
    "form": (b"purpose=casusoverleg&members=1", "application/x-www-form-urlencoded"),
    "xml": (b"<members><bsn>111222333</bsn></members>", "application/xml"),
    "null": (b"null", "application/json"),
    "number": (b"1e999999", "application/json"),
    "nul bytes": (b'{"purpose": "case\\u0000overleg", "name": "\\u0000"}', "application/json"),
}


def _state(ctx: Context) -> tuple[int, int, int]:
    with ctx.db.read() as conn:
        return tuple(conn.execute(select(func.count()).select_from(t)).scalar_one()  # type: ignore[return-value]
                     for t in (entries, syncs, token_table))


def _assert_problem(r: Any, what: str) -> None:
    assert 400 <= r.status_code < 500, (what, r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("application/problem+json"), (what, r.headers)
    body = r.json()
    assert body["status"] == r.status_code and body["title"], what


@pytest.mark.parametrize(("method", "path", "role", "valid"), OPERATIONS,
                         ids=[f"{m} {p}" for m, p, _, _ in OPERATIONS])
def test_hostile_bodies_are_4xx_problems(client: TestClient, tokens: Tokens, ctx: Context,
                                         method: str, path: str, role: str,
                                         valid: dict[str, Any]) -> None:
    before = _state(ctx)
    for what, (raw, media) in HOSTILE.items():
        r = client.request(method, path, content=raw,
                           headers={**tokens.header(role), "Content-Type": media})
        _assert_problem(r, what)
        assert b"x" * 100 not in r.content  # a problem never echoes the input
    r = client.request(method, path, json={**valid, "unexpected_field": 1},
                       headers=tokens.header(role))
    _assert_problem(r, "unknown field")
    if r.status_code == 422:
        assert "unexpected_field" in [e["field"] for e in r.json()["errors"]]
    assert _state(ctx) == before


def test_hostile_headers_and_paths(client: TestClient, tokens: Tokens) -> None:
    cases = [
        ("GET", "/v1/agencies", {"Authorization": "Bearer " + "a" * 10_000}),
        ("GET", "/v1/agencies", {"Authorization": "Basic dXNlcjpwYXNz"}),
        ("GET", "/v1/agencies", {"Authorization": b"Bearer \xff\xfe\x00"}),
        ("GET", "/v1/audit/records?limit=99999999999999999999999",
         tokens.header("privacy-officer")),
        ("GET", "/v1/audit/records?after=-1", tokens.header("privacy-officer")),
        ("GET", "/v1/audit/records?after=99999999999999999999", tokens.header("privacy-officer")),
        ("GET", "/v1/audit/records?event=" + "e" * 5000, tokens.header("privacy-officer")),
        # PostgreSQL text cannot hold NUL: refused as input, not a driver error (503).
        ("GET", "/v1/audit/records?actor=a%00b", tokens.header("privacy-officer")),
        ("GET", "/v1/audit/records?case_reference=%00", tokens.header("privacy-officer")),
        ("GET", "/v1/audit/proof/inclusion?request_id=x%00", tokens.header("privacy-officer")),
        ("DELETE", "/v1/admin/tokens/99999999999999999999999999", tokens.header("admin")),
        ("PUT", f"/v1/publish/syncs/{SYNC}/batches/-1", tokens.header("adapter:om")),
        ("PUT", "/v1/publish/syncs/%00%ff/batches/0", tokens.header("adapter:om")),
        ("GET", "/v1/" + "x" * 10_000, {}),
    ]
    for method, path, headers in cases:
        r = client.request(method, path, headers=headers, json={"entries": []})
        _assert_problem(r, f"{method} {path[:60]}")
