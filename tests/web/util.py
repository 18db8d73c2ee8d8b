"""Helpers for the web-page tests: accounts, signing in, CSRF tokens, audit records."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from hitmachine.core.principal import Role
from hitmachine.services import admin, users
from hitmachine.services.context import Context
from hitmachine.store.schema import audit_records

PASSWORD = "paard-batterij-nietje"
ACCOUNTS = {
    "coordinator": ("Cora Coördinator", Role.COORDINATOR),
    "privacy-officer": ("Priya Privacy", Role.PRIVACY_OFFICER),
    "admin": ("Abel Beheer", Role.ADMIN),
}
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def make_accounts(ctx: Context) -> None:
    for name, role in ACCOUNTS.values():
        users.create_user(ctx, admin.CONSOLE, name=name, role=role, password=PASSWORD,
                          request_id="test")


def csrf(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def sign_in(client: TestClient, who: str, password: str = PASSWORD) -> Any:
    """Sign in as the account for role ``who``; returns the final response."""
    page = client.get("/aanmelden")
    assert page.status_code == 200, page.text
    name = ACCOUNTS[who][0] if who in ACCOUNTS else who
    return client.post("/aanmelden", data={"csrf_token": csrf(page.text), "naam": name,
                                          "wachtwoord": password}, follow_redirects=False)


def token_of(client: TestClient, path: str) -> str:
    r = client.get(path)
    assert r.status_code == 200, (path, r.status_code)
    return csrf(r.text)


def records(ctx: Context, event: str | None = None) -> list[dict[str, Any]]:
    stmt = select(audit_records).order_by(audit_records.c.id)
    if event:
        stmt = stmt.where(audit_records.c.event == event)
    with ctx.db.read() as conn:
        rows = [dict(r._mapping) for r in conn.execute(stmt)]
    for r in rows:
        r["detail"] = json.loads(r["detail"])
        r["subjects"] = json.loads(r["subjects"])
        r["agencies"] = json.loads(r["agencies"])
    return rows
