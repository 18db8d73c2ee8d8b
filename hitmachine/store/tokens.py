"""Bearer tokens, stored only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, text, update

from hitmachine.core.clock import utc_now_iso
from hitmachine.core.errors import Conflict, NotFound
from hitmachine.core.principal import Role
from hitmachine.core.text import name_key
from hitmachine.store.schema import tokens, users

# The key of the transaction-level advisory lock (PostgreSQL) that serialises every check
# for a free name: a unique index cannot span two tables. (SQLite: every write
# transaction already holds the database's one write lock.)
_NAMES_LOCK = 0x686D6E616D6573  # "hmnames"

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
    user_id: int | None = None

    def usable(self, now_iso: str) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or now_iso < self.expires_at


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def lock_names(conn: Connection) -> None:
    """Hold the names lock until ``conn``'s transaction ends, so that two concurrent
    creations cannot both find one name free."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _NAMES_LOCK})


def ensure_name_free(conn: Connection, name: str) -> None:
    """Raise ``Conflict`` if a live (unrevoked) token or any web account has this name,
    compared as ``name_key``. A revoked token's name may be used again: its records keep
    the token's id, so they cannot be confused with the new holder's. Call after
    ``lock_names``, on the transaction that inserts."""
    key = name_key(name)
    if conn.execute(select(users.c.id).where(users.c.name_key == key)).first() is not None:
        raise Conflict("name: a web account already has this name")
    taken = select(tokens.c.id).where(tokens.c.name_key == key, tokens.c.revoked_at.is_(None))
    if conn.execute(taken).first() is not None:
        raise Conflict("name: a token with this name already exists")


def create(conn: Connection, *, name: str, role: Role, agency: str | None,
           expires_at: str | None = None, user_id: int | None = None) -> tuple[TokenInfo, str]:
    """Store a new token and return it; the plaintext exists only in the return value.
    The name must be free (``ensure_name_free``): checked here, under the names lock."""
    lock_names(conn)
    ensure_name_free(conn, name)
    token = PREFIX + secrets.token_urlsafe(32)
    now = utc_now_iso()
    result = conn.execute(insert(tokens).values(
        name=name, name_key=name_key(name), role=role.value, agency=agency,
        token_hash=hash_token(token), created_at=now, expires_at=expires_at, revoked_at=None,
        user_id=user_id))
    token_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    return TokenInfo(token_id, name, role, agency, now, expires_at, None, user_id), token


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
                     r["expires_at"], r["revoked_at"],
                     int(r["user_id"]) if r["user_id"] is not None else None)


__all__ = ["PREFIX", "TokenInfo", "create", "ensure_name_free", "find", "get", "hash_token",
           "list_all", "lock_names", "revoke"]
