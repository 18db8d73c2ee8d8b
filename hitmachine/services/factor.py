"""A second factor for local web accounts: TOTP (RFC 6238) with recovery codes.

Signing in with a password is then two steps. A correct password for an account that has
a factor, or must get one (its role is in ``web_second_factor_roles``), does not start a
session: it starts a *challenge* (``start_challenge``), a random id in a cookie of its own
that is good for ``CHALLENGE_MINUTES`` and for nothing but the code page. A challenge is
never a session, so no page can mistake one for a signed-in user.

- **Codes.** Six digits, 30-second steps, SHA-1 (what every authenticator app does). A
  code of the step before or after the current one is accepted too (clock drift), but
  only a step later than the last accepted one: a code is never accepted twice, not even
  within its window (``last_step``, updated under the account's row lock).
- **Lock-out.** A wrong code counts as a wrong password (``users.count_failure``): the
  same counter, the same lock after ``web_lockout_attempts`` and the same audit records;
  a locked account's challenge is dropped. The route counts each attempt against the
  sign-in rate limits first (``ratelimit.check_sign_in``).
- **Secrets at rest** are sealed with AES-256-GCM under ``keys/factor.key`` (made by
  ``hitmachine init``, never in the database), with the account's id as associated data:
  a copy of the database alone cannot compute codes, and a sealed secret moved to
  another account's row does not open.
- **Recovery codes.** ``RECOVERY_CODES`` codes of 12 characters from a 31-letter alphabet
  (~59 bits each), shown once, each usable once. Stored as salted SHA-256, not Argon2:
  with ~59 random bits, guessing one from its hash costs ~2^58 hashes on average, out of
  reach without a slow hash; and a sign-in compares against every unused code, which at
  64 MiB an Argon2 verification would hand a flood of attempts ten times the memory.
- **Enrolment** happens at the first sign-in that needs it: the page shows a new secret
  (QR code and text) each time it is opened until one is confirmed with a code; then the
  recovery codes, once. Whoever knows the password of an account without a factor can
  enrol it: create accounts when their owners can sign in soon, and see ``hitmachine user
  list`` for accounts still without one.
- **Reset** (``reset``, ``hitmachine user reset-factor``): factor, recovery codes and any
  challenge are deleted and the account's sessions end; the next sign-in enrols anew.

Every step is audited in the transaction of the change it records: ``auth.factor_enrolled``,
``auth.factor_verified``, ``auth.recovery_code_used``, ``auth.factor_failed`` (with the
reason), ``auth.locked`` and ``auth.factor_reset``. Codes and secrets never are.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass, field

import pyotp
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Connection

from hitmachine.core.auditlog.record import AuditRecord, Outcome
from hitmachine.core.clock import iso_utc, parse_iso_utc, utc_now
from hitmachine.core.errors import Conflict, NotFound
from hitmachine.core.keystore import load_factor_key
from hitmachine.core.principal import Principal
from hitmachine.services import users as user_service
from hitmachine.services.context import Context
from hitmachine.settings import Settings
from hitmachine.store import audit_log
from hitmachine.store import factors as store
from hitmachine.store import users as user_store
from hitmachine.store.factors import Challenge
from hitmachine.store.users import User

ISSUER = "Hitmachine"
DIGITS = 6
STEP_SECONDS = 30
DRIFT_STEPS = 1          # accept the step before and after the current one
RECOVERY_CODES = 10
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read off paper
RECOVERY_LENGTH = 12
CHALLENGE_MINUTES = 10   # time to fetch a phone and, at enrolment, scan the code
VERIFY, ENROL = "verify", "enrol"
_SEAL_VERSION = "v1"


# --- policy -------------------------------------------------------------------------------

def required(settings: Settings, user: User) -> bool:
    """Whether ``user`` must sign in here with a second factor: a local account (one with
    a password) of a listed role. Single sign-on accounts get theirs at the provider."""
    return user.password_hash is not None and user.role.value in settings.web_second_factor_roles


# --- sealing secrets ----------------------------------------------------------------------

def _aad(user_id: int, purpose: str) -> bytes:
    return f"hitmachine totp {purpose} user {user_id}".encode()


def _seal(ctx: Context, secret: str, user_id: int, purpose: str) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(load_factor_key(ctx.settings.factor_key_path)).encrypt(
        nonce, secret.encode("ascii"), _aad(user_id, purpose))
    return f"{_SEAL_VERSION}.{base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}"


def _open(ctx: Context, sealed: str, user_id: int, purpose: str) -> str:
    version, _, body = sealed.partition(".")
    try:
        if version != _SEAL_VERSION:
            raise ValueError(version)
        raw = base64.urlsafe_b64decode(body.encode("ascii"))
        plain = AESGCM(load_factor_key(ctx.settings.factor_key_path)).decrypt(
            raw[:12], raw[12:], _aad(user_id, purpose))
    except (InvalidTag, ValueError):
        # Another key file than the one that sealed it, or a row that was tampered with.
        raise Conflict("a second-factor secret does not open with keys/factor.key; reset "
                       "the account's factor (hitmachine user reset-factor)") from None
    return plain.decode("ascii")


# --- codes --------------------------------------------------------------------------------

def _totp(secret: str, name: str = "") -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS, issuer=ISSUER,
                      name=name or None)


def _matching_step(secret: str, code: str, now: float) -> int | None:
    """The time step whose code ``code`` is, among the current one and its neighbours."""
    totp = _totp(secret)
    current = int(now // STEP_SECONDS)
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        # Every candidate compared, in constant time: no early exit to time.
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found


def normalise(code: str) -> str:
    """What was typed, without the spaces and hyphens people add, in lower case."""
    return "".join(code.split()).replace("-", "").lower()


def is_totp_code(code: str) -> bool:
    return len(code) == DIGITS and code.isascii() and code.isdigit()


def new_recovery_code() -> str:
    raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_LENGTH))
    return "-".join(raw[i:i + 4] for i in range(0, RECOVERY_LENGTH, 4))


def hash_recovery_code(code: str, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else os.urandom(16)
    digest = hashlib.sha256(salt + normalise(code).encode("utf-8")).hexdigest()
    return f"sha256${salt.hex()}${digest}"


def _recovery_matches(code_hash: str, code: str) -> bool:
    scheme, _, rest = code_hash.partition("$")
    salt_hex, _, _ = rest.partition("$")
    if scheme != "sha256":
        return False
    return hmac.compare_digest(hash_recovery_code(code, bytes.fromhex(salt_hex)), code_hash)


# --- the sign-in steps --------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Pending:
    """A sign-in between its password and its code."""

    challenge: Challenge
    user: User

    @property
    def purpose(self) -> str:
        return self.challenge.purpose


@dataclass(frozen=True, slots=True)
class Enrolment:
    secret: str
    uri: str   # otpauth://totp/Hitmachine:NAME?secret=...&issuer=Hitmachine

    @property
    def grouped(self) -> str:
        """The secret in groups of four, for typing it into an app by hand."""
        return " ".join(self.secret[i:i + 4] for i in range(0, len(self.secret), 4))


@dataclass(frozen=True, slots=True)
class FactorResult:
    user: User | None
    failure: str | None = None   # "wrong_code" | "locked" | "expired"
    method: str = ""             # "totp" | "recovery_code", on success
    recovery_codes: list[str] = field(default_factory=list)  # at enrolment, shown once
    remaining_recovery_codes: int | None = None

    @property
    def ok(self) -> bool:
        return self.user is not None and self.failure is None


def start_challenge(ctx: Context, user: User, next_path: str | None) -> tuple[str, str] | None:
    """After a correct password: ``(challenge id, purpose)`` when a code must follow, None
    when the account neither has a factor nor needs one (then the session starts)."""
    with ctx.db.write() as conn:
        has_factor = store.get_factor(conn, user.id) is not None
        if not has_factor and not required(ctx.settings, user):
            return None
        moment = utc_now()
        store.purge_challenges(conn, created_before=iso_utc(
            moment - dt.timedelta(minutes=CHALLENGE_MINUTES)))
        challenge_id = secrets.token_urlsafe(32)
        store.create_challenge(conn, challenge_id=challenge_id, user_id=user.id,
                               purpose=VERIFY if has_factor else ENROL, next_path=next_path,
                               now=iso_utc(moment))
    return challenge_id, VERIFY if has_factor else ENROL


def _live(challenge: Challenge | None) -> Challenge | None:
    if challenge is None:
        return None
    limit = utc_now() - dt.timedelta(minutes=CHALLENGE_MINUTES)
    return challenge if parse_iso_utc(challenge.created_at) >= limit else None


def pending(ctx: Context, challenge_id: str) -> Pending | None:
    """The sign-in halfway that the cookie names, if it is still good."""
    if not challenge_id:
        return None
    with ctx.db.read() as conn:
        challenge = _live(store.find_challenge(conn, challenge_id))
        if challenge is None:
            return None
        user = user_store.get(conn, challenge.user_id)
    return Pending(challenge, user)


def new_enrolment(ctx: Context, waiting: Pending) -> Enrolment:
    """A new secret for the enrolment page (replacing any shown before)."""
    if waiting.purpose != ENROL:
        raise Conflict("this sign-in does not enrol a factor")
    secret = pyotp.random_base32()  # 160 bits, RFC 4226's recommendation
    with ctx.db.write() as conn:
        store.set_pending_secret(conn, waiting.challenge.id,
                                 _seal(ctx, secret, waiting.user.id, ENROL))
    return _enrolment(secret, waiting.user)


def shown_enrolment(ctx: Context, waiting: Pending) -> Enrolment | None:
    """The secret on the enrolment page now (to show it again after a wrong code)."""
    sealed = waiting.challenge.pending_secret
    if waiting.purpose != ENROL or sealed is None:
        return None
    return _enrolment(_open(ctx, sealed, waiting.user.id, ENROL), waiting.user)


def _enrolment(secret: str, user: User) -> Enrolment:
    return Enrolment(secret, _totp(secret, user.name).provisioning_uri())


def verify(ctx: Context, challenge_id: str, code: str, request_id: str,
           now: float | None = None) -> FactorResult:
    """Check a code (TOTP or recovery) for the sign-in the challenge belongs to, or, at
    enrolment, the first code of the new secret (then store the factor and make the
    recovery codes). Success ends the challenge; the caller starts the session."""
    moment = time.time() if now is None else now
    typed = normalise(code)
    with ctx.db.write() as conn:
        challenge = _live(store.find_challenge(conn, challenge_id))
        if challenge is None:
            return FactorResult(None, "expired")
        user = user_store.get(conn, challenge.user_id, for_update=True)  # serialises tries
        principal = user.principal()
        if user.disabled or user.locked(iso_utc(utc_now())):
            store.delete_challenge(conn, challenge.id)
            reason = "disabled" if user.disabled else "locked"
            audit_log.append(conn, [_failed(principal, request_id, challenge.purpose, reason)])
            return FactorResult(None, "locked" if reason == "locked" else "expired")
        if challenge.purpose == ENROL:
            return _confirm(ctx, conn, challenge, user, typed, moment, request_id)
        factor = store.get_factor(conn, user.id)
        if factor is None:  # reset meanwhile: start again with the password
            store.delete_challenge(conn, challenge.id)
            return FactorResult(None, "expired")
        if is_totp_code(typed):
            secret = _open(ctx, factor.secret_sealed, user.id, VERIFY)
            step = _matching_step(secret, typed, moment)
            if step is not None and (factor.last_step is None or step > factor.last_step):
                store.set_last_step(conn, user.id, step)
                store.delete_challenge(conn, challenge.id)
                audit_log.append(conn, [AuditRecord.by(
                    principal, "auth.factor_verified", request_id, Outcome.OK,
                    detail={"method": "totp"})])
                return FactorResult(user, method="totp")
            reason = "replayed" if step is not None else "wrong_code"
            return _count(ctx, conn, challenge, user, request_id, "totp", reason)
        for candidate in store.unused_recovery_codes(conn, user.id):
            if _recovery_matches(candidate.code_hash, typed) and store.spend_recovery_code(
                    conn, candidate.id, iso_utc(utc_now())):
                remaining = len(store.unused_recovery_codes(conn, user.id))
                store.delete_challenge(conn, challenge.id)
                audit_log.append(conn, [AuditRecord.by(
                    principal, "auth.recovery_code_used", request_id, Outcome.OK,
                    detail={"method": "recovery_code", "remaining": remaining})])
                return FactorResult(user, method="recovery_code",
                                    remaining_recovery_codes=remaining)
        return _count(ctx, conn, challenge, user, request_id, "recovery_code", "wrong_code")


def _confirm(ctx: Context, conn: Connection, challenge: Challenge, user: User, typed: str,
             moment: float, request_id: str) -> FactorResult:
    sealed = challenge.pending_secret
    secret = _open(ctx, sealed, user.id, ENROL) if sealed is not None else None
    step = _matching_step(secret, typed, moment) if secret and is_totp_code(typed) else None
    if secret is None or step is None:
        return _count(ctx, conn, challenge, user, request_id, "totp", "wrong_code")
    codes = [new_recovery_code() for _ in range(RECOVERY_CODES)]
    now = iso_utc(utc_now())
    store.save_factor(conn, user_id=user.id, secret_sealed=_seal(ctx, secret, user.id, VERIFY),
                      enrolled_at=now, last_step=step)
    store.replace_recovery_codes(conn, user.id, [hash_recovery_code(c) for c in codes])
    store.delete_challenge(conn, challenge.id)
    audit_log.append(conn, [AuditRecord.by(
        user.principal(), "auth.factor_enrolled", request_id, Outcome.OK,
        detail={"user_id": user.id, "method": "totp", "recovery_codes": len(codes)})])
    return FactorResult(user, method="totp", recovery_codes=codes)


def _count(ctx: Context, conn: Connection, challenge: Challenge, user: User, request_id: str,
           method: str, reason: str) -> FactorResult:
    principal = user.principal()
    locked_until = user_service.count_failure(
        conn, ctx, user, request_id,
        lambda attempts: _failed(principal, request_id, challenge.purpose, reason,
                                 method=method, failed_attempts=attempts))
    if locked_until is not None:
        store.delete_challenge(conn, challenge.id)  # the password again, after the lock
        return FactorResult(None, "locked")
    return FactorResult(None, "wrong_code")


def _failed(principal: Principal, request_id: str, purpose: str, reason: str,
            **extra: object) -> AuditRecord:
    return AuditRecord.by(principal, "auth.factor_failed", request_id, Outcome.DENIED,
                          detail={"step": purpose, "reason": reason, **extra})


# --- administration -----------------------------------------------------------------------

def reset(ctx: Context, principal: Principal, name: str, request_id: str) -> tuple[User, bool]:
    """Delete an account's factor and recovery codes and end its sessions: the next
    sign-in enrols a new factor. Returns the account and whether it had a factor."""
    with ctx.db.write() as conn:
        user = user_store.find_by_name(conn, name, for_update=True)
        if user is None:
            raise NotFound("there is no account with this name")
        had = store.delete_factor(conn, user.id)
        ended = user_store.delete_user_sessions(conn, user.id)
        audit_log.append(conn, [AuditRecord.by(
            principal, "auth.factor_reset", request_id, Outcome.OK,
            detail={"user_id": user.id, "name": user.name, "had_factor": had,
                    "sessions_ended": ended})])
    return user, had


def enrolled(ctx: Context) -> set[int]:
    """The ids of the accounts that have a factor (for the account list)."""
    with ctx.db.read() as conn:
        return store.users_with_factor(conn)


__all__ = ["CHALLENGE_MINUTES", "ENROL", "Enrolment", "FactorResult", "ISSUER", "Pending",
           "RECOVERY_CODES", "VERIFY", "enrolled", "hash_recovery_code", "is_totp_code",
           "new_enrolment", "new_recovery_code", "normalise", "pending", "required", "reset",
           "shown_enrolment", "start_challenge", "verify"]
