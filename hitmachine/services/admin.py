"""Administrative use cases: tokens and keys. Each is audited like any other action."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

from sqlalchemy import Connection

from hitmachine.core.auditlog.record import AuditRecord, Outcome
from hitmachine.core.clock import iso_utc, utc_now
from hitmachine.core.errors import Conflict, InvalidInput
from hitmachine.core.files import write_secret_file
from hitmachine.core.keyring import Keyring
from hitmachine.core.keystore import load_keyring, save_keyring
from hitmachine.core.principal import AGENCY_BOUND, Principal, Role
from hitmachine.core.text import check_name
from hitmachine.services.context import Context, keyservice_client
from hitmachine.store import audit_log, index, tokens, users
from hitmachine.store.tokens import TokenInfo

# Actions taken at the console (the CLI) are recorded under this actor and role.
CONSOLE = Principal(actor="console", role=Role.ADMIN, agency=None)


def create_token(ctx: Context, principal: Principal, *, name: str, role: Role,
                 agency: str | None, expires_at: dt.datetime | None, request_id: str,
                 user: str | None = None) -> tuple[TokenInfo, str]:
    """A new token. Its name is checked like an account name and must be free among live
    tokens and all accounts; ``user`` links it to that web account (same role), whose
    query budget it then shares. It expires at ``expires_at`` (in the future, at most
    ``token_lifetime_days`` away) or, if None, after ``token_lifetime_days``."""
    name = check_name("name", name)
    if role in AGENCY_BOUND and agency is None:
        raise InvalidInput("agency", f"is required for the {role.value} role")
    if role not in AGENCY_BOUND and agency is not None:
        raise InvalidInput("agency", f"does not apply to the {role.value} role")
    if agency is not None and agency not in ctx.agencies:
        raise InvalidInput("agency", "is not a configured agency")
    expires = token_expiry(ctx, expires_at)
    with ctx.db.write() as conn:
        user_id = _linked_user(conn, user, role)
        info, token = tokens.create(conn, name=name, role=role, agency=agency,
                                    expires_at=expires, user_id=user_id)
        audit_log.append(conn, [AuditRecord.by(
            principal, "token.create", request_id, Outcome.OK,
            detail={"token_id": info.id, "name": name, "role": role.value, "agency": agency,
                    "user_id": user_id, "expires_at": expires})])
    return info, token


def token_expiry(ctx: Context, expires_at: dt.datetime | None) -> str:
    """The expiry as stored (ISO UTC). Every token expires, and never later than the
    configured lifetime: a token that outlives every review is a key under the mat."""
    now = utc_now()
    limit = now + dt.timedelta(days=ctx.settings.token_lifetime_days)
    if expires_at is None:
        return iso_utc(limit)
    if expires_at.tzinfo is None or expires_at.utcoffset() is None:
        raise InvalidInput("expires_at", "needs a time zone (for instance Z or +01:00)")
    try:
        moment = expires_at.astimezone(dt.UTC)
    except (OverflowError, ValueError):  # e.g. 0001-01-01T00:00:00+14:00 is before year 1
        raise InvalidInput("expires_at", "is out of range") from None
    if moment <= now:
        raise InvalidInput("expires_at", "must be in the future")
    if moment > limit:
        raise InvalidInput("expires_at", f"must be at most {ctx.settings.token_lifetime_days} "
                                         f"days away (HITMACHINE_TOKEN_LIFETIME_DAYS)")
    return iso_utc(moment)


def _linked_user(conn: Connection, user: str | None, role: Role) -> int | None:
    if user is None:
        return None
    account = users.find_by_name(conn, user)
    if account is None:
        raise InvalidInput("user", "is not an existing web account")
    if account.role is not role:
        raise InvalidInput("user", f"has the {account.role.value} role; a token made for an "
                                   f"account must have the same role")
    return account.id


def revoke_token(ctx: Context, principal: Principal, token_id: int, request_id: str) -> TokenInfo:
    with ctx.db.write() as conn:
        info = tokens.revoke(conn, token_id)
        ctx.principals.forget_all()
        audit_log.append(conn, [AuditRecord.by(
            principal, "token.revoke", request_id, Outcome.OK,
            detail={"token_id": token_id, "name": info.name})])
    return info


def list_tokens(ctx: Context, principal: Principal, request_id: str) -> list[TokenInfo]:
    """Every token (never the token itself); who looked is audited with the answer."""
    with ctx.db.write() as conn:
        found = tokens.list_all(conn)
        audit_log.append(conn, [AuditRecord.by(principal, "token.list", request_id, Outcome.OK,
                                               detail={"count": len(found)})])
    return found


def list_keys(ctx: Context, principal: Principal, request_id: str) -> Keyring:
    """The keyring, for listing its versions (never key material); audited."""
    keyring = load_keyring(ctx.settings.keyring_path)
    with ctx.db.write() as conn:
        audit_log.append(conn, [AuditRecord.by(principal, "key.list", request_id, Outcome.OK,
                                               detail={"count": len(keyring.versions)})])
    return keyring


def rotate_key(ctx: Context, principal: Principal, request_id: str) -> Keyring:
    path = ctx.settings.keyring_path
    keyring = load_keyring(path).rotate()
    if keyring.primary.scheme == "oprf":
        _require_keyservice_version(ctx, keyring.primary.version)
    with ctx.db.write() as conn:
        audit_log.append(conn, [AuditRecord.by(
            principal, "key.rotate", request_id, Outcome.OK,
            detail={"new_version": keyring.primary.version,
                    "active_versions": list(keyring.active_versions)})])
        # Written inside the transaction: if the file cannot be written, the record rolls back.
        save_keyring(path, keyring)
    return keyring


def migrate_keys(ctx: Context, principal: Principal, request_id: str) -> Keyring:
    """Move an hmac deployment to oprf, like a rotation: the new primary version is an oprf
    version evaluated by the key service; the hmac versions stay active (queries look under
    both) until every agency publishes under the new one and they are retired."""
    if ctx.settings.pseudonym_scheme != "oprf":
        raise Conflict("set HITMACHINE_PSEUDONYM_SCHEME=oprf (and the key service's URL and "
                       "token) before migrating")
    path = ctx.settings.keyring_path
    keyring = load_keyring(path).migrate("oprf")
    keyring = replace(keyring, keyservice_url=ctx.settings.keyservice_url)
    _require_keyservice_version(ctx, keyring.primary.version)
    with ctx.db.write() as conn:
        audit_log.append(conn, [AuditRecord.by(
            principal, "key.migrate", request_id, Outcome.OK,
            detail={"scheme": "oprf", "new_version": keyring.primary.version,
                    "active_versions": list(keyring.active_versions)})])
        save_keyring(path, keyring)
    return keyring


def _require_keyservice_version(ctx: Context, version: int) -> None:
    """The key service must hold the key of a new oprf version before anyone uses it."""
    client = keyservice_client(ctx.settings)
    if client is None:
        raise Conflict("no key service is configured (HITMACHINE_KEYSERVICE_URL)")
    if version not in client.versions():
        raise Conflict(f"the key service has no key version {version}; on the key service "
                       f"run: hitmachine keyservice rotate --version {version}")


def retire_key(ctx: Context, principal: Principal, version: int, request_id: str) -> Keyring:
    path = ctx.settings.keyring_path
    keyring = load_keyring(path)
    with ctx.db.read() as conn:
        in_use = index.key_versions_in_use(conn)
    stuck = sorted(a for a, versions in in_use.items() if versions == {version})
    if stuck:
        raise Conflict(f"key version {version} is still the only version published by: "
                       f"{', '.join(stuck)}; let their adapters publish under the new key first")
    retired = keyring.retire(version)
    with ctx.db.write() as conn:
        audit_log.append(conn, [AuditRecord.by(
            principal, "key.retire", request_id, Outcome.OK,
            detail={"version": version, "active_versions": list(retired.active_versions)})])
        save_keyring(path, retired)
    return retired


def export_keyring(ctx: Context, principal: Principal, out: Path, request_id: str) -> Keyring:
    """Copy the active keys for an adapter (0600). Retired keys stay behind: an adapter
    never needs them."""
    keyring = load_keyring(ctx.settings.keyring_path)
    # Once the primary version is oprf, adapters get oprf versions only: no hmac key (with
    # which a guessed BSN could be checked) ever leaves again. They learn where the key
    # service is; their token for it comes from the key service's operator.
    scheme = keyring.primary.scheme
    exported = Keyring(scheme, tuple(v for v in keyring.versions if v.active
                                     and (scheme == "hmac" or v.scheme == scheme)),
                       keyservice_url=ctx.settings.keyservice_url if scheme == "oprf" else None)
    with ctx.db.write() as conn:
        audit_log.append(conn, [AuditRecord.by(
            principal, "key.export", request_id, Outcome.OK,
            detail={"versions": list(exported.active_versions)})])
        write_secret_file(out, exported.to_json())
    return exported


__all__ = ["CONSOLE", "create_token", "export_keyring", "list_keys", "list_tokens", "migrate_keys",
           "retire_key", "revoke_token", "rotate_key", "token_expiry"]
