"""Web accounts: creating and administering them, and signing in with a password.

Passwords are hashed with Argon2id (argon2-cffi's defaults: RFC 9106's second recommended
parameter set, 64 MiB, three passes, four lanes). Hashing is memory-hard on purpose, so at
most ``HASH_CONCURRENCY`` hashes run at once, and the web's sign-in runs on its own
threads of that many (``authenticate_async``): a flood of sign-in attempts queues there
instead of exhausting memory or the threads every other request needs. The flood itself
is refused before this (``ratelimit.check_sign_in``), and a password longer than
``MAX_PASSWORD_LENGTH`` is refused without being hashed.

After ``web_lockout_attempts`` wrong passwords in a row an account is locked for
``web_lockout_minutes`` (or until an administrator unlocks it). Every sign-in attempt,
lock and account change is audited, in the same transaction as the change it records.
An unknown name, a disabled or locked account and a wrong password cost one Argon2
verification each and give the same answer, so neither the answer nor its time tells
whether an account exists or is locked.

Sign-in is pluggable: an ``Authenticator`` decides *who* is signing in; starting the
session (``hitmachine.http.web.sessions.start``) is the same whatever decided it. Here is
``LocalPasswordAuthenticator``; single sign-on with the municipality's identity provider
(OpenID Connect) is ``hitmachine.services.oidc``, whose accounts have no password.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Connection

from hitmachine.core import text
from hitmachine.core.auditlog.record import AuditRecord, Outcome
from hitmachine.core.clock import iso_utc, utc_now
from hitmachine.core.errors import Conflict, InvalidInput, NotFound
from hitmachine.core.principal import ANONYMOUS, Principal, Role
from hitmachine.services.context import Context
from hitmachine.store import audit_log
from hitmachine.store import oidc as oidc_store
from hitmachine.store import users as store
from hitmachine.store.users import User

# Roles a person can have in the web pages; adapters and partners are systems, with tokens.
WEB_ROLES = (Role.COORDINATOR, Role.PRIVACY_OFFICER, Role.ADMIN)
MAX_NAME_LENGTH = 128
MAX_PASSWORD_LENGTH = 1024
HASH_CONCURRENCY = 4

_hasher = PasswordHasher()
_hash_slots = threading.BoundedSemaphore(HASH_CONCURRENCY)
# Sign-in attempts wait here, not in the shared thread pool that runs every other request.
_sign_in_threads = ThreadPoolExecutor(max_workers=HASH_CONCURRENCY,
                                      thread_name_prefix="hitmachine-sign-in")
_dummy_hash: str | None = None


def hash_password(password: str) -> str:
    with _hash_slots:
        return _hasher.hash(password)


def _verify(password_hash: str, password: str) -> bool:
    with _hash_slots:
        try:
            return _hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


def _waste_a_verification(password: str) -> None:
    """Spend the time a real verification takes, so that an unknown account name does not
    answer measurably faster than a wrong password."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = hash_password("not a password of anyone")
    _verify(_dummy_hash, password)


def check_name(name: str) -> str:
    """An account name, checked like a token's (``hitmachine.core.text.check_name``)."""
    return text.check_name("name", name)


