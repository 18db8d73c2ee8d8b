"""Bearer tokens, stored only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, update

from hitmachine.domain.clock import utc_now_iso
from hitmachine.domain.errors import NotFound
from hitmachine.domain.principal import Role
from hitmachine.store.schema import tokens

PREFIX = "hm_"


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: int
    name: str
    role: Role
    agency: str | None
    created_at: str
    expires_at: str | None
    revoked_at: str | None

    def usable(self, now_iso: str) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or now_iso < self.expires_at


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def create(conn: Connection, *, name: str, role: Role, agency: str | None,
           expires_at: str | None = None) -> tuple[TokenInfo, str]:
    """Store a new token and return it; the plaintext exists only in the return value."""
    token = PREFIX + secrets.token_urlsafe(32)
    now = utc_now_iso()
    result = conn.execute(insert(tokens).values(
        name=name, role=role.value, agency=agency, token_hash=hash_token(token),
        created_at=now, expires_at=expires_at, revoked_at=None))
    token_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    return TokenInfo(token_id, name, role, agency, now, expires_at, None), token


def find(conn: Connection, token: str) -> TokenInfo | None:
    digest = hash_token(token)
    row = conn.execute(select(tokens).where(tokens.c.token_hash == digest)).first()
    # The index lookup already matched; the constant-time compare keeps the check honest
    # should the lookup ever become a prefix or range match.
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    return _info(row)


def get(conn: Connection, token_id: int) -> TokenInfo:
    row = conn.execute(select(tokens).where(tokens.c.id == token_id)).first()
    if row is None:
        raise NotFound(f"token {token_id} does not exist")
    return _info(row)


def list_all(conn: Connection) -> list[TokenInfo]:
    return [_info(r) for r in conn.execute(select(tokens).order_by(tokens.c.id))]


def revoke(conn: Connection, token_id: int) -> TokenInfo:
    info = get(conn, token_id)
    if info.revoked_at is None:
        conn.execute(update(tokens).where(tokens.c.id == token_id).values(revoked_at=utc_now_iso()))
    return get(conn, token_id)


def _info(row: object) -> TokenInfo:
    r = row._mapping  # type: ignore[attr-defined]
    return TokenInfo(int(r["id"]), r["name"], Role(r["role"]), r["agency"], r["created_at"],
                     r["expires_at"], r["revoked_at"])


__all__ = ["PREFIX", "TokenInfo", "create", "find", "get", "hash_token", "list_all", "revoke"]
