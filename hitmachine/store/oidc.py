"""Single sign-on data (tables ``oidc_identities`` and ``oidc_attempts``): plain access,
no policy (that is ``hitmachine.services.oidc``)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, select

from hitmachine.store.schema import oidc_attempts, oidc_identities


@dataclass(frozen=True, slots=True)
class Attempt:
    binding_hash: bytes
    next_path: str | None
    created_at: str


def find_user_id(conn: Connection, subject_key: bytes) -> int | None:
    row = conn.execute(select(oidc_identities.c.user_id)
                       .where(oidc_identities.c.subject_key == subject_key)).first()
    return int(row[0]) if row is not None else None


def is_external(conn: Connection, user_id: int) -> bool:
    """Whether the account signs in at the identity provider (and so has no password)."""
    return conn.execute(select(oidc_identities.c.id)
                        .where(oidc_identities.c.user_id == user_id)).first() is not None


def link(conn: Connection, *, user_id: int, subject_key: bytes, issuer: str, now: str) -> None:
    conn.execute(insert(oidc_identities).values(user_id=user_id, subject_key=subject_key,
                                                issuer=issuer, created_at=now))


def save_attempt(conn: Connection, *, state_hash: bytes, binding_hash: bytes,
                 next_path: str | None, now: str) -> None:
    conn.execute(insert(oidc_attempts).values(state_hash=state_hash, binding_hash=binding_hash,
                                              next_path=next_path, created_at=now))


def take_attempt(conn: Connection, state_hash: bytes) -> Attempt | None:
    """The attempt with this state, deleted: only the caller whose delete removed the row
    gets it, so of two callbacks with the same state (a replay, a double click) one wins."""
    row = conn.execute(select(oidc_attempts).where(oidc_attempts.c.state_hash == state_hash)
                       ).first()
    if row is None:
        return None
    gone = conn.execute(delete(oidc_attempts).where(oidc_attempts.c.id == row.id))
    if gone.rowcount != 1:
        return None
    return Attempt(row.binding_hash, row.next_path, row.created_at)


def purge_attempts(conn: Connection, created_before: str) -> int:
    result = conn.execute(delete(oidc_attempts)
                          .where(oidc_attempts.c.created_at < created_before))
    return int(result.rowcount or 0)


__all__ = ["Attempt", "find_user_id", "is_external", "link", "purge_attempts", "save_attempt",
           "take_attempt"]