def check_password(ctx: Context, password: str) -> None:
    minimum = ctx.settings.web_password_min_length
    if len(password) < minimum:
        raise InvalidInput("password", f"must be at least {minimum} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput("password", f"must be at most {MAX_PASSWORD_LENGTH} characters")
    if not password.strip():
        raise InvalidInput("password", "must not be only spaces")


def _check_role(role: Role) -> None:
    if role not in WEB_ROLES:
        raise InvalidInput("role", "must be coordinator, privacy-officer or admin")


# --- administration (the CLI, and the admin's web page for unlocking) ---------------------

def create_user(ctx: Context, principal: Principal, *, name: str, role: Role, password: str,
                request_id: str) -> User:
    name = check_name(name)
    _check_role(role)
    check_password(ctx, password)
    password_hash = hash_password(password)
    now = iso_utc(utc_now())
    with ctx.db.write() as conn:
        user = store.create(conn, name=name, role=role, password_hash=password_hash, now=now)
        audit_log.append(conn, [AuditRecord.by(
            principal, "user.create", request_id, Outcome.OK,
            detail={"user_id": user.id, "name": user.name, "role": role.value})])
    return user


def set_password(ctx: Context, principal: Principal, name: str, password: str,
                 request_id: str) -> User:
    """A new password; clears a lock-out and ends the account's sessions."""
    check_password(ctx, password)
    password_hash = hash_password(password)
    now = iso_utc(utc_now())
    with ctx.db.write() as conn:
        user = _existing(conn, name)
        if oidc_store.is_external(conn, user.id):
            # A password would be a second way in that the identity provider cannot close.
            raise Conflict("this account signs in with single sign-on and has no password")
        user = store.update_user(conn, user.id, password_hash=password_hash,
                                 password_changed_at=now, failed_attempts=0, locked_until=None)
        ended = store.delete_user_sessions(conn, user.id)
        audit_log.append(conn, [AuditRecord.by(
            principal, "user.password", request_id, Outcome.OK,
            detail={"user_id": user.id, "name": user.name, "sessions_ended": ended})])
    return user


def unlock(ctx: Context, principal: Principal, name: str, request_id: str) -> User:
    with ctx.db.write() as conn:
        user = _existing(conn, name)
        was_locked = user.locked(iso_utc(utc_now()))
        user = store.update_user(conn, user.id, failed_attempts=0, locked_until=None)
        audit_log.append(conn, [AuditRecord.by(
            principal, "auth.unlock", request_id, Outcome.OK,
            detail={"user_id": user.id, "name": user.name, "was_locked": was_locked})])
    return user


def set_disabled(ctx: Context, principal: Principal, name: str, disabled: bool,
                 request_id: str) -> User:
    """Disable an account (its sessions end at once) or enable it again."""
    with ctx.db.write() as conn:
        user = _existing(conn, name)
        ended = 0
        if disabled:
            user = store.update_user(conn, user.id, disabled_at=user.disabled_at
                                     or iso_utc(utc_now()))
            ended = store.delete_user_sessions(conn, user.id)
        else:
            user = store.update_user(conn, user.id, disabled_at=None, failed_attempts=0,
                                     locked_until=None)
        audit_log.append(conn, [AuditRecord.by(
            principal, "user.disable" if disabled else "user.enable", request_id, Outcome.OK,
            detail={"user_id": user.id, "name": user.name, "sessions_ended": ended})])
    return user


def list_users(ctx: Context, principal: Principal, request_id: str) -> list[User]:
    """Every account (never a password hash); who looked is audited with the answer."""
    with ctx.db.write() as conn:
        found = store.list_all(conn)
        audit_log.append(conn, [AuditRecord.by(principal, "user.list", request_id, Outcome.OK,
                                               detail={"count": len(found)})])
    return found


def _existing(conn: Connection, name: str) -> User:
    user = store.find_by_name(conn, name, for_update=True)
    if user is None:
        raise NotFound("there is no account with this name")
    return user


# --- signing in ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class SignInResult:
    user: User | None
    failure: str | None = None          # "bad_credentials" | "locked"
    locked_until: str | None = None

    @property
    def ok(self) -> bool:
        return self.user is not None and self.failure is None


class Authenticator(Protocol):
    """Decides who is signing in, from what the sign-in step collected (``credentials``).

    On failure it does its own bookkeeping and audits ``auth.signin_failed``; on success
    it returns the user, and ``hitmachine.http.web.sessions.start`` audits ``auth.signin`` and
    starts the session, whichever authenticator decided.
    """

    method: str

    def authenticate(self, ctx: Context, credentials: Mapping[str, str],
                     request_id: str) -> SignInResult: ...


class LocalPasswordAuthenticator:
    """Account name and password, checked against the Argon2id hash in ``users``."""

    method = "password"

    def authenticate(self, ctx: Context, credentials: Mapping[str, str],
                     request_id: str) -> SignInResult:
        name = " ".join(credentials.get("name", "").split())
        password = credentials.get("password", "")
        user = None
        if 0 < len(name) <= MAX_NAME_LENGTH:
            with ctx.db.read() as conn:
                user = store.find_by_name(conn, name)
        if len(password) > MAX_PASSWORD_LENGTH:
            # Refused unhashed, whoever is named: no password of ours is this long.
            self._audit(ctx, user.principal() if user else ANONYMOUS, request_id,
                        "password_too_long")
            return SignInResult(None, "bad_credentials")
        if user is None or user.password_hash is None:
            _waste_a_verification(password)
            # An unknown name is not recorded as typed: it may be a password or worse.
            self._audit(ctx, user.principal() if user else ANONYMOUS, request_id,
                        "unknown_account" if user is None else "no_password")
            return SignInResult(None, "bad_credentials")
        now = iso_utc(utc_now())
        if user.disabled:
            _waste_a_verification(password)
            self._audit(ctx, user.principal(), request_id, "disabled")
            return SignInResult(None, "bad_credentials")
        if user.locked(now):
            _verify(user.password_hash, password)  # the work a wrong password costs
            self._audit(ctx, user.principal(), request_id, "locked")
            return SignInResult(None, "locked", user.locked_until)
        if _verify(user.password_hash, password):
            if _hasher.check_needs_rehash(user.password_hash):
                rehashed = hash_password(password)
                with ctx.db.write() as conn:
                    user = store.update_user(conn, user.id, password_hash=rehashed)
            return SignInResult(user)
        return self._count_failure(ctx, user, request_id)

    def _count_failure(self, ctx: Context, user: User, request_id: str) -> SignInResult:
        settings = ctx.settings
        with ctx.db.write() as conn:
            current = store.get(conn, user.id, for_update=True)  # serialises concurrent tries
            moment = utc_now()
            now = iso_utc(moment)
            if current.locked(now):  # another attempt locked it meanwhile
                audit_log.append(conn, [self._record(current.principal(), request_id, "locked")])
                return SignInResult(None, "locked", current.locked_until)
            # A lock that has run out starts a fresh count.
            attempts = (0 if current.locked_until else current.failed_attempts) + 1
            values: dict[str, object] = {"failed_attempts": attempts, "locked_until": None}
            records = [self._record(current.principal(), request_id, "bad_password",
                                    failed_attempts=attempts)]
            locked_until = None
            if attempts >= settings.web_lockout_attempts:
                locked_until = iso_utc(moment + dt.timedelta(minutes=settings.web_lockout_minutes))
                values["locked_until"] = locked_until
                records.append(AuditRecord.by(
                    current.principal(), "auth.locked", request_id, Outcome.DENIED,
                    detail={"user_id": current.id, "failed_attempts": attempts,
                            "locked_until": locked_until,
                            "minutes": settings.web_lockout_minutes}))
            store.update_user(conn, current.id, **values)
            audit_log.append(conn, records)
        if locked_until is not None:
            return SignInResult(None, "locked", locked_until)
        return SignInResult(None, "bad_credentials")

    def _audit(self, ctx: Context, principal: Principal, request_id: str, reason: str) -> None:
        with ctx.db.write() as conn:
            audit_log.append(conn, [self._record(principal, request_id, reason)])

    def _record(self, principal: Principal, request_id: str, reason: str,
                **extra: object) -> AuditRecord:
        return AuditRecord.by(principal, "auth.signin_failed", request_id, Outcome.DENIED,
                              detail={"method": self.method, "reason": reason, **extra})


async def authenticate_async(authenticator: Authenticator, ctx: Context,
                             credentials: Mapping[str, str], request_id: str) -> SignInResult:
    """``authenticator.authenticate`` off the event loop, on the sign-in threads."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_sign_in_threads, functools.partial(
        authenticator.authenticate, ctx, credentials, request_id))


def record_sign_in(conn: Connection, user: User, method: str, request_id: str,
                   **detail: object) -> User:
    """On the caller's transaction: reset the failure count and audit ``auth.signin``."""
    now = iso_utc(utc_now())
    user = store.update_user(conn, user.id, failed_attempts=0, locked_until=None,
                             last_signin_at=now)
    audit_log.append(conn, [AuditRecord.by(user.principal(), "auth.signin", request_id,
                                           Outcome.OK, detail={"method": method, **detail})])
    return user


__all__ = ["Authenticator", "LocalPasswordAuthenticator", "MAX_NAME_LENGTH",
           "MAX_PASSWORD_LENGTH", "SignInResult", "WEB_ROLES", "authenticate_async",
           "check_name", "check_password", "create_user", "hash_password", "list_users",
           "record_sign_in", "set_disabled", "set_password", "unlock"]
