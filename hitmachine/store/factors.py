"""Second factors of web accounts (tables ``user_factors``, ``recovery_codes`` and
``factor_challenges``).

Plain data access: no policy. Sealing, codes and lock-out live in
``hitmachine.services.factor``. What is stored is never usable on its own: secrets are
sealed with a key outside the database, recovery codes and challenge ids are hashes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, select, update

from hitmachine.store.schema import factor_challenges, recovery_codes, user_factors


@dataclass(frozen=True, slots=True)
class Factor:
    user_id: int
    secret_sealed: str
    enrolled_at: str
    last_step: int | None


@dataclass(frozen=True, slots=True)
class Challenge:
    id: int
    user_id: int
    purpose: str            # "verify" | "enrol"
    pending_secret: str | None
    next_path: str | None
    created_at: str


@dataclass(frozen=True, slots=True)
class RecoveryCode:
    id: int
    code_hash: str


def hash_challenge_id(challenge_id: str) -> bytes:
    # 256 random bits: a slow hash would add nothing (like the session ids).
    return hashlib.sha256(challenge_id.encode("utf-8")).digest()


# --- factors ------------------------------------------------------------------------------

def get_factor(conn: Connection, user_id: int) -> Factor | None:
    row = conn.execute(select(user_factors).where(user_factors.c.user_id == user_id)).first()
    if row is None:
        return None
    m = row._mapping
    return Factor(int(m["user_id"]), m["secret_sealed"], m["enrolled_at"],
                  None if m["last_step"] is None else int(m["last_step"]))


def users_with_factor(conn: Connection) -> set[int]:
    return {int(r[0]) for r in conn.execute(select(user_factors.c.user_id))}


def save_factor(conn: Connection, *, user_id: int, secret_sealed: str, enrolled_at: str,
                last_step: int) -> None:
    conn.execute(delete(user_factors).where(user_factors.c.user_id == user_id))
    conn.execute(insert(user_factors).values(user_id=user_id, secret_sealed=secret_sealed,
                                             enrolled_at=enrolled_at, last_step=last_step))


def set_last_step(conn: Connection, user_id: int, step: int) -> None:
    conn.execute(update(user_factors).where(user_factors.c.user_id == user_id)
                 .values(last_step=step))


def delete_factor(conn: Connection, user_id: int) -> bool:
    """The factor, its recovery codes and any sign-in halfway through; True if it had one."""
    had = conn.execute(delete(user_factors).where(user_factors.c.user_id == user_id)).rowcount
    conn.execute(delete(recovery_codes).where(recovery_codes.c.user_id == user_id))
    conn.execute(delete(factor_challenges).where(factor_challenges.c.user_id == user_id))
    return bool(had)


# --- recovery codes -----------------------------------------------------------------------

def replace_recovery_codes(conn: Connection, user_id: int, code_hashes: list[str]) -> None:
    conn.execute(delete(recovery_codes).where(recovery_codes.c.user_id == user_id))
    conn.execute(insert(recovery_codes), [{"user_id": user_id, "code_hash": h, "used_at": None}
                                          for h in code_hashes])


def unused_recovery_codes(conn: Connection, user_id: int) -> list[RecoveryCode]:
    rows = conn.execute(select(recovery_codes.c.id, recovery_codes.c.code_hash)
                        .where(recovery_codes.c.user_id == user_id,
                               recovery_codes.c.used_at.is_(None))
                        .order_by(recovery_codes.c.id))
    return [RecoveryCode(int(r[0]), r[1]) for r in rows]


def spend_recovery_code(conn: Connection, code_id: int, now: str) -> bool:
    """Mark a code used; False if it already was (the caller holds the user's row lock,
    so this is a second line of defence)."""
    result = conn.execute(update(recovery_codes)
                          .where(recovery_codes.c.id == code_id,
                                 recovery_codes.c.used_at.is_(None))
                          .values(used_at=now))
    return bool(result.rowcount)


# --- challenges ---------------------------------------------------------------------------

def create_challenge(conn: Connection, *, challenge_id: str, user_id: int, purpose: str,
                     next_path: str | None, now: str) -> Challenge:
    # One sign-in halfway at a time per account: a new password sign-in replaces it.
    conn.execute(delete(factor_challenges).where(factor_challenges.c.user_id == user_id))
    result = conn.execute(insert(factor_challenges).values(
        challenge_hash=hash_challenge_id(challenge_id), user_id=user_id, purpose=purpose,
        pending_secret=None, next_path=next_path, created_at=now))
    return Challenge(int(result.inserted_primary_key[0]), user_id,  # type: ignore[index]
                     purpose, None, next_path, now)


def find_challenge(conn: Connection, challenge_id: str) -> Challenge | None:
    row = conn.execute(select(factor_challenges).where(
        factor_challenges.c.challenge_hash == hash_challenge_id(challenge_id))).first()
    if row is None:
        return None
    m = row._mapping
    return Challenge(int(m["id"]), int(m["user_id"]), m["purpose"], m["pending_secret"],
                     m["next_path"], m["created_at"])


def set_pending_secret(conn: Connection, challenge_pk: int, sealed: str) -> None:
    conn.execute(update(factor_challenges).where(factor_challenges.c.id == challenge_pk)
                 .values(pending_secret=sealed))


def delete_challenge(conn: Connection, challenge_pk: int) -> bool:
    result = conn.execute(delete(factor_challenges).where(factor_challenges.c.id == challenge_pk))
    return bool(result.rowcount)


def purge_challenges(conn: Connection, *, created_before: str) -> int:
    result = conn.execute(delete(factor_challenges)
                          .where(factor_challenges.c.created_at < created_before))
    return int(result.rowcount or 0)


__all__ = ["Challenge", "Factor", "RecoveryCode", "create_challenge", "delete_challenge",
           "delete_factor", "find_challenge", "get_factor", "hash_challenge_id",
           "purge_challenges", "replace_recovery_codes", "set_last_step",
           "set_pending_secret", "spend_recovery_code", "unused_recovery_codes",
           "users_with_factor"]
