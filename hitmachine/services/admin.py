"""Administrative use cases: tokens and keys. Each is audited like any other action."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from hitmachine.domain.audit import AuditRecord, Outcome
from hitmachine.domain.clock import iso_utc, utc_now
from hitmachine.domain.errors import Conflict, InvalidInput
from hitmachine.domain.keyring import Keyring
from hitmachine.domain.principal import AGENCY_BOUND, Principal, Role
from hitmachine.keystore import load_keyring, save_keyring, write_secret_file
from hitmachine.services.context import Context
from hitmachine.store import audit_log, index, tokens
from hitmachine.store.tokens import TokenInfo

# Actions taken at the console (the CLI) are recorded under this actor and role.
CONSOLE = Principal(actor="console", role=Role.ADMIN, agency=None)


def create_token(ctx: Context, principal: Principal, *, name: str, role: Role,
                 agency: str | None, expires_at: str | None, request_id: str
                 ) -> tuple[TokenInfo, str]:
    if not name.strip():
        raise InvalidInput("name", "is required")
    if role in AGENCY_BOUND and agency is None:
        raise InvalidInput("agency", f"is required for the {role.value} role")
    if role not in AGENCY_BOUND and agency is not None:
        raise InvalidInput("agency", f"does not apply to the {role.value} role")
    if agency is not None and agency not in ctx.agencies:
        raise InvalidInput("agency", "is not a configured agency")
    if expires_at is None:  # every token expires; a longer life must be asked for
        expires_at = iso_utc(utc_now() + dt.timedelta(days=ctx.settings.token_lifetime_days))
    with ctx.db.write() as conn:
        info, token = tokens.create(conn, name=name, role=role, agency=agency,
                                    expires_at=expires_at)
        audit_log.append(conn, [AuditRecord.by(
            principal, "token.create", request_id, Outcome.OK,
            detail={"token_id": info.id, "name": name, "role": role.value, "agency": agency})])
    return info, token


def revoke_token(ctx: Context, principal: Principal, token_id: int, request_id: str) -> TokenInfo:
    with ctx.db.write() as conn:
        info = tokens.revoke(conn, token_id)
        ctx.principals.forget_all()
        audit_log.append(conn, [AuditRecord.by(
            principal, "token.revoke", request_id, Outcome.OK,
            detail={"token_id": token_id, "name": info.name})])
    return info


def list_tokens(ctx: Context) -> list[TokenInfo]:
    with ctx.db.read() as conn:
        return tokens.list_all(conn)


def rotate_key(ctx: Context, principal: Principal, request_id: str) -> Keyring:
    path = ctx.settings.keyring_path
    keyring = load_keyring(path).rotate()
    with ctx.db.write() as conn:
        audit_log.append(conn, [AuditRecord.by(
            principal, "key.rotate", request_id, Outcome.OK,
            detail={"new_version": keyring.primary.version,
                    "active_versions": list(keyring.active_versions)})])
        # Written inside the transaction: if the file cannot be written, the record rolls back.
        save_keyring(path, keyring)
    return keyring


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
    exported = Keyring(keyring.scheme, tuple(v for v in keyring.versions if v.active))
    with ctx.db.write() as conn:
        audit_log.append(conn, [AuditRecord.by(
            principal, "key.export", request_id, Outcome.OK,
            detail={"versions": list(exported.active_versions)})])
        write_secret_file(out, exported.to_json())
    return exported


__all__ = ["CONSOLE", "create_token", "export_keyring", "list_tokens", "retire_key",
           "revoke_token", "rotate_key"]
