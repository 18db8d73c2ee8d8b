"""Web accounts and server-side web sessions (tables ``users`` and ``web_sessions``).

Plain data access: no policy. Lock-out arithmetic lives in ``hitmachine.services.users``,
cookies and CSRF in ``hitmachine.http.web.sessions``. Session ids are stored only as SHA-256
digests: they carry 256 random bits, so a slow hash would add nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from hitmachine.core.errors import Conflict, NotFound
from hitmachine.core.principal import Principal, Role
from hitmachine.core.text import name_key
from hitmachine.store import tokens
from hitmachine.store.schema import users, web_sessions


@dataclass(frozen=True, slots=True)
class User:
    id: int
    name: str
    role: Role
    password_hash: str | None
    created_at: str
    password_changed_at: str | None
    failed_attempts: int
    locked_until: str | None
    last_signin_at: str | None
    disabled_at: str | None

    def locked(self, now_iso: str) -> bool:
        return self.locked_until is not None and now_iso < self.locked_until

    @property
    def disabled(self) -> bool:
        return self.disabled_at is not None

    def principal(self) -> Principal:
        """Who this user is in the audit log: actor = the account name, role = its role."""
        return Principal(actor=self.name, role=self.role, agency=None, user_id=self.id)


@dataclass(frozen=True, slots=True)
class Session:
    id: int
    user_id: int | None
    csrf_token: str
    created_at: str
    last_seen_at: str


def hash_session_id(session_id: str) -> bytes:
    return hashlib.sha256(session_id.encode("utf-8")).digest()


# --- users --------------------------------------------------------------------------------

def create(conn: Connection, *, name: str, role: Role, password_hash: str | None,
           now: str) -> User:
    key = name_key(name)
    # One namespace for accounts and tokens, so an audit actor is never ambiguous.
    tokens.lock_names(conn)
    if conn.execute(select(users.c.id).where(users.c.name_key == key)).first() is not None:
        raise Conflict("an account with this name already exists")
    tokens.ensure_name_free(conn, name)
    result = conn.execute(insert(users).values(
        name=name, name_key=key, role=role.value, password_hash=password_hash, created_at=now,
        password_changed_at=now if password_hash else None, failed_attempts=0,
        locked_until=None, last_signin_at=None, disabled_at=None))
    return get(conn, int(result.inserted_primary_key[0]))  # type: ignore[index]


def get(conn: Connection, user_id: int, *, for_update: bool = False) -> User:
    stmt = select(users).where(users.c.id == user_id)
    if for_update:
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).first()
    if row is None:
        raise NotFound(f"user {user_id} does not exist")
    return _user(row)


def find_by_name(conn: Connection, name: str, *, for_update: bool = False) -> User | None:
    stmt = select(users).where(users.c.name_key == name_key(name))
    if for_update:
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).first()
    return _user(row) if row is not None else None


def list_all(conn: Connection) -> list[User]:
    return [_user(r) for r in conn.execute(select(users).order_by(users.c.name_key))]


def update_user(conn: Connection, user_id: int, **values: object) -> User:
    conn.execute(update(users).where(users.c.id == user_id).values(**values))
    return get(conn, user_id)


def _user(row: object) -> User:
    return _user_from(row._mapping)  # type: ignore[attr-defined]


def _user_from(r: Mapping[str, Any]) -> User:
    return User(int(r["id"]), r["name"], Role(r["role"]), r["password_hash"], r["created_at"],
                r["password_changed_at"], int(r["failed_attempts"]), r["locked_until"],
                r["last_signin_at"], r["disabled_at"])


# --- sessions -----------------------------------------------------------------------------

def create_session(conn: Connection, *, session_id: str, user_id: int | None, csrf_token: str,
                   now: str) -> Session:
    result = conn.execute(insert(web_sessions).values(
        session_hash=hash_session_id(session_id), user_id=user_id, csrf_token=csrf_token,
        created_at=now, last_seen_at=now))
    return Session(int(result.inserted_primary_key[0]), user_id, csrf_token,  # type: ignore[index]
                   now, now)


def find_session(conn: Connection, session_id: str) -> tuple[Session, User | None] | None:
    """The session with this id and its user (None for a pre-session), or None."""
    stmt = (select(web_sessions.c.id.label("s_id"), web_sessions.c.user_id.label("s_user"),
                   web_sessions.c.csrf_token.label("s_csrf"),
                   web_sessions.c.created_at.label("s_created"),
                   web_sessions.c.last_seen_at.label("s_seen"),
                   *[c.label(f"u_{c.name}") for c in users.c])
            .select_from(web_sessions.outerjoin(users, users.c.id == web_sessions.c.user_id))
            .where(web_sessions.c.session_hash == hash_session_id(session_id)))
    row = conn.execute(stmt).first()
    if row is None:
        return None
    m = row._mapping
    session = Session(int(m["s_id"]), m["s_user"], m["s_csrf"], m["s_created"], m["s_seen"])
    if m["u_id"] is None:
        return session, None
    return session, _user_from({c.name: m[f"u_{c.name}"] for c in users.c})


def touch_session(conn: Connection, session_pk: int, now: str) -> None:
    conn.execute(update(web_sessions).where(web_sessions.c.id == session_pk)
                 .values(last_seen_at=now))


def delete_session(conn: Connection, session_pk: int) -> bool:
    result = conn.execute(delete(web_sessions).where(web_sessions.c.id == session_pk))
    return bool(result.rowcount)


def delete_user_sessions(conn: Connection, user_id: int) -> int:
    result = conn.execute(delete(web_sessions).where(web_sessions.c.user_id == user_id))
    return int(result.rowcount or 0)


def purge_sessions(conn: Connection, *, idle_before: str, created_before: str) -> int:
    """Delete sessions idle since before ``idle_before`` or older than ``created_before``."""
    result = conn.execute(delete(web_sessions).where(
        (web_sessions.c.last_seen_at < idle_before) | (web_sessions.c.created_at < created_before)))
    return int(result.rowcount or 0)


def count_sessions(conn: Connection, user_id: int) -> int:
    return len(conn.execute(select(web_sessions.c.id)
                            .where(web_sessions.c.user_id == user_id)).all())


__all__ = ["Session", "User", "count_sessions", "create", "create_session", "delete_session",
           "delete_user_sessions", "find_by_name", "find_session", "get", "hash_session_id",
           "list_all", "name_key", "purge_sessions", "touch_session", "update_user"]
